/**
 * Event-loop lag for /healthz: how late a periodic timer runs, over fixed windows (the last complete one, so two
 * scrapers do not reset each other's view), plus the worst lag of the window in progress.
 *
 * One timer both samples and rotates, sample first: with perf_hooks.monitorEventLoopDelay and a separate rotation
 * timer, a stall that made both timers overdue was lost when the reset ran first (1 run in 10 with a 300 ms window)
 * (the histogram's reset also drops the pending interval), and stalls are the point of measuring.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

export interface EventLoopLag {
  /** Length of the window the percentiles cover, s. */
  windowSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Worst lag so far in the window in progress, ms. */
  currentMaxMs: number;
}

const msOf = (us: number): number => Math.round(us / 10) / 100;

export class EventLoopLagMonitor {
  /** Lag samples of the window in progress, µs (a recordable histogram takes integers ≥ 1). */
  private readonly cur: RecordableHistogram = createHistogram();
  private readonly timer: NodeJS.Timeout;
  private last: Omit<EventLoopLag, 'currentMaxMs'>;
  private prev = performance.now();
  private windowStart = this.prev;
  private closed = false;

  /** `resolutionMs`: sampling period (lag shorter than scheduling noise at this period is not meaningful). */
  constructor(
    private readonly windowMs = 10_000,
    private readonly resolutionMs = 20,
  ) {
    this.last = { windowSec: windowMs / 1000, p50Ms: 0, p99Ms: 0, maxMs: 0 };
    this.timer = setInterval(() => this.tick(), resolutionMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    const lagMs = Math.max(0, now - this.prev - this.resolutionMs);
    this.prev = now;
    this.cur.record(Math.max(1, Math.round(lagMs * 1000)));
    if (now - this.windowStart >= this.windowMs) {
      this.last = { windowSec: this.windowMs / 1000, p50Ms: msOf(this.cur.percentile(50)), p99Ms: msOf(this.cur.percentile(99)), maxMs: msOf(this.cur.max) };
      this.cur.reset();
      this.windowStart = now;
    }
  }

  snapshot(): EventLoopLag {
    return { ...this.last, currentMaxMs: this.cur.count === 0 ? 0 : msOf(this.cur.max) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
  }
}
