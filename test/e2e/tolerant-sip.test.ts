/**
 * One malformed header must not lose a call (the hardening issue's first defect): each broken INVITE below was
 * accepted by tshark and by real endpoints, and lost the whole call here (the RTP listed as unmatched). Parsed
 * leniently, the header the recorder does not need is left out or repaired, the call is recorded as the clean
 * call is (correlation ≥ 0.99 per channel, here identical), and its metadata says what was repaired.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bestLag, channelOf, PluginHarness, readWavFile, RtpStream, tone, type RecordingMetadata } from '../../core/testing/index';
import { parseSipMessage } from '../../core/sip/parser';
import { pcmu } from '../rtp-build';
import { request, response, sdp } from '../sip-text';

interface Defect {
  name: string;
  /** Rewrites the clean INVITE's text. */
  invite: (text: string) => string;
  /** A fragment of the repair note the call's warnings must hold. */
  repaired: RegExp;
  /** The INVITE goes over TCP (in 1,400-byte segments) instead of UDP. */
  tcp?: boolean;
  /** Strict parsing refuses it too (false: only the stream framer's limit would). */
  strictRefuses?: boolean;
}

const header = (name: string, value: string) => (t: string): string => t.replace(new RegExp(`^${name}: .*$`, 'm'), `${name}: ${value}`);

const DEFECTS: Defect[] = [
  { name: 'a Via with junk after the branch', invite: header('Via', 'SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bK1 junk'), repaired: /Via .*'junk' after it ignored/ },
  { name: 'an empty Via', invite: header('Via', ''), repaired: /empty Via value/ },
  { name: 'a garbage Via', invite: header('Via', '@@@ garbage !!'), repaired: /Via '@@@ garbage !!' unreadable/ },
  { name: "a Contact with an unclosed '<'", invite: header('Contact', '<sip:alice@10.0.0.1:5060'), repaired: /Contact '<sip:alice@10\.0\.0\.1:5060' unreadable/ },
  { name: 'a Contact with a garbage display name', invite: header('Contact', '"Al"ice <sip:alice@10.0.0.1:5060>'), repaired: /Contact .* unreadable/ },
  { name: 'Max-Forwards: abc', invite: header('Max-Forwards', 'abc'), repaired: /Max-Forwards 'abc' unreadable/ },
  { name: 'a Content-Length larger than the body', invite: (t) => t.replace(/^Content-Length: \d+$/m, 'Content-Length: 9999'), repaired: /Content-Length 9999 exceeds/ },
  { name: 'a negative Content-Length', invite: (t) => t.replace(/^Content-Length: \d+$/m, 'Content-Length: -12'), repaired: /Content-Length '-12' unreadable/ },
  { name: 'a non-numeric Content-Length', invite: (t) => t.replace(/^Content-Length: \d+$/m, 'Content-Length: lots'), repaired: /Content-Length 'lots' unreadable/ },
  { name: 'a control character in the From user part', invite: (t) => t.replace('sip:alice@example.com', 'sip:ali\x01ce@example.com'), repaired: /From control characters kept escaped .*ali%01ce/ },
  { name: 'a NUL in the From user part', invite: (t) => t.replace('sip:alice@example.com', 'sip:ali\x00ce@example.com'), repaired: /From control characters kept escaped .*ali%00ce/ },
  { name: 'a CR in the To user part', invite: (t) => t.replace('To: <sip:bob@example.com>', 'To: <sip:b\rob@example.com>'), repaired: /To control characters kept escaped .*b%0Dob/ },
  {
    name: 'a 1 MB header over TCP',
    invite: (t) => t.replace('Max-Forwards: 70', `Max-Forwards: 70\r\nX-Huge: ${'a'.repeat(1024 * 1024)}`),
    repaired: /a header line of 10\d{5} bytes left out/,
    tcp: true,
    strictRefuses: false,
  },
];

const T0 = Date.UTC(2026, 0, 1) * 1000;
const CALLER = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
const CALLEE = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };
const PACKETS = 100;

