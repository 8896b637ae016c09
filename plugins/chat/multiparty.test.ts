/** Conference chats through the IM MCU (opaque=app:conf:chat), in the per-plugin harness. */
import * as assert from 'node:assert/strict';
import { PluginHarness } from '../../core/testing/index';
import type { ChatTranscript } from '../../core/contract';
import chat, { ChatRecorderToken } from './index';
import type { ChatRecorder } from './recorder';
import { conferenceUri } from './conference';
import { feed, mcuChat, mcuUri, type ImUser, type McuChatSpec } from '../../test/im-sessions';

const T0 = Date.UTC(2026, 2, 5, 14, 0) * 1000;
const USERS: ImUser[] = [
  { uri: 'sip:alice@contoso.com', name: 'Alice', ip: '10.2.0.1', epid: 'e1' },
  { uri: 'sip:bob@contoso.com', name: 'Bob', ip: '10.2.0.2', epid: 'e2' },
  { uri: 'sip:carol@fabrikam.com', name: 'Carol', ip: '10.3.0.3', epid: 'e3' },
];
const BASE: McuChatSpec = { organizer: 'sip:alice@contoso.com', conferenceId: 'F00D42AB', mcuIp: '10.2.0.100', t0: T0, users: USERS, messages: [] };

async function run(spec: Partial<McuChatSpec>, users: unknown[] = [{ uri: 'sip:carol@fabrikam.com', chat: true }]): Promise<{ t: ChatTranscript[]; expected: ReturnType<typeof mcuChat>['expected']; h: PluginHarness }> {
  const h = await PluginHarness.create(chat, { config: { users } });
  const s = mcuChat({ ...BASE, ...spec });
  feed(h, s.wire);
  await h.stop();
  return { t: h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished, expected: s.expected, h };
}

const MESSAGES = [
  { from: 0, text: 'Welcome everyone' },
  { from: 2, text: 'Hi all, Carol from Fabrikam', gapSec: 3 },
  { from: 1, text: 'Hello Carol!', gapSec: 1 },
  { from: 0, text: 'Hello Carol!', gapSec: 0.5 },
  { from: 2, text: 'Agenda: 1) prices 2) délais de livraison', gapSec: 4 },
];

describe('chat plugin: multiparty chats through the IM MCU', () => {
  it('focus and chat MCU URIs of one conference share a key', () => {
    assert.deepEqual(conferenceUri(mcuUri(BASE, 'chat')), { role: 'chat', key: 'alice@contoso.com|id:f00d42ab' });
    assert.equal(conferenceUri(mcuUri(BASE, 'focus'))?.key, conferenceUri(mcuUri(BASE, 'chat'))?.key);
    assert.equal(conferenceUri('sip:alice@contoso.com;gruu;opaque=user:epid:abc'), undefined);
  });

  it('one transcript for all legs: each message once, authors from Ms-Sender, in order, with its recipients', async () => {
    const { t, expected } = await run({ messages: MESSAGES, conversationId: 'conf-conv-1' });
    assert.equal(t.length, 1);
    const tr = t[0]!;
    assert.equal(tr.kind, 'multiparty');
    assert.deepEqual(
      tr.messages.map((m) => [m.author.uri, m.text]),
      expected.messages.map((m) => [m.author, m.text]),
    );
    // Two people saying the same words is two messages; copies of one message on other legs are not.
    assert.equal(tr.messages.filter((m) => m.text === 'Hello Carol!').length, 2);
    assert.deepEqual(tr.messages[1]!.deliveredTo, ['sip:alice@contoso.com', 'sip:bob@contoso.com']);
    assert.deepEqual(tr.messages[0]!.deliveredTo, ['sip:bob@contoso.com', 'sip:carol@fabrikam.com']);
    assert.deepEqual(tr.callIds.length, 3);
    assert.equal(tr.conference, mcuUri(BASE, 'chat'));
    assert.equal(tr.conversationId, 'conf-conv-1');
    assert.deepEqual(tr.participants.map((p) => p.uri), USERS.map((u) => u.uri));
    assert.deepEqual(tr.keptFor, { reason: 'licence', user: 'sip:carol@fabrikam.com' });
    assert.equal(tr.endReason, 'bye');
  });

  it('participants joining and leaving are events (their legs, and the focus roster for someone without a leg seen)', async () => {
    const dave: ImUser = { uri: 'sip:dave@contoso.com', name: 'Dave', ip: '10.2.0.4' };
    const { t } = await run({ messages: MESSAGES.slice(0, 2), leave: [1], rosterOnly: dave });
    const ev = t[0]!.events.map((e) => [e.kind, e.who]);
    assert.deepEqual(ev, [
      ['joined', 'sip:alice@contoso.com'],
      ['joined', 'sip:bob@contoso.com'],
      ['joined', 'sip:carol@fabrikam.com'],
      ['joined', 'sip:dave@contoso.com'],
      ['left', 'sip:dave@contoso.com'],
      ['left', 'sip:bob@contoso.com'],
      ['left', 'sip:alice@contoso.com'],
      ['left', 'sip:carol@fabrikam.com'],
    ]);
    assert.ok(t[0]!.participants.some((p) => p.uri === 'sip:dave@contoso.com' && p.name === 'Dave'));
  });

  it('the MCU forwarding multipart/alternative copies of a plain message: still one message each', async () => {
    const { t, expected } = await run({ messages: MESSAGES, forwardAlternative: true });
    assert.deepEqual(
      t[0]!.messages.map((m) => [m.author.uri, m.text]),
      expected.messages.map((m) => [m.author, m.text]),
    );
  });

  it('only one leg captured (a single participant\'s view): authors still right, from Ms-Sender', async () => {
    const h = await PluginHarness.create(chat, { config: { users: [{ uri: 'sip:bob@contoso.com', chat: true }] } });
    const s = mcuChat({ ...BASE, messages: MESSAGES });
    // Only what Bob's endpoint sends and receives.
    feed(h, s.wire.filter((w) => w.src === '10.2.0.2' || w.dst === '10.2.0.2'));
    await h.stop();
    const tr = h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished[0]!;
    assert.deepEqual(
      tr.messages.map((m) => [m.author.uri, m.text]),
      MESSAGES.map((m) => [USERS[m.from]!.uri, m.text]),
    );
    assert.deepEqual(tr.keptFor, { reason: 'licence', user: 'sip:bob@contoso.com' });
  });

  it('nobody licensed in the conference: no transcript', async () => {
    const { t } = await run({ messages: MESSAGES }, [{ uri: 'sip:zed@contoso.com', chat: true }]);
    assert.equal(t.length, 0);
  });

  it('a forwarded message without Ms-Sender is kept, attributed to the MCU, with a warning', async () => {
    const h = await PluginHarness.create(chat, { config: { users: [{ uri: 'sip:bob@contoso.com', chat: true }] } });
    const s = mcuChat({ ...BASE, messages: [{ from: 0, text: 'who said this?' }] });
    for (const w of s.wire) w.text = Buffer.from(w.text.toString('utf8').replace(/^Ms-Sender:[^\r\n]*\r\n/m, ''), 'utf8');
    feed(h, s.wire.filter((w) => w.src === '10.2.0.2' || w.dst === '10.2.0.2'));
    await h.stop();
    const tr = h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished[0]!;
    assert.equal(tr.messages[0]!.text, 'who said this?');
    assert.match(tr.warnings.join('\n'), /without Ms-Sender/);
  });
});
