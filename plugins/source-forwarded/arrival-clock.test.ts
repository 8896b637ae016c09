import * as assert from 'node:assert/strict';
import { arrivalClock } from './arrival-clock';

describe('arrival clock for VXLAN and TZSP', () => {
  it('tells wall-clock µs with sub-millisecond steps, never far from Date.now()', async () => {
    const now = arrivalClock();
    const seen = new Set<number>();
    const end = Date.now() + 1200; // past one re-check against the wall clock
    while (Date.now() < end) {
      const t = now();
      assert.ok(Number.isInteger(t));
      assert.ok(Math.abs(t - Date.now() * 1000) < 3000, 'within 3 ms of the wall clock');
      seen.add(t % 1000);
      if (seen.size % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(seen.size > 100, `${seen.size} distinct sub-millisecond values: not stuck to whole milliseconds`);
  });
});
