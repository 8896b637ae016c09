/**
 * AES-128 in counter mode as SRTP uses it (RFC 3711 §4.1.1), on node:crypto only.
 *
 * One long-lived AES-128-ECB cipher encrypts a run of counter blocks per packet; the result is the keystream.
 * ECB over independent blocks keeps no state between update() calls, so the object is reused for the life of
 * the key (shared/docs/dependencies.md "SRTP": ~270k pkt/s against ~226k with a new cipher per packet).
 */
import { createCipheriv, type Cipher } from 'node:crypto';

/** AES block size in bytes. */
export const AES_BLOCK = 16;

/** AES-128 keystream generator for one session key (or one master key, for the KDF). */
export class AesCm {
  private readonly ecb: Cipher;
  /** Scratch for counter blocks; grows to the largest packet seen (empty until transform/keystream is used). */
  private counters: Buffer = Buffer.alloc(0);

  constructor(key: Buffer) {
    if (key.length !== 16) throw new RangeError(`AES-128 key must be 16 bytes, got ${key.length}`);
    this.ecb = createCipheriv('aes-128-ecb', key, null);
    this.ecb.setAutoPadding(false);
  }

  /**
   * `length` bytes of keystream for a 16-byte IV whose last two bytes are the block counter (RFC 3711 §4.1.1:
   * the counter is IV + j for j = 0, 1, 2 …, and at most 2^16 blocks per packet). The IV's bytes 14-15 are ignored.
   */
  keystream(iv: Buffer, length: number): Buffer {
    return this.run(iv, 0, length);
  }

  /**
   * A new buffer: data[0, clear) unchanged, then data[clear, end) XOR the keystream of `iv` (encryption and
   * decryption are the same). The result is a view into the cipher's output, so no second allocation or copy.
   */
  transform(iv: Buffer, data: Buffer, clear: number, end: number): Buffer {
    const len = end - clear;
    // ECB also encrypts `pre` bytes of don't-care blocks in front; the clear bytes overwrite their tail.
    const pre = ((clear + AES_BLOCK - 1) >>> 4) << 4;
    const out = this.run(iv, pre, len).subarray(pre - clear, pre + len);
    if (clear <= 32) for (let i = 0; i < clear; i++) out[i] = data[i] as number;
    else data.copy(out, 0, 0, clear);
    for (let k = clear; k < end; k++) out[k] = (out[k] as number) ^ (data[k] as number);
    return out;
  }

  /** AES-ECB of prepared counter blocks (a multiple of 16 bytes): keystream for several packets in one call. */
  encryptBlocks(blocks: Buffer): Buffer {
    return this.ecb.update(blocks);
  }

  /** ECB over `pre` don't-care bytes then the counter blocks for `length` bytes of keystream. */
  private run(iv: Buffer, pre: number, length: number): Buffer {
    const blocks = Math.ceil(length / AES_BLOCK);
    if (blocks > 0x10000) throw new RangeError(`AES-CM: ${length} bytes exceed 2^16 blocks per IV`);
    const n = pre + blocks * AES_BLOCK;
    if (this.counters.length < n) this.counters = Buffer.alloc(Math.max(n, this.counters.length * 2));
    const c = this.counters;
    // Byte stores in JS: cheaper than a native Buffer.copy call per block.
    for (let j = 0, o = pre; j < blocks; j++, o += AES_BLOCK) {
      for (let b = 0; b < 14; b++) c[o + b] = iv[b] as number;
      c[o + 14] = j >>> 8;
      c[o + 15] = j & 0xff;
    }
    return this.ecb.update(c.subarray(0, n));
  }
}

/**
 * RFC 3711 §4.1.1 IV: (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16), written into `iv` (16 bytes).
 * `index` is the 48-bit SRTP packet index (or the 31-bit SRTCP index).
 */
export function writeIv(iv: Buffer, salt: Buffer, ssrc: number, index: number): void {
  salt.copy(iv, 0, 0, 14);
  iv[14] = 0;
  iv[15] = 0;
  iv[4] = (iv[4] as number) ^ (ssrc >>> 24);
  iv[5] = (iv[5] as number) ^ ((ssrc >>> 16) & 0xff);
  iv[6] = (iv[6] as number) ^ ((ssrc >>> 8) & 0xff);
  iv[7] = (iv[7] as number) ^ (ssrc & 0xff);
  xorIndex48(iv, index);
}

/** XORs a 48-bit value (packet index, or the KDF's r) into IV bytes 8..13, big-endian (RFC 3711 §4.1.1, §4.3.1). */
export function xorIndex48(iv: Buffer, value: number): void {
  const hi = Math.floor(value / 0x100000000); // top 16 bits
  const lo = value >>> 0;
  iv[8] = (iv[8] as number) ^ ((hi >>> 8) & 0xff);
  iv[9] = (iv[9] as number) ^ (hi & 0xff);
  iv[10] = (iv[10] as number) ^ (lo >>> 24);
  iv[11] = (iv[11] as number) ^ ((lo >>> 16) & 0xff);
  iv[12] = (iv[12] as number) ^ ((lo >>> 8) & 0xff);
  iv[13] = (iv[13] as number) ^ (lo & 0xff);
}
