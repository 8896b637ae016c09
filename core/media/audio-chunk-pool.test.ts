import * as assert from 'node:assert/strict';
import { AudioChunkPool } from './audio-chunk-pool';

describe('AudioChunkPool: gathering buffers used again', () => {
  it('gives back the buffer it was given, by length; a new one when none is free', () => {
    const pool = new AudioChunkPool();
    const a = pool.take(16000);
    assert.equal(a.length, 16000);
    pool.give(a);
    assert.equal(pool.bytes, 32000);
    assert.equal(pool.take(8000).length, 8000, 'another length: a new buffer');
    assert.equal(pool.take(16000), a, 'the same buffer again');
    assert.equal(pool.bytes, 0);
    assert.notEqual(pool.take(16000), a, 'none free: a new one');
  });

  it('keeps at most maxFreeBytes of free buffers; the rest are left to the garbage collector', () => {
    const pool = new AudioChunkPool(100_000);
    for (let i = 0; i < 10; i++) pool.give(new Int16Array(16000));
    assert.equal(pool.bytes, 96_000, 'three 32 000-byte buffers');
  });
});
