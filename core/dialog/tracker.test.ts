import * as assert from 'node:assert/strict';
import { PluginHarness } from '../testing/index';
import { request, response, sdp } from '../../test/sip-text';

const T0 = Date.UTC(2026, 0, 1) * 1000;
const s = (sec: number): number => T0 + sec * 1_000_000;
const A = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
const B = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };

describe('dialog tracking', () => {
  it('INVITE/180/200/ACK/BYE: an answered call with ring, answer and end times, SDP offer and answer', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(0) });
    h.sip(response(100, 'Trying', 'INVITE'), { ...B, ts: s(0.1) });
    h.sip(response(180, 'Ringing', 'INVITE', { toTag: 't1' }), { ...B, ts: s(1) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', body: sdp('10.0.0.2', 5000) }), { ...B, ts: s(3) });
    h.sip(request('ACK', { toTag: 't1' }), { ...A, ts: s(3.1) });
    h.sip(request('BYE', { toTag: 't1', cseq: 2 }), { ...A, ts: s(13) });
    h.sip(response(200, 'OK', 'BYE', { toTag: 't1', cseq: 2 }), { ...B, ts: s(13.1) });
    const r = await h.stop();
    assert.equal(r.callsEnded.length, 1);
    const c = r.callsEnded[0]!;
    assert.equal(c.disposition, 'answered');
    assert.equal(c.endReason, 'bye');
    assert.equal(c.endedBy, 'caller');
    assert.equal(c.times.ringing, s(1));
    assert.equal(c.times.answer, s(3));
    assert.equal(c.times.end, s(13));
    assert.equal(c.caller.displayName, 'Alice Agent');
    assert.equal(c.callee.tag, 't1');
    assert.deepEqual(c.sdp.map((x) => [x.from, x.role, x.carriedBy]), [['caller', 'offer', 'INVITE'], ['callee', 'answer', '200']]);
    assert.equal(c.messageCounts['200'], 2, 'the 200 to BYE still counts for the call');
    assert.equal(h.counters()['core.sip.messages'], 7);
  });

  it('a conference focus join (C3P application/cccp+xml, no SDP) is conference control, not a call; the AV MCU leg is', async () => {
    const h = await PluginHarness.core();
    const focus = '<sip:alice@x.com;gruu;opaque=app:conf:focus:id:ABC123>';
    const mcu = '<sip:alice@x.com;gruu;opaque=app:conf:audio-video:id:ABC123>';
    const cccp = '<request xmlns="urn:ietf:params:xml:ns:cccp" C3PVersion="1" from="sip:bob@x.com" to="sip:alice@x.com;gruu;opaque=app:conf:focus:id:ABC123" requestId="0"><addUser><conferenceKeys confEntity="sip:alice@x.com;gruu;opaque=app:conf:focus:id:ABC123"/></addUser></request>';
    h.sip(request('INVITE', { callId: 'focus-1', to: focus, body: cccp, contentType: 'application/cccp+xml' }), { ...A, ts: s(0) });
    h.sip(request('INVITE', { callId: 'mcu-1', to: mcu, body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(1) });
    const r = await h.stop();
    assert.deepEqual(r.callsStarted.map((c) => c.callId), ['mcu-1']);
    assert.equal(h.kernel.dialogs.stats.focusSessions, 1);
  });

  it('retransmissions and second sightings do not duplicate SDPs or restart the call', async () => {
    const h = await PluginHarness.core();
    const inv = request('INVITE', { body: sdp('10.0.0.1', 4000) });
    h.sip(inv, { ...A, ts: s(0) });
    h.sip(inv, { ...A, ts: s(0.5) });
    const ok = response(200, 'OK', 'INVITE', { toTag: 't1', body: sdp('10.0.0.2', 5000) });
    h.sip(ok, { ...B, ts: s(1) });
    h.sip(ok, { ...B, ts: s(1.5) });
    const r = await h.stop();
    assert.equal(r.callsStarted.length, 1);
    assert.equal(r.callsEnded[0]!.sdp.length, 2);
    assert.equal(r.callsEnded[0]!.times.answer, s(1));
    assert.equal(r.callsEnded[0]!.endReason, 'end-of-input');
  });

  it('CANCEL after 183 early media: cancelled, and the early-media SDP and time are kept', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(0) });
    h.sip(response(183, 'Session Progress', 'INVITE', { toTag: 'e1', body: sdp('10.0.0.2', 5000) }), { ...B, ts: s(1) });
    h.sip(request('CANCEL'), { ...A, ts: s(5) });
    h.sip(response(200, 'OK', 'CANCEL'), { ...B, ts: s(5.1) });
    h.sip(response(487, 'Request Terminated', 'INVITE', { toTag: 'e1' }), { ...B, ts: s(5.2) });
    h.sip(request('ACK', { toTag: 'e1' }), { ...A, ts: s(5.3) });
    const r = await h.stop();
    const c = r.callsEnded[0]!;
    assert.equal(c.disposition, 'cancelled');
    assert.equal(c.endReason, 'cancel');
    assert.equal(c.finalStatus, 487);
    assert.equal(c.times.earlyMedia, s(1));
    assert.deepEqual(c.sdp.map((x) => [x.role, x.carriedBy]), [['offer', 'INVITE'], ['answer', '183']]);
  });

  for (const [status, disposition] of [[486, 'busy'], [603, 'declined'], [480, 'no-answer'], [503, 'failed']] as const) {
    it(`a ${status} final response gives disposition ${disposition}`, async () => {
      const h = await PluginHarness.core();
      h.sip(request('INVITE'), { ...A, ts: s(0) });
      h.sip(response(status, 'X', 'INVITE', { toTag: 'x' }), { ...B, ts: s(1) });
      const r = await h.stop();
      assert.equal(r.callsEnded[0]!.disposition, disposition);
      assert.equal(r.callsEnded[0]!.endReason, 'rejected');
    });
  }

  it('a 407 challenge followed by an authenticated INVITE is one call that gets answered', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE'), { ...A, ts: s(0) });
    h.sip(response(407, 'Proxy Authentication Required', 'INVITE', { toTag: 'p' }), { ...B, ts: s(0.1) });
    h.sip(request('ACK', { toTag: 'p' }), { ...A, ts: s(0.2) });
    h.sip(request('INVITE', { cseq: 2, headers: ['Proxy-Authorization: Digest username="a"'] }), { ...A, ts: s(0.3) });
    h.sip(response(200, 'OK', 'INVITE', { cseq: 2, toTag: 't' }), { ...B, ts: s(2) });
    const r = await h.stop();
    assert.equal(r.callsEnded.length, 1);
    assert.equal(r.callsEnded[0]!.disposition, 'answered');
  });

  it('an unanswered 401 challenge ends as failed after the retry window', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE'), { ...A, ts: s(0) });
    h.sip(response(401, 'Unauthorized', 'INVITE', { toTag: 'p' }), { ...B, ts: s(0.1) });
    h.sip(request('OPTIONS', { callId: 'other' }), { ...A, ts: s(60) });
    assert.equal(h.recorded.callsEnded.length, 1);
    assert.equal(h.recorded.callsEnded[0]!.disposition, 'failed');
    assert.equal(h.recorded.callsEnded[0]!.finalStatus, 401);
    await h.stop();
  });

  it('forking: two early dialogs, the one answered survives', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(0) });
    h.sip(response(180, 'Ringing', 'INVITE', { toTag: 'fork1' }), { ...B, ts: s(1) });
    h.sip(response(183, 'Session Progress', 'INVITE', { toTag: 'fork2', body: sdp('10.0.0.3', 6000) }), { ...B, ts: s(1.2) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 'fork2', body: sdp('10.0.0.3', 6000) }), { ...B, ts: s(2) });
    const r = await h.stop();
    const c = r.callsEnded[0]!;
    assert.equal(c.toTag, 'fork2');
    assert.deepEqual([...c.legs.values()].map((l) => [l.toTag, l.state]), [['fork1', 'terminated'], ['fork2', 'terminated']]);
    assert.equal(c.disposition, 'answered');
  });

  it('re-INVITE with sendonly then sendrecv records a hold period; UPDATE offers are tracked', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(0) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't', body: sdp('10.0.0.2', 5000) }), { ...B, ts: s(1) });
    h.sip(request('ACK', { toTag: 't' }), { ...A, ts: s(1.1) });
    h.sip(request('INVITE', { toTag: 't', cseq: 2, body: sdp('10.0.0.1', 4000, { direction: 'sendonly' }) }), { ...A, ts: s(10) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't', cseq: 2, body: sdp('10.0.0.2', 5000, { direction: 'recvonly' }) }), { ...B, ts: s(10.1) });
    h.sip(request('UPDATE', { toTag: 't', cseq: 3, body: sdp('10.0.0.1', 4002) }), { ...A, ts: s(20) });
    h.sip(response(200, 'OK', 'UPDATE', { toTag: 't', cseq: 3, body: sdp('10.0.0.2', 5000) }), { ...B, ts: s(20.1) });
    h.sip(request('BYE', { toTag: 't', cseq: 4 }), { ...A, ts: s(30) });
    const r = await h.stop();
    const c = r.callsEnded[0]!;
    assert.deepEqual(c.holds, [{ start: s(10), end: s(20), by: 'caller' }]);
    assert.deepEqual(c.sdp.map((x) => `${x.from}:${x.role}:${x.carriedBy}:${x.inDialog}`), [
      'caller:offer:INVITE:false',
      'callee:answer:200:false',
      'caller:offer:INVITE:true',
      'callee:answer:200:true',
      'caller:offer:UPDATE:true',
      'callee:answer:200:true',
    ]);
    assert.ok(r.callUpdates.some((u) => u.what === 'hold') && r.callUpdates.some((u) => u.what === 'resume'));
  });

  it('BYE from the callee; REFER and Replaces link transfer legs', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE', { callId: 'c1' }), { ...A, ts: s(0) });
    h.sip(response(200, 'OK', 'INVITE', { callId: 'c1', toTag: 't' }), { ...B, ts: s(1) });
    h.sip(request('REFER', { callId: 'c1', toTag: 't', cseq: 2, headers: ['Refer-To: <sip:carol@example.com>', 'Referred-By: <sip:alice@example.com>'] }), { ...A, ts: s(5) });
    h.sip(request('INVITE', { callId: 'c2', fromTag: 'x', headers: ['Replaces: c1;to-tag=t;from-tag=ftag'] }), { ...B, ts: s(6) });
    // The callee's BYE: From carries the callee's tag, To the caller's.
    h.sip(request('BYE', { callId: 'c1', from: '<sip:bob@example.com>', fromTag: 't', to: '<sip:alice@example.com>', toTag: 'ftag', cseq: 1 }), { ...B, ts: s(7) });
    const r = await h.stop();
    const c1 = r.callsEnded.find((c) => c.callId === 'c1')!;
    const c2 = r.callsEnded.find((c) => c.callId === 'c2')!;
    assert.equal(c1.endedBy, 'callee');
    assert.equal(c1.refers[0]!.referTo, '<sip:carol@example.com>');
    assert.equal(c2.replaces?.callId, 'c1');
    assert.equal(c2.replaces?.key, c1.key);
  });

  it('session timers: a call whose Session-Expires runs out without refresh is closed', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE', { headers: ['Session-Expires: 90;refresher=uac'] }), { ...A, ts: s(0) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't', headers: ['Session-Expires: 90;refresher=uac'] }), { ...B, ts: s(1) });
    h.sip(request('OPTIONS', { callId: 'ping' }), { ...A, ts: s(100) });
    assert.equal(h.recorded.callsEnded.length, 0, 'still within 1.5 x 90 s');
    h.sip(request('OPTIONS', { callId: 'ping', cseq: 2 }), { ...A, ts: s(200) });
    assert.equal(h.recorded.callsEnded[0]?.endReason, 'session-expired');
    await h.stop();
  });

  it('a call that never sees BYE is closed after the configured idle time', async () => {
    const h = await PluginHarness.core({ config: { dialogs: { idleTimeoutSec: 60 } } });
    h.sip(request('INVITE'), { ...A, ts: s(0) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't' }), { ...B, ts: s(1) });
    h.sip(request('OPTIONS', { callId: 'ping' }), { ...A, ts: s(30) });
    assert.equal(h.recorded.callsEnded.length, 0);
    h.sip(request('OPTIONS', { callId: 'ping', cseq: 2 }), { ...A, ts: s(62) });
    assert.equal(h.recorded.callsEnded[0]?.endReason, 'idle-timeout');
    assert.equal(h.recorded.callsEnded[0]?.disposition, 'answered');
    await h.stop();
  });

  it('garbage where SIP is expected is a counted error, and calls before it still count', async () => {
    const h = await PluginHarness.core();
    h.sip(request('INVITE'), { ...A, ts: s(0) });
    h.packet({ ...A, ts: s(1), payload: 'INVITE garbage\r\nnot a header\r\n\r\n' });
    h.packet({ ...A, ts: s(1.5), payload: Buffer.from('SIP/2.0 999999 Nope\r\n\r\n') });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't' }), { ...B, ts: s(2) });
    const r = await h.stop();
    assert.equal(r.sipErrors.length, 2);
    assert.equal(h.counters()['core.sip.errors'], 2);
    assert.equal(r.callsEnded[0]!.disposition, 'answered');
  });
});
