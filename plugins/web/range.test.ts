import * as assert from 'node:assert/strict';
import { parseRange } from './range';

describe('web: HTTP Range', () => {
  it('reads first, middle, open-ended and suffix ranges, clipped to the size', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { kind: 'part', start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=500-', 1000), { kind: 'part', start: 500, end: 999 });
    assert.deepEqual(parseRange('bytes=-100', 1000), { kind: 'part', start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-5000', 1000), { kind: 'part', start: 0, end: 999 });
    assert.deepEqual(parseRange('bytes=990-5000', 1000), { kind: 'part', start: 990, end: 999 });
    assert.deepEqual(parseRange(' bytes = 1-2, 5-6', 1000), { kind: 'part', start: 1, end: 2 }, 'several ranges: the first');
  });

  it('says what cannot be satisfied, and ignores what is not a byte range', () => {
    for (const h of ['bytes=1000-', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'bytes=a-b']) assert.deepEqual(parseRange(h, 1000), { kind: 'unsatisfiable' }, h);
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange(undefined, 1000), { kind: 'all' });
    assert.deepEqual(parseRange('items=0-1', 1000), { kind: 'all' });
  });
});
