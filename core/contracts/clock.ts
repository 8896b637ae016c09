/** The service's sense of time: capture time when replaying files, the wall clock for live inputs. */

export type ClockMode = 'capture' | 'wall';

export interface Clock {
  readonly mode: ClockMode;
  /** Now, µs since the epoch. */
  now(): number;
  /**
   * Calls `fn(now)` on every tick: with each capture-time step of at least TICK_US when replaying, every TICK_US of
   * real time when live (so idle-call, session-timer and linger timers fire on an idle link). Returns an unsubscribe.
   */
  onTick(fn: (now: number) => void): () => void;
}

/** Tick period, µs. */
export const TICK_US = 250_000;
