/**
 * Warnings about what peers do (refused connections, garbage) at most once per interval per reason: a flood must
 * not turn into a flood of log lines. Suppressed occurrences are reported with the next warning.
 */
import type { Logger } from '../contract';

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger | undefined,
    private readonly intervalMs = 10_000,
    /** Distinct keys remembered; reasons are a small fixed set, this only guards against a caller's mistake. */
    private readonly maxKeys = 256,
  ) {}

  warn(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    if (this.log === undefined) return;
    const now = Date.now();
    const e = this.last.get(key);
    if (e !== undefined && now - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    if (e === undefined && this.last.size >= this.maxKeys) this.last.clear();
    this.log.warn(msg, e !== undefined && e.suppressed > 0 ? { ...fields, suppressed: e.suppressed } : fields);
    this.last.set(key, { at: now, suppressed: 0 });
  }
}
