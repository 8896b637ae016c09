/** The chat plugin alone, in the core's per-plugin harness, fed generated Skype for Business IM sessions. */
import * as assert from 'node:assert/strict';
import { PluginHarness } from '../../core/testing/index';
import type { ChatTranscript } from '../../core/contract';
import chat, { ChatRecorderToken } from './index';
import type { ChatRecorder } from './recorder';
import { feed, oneToOne, type ImUser, type OneToOneSpec } from '../../test/im-sessions';
import { isImOnlyInvite } from '../../core/dialog/tracker';
import { parseSipMessage } from '../../core/sip/index';
import type { SipRequest } from '../../core/sip/types';

const T0 = Date.UTC(2026, 2, 4, 9, 30) * 1000;
const ALICE: ImUser = { uri: 'sip:alice@contoso.com', name: 'Alice Liddell', ip: '10.1.0.11', epid: 'a1b2c3' };
const BOB: ImUser = { uri: 'sip:bob@contoso.com', name: 'Bob Agent', ip: '10.1.0.12', epid: 'd4e5f6' };
const LICENSED = [{ uri: 'sip:alice@contoso.com', chat: true, name: 'Alice (agent 17)' }];

async function harness(opts: { options?: Record<string, unknown>; users?: unknown[]; config?: Record<string, unknown> } = {}): Promise<PluginHarness> {
  return PluginHarness.create(chat, { options: opts.options ?? {}, config: { users: opts.users ?? LICENSED, ...(opts.config ?? {}) } });
}

function transcripts(h: PluginHarness): ChatTranscript[] {
  return h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished;
}

async function run(spec: Partial<OneToOneSpec> & Pick<OneToOneSpec, 'messages'>, opts: Parameters<typeof harness>[0] = {}): Promise<{ h: PluginHarness; t: ChatTranscript[]; expected: ReturnType<typeof oneToOne>['expected'] }> {
  const h = await harness(opts);
  const s = oneToOne({ callId: 'c0ffee1234567890', users: [ALICE, BOB], t0: T0, ...spec });
  feed(h, s.wire);
  await h.stop();
  return { h, t: transcripts(h), expected: s.expected };
}

const texts = (t: ChatTranscript): Array<[string, string]> => t.messages.map((m) => [m.author.uri, m.text]);

