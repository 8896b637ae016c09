/**
 * Lifecycle events, in the order a call and a chat produce them, with JSON-safe facts (what the HTTP API and live
 * views will consume): a call answered, held and resumed, ended; its recording started and finished; an IM session.
 */
import * as assert from 'node:assert/strict';
import { PluginHarness } from './testing/index';
import type { LifecycleEventName } from './contract';
import { request, response, sdp } from '../test/sip-text';
import { feed, oneToOne, type ImUser } from '../test/im-sessions';
import g711 from '../plugins/codec-g711/index';
import chat from '../plugins/chat/index';

const A = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
const B = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };
const T0 = Date.UTC(2026, 5, 1, 9, 0) * 1000;
const s = (sec: number): number => T0 + sec * 1_000_000;

describe('lifecycle events', () => {
  it('a call: started, answered, held, resumed, ended; its recording started and finished — in that order, as JSON-safe facts', async () => {
    const h = await PluginHarness.core({ with: [{ plugin: g711 }] });
    const seen: Array<{ event: LifecycleEventName; at: string }> = [];
    const names: LifecycleEventName[] = ['callStarted', 'callAnswered', 'callHeld', 'callResumed', 'callEnded', 'recordingStarted', 'recordingFinished'];
    for (const n of names) h.kernel.events.on(n, (e: { at?: string; call?: { start: string } }) => seen.push({ event: n, at: e.at ?? 'final' }));
    let held: unknown;
    h.kernel.events.on('callHeld', (e) => (held = e));
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(0) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't', body: sdp('10.0.0.2', 5000) }), { ...B, ts: s(1) });
    h.sip(request('ACK', { toTag: 't' }), { ...A, ts: s(1.1) });
    h.sip(request('INVITE', { toTag: 't', cseq: 2, body: sdp('10.0.0.1', 4000, { direction: 'sendonly' }) }), { ...A, ts: s(10) });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't', cseq: 2, body: sdp('10.0.0.2', 5000, { direction: 'recvonly' }) }), { ...B, ts: s(10.1) });
    h.sip(request('INVITE', { toTag: 't', cseq: 3, body: sdp('10.0.0.1', 4000) }), { ...A, ts: s(20) });
    h.sip(request('BYE', { toTag: 't', cseq: 4 }), { ...A, ts: s(30) });
    await h.stop();
    assert.deepEqual(seen.map((x) => x.event), ['callStarted', 'recordingStarted', 'callAnswered', 'callHeld', 'callResumed', 'callEnded', 'recordingFinished']);
    assert.deepEqual(
      seen.filter((x) => x.event !== 'recordingFinished').map((x) => x.at),
      [s(0), s(0), s(1), s(10), s(20), s(30)].map((t) => new Date(t / 1000).toISOString()),
    );
    // JSON-safe: what a server-sent event would carry, with the call's summary.
    const copy = JSON.parse(JSON.stringify(held)) as { by: string; callId: string; call: { holds: unknown[]; from: { uri: string } } };
    assert.equal(copy.by, 'caller');
    assert.equal(copy.callId, 'call-1@test');
    assert.equal(copy.call.from.uri, 'sip:alice@example.com');
    assert.equal(copy.call.holds.length, 1);
  });

  it('a chat: started at its first message, ended with its transcript when a participant holds the chat licence', async () => {
    const ALICE: ImUser = { uri: 'sip:alice@example.com', name: 'Alice', ip: '10.0.0.1' };
    const BOB: ImUser = { uri: 'sip:bob@example.com', ip: '10.0.0.2' };
    const h = await PluginHarness.create(chat, { config: { users: [{ uri: 'sip:alice@example.com', chat: true }] } });
    const events: string[] = [];
    let messages = 0;
    h.kernel.events.on('chatStarted', (e) => events.push(`started ${e.callId}`));
    h.kernel.events.on('chatEnded', (e) => {
      events.push(`ended ${e.callId}`);
      messages = e.transcript?.messages.length ?? -1;
    });
    feed(h, oneToOne({ callId: 'im-1', users: [ALICE, BOB], t0: T0, messages: [{ from: 0, text: 'hello' }, { from: 1, text: 'hi' }] }).wire);
    await h.stop();
    assert.deepEqual(events, ['started im-1', 'ended im-1']);
    assert.equal(messages, 2);
  });
});
