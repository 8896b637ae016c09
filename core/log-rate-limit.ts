/**
 * Rate-limited log lines for floods (drops, malformed input): at most one line per key per interval, and the
 * ones held back are not lost from the log: when the interval ends, one line says how many there were.
 *
 *   rateLimited(log, 'drop:queue:full').warn('storage queue full, audio dropped', { source })
 *
 * writes the first call at once; calls within the next second are counted, and at the end of that second one line
 * carries the latest message and fields plus `suppressed: N` (the calls not written on their own). A steady flood
 * so gives one line a second. Limiters are kept per logger and key (bounded), so the call site needs no state.
 */
import type { Logger } from './contract';

type Level = 'debug' | 'info' | 'warn' | 'error';

export interface RateLimitOptions {
  /** Length of the window, ms (default 1000). Taken when the key is first used. */
  intervalMs?: number;
}

export interface RateLimitedLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Calls held back in the current window, not yet reported. */
  readonly suppressed: number;
  /** Writes the pending summary line now (at stop); nothing when none is pending. */
  flush(): void;
}

/** Keys per logger: beyond this the oldest key is flushed and forgotten (keys should be a small fixed set). */
export const MAX_RATE_LIMIT_KEYS = 1024;

class Limiter implements RateLimitedLog {
  private windowEnd = 0;
  private held = 0;
  private last: { level: Level; msg: string; fields: Record<string, unknown> | undefined } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  get suppressed(): number {
    return this.held;
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.call('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.call('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.call('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.call('error', msg, fields);
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held === 0 || this.last === undefined) return;
    const { level, msg, fields } = this.last;
    const n = this.held;
    this.held = 0;
    this.last = undefined;
    this.windowEnd = Date.now() + this.intervalMs;
    this.log[level](msg, { ...fields, suppressed: n });
  }

  private call(level: Level, msg: string, fields: Record<string, unknown> | undefined): void {
    const now = Date.now();
    if (now >= this.windowEnd && this.held === 0) {
      this.windowEnd = now + this.intervalMs;
      this.log[level](msg, fields);
      return;
    }
    this.held++;
    this.last = { level, msg, fields };
    if (this.timer === undefined) {
      // unref: a pending summary never keeps the process alive; stop() calls flushRateLimited() instead.
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.windowEnd - now));
      this.timer.unref();
    }
  }
}

const limiters = new WeakMap<Logger, Map<string, Limiter>>();

/** The rate-limited view of `log` for `key` (the same one on every call). */
export function rateLimited(log: Logger, key: string, opts: RateLimitOptions = {}): RateLimitedLog {
  let byKey = limiters.get(log);
  if (byKey === undefined) {
    byKey = new Map();
    limiters.set(log, byKey);
  }
  let l = byKey.get(key);
  if (l === undefined) {
    if (byKey.size >= MAX_RATE_LIMIT_KEYS) {
      const [oldestKey, oldest] = byKey.entries().next().value as [string, Limiter];
      oldest.flush();
      byKey.delete(oldestKey);
    }
    const intervalMs = opts.intervalMs ?? 1000;
    if (!(intervalMs > 0)) throw new RangeError(`rateLimited: intervalMs must be > 0 (got ${intervalMs})`);
    l = new Limiter(log, intervalMs);
    byKey.set(key, l);
  }
  return l;
}

/** Writes every pending summary line of `log`'s limiters (call when the service stops). */
export function flushRateLimited(log: Logger): void {
  for (const l of limiters.get(log)?.values() ?? []) l.flush();
}
