import { strict as assert } from 'node:assert';
import { PluginHarness } from '../testing/index';
import { rtpPacket } from '../testing/rtp';
import type { Call } from '../dialog/types';
import type { CallMediaInfo, CallNotRecordedInfo, RecordingStartedInfo } from '../contracts/lifecycle';
import { ipv4, udp } from '../net/packet-builder';
import { request, response, sdp } from '../../test/sip-text';
import { DEFAULT_POLICY, RecordingPolicy } from './recording-policy';
import { UserDirectory, type UserEntry } from './users';

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

const policy = (recorderId: number, users: UserEntry[]): RecordingPolicy => new RecordingPolicy(new UserDirectory(users), { ...DEFAULT_POLICY, recorderId });

describe('RecordingPolicy: backup (stand-in) decisions for HA recorders', () => {
  let call: Call;
  before(async () => {
    call = await callBetween('sip:alice@x.com', 'sip:bob@x.com');
  });

  it("recorder 2 stands in for recorder 1's user at rank 1", () => {
    const d = policy(2, [user('sip:alice@x.com', { recorder: 1, name: 'Alice A' })]).decide(call);
    assert.deepEqual(d, {
      record: false,
      reason: 'recorded by another recorder: sip:alice@x.com (recorder 1)',
      backup: { users: [{ uri: 'sip:alice@x.com', side: 'caller', name: 'Alice A' }], flags: [], rank: 1 },
    });
  });

  it("recorder 1 stands in for recorder 2's user at rank 2 (the order wraps: 2, 3, 1)", () => {
    const d = policy(1, [user('sip:bob@x.com', { recorder: 2 })]).decide(call);
    assert.equal(d.record, false);
    assert.deepEqual(d.record ? undefined : d.backup, { users: [{ uri: 'sip:bob@x.com', side: 'callee' }], flags: [], rank: 2 });
  });

  it('every pair of recorders: rank = (this recorder − the user’s recorder) mod 3', () => {
    const got: string[] = [];
    for (const mine of [1, 2, 3]) {
      for (const theirs of [1, 2, 3]) {
        if (mine === theirs) continue;
        const d = policy(mine, [user('sip:alice@x.com', { recorder: theirs })]).decide(call);
        got.push(`${mine}<-${theirs}:${d.record ? 'record' : d.backup?.rank}`);
      }
    }
    assert.deepEqual(got, ['1<-2:2', '1<-3:1', '2<-1:1', '2<-3:2', '3<-1:2', '3<-2:1']);
  });

  it('two parties of two other recorders: both named, the nearer rank wins', () => {
    const d = policy(3, [user('sip:alice@x.com', { recorder: 1 }), user('sip:bob@x.com', { recorder: 2 })]).decide(call);
    assert.ok(!d.record);
    assert.equal(d.backup?.rank, 1, 'recorder 3 is next after recorder 2');
    assert.deepEqual(d.backup?.users.map((u) => u.uri), ['sip:alice@x.com', 'sip:bob@x.com']);
  });

  it('no backup when this recorder records a party, when nobody is licensed, or for a user without a recorder', () => {
    const mine = policy(2, [user('sip:alice@x.com', { recorder: 1 }), user('sip:bob@x.com', { recorder: 2 })]).decide(call);
    assert.ok(mine.record);
    assert.deepEqual(mine.record ? mine.users.map((u) => u.uri) : [], ['sip:bob@x.com']);
    const unlicensed = policy(2, [user('sip:alice@x.com', { recorder: 1, call: false, chat: true })]).decide(call);
    assert.deepEqual(unlicensed, { record: false, reason: 'no party holds the call-recording licence' });
    const anyRecorder = policy(2, [user('sip:alice@x.com')]).decide(call);
    assert.ok(anyRecorder.record, 'a user with no recorder is recorded by every recorder');
  });
});

