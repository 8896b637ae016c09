/** The bcg729 addon on its own: round trip, Annex B SID / comfort noise, frame erasure, argument checking, loading. */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bestLag, pcmCorrelation } from 'tapline/testing';
import { G729_FRAME_SAMPLES, G729_NATIVE_ENV, g729Native, loadG729Native, type G729Native } from './native';
import { concat, encodeG729, ESPEAK, FFMPEG, rms, run, s16, seeded, SOX, speech8k } from './test-helpers';

const haveSpeechTools = [ESPEAK, SOX, FFMPEG].every((f) => fs.existsSync(f));

const loaded = g729Native();

/** A voice-like test signal: a 150 Hz sawtooth-ish harmonic series with a slow vibrato and syllable envelope. */
function voiceLike(seconds: number): Int16Array {
  const n = Math.round(seconds * 8000);
  const out = new Int16Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / 8000;
    phase += (2 * Math.PI * (150 + 20 * Math.sin(2 * Math.PI * 3 * t))) / 8000;
    let v = 0;
    for (let k = 1; k <= 12; k++) v += Math.sin(k * phase) / k;
    const env = 0.55 + 0.45 * Math.sin(2 * Math.PI * 2.5 * t);
    out[i] = Math.round(5000 * env * v);
  }
  return out;
}

function decodeFrames(native: G729Native, frames: readonly Buffer[]): Int16Array {
  const dec = new native.Decoder();
  try {
    return concat(frames.map((f) => (f.length === 10 ? dec.decode(f) : f.length === 2 ? dec.decodeSid(f) : dec.conceal())));
  } finally {
    dec.close();
  }
}

