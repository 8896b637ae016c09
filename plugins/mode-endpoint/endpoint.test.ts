/**
 * mode-endpoint tested alone with the core's PluginHarness (plus codec-g711 and storage-local) on generated Lync
 * captures of what collectors on the agents' PCs see (test/mode-scenarios.ts): audio on ports no SDP names placed
 * by the user's endpoint IP (configured or learned), the right tone on the right channel for the right user;
 * nothing for unlicensed users, a disallowed user agent, or a disallowed IP; users on one terminal server told
 * apart by their SDP ports (resolveAudioViaSdp) and never guessed; hold, forks, a user moving to another IP.
 */
import * as assert from 'node:assert/strict';
import { PluginHarness } from '../../core/testing/index';
import { Tokens } from '../../core/tokens';
import type { RecordingMetadata } from '../../core/media/metadata';
import endpointMode from './index';
import { endpointCapture, POLICY, samePortCapture, sharedIpCapture, TERMINAL_SERVER, usersFor, type ModeCapture } from '../../test/mode-scenarios';
import { channels, checkExpected, dbBelow, runMode, scratchDir, type ModeRun } from '../../test/mode-assert';

const CONFIG = { users: usersFor(TERMINAL_SERVER), localDomains: ['contoso.com'], policy: POLICY };

function recOf(cap: ModeCapture, run: ModeRun, label: string): RecordingMetadata {
  const e = cap.calls.get(label);
  assert.ok(e !== undefined, label);
  const r = run.byCallId.get(e.callId);
  assert.ok(r !== undefined, `${label} was recorded`);
  return r;
}

