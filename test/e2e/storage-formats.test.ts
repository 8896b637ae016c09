/**
 * Storage formats on real captures (../shared/corpus): G.711 kept as received is byte-exact to the RTP payloads
 * tshark extracts (µ-law and A-law), each packet where its RTP timestamp puts it; the same calls as Ogg Opus decode
 * with ffmpeg (an independent decoder) to what the PCM WAV holds, r ≥ 0.95 per channel, and last as long.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { corpusPath, describeCorpus } from '../corpus';
import { haveTshark, tsharkRtpPackets, type TsharkRtp } from '../tshark';
import { PluginHarness } from '../../core/testing/index';
import storageLocal from '../../plugins/storage-local/index';
import g711 from '../../plugins/codec-g711/index';
import telephoneEvent from '../../plugins/codec-telephone-event/index';
import cn from '../../plugins/codec-cn/index';
import g722 from '../../plugins/codec-g722/index';
import { readWav, readWavBytes } from '../../plugins/storage-local/wav';
import { repairOggOpus } from '../../plugins/storage-local/ogg-opus';
import { encodeG711Exact } from '../../core/media/g711';
import { align, channel } from '../audio-compare';
import type { RecordingMetadata } from '../../core/media/metadata';

const haveFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;

async function record(file: string, audio: Record<string, unknown>, dir: string, opus = false): Promise<RecordingMetadata[]> {
  const h = await PluginHarness.create(storageLocal, {
    options: { dir, audio },
    with: [{ plugin: g711 }, { plugin: telephoneEvent }, { plugin: cn }, { plugin: g722 }, ...(opus ? [{ plugin: '@tapline/codec-opus' }] : [])],
  });
  await h.pcap(file);
  await h.stop();
  // What storage wrote (metadata.json): it names the format the audio was actually kept in.
  return h.recorded.recordings.filter((r) => r.audio !== undefined).map((r) => JSON.parse(fs.readFileSync(path.join(path.dirname(r.audio!.file), 'metadata.json'), 'utf8')) as RecordingMetadata);
}

/** One channel's bytes of an interleaved 8-bit stereo data chunk. */
function channelBytes(data: Buffer, ch: number): Buffer {
  const out = Buffer.alloc(data.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = data[i * 2 + ch]!;
  return out;
}

/**
 * Every packet of each of the call's streams found byte for byte in its channel, where its RTP timestamp puts it
 * relative to the stream's first packet (a constant re-anchoring allowed only across a pause, as the timeline
 * does after a long gap). Returns the payload bytes compared.
 */
function assertPayloadsExact(rel: string, meta: RecordingMetadata, data: Buffer, rtp: TsharkRtp[]): number {
  let compared = 0;
  for (const [ch, ssrcs] of [meta.caller.ssrcs, meta.callee.ssrcs].entries()) {
    const bytes = channelBytes(data, ch);
    for (const ssrc of ssrcs) {
      const bySeq = new Map<number, TsharkRtp>();
      for (const p of rtp) if (p.ssrc === ssrc && !bySeq.has(p.seq)) bySeq.set(p.seq, p);
      const ordered = [...bySeq.values()].sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq);
      if (ordered.length === 0) continue;
      let anchor = -1;
      let anchorTs = 0;
      let reanchored = 0;
      for (const p of ordered) {
        const varied = p.payload.some((b) => b !== p.payload[0]);
        const want = anchor < 0 ? -1 : anchor + (p.timestamp - anchorTs);
        if (want >= 0 && bytes.subarray(want, want + p.payload.length).equals(p.payload)) {
          compared += p.payload.length;
          continue;
        }
        // Not where the timestamp says (or no anchor yet): a packet with varied bytes is unique enough to look for.
        assert.ok(varied || anchor < 0, `${rel} ssrc ${ssrc} seq ${p.seq}: a silent packet is not at its place ${want}`);
        if (!varied) continue;
        const at = bytes.indexOf(p.payload);
        assert.ok(at >= 0, `${rel} ssrc ${ssrc} seq ${p.seq}: its ${p.payload.length} payload bytes are nowhere in channel ${ch}`);
        if (anchor >= 0) reanchored++;
        anchor = at;
        anchorTs = p.timestamp;
        compared += p.payload.length;
      }
      assert.ok(reanchored <= 2, `${rel} ssrc ${ssrc}: re-anchored ${reanchored} times`);
    }
  }
  return compared;
}