describe('chat plugin: one-to-one IM sessions', () => {
  it('first message in the INVITE (ms-text-format), then MESSAGEs both ways: texts, order, authors, times, participants', async () => {
    const { t, expected } = await run({
      conversationId: 'AdqK3r4w5Xn1Q2x8',
      messages: [
        { from: 0, text: 'Hi Bob, do you have a minute?' },
        { from: 1, text: 'Sure — what is it?', gapSec: 4 },
        { from: 0, text: 'The ticket #4711 for Müller GmbH', gapSec: 7 },
        { from: 1, text: 'On it.\nWill call back in 5', gapSec: 2 },
      ],
    });
    assert.equal(t.length, 1);
    const tr = t[0]!;
    assert.deepEqual(texts(tr), expected.messages.map((m) => [m.author, m.text]));
    assert.deepEqual(tr.messages.map((m) => m.seq), [1, 2, 3, 4]);
    assert.equal(tr.messages[0]!.carriedBy, 'INVITE', 'the first line rode in the INVITE and was not lost');
    assert.deepEqual(tr.messages.slice(1).map((m) => m.carriedBy), ['MESSAGE', 'MESSAGE', 'MESSAGE']);
    assert.deepEqual(tr.messages.map((m) => m.status), [200, 200, 200, 200]);
    assert.equal(tr.messages[0]!.author.name, 'Alice Liddell');
    assert.equal(tr.messages[0]!.format?.fields?.FN, 'Segoe UI', 'msgr formatting kept');
    // Times follow the capture: strictly increasing, the first at the INVITE.
    const times = tr.messages.map((m) => Date.parse(m.at));
    assert.equal(times[0], T0 / 1000);
    assert.ok(times.every((x, i) => i === 0 || x > times[i - 1]!));
    assert.equal(tr.kind, 'im');
    assert.equal(tr.start, tr.messages[0]!.at, 'the transcript starts with the first message');
    assert.equal(tr.endReason, 'bye');
    assert.equal(tr.conversationId, 'AdqK3r4w5Xn1Q2x8');
    assert.deepEqual(tr.callIds, ['c0ffee1234567890']);
    assert.deepEqual(
      tr.participants.map((p) => [p.uri, p.role, p.licensed, p.name]),
      [
        ['sip:alice@contoso.com', 'initiator', true, 'Alice Liddell'],
        ['sip:bob@contoso.com', 'invitee', false, 'Bob Agent'],
      ],
    );
    assert.deepEqual(tr.keptFor, { reason: 'licence', user: 'sip:alice@contoso.com', name: 'Alice (agent 17)' });
  });

  it('HTML, RTF, multipart/alternative, charsets and transfer encodings, non-ASCII text: all equal what was sent', async () => {
    const messages = [
      { from: 0, text: 'Здравствуйте! Ваш заказ готов.', form: 'html' as const },
      { from: 1, text: 'Danke schön — 12 € bezahlt', form: 'rtf' as const },
      { from: 0, text: '見積書を送りました 📎', form: 'alternative' as const },
      { from: 1, text: 'Ça marche, à demain', form: 'quoted-printable' as const, charset: 'iso-8859-1' },
      { from: 0, text: 'מחר בבוקר', form: 'base64' as const },
      { from: 1, text: 'Кириллица в cp1251', form: 'plain' as const, charset: 'windows-1251' },
      { from: 0, text: '  indented and  double  spaced', form: 'html' as const },
    ];
    const { t, expected } = await run({ messages });
    assert.deepEqual(texts(t[0]!), expected.messages.map((m) => [m.author, m.text]));
    assert.deepEqual(t[0]!.messages.map((m) => m.contentType), ['text/plain', 'text/rtf', 'text/plain', 'text/plain', 'text/plain', 'text/plain', 'text/html']);
    assert.equal(t[0]!.messages[0]!.carriedBy, 'INVITE');
    assert.equal(t[0]!.messages[1]!.rich?.contentType, 'text/rtf');
    assert.match(t[0]!.messages[1]!.rich?.body ?? '', /^\{\\rtf1/);
    assert.equal(t[0]!.messages[2]!.rich?.contentType, 'text/html', 'multipart/alternative keeps its richest part');
    assert.ok(t[0]!.messages.every((m) => m.warnings === undefined));
  });

  it('the old RTC media line m=x-ms-message is an IM session too', async () => {
    const { t } = await run({ media: 'x-ms-message', messages: [{ from: 0, text: 'legacy hello' }, { from: 1, text: 'legacy reply' }] });
    assert.deepEqual(texts(t[0]!), [['sip:alice@contoso.com', 'legacy hello'], ['sip:bob@contoso.com', 'legacy reply']]);
  });

  it('no first message in the INVITE: the session starts with its first MESSAGE', async () => {
    const { t } = await run({ firstInInvite: false, messages: [{ from: 0, text: 'one' }, { from: 1, text: 'two' }] });
    assert.deepEqual(texts(t[0]!), [['sip:alice@contoso.com', 'one'], ['sip:bob@contoso.com', 'two']]);
    assert.equal(t[0]!.messages[0]!.carriedBy, 'MESSAGE');
  });

  it('the answer does not accept ms-text-format: the first message sent again as a MESSAGE is not doubled', async () => {
    const { t } = await run({ confirmFirst: false, messages: [{ from: 0, text: 'first line' }, { from: 1, text: 'reply' }] });
    assert.deepEqual(texts(t[0]!), [['sip:alice@contoso.com', 'first line'], ['sip:bob@contoso.com', 'reply']]);
    assert.equal(t[0]!.messages[0]!.status, 200);
  });

  it('every message seen twice (two capture points): each kept once', async () => {
    const { t, h } = await run({ duplicate: true, messages: [{ from: 0, text: 'a' }, { from: 1, text: 'b' }, { from: 0, text: 'c' }] });
    assert.deepEqual(texts(t[0]!).map((x) => x[1]), ['a', 'b', 'c']);
    assert.ok(h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.tracker.stats.duplicates >= 3);
  });

  it('typing notices are events, not text; they can be switched off', async () => {
    const spec = { firstInInvite: false, messages: [{ from: 0, text: 'hello' }, { from: 1, text: 'typing first', typing: true }] };
    const { t } = await run(spec);
    assert.deepEqual(texts(t[0]!).map((x) => x[1]), ['hello', 'typing first']);
    assert.deepEqual(t[0]!.events.map((e) => [e.kind, e.who]), [['typing', 'sip:bob@contoso.com']]);
    assert.ok(t[0]!.events[0]!.at < t[0]!.messages[1]!.at);
    const off = await run(spec, { options: { typingEvents: false } });
    assert.deepEqual(off.t[0]!.events, []);
  });

  it('INFO KeyboardActivity and ms-imdn delivery notices are events', async () => {
    const h = await harness();
    const s = oneToOne({ callId: 'info-imdn-1', users: [ALICE, BOB], t0: T0, messages: [{ from: 0, text: 'hi' }], end: 'none' });
    feed(h, s.wire);
    const base = { src: BOB.ip, sport: 5061, dst: ALICE.ip, dport: 5061 };
    const info = (cseq: number, method: string, ct: string, body: string): string =>
      [
        `${method} sip:alice@contoso.com SIP/2.0`,
        'Via: SIP/2.0/UDP 10.1.0.12:5061;branch=z9hG4bKinfo' + cseq,
        'From: "Bob Agent" <sip:bob@contoso.com>;tag=B567890',
        'To: <sip:alice@contoso.com>;tag=ainfo-i',
        'Call-ID: info-imdn-1',
        `CSeq: ${cseq} ${method}`,
        `Content-Type: ${ct}`,
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n');
    h.sip(info(10, 'INFO', 'application/xml', '<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>'), { ...base, ts: T0 + 5_000_000 });
    h.sip(info(11, 'INFO', 'application/xml', '<KeyboardActivity><status status="idle"/></KeyboardActivity>'), { ...base, ts: T0 + 6_000_000 });
    h.sip(info(12, 'MESSAGE', 'application/ms-imdn+xml', '<?xml version="1.0"?><imdn><message-id>42</message-id><recipient uri="sip:carol@contoso.com"><status>failed</status></recipient></imdn>'), { ...base, ts: T0 + 7_000_000 });
    await h.stop();
    const tr = transcripts(h)[0]!;
    assert.deepEqual(texts(tr), [['sip:alice@contoso.com', 'hi']], 'notices are not text');
    assert.deepEqual(
      tr.events.map((e) => [e.kind, e.who, e.detail]),
      [
        ['typing', 'sip:bob@contoso.com', undefined],
        ['idle', 'sip:bob@contoso.com', undefined],
        ['delivery', 'sip:bob@contoso.com', 'message 42: sip:carol@contoso.com failed'],
      ],
    );
  });

  it('a 481 to a MESSAGE ends a dangling session; the transcript is kept with its messages', async () => {
    const { t } = await run({ end: 'dangling', messages: [{ from: 0, text: 'still there?' }, { from: 0, text: 'hello?' }] });
    assert.equal(t[0]!.endReason, 'dangling');
    assert.deepEqual(t[0]!.messages.map((m) => [m.text, m.status]), [['still there?', 200], ['hello?', 481]]);
  });

  it('a session never closed is closed after idleTimeoutSec (capture time) and still kept', async () => {
    const h = await harness({ options: { idleTimeoutSec: 60 } });
    feed(h, oneToOne({ callId: 'never-closed-1', users: [ALICE, BOB], t0: T0, end: 'none', messages: [{ from: 0, text: 'bye for now' }] }).wire);
    assert.equal(transcripts(h).length, 0, 'still open');
    h.packet({ src: '10.9.9.9', sport: 40000, dst: '10.9.9.8', dport: 40002, ts: T0 + 30_000_000, payload: Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]) });
    assert.equal(transcripts(h).length, 0, 'not idle yet');
    h.packet({ src: '10.9.9.9', sport: 40000, dst: '10.9.9.8', dport: 40002, ts: T0 + 62_000_000, payload: Buffer.from([0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]) });
    const t = transcripts(h);
    assert.equal(t.length, 1, 'closed by the idle timer while the capture goes on');
    assert.equal(t[0]!.endReason, 'idle-timeout');
    assert.deepEqual(texts(t[0]!), [['sip:alice@contoso.com', 'bye for now']]);
    assert.equal(Date.parse(t[0]!.end), Date.parse(t[0]!.messages[0]!.at) + 60_000 + 340, 'ends idleTimeoutSec after the last activity (the ACK)');
    await h.stop();
    assert.equal(transcripts(h).length, 1);
  });

  it('open sessions at the end of the input are closed and kept', async () => {
    const { t } = await run({ end: 'none', messages: [{ from: 0, text: 'last words' }] });
    assert.equal(t[0]!.endReason, 'end-of-input');
    assert.deepEqual(texts(t[0]!), [['sip:alice@contoso.com', 'last words']]);
  });

  it('a capture that starts mid-session: recorded from the first MESSAGE seen, flagged', async () => {
    const h = await harness();
    const s = oneToOne({ callId: 'midway-1', users: [ALICE, BOB], t0: T0, firstInInvite: false, messages: [{ from: 0, text: 'before' }, { from: 1, text: 'seen' }, { from: 0, text: 'also seen' }] });
    // Drop the INVITE, its answers, the ACK, and the first MESSAGE with its 200.
    feed(h, s.wire.slice(6));
    await h.stop();
    const tr = transcripts(h)[0]!;
    assert.deepEqual(texts(tr), [['sip:bob@contoso.com', 'seen'], ['sip:alice@contoso.com', 'also seen']]);
    assert.match(tr.warnings[0] ?? '', /INVITE of dialog midway-1 was not seen/);
    assert.equal(tr.endReason, 'bye');
  });

  it('an INVITE challenged (407) and sent again with credentials: its first message is kept once', async () => {
    const h = await harness();
    const s = oneToOne({ callId: 'challenged-1', users: [ALICE, BOB], t0: T0, messages: [{ from: 0, text: 'first try' }, { from: 1, text: 'got it' }] });
    const invite = s.wire[0]!.text.toString('utf8');
    const head = invite.slice(0, invite.indexOf('\r\n\r\n')).split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/.test(l));
    const from = { src: ALICE.ip, sport: 5061, dst: BOB.ip, dport: 5061 };
    h.sip(invite, { ...from, ts: T0 });
    h.sip(['SIP/2.0 407 Proxy Authentication Required', ...head.map((l) => (l.startsWith('To:') ? `${l};tag=proxy1` : l)), 'Content-Length: 0', '', ''].join('\r\n'), { src: BOB.ip, sport: 5061, dst: ALICE.ip, dport: 5061, ts: T0 + 10_000 });
    // The retry: same dialog identifiers, the next CSeq, credentials added.
    const retry = invite.replace('CSeq: 1 INVITE', 'CSeq: 2 INVITE').replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nProxy-Authorization: Digest username="alice"');
    h.sip(retry, { ...from, ts: T0 + 50_000 });
    feed(h, s.wire.slice(2).map((w) => ({ ...w, text: Buffer.from(w.text.toString('utf8').replace(/CSeq: 1 (INVITE|ACK)/, 'CSeq: 2 $1'), 'utf8') })));
    await h.stop();
    const tr = transcripts(h)[0]!;
    assert.deepEqual(tr.messages.map((m) => [m.text, m.carriedBy, m.status]), [['first try', 'INVITE', 200], ['got it', 'MESSAGE', 200]]);
  });

  it('a rejected INVITE that carried a first message: kept, with the rejection as its status', async () => {
    const h = await harness();
    const s = oneToOne({ callId: 'rejected-1', users: [ALICE, BOB], t0: T0, end: 'none', messages: [{ from: 0, text: 'are you there?' }] });
    const wire = s.wire.slice(0, 2); // INVITE, 100
    feed(h, wire);
    const inviteText = wire[0]!.text.toString('utf8');
    const head = inviteText.slice(0, inviteText.indexOf('\r\n\r\n')).split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/.test(l));
    const toAt = head.findIndex((l) => l.startsWith('To:'));
    head[toAt] = head[toAt] + ';tag=rej1';
    h.sip(['SIP/2.0 480 Temporarily Unavailable', ...head, 'Content-Length: 0', '', ''].join('\r\n'), { src: BOB.ip, sport: 5061, dst: ALICE.ip, dport: 5061, ts: T0 + 2_000_000 });
    await h.stop();
    const tr = transcripts(h)[0]!;
    assert.equal(tr.endReason, 'rejected');
    assert.deepEqual(tr.messages.map((m) => [m.text, m.status]), [['are you there?', 480]]);
  });

  it('which INVITEs are IM sessions (isImOnlyInvite, shared with the dialog tracker)', () => {
    const inv = (ct: string | undefined, body: string): SipRequest => {
      const lines = ['INVITE sip:b@x.test SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1', 'From: <sip:a@x.test>;tag=1', 'To: <sip:b@x.test>', 'Call-ID: q', 'CSeq: 1 INVITE'];
      if (ct !== undefined) lines.push(`Content-Type: ${ct}`);
      return parseSipMessage(Buffer.from([...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n')), { transport: 'udp' }) as SipRequest;
    };
    const sdp = (...m: string[]): string => ['v=0', 'o=- 0 0 IN IP4 1.2.3.4', 's=-', 'c=IN IP4 1.2.3.4', 't=0 0', ...m, ''].join('\r\n');
    assert.equal(isImOnlyInvite(inv('application/sdp', sdp('m=message 5060 sip null'))), true);
    assert.equal(isImOnlyInvite(inv('application/sdp', sdp('m=x-ms-message 5060 sip null'))), true);
    assert.equal(isImOnlyInvite(inv('application/sdp', sdp('m=audio 4000 RTP/AVP 0', 'm=message 5060 sip null'))), false);
    assert.equal(isImOnlyInvite(inv('application/sdp', sdp('m=audio 4000 RTP/AVP 0'))), false);
    assert.equal(isImOnlyInvite(inv(undefined, '')), false, 'late offer: a call');
    assert.equal(isImOnlyInvite(inv('application/cccp+xml', '<request/>')), false);
    const mp = ['--b', 'Content-Type: application/sdp', '', sdp('m=message 5060 sip null'), '--b--', ''].join('\r\n');
    assert.equal(isImOnlyInvite(inv('multipart/alternative; boundary=b', mp)), true);
    assert.equal(isImOnlyInvite(inv('multipart/alternative; boundary=b', '--b\r\nbroken')), false, 'an unreadable body stays a call');
  });

  it('calls are not IM sessions: an audio INVITE is left to the dialog tracker', async () => {
    const h = await harness();
    const sdp = ['v=0', 'o=- 1 1 IN IP4 10.1.0.11', 's=-', 'c=IN IP4 10.1.0.11', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    h.sip(
      ['INVITE sip:bob@contoso.com SIP/2.0', 'Via: SIP/2.0/UDP 10.1.0.11:5060;branch=z9hG4bKa1', 'From: <sip:alice@contoso.com>;tag=x1', 'To: <sip:bob@contoso.com>', 'Call-ID: audio-1', 'CSeq: 1 INVITE', 'Content-Type: application/sdp', `Content-Length: ${sdp.length}`, '', sdp].join('\r\n'),
      { ts: T0 },
    );
    await h.stop();
    assert.equal(transcripts(h).length, 0);
    assert.equal(h.recorded.callsStarted.length, 1);
    assert.equal(h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.tracker.stats.sessions, 0);
  });
});

describe('chat plugin: licences', () => {
  it('no participant holds the chat licence: no transcript, counted', async () => {
    const { t, h } = await run({ messages: [{ from: 0, text: 'private' }] }, { users: [{ uri: 'sip:alice@contoso.com', chat: false }, { uri: 'sip:bob@contoso.com' }] });
    assert.equal(t.length, 0);
    assert.equal(h.counters()['chat.sessions.unlicensed'], 1);
    assert.equal(h.counters()['chat.transcripts'] ?? 0, 0);
  });

  it('the licensed user may be the invitee: the transcript names them', async () => {
    const { t } = await run({ messages: [{ from: 0, text: 'to the agent' }] }, { users: [{ uri: 'BOB@contoso.com', chat: true }] });
    assert.deepEqual(t[0]!.keptFor, { reason: 'licence', user: 'sip:bob@contoso.com' });
    assert.deepEqual(t[0]!.participants.map((p) => p.licensed), [false, true]);
  });

  it('no users configured: nothing kept, and the plugin says why at start; recordAll keeps every session', async () => {
    const h = await harness({ users: [] });
    assert.ok(h.recorded.logs.some((l) => l.level === 'warn' && /no users are configured/.test(l.msg)));
    feed(h, oneToOne({ callId: 'nobody-1', users: [ALICE, BOB], t0: T0, messages: [{ from: 0, text: 'x' }] }).wire);
    await h.stop();
    assert.equal(transcripts(h).length, 0);
    const all = await run({ messages: [{ from: 0, text: 'kept anyway' }] }, { users: [], options: { recordAll: true } });
    assert.deepEqual(all.t[0]!.keptFor, { reason: 'recordAll' });
    assert.deepEqual(texts(all.t[0]!), [['sip:alice@contoso.com', 'kept anyway']]);
  });

  it('a session in which nobody wrote anything is not a transcript', async () => {
    const { t, h } = await run({ firstInInvite: false, messages: [] });
    assert.equal(t.length, 0);
    assert.equal(h.counters()['chat.sessions.empty'], 1);
  });

  it('the plugin options are checked by its schema', async () => {
    await assert.rejects(harness({ options: { idleTimeoutSec: 0 } }), /idleTimeoutSec/);
    await assert.rejects(harness({ options: { renderings: ['pdf'] } }), /renderings/);
    await assert.rejects(harness({ options: { keepEverything: true } }), /keepEverything/);
  });
});
