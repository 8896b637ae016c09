/**
 * Replay list of RFC 3711 §3.3.2 as a sliding bitmap: indexes more than `size - 1` below the highest one
 * received are too old; within the window each index is accepted once.
 */
export class ReplayWindow {
  /** Highest index accepted so far; -1 before the first. */
  highest = -1;
  private readonly bits: Uint32Array;
  /** Bitmap positions (a power of two ≥ size, ≥ 32), addressed by index mod mask + 1. */
  private readonly mask: number;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 0x8000) throw new RangeError(`SRTP replay window must be 1..32768 packets, got ${size}`);
    let n = 32;
    while (n < size) n *= 2;
    this.mask = n - 1;
    this.bits = new Uint32Array(n / 32);
  }

  /** 'ok' when `index` was not received yet and is inside the window, else why not. Does not record it. */
  check(index: number): 'ok' | 'seen' | 'old' {
    if (index > this.highest) return 'ok';
    if (this.highest - index >= this.size) return 'old';
    return this.isSet(index) ? 'seen' : 'ok';
  }

  /** Records an authenticated index (call only after check() said 'ok'). */
  accept(index: number): void {
    if (index > this.highest) {
      const gap = this.highest < 0 ? Infinity : index - this.highest;
      if (gap > this.mask) this.bits.fill(0);
      else for (let e = this.highest + 1; e < index; e++) this.clear(e);
      this.highest = index;
    }
    this.set(index);
  }

  private pos(index: number): number {
    // The mask is below 2^16 and `&` takes an integer modulo 2^32 first, so this is exact for 48-bit indices
    // too, without the floating-point modulo that % would be.
    return index & this.mask;
  }

  private isSet(index: number): boolean {
    const p = this.pos(index);
    return ((this.bits[p >>> 5] as number) & (1 << (p & 31))) !== 0;
  }

  private set(index: number): void {
    const p = this.pos(index);
    this.bits[p >>> 5] = (this.bits[p >>> 5] as number) | (1 << (p & 31));
  }

  private clear(index: number): void {
    const p = this.pos(index);
    this.bits[p >>> 5] = (this.bits[p >>> 5] as number) & ~(1 << (p & 31));
  }
}
