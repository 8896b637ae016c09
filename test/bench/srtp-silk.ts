/**
 * SILK for the srtp bench: speech-like test audio, encoded once with silk-wasm's own encoder into 20 ms packets
 * (reused by every call of the SILK captures), and the decode-only speed of Tapline's SILK decoder on those
 * packets, with one continuous silk-wasm decode of the same packets as its reference.
 */
import { encode } from 'silk-wasm';
import { createSilkCodec, SILK_HEADER, WARMUP_FRAMES } from '../../plugins/codec-silk/codec';
import { loadSilkWasm, withKeepAlive } from '../../plugins/codec-silk/silk-wasm-sync';

export const SILK_RATE = 16000;
const FRAME = SILK_RATE / 50;
/** The usual Lync/SfB vowel formants (F1, F2, F3), Hz. */
const VOWELS: ReadonlyArray<readonly [number, number, number]> = [
  [730, 1090, 2440],
  [270, 2290, 3010],
  [300, 870, 2240],
  [530, 1840, 2480],
  [570, 840, 2410],
];
const SYLLABLE_SEC = 0.22;

/**
 * Deterministic speech-like audio: a glottal pulse train with a wandering pitch (95–175 Hz) through three
 * formant resonators whose vowel changes every syllable, syllable envelopes, a pause every 8th syllable and a
 * faint noise floor (SILK's cost depends on voicing and pitch, which a steady tone would not exercise).
 */
export function speechLike(seconds: number, rate = SILK_RATE): Int16Array {
  const n = Math.round(seconds * rate);
  const y = new Float64Array(n);
  const s1 = [0, 0, 0];
  const s2 = [0, 0, 0];
  let phase = 0;
  let seed = 0x2545f491;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const syl = Math.floor(t / SYLLABLE_SEC);
    const v = VOWELS[(syl * 7 + 3) % VOWELS.length] as readonly [number, number, number];
    const f0 = 135 + 30 * Math.sin(2 * Math.PI * 0.7 * t) + 10 * Math.sin(2 * Math.PI * 3.1 * t);
    phase += f0 / rate;
    let x = 0;
    if (phase >= 1) {
      phase -= 1;
      const ph = (t % SYLLABLE_SEC) / SYLLABLE_SEC;
      x = syl % 8 === 7 ? 0 : Math.sqrt(Math.sin(Math.PI * ph));
    }
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    x += ((seed >>> 0) / 2 ** 32 - 0.5) * 0.002;
    for (let k = 0; k < 3; k++) {
      const r = Math.exp((-Math.PI * (70 + 50 * k)) / rate);
      const out = (1 - r) * x + 2 * r * Math.cos((2 * Math.PI * (v[k] as number)) / rate) * (s1[k] as number) - r * r * (s2[k] as number);
      s2[k] = s1[k] as number;
      s1[k] = out;
      x = out;
    }
    y[i] = x;
  }
  let peak = 0;
  for (const v of y) peak = Math.max(peak, Math.abs(v));
  const gain = peak === 0 ? 0 : (0.5 * 32767) / peak; // peaks at -6 dBFS
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = Math.round((y[i] as number) * gain);
  return pcm;
}

/** silk-wasm's encoder on `pcm` (mono, SILK_RATE): the container split into its packets, 20 ms each. */
export async function encodeSilkPackets(pcm: Int16Array): Promise<Buffer[]> {
  const res = await withKeepAlive(encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), SILK_RATE), 60_000, 'silk-wasm encode');
  const c = Buffer.from(res.data);
  if (!c.subarray(0, SILK_HEADER.length).equals(SILK_HEADER)) throw new Error('silk-wasm encode: not a SILK_V3 container');
  const packets: Buffer[] = [];
  for (let o = SILK_HEADER.length; o + 2 <= c.length; ) {
    const n = c.readInt16LE(o);
    o += 2;
    if (n <= 0 || o + n > c.length) break;
    packets.push(Buffer.from(c.subarray(o, o + n)));
    o += n;
  }
  const want = Math.floor(pcm.length / FRAME);
  if (packets.length < want - 1) throw new Error(`silk-wasm encode: ${packets.length} packets for ${want} frames of audio`);
  return packets;
}

export interface DecodeSpeed {
  /** Seconds of audio decoded. */
  audioSec: number;
  cpuSec: number;
  wallSec: number;
  /** audioSec / cpuSec. */
  realtime: number;
}

function cpuSec(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/**
 * Tapline's SILK decoder alone (codec-silk's SilkStreamDecoder, default history, no pipeline): `streams` streams
 * of `packetsPerStream` packets cycled from `packets`, fed with RTP facts as the recorder would. Checks that
 * every packet gives one 20 ms frame.
 */
export async function decoderAloneSpeed(packets: readonly Buffer[], streams: number, packetsPerStream: number): Promise<DecodeSpeed> {
  const silk = await loadSilkWasm();
  const codec = createSilkCodec(silk, { silk8PayloadTypes: [103], silk16PayloadTypes: [104] });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let samples = 0;
  for (let s = 0; s < streams; s++) {
    const dec = codec.createDecoder({ encoding: 'SILK', clockRate: SILK_RATE, channels: 1, payloadType: 104 });
    for (let k = 0; k < packetsPerStream; k++) {
      const p = packets[(k + s * 97) % packets.length] as Buffer;
      const pcm = dec.decode(p, { seq: (1000 + k) & 0xffff, timestamp: (k * FRAME) >>> 0, marker: k === 0, ssrc: 0x1000 + s, payloadType: 104 });
      if (pcm === null || pcm.length !== FRAME) throw new Error(`SILK decoder gave ${pcm?.length ?? 'no'} samples for packet ${k} (want ${FRAME})`);
      samples += pcm.length;
    }
    dec.close?.();
  }
  const cpu = cpuSec(c0);
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const audioSec = samples / SILK_RATE;
  return { audioSec, cpuSec: cpu, wallSec, realtime: audioSec / cpu };
}

/** One continuous silk-wasm decode of `count` packets (a single container, no per-packet history): the floor. */
export async function continuousDecodeSpeed(packets: readonly Buffer[], count: number): Promise<DecodeSpeed> {
  const silk = await loadSilkWasm();
  const parts: Buffer[] = [SILK_HEADER];
  for (let k = 0; k < count; k++) {
    const p = packets[k % packets.length] as Buffer;
    const len = Buffer.alloc(2);
    len.writeInt16LE(p.length);
    parts.push(len, p);
  }
  const container = Buffer.concat(parts);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const pcm = silk.decodeContainer(container, SILK_RATE);
  const cpu = cpuSec(c0);
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  if (pcm === undefined) throw new Error('silk-wasm failed on the continuous container');
  // silk-wasm's container loop skips 2 entries and conceals 2 frames at the end (see codec-silk/codec.ts).
  const audioSec = pcm.length / SILK_RATE;
  return { audioSec, cpuSec: cpu, wallSec, realtime: audioSec / cpu };
}

/** For the notes: what the default decoder re-decodes with each packet. */
export const SILK_HISTORY_FRAMES = WARMUP_FRAMES;
