/**
 * HMAC-SHA1 message authentication for SRTP/SRTCP (RFC 3711 §4.2.1, RFC 2104).
 *
 * HMAC(K, m) = SHA1((K ⊕ opad) || SHA1((K ⊕ ipad) || m)). The padded key blocks are computed once. Per packet:
 * - 'js' (the default): SHA-1 resumed from the two pad midstates in JS (sha1.ts): 3-4 compressions, no native
 *   call, no allocation; in the recording path this is ~3x cheaper than the native calls below;
 * - 'crypto.hash' (Node ≥ 20.12): two one-shot native hashes over scratch buffers that already hold the pad blocks;
 * - 'Hash.copy': the hash states after the pad blocks cloned with Hash.copy() (shared/docs/dependencies.md).
 * Measured here for a 182-byte packet: one-shot ≈ 370k HMAC/s, Hash.copy() ≈ 235-280k, createHmac ≈ 290k.
 */
import * as crypto from 'node:crypto';
import { compress, digestInto, finish, finishInPlace, midstate, viewOf, type Sha1State } from './sha1';

const SHA1_BLOCK = 64;
const SHA1_LEN = 20;

type OneShot = (algorithm: string, data: Buffer, outputEncoding: 'buffer') => Buffer;

/** crypto.hash when this Node has it and it returns a Buffer for 'buffer' (checked once). */
const oneShot: OneShot | undefined = (() => {
  const h = (crypto as { hash?: OneShot }).hash;
  if (typeof h !== 'function') return undefined;
  try {
    const d = h('sha1', Buffer.from('abc'), 'buffer');
    return Buffer.isBuffer(d) && d.toString('hex') === 'a9993e364706816aba3e25717850c26c9cd0d89d' ? h : undefined;
  } catch {
    return undefined;
  }
})();

/** Digest words of the HMAC being computed (JS path; one HMAC at a time, so shared by every key). */
const ST = new Int32Array(5);

