/**
 * mode-mirroring tested alone with the core's PluginHarness (plus codec-g711 and storage-local) on a generated
 * Lync capture of what the Mediation Server's mirror port sees (test/mode-scenarios.ts): external, conference and
 * queue calls recorded with the right tone on the right channel for the right user; internal calls catalogued
 * without audio and flagged; nothing for unlicensed users, a disallowed user agent or another recorder's user;
 * users behind one NAT address told apart; transfers linked; a forked call's losing fork kept out.
 */
import * as assert from 'node:assert/strict';
import { PluginHarness } from '../../core/testing/index';
import { Tokens } from '../../core/tokens';
import type { Call } from '../../core/dialog/types';
import { UserDirectory } from '../../core/policy/users';
import type { RecordingMetadata } from '../../core/media/metadata';
import mirroring from './index';
import type { LocalStore } from '../storage-local/store';
import { ScopeClassifier } from './call-scope';
import { INTERNAL_REASON } from './mirroring-mode';
import { mirroringCapture, NAT, POLICY, usersFor, MEDIATION, type ModeCapture } from '../../test/mode-scenarios';
import { checkExpected, runMode, scratchDir, type ModeRun } from '../../test/mode-assert';

const CONFIG = { users: usersFor(NAT), localDomains: ['contoso.com'], policy: POLICY };

