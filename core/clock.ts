/**
 * The service clock (contracts/clock.ts). Replaying files, time is capture time: it moves only with packets, so a
 * replayed file behaves as it did live and a day of capture is processed in seconds. Live, it is the wall clock,
 * ticking on a timer, so an idle link still ends calls whose BYE never comes (a sensor's capture times are not
 * trusted to move it: its clock may be off). The mode is chosen before the service starts (wall when any source is
 * live); subscribers are the same either way.
 */
import { Emitter } from './events';
import { TICK_US, type Clock, type ClockMode } from './contracts/clock';

export class ServiceClock implements Clock {
  private modeNow: ClockMode = 'capture';
  private readonly hub = new Emitter<{ tick: [now: number] }>();
  private latest = 0;
  private nextTick = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly wall: () => number = () => Date.now() * 1000) {}

  get mode(): ClockMode {
    return this.modeNow;
  }

  now(): number {
    return this.modeNow === 'wall' ? this.wall() : this.latest;
  }

  onTick(fn: (now: number) => void): () => void {
    return this.hub.on('tick', fn);
  }

  /** Live inputs: time is the wall clock from now on. */
  useWallClock(): void {
    this.modeNow = 'wall';
  }

  /** An arrival's capture time. Replaying, it moves the clock forward (never back) and ticks every TICK_US. */
  observe(ts: number): void {
    if (this.modeNow !== 'capture' || ts <= this.latest) return;
    this.latest = ts;
    if (ts >= this.nextTick) {
      this.nextTick = ts + TICK_US;
      this.hub.emit('tick', ts);
    }
  }

  /** Runs every tick subscriber now (the wall clock's timer; end of input). */
  tick(now = this.now()): void {
    this.hub.emit('tick', now);
  }

  /** Wall clock: ticks every TICK_US on an unref'd timer until stop(). */
  start(periodUs = TICK_US): void {
    if (this.modeNow !== 'wall' || this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), periodUs / 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