async function record(dir: string, invite: string, workers: number, tcp = false): Promise<{ meta: RecordingMetadata; wav: ReturnType<typeof readWavFile> }> {
  const h = await PluginHarness.create('codec-g711', { with: [{ plugin: 'storage-local', options: { dir } }], config: { media: { workers } } });
  const wire = Buffer.from(invite, 'latin1');
  if (!tcp) h.packet({ ...CALLER, ts: T0, payload: wire });
  else for (let off = 0; off < wire.length; off += 1400) h.packet({ ...CALLER, proto: 'tcp', ts: T0, payload: wire.subarray(off, off + 1400) });
  h.sip(response(200, 'OK', 'INVITE', { toTag: 'b1', body: sdp('10.0.0.2', 5000) }), { ...CALLEE, ts: T0 + 50_000 });
  h.sip(request('ACK', { toTag: 'b1' }), { ...CALLER, ts: T0 + 60_000 });
  const a = new RtpStream(0x1111);
  const b = new RtpStream(0x2222);
  const toneA = tone(440, 0, 160 * PACKETS);
  const toneB = tone(1000, 0, 160 * PACKETS);
  for (let i = 0; i < PACKETS; i++) {
    const ts = T0 + 100_000 + i * 20_000;
    h.packet({ src: '10.0.0.1', sport: 4000, dst: '10.0.0.2', dport: 5000, ts, payload: a.next(0, pcmu(toneA.subarray(i * 160, i * 160 + 160)), 160) });
    h.packet({ src: '10.0.0.2', sport: 5000, dst: '10.0.0.1', dport: 4000, ts: ts + 5000, payload: b.next(0, pcmu(toneB.subarray(i * 160, i * 160 + 160)), 160) });
  }
  h.sip(request('BYE', { toTag: 'b1', cseq: 2 }), { ...CALLER, ts: T0 + 100_000 + PACKETS * 20_000 + 50_000 });
  const rec = await h.stop();
  assert.equal(rec.recordings.length, 1, `one recording (SIP errors: ${rec.sipErrors.map((e) => e.err.message).join('; ')})`);
  const meta = rec.recordings[0]!;
  assert.ok(meta.audio !== undefined, 'the recording has audio');
  return { meta, wav: readWavFile(path.resolve(dir, meta.audio.file)) };
}

describe('hardening: one malformed header does not lose the call', function () {
  this.timeout(60_000);
  let dir: string;
  let clean: Awaited<ReturnType<typeof record>>;
  const cleanInvite = request('INVITE', { body: sdp('10.0.0.1', 4000) });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-tolerant-'));
    clean = await record(path.join(dir, 'clean'), cleanInvite, 1);
    assert.deepEqual(clean.meta.call.warnings, []);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  DEFECTS.forEach((d, i) => {
    it(`${d.name}: recorded as the clean call is, and the repair is in its metadata`, async () => {
      const broken = d.invite(cleanInvite);
      assert.notEqual(broken, cleanInvite, 'the defect is in the INVITE');
      // Half the cases run in a call worker thread, half in the main thread: the repair notes travel either way.
      const r = await record(path.join(dir, `d${i}`), broken, i % 2 === 0 ? 2 : 1, d.tcp === true);
      assert.equal(r.meta.call.disposition, 'answered');
      for (const ch of [0, 1]) {
        const want = channelOf(clean.wav.samples, 2, ch);
        const got = channelOf(r.wav.samples, 2, ch);
        const { corr } = bestLag(want, got, 160);
        assert.ok(corr >= 0.99, `channel ${ch}: r = ${corr.toFixed(4)} with the clean call's`);
      }
      assert.equal(r.meta.caller.packets, PACKETS);
      assert.equal(r.meta.callee.packets, PACKETS);
      const notes = r.meta.call.warnings.join('\n');
      assert.match(notes, d.repaired, `warnings: ${notes}`);
      assert.match(notes, /^INVITE at 2026-01-01T00:00:00\.000Z: repaired: /m);
    });
  });

  it('strict parsing (conformance, RFC 4475) still refuses each of them', () => {
    for (const d of DEFECTS.filter((x) => x.strictRefuses !== false)) assert.throws(() => parseSipMessage(Buffer.from(d.invite(cleanInvite), 'latin1')), /./, d.name);
  });
});
