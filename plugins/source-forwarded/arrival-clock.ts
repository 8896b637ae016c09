/**
 * Arrival time for VXLAN and TZSP (their senders send no capture time), µs since the epoch with sub-millisecond
 * steps: Date.now() moves in whole milliseconds, too coarse for RTP jitter, so the monotonic performance.now()
 * runs from an anchor on the wall clock, re-anchored when the two drift apart by more than a millisecond (NTP slews).
 */
import { performance } from 'node:perf_hooks';

const RECHECK_MS = 1000;
const MAX_DRIFT_US = 1000;

export function arrivalClock(): () => number {
  let wall = Date.now() * 1000;
  let mono = performance.now();
  let checked = mono;
  return () => {
    const m = performance.now();
    let t = wall + (m - mono) * 1000;
    if (m - checked >= RECHECK_MS) {
      checked = m;
      const w = Date.now() * 1000;
      if (Math.abs(w - t) > MAX_DRIFT_US) {
        wall = w;
        mono = m;
        t = w;
      }
    }
    return Math.round(t);
  };
}
