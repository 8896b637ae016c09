/**
 * HMAC-SHA1 message authentication for SRTP/SRTCP (RFC 3711 §4.2.1, RFC 2104), on node:crypto only.
 *
 * The hash states after the key's ipad and opad blocks are computed once; each packet clones them with
 * Hash.copy() instead of re-hashing two 64-byte blocks (shared/docs/dependencies.md "SRTP").
 */
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';

const SHA1_BLOCK = 64;

export class HmacSha1 {
  private readonly inner: Hash;
  private readonly outer: Hash;

  constructor(key: Buffer) {
    // RFC 2104: keys longer than the block are hashed first (SRTP's are 20 bytes, so never in practice).
    const k = key.length > SHA1_BLOCK ? createHash('sha1').update(key).digest() : key;
    const ipad = Buffer.alloc(SHA1_BLOCK, 0x36);
    const opad = Buffer.alloc(SHA1_BLOCK, 0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i] = (ipad[i] as number) ^ (k[i] as number);
      opad[i] = (opad[i] as number) ^ (k[i] as number);
    }
    this.inner = createHash('sha1').update(ipad);
    this.outer = createHash('sha1').update(opad);
  }

  /** HMAC-SHA1(key, a || b), 20 bytes. `b` is the ROC for SRTP (§4.2), absent for SRTCP. */
  mac(a: Buffer, b?: Buffer): Buffer {
    const h = this.inner.copy().update(a);
    if (b !== undefined) h.update(b);
    return this.outer.copy().update(h.digest()).digest();
  }

  /** True when the first tag.length bytes of HMAC(a || b) equal `tag` (compared in constant time). */
  verify(tag: Buffer, a: Buffer, b?: Buffer): boolean {
    const full = this.mac(a, b);
    return timingSafeEqual(full.subarray(0, tag.length), tag);
  }
}