describe("mode-endpoint alone on a generated capture of the agents' PCs", function () {
  this.timeout(60_000);
  let cap: ModeCapture;
  let run: ModeRun;
  const rec = (label: string): RecordingMetadata => recOf(cap, run, label);
  const unmatchedFrom = (prefix: string) => run.h.kernel.associator.unmatchedStreams().filter((u) => u.flow.startsWith(prefix));

  before(async () => {
    cap = await endpointCapture(scratchDir('endpoint'));
    run = await runMode(endpointMode, {}, cap.file, CONFIG);
  });

  it('is the kernel recording mode, named endpoint, and answers for packets no SDP address claimed', () => {
    assert.equal(run.h.kernel.mode?.name, 'endpoint');
    assert.equal(run.h.resolveAll(Tokens.Mode).length, 1);
    assert.equal(typeof run.h.kernel.associator.fallback, 'function');
  });

  it('every call of the capture is as the truth says (recorded or not, users, flags, tones per channel)', () => {
    assert.equal(cap.calls.size, 15);
    for (const e of cap.calls.values()) checkExpected(run, e);
    assert.equal(run.recordings.length, 13, 'all but the unlicensed call and the disallowed dialer’s');
    assert.equal(run.counters['core.recordings.notRecorded'], 1);
  });

  it("a relayed path no SDP names is placed by bob's configured IP: his side left, the far end right", () => {
    const r = rec('relayed');
    assert.equal(r.caller.packets, 100);
    assert.equal(r.callee.packets, 100);
    assert.equal(r.mode?.['streamsByEndpointIp'], 2);
    assert.deepEqual(r.mode?.['endpoints'], [{ side: 'caller', uri: 'sip:bob@contoso.com', source: 'configured', endpointIp: '10.1.0.6' }]);
  });

  it('two recorded users in one call: one recording naming both, each with their endpoint', () => {
    const r = rec('two-users');
    assert.deepEqual(r.users?.map((u) => [u.uri, u.side]), [['sip:alice@contoso.com', 'caller'], ['sip:bob@contoso.com', 'callee']]);
    const eps = r.mode?.['endpoints'] as Array<{ uri: string; source: string; endpointIp: string }>;
    assert.deepEqual(eps.map((e) => [e.uri, e.source, e.endpointIp]), [['sip:alice@contoso.com', 'learned', '10.1.0.5'], ['sip:bob@contoso.com', 'configured', '10.1.0.6']]);
    assert.equal(run.recordings.filter((x) => x.call.callId === r.call.callId).length, 1);
  });

  it("an unlicensed user's packets are hers (counted as not recorded), not unmatched", () => {
    assert.equal(run.byCallId.get(cap.calls.get('unlicensed')?.callId ?? ''), undefined);
    assert.equal(run.counters['core.media.notRecorded'], 200);
    assert.equal(unmatchedFrom('10.1.0.7').length + run.h.kernel.associator.unmatchedStreams().filter((u) => u.flow.includes('>10.1.0.7:')).length, 0);
  });

  it("a disallowed user agent's call is ignored: no call, and the callee's PC packets belong to nobody", () => {
    assert.ok(!run.recorded.callsStarted.some((c) => c.callId === cap.calls.get('disallowed-ua')?.callId));
    assert.equal(run.counters['core.sip.ignoredUserAgent'], 3);
    assert.equal(run.counters['mode-endpoint.noActiveCallPackets'], 200);
    assert.equal(unmatchedFrom('10.1.0.9:').length + unmatchedFrom('10.5.0.9:').length, 2);
  });

  it('four users on one terminal server: told apart by their SDP ports; a stream on unnamed ports there is nobody’s', () => {
    const streams = new Set<number>();
    for (let i = 1; i <= 4; i++) {
      const r = rec(`shared-${i}`);
      assert.deepEqual(r.users?.map((u) => u.uri), [`sip:ts${i}@contoso.com`]);
      const ep = (r.mode?.['endpoints'] as Array<{ endpointIp: string; sharedWith: number }>)[0];
      assert.equal(ep?.endpointIp, TERMINAL_SERVER);
      assert.equal(ep?.sharedWith, 3);
      assert.equal(r.mode?.['streamsByEndpointIp'], 0, 'SDP ports alone');
      for (const s of [...r.caller.ssrcs, ...r.callee.ssrcs]) streams.add(s);
    }
    assert.equal(streams.size, 8, 'eight distinct streams in four recordings');
    assert.equal(run.counters['mode-endpoint.sharedIpPackets'], 35);
    const stray = unmatchedFrom(`${TERMINAL_SERVER}:39998`);
    assert.equal(stray[0]?.packets, 35);
  });

  it('a configured endpoint IP that is disallowed is refused with a warning; nothing there is the user’s', () => {
    assert.ok(run.recorded.logs.some((l) => l.level === 'warn' && /kiosk@contoso\.com: endpoint IP 10\.0\.0\.10 is in policy\.disallowedIps/.test(l.msg)));
    assert.deepEqual(run.h.kernel.endpoints.usersAt('10.0.0.10'), []);
    const r = rec('disallowed-ip');
    assert.equal(r.audio, undefined);
    assert.deepEqual(r.mode?.['endpoints'], [{ side: 'callee', uri: 'sip:kiosk@contoso.com', source: 'disallowed' }]);
    assert.equal(unmatchedFrom('10.0.0.10:40000')[0]?.packets, 50);
  });

  it('hold: while the first call is held, unnamed-port audio goes to the consultation; after the resume back to it', () => {
    const held = rec('held');
    const consult = rec('consult');
    assert.equal(held.call.holds.length, 1);
    assert.equal(held.mode?.['streamsByEndpointIp'], 4, 'two streams before the hold, two after the resume');
    assert.equal(consult.mode?.['streamsByEndpointIp'], 2);
    assert.equal(held.caller.packets, 89);
    assert.equal(consult.caller.packets, 49);
  });

  it("a forked call: the answering PC's audio only; the other PC's packets (SDP and unnamed ports) refused", () => {
    const r = rec('forked');
    assert.equal(r.callee.packets, 99);
    assert.equal(run.counters['mode-endpoint.lostForkPackets'], 96);
    assert.deepEqual(unmatchedFrom('10.1.0.56:').map((u) => u.packets), [48, 48]);
  });

  it('a learned endpoint follows its user: erin at 10.1.0.20, then at 10.9.0.77; her old address is nobody’s', () => {
    const ep = run.h.kernel.endpoints;
    assert.equal(ep.ipOf('sip:erin@contoso.com'), '10.9.0.77');
    assert.deepEqual(ep.usersAt('10.1.0.20'), []);
    const seen = ep.history('sip:erin@contoso.com').map((s) => `${s.how} ${s.ips[0]}`);
    assert.deepEqual([...new Set(seen)], ['contact 10.1.0.20', 'sdp 10.1.0.20', 'contact 10.9.0.77', 'sdp 10.9.0.77']);
    const first = (rec('erin-1').mode?.['endpoints'] as Array<{ endpointIp: string; source: string }>)[0];
    const second = (rec('erin-2').mode?.['endpoints'] as Array<{ endpointIp: string; source: string }>)[0];
    assert.deepEqual([first?.endpointIp, first?.source], ['10.1.0.20', 'learned'], 'the IP she had during that call');
    assert.deepEqual([second?.endpointIp, second?.source], ['10.9.0.77', 'learned']);
    assert.equal(rec('erin-1').mode?.['streamsByEndpointIp'], 2);
    assert.equal(rec('erin-2').mode?.['streamsByEndpointIp'], 2);
    assert.equal(unmatchedFrom('10.1.0.20:31700')[0]?.packets, 75, 'the old address’s new occupant is not erin');
    // alice (learned too) was never taken to be at the Edge or the Front End, though her calls passed them.
    assert.equal(ep.ipOf('sip:alice@contoso.com'), '10.1.0.5');
    assert.equal(run.counters['core.endpoints.learned'], 2);
  });
});

