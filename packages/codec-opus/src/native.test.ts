/**
 * The addon on its own: libopus round trip, packet inspection, in-band FEC and PLC, argument checking (a clear
 * TypeError / RangeError, libopus errors as Error with opus_strerror's text, never a crash), closed objects, and
 * that finalizers free what close() was not called for.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pcmCorrelation } from 'tapline/testing';
import { ADDON_FILE, loadOpusNative, nativeSelfTest, OPUS_APPLICATION_AUDIO, OPUS_APPLICATION_VOIP, type NativeOpusDecoder, type OpusNative } from './native';
import { createOpusEncoder } from './encoder';
import { alignPcm, prng, rms, voiced } from './test-support';

function expectCode(code: string | RegExp, ctor: new (...a: never[]) => Error = Error) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ctor, `expected ${ctor.name}, got ${String(e)}`);
    const c = (e as { code?: string }).code ?? '';
    if (typeof code === 'string') assert.equal(c, code, (e as Error).message);
    else assert.match(c, code);
    return true;
  };
}

describe('@tapline/codec-opus native addon (libopus)', function () {
  this.timeout(30_000);
  let n: OpusNative;

  before(function () {
    const l = loadOpusNative();
    if (l.native === undefined) {
      // The package's own tests need the addon: building it is part of installing the package here.
      throw new Error(`the addon did not load: ${l.reason}`);
    }
    n = l.native;
  });

  it('loads the system libopus and passes its self-test', () => {
    assert.match(n.version, /^libopus \d+\.\d+/);
    assert.equal(nativeSelfTest(n), undefined);
    assert.equal(loadOpusNative().path, ADDON_FILE);
  });

  it('round trip: 2 s of a voiced signal at 64 kbit/s decodes to the same waveform (r > 0.99), 960 samples per 20 ms packet', () => {
    const src = voiced(2);
    // OPUS_APPLICATION_AUDIO: VOIP's voice tuning (high-pass, emphasis) would lower the waveform match on purpose.
    const enc = createOpusEncoder(n, { application: OPUS_APPLICATION_AUDIO, bitrate: 64000 });
    const dec = new n.Decoder(48000, 1);
    const out = new Int16Array(5760);
    const got = new Int16Array(src.length);
    for (let i = 0; i + 960 <= src.length; i += 960) {
      const p = enc.encode(src.subarray(i, i + 960), 960);
      assert.equal(n.packetSamples(p, 48000), 960);
      assert.equal(n.packetSamples(p, 8000), 160);
      assert.equal(dec.decode(p, out), 960);
      got.set(out.subarray(0, 960), i);
    }
    const a = alignPcm(src, got, 1000);
    // libopus's algorithmic delay at 48 kHz: 6.5 ms (312 samples) in the default modes.
    assert.ok(a.lag > 200 && a.lag < 400, `lag ${a.lag}`);
    assert.ok(a.corr > 0.99, `r=${a.corr}`);
    enc.close();
    dec.close();
  });

  it('packetInfo: frame sizes, multi-frame packets, SILK / hybrid / CELT and the FEC flag', () => {
    const src = voiced(1);
    const cases: Array<{ frame: number; app: number; bitrate: number; mode: string }> = [
      { frame: 480, app: OPUS_APPLICATION_AUDIO, bitrate: 64000, mode: 'celt' },
      { frame: 960, app: OPUS_APPLICATION_VOIP, bitrate: 12000, mode: 'silk' },
      { frame: 960, app: OPUS_APPLICATION_VOIP, bitrate: 32000, mode: 'hybrid' },
      { frame: 2880, app: OPUS_APPLICATION_VOIP, bitrate: 16000, mode: 'silk' },
    ];
    for (const c of cases) {
      const enc = createOpusEncoder(n, { application: c.app, bitrate: c.bitrate });
      let info;
      for (let i = 0; i < 10; i++) info = n.packetInfo(enc.encode(src.subarray(i * c.frame, (i + 1) * c.frame), c.frame));
      assert.ok(info !== undefined);
      assert.equal(info.mode, c.mode, JSON.stringify({ c, info }));
      assert.equal(info.frames * info.samplesPerFrame, c.frame, JSON.stringify({ c, info }));
      assert.equal(info.channels, 1);
      enc.close();
    }
    // Code 3 (several frames): 60 ms of SILK is 3 × 20 ms frames in one packet.
    const enc = createOpusEncoder(n, { bitrate: 16000 });
    const p = enc.encode(src.subarray(0, 2880), 2880);
    assert.equal(n.packetSamples(p, 48000), 2880);
    const dec = new n.Decoder(48000, 1);
    assert.equal(dec.decode(p, new Int16Array(5760)), 2880);
    // A stereo packet decodes to mono (libopus mixes it down) when the decoder has one channel.
    const st = new n.Encoder(48000, 2, OPUS_APPLICATION_AUDIO);
    const pcm2 = new Int16Array(1920);
    for (let i = 0; i < 960; i++) pcm2[2 * i] = pcm2[2 * i + 1] = src[i] as number;
    const sp = st.encode(pcm2, 960);
    assert.equal(n.packetInfo(sp).channels, 2);
    assert.equal(dec.decode(sp, new Int16Array(960)), 960);
    st.close();
    enc.close();
    dec.close();
  });

  it('in-band FEC: the packet after a lost one restores it far better than concealment', () => {
    const src = voiced(2, 48000, 7);
    const enc = createOpusEncoder(n, { bitrate: 32000, fec: true, packetLossPerc: 10 });
    const packets: Buffer[] = [];
    for (let i = 0; i + 960 <= src.length; i += 960) packets.push(enc.encode(src.subarray(i, i + 960), 960));
    enc.close();
    const full = new n.Decoder(48000, 1);
    const out = new Int16Array(5760);
    const truth: Int16Array[] = packets.map((p) => Int16Array.from(out.subarray(0, full.decode(p, out))));
    let fecBetter = 0;
    let checked = 0;
    // Lost packets whose successor carries FEC (the encoder adds it to active speech, not to the quiet parts).
    const candidates = [4, 21, 38, 55, 71].filter((i) => n.packetInfo(packets[i + 1] as Buffer).fec);
    assert.ok(candidates.length >= 3, `packets with FEC after ${candidates.join(', ')}`);
    for (const lost of candidates) {
      assert.ok(n.packetInfo(packets[lost + 1] as Buffer).fec, `packet ${lost + 1} carries FEC`);
      const withFec = new n.Decoder(48000, 1);
      const withPlc = new n.Decoder(48000, 1);
      for (let i = 0; i < lost; i++) {
        withFec.decode(packets[i] as Buffer, out);
        withPlc.decode(packets[i] as Buffer, out);
      }
      const fec = new Int16Array(960);
      const plc = new Int16Array(960);
      assert.equal(withFec.decodeFec(packets[lost + 1] as Buffer, 960, fec), 960);
      assert.equal(withPlc.conceal(960, plc), 960);
      const want = truth[lost] as Int16Array;
      const rFec = pcmCorrelation(want, fec, 0);
      const rPlc = pcmCorrelation(want, plc, 0);
      assert.ok(rFec > 0.7, `lost packet ${lost}: FEC r=${rFec.toFixed(3)} (PLC ${rPlc.toFixed(3)})`);
      assert.ok(rms(fec) > 0.3 * rms(want), `FEC audio has the lost packet's energy: ${rms(fec)} vs ${rms(want)}`);
      if (rFec > rPlc) fecBetter++;
      checked++;
      // The decoder goes on with the packet whose FEC it used.
      assert.equal(withFec.decode(packets[lost + 1] as Buffer, out), 960);
      withFec.close();
      withPlc.close();
    }
    assert.equal(fecBetter, checked);
    full.close();
  });

  it('decodeFec over a longer gap conceals the earlier part and recovers the last frame', () => {
    const src = voiced(1);
    const enc = createOpusEncoder(n, { bitrate: 32000, fec: true, packetLossPerc: 20 });
    const packets: Buffer[] = [];
    for (let i = 0; i + 960 <= src.length; i += 960) packets.push(enc.encode(src.subarray(i, i + 960), 960));
    const dec = new n.Decoder(48000, 1);
    const out = new Int16Array(5760);
    for (let i = 0; i < 10; i++) dec.decode(packets[i] as Buffer, out);
    // Packets 10-12 lost: 60 ms, of which the last 20 come from packet 13's FEC.
    const gap = new Int16Array(2880);
    assert.equal(dec.decodeFec(packets[13] as Buffer, 2880, gap), 2880);
    assert.ok(rms(gap, 1920) > 0, 'the FEC part has audio');
    // A CELT-only packet (10 ms frames at 96 kbit/s) carries no FEC: libopus conceals the whole frame.
    const celt = createOpusEncoder(n, { application: OPUS_APPLICATION_AUDIO, bitrate: 96000 });
    const c = celt.encode(src.subarray(0, 480), 480);
    assert.equal(n.packetInfo(c).mode, 'celt');
    assert.equal(n.packetInfo(c).fec, false);
    assert.equal(dec.decodeFec(c, 480, out), 480);
    celt.close();
    enc.close();
    dec.close();
  });

  it('PLC: conceal() continues a tone (energy) and then fades; frame sizes are checked', () => {
    const src = voiced(0.5);
    const enc = createOpusEncoder(n, { bitrate: 32000 });
    const dec = new n.Decoder(48000, 1);
    const out = new Int16Array(5760);
    for (let i = 0; i + 960 <= src.length; i += 960) dec.decode(enc.encode(src.subarray(i, i + 960), 960), out);
    const plc = new Int16Array(960);
    assert.equal(dec.conceal(960, plc), 960);
    const first = rms(plc);
    assert.ok(first > 200, `first concealed frame rms ${first}`);
    for (let k = 0; k < 25; k++) dec.conceal(960, plc);
    assert.ok(rms(plc) < 0.3 * first, `after 0.5 s of concealment the decoder fades: rms ${rms(plc)} (first frame ${first})`);
    // 2.5 ms multiples only; at most what `out` holds.
    assert.equal(dec.conceal(120, plc), 120);
    assert.throws(() => dec.conceal(100, plc), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => dec.conceal(0, plc), RangeError);
    assert.throws(() => dec.conceal(1920, plc), /exceeds the output array/);
    assert.throws(() => dec.conceal(960.5, plc), RangeError);
    enc.close();
    dec.close();
  });

  it('bad input throws clearly: TypeError for wrong types, RangeError for bad values, Error with opus_strerror text for bad packets', () => {
    const dec = new n.Decoder(48000, 1);
    const out = new Int16Array(5760);
    // A code 3 packet whose frame count byte promises more than the bytes hold.
    assert.throws(() => dec.decode(Buffer.from([0x7b, 0xff, 1, 2, 3]), out), (e: unknown) => {
      assert.ok(e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError));
      assert.equal((e as { code?: string }).code, 'OPUS_INVALID_PACKET');
      assert.match(e.message, /^opus_decode: corrupted stream \(libopus error -4\)$/);
      return true;
    });
    assert.throws(() => dec.decode(Buffer.alloc(0), out), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => dec.decode('abc' as unknown as Buffer, out), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => dec.decode(Buffer.from([0x78, 1, 2]), new Float32Array(960) as unknown as Int16Array), TypeError);
    assert.throws(() => dec.decode(Buffer.from([0x78, 1, 2]), new Int16Array(0)), RangeError);
    assert.throws(() => (dec.decode as (...a: unknown[]) => number)(Buffer.from([0x78])), TypeError);
    // 120 ms packet into a 20 ms output array: libopus says the buffer is too small.
    const long = createOpusEncoder(n, { bitrate: 16000 }).encode(new Int16Array(5760), 2880);
    assert.throws(() => dec.decode(long, new Int16Array(960)), expectCode('OPUS_BUFFER_TOO_SMALL'));
    assert.throws(() => dec.decodeFec(Buffer.from([0x78, 1]), 1000, out), RangeError);
    assert.throws(() => dec.decodeFec(Buffer.alloc(0), 960, out), RangeError);
    assert.throws(() => dec.decodeFec(Buffer.from([0x7b, 0xff, 1]), 960, out), expectCode('OPUS_INVALID_PACKET'));
    assert.throws(() => new n.Decoder(44100, 1), RangeError);
    assert.throws(() => new n.Decoder(48000, 3), RangeError);
    assert.throws(() => new n.Decoder('48000' as unknown as number, 1), TypeError);
    assert.throws(() => (n.Decoder as unknown as (r: number, c: number) => unknown)(48000, 1), TypeError, 'a class, not a function');
    assert.throws(() => n.Decoder.prototype.decode.call({} as NativeOpusDecoder, Buffer.from([0x78]), out), TypeError);
    assert.throws(() => n.Decoder.prototype.decode.call(new n.Encoder(48000, 1, OPUS_APPLICATION_VOIP) as unknown as NativeOpusDecoder, Buffer.from([0x78]), out), TypeError);
    assert.throws(() => new n.Encoder(48000, 1, 1234), RangeError);
    const enc = new n.Encoder(48000, 1, OPUS_APPLICATION_VOIP);
    assert.throws(() => enc.encode(new Int16Array(100), 960), RangeError);
    assert.throws(() => enc.encode(new Int16Array(1000), 1000), expectCode('OPUS_BAD_ARG'), 'not an Opus frame size');
    assert.throws(() => enc.setBitrate(1), RangeError);
    assert.throws(() => enc.setInbandFec(1 as unknown as boolean), TypeError);
    assert.throws(() => n.packetSamples(Buffer.alloc(0), 48000), RangeError);
    assert.throws(() => n.packetSamples(Buffer.from([0x78]), 44100), RangeError);
    assert.throws(() => n.packetInfo(Buffer.from([0x03])), expectCode('OPUS_INVALID_PACKET'));
    enc.close();
    dec.close();
  });

  it('random bytes never crash the process: every packet decodes or throws an Error', () => {
    const dec = new n.Decoder(48000, 1);
    const out = new Int16Array(5760);
    const rnd = prng(42);
    let ok = 0;
    let failed = 0;
    for (let k = 0; k < 5000; k++) {
      const p = Buffer.alloc(1 + Math.floor(rnd() * 400));
      for (let i = 0; i < p.length; i++) p[i] = Math.floor(rnd() * 256);
      try {
        const s = dec.decode(p, out);
        assert.ok(s > 0 && s <= 5760);
        ok++;
      } catch (e) {
        assert.ok(e instanceof Error);
        assert.match(String((e as { code?: string }).code), /^OPUS_/);
        failed++;
      }
      try {
        dec.decodeFec(p, 960, out);
      } catch (e) {
        assert.ok(e instanceof Error);
      }
    }
    assert.ok(ok > 0 && failed > 0, `${ok} decoded, ${failed} refused`);
    dec.close();
  });

  it('close() is idempotent; a closed decoder or encoder refuses work with a clear Error', () => {
    const dec = new n.Decoder(48000, 1);
    assert.equal(dec.closed, false);
    dec.close();
    dec.close();
    assert.equal(dec.closed, true);
    assert.throws(() => dec.decode(Buffer.from([0x78, 0]), new Int16Array(960)), expectCode('ERR_OPUS_CLOSED'));
    assert.throws(() => dec.conceal(960, new Int16Array(960)), /closed/);
    assert.throws(() => dec.reset(), /closed/);
    const enc = new n.Encoder(48000, 1, OPUS_APPLICATION_VOIP);
    enc.close();
    enc.close();
    assert.equal(enc.closed, true);
    assert.throws(() => enc.encode(new Int16Array(960), 960), expectCode('ERR_OPUS_CLOSED'));
  });

  it('finalizers free decoders and encoders never closed (60 000 of them stay within bounded memory)', () => {
    // N-API runs finalizers from the event loop: each round lets it turn. The addon reports the libopus state's
    // size to V8 (napi_adjust_external_memory), so garbage collection also comes by itself, without global.gc().
    const script = `
      const n = require(${JSON.stringify(ADDON_FILE)});
      let peak = 0;
      (async () => {
        for (let round = 0; round < 40; round++) {
          for (let i = 0; i < 1500; i++) { new n.Decoder(48000, 2); if (i % 10 === 0) new n.Encoder(48000, 1, 2048); }
          await new Promise((r) => setImmediate(r));
          peak = Math.max(peak, process.memoryUsage().rss);
        }
        console.log(Math.round(peak / 1048576));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const mb = Number(r.stdout.trim());
    // A stereo libopus decoder is ~50 KiB: 60 000 leaked would be ~3 GB.
    assert.ok(mb < 400, `peak RSS ${mb} MiB`);
    console.log(`      peak RSS ${mb} MiB`);
  });
});
