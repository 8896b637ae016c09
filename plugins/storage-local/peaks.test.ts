import * as assert from 'node:assert/strict';
import { PeakAccumulator, peaksOf } from './peaks';

describe('storage-local: waveform peaks', () => {
  it('keeps the loudest sample of each channel per 1/50 s, gaps as silence', () => {
    const acc = new PeakAccumulator(8000, 2);
    // 160 frames = one peak: caller at 16384, callee at -32768 (clipped to full scale).
    const a = new Int16Array(320);
    for (let i = 0; i < 160; i++) {
      a[i * 2] = i === 7 ? 16384 : 100;
      a[i * 2 + 1] = -32768;
    }
    acc.add(0, a);
    // A gap of one peak, then audio in the third.
    const b = new Int16Array(320).fill(3277);
    acc.add(320, b);
    const r = acc.result();
    assert.equal(r.peaksPerSec, 50);
    assert.equal(r.durationSec, 480 / 8000);
    assert.deepEqual(r.channels, [
      [0.5, 0, 0.1],
      [1, 0, 0.1],
    ]);
  });

  it('grows for long recordings and matches the one-shot computation', () => {
    const n = 8000 * 120;
    const pcm = new Int16Array(n);
    for (let i = 0; i < n; i++) pcm[i] = Math.round(Math.sin(i / 10) * (i % 8000));
    const acc = new PeakAccumulator(8000, 1);
    for (let at = 0; at < n; at += 333) acc.add(at, pcm.subarray(at, Math.min(n, at + 333)));
    assert.deepEqual(acc.result(), peaksOf(pcm, 8000, 1));
    assert.equal(acc.result().channels[0]?.length, 120 * 50);
  });
});
