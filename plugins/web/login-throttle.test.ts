import * as assert from 'node:assert/strict';
import { LoginThrottle } from './login-throttle';

describe('web: login throttle', () => {
  it('lets five wrong passwords through, then pauses 1 s, 2 s, 4 s... up to the maximum', () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 5, windowMs: 900_000, maxDelayMs: 4000 }, () => now);
    const keys = ['user:bob', 'ip:10.0.0.1'];
    for (let i = 0; i < 5; i++) {
      assert.equal(t.waitMs(keys), 0);
      t.fail(keys);
    }
    assert.equal(t.waitMs(keys), 1000);
    now += 1000;
    assert.equal(t.waitMs(keys), 0);
    t.fail(keys);
    assert.equal(t.waitMs(keys), 2000);
    now += 2000;
    t.fail(keys);
    assert.equal(t.waitMs(keys), 4000);
    now += 4000;
    t.fail(keys);
    assert.equal(t.waitMs(keys), 4000, 'capped');
    assert.equal(t.waitMs(['ip:10.0.0.1']), 4000, 'the address alone is slowed too');
    assert.equal(t.waitMs(['user:alice', 'ip:10.0.0.2']), 0, 'others are not');
  });

  it('forgets failures outside the window, and after a success', () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 2, windowMs: 10_000, maxDelayMs: 30_000 }, () => now);
    t.fail(['k']);
    t.fail(['k']);
    assert.ok(t.waitMs(['k']) > 0);
    now += 10_001;
    assert.equal(t.waitMs(['k']), 0);
    t.fail(['k']);
    t.fail(['k']);
    t.succeed(['k']);
    assert.equal(t.waitMs(['k']), 0);
  });

  it('stays bounded under many addresses', () => {
    const t = new LoginThrottle({ freeFailures: 5, windowMs: 900_000, maxDelayMs: 30_000 });
    for (let i = 0; i < 20_000; i++) t.fail([`ip:${i}`]);
    assert.ok((t as unknown as { failures: Map<string, number[]> }).failures.size <= 10_000);
  });
});
