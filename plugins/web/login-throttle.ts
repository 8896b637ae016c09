/**
 * Slows password guessing: wrong passwords are counted per account and per client address within a window; past
 * the free ones, no password is even checked until a pause has passed since the last wrong one (1 s, doubling, up
 * to a maximum): attempts in between get 429 with Retry-After, so guessing in parallel gains nothing. Bounded: the
 * oldest keys are forgotten beyond MAX_KEYS.
 */
const MAX_KEYS = 10_000;

export interface ThrottleOptions {
  freeFailures: number;
  windowMs: number;
  maxDelayMs: number;
}

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly o: ThrottleOptions, private readonly now: () => number = Date.now) {}

  private recent(key: string): number[] {
    const t = this.now();
    const list = (this.failures.get(key) ?? []).filter((at) => t - at < this.o.windowMs);
    if (list.length === 0) this.failures.delete(key);
    else this.failures.set(key, list);
    return list;
  }

  /** How long until an attempt for these keys is checked (0: now). */
  waitMs(keys: readonly string[]): number {
    let wait = 0;
    for (const k of keys) {
      const list = this.recent(k);
      if (list.length < this.o.freeFailures) continue;
      const pause = Math.min(this.o.maxDelayMs, 1000 * 2 ** (list.length - this.o.freeFailures));
      wait = Math.max(wait, (list[list.length - 1] as number) + pause - this.now());
    }
    return wait;
  }

  fail(keys: readonly string[]): void {
    for (const k of keys) {
      const list = this.recent(k);
      list.push(this.now());
      this.failures.delete(k);
      this.failures.set(k, list.slice(-64));
    }
    while (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value as string);
  }

  succeed(keys: readonly string[]): void {
    for (const k of keys) this.failures.delete(k);
  }
}
