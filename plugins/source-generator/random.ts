/**
 * Seeded PRNG (sfc32, seeded through splitmix32). Every call and stream gets its own generator derived from
 * (seed, labels), so what one stream draws never depends on how the scheduler interleaves the others.
 */

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit seed mixed from the base seed and any number of integer labels. */
export function deriveSeed(seed: number, ...labels: number[]): number {
  let h = splitmix32(seed >>> 0 ^ 0x5eed);
  for (const l of labels) h = splitmix32((h ^ Math.imul(l | 0, 0x27d4eb2d)) >>> 0);
  return h;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = splitmix32(seed);
    this.b = splitmix32(this.a);
    this.c = splitmix32(this.b);
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `n` random bytes as lowercase hex. */
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += (this.u32() & 0xff).toString(16).padStart(2, '0');
    return s;
  }

  /** `n` characters of [A-Za-z0-9]: ICE ufrag/pwd, base64-looking tokens without padding. */
  token(n: number): string {
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < n; i++) s += abc[this.u32() % abc.length];
    return s;
  }

  /** `n` random bytes as standard base64 (SDES inline keys). */
  base64(n: number): string {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b.toString('base64');
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i] as T;
      arr[i] = arr[j] as T;
      arr[j] = t;
    }
    return arr;
  }
}
