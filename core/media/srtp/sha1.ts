/**
 * SHA-1 compression (FIPS 180-4 §6.1) in JS, for HMAC-SHA1 resumed from precomputed pad states.
 *
 * Why not node:crypto alone: an SRTP packet's HMAC is two SHA-1 computations of 2-4 blocks, and the native
 * one-shot path costs ~1.2 µs a call here (two calls, plus copying the packet behind the pad block), about as much
 * as the whole rest of the recording path. node:crypto cannot resume a hash from a saved state without creating a
 * Hash object, so the pad blocks would be hashed again for every packet. Resuming from the K⊕ipad / K⊕opad
 * midstates, a packet costs 3-4 compressions in JS and no allocation. Checked against node:crypto in sha1.test.ts.
 */

const W = new Int32Array(16);
/** One 64-byte block, for the message tail, the ROC, padding and the length. */
const TAIL = new Uint8Array(128);

/** A SHA-1 chaining state: five 32-bit words. */
export type Sha1State = Int32Array;

export const SHA1_IV: readonly number[] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

/** Compresses the 64-byte block at `bytes[off]` into `h` (in place). */
export function compress(h: Sha1State, bytes: Uint8Array, off: number): void {
  const w = W;
  for (let i = 0; i < 16; i++, off += 4) w[i] = (bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!;
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  // Four loops of 20 rounds (no per-round branch on the round function); the message schedule lives in a
  // 16-word ring, expanded as the rounds need it.
  let i = 0;
  for (; i < 16; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 20; i++) {
    const x = w[(i + 13) & 15]! ^ w[(i + 8) & 15]! ^ w[(i + 2) & 15]! ^ w[i & 15]!;
    const wi = (x << 1) | (x >>> 31);
    w[i & 15] = wi;
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + wi) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 40; i++) {
    const x = w[(i + 13) & 15]! ^ w[(i + 8) & 15]! ^ w[(i + 2) & 15]! ^ w[i & 15]!;
    const wi = (x << 1) | (x >>> 31);
    w[i & 15] = wi;
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + wi) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 60; i++) {
    const x = w[(i + 13) & 15]! ^ w[(i + 8) & 15]! ^ w[(i + 2) & 15]! ^ w[i & 15]!;
    const wi = (x << 1) | (x >>> 31);
    w[i & 15] = wi;
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + 0x8f1bbcdc + wi) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 80; i++) {
    const x = w[(i + 13) & 15]! ^ w[(i + 8) & 15]! ^ w[(i + 2) & 15]! ^ w[i & 15]!;
    const wi = (x << 1) | (x >>> 31);
    w[i & 15] = wi;
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0xca62c1d6 + wi) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

/** The state after one 64-byte block (an HMAC pad block) from the initial value. */
export function midstate(block: Uint8Array): Sha1State {
  const h = Int32Array.from(SHA1_IV);
  compress(h, block, 0);
  return h;
}

/**
 * Finishes a SHA-1 that already absorbed `prefixBytes` (a multiple of 64) into `h`: absorbs data[start, end), then
 * `extra` (the 32-bit ROC when given), pads, and leaves the digest words in `h`.
 */
export function finish(h: Sha1State, prefixBytes: number, data: Uint8Array, start: number, end: number, extra?: number): void {
  let o = start;
  while (end - o >= 64) {
    compress(h, data, o);
    o += 64;
  }
  const rest = end - o;
  const t = TAIL;
  for (let i = 0; i < rest; i++) t[i] = data[o + i]!;
  let n = rest;
  if (extra !== undefined) {
    t[n++] = extra >>> 24;
    t[n++] = (extra >>> 16) & 0xff;
    t[n++] = (extra >>> 8) & 0xff;
    t[n++] = extra & 0xff;
  }
  const totalBits = (prefixBytes + (end - start) + (extra !== undefined ? 4 : 0)) * 8;
  t[n++] = 0x80;
  const blocks = n + 8 > 64 ? 2 : 1;
  const lenAt = blocks * 64 - 8;
  for (let i = n; i < lenAt; i++) t[i] = 0;
  // Message length in bits, big-endian 64-bit (packets are far below 2^32 bits).
  const hi = Math.floor(totalBits / 0x100000000);
  t[lenAt] = hi >>> 24;
  t[lenAt + 1] = (hi >>> 16) & 0xff;
  t[lenAt + 2] = (hi >>> 8) & 0xff;
  t[lenAt + 3] = hi & 0xff;
  t[lenAt + 4] = totalBits >>> 24;
  t[lenAt + 5] = (totalBits >>> 16) & 0xff;
  t[lenAt + 6] = (totalBits >>> 8) & 0xff;
  t[lenAt + 7] = totalBits & 0xff;
  compress(h, t, 0);
  if (blocks === 2) compress(h, t, 64);
}

/** The digest words of `h` as 20 bytes into `out` at `off`. */
export function digestInto(h: Sha1State, out: Uint8Array, off: number): void {
  for (let i = 0; i < 5; i++) {
    const v = h[i]!;
    out[off + 4 * i] = v >>> 24;
    out[off + 4 * i + 1] = (v >>> 16) & 0xff;
    out[off + 4 * i + 2] = (v >>> 8) & 0xff;
    out[off + 4 * i + 3] = v & 0xff;
  }
}
