/**
 * Sample-rate conversion for speech: a polyphase windowed-sinc (Kaiser) filter over a rational ratio.
 * Stateless, one buffer at a time (an RTP packet): the filter sees past each end a mirror image of the signal,
 * which keeps packet boundaries free of the clicks that zero padding would cause.
 */

/** Zero crossings of the sinc on each side (at the lower of the two rates): enough for speech, cheap per packet. */
const ZERO_CROSSINGS = 6;
/**
 * Cut-off as a fraction of the lower rate's Nyquist frequency. Upsampling uses the full band: the filter is then
 * an interpolator whose whole-sample phase is an exact copy of the input (computed for free); speech codecs carry
 * little near the input's Nyquist frequency anyway. Downsampling must stop short of the new Nyquist (aliasing).
 */
const CUTOFF_UP = 1;
const CUTOFF_DOWN = 0.92;
const KAISER_BETA = 6;
/** Above this many phases the filter table would be large: taps are computed per output sample instead. */
const MAX_TABLE_PHASES = 1024;

interface Filter {
  /** Up / down factors: output n sits at input position n * down / up. */
  up: number;
  down: number;
  /** Taps per phase; tap k of an output sample reads input floor(t) - half + 1 + k. */
  taps: number;
  half: number;
  /** up × taps coefficients, or undefined for ratios whose table would be too large. */
  table: Float64Array | undefined;
  cutoff: number;
  /** Phase 0 is the input sample itself (upsampling). */
  copyPhase0: boolean;
}

const filters = new Map<string, Filter>();
let scratch = new Float64Array(0);

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

/** Taps for an output sample whose input position is floor + frac, normalised to unity gain at DC. */
function computeTaps(f: Filter, frac: number, out: Float64Array, at: number): void {
  const i0b = besselI0(KAISER_BETA);
  const width = f.half; // window half-width in input samples
  let sum = 0;
  for (let k = 0; k < f.taps; k++) {
    const x = k - f.half + 1 - frac; // distance from the output position, in input samples
    const r = x / width;
    const w = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b;
    const u = Math.PI * f.cutoff * x;
    const s = u === 0 ? 1 : Math.sin(u) / u;
    out[at + k] = s * w;
    sum += s * w;
  }
  for (let k = 0; k < f.taps; k++) out[at + k] = out[at + k]! / sum;
}

let last: { from: number; to: number; filter: Filter } | undefined;

function filterFor(fromRate: number, toRate: number): Filter {
  // A call resamples between the same two rates packet after packet: skip the map lookup then.
  if (last !== undefined && last.from === fromRate && last.to === toRate) return last.filter;
  const key = `${fromRate}>${toRate}`;
  let f = filters.get(key);
  if (f !== undefined) {
    last = { from: fromRate, to: toRate, filter: f };
    return f;
  }
  const g = gcd(fromRate, toRate);
  const cutoff = toRate > fromRate ? CUTOFF_UP : (CUTOFF_DOWN * toRate) / fromRate;
  const half = Math.ceil(ZERO_CROSSINGS / cutoff);
  f = { up: toRate / g, down: fromRate / g, taps: 2 * half, half, table: undefined, cutoff, copyPhase0: cutoff === 1 };
  if (f.up <= MAX_TABLE_PHASES) {
    const table = new Float64Array(f.up * f.taps);
    for (let p = 0; p < f.up; p++) computeTaps(f, p / f.up, table, p * f.taps);
    f.table = table;
  }
  filters.set(key, f);
  last = { from: fromRate, to: toRate, filter: f };
  return f;
}

/** Resample 16-bit mono PCM; the output has round(length × toRate / fromRate) samples. */
export function resample(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (!(fromRate > 0 && toRate > 0 && Number.isInteger(fromRate) && Number.isInteger(toRate))) {
    throw new Error(`resample: rates must be positive integers, got ${fromRate} → ${toRate}`);
  }
  if (fromRate === toRate) return pcm.slice();
  const n = pcm.length;
  const outLen = Math.round((n * toRate) / fromRate);
  const out = new Int16Array(outLen);
  if (n === 0) return out;
  const f = filterFor(fromRate, toRate);
  const { up, down, taps, half } = f;
  // Input padded on both sides so the inner loop needs no bounds checks. The padding is the signal mirrored
  // through its end points (2·x[end] − x[end∓k]): it continues the slope, where repeating the end sample would
  // bend every packet's edge.
  const pad = taps + Math.ceil(down / up) + 1;
  if (scratch.length < n + 2 * pad) scratch = new Float64Array(n + 2 * pad);
  const x = scratch;
  for (let i = 0; i < n; i++) x[pad + i] = pcm[i]!;
  const first = pcm[0]!;
  const last = pcm[n - 1]!;
  for (let k = 1; k <= pad; k++) {
    x[pad - k] = 2 * first - pcm[Math.min(k, n - 1)]!;
    x[pad + n - 1 + k] = 2 * last - pcm[Math.max(n - 1 - k, 0)]!;
  }
  const table = f.table;
  const coeffs = table ?? new Float64Array(taps);
  let base = 0; // input index of the output sample's position, floor(o · down / up)
  let phase = 0; // o · down mod up
  const copy0 = f.copyPhase0;
  for (let o = 0; o < outLen; o++) {
    if (copy0 && phase === 0) {
      out[o] = pcm[base]!;
      phase += down;
      while (phase >= up) {
        phase -= up;
        base++;
      }
      continue;
    }
    let c0 = phase * taps;
    if (table === undefined) {
      computeTaps(f, phase / up, coeffs, 0);
      c0 = 0;
    }
    const s0 = pad + base - half + 1;
    // Two accumulators (taps is even): shorter dependency chains, measurably faster.
    let acc = 0;
    let acc2 = 0;
    for (let k = 0; k < taps; k += 2) {
      acc += coeffs[c0 + k]! * x[s0 + k]!;
      acc2 += coeffs[c0 + k + 1]! * x[s0 + k + 1]!;
    }
    acc += acc2;
    const v = Math.round(acc);
    out[o] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    phase += down;
    while (phase >= up) {
      phase -= up;
      base++;
    }
  }
  return out;
}
