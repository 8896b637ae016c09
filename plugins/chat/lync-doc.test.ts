/**
 * The IM examples of lync-protocols.md §6 (the shared protocol notes, read where they are: never copied here),
 * wrapped in the session they belong to and fed to the chat plugin. Skipped with a message without ../shared.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginHarness } from '../../core/testing/index';
import chat, { ChatRecorderToken } from './index';
import type { ChatRecorder } from './recorder';
import { repoRoot } from '../../test/corpus';
import { msgrFor } from '../../test/im-sessions';

const DOC = path.resolve(repoRoot, '..', 'shared', 'docs', 'lync-protocols.md');
const haveDoc = fs.existsSync(DOC);

function section6(): string {
  const text = fs.readFileSync(DOC, 'utf8');
  const start = text.indexOf('## 6. IM over SIP');
  const end = text.indexOf('\n## 7.', start);
  assert.ok(start >= 0 && end > start, 'lync-protocols.md has its §6');
  return text.slice(start, end);
}

function header(msg: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(msg);
  assert.ok(m !== null, `${name} in the example`);
  return m[1]!.trim();
}

(haveDoc ? describe : describe.skip)('chat plugin: the SfB IM examples of lync-protocols.md §6', () => {
  if (!haveDoc) console.warn(`\n  [tapline] ${DOC} not found: the lync-protocols.md example test is skipped.\n`);

  it('the public SfB MESSAGE sample, inside its session: its text and author in the transcript', async () => {
    const sec = section6();
    const block = /```\s*\n(MESSAGE [\s\S]*?)```/.exec(sec);
    assert.ok(block !== null, 'the MESSAGE sample');
    const sample = block[1]!.replace(/\s+$/, '');
    const [head = '', body = ''] = sample.split(/\n\s*\n/);
    const from = header(head, 'From');
    const to = header(head, 'To');
    const callId = header(head, 'Call-ID');
    const toNoTag = to.replace(/;tag=[^;]*/, '');
    const sdp = ['v=0', 'o=- 0 0 IN IP4 192.168.41.10', 's=session', 'c=IN IP4 192.168.41.10', 't=0 0', 'm=message 5060 sip null', 'a=accept-types:text/plain text/html multipart/alternative application/im-iscomposing+xml', ''].join('\r\n');
    const inviteFrom = { src: '192.168.41.10', sport: 5061, dst: '192.168.41.195', dport: 49932 };
    const back = { src: '192.168.41.195', sport: 49932, dst: '192.168.41.10', dport: 5061 };
    const t0 = Date.UTC(2026, 0, 5, 12) * 1000;
    const h = await PluginHarness.create(chat, { config: { users: [{ uri: 'sip:user6@skype2015.loc', chat: true }] } });
    const common = (cseq: string, toHdr: string): string[] => ['Via: SIP/2.0/TLS 192.168.41.10:5061;branch=z9hG4bKdoc' + cseq.replace(/\W/g, ''), `From: ${from}`, `To: ${toHdr}`, `Call-ID: ${callId}`, `CSeq: ${cseq}`];
    h.sip([`INVITE sip:user6@skype2015.loc SIP/2.0`, ...common('1 INVITE', toNoTag), 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n'), { ...inviteFrom, ts: t0 });
    h.sip(['SIP/2.0 200 OK', ...common('1 INVITE', to), 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n'), { ...back, ts: t0 + 200_000 });
    h.sip([`ACK sip:user6@192.168.41.195:49932;transport=tls SIP/2.0`, ...common('1 ACK', to), 'Content-Length: 0', '', ''].join('\r\n'), { ...inviteFrom, ts: t0 + 250_000 });
    // The sample exactly as documented (the harness turns its LF line ends into CRLF).
    h.sip(sample, { ...inviteFrom, ts: t0 + 1_000_000 });
    h.sip(['SIP/2.0 200 OK', ...common('5 MESSAGE', to), 'Content-Length: 0', '', ''].join('\r\n'), { ...back, ts: t0 + 1_100_000 });
    h.sip([`BYE sip:user6@192.168.41.195:49932;transport=tls SIP/2.0`, ...common('6 BYE', to), 'Content-Length: 0', '', ''].join('\r\n'), { ...inviteFrom, ts: t0 + 5_000_000 });
    await h.stop();
    const [t] = h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished;
    assert.ok(t !== undefined, 'a transcript');
    assert.deepEqual(
      t.messages.map((m) => [m.author.uri, m.author.name, m.text, m.contentType, m.status]),
      [['sip:user12@skype2015.loc', 'user12', body, 'text/plain', 200]],
    );
    assert.equal(body, '/webinar us2 "Internal"');
    assert.deepEqual(t.keptFor, { reason: 'licence', user: 'sip:user6@skype2015.loc' });
    assert.equal(t.endReason, 'bye');
  });

  it('the documented ms-text-format header carries the first message: it is not lost', async () => {
    const sec = section6();
    const form = /`(ms-text-format:[^`]+)`/.exec(sec)?.[1];
    assert.ok(form !== undefined, 'the ms-text-format example');
    const first = 'Hello from the INVITE — первая строка';
    const value = form.replace(/^ms-text-format:\s*/i, '').replace('<b64>', msgrFor()).replace('<base64 text>', Buffer.from(first).toString('base64'));
    assert.doesNotMatch(value, /[<>]/, 'every placeholder filled');
    const sdp = ['v=0', 'o=- 0 0 IN IP4 10.0.0.1', 's=session', 'c=IN IP4 10.0.0.1', 't=0 0', 'm=message 5060 sip null', 'a=accept-types:text/plain', ''].join('\r\n');
    const h = await PluginHarness.create(chat, { config: { users: [{ uri: 'sip:a@x.test', chat: true }] } });
    const c = ['From: <sip:a@x.test>;tag=t1', 'Call-ID: doc-mtf', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx'];
    h.sip(['INVITE sip:b@x.test SIP/2.0', ...c, 'To: <sip:b@x.test>', 'CSeq: 1 INVITE', 'Supported: ms-text-format', `ms-text-format: ${value}`, 'Content-Type: application/sdp', `Content-Length: ${sdp.length}`, '', sdp].join('\r\n'));
    h.sip(['SIP/2.0 200 OK', ...c, 'To: <sip:b@x.test>;tag=t2', 'CSeq: 1 INVITE', 'Supported: ms-text-format', 'Content-Length: 0', '', ''].join('\r\n'));
    await h.stop();
    const [t] = h.resolveAll<ChatRecorder>(ChatRecorderToken)[0]!.finished;
    assert.deepEqual(t?.messages.map((m) => [m.text, m.carriedBy, m.status, m.format?.fields?.FN]), [[first, 'INVITE', 200, 'Segoe UI']]);
  });
});
