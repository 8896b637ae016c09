/** Normalised correlation of 16-bit PCM at a lag, and the lag that maximises it (codec round-trip tests). */

/** Correlation of a against b shifted by lag (a[i] ~ b[i + lag]) over their overlap; only where mask[i] === 1 if given. */
export function pcmCorrelation(a: Int16Array, b: Int16Array, lag: number, mask?: Uint8Array): number {
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  const from = Math.max(0, -lag);
  const to = Math.min(a.length, b.length - lag);
  for (let i = from; i < to; i++) {
    if (mask !== undefined && mask[i] !== 1) continue;
    const x = a[i] as number;
    const y = b[i + lag] as number;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}

/** The lag in [-maxLag, maxLag] with the highest correlation. */
export function bestLag(a: Int16Array, b: Int16Array, maxLag: number): { lag: number; corr: number } {
  let best = { lag: 0, corr: -2 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    const c = pcmCorrelation(a, b, lag);
    if (c > best.corr) best = { lag, corr: c };
  }
  return best;
}

/** One channel of interleaved 16-bit PCM (e.g. a recording's stereo WAV: 0 caller, 1 callee), as 16-bit PCM. */
export function channelOf(samples: Int16Array, channels: number, index: number): Int16Array {
  const n = Math.floor(samples.length / channels);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = samples[i * channels + index] as number;
  return out;
}
