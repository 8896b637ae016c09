import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ALAW_TABLE,
  alawToLinear,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeG711Exact,
  encodeUlaw,
  linearToAlaw,
  linearToUlaw,
  PCMA_PAYLOAD_TYPE,
  PCMU_PAYLOAD_TYPE,
  ULAW_TABLE,
  ulawToLinear,
} from './g711';

const SOX = '/usr/bin/sox';

function sine(n: number, freq: number, amp: number): Int16Array {
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / 8000));
  return pcm;
}

/** Every int16 value once, so the sox comparison covers every segment and both clip ends. */
function ramp(): Int16Array {
  const pcm = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
  return pcm;
}

describe('G.711', () => {
  it('has the RFC 3551 static payload types', () => {
    assert.equal(PCMU_PAYLOAD_TYPE, 0);
    assert.equal(PCMA_PAYLOAD_TYPE, 8);
  });

  it('decodes known µ-law values', () => {
    assert.equal(ulawToLinear(0xff), 0);
    assert.equal(ulawToLinear(0x7f), 0);
    assert.equal(ulawToLinear(0x80), 32124);
    assert.equal(ulawToLinear(0x00), -32124);
    assert.equal(ulawToLinear(0xfe), 8);
    assert.equal(ulawToLinear(0x7e), -8);
  });

  it('decodes known A-law values', () => {
    assert.equal(alawToLinear(0xd5), 8);
    assert.equal(alawToLinear(0x55), -8);
    assert.equal(alawToLinear(0xaa), 32256);
    assert.equal(alawToLinear(0x2a), -32256);
  });

  it('encodes zero and clips the extremes', () => {
    assert.equal(linearToUlaw(0), 0xff);
    assert.equal(linearToAlaw(0), 0xd5);
    assert.equal(linearToUlaw(32767), 0x80);
    assert.equal(linearToUlaw(-32768), 0x00);
    assert.equal(linearToAlaw(32767), 0xaa);
    assert.equal(linearToAlaw(-32768), 0x2a);
    // Out-of-range numbers saturate rather than wrap.
    assert.equal(linearToUlaw(100000), 0x80);
    assert.equal(linearToAlaw(-100000), 0x2a);
  });

  it('tables agree with the scalar functions, but for the µ-law negative zero, which decodes to -1 (a value of its own)', () => {
    for (let b = 0; b < 256; b++) {
      assert.equal(ULAW_TABLE[b], b === 0x7f ? -1 : ulawToLinear(b));
      assert.equal(ALAW_TABLE[b], alawToLinear(b));
    }
    assert.equal(new Set(ULAW_TABLE).size, 256, 'every µ-law code decodes to a different sample');
    assert.equal(new Set(ALAW_TABLE).size, 256, 'every A-law code decodes to a different sample');
  });

  it('encodeG711Exact gives back every received byte from its decoded sample (µ-law 0x7F included)', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual([...encodeG711Exact('ulaw', decodeUlaw(all))], [...all]);
    assert.deepEqual([...encodeG711Exact('alaw', decodeAlaw(all))], [...all]);
    // Other values encode as the reference does (-1 is the negative zero's own value).
    const pcm = Int16Array.from([0, 5, -5, 1000, -32768, 32767, -1]);
    assert.deepEqual([...encodeG711Exact('ulaw', pcm)], [...encodeUlaw(pcm.subarray(0, 6)), 0x7f]);
  });

  it('round-trips every µ-law code byte except the negative zero 0x7F', () => {
    for (let b = 0; b < 256; b++) {
      const back = linearToUlaw(ulawToLinear(b));
      assert.equal(back, b === 0x7f ? 0xff : b, `byte 0x${b.toString(16)}`);
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    // The reference encoder never makes 0x7F: its -1 (what the negative zero decodes to) is 0x7E.
    const again = encodeUlaw(decodeUlaw(all));
    for (let b = 0; b < 256; b++) assert.equal(again[b], b === 0x7f ? 0x7e : b);
  });

  it('round-trips every A-law code byte', () => {
    for (let b = 0; b < 256; b++) assert.equal(linearToAlaw(alawToLinear(b)), b, `byte 0x${b.toString(16)}`);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual([...encodeAlaw(decodeAlaw(all))], [...all]);
  });

  it('table encoders equal the scalar encoders for every int16', () => {
    const pcm = ramp();
    const u = encodeUlaw(pcm);
    const a = encodeAlaw(pcm);
    for (let i = 0; i < pcm.length; i++) {
      if (u[i] !== linearToUlaw(pcm[i] as number)) assert.fail(`µ-law differs at ${pcm[i]}`);
      if (a[i] !== linearToAlaw(pcm[i] as number)) assert.fail(`A-law differs at ${pcm[i]}`);
    }
  });

  it('decodes into a caller buffer and rejects one that is too small', () => {
    const out = new Int16Array(8);
    const got = decodeUlaw(Buffer.from([0xff, 0x80, 0x00]), out);
    assert.deepEqual([...got], [0, 32124, -32124]);
    assert.equal(got.buffer, out.buffer);
    assert.throws(() => decodeAlaw(Buffer.alloc(9), out), RangeError);
  });

  (fs.existsSync(SOX) ? describe : describe.skip)('matches sox sample for sample', () => {
    let dir = '';
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g711-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const cases: Array<{ name: string; type: string; enc: (p: Int16Array) => Buffer; dec: (b: Buffer) => Int16Array }> = [
      { name: 'µ-law', type: 'ul', enc: encodeUlaw, dec: (b) => decodeUlaw(b) },
      { name: 'A-law', type: 'al', enc: encodeAlaw, dec: (b) => decodeAlaw(b) },
    ];
    for (const c of cases) {
      it(`${c.name}: our encode, sox decode == our decode`, () => {
        const pcm = new Int16Array([...sine(8000, 440, 30000), ...sine(800, 1000, 200), ...ramp()]);
        const coded = c.enc(pcm);
        const file = path.join(dir, `in.${c.type}.raw`);
        fs.writeFileSync(file, coded);
        const raw = execFileSync(SOX, ['-t', c.type, '-r', '8000', '-c', '1', file, '-t', 's16', '-L', '-'], { maxBuffer: 1 << 24 });
        const soxPcm = new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
        const ours = c.dec(coded);
        assert.equal(soxPcm.length, ours.length);
        for (let i = 0; i < ours.length; i++) if (soxPcm[i] !== ours[i]) assert.fail(`sample ${i}: sox ${soxPcm[i]}, ours ${ours[i]}`);
      });

      // sox rounds to 14/13 bits before companding where the reference truncates (>> 2, >> 3), so the
      // encoders agree only on multiples of 8; -D stops sox dithering, which would move codes by one step.
      it(`${c.name}: sox encode == our encode on multiples of 8`, () => {
        const pcm = ramp().filter((s) => s % 8 === 0);
        const file = path.join(dir, `in.${c.type}.s16`);
        fs.writeFileSync(file, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
        const soxCoded = execFileSync(SOX, ['-D', '-t', 's16', '-L', '-r', '8000', '-c', '1', file, '-t', c.type, '-'], { maxBuffer: 1 << 24 });
        const ours = c.enc(pcm);
        assert.equal(soxCoded.length, ours.length);
        for (let i = 0; i < ours.length; i++) if (soxCoded[i] !== ours[i]) assert.fail(`sample ${pcm[i]}: sox 0x${soxCoded[i]?.toString(16)}, ours 0x${ours[i]?.toString(16)}`);
      });
    }
  });
});
