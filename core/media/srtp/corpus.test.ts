/**
 * Real SRTP captures with known SDES keys (shared/corpus/SRTP_KEYS.tsv): every packet of each keyed stream must
 * authenticate, and the plaintext must equal libsrtp's (python3-pylibsrtp) for the same packets.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { readCapture } from '../../net/capture-reader';
import { isSkipReason, PacketDecoder } from '../../net/decode';
import { corpusPath, describeCorpus } from '../../../test/corpus';
import { SRTP_BACKENDS } from '../../../test/srtp-backends';
import { haveLibsrtp, libsrtp, LIBSRTP_MISSING } from '../../../test/srtp-reference';
import { ALAW_TABLE } from '../g711';
import { isRtcp, parseRtp } from '../rtp';
import { parseInlineKey, SrtpContext, type SrtpSuite } from './index';

interface KeyRow {
  file: string;
  ssrc: number;
  suite: SrtpSuite;
  inline: string;
}

function keyRows(): KeyRow[] {
  return fs
    .readFileSync(corpusPath('SRTP_KEYS.tsv'), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [file, ssrc, suite, inline] = l.split('\t');
      return { file: file ?? '', ssrc: Number(ssrc), suite: (suite ?? '') as SrtpSuite, inline: inline ?? '' };
    });
}

/** The DATA attribute (0x0013) of a TURN Send (0x0016) or Data (0x0017) indication (RFC 5766 §10), if any. */
function turnIndicationData(d: Buffer): Buffer | undefined {
  if (d.length < 20 || d.readUInt32BE(4) !== 0x2112a442) return undefined;
  const type = d.readUInt16BE(0);
  if (type !== 0x0016 && type !== 0x0017) return undefined;
  const end = Math.min(d.length, 20 + d.readUInt16BE(2));
  for (let o = 20; o + 4 <= end; ) {
    const t = d.readUInt16BE(o);
    const n = d.readUInt16BE(o + 2);
    if (o + 4 + n > end) return undefined;
    if (t === 0x0013) return d.subarray(o + 4, o + 4 + n);
    o += 4 + ((n + 3) & ~3);
  }
  return undefined;
}

/**
 * UDP payloads of a capture, with TURN framing removed: ChannelData (RFC 5766 §11.4: first byte 0x40-0x4F per
 * the RFC 7983 demultiplexing ranges, 2-byte channel number, 2-byte length, then the relayed UDP payload) and
 * the Send/Data indications a client uses before its channel is bound.
 */
async function udpPayloads(file: string): Promise<Buffer[]> {
  const dec = new PacketDecoder();
  const out: Buffer[] = [];
  await readCapture(corpusPath(file), (f) => {
    const p = dec.decode(f);
    if (isSkipReason(p) || p.proto !== 'udp') return;
    let d = p.payload;
    const b0 = d[0] as number;
    if (d.length >= 4 && b0 >= 0x40 && b0 <= 0x4f) {
      const n = d.readUInt16BE(2);
      if (4 + n > d.length) return;
      d = d.subarray(4, 4 + n);
    } else if (b0 < 4) {
      const data = turnIndicationData(d);
      if (data === undefined) return;
      d = data;
    }
    out.push(Buffer.from(d));
  });
  return out;
}

/** Packet counts MANIFEST.tsv records as verified for each keyed SSRC ("VERIFIED auth OK n/n"). */
const EXPECTED_PACKETS = new Map<number, number>([
  [0xd092d296, 259],
  [0x522b93ab, 227],
  [0x2d830e96, 501],
  [0x2c2e32d2, 460],
  [0xdeadbeef, 11888],
]);

const isRtpOf = (d: Buffer, ssrc: number): boolean => d.length >= 12 && (d[0] as number) >> 6 === 2 && !isRtcp(d) && d.readUInt32BE(8) === ssrc;
const isRtcpOf = (d: Buffer, ssrc: number): boolean => isRtcp(d) && d.length >= 8 && d.readUInt32BE(4) === ssrc;

/** SHA-256 over the payloads (after the RTP header) of plain RTP packets, in order. */
function payloadHash(packets: Buffer[]): string {
  const h = createHash('sha256');
  for (const p of packets) {
    const r = parseRtp(p);
    assert.ok(r, 'decrypted packet parses as RTP');
    h.update(p.subarray(r.headerLength));
  }
  return h.digest('hex');
}

