import * as assert from 'node:assert/strict';
import { ServiceClock } from './clock';
import { TICK_US } from './contracts/clock';

describe('ServiceClock', () => {
  it('replaying, time is the newest capture time: it never goes back and ticks every 250 ms of capture time', () => {
    const c = new ServiceClock(() => 42);
    const ticks: number[] = [];
    c.onTick((now) => ticks.push(now));
    assert.equal(c.mode, 'capture');
    const t0 = 1_700_000_000_000_000;
    for (let i = 0; i <= 50; i++) c.observe(t0 + i * 20_000); // 1 s of 20 ms packets
    c.observe(t0); // an older packet does not move time back
    assert.equal(c.now(), t0 + 1_000_000);
    assert.deepEqual(ticks, [t0, t0 + 260_000, t0 + 520_000, t0 + 780_000]);
    c.start(); // no timer while replaying
    c.stop();
  });

  it('live, time is the wall clock, ticking on a timer even when no packet comes; capture times do not move it', async () => {
    let wall = 5_000_000;
    const c = new ServiceClock(() => wall);
    c.useWallClock();
    const ticks: number[] = [];
    c.onTick((now) => ticks.push(now));
    c.observe(9_999_999_999); // a sensor whose clock is far ahead
    assert.equal(c.now(), 5_000_000);
    c.start(20_000); // 20 ms for the test
    await new Promise((r) => setTimeout(r, 110));
    wall += TICK_US;
    await new Promise((r) => setTimeout(r, 50));
    c.stop();
    const n = ticks.length;
    assert.ok(n >= 4, `${n} ticks`);
    assert.ok(ticks.every((t) => t === 5_000_000 || t === 5_000_000 + TICK_US));
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(ticks.length, n, 'stopped');
  });
});
