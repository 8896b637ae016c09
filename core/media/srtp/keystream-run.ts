/**
 * AES-CM keystream of one SSRC for KS_PACKETS consecutive packet indices, made in one AES-ECB call.
 *
 * A packet's keystream depends only on the SSRC and its index (RFC 3711 §4.1.1), and indices come in order, so
 * one native call serves the next 16 packets (a call costs about as much as the AES work of a whole G.711
 * packet). The counter blocks live as long as the run: bytes 0-7 (salt ⊕ SSRC) and 14-15 (block number) are
 * written once, and each refill rewrites only the six index bytes of each block.
 */
import type { AesCm } from './cipher';

/** Packets whose keystream one refill makes. */
export const KS_PACKETS = 16;

export class KeystreamRun {
  /** First packet index covered, or -1 before the first refill. */
  start = -1;
  /** The keystream of index start + n at byte n · stride, as 32-bit words (XORed a word at a time). */
  words: Int32Array = new Int32Array(0);
  private readonly counters: Buffer;

  /** `stride`: bytes of keystream per packet, a multiple of 16. */
  constructor(
    readonly stride: number,
    private readonly salt: Buffer,
    ssrc: number,
  ) {
    const blocks = stride >>> 4;
    const c = Buffer.alloc(KS_PACKETS * stride);
    for (let o = 0, n = 0; n < KS_PACKETS; n++) {
      for (let j = 0; j < blocks; j++, o += 16) {
        for (let b = 0; b < 8; b++) c[o + b] = salt[b] as number;
        c[o + 4] = (c[o + 4] as number) ^ (ssrc >>> 24);
        c[o + 5] = (c[o + 5] as number) ^ ((ssrc >>> 16) & 0xff);
        c[o + 6] = (c[o + 6] as number) ^ ((ssrc >>> 8) & 0xff);
        c[o + 7] = (c[o + 7] as number) ^ (ssrc & 0xff);
        c[o + 14] = j >>> 8;
        c[o + 15] = j & 0xff;
      }
    }
    this.counters = c;
  }

  covers(index: number): boolean {
    return this.start >= 0 && index >= this.start && index < this.start + KS_PACKETS;
  }

  /** Word offset of `index`'s keystream in `words` (covers(index) must hold). */
  wordAt(index: number): number {
    return ((index - this.start) * this.stride) >>> 2;
  }

  /** Makes the keystream of indices [index, index + KS_PACKETS). */
  refill(aes: AesCm, index: number): void {
    const c = this.counters;
    const s = this.salt;
    const blocks = this.stride >>> 4;
    for (let o = 0, n = 0; n < KS_PACKETS; n++) {
      // IV bytes 8-13: salt ⊕ the 48-bit index (as xorIndex48 in cipher.ts).
      const v = index + n;
      const hi = Math.floor(v / 0x100000000);
      const lo = v >>> 0;
      const b8 = (s[8] as number) ^ ((hi >>> 8) & 0xff);
      const b9 = (s[9] as number) ^ (hi & 0xff);
      const b10 = (s[10] as number) ^ (lo >>> 24);
      const b11 = (s[11] as number) ^ ((lo >>> 16) & 0xff);
      const b12 = (s[12] as number) ^ ((lo >>> 8) & 0xff);
      const b13 = (s[13] as number) ^ (lo & 0xff);
      for (let j = 0; j < blocks; j++, o += 16) {
        c[o + 8] = b8;
        c[o + 9] = b9;
        c[o + 10] = b10;
        c[o + 11] = b11;
        c[o + 12] = b12;
        c[o + 13] = b13;
      }
    }
    let ks = aes.encryptBlocks(c);
    // Int32Array views need 4-aligned offsets; the cipher's output normally starts its own ArrayBuffer.
    if ((ks.byteOffset & 3) !== 0) ks = Buffer.from(ks);
    this.words = new Int32Array(ks.buffer, ks.byteOffset, ks.length >>> 2);
    this.start = index;
  }
}