describeCorpus('media/srtp: captures with known keys (SRTP_KEYS.tsv)', () => {
  const rows = keyRows();
  const payloads = new Map<string, Buffer[]>();
  const load = async (file: string): Promise<Buffer[]> => {
    let p = payloads.get(file);
    if (p === undefined) payloads.set(file, (p = await udpPayloads(file)));
    return p;
  };

  it('lists the SRTP captures of MANIFEST.tsv', () => {
    assert.ok(rows.length >= 5);
    for (const r of rows) assert.ok(fs.existsSync(corpusPath(r.file)), r.file);
  });

  for (const row of keyRows()) {
    const ssrcHex = `0x${row.ssrc.toString(16).toUpperCase()}`;
    for (const backend of SRTP_BACKENDS) {
      it(`${row.file} SSRC ${ssrcHex} (${backend.name} path): every SRTP packet authenticates and matches libsrtp's plaintext`, async function () {
        const all = await load(row.file);
        const srtp = all.filter((d) => isRtpOf(d, row.ssrc));
        assert.ok(srtp.length > 100, `${srtp.length} packets of ${ssrcHex}`);
        const expected = EXPECTED_PACKETS.get(row.ssrc);
        if (expected !== undefined) assert.equal(srtp.length, expected, 'packets found, TURN framing removed');
        const { masterKey, masterSalt } = parseInlineKey(row.inline);
        const ctx = new SrtpContext({ suite: row.suite, masterKey, masterSalt, native: backend.native });
        const plain: Buffer[] = [];
        for (const p of srtp) {
          const r = ctx.unprotect(p);
          assert.ok(r.ok, `packet seq ${p.readUInt16BE(2)}: ${r.ok ? '' : r.reason}`);
          plain.push(r.rtp);
        }
        assert.equal(ctx.stats.rtp.ok, srtp.length);
        // SRTCP of the same sender (rtcp-mux), when the capture has any.
        const srtcp = all.filter((d) => isRtcpOf(d, row.ssrc));
        for (const p of srtcp) {
          const r = ctx.unprotectRtcp(p);
          assert.ok(r.ok, `SRTCP: ${r.ok ? '' : r.reason}`);
          assert.ok(isRtcp(r.rtcp));
        }
        console.log(`      ${row.file} ${ssrcHex}: ${srtp.length}/${srtp.length} SRTP, ${srtcp.length}/${srtcp.length} SRTCP authenticated (ROC ${ctx.streamInfo(row.ssrc)?.roc})`);

        if (!haveLibsrtp) {
          console.log(`      (libsrtp comparison skipped: ${LIBSRTP_MISSING})`);
          return;
        }
        const ref = libsrtp({ op: 'unprotect', suite: row.suite, masterKey, masterSalt, window: 1024, packets: srtp });
        const refPlain = ref.packets.filter((p): p is Buffer => p !== null);
        assert.equal(refPlain.length, srtp.length, 'libsrtp accepts every packet too');
        assert.equal(payloadHash(plain), payloadHash(refPlain));
        assert.deepEqual(plain, refPlain, 'whole packets identical to libsrtp');
      });
    }
  }

  it('marseillaise: the decrypted PCMA is music (loud, smooth), the ciphertext is noise', async () => {
    const row = rows.find((r) => r.file.includes('marseillaise'));
    assert.ok(row);
    const srtp = (await load(row.file)).filter((d) => isRtpOf(d, row.ssrc));
    const { masterKey, masterSalt } = parseInlineKey(row.inline);
    const ctx = new SrtpContext({ suite: row.suite, masterKey, masterSalt });
    const plainBytes: Buffer[] = [];
    const cipherBytes: Buffer[] = [];
    for (const p of srtp) {
      const r = ctx.unprotect(p);
      assert.ok(r.ok);
      const rtp = parseRtp(r.rtp);
      assert.ok(rtp);
      assert.equal(rtp.payloadType, 8, 'PCMA');
      plainBytes.push(rtp.payload);
      cipherBytes.push(p.subarray(rtp.headerLength, p.length - 10));
    }
    const music = audioStats(Buffer.concat(plainBytes));
    const noise = audioStats(Buffer.concat(cipherBytes));
    console.log(`      decrypted: ${(music.seconds / 60).toFixed(1)} min, RMS ${music.rms.toFixed(0)}, lag-1 correlation ${music.lag1.toFixed(3)}, silent 20 ms frames ${(music.silentShare * 100).toFixed(1)} %; ciphertext: correlation ${noise.lag1.toFixed(3)}`);
    assert.ok(music.seconds > 200, 'about 4 minutes');
    assert.ok(music.rms > 500, 'not silent');
    assert.ok(music.silentShare < 0.2, 'mostly not silent');
    assert.ok(music.lag1 > 0.5, 'smooth like sound, not like noise');
    assert.ok(Math.abs(noise.lag1) < 0.05, 'ciphertext decodes to white noise');
  });
});

/** Level and smoothness of A-law audio: RMS, lag-1 autocorrelation, share of near-silent 20 ms frames. */
function audioStats(alaw: Buffer): { seconds: number; rms: number; lag1: number; silentShare: number } {
  const n = alaw.length;
  const x = new Float64Array(n);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i] = ALAW_TABLE[alaw[i] as number] as number;
  mean /= n;
  let e = 0;
  let c = 0;
  let silent = 0;
  let frameE = 0;
  for (let i = 0; i < n; i++) {
    const v = (x[i] as number) - mean;
    e += v * v;
    frameE += v * v;
    if (i > 0) c += v * ((x[i - 1] as number) - mean);
    if (i % 160 === 159) {
      if (Math.sqrt(frameE / 160) < 50) silent++;
      frameE = 0;
    }
  }
  return { seconds: n / 8000, rms: Math.sqrt(e / n), lag1: c / e, silentShare: silent / Math.floor(n / 160) };
}
