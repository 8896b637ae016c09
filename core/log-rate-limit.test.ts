import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryLogger, type LogRecord } from './log';
import { flushRateLimited, MAX_RATE_LIMIT_KEYS, rateLimited } from './log-rate-limit';

/** Calls a record stands for: itself, or the held-back calls its `suppressed` reports. */
const callsIn = (records: LogRecord[]): number => records.reduce((n, r) => n + (typeof r.fields.suppressed === 'number' ? r.fields.suppressed : 1), 0);

describe('rate-limited log lines', () => {
  it('writes the first call at once, holds back the rest of the interval and reports them in one line with suppressed: N', async () => {
    const { log, records } = memoryLogger();
    for (let i = 0; i < 10; i++) rateLimited(log, 'drop:queue:full', { intervalMs: 60 }).warn('storage queue full, audio dropped', { source: 'live', i });
    assert.deepEqual(records, [{ level: 'warn', msg: 'storage queue full, audio dropped', fields: { source: 'live', i: 0 } }]);
    assert.equal(rateLimited(log, 'drop:queue:full').suppressed, 9);
    await sleep(120);
    assert.equal(records.length, 2);
    assert.deepEqual(records[1], { level: 'warn', msg: 'storage queue full, audio dropped', fields: { source: 'live', i: 9, suppressed: 9 } });
    assert.equal(rateLimited(log, 'drop:queue:full').suppressed, 0);
  });

  it('a steady flood gives one line per interval and accounts for every call', async () => {
    const { log, records } = memoryLogger();
    let calls = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 260) {
      rateLimited(log, 'flood', { intervalMs: 50 }).warn('malformed HEP packet');
      calls++;
      await sleep(2);
    }
    await sleep(80);
    // ~260 ms of calls: the first line, then one summary per 50 ms window (timers may run a little late).
    assert.ok(records.length >= 4 && records.length <= 7, `${records.length} lines for ${calls} calls`);
    assert.equal(callsIn(records), calls, 'written + suppressed = every call');
    assert.ok(records.slice(1).every((r) => typeof r.fields.suppressed === 'number' && r.fields.suppressed > 0));
  });

  it('after a quiet interval the next call is written at once, without a suppressed field', async () => {
    const { log, records } = memoryLogger();
    const rl = rateLimited(log, 'k', { intervalMs: 30 });
    rl.info('a');
    await sleep(50);
    rl.info('b');
    assert.deepEqual(records.map((r) => [r.msg, r.fields.suppressed]), [['a', undefined], ['b', undefined]]);
  });

  it('keys are independent, each logger has its own, and one key gives back the same limiter', () => {
    const m1 = memoryLogger();
    const m2 = memoryLogger();
    assert.equal(rateLimited(m1.log, 'a'), rateLimited(m1.log, 'a'));
    rateLimited(m1.log, 'a').warn('a1');
    rateLimited(m1.log, 'a').warn('a2');
    rateLimited(m1.log, 'b').warn('b1');
    rateLimited(m2.log, 'a').warn('other logger');
    assert.deepEqual(m1.records.map((r) => r.msg), ['a1', 'b1']);
    assert.deepEqual(m2.records.map((r) => r.msg), ['other logger']);
    flushRateLimited(m1.log);
  });

  it('flushRateLimited writes the pending summaries at stop (with the latest level), and nothing when none is pending', () => {
    const { log, records } = memoryLogger();
    rateLimited(log, 'x').warn('first');
    rateLimited(log, 'x').warn('second');
    rateLimited(log, 'x').error('third', { n: 3 });
    rateLimited(log, 'quiet').info('only once');
    flushRateLimited(log);
    flushRateLimited(log);
    assert.deepEqual(
      records.map((r) => [r.level, r.msg, r.fields.suppressed]),
      [['warn', 'first', undefined], ['info', 'only once', undefined], ['error', 'third', 2]],
    );
  });

  it(`keys are bounded: past ${MAX_RATE_LIMIT_KEYS} the oldest is flushed and forgotten`, () => {
    const { log, records } = memoryLogger();
    rateLimited(log, 'k0').warn('k0');
    rateLimited(log, 'k0').warn('k0 again'); // pending on the oldest key
    for (let i = 1; i < MAX_RATE_LIMIT_KEYS; i++) rateLimited(log, `k${i}`);
    assert.equal(records.length, 1);
    rateLimited(log, 'one too many');
    assert.deepEqual(records[1], { level: 'warn', msg: 'k0 again', fields: { suppressed: 1 } }, 'the evicted key reported what it held');
    rateLimited(log, 'k0').warn('k0 is new again');
    assert.equal(records[2]!.msg, 'k0 is new again', 'a forgotten key starts a fresh window');
    flushRateLimited(log);
  });

  it('rejects a non-positive interval', () => {
    assert.throws(() => rateLimited(memoryLogger().log, 'bad', { intervalMs: 0 }), RangeError);
  });
});
