import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness } from '../testing/index';
import type { RecordingMode } from '../contract';
import type { Call } from '../dialog/types';
import { request, response, sdp } from '../../test/sip-text';
import { DEFAULT_POLICY, RecordingPolicy } from './recording-policy';
import { UserDirectory, type UserEntry } from './users';
import storageLocal from '../../plugins/storage-local/index';
import type { LocalStore } from '../../plugins/storage-local/store';
import g711 from '../../plugins/codec-g711/index';
import { Tokens } from '../tokens';

const user = (uri: string, o: Partial<UserEntry> = {}): UserEntry => ({ uri, call: true, chat: false, endpointIp: '0.0.0.0', ...o });
const T0 = Date.UTC(2026, 0, 1) * 1000;

async function callBetween(from: string, to: string): Promise<Call> {
  const h = await PluginHarness.core();
  h.sip(request('INVITE', { from: `<${from}>`, to: `<${to}>`, body: sdp('10.0.0.1', 4000) }), { ts: T0 });
  const c = h.recorded.callsStarted[0];
  await h.stop();
  assert.ok(c !== undefined);
  return c;
}

describe('RecordingPolicy', () => {
  it('records every call when no users are configured (unless recordAllWithoutUsers is off)', async () => {
    const call = await callBetween('sip:a@x.com', 'sip:b@y.com');
    assert.deepEqual(new RecordingPolicy(new UserDirectory()).decide(call), { record: true, users: [], flags: [] });
    const off = new RecordingPolicy(new UserDirectory(), { ...DEFAULT_POLICY, recordAllWithoutUsers: false }).decide(call);
    assert.equal(off.record, false);
  });

  it('records a call when a party holds the call licence, naming the recorded users (both, in one recording)', async () => {
    const call = await callBetween('sip:Alice@X.com', 'sip:bob@x.com');
    const one = new RecordingPolicy(new UserDirectory([user('sip:alice@x.com', { name: 'Alice A' })])).decide(call);
    assert.deepEqual(one, { record: true, users: [{ uri: 'sip:alice@x.com', name: 'Alice A', side: 'caller' }], flags: [] });
    const both = new RecordingPolicy(new UserDirectory([user('bob@x.com'), user('alice@x.com')])).decide(call);
    assert.ok(both.record);
    assert.deepEqual(both.record ? both.users.map((u) => u.side) : [], ['caller', 'callee']);
  });

  it('does not record unlicensed users, nor users of another recorder (HA), and says why', async () => {
    const call = await callBetween('sip:alice@x.com', 'sip:bob@x.com');
    const unlicensed = new RecordingPolicy(new UserDirectory([user('alice@x.com', { call: false, chat: true })])).decide(call);
    assert.deepEqual(unlicensed, { record: false, reason: 'no party holds the call-recording licence' });
    const elsewhere = new RecordingPolicy(new UserDirectory([user('alice@x.com', { recorder: 2 })]), { ...DEFAULT_POLICY, recorderId: 1 }).decide(call);
    assert.equal(elsewhere.record, false);
    assert.match(elsewhere.record ? '' : elsewhere.reason, /another recorder: alice@x.com \(recorder 2\)/);
  });

  it("a mode that cannot hear the call: still recorded (catalogued), flagged with the mode's reason", async () => {
    const call = await callBetween('sip:alice@x.com', 'sip:bob@x.com');
    const mode: RecordingMode = { name: 'mirroring', recordable: () => ({ recordable: false, reason: 'internal call' }) };
    const d = new RecordingPolicy(new UserDirectory(), DEFAULT_POLICY, mode).decide(call);
    assert.deepEqual(d, { record: true, users: [], flags: ['not recordable in mirroring mode: internal call'] });
  });

  it('disallowed user agents: a SIP URI matches the sender (From of a request, To of a response), other text the User-Agent/Server', async () => {
    const h = await PluginHarness.core();
    const p = new RecordingPolicy(new UserDirectory(), { ...DEFAULT_POLICY, disallowedUserAgents: ['sip:ivr@x.com', 'RTCC/7.0'] });
    h.sip(request('INVITE', { from: '<sip:IVR@x.com>', body: sdp('10.0.0.1', 4000) }), { ts: T0 });
    h.sip(response(200, 'OK', 'INVITE', { to: '<sip:ivr@x.com>', toTag: 't' }), { ts: T0 + 1 });
    h.sip(request('INVITE', { callId: 'c2', headers: ['User-Agent: UCCAPI/16.0 OC/16.0 (Skype for Business) RTCC/7.0.2200.0'] }), { ts: T0 + 2 });
    h.sip(request('INVITE', { callId: 'c3', from: '<sip:alice@x.com>', headers: ['User-Agent: Something Else'] }), { ts: T0 + 3 });
    const [inv, ok, ua, fine] = h.recorded.sip.map((s) => p.ignoresSip(s.msg));
    assert.deepEqual([inv, ok, ua, fine], ['disallowed user agent ivr@x.com', 'disallowed user agent ivr@x.com', 'disallowed user agent "rtcc/7.0"', undefined]);
    await h.stop();
  });

  it('a call with a disallowed agent on either side (voicemail) is not recorded', async () => {
    const call = await callBetween('sip:alice@x.com', 'sip:voicemail@x.com');
    const p = new RecordingPolicy(new UserDirectory([user('alice@x.com')]), { ...DEFAULT_POLICY, disallowedUserAgents: ['sip:voicemail@x.com'] });
    assert.deepEqual(p.decide(call), { record: false, reason: 'the callee is a disallowed user agent (voicemail@x.com)' });
  });

  it('codec flags: outside allowedCodecs (name or name/rate), or a suppressed payload type still in use', () => {
    const p = new RecordingPolicy(new UserDirectory(), { ...DEFAULT_POLICY, allowedCodecs: ['PCMU', 'SILK/16000'], suppressedPayloadTypes: [114] });
    assert.deepEqual(p.codecFlags(['PCMU/8000', 'SILK/16000', 'x-msrta/16000'], [0, 114]), [
      'codec x-msrta/16000 is not in policy.allowedCodecs',
      'payload type 114 is in policy.suppressedPayloadTypes (it should have been stripped from the offer)',
    ]);
  });

  it('disallowed IPs are compared in canonical form', () => {
    const p = new RecordingPolicy(new UserDirectory(), { ...DEFAULT_POLICY, disallowedIps: ['10.0.0.009', '2001:DB8::0:1'] });
    assert.ok(p.isDisallowedIp('10.0.0.9'));
    assert.ok(p.isDisallowedIp('2001:db8::1'));
    assert.ok(!p.isDisallowedIp('10.0.0.1'));
  });
});