describe('mode-mirroring alone on a generated Mediation Server capture', function () {
  this.timeout(60_000);
  let cap: ModeCapture;
  let run: ModeRun;
  const rec = (label: string): RecordingMetadata => {
    const e = cap.calls.get(label);
    assert.ok(e !== undefined, label);
    const r = run.byCallId.get(e.callId);
    assert.ok(r !== undefined, `${label} was recorded`);
    return r;
  };

  before(async () => {
    cap = await mirroringCapture(scratchDir('mirroring'));
    run = await runMode(mirroring, { mediationServers: [MEDIATION] }, cap.file, CONFIG);
  });

  it('is the kernel recording mode, named mirroring', () => {
    assert.equal(run.h.kernel.mode?.name, 'mirroring');
    assert.equal(run.h.resolveAll(Tokens.Mode).length, 1);
  });

  it('every call of the capture is as the truth says (recorded or not, users, kind, flags, tones per channel)', () => {
    assert.equal(cap.calls.size, 18);
    for (const e of cap.calls.values()) checkExpected(run, e);
    // 15 recordings: every call but the unlicensed one, the dialer's and recorder 2's.
    assert.equal(run.recordings.length, 15);
  });

  it('external calls: PSTN in and out through the Mediation Server, the agent named, the scope in metadata.mode', () => {
    for (const label of ['pstn-in', 'pstn-out']) {
      const r = rec(label);
      assert.deepEqual(r.users?.map((u) => [u.uri, u.name]), [['sip:alice@contoso.com', 'Alice Agent']]);
      assert.equal(r.caller.packets, 100);
      assert.equal(r.callee.packets, 100);
      assert.equal(r.mode?.name, 'mirroring');
      assert.equal(r.mode?.['scope'], 'external');
    }
    assert.deepEqual(rec('pstn-in').users?.map((u) => u.side), ['callee']);
    assert.deepEqual(rec('pstn-out').users?.map((u) => u.side), ['caller']);
  });

  it('internal calls: one recording naming both users, without audio, flagged with why, in the catalogue', () => {
    for (const label of ['internal', 'attended-2']) {
      const r = rec(label);
      assert.equal(r.audio, undefined);
      assert.equal(r.users?.length, 2);
      const flag = r.flags.find((f) => f.startsWith('not recordable in mirroring mode: internal call between'));
      assert.ok(flag?.endsWith(INTERNAL_REASON), JSON.stringify(r.flags));
      assert.equal(r.mode?.['scope'], 'internal');
      assert.equal(r.mode?.['recordable'], false);
      const listed = (run.h.kernel.sink as LocalStore | undefined)?.list({ user: 'alice' }).find((x) => x.id === r.id);
      assert.ok(listed !== undefined, 'catalogued');
    }
    assert.equal(run.counters['mode-mirroring.internalCalls'], 2);
  });

  it("conference leg: kind 'conference', the AV MCU named, the organizer's URI inside the MCU's not taken for her", () => {
    const r = rec('conference');
    assert.equal(r.call.kind, 'conference');
    assert.match(r.call.conference ?? '', /opaque=app:conf:audio-video:id:K7Q2LM9W/);
    // The MCU URI is sip:alice@contoso.com;gruu;opaque=app:conf:...: alice organised it but is not on this leg.
    assert.deepEqual(r.users?.map((u) => u.uri), ['sip:bob@contoso.com']);
    assert.equal(r.mode?.['scope'], 'conference');
  });

  it("queue call: the response group's offer to the agent, kind 'queue'", () => {
    const r = rec('queue');
    assert.equal(r.call.kind, 'queue');
    assert.equal(r.mode?.['scope'], 'queue');
    assert.deepEqual(r.users?.map((u) => u.side), ['callee']);
  });

  it('nothing for an unlicensed user, a disallowed user agent or a user of recorder 2; their packets counted', () => {
    for (const label of ['unlicensed', 'disallowed-ua', 'other-recorder']) assert.equal(run.byCallId.get(cap.calls.get(label)?.callId ?? ''), undefined, label);
    const c = run.counters;
    assert.equal(c['core.recordings.notRecorded'], 2, 'the unlicensed call and recorder 2’s');
    assert.equal(c['core.media.notRecorded'], 400, 'their 2 × 2 × 100 packets, counted as not recorded');
    assert.equal(c['core.sip.ignoredUserAgent'], 3, "the dialer's INVITE, ACK and BYE");
    const dialerCall = cap.calls.get('disallowed-ua')?.callId;
    assert.ok(!run.recorded.callsStarted.some((x) => x.callId === dialerCall), 'no call was tracked for the dialer');
    const unmatched = run.h.kernel.associator.unmatchedStreams();
    assert.equal(unmatched.filter((u) => u.flow.includes('10.5.0.9')).length, 2, "the dialer's two streams are unmatched");
  });

  it('four users behind one NAT address: each recording holds its own user and tones', () => {
    const ips = new Set<string>();
    for (let i = 1; i <= 4; i++) {
      const r = rec(`nat-${i}`);
      assert.deepEqual(r.users?.map((u) => u.uri), [`sip:ts${i}@contoso.com`]);
      assert.equal(r.caller.packets, 100);
      ips.add(r.caller.ssrcs.join());
    }
    assert.equal(ips.size, 4, 'four different caller streams');
  });

  it('blind transfer: the REFERring call links transferred-to the new leg, which links back', () => {
    const a = rec('blind-1');
    const b = rec('blind-2');
    assert.deepEqual(a.links, [{ recordingId: b.id, callId: b.call.callId, relation: 'transferred-to' }]);
    assert.deepEqual(b.links, [{ recordingId: a.id, callId: a.call.callId, relation: 'transferred-from' }]);
    assert.equal(a.call.refers.length, 1);
  });

  it('attended transfer with hold: the Replaces leg replaces the consultation and continues the held call', () => {
    const a1 = rec('attended-1');
    const a2 = rec('attended-2');
    const a3 = rec('attended-3');
    assert.equal(a1.call.holds.length, 1, 'the hold re-INVITE is in the metadata');
    assert.equal(a1.call.holds[0]?.by, 'callee');
    assert.deepEqual(a2.links, [{ recordingId: a3.id, callId: a3.call.callId, relation: 'replaced-by' }]);
    assert.deepEqual(a3.links, [
      { recordingId: a2.id, callId: a2.call.callId, relation: 'replaces' },
      { recordingId: a1.id, callId: a1.call.callId, relation: 'transferred-from' },
    ]);
    assert.deepEqual(a1.links, [{ recordingId: a3.id, callId: a3.call.callId, relation: 'transferred-to' }]);
    assert.equal(a3.call.replaces, a2.call.callId);
  });

  it("forked call: answered by the PC, the desk phone's fork 487, its stray packets in no recording", () => {
    const r = rec('forked');
    assert.deepEqual(r.call.legs.map((l) => l.firstStatus), [183, 183], 'two early dialogs');
    const call = run.recorded.callsEnded.find((c) => c.callId === r.call.callId);
    assert.equal(call?.callee.epid, 'epalice');
    assert.equal(call?.legs.get(call.toTag ?? '')?.firstStatus, 183, 'the answering fork is one of them');
    assert.equal(r.callee.packets, 99, "only the PC's packets");
    assert.equal(r.links, undefined, 'no transfer pinned on it (the earlier REFER to alice was used up by its own call)');
    const stray = run.h.kernel.associator.unmatchedStreams().filter((u) => u.flow.startsWith('10.1.0.55:'));
    assert.equal(stray.length, 1);
    assert.equal(stray[0]?.packets, 48);
  });
});

