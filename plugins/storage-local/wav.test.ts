import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readWav, repairWav, WavFileWriter } from './wav';

/** Writes chunks back to back. */
async function writeAll(w: WavFileWriter, chunks: Int16Array[]): Promise<void> {
  for (const c of chunks) await w.write(w.frames, c);
}

const SOX = '/usr/bin/sox';
const hasSox = fs.existsSync(SOX);

function tone(n: number, channels: number, seed = 1): Int16Array {
  const a = new Int16Array(n * channels);
  for (let i = 0; i < a.length; i++) a[i] = Math.round(Math.sin((i + seed) * 0.05 * (1 + (i % channels))) * 12000) + (i % 7) - 3;
  return a;
}

function headerSizes(file: string): { riff: number; data: number; length: number } {
  const b = fs.readFileSync(file);
  return { riff: b.readUInt32LE(4), data: b.readUInt32LE(40), length: b.length };
}

/** `sox --i` fields of interest. */
function soxInfo(file: string): { channels: number; rate: number; samples: number } {
  const out = execFileSync(SOX, ['--i', file], { encoding: 'utf8' });
  const field = (re: RegExp): number => Number(re.exec(out)?.[1]);
  return { channels: field(/Channels\s*:\s*(\d+)/), rate: field(/Sample Rate\s*:\s*(\d+)/), samples: field(/=\s*(\d+) samples/) };
}

function soxi(file: string, flag: string): number {
  return Number(execFileSync('/usr/bin/soxi', [flag, file], { encoding: 'utf8' }).trim());
}

