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
import { readWav } from '../../plugins/storage-local/wav';

const haveSox = spawnSync('sox', ['--version'], { stdio: 'ignore' }).status === 0;

/** sox decodes G.711 (-t ul / -t al) to 16-bit linear: the independent decoder. */
function soxDecode(payload: Buffer, pt: number): Int16Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-sox-'));
  const inp = path.join(dir, 'in.raw');
  fs.writeFileSync(inp, payload);
  const out = execFileSync('sox', ['-t', pt === 0 ? 'ul' : 'al', '-r', '8000', '-c', '1', inp, '-t', 'raw', '-e', 'signed', '-b', '16', '-L', '-'], { maxBuffer: 1 << 28 });
  const pcm = new Int16Array(out.buffer, out.byteOffset, out.length / 2);
  // Tapline decodes the µ-law negative zero to -1, sox to 0 (core/media/g711.ts says why): the one known difference.
  if (pt === 0) for (let i = 0; i < payload.length; i++) if (payload[i] === 0x7f) pcm[i] = -1;
  fs.rmSync(dir, { recursive: true, force: true });
  return pcm;
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
    if (!haveTshark() || !haveSox) {
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
        let rtpStart = Infinity;
        let rtpEnd = -Infinity;
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
          // Each packet must appear sample-exact where its RTP timestamp puts it; the stream may be re-anchored
          // (a constant shift) only across a pause in capture time, never inside continuous audio.
          let off = 0;
          let shift = 0;
          let missing = 0;
          let prevTime = first.time;
          let prevEnd = -Infinity;
          const shifts: string[] = [];
          for (const p of ordered) {
            const seg = decoded.subarray(off, off + p.payload.length);
            off += p.payload.length;
            compared += p.payload.length;
            const at = (pos: number): boolean => {
              if (pos < 0 || pos + seg.length > frames) return false;
              for (let i = 0; i < seg.length; i++) if (chan(pos + i) !== seg[i]) return false;
              return true;
            };
            let pos = base + (p.timestamp - first.timestamp) + shift;
            if (!at(pos) && seg.some((v) => v !== seg[0])) {
              let found = -1;
              for (let d = 1; d <= 8000 && found < 0; d++) for (const c of [pos - d, pos + d]) if (found < 0 && at(c)) found = c;
              if (found < 0) missing++;
              else {
                const pause = p.time - prevTime;
                assert.ok(pause >= 0.1, `${rel} ssrc ${ssrc} seq ${p.seq}: re-anchored by ${found - pos} samples without a pause (${(pause * 1000).toFixed(1)} ms)`);
                shifts.push(`${found - pos}@seq${p.seq}`);
                shift += found - pos;
                pos = found;
              }
            }
            assert.ok(pos >= prevEnd, `${rel} ssrc ${ssrc} seq ${p.seq}: overlaps the previous packet`);
            prevEnd = pos + seg.length;
            prevTime = p.time;
          }
          assert.equal(missing, 0, `${rel} ssrc ${ssrc}: ${missing} packets are not in the recording`);
          if (shifts.length > 0) console.log(`      (${rel} ssrc ${ssrc} re-anchored at pauses: ${shifts.join(', ')})`);
          spanStart = Math.min(spanStart, first.time);
          const last = ordered[ordered.length - 1]!;
          spanEnd = Math.max(spanEnd, last.time + last.payload.length / 8000);
          const leastDelayedStart = Math.min(...ordered.map((p) => p.time - (p.timestamp - first.timestamp) / 8000));
          rtpStart = Math.min(rtpStart, leastDelayedStart);
          rtpEnd = Math.max(rtpEnd, leastDelayedStart + (last.timestamp - first.timestamp + last.payload.length) / 8000);
        }
        // Two honest measures of a call's RTP span: by capture time (first arrival to last arrival + its audio),
        // and by RTP timestamps (each stream's content from its least-delayed start). They differ when a sender's
        // clock runs apart from the capture clock; the recording must be within 20 ms of the range they span.
        const capSpan = spanEnd - spanStart;
        const rtpSpan = rtpEnd - rtpStart;
        const lo = Math.min(capSpan, rtpSpan) - 0.02;
        const hi = Math.max(capSpan, rtpSpan) + 0.02;
        const d = meta.audio!.durationSec;
        assert.ok(d >= lo && d <= hi, `${meta.call.callId}: WAV ${d}s vs RTP span ${capSpan.toFixed(3)}s (capture) / ${rtpSpan.toFixed(3)}s (timestamps)`);
      }
      assert.ok(compared > 0);
    });
  }
});