describeCorpus('storage formats on real captures', function () {
  this.timeout(180_000);
  let tmp: string;
  before(function () {
    if (!haveTshark()) {
      console.warn('  [tapline] tshark missing: storage format comparisons skipped (npm run test:all installs it)');
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-formats-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const rel of ['pcap/ww_MagicJack-_short_call.pcap', 'pcap/ww_sip-rtp-g711.pcap', 'pcap/ww_SIP_DTMF2.cap']) {
    it(`${rel}: G.711 kept as received (µ-law or A-law WAV): every payload byte as received, the PCM recording companded, half its size`, async () => {
      const file = corpusPath(rel);
      const dir = path.join(tmp, `g711-${path.basename(rel)}`);
      const kept = await record(file, { format: 'g711' }, path.join(dir, 'g711'));
      const pcm = await record(file, { format: 'wav' }, path.join(dir, 'pcm'));
      const rtp = tsharkRtpPackets(file).filter((p) => p.pt === 0 || p.pt === 8);
      assert.ok(kept.length > 0 && kept.length === pcm.length, `${kept.length} G.711 and ${pcm.length} PCM recordings`);
      const seen: string[] = [];
      for (const meta of kept) {
        const mine = rtp.filter((p) => meta.caller.ssrcs.includes(p.ssrc) || meta.callee.ssrcs.includes(p.ssrc));
        const law = mine[0]?.pt === 8 ? 'alaw' : 'ulaw';
        assert.equal(meta.audio!.format, `wav/${law}`);
        const w = readWavBytes(meta.audio!.file);
        assert.equal(w.coding, law);
        assert.equal(w.sampleRate, 8000);
        const compared = assertPayloadsExact(rel, meta, w.data, rtp);
        const negZero = law === 'ulaw' ? mine.reduce((n, p) => n + p.payload.filter((b) => b === 0x7f).length, 0) : 0;
        // The PCM recording of the same call, companded exactly, is the G.711 file: same length, same timeline;
        // silence (gaps, before the first packet) is the law's own zero code.
        const twin = pcm.find((m) => m.call.callId === meta.call.callId)!;
        const p16 = readWav(twin.audio!.file);
        assert.ok(encodeG711Exact(law, p16.samples).equals(w.data), 'the G.711 file is the PCM recording companded');
        assert.equal(fs.statSync(twin.audio!.file).size - 44, (fs.statSync(meta.audio!.file).size - 58) * 2, 'PCM data is twice the G.711 data');
        // sox reads the header as what it is.
        const enc = spawnSync('soxi', ['-e', meta.audio!.file], { encoding: 'utf8' });
        if (enc.status === 0) assert.match(enc.stdout, law === 'ulaw' ? /u-law/i : /a-law/i);
        seen.push(`${law}: ${compared} payload bytes equal${negZero > 0 ? ` (${negZero} of them the negative zero 0x7F)` : ''}`);
        assert.ok(compared > 8000, `${compared} bytes compared`);
      }
      console.log(`      ${seen.join('; ')}`);
    });
  }

  it('a call that used G.722 stays 16-bit PCM at 16 kHz with format g711', async function () {
    const rel = 'pcap/ww_sip-rtp-g722.pcap';
    const file = corpusPath(rel);
    if (!fs.existsSync(file)) this.skip();
    const recs = await record(file, { format: 'g711' }, path.join(tmp, 'g722'));
    assert.ok(recs.length > 0);
    for (const m of recs) {
      assert.equal(m.audio!.format, 'wav');
      assert.equal(readWav(m.audio!.file).coding, 'pcm16');
    }
  });

  it('Ogg Opus: ffmpeg decodes each channel to what the PCM WAV holds (r ≥ 0.95), as long (±20 ms), and a torn last page is repaired', async function () {
    if (!haveFfmpeg) this.skip();
    const rel = 'pcap/ww_MagicJack-_short_call.pcap';
    const file = corpusPath(rel);
    const opus = await record(file, { format: 'opus' }, path.join(tmp, 'opus'), true);
    const pcm = await record(file, { format: 'wav' }, path.join(tmp, 'opus-pcm'));
    assert.ok(opus.length > 0);
    for (const meta of opus) {
      assert.equal(meta.audio!.format, 'ogg/opus');
      assert.ok(meta.audio!.file.endsWith('audio.opus'));
      const ref = readWav(pcm.find((m) => m.call.callId === meta.call.callId)!.audio!.file);
      const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', meta.audio!.file, '-f', 's16le', '-ar', String(ref.sampleRate), '-ac', '2', '-'], { maxBuffer: 1 << 28 });
      const dec = new Int16Array(raw.buffer, raw.byteOffset, raw.length / 2);
      const secRef = ref.samples.length / 2 / ref.sampleRate;
      const secDec = dec.length / 2 / ref.sampleRate;
      assert.ok(Math.abs(secRef - secDec) <= 0.02, `Opus ${secDec.toFixed(3)} s, PCM ${secRef.toFixed(3)} s`);
      const rs: string[] = [];
      for (const ch of [0, 1]) {
        const a = align(channel(dec, 2, ch), channel(ref.samples, 2, ch), ref.sampleRate, { minLag: -80, maxLag: 80 });
        rs.push(`${ch === 0 ? 'caller' : 'callee'} r=${a.r.toFixed(4)} at lag ${a.lag}`);
        assert.ok(a.r >= 0.95, `channel ${ch}: r=${a.r} lag ${a.lag}`);
        assert.ok(Math.abs(a.lag) <= 2, `channel ${ch}: lag ${a.lag}`);
      }
      const size = fs.statSync(meta.audio!.file).size;
      const wavSize = fs.statSync(pcm.find((m) => m.call.callId === meta.call.callId)!.audio!.file).size;
      console.log(`      ${rel}: ${rs.join(', ')}; ${size} bytes vs ${wavSize} as PCM WAV (${((size / wavSize) * 100).toFixed(1)}%)`);
      // A recorder killed mid-write leaves a torn page: recovery cuts it and ffmpeg still reads the rest.
      const torn = path.join(tmp, 'torn.opus');
      fs.writeFileSync(torn, fs.readFileSync(meta.audio!.file).subarray(0, Math.floor(size * 0.6)));
      const r = repairOggOpus(torn);
      assert.equal(r.repaired, true);
      const again = execFileSync('ffmpeg', ['-v', 'error', '-i', torn, '-f', 's16le', '-'], { maxBuffer: 1 << 28 });
      assert.ok(Math.abs(again.length / 2 / r.channels / 48000 - r.frames / r.sampleRate) < 1.1, `repaired: ${r.frames} frames, ffmpeg ${again.length} bytes`);
    }
  });
});
