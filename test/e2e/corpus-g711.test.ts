/**
 * Every G.711 call in ../shared/corpus records to a WAV whose samples equal an independent decode of the same RTP
 * payloads (tshark extracts them, sox decodes them), per direction, and whose duration is within 20 ms of the
 * RTP span.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { corpusPath, describeCorpus } from '../corpus';
import { haveTshark, tsharkRtpPackets, type TsharkRtp } from '../tshark';
import { recordCapture } from '../record-capture';
import { readWav } from '../../core/media/wav';

const haveSox = spawnSync('sox', ['--version'], { stdio: 'ignore' }).status === 0;

/** sox decodes G.711 (-t ul / -t al) to 16-bit linear: the independent decoder. */
function soxDecode(payload: Buffer, pt: number): Int16Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-sox-'));
  const inp = path.join(dir, 'in.raw');
  fs.writeFileSync(inp, payload);
  const out = execFileSync('sox', ['-t', pt === 0 ? 'ul' : 'al', '-r', '8000', '-c', '1', inp, '-t', 'raw', '-e', 'signed', '-b', '16', '-L', '-'], { maxBuffer: 1 << 28 });
  return new Int16Array(out.buffer, out.byteOffset, out.length / 2);
}

const FILES = [
  'pcap/ww_MagicJack-_short_call.pcap',
  'pcap/ww_nb6-telephone.pcap',
  'pcap/ww_SIP_CALL_RTP_G711.pcap',
  'pcap/ww_sip-rtp-g711.pcap',
  'pcap/heplify_sip_ipv4_tcp.pcap',
  'pcap/ww_SIP_DTMF2.cap',
];

describeCorpus('corpus G.711 calls: recordings equal an independent decode', function () {
  this.timeout(120_000);
  before(function () {
    if (!haveTshark || !haveSox) {
      console.warn('  [tapline] tshark or sox missing: G.711 comparison skipped (npm run test:all installs them)');
      this.skip();
    }
  });

  for (const rel of FILES) {
    it(`${rel}: each direction sample-exact, duration within 20 ms of the RTP span`, async () => {
      const file = corpusPath(rel);
      const rec = await recordCapture(file);
      const withAudio = rec.recordings.filter((r) => r.audio !== undefined);
      assert.ok(withAudio.length > 0, 'at least one recording has audio');
      const rtp = tsharkRtpPackets(file).filter((p) => p.pt === 0 || p.pt === 8);
      let compared = 0;
      for (const meta of withAudio) {
        const wav = readWav(meta.audio!.file);
        assert.equal(wav.sampleRate, 8000);
        assert.equal(wav.channels, 2);
        const frames = wav.samples.length / 2;
        const audioStart = Date.parse(meta.audio!.start) / 1000;
        const streams = new Map<number, TsharkRtp[]>();
        for (const p of rtp) {
          const ch = meta.caller.ssrcs.includes(p.ssrc) ? 0 : meta.callee.ssrcs.includes(p.ssrc) ? 1 : -1;
          if (ch < 0) continue;
          const list = streams.get(p.ssrc) ?? [];
          list.push(p);
          streams.set(p.ssrc, list);
        }
        assert.ok(streams.size > 0, `${meta.call.callId}: tshark sees this call's RTP`);
        let spanStart = Infinity;
        let spanEnd = -Infinity;
        for (const [ssrc, pkts] of streams) {
          const ch = meta.caller.ssrcs.includes(ssrc) ? 0 : 1;
          // Distinct packets in sequence order, as a receiver's jitter buffer would play them.
          const bySeq = new Map<number, TsharkRtp>();
          for (const p of pkts) if (!bySeq.has(p.seq)) bySeq.set(p.seq, p);
          const ordered = [...bySeq.values()].sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq);
          const decoded = soxDecode(Buffer.concat(ordered.map((p) => p.payload)), ordered[0]!.pt);
          const chan = (i: number): number => wav.samples[i * 2 + ch]!;
          // Find where a packet with varying samples landed (silence matches anywhere), near its capture time;
          // then every packet must be exactly where its RTP timestamp puts it.
          const first = ordered[0]!;
          let refIdx = 0;
          let refOff = 0;
          for (let k = 0, o = 0; k < ordered.length; o += ordered[k]!.payload.length, k++) {
            const seg = decoded.subarray(o, o + ordered[k]!.payload.length);
            if (seg.some((v) => v !== seg[0])) {
              refIdx = k;
              refOff = o;
              break;
            }
          }
          const ref = ordered[refIdx]!;
          const refLen = ref.payload.length;
          const est = Math.round((ref.time - audioStart) * 8000);
          let base = -1;
          for (let d = 0; d <= 800 && base < 0; d++) {
            for (const cand of [est - d, est + d]) {
              if (cand < 0 || cand + refLen > frames) continue;
              let ok = true;
              for (let i = 0; i < refLen && ok; i++) ok = chan(cand + i) === decoded[refOff + i];
              if (ok) {
                base = cand - (ref.timestamp - first.timestamp);
                break;
              }
            }
          }
          assert.ok(base >= 0, `${rel} ssrc ${ssrc}: first packet's audio not found near ${est}`);
          let off = 0;
          let mismatched = 0;
          for (const p of ordered) {
            const pos = base + (p.timestamp - first.timestamp);
            for (let i = 0; i < p.payload.length; i++) if (chan(pos + i) !== decoded[off + i]) mismatched++;
            off += p.payload.length;
            compared += p.payload.length;
          }
          assert.equal(mismatched, 0, `${rel} ssrc ${ssrc}: ${mismatched} samples differ from sox's decode`);
          spanStart = Math.min(spanStart, first.time);
          const last = ordered[ordered.length - 1]!;
          spanEnd = Math.max(spanEnd, last.time + last.payload.length / 8000);
        }
        const span = spanEnd - spanStart;
        assert.ok(Math.abs(meta.audio!.durationSec - span) <= 0.02, `${meta.call.callId}: WAV ${meta.audio!.durationSec}s vs RTP span ${span.toFixed(3)}s`);
      }
      assert.ok(compared > 0);
    });
  }
});