describe('WAV writer', () => {
  let dir: string;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-wav-'));
  });
  afterEach(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes a canonical 44-byte header and reads back exactly', async () => {
    const file = path.join(dir, 'a.wav');
    const w = await WavFileWriter.create(file, { sampleRate: 8000, channels: 2 });
    const chunks = [tone(160, 2), tone(160, 2, 5), tone(8000, 2, 9)];
    await writeAll(w, chunks);
    assert.equal(w.frames, 8320);
    await w.close();
    await w.close(); // idempotent
    const b = fs.readFileSync(file);
    assert.equal(b.length, 44 + 8320 * 4);
    assert.equal(b.toString('latin1', 0, 4), 'RIFF');
    assert.equal(b.readUInt32LE(4), b.length - 8);
    assert.equal(b.toString('latin1', 8, 16), 'WAVEfmt ');
    assert.equal(b.readUInt32LE(16), 16);
    assert.equal(b.readUInt16LE(20), 1);
    assert.equal(b.readUInt16LE(22), 2);
    assert.equal(b.readUInt32LE(24), 8000);
    assert.equal(b.readUInt32LE(28), 32000);
    assert.equal(b.readUInt16LE(32), 4);
    assert.equal(b.readUInt16LE(34), 16);
    assert.equal(b.toString('latin1', 36, 40), 'data');
    assert.equal(b.readUInt32LE(40), 8320 * 4);
    const r = readWav(file);
    assert.equal(r.sampleRate, 8000);
    assert.equal(r.channels, 2);
    const all = new Int16Array(8320 * 2);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    assert.deepEqual(r.samples, all);
    await assert.rejects(w.write(w.frames, tone(1, 2)), /closed/);
  });

  it('an empty recording is a valid WAV of 0 frames', async () => {
    const file = path.join(dir, 'empty.wav');
    await (await WavFileWriter.create(file, { sampleRate: 16000, channels: 1 })).close();
    assert.deepEqual(headerSizes(file), { riff: 36, data: 0, length: 44 });
    assert.equal(readWav(file).samples.length, 0);
    assert.deepEqual(repairWav(file), { repaired: false, frames: 0, sampleRate: 16000, channels: 1 });
  });

  it('the header never claims bytes the file lacks, and lags the audio by at most 8 s', async () => {
    const file = path.join(dir, 's.wav');
    const w = await WavFileWriter.create(file, { sampleRate: 8000, channels: 1 });
    const lagBytes = 8 * 8000 * 2;
    // Small writes (gathered in the 24 KiB buffer) and the core's one-second ones (straight to the file).
    const sizes = [...new Array(200).fill(160), ...new Array(10).fill(8000)];
    for (const [i, n] of sizes.entries()) {
      await w.write(w.frames, tone(n, 1, i));
      const h = headerSizes(file);
      assert.ok(h.data <= h.length - 44, 'the header claims only bytes in the file');
      assert.ok(w.frames * 2 - h.data <= lagBytes + 24 * 1024, `${w.frames * 2 - h.data} bytes beyond the header`);
      assert.equal(h.riff, h.data + 36);
    }
    await w.flush();
    assert.equal(headerSizes(file).data, w.frames * 2, 'exact after a flush');
    await w.close();
  });

  it('a large chunk after small writes goes to the file with them in one write, not through the buffer', async () => {
    const file = path.join(dir, 'mixed.wav');
    const w = await WavFileWriter.create(file, { sampleRate: 8000, channels: 2 });
    // What the core sends: a partial second (a metadata refresh flushed it), then whole seconds.
    const parts = [tone(3000, 2, 1), tone(8000, 2, 2), tone(8000, 2, 3), tone(77, 2, 4), tone(8000, 2, 5)];
    const fh = (w as unknown as { fh: { writev: (...a: unknown[]) => Promise<unknown>; write: (...a: unknown[]) => Promise<unknown> } }).fh;
    const calls: string[] = [];
    const writev = fh.writev.bind(fh);
    const write = fh.write.bind(fh);
    fh.writev = (...a: unknown[]) => (calls.push('writev'), writev(...a));
    fh.write = (...a: unknown[]) => (calls.push(`write ${(a[2] as number | undefined) ?? ''}`), write(...a));
    await writeAll(w, parts);
    // Each whole second with what was buffered before it: 2 writev; the second in between went alone; headers of 40 bytes.
    assert.deepEqual(calls.filter((c) => c !== 'write 40'), ['writev', 'write 32000', 'writev']);
    await w.close();
    const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) (all.set(p, off), (off += p.length));
    assert.deepEqual(readWav(file).samples, all);
  });

  it('a write at a later frame leaves silence before it; a gap at the very end is silence too', async () => {
    const file = path.join(dir, 'gap.wav');
    const w = await WavFileWriter.create(file, { sampleRate: 8000, channels: 2 });
    const a = tone(100, 2, 1);
    const b = tone(50, 2, 2);
    await w.write(0, a);
    await w.write(30_000, b); // 29,900 frames dropped by the queue in between
    assert.equal(w.frames, 30_050);
    await w.write(30_050, b.subarray(0, 0));
    // Overlapping audio (never sent by the queue) keeps only its new part.
    await w.write(30_040, tone(20, 2, 3));
    assert.equal(w.frames, 30_060);
    await w.close();
    const r = readWav(file);
    assert.equal(r.samples.length, 30_060 * 2);
    assert.deepEqual(r.samples.subarray(0, 200), a);
    assert.ok(r.samples.subarray(200, 60_000).every((v) => v === 0), 'silence in the gap');
    assert.deepEqual(r.samples.subarray(60_000, 60_100), b);
    assert.deepEqual(r.samples.subarray(60_100), tone(20, 2, 3).subarray(20));

    const end = path.join(dir, 'gap-end.wav');
    const e = await WavFileWriter.create(end, { sampleRate: 8000, channels: 1 });
    await e.write(0, tone(10, 1));
    await e.write(8000, new Int16Array(0)); // audio up to frame 8000 was dropped, then the call ended
    await e.close();
    assert.deepEqual(headerSizes(end), { riff: 36 + 16_000, data: 16_000, length: 44 + 16_000 });
  });

  it('handles odd chunk sizes and rejects partial frames', async () => {
    const file = path.join(dir, 'odd.wav');
    const w = await WavFileWriter.create(file, { sampleRate: 11025, channels: 2 });
    const sizes = [1, 3, 7, 333, 0, 1001, 5];
    const parts = sizes.map((n, i) => tone(n, 2, i));
    await writeAll(w, parts);
    await assert.rejects(w.write(w.frames, new Int16Array(3)), /whole number/);
    await w.close();
    const total = sizes.reduce((a, b) => a + b, 0);
    const r = readWav(file);
    assert.equal(r.samples.length, total * 2);
    assert.deepEqual(r.samples.subarray(0, 2), parts[0]);
    assert.deepEqual(r.samples.subarray(r.samples.length - 10), parts[6]);
    assert.deepEqual(headerSizes(file), { riff: 36 + total * 4, data: total * 4, length: 44 + total * 4 });

    // A write from a view into a larger buffer writes only the view.
    const mono = path.join(dir, 'view.wav');
    const big = tone(100, 1);
    const m = await WavFileWriter.create(mono, { sampleRate: 8000, channels: 1 });
    await m.write(0, big.subarray(17, 48));
    await m.close();
    assert.deepEqual(readWav(mono).samples, big.slice(17, 48));
  });

  it('survives being killed mid-call: the header matches the file, repairWav makes it exact', async () => {
    const file = path.join(dir, 'killed.wav');
    // A real SIGKILL in a child process: no close(), no exit handlers.
    const ts = __filename.endsWith('.ts');
    const mod = path.join(__dirname, ts ? 'wav.ts' : 'wav.js');
    const script = `
      const { WavFileWriter } = require(${JSON.stringify(mod)});
      (async () => {
        const w = await WavFileWriter.create(${JSON.stringify(file)}, { sampleRate: 8000, channels: 2 });
        for (let i = 0; i < 500; i++) {
          const a = new Int16Array(320);
          for (let j = 0; j < a.length; j++) a[j] = ((i * 320 + j) * 37) % 65536 - 32768;
          await w.write(w.frames, a);
        }
        process.kill(process.pid, 'SIGKILL');
      })();`;
    const repoRoot = path.resolve(__dirname, ts ? '../..' : '../../..');
    const r = spawnSync(process.execPath, [...(ts ? ['--import', 'tsx'] : []), '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const frames = 500 * 160; // 10 s at 8 kHz: the header was rewritten (every 8 s of audio)
    const expected = new Int16Array(frames * 2);
    for (let k = 0; k < expected.length; k++) expected[k] = ((k * 37) % 65536) - 32768;

    const h = headerSizes(file);
    // Samples are gathered into 24 KiB writes: at most that much (0.77 s at 8 kHz stereo) was still in memory.
    const inFile = (h.length - 44) / 4;
    assert.ok(inFile <= frames && frames - inFile <= 6144, `${frames - inFile} frames never reached the file`);
    assert.ok(h.data > 0 && h.data <= h.length - 44 && h.length - 44 - h.data <= 8 * 8000 * 4, `the header claims ${h.data} of the file's ${h.length - 44} data bytes`);
    assert.equal(h.riff, h.data + 36);
    // Readable as it is, just shorter.
    assert.equal(readWav(file).samples.length * 2, h.data);

    // A trailing partial frame (killed mid-write) is dropped by the repair.
    fs.appendFileSync(file, Buffer.from([1, 2, 3]));
    assert.deepEqual(repairWav(file), { repaired: true, frames: inFile, sampleRate: 8000, channels: 2 });
    assert.deepEqual(headerSizes(file), { riff: 36 + inFile * 4, data: inFile * 4, length: 44 + inFile * 4 });
    assert.deepEqual(readWav(file).samples, expected.subarray(0, inFile * 2));
    assert.deepEqual(repairWav(file), { repaired: false, frames: inFile, sampleRate: 8000, channels: 2 });
    if (hasSox) {
      assert.deepEqual(soxInfo(file), { channels: 2, rate: 8000, samples: inFile });
    }
  });

  it('repairs a header left at zero sizes and a file with chunks before the data', async () => {
    const file = path.join(dir, 'zero.wav');
    const w = await WavFileWriter.create(file, { sampleRate: 16000, channels: 1 });
    await w.write(0, tone(17777, 1));
    await w.close();
    // As a writer killed before its first header rewrite leaves it: the data in the file, both sizes zero.
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(4), 0, 4, 4);
    fs.writeSync(fd, Buffer.alloc(4), 0, 4, 40);
    fs.closeSync(fd);
    assert.equal(headerSizes(file).data, 0);
    assert.deepEqual(repairWav(file), { repaired: true, frames: 17777, sampleRate: 16000, channels: 1 });

    // A LIST chunk between fmt and data (as other tools write): the data chunk is still found.
    const other = path.join(dir, 'list.wav');
    const src = fs.readFileSync(file);
    const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx', 'latin1'), Buffer.from([0])]);
    const crashed = Buffer.concat([src.subarray(0, 36), list, Buffer.from('data', 'latin1'), Buffer.alloc(4), src.subarray(44), Buffer.from([9])]);
    fs.writeFileSync(other, crashed);
    assert.deepEqual(repairWav(other), { repaired: true, frames: 17777, sampleRate: 16000, channels: 1 });
    const fixed = fs.readFileSync(other);
    assert.equal(fixed.length, crashed.length - 1);
    assert.equal(fixed.readUInt32LE(4), fixed.length - 8);
    assert.deepEqual(readWav(other).samples, readWav(file).samples);
  });

  it('refuses files that are not WAV, and leaves them untouched', async () => {
    const file = path.join(dir, 'notes.wav');
    const text = 'this is not audio, just some text that is long enough to have a header\n';
    fs.writeFileSync(file, text);
    assert.throws(() => repairWav(file), /not a WAV file/);
    assert.throws(() => readWav(file), /not a WAV file/);
    assert.equal(fs.readFileSync(file, 'utf8'), text);
    const short = path.join(dir, 'short.wav');
    fs.writeFileSync(short, 'RIFF');
    assert.throws(() => repairWav(short), /not a WAV file/);
    const nodata = path.join(dir, 'nodata.wav');
    fs.writeFileSync(nodata, Buffer.concat([Buffer.from('RIFF\x04\x00\x00\x00WAVE', 'latin1')]));
    assert.throws(() => repairWav(nodata), /no WAV data chunk/);
    assert.throws(() => repairWav(path.join(dir, 'missing.wav')), /ENOENT/);
  });

  (hasSox ? it : it.skip)('sox agrees with the header (sox --i, soxi)', async () => {
    for (const [rate, channels, frames] of [
      [8000, 1, 8000],
      [16000, 2, 12345],
      [48000, 2, 1],
    ] as const) {
      const file = path.join(dir, `sox-${rate}-${channels}.wav`);
      const w = await WavFileWriter.create(file, { sampleRate: rate, channels });
      await w.write(0, tone(frames, channels));
      await w.close();
      assert.deepEqual(soxInfo(file), { channels, rate, samples: frames });
      assert.equal(soxi(file, '-s'), frames);
      assert.equal(soxi(file, '-r'), rate);
      assert.equal(soxi(file, '-c'), channels);
      assert.equal(soxi(file, '-b'), 16);
      // sox decodes the samples we wrote.
      const raw = execFileSync(SOX, [file, '-t', 'raw', '-e', 'signed', '-b', '16', '-L', '-'], { maxBuffer: 1 << 26 });
      assert.deepEqual(new Int16Array(raw.buffer, raw.byteOffset, raw.length / 2), readWav(file).samples);
    }
  });
});
