/**
 * Scratch memory for packets being decrypted on the recording hot path (SrtpContext.unprotectPayload): one
 * 64 KiB ring with Int32Array and DataView views, so a packet is copied in by one memcpy, authenticated there
 * (SHA-1 reads it by DataView and pads it in place) and XORed with its keystream a 32-bit word at a time.
 *
 * The ring is reused (wrapping after a few hundred packets) so that it stays in cache: fresh memory per packet
 * cost more than the AES itself. A payload handed out from here is therefore valid only until the caller's
 * processing of that packet ends (the recorder decodes it at once; a decoder that keeps a payload copies it).
 */
const RING_BYTES = 64 * 1024;

export class OutputRing {
  readonly buffer = Buffer.allocUnsafeSlow(RING_BYTES);
  readonly int32 = new Int32Array(this.buffer.buffer, this.buffer.byteOffset, RING_BYTES >>> 2);
  readonly view = new DataView(this.buffer.buffer, this.buffer.byteOffset, RING_BYTES);
  private used = 0;

  /**
   * Reserves `length` bytes (rounded up to 8, so the last 32-bit word of an XOR never spills into the next
   * region) and returns their 8-aligned offset in `buffer`, wrapping to the start when the end is reached.
   */
  take(length: number): number {
    const need = (length + 7) & ~7;
    if (need > RING_BYTES) throw new RangeError(`decrypted packet of ${length} bytes exceeds the ${RING_BYTES}-byte ring`);
    if (this.used + need > RING_BYTES) this.used = 0;
    const off = this.used;
    this.used += need;
    return off;
  }
}

/** One ring for every context of the process (JS runs them one at a time). */
export const outputRing = new OutputRing();