describe('mode-endpoint: users sharing one IP, resolveAudioViaSdp on and off', function () {
  this.timeout(60_000);
  const dir = scratchDir('endpoint-shared');

  it('off, four users active: a stream on unnamed ports at the shared IP is refused as ambiguous', async () => {
    const cap = await sharedIpCapture(dir, 4, false);
    const run = await runMode(endpointMode, { resolveAudioViaSdp: false }, cap.file, CONFIG);
    for (const e of cap.calls.values()) checkExpected(run, e);
    assert.equal(run.counters['mode-endpoint.ambiguousPackets'], 75);
    assert.equal(run.counters['mode-endpoint.streams'] ?? 0, 0);
  });

  it('off, one user active: her audio on unnamed ports is placed by the shared IP', async () => {
    const cap = await sharedIpCapture(dir, 1, true);
    const run = await runMode(endpointMode, { resolveAudioViaSdp: false }, cap.file, CONFIG);
    for (const e of cap.calls.values()) checkExpected(run, e);
    const r = recOf(cap, run, 'shared-1');
    assert.equal(r.mode?.['streamsByEndpointIp'], 2);
    assert.equal(r.mode?.['resolveAudioViaSdp'], false);
  });

  it('off, four users active on unnamed ports: nothing is guessed while more than one is in a call', async () => {
    const cap = await sharedIpCapture(dir, 4, true);
    const run = await runMode(endpointMode, { resolveAudioViaSdp: false }, cap.file, CONFIG);
    assert.equal(run.recordings.length, 4);
    // The calls end 0.1 s apart: only the last one's final 0.1 s (once the others hung up) is placed, and rightly.
    const withAudio = run.recordings.filter((r) => r.audio !== undefined);
    assert.deepEqual(withAudio.map((r) => r.users?.[0]?.uri), ['sip:ts4@contoso.com']);
    assert.ok((withAudio[0]?.audio?.durationSec ?? 1) < 0.12);
    checkExpected(run, cap.calls.get('shared-4')!);
    assert.equal(run.counters['mode-endpoint.ambiguousPackets'], 8 * 150 - (withAudio[0]!.caller.packets + withAudio[0]!.callee.packets));
  });

  it('on (default), one user active on unnamed ports: left to the SDP, so not recorded, and counted', async () => {
    const cap = await sharedIpCapture(dir, 1, true);
    const run = await runMode(endpointMode, {}, cap.file, CONFIG);
    assert.equal(recOf(cap, run, 'shared-1').audio, undefined);
    assert.equal(run.counters['mode-endpoint.sharedIpPackets'], 300);
  });
});

describe('mode-endpoint: two calls one after the other on the same unnamed ports', function () {
  this.timeout(60_000);

  it('each call gets its own audio', async () => {
    const cap = await samePortCapture(scratchDir('endpoint-same'));
    const run = await runMode(endpointMode, {}, cap.file, CONFIG);
    for (const e of cap.calls.values()) {
      const r = checkExpected(run, e);
      assert.equal(r?.caller.packets, 100, e.label);
    }
  });
});

describe('mode-endpoint options', () => {
  it('resolveAudioViaSdp defaults to true; unknown options are refused', async () => {
    await assert.rejects(PluginHarness.create(endpointMode, { options: { resolveAudio: true } }), /resolveAudio/);
    const h = await PluginHarness.create(endpointMode, {});
    assert.equal(h.kernel.mode?.name, 'endpoint');
    await h.stop();
  });

  it('the tone checks notice a wrong channel (guards the guards)', async () => {
    const cap = await samePortCapture(scratchDir('endpoint-guard'));
    const run = await runMode(endpointMode, {}, cap.file, CONFIG);
    const e = [...cap.calls.values()][0];
    assert.ok(e?.tones?.caller !== undefined && e.tones.callee !== undefined);
    assert.throws(() => checkExpected(run, { ...e, tones: { caller: e.tones?.callee, callee: e.tones?.caller } }));
    const r = run.byCallId.get(e.callId);
    assert.ok(r !== undefined);
    assert.ok(dbBelow(channels(r).caller, e.tones.caller, e.tones.callee) > 30);
  });
});