describe('mode-mirroring call scope', () => {
  const users = new UserDirectory([{ uri: 'sip:alice@contoso.com', call: true, chat: false, endpointIp: '0.0.0.0' }, { uri: 'sip:bob@contoso.com', call: true, chat: false, endpointIp: '0.0.0.0' }], ['contoso.com']);
  const call = (from: string, to: string, callerIp = '10.1.0.5', calleeIp = '10.0.0.10'): Call => {
    const party = (uri: string) => ({ uri, host: (/@([^;>:]+)/.exec(uri)?.[1] ?? '').toLowerCase() });
    return {
      key: 'k',
      callId: 'c',
      caller: party(from),
      callee: party(to),
      callerAddr: { ip: callerIp, port: 5061 },
      calleeAddr: { ip: calleeIp, port: 5061 },
      transport: 'udp',
      state: 'calling',
      disposition: 'unanswered',
      times: { start: 0, lastActivity: 0 },
      legs: new Map(),
      sdp: [],
      holds: [],
      lastRefresh: 0,
      userAgents: {},
      refers: [],
      messageCounts: {},
      warnings: [],
    };
  };
  const none = { mediationServers: [], gateways: [], queues: [] };

  it('internal: two local users (by localDomains or by being configured users)', () => {
    const s = new ScopeClassifier(users, none);
    assert.equal(s.classify(call('sip:alice@contoso.com', 'sip:bob@contoso.com')).scope, 'internal');
    assert.equal(s.classify(call('sip:alice@contoso.com', 'sip:zed@contoso.com')).scope, 'internal');
    const noDomains = new ScopeClassifier(new UserDirectory(users.all(), []), none);
    assert.equal(noDomains.classify(call('sip:alice@contoso.com', 'sip:bob@contoso.com')).scope, 'internal', 'configured users are local');
    assert.equal(noDomains.classify(call('sip:alice@contoso.com', 'sip:zed@contoso.com')).scope, 'external');
  });

  it('external: tel: URIs, user=phone, federated domains, gateways by URI host or signalling address', () => {
    const s = new ScopeClassifier(users, { ...none, gateways: ['gw1.contoso.com', '10.0.0.40'], mediationServers: ['10.0.0.30'] });
    assert.deepEqual(s.classify(call('tel:+14255550100', 'sip:alice@contoso.com')).caller, { kind: 'pstn', why: 'tel: URI' });
    assert.equal(s.classify(call('sip:alice@contoso.com', 'sip:+14255550100@contoso.com;user=phone')).scope, 'external');
    assert.equal(s.classify(call('sip:frank@fabrikam.com', 'sip:alice@contoso.com')).callee.kind, 'local');
    assert.equal(s.classify(call('sip:frank@fabrikam.com', 'sip:alice@contoso.com')).scope, 'external');
    assert.equal(s.classify(call('sip:alice@contoso.com', 'sip:4711@gw1.contoso.com')).callee.kind, 'pstn');
    // An INVITE from the Mediation Server (inbound PSTN) whose From looks local still is the PSTN side.
    const v = s.classify(call('sip:reception@contoso.com', 'sip:alice@contoso.com', '10.0.0.30'));
    assert.equal(v.caller.kind, 'pstn');
    assert.match(v.caller.why, /10\.0\.0\.30/);
    assert.equal(s.classify(call('sip:alice@contoso.com', 'sip:bob@contoso.com', '10.1.0.5', '10.0.0.40')).scope, 'external');
  });

  it('conference and queue legs are recordable whoever the parties are', () => {
    const s = new ScopeClassifier(users, { ...none, queues: ['sip:HelpDesk@contoso.com'] });
    assert.equal(s.classify(call('sip:alice@contoso.com', 'sip:bob@contoso.com;gruu;opaque=app:conf:audio-video:id:ABC')).scope, 'conference');
    assert.equal(s.classify(call('sip:rgs-sales@contoso.com', 'sip:bob@contoso.com')).scope, 'queue');
    assert.equal(s.classify(call('sip:sales@contoso.com;opaque=app:rgs:x', 'sip:bob@contoso.com')).scope, 'queue');
    assert.equal(s.classify(call('<sip:helpdesk@contoso.com>', 'sip:bob@contoso.com')).scope, 'queue', 'a configured queue URI');
  });

  it('options are schema-checked', async () => {
    await assert.rejects(PluginHarness.create(mirroring, { options: { gateway: ['x'] } }), /gateway/);
    const h = await PluginHarness.create(mirroring, {});
    assert.equal(h.kernel.mode?.name, 'mirroring');
    assert.equal(h.kernel.mode?.associate, undefined, 'association is left to the SDP addresses');
    await h.stop();
  });
});
