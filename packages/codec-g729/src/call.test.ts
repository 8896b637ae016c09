/**
 * Generated G.729 calls through the kernel (this plugin + storage-local, as a config would load them): espeak-ng
 * speech encoded by bcg729 with VAD/DTX (Annex B), 20 ms packets, 5% of them dropped (seeded); a payload of a bad
 * size; and the addon unavailable (the call flagged, its packets kept raw).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bestLag, channelOf, pcmCorrelation, PluginHarness, readWavFile, type RecordingMetadata } from 'tapline/testing';
import plugin, { createG729Plugin, G729_NATIVE_ENV, G729_NOT_DECODED } from './index';
import { g729Native, type G729Native } from './native';
import { encodeG729, ESPEAK, G729Call, packetize, readPcapUdp, rms, seeded, SOX, speech8k, type G729Packet } from './test-helpers';

const loaded = g729Native();
const haveTools = fs.existsSync(ESPEAK) && fs.existsSync(SOX);
const T0 = Date.UTC(2026, 2, 3, 9, 0, 0) * 1000;
/** Capture time of the first RTP packet; each packet is sent at its RTP time (8 samples per ms). */
const RTP_START = T0 + 100_000;
const SEQ0 = 31000;
const TS0 = 0x7fff_ff00; // near a 32-bit wrap: timestamps wrap during the call
const SSRC = 0x0729_0729;
const PLUGIN = '@tapline/codec-g729';
const TEXT =
  'Hello, this is Tapline. We record calls for quality and compliance. ' +
  'The quick brown fox jumps over the lazy dog. Please hold the line while I check your account. ' +
  'Thank you for waiting, your order has been shipped today.';

interface Recorded {
  meta: RecordingMetadata;
  /** The caller's channel of the WAV (the sender's audio). */
  audio: Int16Array;
  counters: Record<string, number>;
  dir: string;
}

/** Feeds a G.729 call (the caller sends `packets`; `send` filters; `payloadOf` may replace a payload) and records it. */
async function recordCall(
  manifest: unknown,
  packets: readonly G729Packet[],
  opts: {
    send?: (p: G729Packet) => boolean;
    payloadOf?: (p: G729Packet) => Buffer;
    options?: Record<string, unknown>;
    config?: Record<string, unknown>;
    callId: string;
  },
): Promise<Recorded> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g729-call-'));
  const h = await PluginHarness.create(manifest, { options: opts.options ?? {}, config: opts.config ?? {}, with: [{ plugin: 'storage-local', options: { dir } }] });
  const call = new G729Call(h, opts.callId);
  call.start(T0);
  let end = RTP_START;
  for (const p of packets) {
    if (opts.send !== undefined && !opts.send(p)) continue;
    const t = RTP_START + p.ts * 125;
    end = t;
    call.rtp('caller', t, { seq: (SEQ0 + p.index) & 0xffff, ts: (TS0 + p.ts) >>> 0, ssrc: SSRC, payload: opts.payloadOf?.(p) ?? p.payload, marker: p.index === 0 });
  }
  call.end(end + 200_000);
  const { recordings } = await h.stop();
  assert.equal(recordings.length, 1, 'one recording');
  const meta = recordings[0] as RecordingMetadata;
  let audio: Int16Array = new Int16Array(0);
  if (meta.audio !== undefined) {
    const wav = readWavFile(path.resolve(dir, meta.audio.file));
    assert.equal(wav.sampleRate, 8000);
    audio = channelOf(wav.samples, wav.channels, 0);
  }
  return { meta, audio, counters: h.counters(), dir };
}

/** Decodes the call's frames straight through one decoder, no loss: what a perfect recorder would hear. */
function cleanDecode(native: G729Native, frames: readonly Buffer[]): Int16Array {
  const d = new native.Decoder();
  const out = new Int16Array(frames.length * 80);
  frames.forEach((f, i) => {
    // Untransmitted frames (DTX) stay zeros: the recording leaves DTX as silence too.
    if (f.length === 10) d.decode(f, out, i * 80);
    else if (f.length === 2) d.decodeSid(f, out, i * 80);
  });
  d.close();
  return out;
}

