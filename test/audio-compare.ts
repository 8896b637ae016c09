/**
 * Comparing a recorded channel with the audio a peer actually played: alignment by FFT cross-correlation, then the
 * normalised correlation coefficient over the part of the source that holds speech. Plain arrays, no dependencies.
 *
 * Conventions: `lag` is where source sample 0 sits in the recording, i.e. recorded[i + lag] ≈ source[i].
 */

/** One channel of interleaved 16-bit PCM as floats. */
export function channel(samples: Int16Array, channels: number, index: number): Float64Array {
  if (!(index >= 0 && index < channels)) throw new Error(`channel ${index} of ${channels}`);
  const n = Math.floor(samples.length / channels);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = samples[i * channels + index] ?? 0;
  return out;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** In-place iterative radix-2 FFT (length a power of two); `inverse` divides by N. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (im.length !== n || (n & (n - 1)) !== 0) throw new Error(`fft: length ${n} / ${im.length} must be one power of two`);
  // Bit-reversal permutation.
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i]!;
      re[i] = re[j]!;
      re[j] = tr;
      const ti = im[i]!;
      im[i] = im[j]!;
      im[j] = ti;
    }
  }
  const sign = inverse ? 1 : -1;
  for (let len = 2; len <= n; len *= 2) {
    const half = len / 2;
    const ang = (sign * 2 * Math.PI) / len;
    // Twiddles for this stage, computed directly (no accumulated rounding from repeated multiplication).
    const wr = new Float64Array(half);
    const wi = new Float64Array(half);
    for (let k = 0; k < half; k++) {
      wr[k] = Math.cos(ang * k);
      wi[k] = Math.sin(ang * k);
    }
    for (let s = 0; s < n; s += len) {
      for (let k = 0; k < half; k++) {
        const a = s + k;
        const b = a + half;
        const xr = re[b]! * wr[k]! - im[b]! * wi[k]!;
        const xi = re[b]! * wi[k]! + im[b]! * wr[k]!;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! / n;
      im[i] = im[i]! / n;
    }
  }
}

/**
 * Full cross-correlation c(lag) = Σ recorded[i + lag] · source[i] for every lag from -(source.length - 1) to
 * recorded.length - 1, by FFT. Returns the values and the lag of index 0.
 */
export function crossCorrelation(recorded: Float64Array, source: Float64Array): { values: Float64Array; firstLag: number } {
  const n = nextPow2(recorded.length + source.length - 1);
  const ar = new Float64Array(n);
  const ai = new Float64Array(n);
  const br = new Float64Array(n);
  const bi = new Float64Array(n);
  ar.set(recorded);
  br.set(source);
  fft(ar, ai);
  fft(br, bi);
  // X · conj(Y)
  for (let k = 0; k < n; k++) {
    const r = ar[k]! * br[k]! + ai[k]! * bi[k]!;
    const i = ai[k]! * br[k]! - ar[k]! * bi[k]!;
    ar[k] = r;
    ai[k] = i;
  }
  fft(ar, ai, true);
  const firstLag = -(source.length - 1);
  const values = new Float64Array(recorded.length + source.length - 1);
  for (let j = 0; j < values.length; j++) {
    const lag = firstLag + j;
    values[j] = ar[lag >= 0 ? lag : n + lag]!;
  }
  return { values, firstLag };
}

/**
 * Samples of `source` that hold speech: 20 ms frames whose RMS is within `floorDb` of the loudest frame, widened by
 * one frame each side (so word onsets and tails count). Padding silence and pauses fall out.
 */
export function speechMask(source: Float64Array, sampleRate: number, opts: { frameMs?: number; floorDb?: number } = {}): Uint8Array {
  const frame = Math.max(1, Math.round(((opts.frameMs ?? 20) * sampleRate) / 1000));
  const floorDb = opts.floorDb ?? -40;
  const frames = Math.ceil(source.length / frame);
  const rms = new Float64Array(frames);
  let peak = 0;
  for (let f = 0; f < frames; f++) {
    let s = 0;
    const end = Math.min(source.length, (f + 1) * frame);
    for (let i = f * frame; i < end; i++) s += source[i]! * source[i]!;
    rms[f] = Math.sqrt(s / Math.max(1, end - f * frame));
    peak = Math.max(peak, rms[f]!);
  }
  const floor = peak * 10 ** (floorDb / 20);
  const mask = new Uint8Array(source.length);
  for (let f = 0; f < frames; f++) {
    const active = rms[f]! > floor && rms[f]! > 0;
    if (!active) continue;
    const from = Math.max(0, (f - 1) * frame);
    const to = Math.min(source.length, (f + 2) * frame);
    mask.fill(1, from, to);
  }
  return mask;
}

export interface Correlation {
  /** Pearson coefficient of recorded[i + lag] and source[i] over the compared samples (0 when nothing to compare). */
  r: number;
  /** How many samples were compared. */
  samples: number;
}