describe('CallDispatch: backup calls announced to forwarders, taken over when forwarded media arrives', function () {
  this.timeout(20_000);

  // One recorder (id 2) for every test here: alice is recorder 1's user (stood in for), carol is this recorder's.
  let h: PluginHarness;
  const media: CallMediaInfo[] = [];
  const notRecorded: CallNotRecordedInfo[] = [];
  const started: RecordingStartedInfo[] = [];
  before(async () => {
    h = await PluginHarness.core({ config: { users: [{ uri: 'sip:alice@x.com', recorder: 1 }, { uri: 'sip:carol@x.com', recorder: 2 }], policy: { recorderId: 2 } } });
    h.kernel.events.on('callMedia', (m) => media.push(m));
    h.kernel.events.on('callNotRecorded', (m) => notRecorded.push(m));
    h.kernel.events.on('recordingStarted', (m) => started.push(m));
  });
  after(async () => {
    await h.stop();
  });

  const of = <T extends { callId: string }>(list: T[], callId: string): T[] => list.filter((x) => x.callId === callId);

  /** INVITE from `from` offering 10.0.0.1:port, answered from 10.0.0.2:port + 1000. */
  function call(callId: string, from: string, port: number, ts: number): void {
    h.sip(request('INVITE', { callId, from: `<${from}>`, body: sdp('10.0.0.1', port) }), { ts });
    h.sip(response(200, 'OK', 'INVITE', { callId, from: `<${from}>`, toTag: 't', body: sdp('10.0.0.2', port + 1000) }), { ts: ts + 1000 });
  }

  /** An RTP packet of the call at `port`, as a forwarder of `deployment` delivers it (a whole IP packet). */
  function forwarded(port: number, deployment: number | undefined, n: number, ts: number): void {
    const payload = rtpPacket({ pt: 0, seq: 100 + n, ts: 160 * n, ssrc: 0x1234 + port, payload: Buffer.alloc(160, 0xff) });
    const data = ipv4(17, udp(port + 1000, port, payload), { src: '10.0.0.2', dst: '10.0.0.1', id: n });
    h.source('forwarded').ipPacket({ ts: ts + n * 20_000, data, ...(deployment !== undefined ? { node: { deployment } } : {}) });
  }

  it("a call of recorder 1's user on recorder 2: not recorded, announced as backup at rank 1 with its endpoints (and again when the answer changes them)", () => {
    call('b1', 'sip:alice@x.com', 4000, T0);
    assert.equal(of(notRecorded, 'b1').length, 1);
    assert.match(of(notRecorded, 'b1')[0]!.reason, /recorded by another recorder/);
    const m = of(media, 'b1');
    assert.ok(m.length >= 1);
    assert.deepEqual(m.map((x) => [x.role, x.rank]), m.map(() => ['backup', 1]));
    assert.deepEqual(m[0]!.endpoints, ['10.0.0.1:4000', '10.0.0.1:4001']);
    assert.deepEqual(m.at(-1)!.endpoints, ['10.0.0.1:4000', '10.0.0.1:4001', '10.0.0.2:5000', '10.0.0.2:5001']);
    assert.equal(of(started, 'b1').length, 0);
  });

  it('a call this recorder records is announced at rank 0 as recording', () => {
    call('r1', 'sip:carol@x.com', 4100, T0 + 10_000_000);
    assert.equal(of(started, 'r1').length, 1);
    const m = of(media, 'r1');
    assert.ok(m.length >= 1 && m.every((x) => x.role === 'recording' && x.rank === 0));
  });

  it('forwarded media of a backup call: taken over (not for media that was not forwarded), flagged, announced as its own', async () => {
    const t = T0 + 20_000_000;
    call('b3', 'sip:alice@x.com', 4300, t);
    forwarded(4300, undefined, 0, t + 2_000_000);
    assert.equal(of(started, 'b3').length, 0, 'media not forwarded (no deployment) does not take it over');
    const before = of(media, 'b3').length;
    forwarded(4300, 7, 1, t + 2_000_000);
    forwarded(4300, 7, 2, t + 2_000_000);
    assert.equal(of(started, 'b3').length, 1, 'a recording started');
    assert.deepEqual(of(started, 'b3')[0]!.users, [{ uri: 'sip:alice@x.com', side: 'caller' }]);
    const after = of(media, 'b3').slice(before);
    assert.equal(after.length, 1);
    assert.deepEqual([after[0]!.role, after[0]!.rank], ['recording', 0]);
    assert.equal(Object.entries(h.counters()).find(([k]) => k.endsWith('recordings.takenOver'))?.[1], 1);
    const rec = await h.stop();
    const b3 = rec.recordings.filter((r) => r.call.callId === 'b3');
    assert.equal(b3.length, 1);
    assert.ok(
      b3[0]!.flags.some((f) => /^failover: recorded by recorder 2 from .* forwarded by deployment 7 when the users' own recorder was unreachable/.test(f)),
      JSON.stringify(b3[0]!.flags),
    );
  });
});