/** The first tagLength bytes of the digest words `w` equal tag[tagStart...]; constant time. */
function tagMatches(w: Int32Array, tag: Buffer, tagStart: number, tagLength: number): boolean {
  let diff = 0;
  for (let i = 0; i < tagLength; i++) diff |= ((w[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff) ^ (tag[tagStart + i] as number);
  return diff === 0;
}

/** 64 bytes: room for a 20-byte digest, then 0x80, zeros and the bit length of opad block + digest (672). */
function outerPaddedBlock(): Uint8Array {
  const b = new Uint8Array(SHA1_BLOCK);
  b[SHA1_LEN] = 0x80;
  const bits = (SHA1_BLOCK + SHA1_LEN) * 8;
  b[SHA1_BLOCK - 2] = bits >>> 8;
  b[SHA1_BLOCK - 1] = bits & 0xff;
  return b;
}

/** The outer hash's only block after the opad midstate (shared: rewritten for every HMAC). */
const OUTER_VIEW = viewOf(outerPaddedBlock());

export class HmacSha1 {
  /** K ⊕ ipad, then room for the message (one-shot path). */
  private inner: Buffer;
  /** K ⊕ opad, then the inner digest (one-shot path). */
  private readonly outer: Buffer;
  /** Hash.copy path only (a recorder holds a context per key: no native hash objects it does not use). */
  private readonly innerState: crypto.Hash | undefined;
  private readonly outerState: crypto.Hash | undefined;
  private readonly fast: OneShot | undefined;
  private readonly js: boolean;
  /** The K⊕ipad and K⊕opad midstates as plain fields: copied into ST per HMAC without a TypedArray.set call. */
  private readonly i0: number;
  private readonly i1: number;
  private readonly i2: number;
  private readonly i3: number;
  private readonly i4: number;
  private readonly o0: number;
  private readonly o1: number;
  private readonly o2: number;
  private readonly o3: number;
  private readonly o4: number;

  /** `path` picks the implementation (tests compare them); 'auto' is the fastest: 'js'. */
  constructor(key: Buffer, path: 'auto' | 'js' | 'crypto.hash' | 'Hash.copy' = 'auto') {
    this.js = path === 'auto' || path === 'js';
    this.fast = path === 'crypto.hash' || path === 'auto' ? oneShot : undefined;
    // RFC 2104: keys longer than the block are hashed first (SRTP's are 20 bytes, so never in practice).
    const k = key.length > SHA1_BLOCK ? crypto.createHash('sha1').update(key).digest() : key;
    // The one-shot path appends the message here (it grows on demand); the JS path needs the pad block only.
    this.inner = Buffer.alloc(this.js ? SHA1_BLOCK : SHA1_BLOCK + 1500, 0);
    this.outer = Buffer.alloc(SHA1_BLOCK + SHA1_LEN, 0);
    this.inner.fill(0x36, 0, SHA1_BLOCK);
    this.outer.fill(0x5c, 0, SHA1_BLOCK);
    for (let i = 0; i < k.length; i++) {
      this.inner[i] = (this.inner[i] as number) ^ (k[i] as number);
      this.outer[i] = (this.outer[i] as number) ^ (k[i] as number);
    }
    const copyPath = !this.js && this.fast === undefined;
    this.innerState = copyPath ? crypto.createHash('sha1').update(this.inner.subarray(0, SHA1_BLOCK)) : undefined;
    this.outerState = copyPath ? crypto.createHash('sha1').update(this.outer.subarray(0, SHA1_BLOCK)) : undefined;
    const ip: Sha1State = midstate(this.inner.subarray(0, SHA1_BLOCK));
    const op: Sha1State = midstate(this.outer.subarray(0, SHA1_BLOCK));
    [this.i0, this.i1, this.i2, this.i3, this.i4] = [ip[0]!, ip[1]!, ip[2]!, ip[3]!, ip[4]!];
    [this.o0, this.o1, this.o2, this.o3, this.o4] = [op[0]!, op[1]!, op[2]!, op[3]!, op[4]!];
  }

  /** JS path: the HMAC's five digest words (in the shared ST, valid until the next HMAC). */
  private macWords(data: Buffer, start: number, end: number, roc?: number): Int32Array {
    this.startInner();
    finish(ST, SHA1_BLOCK, data, start, end, roc);
    return this.outerHash();
  }

  private startInner(): void {
    ST[0] = this.i0;
    ST[1] = this.i1;
    ST[2] = this.i2;
    ST[3] = this.i3;
    ST[4] = this.i4;
  }

  /** The outer hash over the inner digest in ST: one block after the opad midstate. */
  private outerHash(): Int32Array {
    const v = OUTER_VIEW;
    for (let i = 0; i < 5; i++) v.setInt32(4 * i, ST[i] as number);
    ST[0] = this.o0;
    ST[1] = this.o1;
    ST[2] = this.o2;
    ST[3] = this.o3;
    ST[4] = this.o4;
    compress(ST, v, 0);
    return ST;
  }

  /**
   * verify() of an SRTP packet copied into scratch memory `v` (the recording hot path): the ROC and SHA-1 padding
   * are written in place after v[end] (IN_PLACE_ROOM bytes, which must be free), so nothing is copied.
   */
  verifyInPlace(v: DataView, start: number, end: number, roc: number, tag: Buffer, tagStart: number, tagLength: number): boolean {
    if (!this.js) return this.verify(Buffer.from(v.buffer, v.byteOffset, v.byteLength), start, end, roc, tag, tagStart, tagLength);
    this.startInner();
    finishInPlace(ST, SHA1_BLOCK, v, start, end, roc);
    return tagMatches(this.outerHash(), tag, tagStart, tagLength);
  }

  /**
   * HMAC-SHA1 (20 bytes) of data[start, end) followed, when `roc` is given, by the 32-bit ROC in network order
   * (the SRTP authenticated portion of RFC 3711 §4.2; SRTCP has no ROC).
   */
  mac(data: Buffer, start: number, end: number, roc?: number): Buffer {
    if (this.js) {
      const out = Buffer.allocUnsafe(SHA1_LEN);
      digestInto(this.macWords(data, start, end, roc), out, 0);
      return out;
    }
    const n = end - start;
    const total = n + (roc === undefined ? 0 : 4);
    const fast = this.fast;
    if (fast !== undefined) {
      if (this.inner.length < SHA1_BLOCK + total) {
        const grown = Buffer.alloc(SHA1_BLOCK + total * 2);
        this.inner.copy(grown, 0, 0, SHA1_BLOCK);
        this.inner = grown;
      }
      const buf = this.inner;
      data.copy(buf, SHA1_BLOCK, start, end);
      if (roc !== undefined) {
        const o = SHA1_BLOCK + n;
        buf[o] = roc >>> 24;
        buf[o + 1] = (roc >>> 16) & 0xff;
        buf[o + 2] = (roc >>> 8) & 0xff;
        buf[o + 3] = roc & 0xff;
      }
      const ih = fast('sha1', buf.subarray(0, SHA1_BLOCK + total), 'buffer');
      const o = this.outer;
      for (let i = 0; i < SHA1_LEN; i++) o[SHA1_BLOCK + i] = ih[i] as number;
      return fast('sha1', o, 'buffer');
    }
    const h = (this.innerState as crypto.Hash).copy().update(data.subarray(start, end));
    if (roc !== undefined) {
      const r = Buffer.allocUnsafe(4);
      r.writeUInt32BE(roc >>> 0, 0);
      h.update(r);
    }
    return (this.outerState as crypto.Hash).copy().update(h.digest()).digest();
  }

  /** True when the truncated HMAC (RFC 3711 §4.2.1) equals tag[tagStart, tagStart + tagLength); constant time. */
  verify(data: Buffer, start: number, end: number, roc: number | undefined, tag: Buffer, tagStart: number, tagLength: number): boolean {
    if (this.js) return tagMatches(this.macWords(data, start, end, roc), tag, tagStart, tagLength);
    const m = this.mac(data, start, end, roc);
    let diff = 0;
    for (let i = 0; i < tagLength; i++) diff |= (m[i] as number) ^ (tag[tagStart + i] as number);
    return diff === 0;
  }
}

/** Which HMAC path this Node uses (reported by the throughput test). */
export const HMAC_PATH: 'js' | 'crypto.hash' | 'Hash.copy' = 'js';