/** Recorded samples [from, to) to compare; the rest of the recording is ignored. */
export interface Span {
  from: number;
  to: number;
}

/**
 * From the first to the last non-zero sample: where a stream is present in a recorded channel. The recorder writes
 * exact zeros where nothing arrived, so the zeros before a side's first packet and after its last one (the other
 * side started earlier or hung up later) are not part of that side's audio. Gaps inside the span still count.
 */
export function activeSpan(x: Float64Array): Span {
  let from = 0;
  while (from < x.length && x[from] === 0) from++;
  let to = x.length;
  while (to > from && x[to - 1] === 0) to--;
  return { from, to };
}

/**
 * Normalised correlation coefficient at one lag, over the overlap (within `span` of the recording, when given)
 * where `mask` (indexed like source) is set.
 */
export function correlationAt(recorded: Float64Array, source: Float64Array, lag: number, mask?: Uint8Array, span?: Span): Correlation {
  const from = Math.max(0, -lag, (span?.from ?? 0) - lag);
  const to = Math.min(source.length, recorded.length - lag, (span?.to ?? recorded.length) - lag);
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let i = from; i < to; i++) {
    if (mask !== undefined && mask[i] !== 1) continue;
    n++;
    sx += recorded[i + lag]!;
    sy += source[i]!;
  }
  if (n < 2) return { r: 0, samples: n };
  const mx = sx / n;
  const my = sy / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = from; i < to; i++) {
    if (mask !== undefined && mask[i] !== 1) continue;
    const x = recorded[i + lag]! - mx;
    const y = source[i]! - my;
    sxy += x * y;
    sxx += x * x;
    syy += y * y;
  }
  const den = Math.sqrt(sxx * syy);
  return { r: den > 0 ? sxy / den : 0, samples: n };
}

export interface Alignment extends Correlation {
  /** recorded[i + lag] ≈ source[i]. */
  lag: number;
  /** Share of the source's speech (mask) that the recording overlaps at this lag. */
  speechCovered: number;
}

/**
 * Finds the lag with the largest cross-correlation (optionally within [minLag, maxLag]) and the normalised
 * coefficient there, over the source's speech and (when given) the recording's `span`.
 */
export function align(recorded: Float64Array, source: Float64Array, sampleRate: number, opts: { minLag?: number; maxLag?: number; mask?: Uint8Array; span?: Span } = {}): Alignment {
  const mask = opts.mask ?? speechMask(source, sampleRate);
  const { values, firstLag } = crossCorrelation(recorded, source);
  const lo = Math.max(firstLag, opts.minLag ?? firstLag);
  const hi = Math.min(firstLag + values.length - 1, opts.maxLag ?? Number.POSITIVE_INFINITY);
  let best = lo;
  let bestV = Number.NEGATIVE_INFINITY;
  for (let lag = lo; lag <= hi; lag++) {
    const v = values[lag - firstLag]!;
    if (v > bestV) {
      bestV = v;
      best = lag;
    }
  }
  const c = correlationAt(recorded, source, best, mask, opts.span);
  let speech = 0;
  for (let i = 0; i < mask.length; i++) speech += mask[i]!;
  return { lag: best, ...c, speechCovered: speech > 0 ? c.samples / speech : 0 };
}

export interface Segment {
  /** Source samples [from, to). */
  from: number;
  to: number;
  /** Best local lag (within ±search of the global one) and the coefficient there, over the segment's speech. */
  lag: number;
  r: number;
  samples: number;
}

/**
 * Diagnostics for a poor overall match: per window of the source, the local best lag near `lag` and its
 * coefficient. A constant lag with low r means distortion (resampling, wrong codec); jumps mean timeline gaps or
 * dropped frames. Only windows with speech are reported.
 */
export function segmentLags(recorded: Float64Array, source: Float64Array, lag: number, opts: { window: number; search: number; mask: Uint8Array; span?: Span }): Segment[] {
  const out: Segment[] = [];
  for (let from = 0; from < source.length; from += opts.window) {
    const to = Math.min(source.length, from + opts.window);
    let speech = 0;
    for (let i = from; i < to; i++) speech += opts.mask[i]!;
    if (speech < opts.window / 4) continue;
    const seg = source.subarray(from, to);
    const segMask = opts.mask.subarray(from, to);
    let best: Segment | undefined;
    for (let d = -opts.search; d <= opts.search; d++) {
      // The segment starts at `from` in the source, so in the recording it sits at from + lag + d.
      const c = correlationAt(recorded, seg, from + lag + d, segMask, opts.span);
      if (c.samples === 0) continue;
      if (best === undefined || c.r > best.r) best = { from, to, lag: lag + d, r: c.r, samples: c.samples };
    }
    if (best !== undefined) out.push(best);
  }
  return out;
}
