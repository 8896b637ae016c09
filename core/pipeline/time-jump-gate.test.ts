import { strict as assert } from 'node:assert';
import { LinkType, type RawFrame } from '../net/types';
import { TimeJumpGate } from './time-jump-gate';

const S = 1_000_000;
const frame = (n: number, ts: number): RawFrame => ({ ts, linkType: LinkType.RAW, data: Buffer.alloc(0), origLen: 0, interfaceId: 0, frameNo: n });

function run(times: number[]): { out: Array<[number, number]>; outliers: number[] } {
  const outliers: number[] = [];
  const gate = new TimeJumpGate((f) => outliers.push(f.frameNo), 600 * S);
  const out: Array<[number, number]> = [];
  const deliver = (f: RawFrame): void => void out.push([f.frameNo, f.ts]);
  times.forEach((t, i) => gate.push(frame(i + 1, t), deliver));
  gate.flush(deliver);
  return { out, outliers };
}

describe('pipeline: TimeJumpGate (capture-time outliers in files)', () => {
  it('an isolated frame a day ahead goes on, in order, stamped with the time so far, and is counted', () => {
    const r = run([10 * S, 10.02 * S, 86_410 * S, 10.06 * S, 10.08 * S]);
    assert.deepEqual(r.out, [[1, 10 * S], [2, 10.02 * S], [3, 10.02 * S], [4, 10.06 * S], [5, 10.08 * S]]);
    assert.deepEqual(r.outliers, [3]);
  });

  it('a real pause (the next frame is as far ahead) passes untouched', () => {
    const r = run([10 * S, 5000 * S, 5000.02 * S, 5000.04 * S]);
    assert.deepEqual(r.out.map(([, t]) => t), [10 * S, 5000 * S, 5000.02 * S, 5000.04 * S]);
    assert.deepEqual(r.outliers, []);
  });

  it('a jump in the last frame of a capture goes on as it is (nothing refutes it); small steps are never held', () => {
    const r = run([10 * S, 20 * S, 500 * S, 100_000 * S]);
    assert.deepEqual(r.out.map(([n]) => n), [1, 2, 3, 4]);
    assert.equal(r.out[3]?.[1], 100_000 * S);
    assert.deepEqual(r.outliers, []);
  });
});
