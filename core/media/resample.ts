/**
 * Sample-rate conversion for speech: a polyphase windowed-sinc (Kaiser) filter over a rational ratio.
 * Stateless, one buffer at a time (an RTP packet): past each end the filter sees the signal continued by linear
 * prediction, which keeps packet boundaries free of the clicks that zero or repeated-sample padding would cause
 * (per-packet output is within ~40 dB of resampling the whole signal at once, for voiced speech).
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

let lastFilter: { from: number; to: number; filter: Filter } | undefined;

function filterFor(fromRate: number, toRate: number): Filter {
  // A call resamples between the same two rates packet after packet: skip the map lookup then.
  if (lastFilter !== undefined && lastFilter.from === fromRate && lastFilter.to === toRate) return lastFilter.filter;
  const key = `${fromRate}>${toRate}`;
  let f = filters.get(key);
  if (f !== undefined) {
    lastFilter = { from: fromRate, to: toRate, filter: f };
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
  lastFilter = { from: fromRate, to: toRate, filter: f };
  return f;
}

/** Linear-prediction order for extending a buffer past its ends. */
const LPC_ORDER = 8;
const lpc = new Float64Array(LPC_ORDER + 1);
const lpcTmp = new Float64Array(LPC_ORDER + 1);
const autoc = new Float64Array(LPC_ORDER + 1);
/** Below this energy (sum of squares) a buffer is too quiet to predict: it is mirrored instead. */
const ENERGY_FLOOR = 1;

/** Fill x[0, pad) and x[pad + n, n + 2·pad) from the signal x[pad, pad + n). */
function extend(x: Float64Array, pad: number, n: number): void {
  const order = Math.min(LPC_ORDER, n >> 2);
  // Predict deviations from the mean: a DC offset then continues exactly, and silence is not "predicted".
  let mean = 0;
  for (let i = pad; i < pad + n; i++) mean += x[i]!;
  mean /= n;
  let ok = order >= 2;
  if (ok) {
    // Autocorrelation (slightly lag-windowed and noise-floored, for a well-conditioned, stable predictor).
    for (let k = 0; k <= order; k++) {
      let r = 0;
      for (let i = pad + k; i < pad + n; i++) r += (x[i]! - mean) * (x[i - k]! - mean);
      autoc[k] = r * (1 - 0.0002 * k * k);
    }
    autoc[0] = autoc[0]! * 1.0001;
    ok = levinson(order);
  }
  if (!ok) {
    const first = x[pad]!;
    const last = x[pad + n - 1]!;
    for (let k = 1; k <= pad; k++) {
      x[pad - k] = 2 * first - x[pad + Math.min(k, n - 1)]!;
      x[pad + n - 1 + k] = 2 * last - x[pad + Math.max(n - 1 - k, 0)]!;
    }
    return;
  }
  // Forward past the end; backward before the start (the autocorrelation predictor is the same both ways).
  for (let i = pad + n; i < n + 2 * pad; i++) {
    let v = 0;
    for (let j = 1; j <= order; j++) v -= lpc[j]! * (x[i - j]! - mean);
    x[i] = v + mean;
  }
  for (let i = pad - 1; i >= 0; i--) {
    let v = 0;
    for (let j = 1; j <= order; j++) v -= lpc[j]! * (x[i + j]! - mean);
    x[i] = v + mean;
  }
}

/** Levinson–Durbin on autoc[0..order] into lpc[0..order]; false when the signal is silent or degenerate. */
function levinson(order: number): boolean {
  let err = autoc[0]!;
  if (!(err > ENERGY_FLOOR)) return false;
  lpc.fill(0);
  lpc[0] = 1;
  for (let m = 1; m <= order; m++) {
    let acc = autoc[m]!;
    for (let j = 1; j < m; j++) acc += lpc[j]! * autoc[m - j]!;
    const k = -acc / err;
    if (!(Math.abs(k) < 1)) return false;
    lpcTmp.set(lpc);
    for (let j = 1; j < m; j++) lpc[j] = lpcTmp[j]! + k * lpcTmp[m - j]!;
    lpc[m] = k;
    err *= 1 - k * k;
  }
  return true;
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
  // Input padded on both sides so the inner loop needs no bounds checks. The padding continues the signal by
  // linear prediction (what speech codecs model it with): a packet's edges then look to the filter much like
  // the neighbouring packets it cannot see. Too short a buffer is mirrored through its end points instead.
  const pad = taps + Math.ceil(down / up) + 1;
  if (scratch.length < n + 2 * pad) scratch = new Float64Array(n + 2 * pad);
  const x = scratch;
  for (let i = 0; i < n; i++) x[pad + i] = pcm[i]!;
  extend(x, pad, n);
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
    let acc = 0;
    for (let k = 0; k < taps; k++) acc += coeffs[c0 + k]! * x[s0 + k]!;
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
