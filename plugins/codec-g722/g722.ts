/**
 * ITU-T G.722 (11/88) SB-ADPCM decoder, 64 kbit/s mode (mode 1: 6 low-band bits + 2 high-band bits per octet),
 * 16 kHz output.
 *
 * A faithful TypeScript port of the G.722 decoder in spandsp (g722.c, Steve Underwood, 2005), the version
 * FreeSWITCH and Asterisk (codecs/g722/) ship. Its header reads: "Based on a single channel 64kbps only G.722
 * codec which is: Copyright (c) CMU 1993 Computer Science, Speech Group, Chengxiang Lu and Alex Hauptmann",
 * and the code "is placed in the public domain" (Asterisk's copy carries the same notice). Block names (INVQBL,
 * LOGSCL, UPPOL2...) are those of G.722 §3 and §6. Only the 64 kbit/s, non-packed, non-test-mode path is kept:
 * that is what RTP carries (RFC 3551 §4.5.2: one octet per two 16 kHz samples, RTP clock 8000).
 *
 * Checked against ffmpeg's independent decoder (libavcodec/g722dec.c) in g722.test.ts.
 */

/** RFC 3551 §4.5.2 / Table 4: the static payload type of G722/8000. */
export const G722_PAYLOAD_TYPE = 9;
/** G.722 audio is sampled at 16 kHz; the RTP clock is 8000 for historical reasons (RFC 3551 §4.5.2). */
export const G722_SAMPLE_RATE = 16000;
export const G722_RTP_CLOCK = 8000;

