/**
 * ITU-T G.711 (11/88) µ-law and A-law companding, RTP payload formats PCMU and PCMA (RFC 3551 §4.5.14).
 *
 * The conversions follow the Sun Microsystems public-domain reference (g711.c), which is what sox
 * (libsox g711.c) and Wireshark/tshark (G.711 decoder) use, so our output is sample-exact with theirs (but for the
 * µ-law negative zero, see ULAW_TABLE). Shared by the G.711 codec plugin, the generator and storage (G.711 WAV).
 * µ-law works on a 14-bit magnitude (input >> 2), A-law on a 13-bit one (input >> 3).
 */

/** RFC 3551 static payload type of PCMU (µ-law). */
export const PCMU_PAYLOAD_TYPE = 0;
/** RFC 3551 static payload type of PCMA (A-law). */
export const PCMA_PAYLOAD_TYPE = 8;
/** Both are 8 kHz, one byte per sample (RFC 3551 §4.5.14). */
export const G711_SAMPLE_RATE = 8000;

const SIGN_BIT = 0x80;
const QUANT_MASK = 0x0f;
const SEG_SHIFT = 4;
const SEG_MASK = 0x70;
const ULAW_BIAS = 0x84;
const ULAW_CLIP = 8159; // largest 14-bit magnitude before the bias is added

// Segment end points of the reference implementation (scaled magnitudes).
const SEG_AEND = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff] as const;
const SEG_UEND = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff] as const;

function segment(val: number, table: readonly number[]): number {
  for (let i = 0; i < table.length; i++) if (val <= (table[i] as number)) return i;
  return table.length;
}

/** Coerces to the int16 range the reference takes as `short` (saturating, not wrapping). */
function toInt16(s: number): number {
  const v = Math.trunc(s);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v | 0;
}

/** µ-law byte → linear 16-bit sample (range ±32124). */
export function ulawToLinear(b: number): number {
  const u = ~b & 0xff;
  const t = (((u & QUANT_MASK) << 3) + ULAW_BIAS) << ((u & SEG_MASK) >> SEG_SHIFT);
  return u & SIGN_BIT ? ULAW_BIAS - t : t - ULAW_BIAS;
}

/** A-law byte → linear 16-bit sample (range ±32256). */
export function alawToLinear(b: number): number {
  const a = (b ^ 0x55) & 0xff;
  let t = (a & QUANT_MASK) << 4;
  const seg = (a & SEG_MASK) >> SEG_SHIFT;
  if (seg === 0) t += 8;
  else t = (t + 0x108) << (seg - 1);
  return a & SIGN_BIT ? t : -t;
}

/** Linear 16-bit sample → µ-law byte. */
export function linearToUlaw(s: number): number {
  let pcm = toInt16(s) >> 2;
  let mask: number;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  } else {
    mask = 0xff;
  }
  if (pcm > ULAW_CLIP) pcm = ULAW_CLIP;
  pcm += ULAW_BIAS >> 2;
  const seg = segment(pcm, SEG_UEND);
  if (seg >= 8) return 0x7f ^ mask; // unreachable after clipping; kept from the reference
  return ((seg << 4) | ((pcm >> (seg + 1)) & 0xf)) ^ mask;
}

/** Linear 16-bit sample → A-law byte. */
export function linearToAlaw(s: number): number {
  let pcm = toInt16(s) >> 3;
  let mask: number;
  if (pcm >= 0) {
    mask = 0xd5; // sign bit set, even bits inverted
  } else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const seg = segment(pcm, SEG_AEND);
  if (seg >= 8) return 0x7f ^ mask;
  const aval = (seg << SEG_SHIFT) | ((seg < 2 ? pcm >> 1 : pcm >> seg) & QUANT_MASK);
  return aval ^ mask;
}

function buildDecodeTable(f: (b: number) => number): Int16Array {
  const t = new Int16Array(256);
  for (let b = 0; b < 256; b++) t[b] = f(b);
  return t;
}

/** µ-law's negative zero: the reference decodes it and 0xFF (positive zero) both to 0. */
export const ULAW_NEGATIVE_ZERO = 0x7f;

/**
 * Decode tables indexed by code byte: the reference values, except that the µ-law negative zero decodes to -1
 * (one LSB from the reference's 0). Every code then has a value of its own, so storage can write the received
 * bytes back exactly (encodeG711Exact): real encoders (baresip's among them) send 0x7F in quiet passages.
 */
export const ULAW_TABLE: Int16Array = buildDecodeTable((b) => (b === ULAW_NEGATIVE_ZERO ? -1 : ulawToLinear(b)));
export const ALAW_TABLE: Int16Array = buildDecodeTable(alawToLinear);

// 64 KiB encode tables indexed by (sample & 0xffff), built on first encode so decoding-only users never pay.
let ulawEncodeTable: Uint8Array | undefined;
let alawEncodeTable: Uint8Array | undefined;

function buildEncodeTable(f: (s: number) => number): Uint8Array {
  const t = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f((i << 16) >> 16);
  return t;
}

function decodeWith(table: Int16Array, buf: Uint8Array, out?: Int16Array): Int16Array {
  let dst: Int16Array;
  if (out === undefined) dst = new Int16Array(buf.length);
  else if (out.length < buf.length) throw new RangeError(`G.711 decode: output holds ${out.length} samples, input has ${buf.length}`);
  else dst = out.length === buf.length ? out : out.subarray(0, buf.length);
  for (let i = 0; i < buf.length; i++) dst[i] = table[buf[i] as number] as number;
  return dst;
}

function encodeWith(table: Uint8Array, pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = table[(pcm[i] as number) & 0xffff] as number;
  return out;
}

/** µ-law bytes → PCM. With `out`, writes into it (it must hold buf.length samples) and returns the used view. */
export function decodeUlaw(buf: Uint8Array, out?: Int16Array): Int16Array {
  return decodeWith(ULAW_TABLE, buf, out);
}

/** A-law bytes → PCM. With `out`, writes into it (it must hold buf.length samples) and returns the used view. */
export function decodeAlaw(buf: Uint8Array, out?: Int16Array): Int16Array {
  return decodeWith(ALAW_TABLE, buf, out);
}

export function encodeUlaw(pcm: Int16Array): Buffer {
  ulawEncodeTable ??= buildEncodeTable(linearToUlaw);
  return encodeWith(ulawEncodeTable, pcm);
}

/**
 * The exact inverse of the decode tables: a decoded G.711 sample goes back to the byte it came from (for the µ-law
 * negative zero too; -1 from any other source becomes it, the nearest code); any other value encodes as the
 * reference does. A-law's reference encoder is already the exact inverse.
 */
export function encodeG711Exact(law: 'ulaw' | 'alaw', pcm: Int16Array): Buffer {
  if (law === 'alaw') return encodeAlaw(pcm);
  if (ulawExactTable === undefined) {
    ulawExactTable = buildEncodeTable(linearToUlaw);
    ulawExactTable[-1 & 0xffff] = ULAW_NEGATIVE_ZERO;
  }
  return encodeWith(ulawExactTable, pcm);
}
let ulawExactTable: Uint8Array | undefined;

export function encodeAlaw(pcm: Int16Array): Buffer {
  alawEncodeTable ??= buildEncodeTable(linearToAlaw);
  return encodeWith(alawEncodeTable, pcm);
}