(loaded.ok && haveTools ? describe : describe.skip)(
  `G.729 calls through the recorder${!loaded.ok ? ` (skipped: ${loaded.reason})` : !haveTools ? ' (skipped: needs espeak-ng and sox)' : ''}`,
  () => {
    const native = (loaded as Extract<typeof loaded, { ok: true }>).native;
    let work = '';
    let src: Int16Array = new Int16Array(0);
    let frames: Buffer[] = [];
    let packets: G729Packet[] = [];
    let clean: Int16Array = new Int16Array(0);
    const cleanup: string[] = [];

    before(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g729-src-'));
      // Speech with 600 ms of quiet room noise before and after (VAD sees noise, not digital silence).
      src = speech8k(work, TEXT, { padMs: 600, noise: 24, seed: 729 });
      frames = encodeG729(src, true);
      packets = packetize(frames, 2);
      clean = cleanDecode(native, frames);
    });
    after(() => {
      for (const d of [work, ...cleanup]) fs.rmSync(d, { recursive: true, force: true });
    });

    it('G.729B with VAD/DTX and 5% packet loss: SIDs become comfort noise, lost packets are concealed, the speech is there', async () => {
      const rnd = seeded(20260303);
      const lost = new Set<number>();
      for (const p of packets) if (p.index > 0 && p.index < packets.length - 1 && rnd() < 0.05) lost.add(p.index);
      const sids = packets.filter((p) => p.sid);
      const untransmitted = frames.filter((f) => f.length === 0).length;
      const r = await recordCall(plugin, packets, { send: (p) => !lost.has(p.index), callId: 'g729b-loss@tapline.test' });
      cleanup.push(r.dir);
      const m = r.meta;
      const c = (name: string) => r.counters[`${PLUGIN}.${name}`] ?? 0;

      // What the sender did.
      assert.ok(sids.length >= 3, `SID packets sent: ${sids.length}`);
      assert.ok(untransmitted >= 50, `DTX frames: ${untransmitted}`);
      assert.ok(lost.size / packets.length >= 0.03 && lost.size / packets.length <= 0.07, `loss ${lost.size}/${packets.length}`);

      // Metadata: the loss is counted, nothing failed, nothing flagged.
      assert.ok(m.audio !== undefined);
      assert.deepEqual(m.caller.codecs, ['G729/8000']);
      assert.equal(m.caller.packets, packets.length - lost.size);
      assert.equal(m.caller.lost, lost.size);
      assert.equal(m.caller.undecoded, 0);
      assert.equal(r.counters['core.media.decodeErrors'] ?? 0, 0);
      // The metadata says how many lost packets were concealed, and a flag tells the listener.
      assert.ok((m.caller.concealed ?? 0) > 0 && (m.caller.concealed ?? 0) <= lost.size, `concealed ${m.caller.concealed} of ${lost.size} lost`);
      assert.deepEqual(m.flags, [`caller: ${m.caller.concealed} lost packets concealed by the decoder (made-up audio, not what was sent)`]);

      // SIDs decoded (not errors), and the decoder concealed the losses.
      const sidsReceived = sids.filter((p) => !lost.has(p.index)).length;
      assert.equal(c('sidFrames'), sidsReceived);
      assert.equal(c('badPayloads'), 0);
      assert.ok(c('lossEvents') >= 1);
      assert.ok(c('concealedFrames') > 0);

      // The recording's sample 0 is the first packet's first sample (the first packet is never dropped).
      const first = (packets[0] as G729Packet).ts;
      const at = (tsOffset: number) => tsOffset - first;
      const vsClean = bestLag(clean.subarray(first), r.audio, 160);
      const vsSource = bestLag(src.subarray(first), r.audio, 200);
      const ceiling = bestLag(src, clean, 200).corr;
      const spanSec = ((packets[packets.length - 1] as G729Packet).ts + 80 * (packets[packets.length - 1] as G729Packet).frames - first) / 8000;

      // Every lost packet inside speech or comfort noise (not next to a DTX pause longer than 200 ms) has audio.
      let checked = 0;
      let holes = 0;
      for (const i of lost) {
        const p = packets[i] as G729Packet;
        const prev = packets[i - 1] as G729Packet;
        const next = packets.slice(i + 1).find((q) => !lost.has(q.index)) as G729Packet;
        const prevSent = [...packets.slice(0, i)].reverse().find((q) => !lost.has(q.index)) as G729Packet;
        const gap = next.ts - (prevSent.ts + 80 * prevSent.frames);
        if (gap > 1600 || next.index - prevSent.index - 1 > 10 || prev.sid) continue;
        checked++;
        const from = at(p.ts) + vsClean.lag;
        if (rms(r.audio, from, from + 80 * p.frames) === 0) holes++;
      }
      // At each received SID: comfort noise, quiet next to the speech.
      const speechRms = rms(r.audio);
      const cn = sids.filter((p) => !lost.has(p.index)).map((p) => rms(r.audio, at(p.ts) + 80 * (p.frames - 1) + vsClean.lag, at(p.ts) + 80 * p.frames + vsClean.lag));

      console.log(
        `      ${packets.length} packets (${frames.filter((f) => f.length === 10).length} speech frames, ${sids.length} SID, ${untransmitted} untransmitted), ${lost.size} lost (${((100 * lost.size) / packets.length).toFixed(1)}%)\n` +
          `      recorded ${m.audio.durationSec} s (RTP span ${spanSec.toFixed(2)} s); SID frames decoded ${c('sidFrames')}, loss events ${c('lossEvents')}, concealed frames ${c('concealedFrames')}, lost packets with audio ${checked - holes}/${checked}\n` +
          `      corr vs a lossless decode ${vsClean.corr.toFixed(4)} (lag ${vsClean.lag}); vs the source speech ${vsSource.corr.toFixed(4)} (lag ${vsSource.lag}; G.729A's own ceiling without loss: ${ceiling.toFixed(4)})\n` +
          `      comfort noise rms ${Math.min(...cn).toFixed(1)}-${Math.max(...cn).toFixed(1)} (speech rms ${speechRms.toFixed(0)})`,
      );
      assert.ok(Math.abs(m.audio.durationSec - spanSec) <= 0.25, 'duration');
      assert.ok(checked >= 5, `lost packets checked ${checked}`);
      assert.equal(holes, 0, `${holes} lost packets left as silence`);
      assert.ok(cn.every((x) => x > 0 && x < speechRms / 5), 'SIDs decoded to quiet comfort noise');
      assert.ok(vsClean.corr >= 0.9, `correlation with the lossless decode ${vsClean.corr}`);
      assert.ok(Math.abs(vsClean.lag) <= 2, `lag ${vsClean.lag}`);
      assert.ok(vsSource.corr >= 0.75 && vsSource.corr >= ceiling - 0.08, `correlation with the source ${vsSource.corr} (codec ceiling ${ceiling})`);

      // The same call with concealLoss off: the same lost packets are silence (so the check above means something).
      const off = await recordCall(plugin, packets, { send: (p) => !lost.has(p.index), options: { concealLoss: false }, callId: 'g729b-noconceal@tapline.test' });
      cleanup.push(off.dir);
      let silent = 0;
      for (const i of lost) {
        const p = packets[i] as G729Packet;
        const from = at(p.ts) + vsClean.lag;
        if (rms(off.audio, from + 4, from + 80 * p.frames - 4) === 0) silent++;
      }
      const offCorr = bestLag(clean.subarray(first), off.audio, 160).corr;
      console.log(`      the same call with concealLoss off: ${silent}/${lost.size} lost packets silent, corr vs a lossless decode ${offCorr.toFixed(4)}`);
      assert.ok(silent >= checked, `without concealment ${silent} lost packets are silent`);
      assert.equal(off.counters[`${PLUGIN}.concealedFrames`] ?? 0, 0);
    });

    it('a payload of a bad size is counted and flagged, not a crash; the rest of the call is recorded', async () => {
      const speech = packets.filter((p) => !p.sid && p.frames === 2);
      const bad = new Set([(speech[40] as G729Packet).index, (speech[90] as G729Packet).index]);
      const r = await recordCall(plugin, packets, { payloadOf: (p) => (bad.has(p.index) ? p.payload.subarray(0, 7) : p.payload), callId: 'g729-bad-size@tapline.test' });
      cleanup.push(r.dir);
      const m = r.meta;
      assert.equal(r.counters['core.media.decodeErrors'], 2);
      assert.equal(r.counters[`${PLUGIN}.badPayloads`], 2);
      assert.equal(m.caller.undecoded, 2);
      const flag = m.flags.find((f) => f.startsWith('G729/8000 payloads that failed to decode'));
      assert.ok(flag !== undefined, `flags: ${JSON.stringify(m.flags)}`);
      assert.match(flag, /G\.729 payload of 7 bytes: not whole 10-byte frames/);
      const first = (packets[0] as G729Packet).ts;
      const { corr, lag } = bestLag(clean.subarray(first), r.audio, 160);
      console.log(`      2 payloads of 7 bytes: flagged "${flag}"; corr vs a lossless decode ${corr.toFixed(4)} at lag ${lag}`);
      assert.ok(corr >= 0.95, `correlation ${corr}`);
      // The broken packets' time is concealed (the decoder saw them as lost).
      for (const i of bad) {
        const p = packets[i] as G729Packet;
        assert.ok(rms(r.audio, p.ts - first + lag, p.ts - first + lag + 160) > 0);
      }
    });

    it(`with the addon unavailable (${G729_NATIVE_ENV}=0, or a loader that fails) the call is flagged and its packets kept raw`, async () => {
      const check = (r: Recorded, reason: string) => {
        const m = r.meta;
        const flag = m.flags.find((f) => f.startsWith(`${G729_NOT_DECODED} (${reason})`));
        assert.ok(flag !== undefined, `flags: ${JSON.stringify(m.flags)}`);
        assert.ok(m.rawMedia !== undefined, 'raw media kept');
        assert.equal(m.rawMedia.packets, packets.length);
        assert.deepEqual(m.rawMedia.reasons, [`${G729_NOT_DECODED} (${reason})`]);
        assert.equal(m.caller.undecoded, packets.length);
        assert.equal(r.counters['core.media.decodeErrors'] ?? 0, 0);
        // The kept packets are the RTP as sent.
        const kept = readPcapUdp(path.resolve(r.dir, m.rawMedia.file));
        assert.equal(kept.length, packets.length);
        assert.deepEqual(kept[5]?.payload.subarray(12), (packets[5] as G729Packet).payload);
        assert.equal(rms(r.audio), 0, 'no audio invented');
        return flag;
      };
      const prior = process.env[G729_NATIVE_ENV];
      process.env[G729_NATIVE_ENV] = '0';
      let r: Recorded;
      try {
        r = await recordCall(plugin, packets, { callId: 'g729-disabled@tapline.test' });
      } finally {
        if (prior === undefined) delete process.env[G729_NATIVE_ENV];
        else process.env[G729_NATIVE_ENV] = prior;
      }
      cleanup.push(r.dir);
      const flag = check(r, `disabled by ${G729_NATIVE_ENV}=0`);
      console.log(`      flagged: "${flag}"`);

      // A manifest object with a test loader: decoded in the main thread (media.workers 1), since call workers import
      // codec plugins by name (they would load the real package).
      const broken = createG729Plugin({ load: () => ({ ok: false, reason: 'cannot load g729_native.node: libbcg729.so.0: cannot open shared object file' }) });
      const r2 = await recordCall(broken, packets, { callId: 'g729-noaddon@tapline.test', config: { media: { workers: 1 } } });
      cleanup.push(r2.dir);
      check(r2, 'cannot load g729_native.node: libbcg729.so.0: cannot open shared object file');
    });

    it('the recording of a clean G.729B call equals a straight decode of its frames', async () => {
      const r = await recordCall(plugin, packets, { callId: 'g729b-clean@tapline.test' });
      cleanup.push(r.dir);
      const first = (packets[0] as G729Packet).ts;
      const corr0 = pcmCorrelation(clean.subarray(first), r.audio, 0);
      console.log(`      clean call: corr vs a straight decode at lag 0: ${corr0.toFixed(6)}`);
      assert.ok(corr0 >= 0.999, `correlation ${corr0}`);
      assert.equal(r.counters[`${PLUGIN}.lossEvents`] ?? 0, 0);
    });
  },
);
