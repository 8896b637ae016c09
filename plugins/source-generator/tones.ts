/**
 * Audio content: every call direction carries a sine whose frequency says which call and direction it is,
 * optionally with 100 ms louder bursts once a second so a test can check timing.
 *
 * Frequencies are multiples of 50 Hz, so one tone period is at most 160 samples (8000 / gcd(f, 8000)); we
 * encode one period (plus a packet's worth of overhang) once and copy windows of it into each payload. The
 * phase follows the stream's sample clock, so it stays continuous across packets, gaps and SSRC changes.
 */
import { encodeAlaw, encodeUlaw } from '../../core/media/g711';
import type { PayloadSource } from './rtp-builder';
import type { G711Codec } from './scenario';

export const SAMPLE_RATE = 8000;
/** Caller tones are 300..1800 Hz, callee tones 1900..3400 Hz, 50 Hz apart: 31 of each. */
export const TONE_STEP_HZ = 50;
export const TONES_PER_DIRECTION = 31;
export const CALLER_BASE_HZ = 300;
export const CALLEE_BASE_HZ = 1900;
/** Level of the steady tone and of the bursts (dBFS, relative to a full-scale sine). */
export const TONE_DBFS = -10;
/** Level between bursts when marker bursts are on. */
export const QUIET_DBFS = -30;
/** A burst starts at every multiple of BURST_PERIOD samples of the stream clock and lasts BURST_LEN samples. */
export const BURST_PERIOD = SAMPLE_RATE;
export const BURST_LEN = SAMPLE_RATE / 10;
/** Largest packet we fill (200 ms, a=maxptime:200). */
export const MAX_PACKET_SAMPLES = 1600;

export type Direction = 'caller' | 'callee';

/** The frequency of call `index` in one direction: index mod 31 picks the step, the direction the band. */
export function toneFrequency(callIndex: number, dir: Direction): number {
  return (dir === 'caller' ? CALLER_BASE_HZ : CALLEE_BASE_HZ) + TONE_STEP_HZ * (callIndex % TONES_PER_DIRECTION);
}

/** Inverse of toneFrequency: which (call index mod 31, direction) a detected frequency stands for. */
export function decodeToneFrequency(hz: number): { callMod: number; dir: Direction } | null {
  const dir: Direction = hz < CALLEE_BASE_HZ - TONE_STEP_HZ / 2 ? 'caller' : 'callee';
  const step = Math.round((hz - (dir === 'caller' ? CALLER_BASE_HZ : CALLEE_BASE_HZ)) / TONE_STEP_HZ);
  return step >= 0 && step < TONES_PER_DIRECTION ? { callMod: step, dir } : null;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

const bank = new Map<string, Buffer>();

/** G.711 bytes of one period of the tone plus MAX_PACKET_SAMPLES overhang, so any packet window is contiguous. */
function toneBytes(codec: G711Codec, hz: number, dbfs: number): Buffer {
  const key = `${codec}:${hz}:${dbfs}`;
  let b = bank.get(key);
  if (b === undefined) {
    const period = SAMPLE_RATE / gcd(hz, SAMPLE_RATE);
    const amp = 32767 * 10 ** (dbfs / 20);
    const pcm = new Int16Array(period + MAX_PACKET_SAMPLES);
    for (let n = 0; n < pcm.length; n++) pcm[n] = Math.round(amp * Math.sin((2 * Math.PI * hz * n) / SAMPLE_RATE));
    b = codec === 'PCMU' ? encodeUlaw(pcm) : encodeAlaw(pcm);
    bank.set(key, b);
  }
  return b;
}

/** The payload source of one stream direction. */
export class ToneSource implements PayloadSource {
  private readonly loud: Buffer;
  private readonly quiet: Buffer;
  private readonly period: number;

  constructor(codec: G711Codec, readonly hz: number, readonly bursts: boolean) {
    if (hz % TONE_STEP_HZ !== 0) throw new RangeError(`tone ${hz} Hz is not a multiple of ${TONE_STEP_HZ} Hz`);
    this.period = SAMPLE_RATE / gcd(hz, SAMPLE_RATE);
    this.loud = toneBytes(codec, hz, TONE_DBFS);
    this.quiet = bursts ? toneBytes(codec, hz, QUIET_DBFS) : this.loud;
  }

  /** G.711: one byte a sample. */
  size(_sample: number, n: number): number {
    return n;
  }

  /** Write the G.711 bytes of stream samples [sample, sample + n) at dst[off]; n ≤ MAX_PACKET_SAMPLES. */
  fill(dst: Buffer, off: number, sample: number, n: number): void {
    const end = sample + n;
    let s = sample;
    while (s < end) {
      let segEnd = end;
      let src = this.loud;
      if (this.bursts) {
        const ph = s % BURST_PERIOD;
        if (ph < BURST_LEN) segEnd = Math.min(end, s - ph + BURST_LEN);
        else {
          src = this.quiet;
          segEnd = Math.min(end, s - ph + BURST_PERIOD);
        }
      }
      const start = s % this.period;
      src.copy(dst, off, start, start + (segEnd - s));
      off += segEnd - s;
      s = segEnd;
    }
  }

  /** The first burst start in [sample, sample + n), or -1. */
  burstIn(sample: number, n: number): number {
    if (!this.bursts) return -1;
    const first = Math.ceil(sample / BURST_PERIOD) * BURST_PERIOD;
    return first < sample + n ? first : -1;
  }
}

/** Goertzel power of `hz` in pcm (normalised by length): for tests that check which tone a stream carries. */
export function goertzelPower(pcm: ArrayLike<number>, hz: number, rate = SAMPLE_RATE): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s0 = (pcm[i] ?? 0) + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / Math.max(1, pcm.length);
}

/** The tone of the generator's table (both bands) with the most Goertzel power in pcm. */
export function dominantTone(pcm: ArrayLike<number>, rate = SAMPLE_RATE): { hz: number; power: number; ratio: number } {
  let best = { hz: 0, power: -1 };
  let second = 0;
  for (const base of [CALLER_BASE_HZ, CALLEE_BASE_HZ]) {
    for (let i = 0; i < TONES_PER_DIRECTION; i++) {
      const hz = base + i * TONE_STEP_HZ;
      const p = goertzelPower(pcm, hz, rate);
      if (p > best.power) {
        second = Math.max(second, best.power);
        best = { hz, power: p };
      } else second = Math.max(second, p);
    }
  }
  return { ...best, ratio: second > 0 ? best.power / second : Infinity };
}