(loaded.ok ? describe : describe.skip)(`g729_native addon (bcg729)${loaded.ok ? '' : ` (skipped: ${loaded.ok ? '' : loaded.reason})`}`, () => {
  const native = (loaded as Extract<typeof loaded, { ok: true }>).native;

  it('loads and reports the bcg729 version', () => {
    assert.match(native.bcg729Version, /^\d+\.\d+\.\d+$/);
    assert.equal(typeof native.Decoder, 'function');
    assert.equal(typeof native.Encoder, 'function');
  });

  (haveSpeechTools ? it : it.skip)(`round trip on espeak-ng speech: bcg729 encode → decode agrees with ffmpeg's decoder, close to the source${haveSpeechTools ? '' : ' (skipped: needs espeak-ng, sox and ffmpeg)'}`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g729-rt-'));
    try {
      const src = speech8k(dir, 'Tapline records calls from Skype for Business. The quick brown fox jumps over the lazy dog.');
      const frames = encodeG729(src, false);
      assert.equal(frames.length, Math.ceil(src.length / G729_FRAME_SAMPLES));
      assert.ok(frames.every((f) => f.length === 10));
      const out = decodeFrames(native, frames);
      assert.equal(out.length, frames.length * G729_FRAME_SAMPLES);
      const file = path.join(dir, 'speech.g729');
      fs.writeFileSync(file, Buffer.concat(frames));
      const ff = s16(run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'g729', '-i', file, '-f', 's16le', '-ar', '8000', '-ac', '1', '-']));
      const vsFfmpeg = bestLag(ff, out, 80);
      const vsSource = bestLag(src, out, 200);
      console.log(
        `      G.729 round trip (${(src.length / 8000).toFixed(2)} s espeak-ng speech): vs ffmpeg's decoder corr ${vsFfmpeg.corr.toFixed(4)} at lag ${vsFfmpeg.lag}; ` +
          `vs the source corr ${vsSource.corr.toFixed(4)} at lag ${vsSource.lag} (G.729A's own fidelity: ffmpeg's decode gives ${bestLag(src, ff, 200).corr.toFixed(4)})`,
      );
      assert.equal(vsFfmpeg.lag, 0);
      assert.ok(vsFfmpeg.corr >= 0.99, `correlation with ffmpeg ${vsFfmpeg.corr}`);
      assert.ok(vsSource.corr >= 0.8, `correlation with the source ${vsSource.corr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decode writes into a given buffer at an offset, and the same frames decode the same from a fresh decoder', () => {
    const frames = encodeG729(voiceLike(0.2), false);
    const dec = new native.Decoder();
    const out = new Int16Array(frames.length * 80 + 7);
    frames.forEach((f, i) => assert.equal(dec.decode(f, out, 7 + i * 80), out));
    dec.close();
    assert.deepEqual([...out.subarray(0, 7)], [0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...out.subarray(7)], [...decodeFrames(native, frames)]);
  });

  it('Annex B: VAD on sends SID frames and nothing in silence; SIDs decode to comfort noise', () => {
    // 1 s of voice, 1.5 s of low noise, 1 s of voice.
    const rnd = seeded(7);
    const noise = new Int16Array(12000).map(() => Math.round((rnd() - 0.5) * 120));
    const src = concat([voiceLike(1), noise, voiceLike(1)]);
    const frames = encodeG729(src, true);
    const sizes = new Map<number, number>();
    for (const f of frames) sizes.set(f.length, (sizes.get(f.length) ?? 0) + 1);
    console.log(`      VAD on: ${sizes.get(10) ?? 0} speech frames, ${sizes.get(2) ?? 0} SID frames, ${sizes.get(0) ?? 0} untransmitted`);
    assert.ok((sizes.get(2) ?? 0) >= 1, 'at least one SID frame');
    assert.ok((sizes.get(0) ?? 0) >= 50, 'DTX leaves frames untransmitted');
    assert.ok((sizes.get(10) ?? 0) >= 150);
    // A SID decodes to comfort noise: not silence, and far quieter than the speech.
    const dec = new native.Decoder();
    const firstSid = frames.findIndex((f) => f.length === 2);
    const before = concat(frames.slice(0, firstSid).map((f) => (f.length === 10 ? dec.decode(f) : dec.conceal())));
    const cn = concat([dec.decodeSid(frames[firstSid] as Buffer), dec.conceal(), dec.conceal(), dec.conceal()]);
    dec.close();
    console.log(`      comfort noise rms ${rms(cn).toFixed(1)} (speech before it: ${rms(before).toFixed(0)}, input noise ${rms(noise).toFixed(1)})`);
    assert.ok(rms(cn) > 2, 'comfort noise is not silence');
    assert.ok(rms(cn) < rms(before) / 10, 'comfort noise is quiet');
  });

  it('frame erasure conceals a lost frame from the decoder state, and the stream recovers after it', () => {
    const src = voiceLike(1);
    const frames = encodeG729(src, false);
    const whole = decodeFrames(native, frames);
    const lostAt = 50;
    const dec = new native.Decoder();
    const parts = frames.map((f, i) => (i === lostAt ? dec.conceal() : dec.decode(f)));
    dec.close();
    const withLoss = concat(parts);
    const s = lostAt * 80;
    const concealed = withLoss.subarray(s, s + 80);
    console.log(
      `      erasure: concealed frame rms ${rms(concealed).toFixed(0)} (decoded ${rms(whole, s, s + 80).toFixed(0)}), corr with the lossless decode ${pcmCorrelation(concealed, whole.subarray(s, s + 80), 0).toFixed(3)}; ` +
        `100 ms later corr ${pcmCorrelation(withLoss.subarray(s + 800), whole.subarray(s + 800), 0).toFixed(4)}`,
    );
    assert.ok(rms(concealed) > rms(whole, s, s + 80) / 4, 'concealment continues the voice, not silence');
    assert.ok(pcmCorrelation(withLoss.subarray(s + 800), whole.subarray(s + 800), 0) > 0.95, 'the decoder converges back');
    // Frames before the loss are untouched.
    assert.deepEqual([...withLoss.subarray(0, s)], [...whole.subarray(0, s)]);
  });

  it('rejects bad input with a TypeError or RangeError naming the problem, and never crashes', () => {
    const dec = new native.Decoder();
    const loose = dec as unknown as Record<string, (...a: unknown[]) => unknown>;
    assert.throws(() => dec.decode(Buffer.alloc(9)), { name: 'RangeError', message: /exactly 10 bytes, got 9/ });
    assert.throws(() => dec.decode(Buffer.alloc(12)), { name: 'RangeError', message: /exactly 10 bytes, got 12/ });
    assert.throws(() => dec.decodeSid(Buffer.alloc(10)), { name: 'RangeError', message: /SID frame must be exactly 2 bytes, got 10/ });
    assert.throws(() => loose.decode?.call(dec, 'ten bytes!'), { name: 'TypeError', message: /Buffer or Uint8Array/ });
    assert.throws(() => loose.decode?.call(dec, new Int16Array(5)), { name: 'TypeError', message: /Buffer or Uint8Array/ });
    assert.throws(() => loose.decode?.call(dec), { name: 'TypeError', message: /frame \(10 bytes\) is missing/ });
    assert.throws(() => dec.decode(Buffer.alloc(10), new Int16Array(79)), { name: 'RangeError', message: /no room for 80 samples/ });
    assert.throws(() => dec.decode(Buffer.alloc(10), new Int16Array(160), 81), { name: 'RangeError', message: /offset 81/ });
    assert.throws(() => dec.decode(Buffer.alloc(10), new Int16Array(160), -1), { name: 'RangeError', message: /outOffset/ });
    assert.throws(() => dec.decode(Buffer.alloc(10), new Int16Array(160), 1.5), { name: 'RangeError', message: /outOffset/ });
    assert.throws(() => loose.decode?.call(dec, Buffer.alloc(10), new Float32Array(80)), { name: 'TypeError', message: /Int16Array/ });
    assert.throws(() => loose.conceal?.call(dec, 'x'), { name: 'TypeError', message: /Int16Array/ });
    assert.throws(() => loose.decode?.call({}, Buffer.alloc(10)), { name: 'TypeError' });
    assert.throws(() => (native.Decoder as unknown as () => unknown)(), { name: 'TypeError', message: /use new Decoder/ });
    // Still fine after all that.
    assert.equal(dec.decode(Buffer.alloc(10)).length, 80);
    dec.close();
    dec.close(); // idempotent
    assert.equal(dec.closed, true);
    assert.throws(() => dec.decode(Buffer.alloc(10)), { message: /G\.729 decoder is closed/ });
    assert.throws(() => dec.conceal(), { message: /closed/ });

    const enc = new native.Encoder(false);
    assert.throws(() => enc.encode(new Int16Array(79)), { name: 'RangeError', message: /exactly 80/ });
    assert.throws(() => (enc as unknown as { encode(x: unknown): unknown }).encode(Buffer.alloc(160)), { name: 'TypeError', message: /Int16Array/ });
    assert.throws(() => new (native.Encoder as unknown as new (x: unknown) => unknown)(1), { name: 'TypeError', message: /vad must be a boolean/ });
    enc.close();
    enc.close();
    assert.throws(() => enc.encode(new Int16Array(80)), { message: /encoder is closed/ });
  });

  it('garbage frames decode to bounded audio, never a crash', () => {
    const dec = new native.Decoder();
    const rnd = seeded(3);
    const frame = Buffer.alloc(10);
    const sid = Buffer.alloc(2);
    for (let i = 0; i < 2000; i++) {
      for (let k = 0; k < 10; k++) frame[k] = Math.floor(rnd() * 256);
      sid[0] = frame[0] as number;
      sid[1] = frame[1] as number;
      const r = rnd();
      const out = r < 0.8 ? dec.decode(frame) : r < 0.9 ? dec.decodeSid(sid) : dec.conceal();
      assert.equal(out.length, 80);
    }
    dec.close();
  });

  it('frees unclosed decoders and encoders when they are garbage-collected (finalizers)', () => {
    {
      // In a child with --expose-gc: 250000 native objects created and dropped unclosed (~540 MiB if never freed).
      const script = `
        const a = require(${JSON.stringify(loaded.ok ? loaded.file : '')});
        const tick = () => new Promise((r) => setImmediate(r));
        (async () => {
          for (let i = 0; i < 20000; i++) new a.Decoder();
          gc(); await tick(); gc(); await tick();
          const rss0 = process.memoryUsage().rss;
          for (let i = 0; i < 200000; i++) {
            new a.Decoder();
            if (i % 4 === 0) new a.Encoder(true);
            if (i % 5000 === 0) { gc(); await tick(); }
          }
          gc(); await tick(); gc(); await tick();
          console.log(Math.round((process.memoryUsage().rss - rss0) / 1048576));
        })();`;
      const grown = Number(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }).trim());
      console.log(`      200000 decoders + 50000 encoders created and dropped: RSS grew ${grown} MiB`);
      assert.ok(grown < 64, `memory grew by ${grown} MiB`);
    }
  });
});

describe('g729_native loader', () => {
  it(`${G729_NATIVE_ENV}=0 keeps the addon from loading, and says so`, () => {
    const r = loadG729Native({ env: { [G729_NATIVE_ENV]: '0' } });
    assert.deepEqual(r, { ok: false, reason: `disabled by ${G729_NATIVE_ENV}=0` });
  });

  it('a missing addon file is reported with what building it needs', () => {
    const r = loadG729Native({ env: {}, files: [path.join(__dirname, 'nowhere', 'g729_native.node')] });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /not built .*libbcg729-dev, a C compiler and node-gyp/);
  });

  it('a file that fails to load, or is not the addon, is refused with the reason, without throwing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g729-load-'));
    try {
      const broken = path.join(dir, 'broken.js');
      fs.writeFileSync(broken, "throw new Error('libbcg729.so.0: cannot open shared object file');\n");
      const r = loadG729Native({ env: {}, files: [broken] });
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /cannot load .*libbcg729\.so\.0.*\(install libbcg729-0\)/);
      const other = path.join(dir, 'other.js');
      fs.writeFileSync(other, 'module.exports = { hello: 1 };\n');
      const r2 = loadG729Native({ env: {}, files: [other] });
      assert.match(r2.ok ? '' : r2.reason, /is not the G\.729 addon/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
