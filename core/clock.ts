/**
 * The two clocks (contracts/clock.ts). Capture time moves only with packets, so a replayed file behaves as it did
 * live and a whole day of capture is processed in seconds; the wall clock ticks on a timer, so an idle link still
 * ends calls whose BYE never comes.
 */
import { Emitter } from './events';
import { TICK_US, type Clock, type ClockMode } from './contracts/clock';

abstract class TickingClock implements Clock {
  abstract readonly mode: ClockMode;
  protected readonly hub = new Emitter<{ tick: [now: number] }>();
  abstract now(): number;

  onTick(fn: (now: number) => void): () => void {
    return this.hub.on('tick', fn);
  }

  /** Runs every tick subscriber now (also used at end of input and shutdown). */
  tick(now = this.now()): void {
    this.hub.emit('tick', now);
  }
}

/** Time is the newest capture time seen; observe() is called with every packet's time. */
export class CaptureClock extends TickingClock {
  readonly mode = 'capture' as const;
  private latest = 0;
  private nextTick = 0;

  now(): number {
    return this.latest;
  }

  /** A packet's capture time: moves the clock forward (never back) and ticks at most every TICK_US of capture time. */
  observe(ts: number): void {
    if (ts <= this.latest) return;
    this.latest = ts;
    if (ts >= this.nextTick) {
      this.nextTick = ts + TICK_US;
      this.hub.emit('tick', ts);
    }
  }
}

/** The system clock, ticking every TICK_US on an unref'd timer while started. */
export class WallClock extends TickingClock {
  readonly mode = 'wall' as const;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly source: () => number = () => Date.now() * 1000) {
    super();
  }

  now(): number {
    return this.source();
  }

  /** Capture times are not the clock live (a sensor's clock may be off): ignored. */
  observe(_ts: number): void {}

  start(periodUs = TICK_US): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), periodUs / 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export type ServiceClock = CaptureClock | WallClock;
