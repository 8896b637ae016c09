import * as assert from 'node:assert/strict';
import { arrivalClock } from './arrival-clock';

describe('arrival clock for VXLAN and TZSP', () => {
  it('tells wall-clock µs with sub-millisecond steps, never far from Date.now()', async () => {
    const now = arrivalClock();
    const seen = new Set<number>();
    const end = Date.now() + 1200; // past one re-check against the wall clock
    while (Date.now() < end) {
      const a = Date.now() * 1000;
      const t = now();
      const b = Date.now() * 1000;
      assert.ok(Number.isInteger(t));
      // Date.now() has whole milliseconds, the anchor may be off by one: t lies within [a - 2 ms, b + 2 ms].
      assert.ok(t >= a - 2000 && t <= b + 2000, `${t} outside [${a}, ${b}] ± 2 ms`);
      seen.add(t % 1000);
      if (seen.size % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(seen.size > 100, `${seen.size} distinct sub-millisecond values: not stuck to whole milliseconds`);
  });
});
