/** Chat and calls together: the chat plugin with storage-local, IM sessions beside the calls of the same conversation. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness } from '../core/testing/index';
import chat, { ChatRecorderToken } from '../plugins/chat/index';
import type { ChatRecorder } from '../plugins/chat/recorder';
import storageLocal from '../plugins/storage-local/index';
import g711 from '../plugins/codec-g711/index';
import { LocalStore } from '../plugins/storage-local/store';
import { feed, oneToOne, type ImUser } from './im-sessions';
import { request, response, sdp } from './sip-text';

const T0 = Date.UTC(2026, 3, 1, 8, 0) * 1000;
const ALICE: ImUser = { uri: 'sip:alice@example.com', name: 'Alice Agent', ip: '10.0.0.1' };
const BOB: ImUser = { uri: 'sip:bob@example.com', ip: '10.0.0.2' };

describe('chat with storage-local: transcripts in the recordings store, linked to calls', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-im-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('an IM session is not recorded as an empty call; its transcript is catalogued and linked to the call with its Ms-Conversation-ID', async () => {
    const h = await PluginHarness.create(chat, {
      with: [{ plugin: storageLocal, options: { dir } }, { plugin: g711 }],
      config: { users: [{ uri: 'sip:alice@example.com', chat: true, name: 'Alice (agent 7)' }] },
    });
    const conv = 'Ab12Cd34Ef56';
    // The chat: HTML with markup a browser would run.
    feed(h, oneToOne({ callId: 'im-call-1', users: [ALICE, BOB], t0: T0, conversationId: conv, messages: [{ from: 0, text: 'Can we talk?' }, { from: 1, text: '<script>alert("x")</script> sure', form: 'html' }] }).wire);
    // An audio call in the same conversation, after the chat.
    const A = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
    const B = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };
    const hdr = [`Ms-Conversation-ID: ${conv}`];
    h.sip(request('INVITE', { callId: 'av-call-1', headers: hdr, body: sdp('10.0.0.1', 4000) }), { ...A, ts: T0 + 20_000_000 });
    h.sip(response(200, 'OK', 'INVITE', { callId: 'av-call-1', toTag: 't1', headers: hdr, body: sdp('10.0.0.2', 5000) }), { ...B, ts: T0 + 21_000_000 });
    h.sip(request('ACK', { callId: 'av-call-1', toTag: 't1' }), { ...A, ts: T0 + 21_100_000 });
    h.sip(request('BYE', { callId: 'av-call-1', toTag: 't1', cseq: 2 }), { ...A, ts: T0 + 30_000_000 });
    await h.stop();

    // Calls: only the audio call; the IM INVITE was left to the chat plugin (not an empty recording).
    assert.deepEqual(h.recorded.callsStarted.map((c) => c.callId), ['av-call-1']);
    assert.deepEqual(h.recorded.recordings.map((r) => r.call.callId), ['av-call-1']);
    assert.equal(h.kernel.dialogs.stats.imSessions, 1);

    const t = h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished[0]!;
    assert.deepEqual(t.linkedCalls.map((c) => c.callId), [], 'the call began after the chat ended');

    const store = new LocalStore({ root: dir, catalogue: path.join(dir, 'catalogue.sqlite'), layout: 'date' });
    try {
      assert.deepEqual(store.list({}).map((e) => e.callId), ['av-call-1'], 'no recording for the IM session');
      const [entry] = store.listTranscripts({ user: 'alice' });
      assert.ok(entry !== undefined);
      assert.equal(entry.callId, 'im-call-1');
      assert.deepEqual(store.listTranscripts({ user: 'nobody' }), []);
      assert.deepEqual(store.listTranscripts({ from: '2026-04-02' }), []);
      const got = store.getTranscript(entry.id)!;
      assert.deepEqual(got.linkedRecordings.map((r) => r.callId), ['av-call-1'], 'linked through Ms-Conversation-ID');
      assert.deepEqual(got.transcript.messages.map((m) => m.text), ['Can we talk?', '<script>alert("x")</script> sure']);
      assert.equal(got.transcript.keptFor.reason === 'licence' && got.transcript.keptFor.user, 'sip:alice@example.com');
      assert.ok(entry.transcript.startsWith(path.join(dir, '2026', '04', '01') + path.sep));
      const html = fs.readFileSync(entry.html!, 'utf8');
      assert.ok(!html.includes('<script>'), 'the sender\'s markup is escaped in the HTML rendering');
      assert.ok(html.includes('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; sure'));
      const text = fs.readFileSync(entry.text!, 'utf8');
      assert.match(text, /\[2026-04-01 08:00:00Z\] Alice Agent <sip:alice@example\.com>: Can we talk\?/);
      assert.match(text, /Kept for: sip:alice@example\.com \(chat licence\)/);
    } finally {
      store.closeCatalogue();
    }
  });

  it('a call already running links the chat to it in the transcript too; a session open at the end is stored before the store closes', async () => {
    const h = await PluginHarness.create(chat, { with: [{ plugin: storageLocal, options: { dir } }], config: { users: [{ uri: 'sip:bob@example.com', chat: true }] } });
    const A = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
    h.sip(request('INVITE', { callId: 'av-2', headers: ['Ms-Conversation-ID: CONV-2'], body: sdp('10.0.0.1', 4000) }), { ...A, ts: T0 });
    feed(h, oneToOne({ callId: 'im-2', users: [ALICE, BOB], t0: T0 + 1_000_000, conversationId: 'CONV-2', end: 'none', messages: [{ from: 1, text: 'sent you the file' }] }).wire);
    await h.stop();
    const t = h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished[0]!;
    assert.deepEqual(t.linkedCalls, [{ callId: 'av-2', start: new Date(T0 / 1000).toISOString() }]);
    assert.equal(t.endReason, 'end-of-input');
    const store = new LocalStore({ root: dir, catalogue: path.join(dir, 'catalogue.sqlite'), layout: 'date' });
    try {
      assert.equal(store.listTranscripts({}).length, 1, 'written before storage-local closed its catalogue');
    } finally {
      store.closeCatalogue();
    }
  });
});
