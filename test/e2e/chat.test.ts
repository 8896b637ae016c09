/** Chat recording as a user runs it: a pcap of generated IM sessions through `tapline record`, then `tapline chats`. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { TranscriptEntry } from '../../core/contract';
import { repoRoot } from '../corpus';
import { mcuChat, oneToOne, writeImPcap, type ImUser } from '../im-sessions';

const cli = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

function run(args: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const T0 = Date.UTC(2026, 4, 12, 9, 0) * 1000;
const AGENT: ImUser = { uri: 'sip:agent7@contoso.com', name: 'Agent Seven', ip: '10.10.0.7' };
const CUSTOMER: ImUser = { uri: 'sip:kunde@fabrikam.de', name: 'Jürgen Kunde', ip: '10.20.0.5' };
const OTHER: ImUser = { uri: 'sip:other@contoso.com', ip: '10.10.0.8' };

describe('tapline record + chats: IM sessions from a capture to searchable transcripts', function () {
  this.timeout(120_000);
  let dir: string;
  before(function () {
    if (!fs.existsSync(cli)) this.skip(); // built by `npm test`
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-chat-e2e-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('records licensed sessions only, lists them by participant and time, and shows them with their text', async () => {
    const one = oneToOne({
      callId: 'e2e-im-1',
      users: [CUSTOMER, AGENT],
      t0: T0,
      conversationId: 'E2E-CONV',
      messages: [
        { from: 0, text: 'Guten Tag, meine Bestellung ist nicht angekommen.' },
        { from: 1, text: 'Das tut mir leid! Ich prüfe das sofort.', form: 'html', gapSec: 5 },
        { from: 0, text: 'Danke — Bestellnummer 4711', form: 'rtf', gapSec: 3 },
      ],
    });
    const conf = mcuChat({
      organizer: 'sip:agent7@contoso.com',
      conferenceId: 'E2ECONF1',
      mcuIp: '10.10.0.100',
      t0: T0 + 3_600_000_000,
      users: [AGENT, OTHER, CUSTOMER],
      messages: [
        { from: 0, text: 'Welcome to the review' },
        { from: 2, text: 'Hallo zusammen' },
      ],
    });
    const unlicensed = oneToOne({ callId: 'e2e-im-private', users: [OTHER, { uri: 'sip:x@contoso.com', ip: '10.10.0.9' }], t0: T0 + 60_000_000, messages: [{ from: 0, text: 'lunch?' }] });
    const pcap = path.join(dir, 'im.pcap');
    await writeImPcap(pcap, [...one.wire, ...conf.wire, ...unlicensed.wire]);
    fs.writeFileSync(
      path.join(dir, 'tapline.config.json'),
      JSON.stringify({ users: [{ uri: 'sip:agent7@contoso.com', chat: true, name: 'Agent Seven' }, { uri: 'sip:other@contoso.com', chat: false }], plugins: [{ use: 'chat' }, { use: 'storage-local' }] }),
    );
    const out = path.join(dir, 'out');
    const rec = run(['record', '--pcap', pcap, '--out', out, '--no-progress', '--json'], dir);
    assert.equal(rec.code, 0, rec.err);
    const summary = JSON.parse(rec.out) as { calls: unknown[]; counters: Record<string, number> };
    assert.equal(summary.calls.length, 0, 'IM sessions are not calls');
    assert.equal(summary.counters['chat.transcripts'], 2);
    assert.equal(summary.counters['chat.sessions.unlicensed'], 1);

    const list = run(['chats', 'list', '--dir', out, '--json'], dir);
    assert.equal(list.code, 0, list.err);
    const entries = JSON.parse(list.out) as TranscriptEntry[];
    assert.deepEqual(entries.map((e) => [e.callId, e.kind, e.messages]), [
      ['mcu-leg-0-E2ECONF1', 'multiparty', 2],
      ['e2e-im-1', 'im', 3],
    ]);
    const byUser = JSON.parse(run(['chats', 'list', '--dir', out, '--json', '--user', 'KUNDE@fabrikam'], dir).out) as TranscriptEntry[];
    assert.equal(byUser.length, 2);
    const byTime = JSON.parse(run(['chats', 'list', '--dir', out, '--json', '--from', '2026-05-12T09:30Z'], dir).out) as TranscriptEntry[];
    assert.deepEqual(byTime.map((e) => e.kind), ['multiparty']);
    assert.match(run(['chats', 'list', '--dir', out, '--user', 'nobody'], dir).out, /no chats match/);
    assert.match(run(['chats', 'list', '--dir', out], dir).out, /2 chats/);

    const im = entries.find((e) => e.kind === 'im')!;
    const show = run(['chats', 'show', im.id, '--dir', out], dir);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /Kept for\s+sip:agent7@contoso\.com \(chat licence\)/);
    assert.match(show.out, /Jürgen Kunde <sip:kunde@fabrikam\.de>: Guten Tag, meine Bestellung ist nicht angekommen\./);
    assert.match(show.out, /Agent Seven <sip:agent7@contoso\.com>: Das tut mir leid! Ich prüfe das sofort\./);
    assert.match(show.out, /: Danke — Bestellnummer 4711/);
    const json = JSON.parse(run(['chats', 'show', im.id, '--dir', out, '--json'], dir).out) as { transcript: { messages: Array<{ text: string }> } };
    assert.deepEqual(json.transcript.messages.map((m) => m.text), one.expected.messages.map((m) => m.text));
    assert.ok(fs.existsSync(im.html!) && fs.existsSync(im.text!));

    const missing = run(['chats', 'show', 'no-such-id', '--dir', out], dir);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no chat with id "no-such-id"/);
    assert.deepEqual(JSON.parse(run(['recordings', 'list', '--dir', out, '--json'], dir).out), [], 'no empty call recordings');
  });

  it('chats --help', () => {
    for (const cmd of [['chats'], ['chats', 'list'], ['chats', 'show']]) {
      const r = run([...cmd, '--help'], os.tmpdir());
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Usage: tapline chats/);
    }
  });
});