// Quantiser and adaptation tables (G.722 Tables 6-9, 11-14, 17). Names follow spandsp.
const WL = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42 = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const ILB = [
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444,
  3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
const WH = [0, -214, 798];
const RH2 = [2, 1, 2, 1];
const QM2 = [-7408, -1616, 7408, 1616];
const QM4 = [0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0];
const QM6 = [
  -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944,
  -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576,
  7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/** Receive QMF coefficients (G.722 Table 11), one half of the symmetric 24-tap filter. */
const QMF_COEFFS = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

function saturate(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

/** The adaptive predictor and scale factor of one sub-band (spandsp's g722_band_t). */
class Band {
  s = 0;
  sp = 0;
  sz = 0;
  readonly r = new Int32Array(3);
  readonly a = new Int32Array(3);
  readonly ap = new Int32Array(3);
  readonly p = new Int32Array(3);
  readonly d = new Int32Array(7);
  readonly b = new Int32Array(7);
  readonly bp = new Int32Array(7);
  readonly sg = new Int32Array(7);
  nb = 0;
  det = 0;

  constructor(private readonly initialDet: number) {
    this.det = initialDet;
  }

  reset(): void {
    this.s = this.sp = this.sz = this.nb = 0;
    for (const arr of [this.r, this.a, this.ap, this.p, this.d, this.b, this.bp, this.sg]) arr.fill(0);
    this.det = this.initialDet;
  }

  /** Block 4: reconstruction, pole/zero predictor adaptation and the next prediction (G.722 §6.2.1.4 ff.). */
  update(d: number): void {
    const { r, a, ap, p, b, bp, sg } = this;
    const dd = this.d;
    // RECONS, PARREC
    dd[0] = d;
    r[0] = saturate(this.s + d);
    p[0] = saturate(this.sz + d);

    // UPPOL2
    for (let i = 0; i < 3; i++) sg[i] = (p[i] as number) >> 15;
    let wd1 = saturate((a[1] as number) << 2);
    let wd2 = sg[0] === sg[1] ? -wd1 : wd1;
    if (wd2 > 32767) wd2 = 32767;
    let wd3 = sg[0] === sg[2] ? 128 : -128;
    wd3 += wd2 >> 7;
    wd3 += ((a[2] as number) * 32512) >> 15;
    if (wd3 > 12288) wd3 = 12288;
    else if (wd3 < -12288) wd3 = -12288;
    ap[2] = wd3;

    // UPPOL1
    sg[0] = (p[0] as number) >> 15;
    sg[1] = (p[1] as number) >> 15;
    wd1 = sg[0] === sg[1] ? 192 : -192;
    wd2 = ((a[1] as number) * 32640) >> 15;
    ap[1] = saturate(wd1 + wd2);
    wd3 = saturate(15360 - (ap[2] as number));
    if ((ap[1] as number) > wd3) ap[1] = wd3;
    else if ((ap[1] as number) < -wd3) ap[1] = -wd3;

    // UPZERO
    wd1 = d === 0 ? 0 : 128;
    sg[0] = d >> 15;
    for (let i = 1; i < 7; i++) {
      sg[i] = (dd[i] as number) >> 15;
      wd2 = sg[i] === sg[0] ? wd1 : -wd1;
      wd3 = ((b[i] as number) * 32640) >> 15;
      bp[i] = saturate(wd2 + wd3);
    }

    // DELAYA
    for (let i = 6; i > 0; i--) {
      dd[i] = dd[i - 1] as number;
      b[i] = bp[i] as number;
    }
    for (let i = 2; i > 0; i--) {
      r[i] = r[i - 1] as number;
      p[i] = p[i - 1] as number;
      a[i] = ap[i] as number;
    }

    // FILTEP
    wd1 = saturate((r[1] as number) + (r[1] as number));
    wd1 = ((a[1] as number) * wd1) >> 15;
    wd2 = saturate((r[2] as number) + (r[2] as number));
    wd2 = ((a[2] as number) * wd2) >> 15;
    this.sp = saturate(wd1 + wd2);

    // FILTEZ
    let sz = 0;
    for (let i = 6; i > 0; i--) {
      wd1 = saturate((dd[i] as number) + (dd[i] as number));
      sz += ((b[i] as number) * wd1) >> 15;
    }
    this.sz = saturate(sz);

    // PREDIC
    this.s = saturate(this.sp + this.sz);
  }
}

/** One G.722 decoder state: feed it a channel's octets in order. */
export class G722Decoder {
  private readonly low = new Band(32);
  private readonly high = new Band(8);
  /** Receive QMF delay line. */
  private readonly x = new Int32Array(24);

  /** Back to the initial state (G.722 §6.2.1.1 reset). */
  reset(): void {
    this.low.reset();
    this.high.reset();
    this.x.fill(0);
  }

  /**
   * Decodes `len` octets of `data` from `start` (two 16 kHz samples each) into `out` from `outOffset`;
   * returns the number of samples written (2 × len).
   */
  decodeInto(data: Uint8Array, start: number, len: number, out: Int16Array, outOffset = 0): number {
    const low = this.low;
    const high = this.high;
    const x = this.x;
    let o = outOffset;
    const end = start + len;
    for (let j = start; j < end; j++) {
      const code = data[j] as number;
      let wd1 = code & 0x3f;
      const ihigh = (code >> 6) & 0x03;
      let wd2 = QM6[wd1] as number;
      wd1 >>= 2;

      // Block 5L, LOW BAND INVQBL
      wd2 = (low.det * wd2) >> 15;
      // Block 5L, RECONS
      let rlow = low.s + wd2;
      // Block 6L, LIMIT
      if (rlow > 16383) rlow = 16383;
      else if (rlow < -16384) rlow = -16384;

      // Block 2L, INVQAL
      wd2 = QM4[wd1] as number;
      const dlowt = (low.det * wd2) >> 15;

      // Block 3L, LOGSCL
      wd2 = RL42[wd1] as number;
      wd1 = (low.nb * 127) >> 7;
      wd1 += WL[wd2] as number;
      if (wd1 < 0) wd1 = 0;
      else if (wd1 > 18432) wd1 = 18432;
      low.nb = wd1;

      // Block 3L, SCALEL
      wd1 = (low.nb >> 6) & 31;
      wd2 = 8 - (low.nb >> 11);
      let wd3 = wd2 < 0 ? (ILB[wd1] as number) << -wd2 : (ILB[wd1] as number) >> wd2;
      low.det = wd3 << 2;

      low.update(dlowt);

      // Block 2H, INVQAH
      wd2 = QM2[ihigh] as number;
      const dhigh = (high.det * wd2) >> 15;
      // Block 5H, RECONS
      let rhigh = dhigh + high.s;
      // Block 6H, LIMIT
      if (rhigh > 16383) rhigh = 16383;
      else if (rhigh < -16384) rhigh = -16384;

      // Block 2H, INVQAH (log scale factor adaptation)
      wd2 = RH2[ihigh] as number;
      wd1 = (high.nb * 127) >> 7;
      wd1 += WH[wd2] as number;
      if (wd1 < 0) wd1 = 0;
      else if (wd1 > 22528) wd1 = 22528;
      high.nb = wd1;

      // Block 3H, SCALEH
      wd1 = (high.nb >> 6) & 31;
      wd2 = 10 - (high.nb >> 11);
      wd3 = wd2 < 0 ? (ILB[wd1] as number) << -wd2 : (ILB[wd1] as number) >> wd2;
      high.det = wd3 << 2;

      high.update(dhigh);

      // Receive QMF
      for (let i = 0; i < 22; i++) x[i] = x[i + 2] as number;
      x[22] = rlow + rhigh;
      x[23] = rlow - rhigh;
      let xout1 = 0;
      let xout2 = 0;
      for (let i = 0; i < 12; i++) {
        xout2 += (x[2 * i] as number) * (QMF_COEFFS[i] as number);
        xout1 += (x[2 * i + 1] as number) * (QMF_COEFFS[11 - i] as number);
      }
      out[o++] = saturate(xout1 >> 11);
      out[o++] = saturate(xout2 >> 11);
    }
    return o - outOffset;
  }

  /** Decodes a whole buffer to a fresh array of 2 × data.length samples. */
  decode(data: Uint8Array): Int16Array {
    const out = new Int16Array(data.length * 2);
    this.decodeInto(data, 0, data.length, out, 0);
    return out;
  }
}
