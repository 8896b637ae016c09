/**
 * AES-CM keystream of one SSRC for KS_PACKETS consecutive packet indices, made in one AES-ECB call.
 *
 * A packet's keystream depends only on the SSRC and its index (RFC 3711 §4.1.1), and indices come in order, so
 * one native call serves the next 64 packets: a cipher.update() call costs far more than the AES work of a G.711
 * packet (argument checks and a fresh output buffer), and 64 measured faster than 16 or 32 with 400 streams.
 * The counter blocks are written into one scratch shared by all runs (11 KiB of keystream per stream is enough).
 */
import type { AesCm } from './cipher';

/** Packets whose keystream one refill makes. */
export const KS_PACKETS = 64;

/** Counter blocks of the refill in progress, with a 32-bit view (words are written in platform byte order). */
let scratch = Buffer.alloc(KS_PACKETS * 176);
let scratchWords = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);

export class KeystreamRun {
  /** First packet index covered, or -1 before the first refill. */
  start = -1;
  /** The keystream of index start + n at byte n · stride, as 32-bit words (XORed a word at a time). */
  words: Int32Array = new Int32Array(0);
  /** IV bytes 0-3 and 4-7 (salt ⊕ SSRC) as platform-order words, the same in every block. */
  private readonly w0: number;
  private readonly w1: number;

  /** `stride`: bytes of keystream per packet, a multiple of 16. */
  constructor(
    readonly stride: number,
    private readonly salt: Buffer,
    ssrc: number,
  ) {
    const b = Buffer.from(salt.subarray(0, 8));
    b[4] = (b[4] as number) ^ (ssrc >>> 24);
    b[5] = (b[5] as number) ^ ((ssrc >>> 16) & 0xff);
    b[6] = (b[6] as number) ^ ((ssrc >>> 8) & 0xff);
    b[7] = (b[7] as number) ^ (ssrc & 0xff);
    const w = new Int32Array(b.buffer, b.byteOffset, 2);
    this.w0 = w[0] as number;
    this.w1 = w[1] as number;
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
    const bytes = KS_PACKETS * this.stride;
    if (scratch.length < bytes) {
      scratch = Buffer.alloc(bytes);
      scratchWords = new Int32Array(scratch.buffer, scratch.byteOffset, bytes >>> 2);
    }
    const c = scratch;
    const cw = scratchWords;
    const s = this.salt;
    const w0 = this.w0;
    const w1 = this.w1;
    const blocks = this.stride >>> 4;
    for (let o = 0, n = 0; n < KS_PACKETS; n++) {
      // IV bytes 8-13: salt ⊕ the 48-bit index (as xorIndex48 in cipher.ts); 14-15: the block number.
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
        cw[o >>> 2] = w0;
        cw[(o >>> 2) + 1] = w1;
        c[o + 8] = b8;
        c[o + 9] = b9;
        c[o + 10] = b10;
        c[o + 11] = b11;
        c[o + 12] = b12;
        c[o + 13] = b13;
        c[o + 14] = j >>> 8;
        c[o + 15] = j & 0xff;
      }
    }
    let ks = aes.encryptBlocks(c.subarray(0, bytes));
    // Int32Array views need 4-aligned offsets; the cipher's output normally starts its own ArrayBuffer.
    if ((ks.byteOffset & 3) !== 0) ks = Buffer.from(ks);
    this.words = new Int32Array(ks.buffer, ks.byteOffset, ks.length >>> 2);
    this.start = index;
  }
}
