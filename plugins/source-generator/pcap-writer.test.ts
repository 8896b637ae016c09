import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { readCapture } from '../../core/net/capture-reader';
import { PcapngWriter, PcapWriter } from '../../core/net/pcap-writer';
import { haveTshark, tsharkFields } from '../../test/tshark';
import type { RawFrame } from '../../core/net/types';

describe('core/net/pcap-writer', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-pcapw-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const T0 = 1_705_309_200_000_000;

  async function readAll(file: string): Promise<RawFrame[]> {
    const out: RawFrame[] = [];
    await readCapture(file, (f) => out.push({ ...f, data: Buffer.from(f.data) }));
    return out;
  }

  it('streams many frames across chunk boundaries and reads back identical (µs)', async () => {
    const file = path.join(tmp, 'many.pcap');
    const w = new PcapWriter(file, 1, { chunkSize: 64 * 1024 });
    const n = 5000;
    for (let i = 0; i < n; i++) {
      w.write(T0 + i * 20_000 + (i % 7), Buffer.alloc(60 + (i % 300), i & 0xff));
      if (w.needsDrain) await w.drain();
    }
    await w.close();
    const frames = await readAll(file);
    assert.equal(frames.length, n);
    frames.forEach((f, i) => {
      assert.equal(f.ts, T0 + i * 20_000 + (i % 7));
      assert.equal(f.data.length, 60 + (i % 300));
      assert.equal(f.data[0], i & 0xff);
      assert.equal(f.frameNo, i + 1);
    });
  });

  it('writes nanosecond timestamps and frames larger than a chunk', async () => {
    const file = path.join(tmp, 'ns.pcap');
    const w = new PcapWriter(file, 1, { nanosecond: true, chunkSize: 64 * 1024 });
    w.write(T0 + 0.123, Buffer.alloc(100, 1));
    w.write(T0 + 999_999.999, Buffer.alloc(200_000, 2)); // fraction rounds within the second
    w.write(T0 + 2_000_000, Buffer.alloc(10, 3));
    await w.close();
    const frames = await readAll(file);
    assert.deepEqual(
      frames.map((f) => [f.ts, f.data.length]),
      [
        [T0 + 0.123, 100],
        [T0 + 999_999.999, 200_000],
        [T0 + 2_000_000, 10],
      ],
    );
  });

  it('beginRecord lets a producer fill the frame in place', async () => {
    const file = path.join(tmp, 'inplace.pcap');
    const w = new PcapWriter(file);
    const off = w.beginRecord(T0, 4);
    w.buf.writeUInt32BE(0xdeadbeef, off);
    await w.close();
    const [f] = await readAll(file);
    assert.equal(f?.data.toString('hex'), 'deadbeef');
  });

  it('writes pcapng with several interfaces (µs and ns) that our reader and tshark read', async () => {
    const file = path.join(tmp, 'multi.pcapng');
    const w = new PcapngWriter(file, [{ linkType: 1, name: 'eth0' }, { linkType: 101, name: 'raw', nanosecond: true }]);
    w.write(T0, Buffer.alloc(60, 0xaa), 0);
    w.write(T0 + 1.5, Buffer.alloc(41, 0xbb), 1); // odd length: padded to 4
    w.write(T0 + 20_000, Buffer.alloc(60, 0xcc), 0);
    await w.close();
    const frames = await readAll(file);
    assert.deepEqual(
      frames.map((f) => [f.interfaceId, f.linkType, f.ts, f.data.length, f.data[0]]),
      [
        [0, 1, T0, 60, 0xaa],
        [1, 101, T0 + 1.5, 41, 0xbb],
        [0, 1, T0 + 20_000, 60, 0xcc],
      ],
    );
    if (!haveTshark()) return void console.log('      (tshark not installed: skipping the tshark read)');
    const rows = tsharkFields(file, ['frame.interface_id', 'frame.len']);
    assert.deepEqual(rows, [['0', '60'], ['1', '41'], ['0', '60']]);
  });

  it('fails with CAPTURE_IO on a bad path, and on write after close', async () => {
    assert.throws(() => new PcapWriter(path.join(tmp, 'no', 'such', 'dir.pcap')), (e: unknown) => isTaplineError(e, ErrorCodes.CAPTURE_IO));
    const w = new PcapWriter(path.join(tmp, 'closed.pcap'));
    await w.close();
    await w.close(); // idempotent
    assert.throws(() => w.write(T0, Buffer.alloc(60)), (e: unknown) => isTaplineError(e, ErrorCodes.CAPTURE_IO));
  });
});