describe('policy through the kernel', function () {
  this.timeout(30_000);
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-policy-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function call(h: PluginHarness, callId: string, from: string, t: number, ua?: string): void {
    const headers = ua !== undefined ? [`User-Agent: ${ua}`] : [];
    h.sip(request('INVITE', { callId, from: `<${from}>`, headers, body: sdp('10.0.0.1', 4000) }), { ts: t });
    h.sip(response(200, 'OK', 'INVITE', { callId, from: `<${from}>`, toTag: 't', body: sdp('10.0.0.2', 5000) }), { ts: t + 1000 });
    h.sip(request('BYE', { callId, from: `<${from}>`, toTag: 't', cseq: 2 }), { ts: t + 2000 });
  }

  it("a mode's verdict is asked again at the answer (the answering side's SDP can change what the mode hears)", async () => {
    // A mode that hears only answered calls whose callee answered with 10.0.0.9 (a stand-in for "via the Edge").
    const mode: RecordingMode = {
      name: 'test',
      recordable: (c) => (c.sdp.some((r) => r.from === 'callee' && r.text.includes('10.0.0.9')) ? { recordable: true } : { recordable: false, reason: 'not via the Edge yet' }),
    };
    const plugin = {
      name: 'mode-test',
      kind: 'mode',
      api: 1,
      optionsSchema: { type: 'object' },
      register: (ctx: { container: { register: (t: unknown, v: unknown) => void } }) => ctx.container.register(Tokens.Mode, { useValue: mode }),
    };
    const h = await PluginHarness.create(plugin, { with: [{ plugin: storageLocal, options: { dir } }] });
    h.sip(request('INVITE', { callId: 'e1', body: sdp('10.0.0.1', 4000) }), { ts: T0 });
    h.sip(response(200, 'OK', 'INVITE', { callId: 'e1', toTag: 't', body: sdp('10.0.0.9', 5000) }), { ts: T0 + 1000 });
    h.sip(request('BYE', { callId: 'e1', toTag: 't', cseq: 2 }), { ts: T0 + 2000 });
    h.sip(request('INVITE', { callId: 'e2', body: sdp('10.0.0.1', 4002) }), { ts: T0 + 3000 });
    h.sip(response(200, 'OK', 'INVITE', { callId: 'e2', toTag: 't', body: sdp('10.0.0.2', 5002) }), { ts: T0 + 4000 });
    h.sip(request('BYE', { callId: 'e2', toTag: 't', cseq: 2 }), { ts: T0 + 5000 });
    await h.stop();
    const flags = Object.fromEntries(h.recorded.recordings.map((r) => [r.call.callId, r.flags.filter((f) => f.startsWith('not recordable'))]));
    assert.deepEqual(flags, { e1: [], e2: ['not recordable in test mode: not via the Edge yet'] });
  });

  it('only licensed users are recorded; a disallowed user agent leaves no call at all; SIP debug logs are written', async () => {
    const log = path.join(dir, 'all-sip.txt');
    const h = await PluginHarness.create(storageLocal, {
      options: { dir },
      with: [{ plugin: g711 }],
      config: {
        users: [{ uri: 'sip:alice@x.com' }, { uri: 'sip:carol@x.com', call: false, chat: true }],
        policy: { disallowedUserAgents: ['TestBot'], recordSipDialogs: true, logAllSipMessages: log },
      },
    });
    call(h, 'c1', 'sip:alice@x.com', T0);
    call(h, 'c2', 'sip:carol@x.com', T0 + 10_000);
    call(h, 'c3', 'sip:alice@x.com', T0 + 20_000, 'TestBot/1.0');
    await h.stop();
    const recs = h.recorded.recordings;
    assert.deepEqual(
      recs.map((r) => [r.call.callId, r.users]),
      [['c1', [{ uri: 'sip:alice@x.com', side: 'caller' }]]],
    );
    assert.equal(h.counters()['core.recordings.notRecorded'], 1);
    assert.equal(h.counters()['core.sip.ignoredUserAgent'], 1);
    const entry = (h.kernel.sink as LocalStore | undefined)?.get(recs[0]!.id)?.entry;
    assert.ok(entry !== undefined);
    const dialog = fs.readFileSync(path.join(path.dirname(path.resolve(dir, entry.metadata)), 'sip.txt'), 'utf8');
    assert.match(dialog, /^INVITE sip:bob@example.com SIP\/2.0\r\n/);
    assert.match(dialog, /\nSIP\/2.0 200 OK\r\n[\s\S]*\nBYE /);
    const all = fs.readFileSync(log, 'utf8');
    assert.equal(all.match(/^--- /gm)?.length, 9, 'every message seen, including ignored ones and unrecorded calls');
  });
});
