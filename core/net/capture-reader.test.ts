import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCodes, isTaplineError } from '../errors';
import { readCapture, readCaptureBuffer, type ReadCaptureResult } from './capture-reader';
import { buildPcap, PcapngBuilder, type WriteFrame } from './capture-writer';
import { epochToUs, haveTshark, tsharkFields } from '../../test/tshark';
import { LinkType, type RawFrame } from './types';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-capture-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tmpFile(name: string, bytes: Buffer): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
}

/** Deterministic frames of varied sizes (1 byte to a jumbo 9000) and µs timestamps. */
function sampleFrames(n: number): WriteFrame[] {
  const out: WriteFrame[] = [];
  let ts = 1_700_000_000_123_456;
  for (let i = 0; i < n; i++) {
    const size = i === 7 ? 9000 : 1 + ((i * 7919) % 1500);
    const data = Buffer.alloc(size);
    for (let j = 0; j < size; j++) data[j] = (i * 31 + j) & 0xff;
    ts += 1 + ((i * 104729) % 3_000_000);
    out.push({ ts, data, origLen: i % 5 === 0 ? size + 10 : size });
  }
  return out;
}

function collect(buf: Buffer): { frames: RawFrame[]; res: ReadCaptureResult } {
  const frames: RawFrame[] = [];
  const res = readCaptureBuffer(buf, (f) => frames.push(f));
  return { frames, res };
}

async function collectFile(file: string, chunkSize?: number): Promise<{ frames: RawFrame[]; res: ReadCaptureResult }> {
  const frames: RawFrame[] = [];
  const res = await readCapture(file, (f) => frames.push(f), chunkSize !== undefined ? { chunkSize } : {});
  return { frames, res };
}

function assertSameFrames(got: readonly RawFrame[], want: readonly WriteFrame[], linkType: number, tsTolerance = 0): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    const w = want[i] as WriteFrame;
    assert.equal(g.frameNo, i + 1);
    assert.equal(g.linkType, linkType);
    assert.ok(g.data.equals(w.data), `frame ${i + 1} data`);
    assert.equal(g.origLen, w.origLen ?? w.data.length);
    assert.ok(Math.abs(g.ts - w.ts) <= tsTolerance, `frame ${i + 1} ts ${g.ts} vs ${w.ts}`);
  });
}

async function expectError(p: Promise<unknown> | (() => unknown), code: string, re: RegExp): Promise<void> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    assert.ok(isTaplineError(e), `expected TaplineError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return;
  }
  assert.fail(`expected ${code}`);
}

describe('capture reader: classic pcap', () => {
  const frames = sampleFrames(40);
  const variants = [
    { name: 'little-endian µs', opts: { littleEndian: true }, tol: 0 },
    { name: 'big-endian µs', opts: { littleEndian: false }, tol: 0 },
    { name: 'little-endian ns', opts: { littleEndian: true, nanos: true }, tol: 0.001 },
    { name: 'big-endian ns', opts: { littleEndian: false, nanos: true }, tol: 0.001 },
    { name: 'modified (Kuznetzov) records', opts: { littleEndian: true, modified: true }, tol: 0 },
  ];
  for (const v of variants) {
    it(`reads ${v.name}`, async () => {
      const buf = buildPcap(frames, { linkType: LinkType.ETHERNET, ...v.opts });
      const { frames: got, res } = collect(buf);
      assert.deepEqual(res, { frames: 40, bytes: buf.length, format: 'pcap' });
      assertSameFrames(got, frames, LinkType.ETHERNET, v.tol);
      const file = tmpFile(`v-${v.name.replace(/\W+/g, '_')}.pcap`, buf);
      const fromFile = await collectFile(file);
      assert.deepEqual(fromFile.res, res);
      assertSameFrames(fromFile.frames, frames, LinkType.ETHERNET, v.tol);
    });
  }

  it('keeps ns precision in fractional µs', () => {
    const f = [{ ts: 1_700_000_000_000_000 + 0.75, data: Buffer.from('x') }];
    const { frames: got } = collect(buildPcap(f, { linkType: 1, nanos: true }));
    assert.equal(got[0]?.ts, 1_700_000_000_000_000.75);
  });

  it('masks FCS bits off the link type', () => {
    const buf = buildPcap(sampleFrames(1), { linkType: 1 });
    buf.writeUInt32LE(1 | 0x10000000 | 0x04000000, 20);
    assert.equal(collect(buf).frames[0]?.linkType, 1);
  });

  it('gives the same frames whatever the chunk size (records cross chunk boundaries everywhere)', async () => {
    const buf = buildPcap(frames, { linkType: 1, littleEndian: false });
    const file = tmpFile('chunks.pcap', buf);
    for (const chunkSize of [5, 16, 17, 100, 1499, 4096, 65536]) {
      const { frames: got, res } = await collectFile(file, chunkSize);
      assert.equal(res.frames, 40, `chunk ${chunkSize}`);
      assert.equal(res.warning, undefined);
      assertSameFrames(got, frames, 1);
    }
  });

  it('reads a header-only file as zero frames', async () => {
    const file = tmpFile('empty-capture.pcap', buildPcap([], { linkType: 1 }));
    assert.deepEqual((await collectFile(file)).res, { frames: 0, bytes: 24, format: 'pcap' });
  });
});

describe('capture reader: pcapng', () => {
  const frames = sampleFrames(30);

  it('reads one little-endian section', () => {
    const b = new PcapngBuilder().section(true).interface(LinkType.ETHERNET);
    for (const f of frames) b.epb(0, f);
    const { frames: got, res } = collect(b.build());
    assert.equal(res.format, 'pcapng');
    assert.equal(res.warning, undefined);
    assertSameFrames(got, frames, LinkType.ETHERNET);
  });

  it('reads one big-endian section', () => {
    const b = new PcapngBuilder().section(false).interface(LinkType.RAW, { snaplen: 65535 });
    for (const f of frames) b.epb(0, f);
    assertSameFrames(collect(b.build()).frames, frames, LinkType.RAW);
  });

  it('applies if_tsresol (decimal and power of 2) and if_tsoffset', () => {
    const base = 1_600_000_000_000_000;
    const b = new PcapngBuilder()
      .section()
      .interface(1, { tsresol: 9 })
      .interface(1, { tsresol: 0x80 | 20 })
      .interface(1, { tsresol: 3, tsoffsetSec: 1_000_000_000 })
      .interface(1, { tsresol: 6, tsoffsetSec: -10 });
    b.epb(0, { ts: 0, data: Buffer.from('a') }, BigInt(base) * 1000n + 789n); // ns
    b.epb(1, { ts: 0, data: Buffer.from('b') }, (1_600_000_000n << 20n) + 524288n); // 2^-20 s units: +0.5 s
    b.epb(2, { ts: 0, data: Buffer.from('c') }, 600_000_000_123n); // ms since offset
    b.epb(3, { ts: 0, data: Buffer.from('d') }, BigInt(base));
    const got = collect(b.build()).frames;
    assert.ok(Math.abs((got[0]?.ts ?? 0) - (base + 0.789)) < 0.3, `ns: ${got[0]?.ts}`);
    assert.equal(got[1]?.ts, 1_600_000_000_500_000);
    assert.equal(got[2]?.ts, 1_600_000_000_123_000);
    assert.equal(got[3]?.ts, base - 10e6);
    assert.deepEqual(got.map((f) => f.interfaceId), [0, 1, 2, 3]);
  });

  /** Several sections of both byte orders, interfaces of different link types, SPB, PB and filler blocks. */
  function mixedCapture(): { buf: Buffer; want: Array<{ frame: WriteFrame; linkType: number; ifId: number; spb: boolean }> } {
    const want: Array<{ frame: WriteFrame; linkType: number; ifId: number; spb: boolean }> = [];
    const f = sampleFrames(12);
    const at = (i: number): WriteFrame => f[i] as WriteFrame;
    const b = new PcapngBuilder();
    b.section(true).interface(LinkType.ETHERNET).interface(LinkType.LINUX_SLL, { tsresol: 9 });
    b.block(4, Buffer.from('0100040007000001000000000000000000000000', 'hex')); // NRB
    b.epb(0, at(0));
    want.push({ frame: at(0), linkType: 1, ifId: 0, spb: false });
    b.epb(1, at(1));
    want.push({ frame: at(1), linkType: 113, ifId: 1, spb: false });
    b.spb(at(2));
    want.push({ frame: at(2), linkType: 1, ifId: 0, spb: true });
    b.block(0x00000bad, Buffer.from('0000a0b0deadbeef', 'hex')); // custom block
    b.pb(1, at(3));
    want.push({ frame: at(3), linkType: 113, ifId: 1, spb: false });
    b.block(5, Buffer.alloc(12)); // ISB
    b.section(false).interface(LinkType.RAW, { tsresol: 0x80 | 16 }).interface(LinkType.LINUX_SLL2);
    b.epb(1, at(4));
    want.push({ frame: at(4), linkType: 276, ifId: 1, spb: false });
    b.epb(0, at(5));
    want.push({ frame: at(5), linkType: 101, ifId: 0, spb: false });
    b.block(0x0a, Buffer.from('4b53484b00000000', 'hex')); // DSB
    b.section(true).interface(LinkType.NULL, { tsoffsetSec: 3600 });
    for (const i of [6, 7, 8]) {
      b.epb(0, at(i));
      want.push({ frame: at(i), linkType: 0, ifId: 0, spb: false });
    }
    return { buf: b.build(), want };
  }

  it('reads several sections with both byte orders, interfaces of several link types, SPB, PB, skipping NRB/ISB/DSB/custom', async () => {
    const { buf, want } = mixedCapture();
    const check = (got: readonly RawFrame[]): void => {
      assert.equal(got.length, want.length);
      got.forEach((g, i) => {
        const w = want[i] as (typeof want)[number];
        assert.equal(g.frameNo, i < 3 ? i + 1 : i + 2, 'the custom block takes frame number 4');
        assert.equal(g.linkType, w.linkType, `frame ${i + 1} link type`);
        assert.equal(g.interfaceId, w.ifId);
        assert.ok(g.data.equals(w.frame.data), `frame ${i + 1} data`);
        // 2^-16 s resolution loses up to 15 µs; SPB has no time of its own (it takes the previous frame's).
        const expectTs = w.spb ? (want[i - 1] as (typeof want)[number]).frame.ts : w.frame.ts;
        assert.ok(Math.abs(g.ts - expectTs) < 16, `frame ${i + 1} ts ${g.ts} vs ${expectTs}`);
      });
    };
    const r = collect(buf);
    assert.equal(r.res.warning, undefined);
    check(r.frames);
    const file = tmpFile('mixed.pcapng', buf);
    for (const chunkSize of [1, 13, 256, 4096, undefined]) check((await collectFile(file, chunkSize)).frames);
  });

  it('agrees with tshark on the mixed pcapng (frame numbers, link types, timestamps)', function () {
    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: tshark comparison skipped');
      this.skip();
    }
    const { buf } = mixedCapture();
    const file = tmpFile('mixed-tshark.pcapng', buf);
    // tshark lists the custom block as frame 4 too; compare the packet frames by number.
    const rows = tsharkFields(file, ['frame.number', 'frame.time_epoch', 'frame.interface_id']).filter((r) => r[2] !== '');
    const ours = collect(buf).frames;
    assert.deepEqual(ours.map((f) => f.frameNo), [1, 2, 3, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(rows.map((r) => Number(r[0])), ours.map((f) => f.frameNo));
    rows.forEach((r, i) => {
      const f = ours[i] as RawFrame;
      assert.equal(Number(r[2]), f.interfaceId);
      if (f.frameNo === 3) return; // SPB: tshark shows no time for it
      assert.ok(Math.abs(epochToUs(r[1] ?? '') - f.ts) < 1, `frame ${f.frameNo}: tshark ${r[1]} vs ${f.ts}`);
    });
  });

  it('numbers custom and journal blocks like Wireshark but delivers only packets', () => {
    const b = new PcapngBuilder().section().interface(1);
    b.epb(0, { ts: 1, data: Buffer.from('a') });
    b.block(0x00000bad, Buffer.from('00007ed9deadbeef', 'hex'));
    b.block(0x40000bad, Buffer.from('00007ed9deadbeef', 'hex'));
    b.block(9, Buffer.from('__REALTIME_TIMESTAMP=1\nMESSAGE=x\n'));
    b.epb(0, { ts: 2, data: Buffer.from('b') });
    const skips: string[] = [];
    const frames: RawFrame[] = [];
    const res = readCaptureBuffer(b.build(), (f) => frames.push(f), { onSkip: (r) => skips.push(r) });
    assert.deepEqual(frames.map((f) => f.frameNo), [1, 5]);
    assert.equal(res.frames, 2);
    assert.deepEqual(skips, ['pcapng-custom-block', 'pcapng-custom-block', 'pcapng-journal-block']);
  });

  it('reports a packet block for an undefined interface through onSkip and does not number it', () => {
    const b = new PcapngBuilder().section().interface(1);
    b.epb(0, { ts: 1, data: Buffer.from('a') }).epb(5, { ts: 2, data: Buffer.from('b') }).epb(0, { ts: 3, data: Buffer.from('c') });
    const skips: string[] = [];
    const frames: RawFrame[] = [];
    readCaptureBuffer(b.build(), (f) => frames.push(f), { onSkip: (r, d) => skips.push(`${r}: ${d}`) });
    assert.deepEqual(frames.map((f) => [f.frameNo, f.data.toString()]), [[1, 'a'], [2, 'c']]);
    assert.equal(skips.length, 1);
    assert.match(skips[0] ?? '', /^pcapng-unknown-interface: .*interface 5/);
  });
});

describe('capture reader: bad input', () => {
  const frames = sampleFrames(20);
  const pcap = buildPcap(frames, { linkType: 1 });
  const ng = ((): Buffer => {
    const b = new PcapngBuilder().section().interface(1);
    for (const f of frames) b.epb(0, f);
    return b.build();
  })();
  /** Offset of record k (1-based) in `pcap`. */
  const pcapRecordOffset = (k: number): number => 24 + frames.slice(0, k - 1).reduce((s, f) => s + 16 + f.data.length, 0);

  it('throws CAPTURE_FORMAT for an empty file', async () => {
    await expectError(readCapture(tmpFile('empty.pcap', Buffer.alloc(0)), () => undefined), ErrorCodes.CAPTURE_FORMAT, /empty\.pcap is empty/);
  });

  it('throws CAPTURE_FORMAT naming the file and the magic for an unknown format', async () => {
    const file = tmpFile('junk.bin', Buffer.from('hello world, this is not a capture file'));
    await expectError(readCapture(file, () => undefined), ErrorCodes.CAPTURE_FORMAT, /junk\.bin: .*unknown magic 0x68656c6c/);
  });

  it('says clearly that Network Monitor captures are not supported', async () => {
    const file = tmpFile('netmon.cap', Buffer.concat([Buffer.from('GMBU'), Buffer.alloc(100)]));
    await expectError(readCapture(file, () => undefined), ErrorCodes.CAPTURE_FORMAT, /netmon\.cap: Microsoft Network Monitor .*not supported; convert with editcap\/tshark/);
  });

  it('throws CAPTURE_IO for a missing file', async () => {
    await expectError(readCapture(path.join(tmp, 'nope.pcap'), () => undefined), ErrorCodes.CAPTURE_IO, /nope\.pcap/);
  });

  it('throws CAPTURE_TRUNCATED for a file cut inside its header', async () => {
    await expectError(readCapture(tmpFile('hdr.pcap', pcap.subarray(0, 10)), () => undefined), ErrorCodes.CAPTURE_TRUNCATED, /pcap file header/);
    await expectError(readCapture(tmpFile('hdr.pcapng', ng.subarray(0, 30)), () => undefined), ErrorCodes.CAPTURE_TRUNCATED, /section header/);
  });

  it('delivers the frames before a truncated last record and warns "truncated at byte N (record K)"', async () => {
    for (const k of [1, 2, 13, 20]) {
      const recLen = 16 + (frames[k - 1] as WriteFrame).data.length;
      for (const cut of [1, 10, 16, recLen - 1].filter((c) => c < recLen)) {
        const start = pcapRecordOffset(k);
        const file = tmpFile(`trunc-${k}-${cut}.pcap`, pcap.subarray(0, start + cut));
        for (const chunkSize of [7, undefined]) {
          const { frames: got, res } = await collectFile(file, chunkSize);
          assert.equal(res.frames, k - 1);
          assert.equal(got.length, k - 1);
          assert.equal(res.warning, `truncated at byte ${start} (record ${k})`);
          assert.equal(res.bytes, start);
        }
      }
    }
  });

  it('does not warn when a file ends exactly after a record', async () => {
    const { res } = await collectFile(tmpFile('exact.pcap', pcap.subarray(0, pcapRecordOffset(5))));
    assert.deepEqual(res, { frames: 4, bytes: pcapRecordOffset(5), format: 'pcap' });
  });

  it('stops at an absurd captured length with a warning naming the offset', () => {
    const bad = Buffer.from(pcap);
    const at = pcapRecordOffset(6);
    bad.writeUInt32LE(0x7fffffff, at + 8);
    const { frames: got, res } = collect(bad);
    assert.equal(got.length, 5);
    assert.match(res.warning ?? '', new RegExp(`^corrupt record header at byte ${at} \\(record 6\\): captured length 2147483647 exceeds 262144`));
  });

  it('warns on a truncated pcapng and keeps the blocks before', () => {
    const { res } = collect(ng.subarray(0, ng.length - 5));
    assert.equal(res.frames, 19);
    assert.match(res.warning ?? '', /^truncated at byte \d+ \(record 22\)$/); // SHB, IDB, 19 EPBs, then the cut one
  });

  it('stops at a corrupt pcapng block length with a warning naming the offset', () => {
    // Offset of the 10th EPB: walk the blocks by their lengths.
    let off = 0;
    for (let i = 0; i < 2 + 9; i++) off += ng.readUInt32LE(off + 4);
    for (const [len, re] of [
      [0x7ffffff0, /block length 2147483632/],
      [13, /block length 13/],
      [ng.readUInt32LE(off + 4) + 4, /trailing length \d+ differs from leading length/],
    ] as const) {
      const bad = Buffer.from(ng);
      bad.writeUInt32LE(len, off + 4);
      const { frames: got, res } = collect(bad);
      assert.equal(got.length, 9);
      assert.match(res.warning ?? '', new RegExp(`^corrupt pcapng block at byte ${off} \\(record 12\\): `));
      assert.match(res.warning ?? '', re);
    }
  });

  it('stops on an abort signal between chunks and reports it', async () => {
    const file = tmpFile('abort.pcap', pcap);
    const ac = new AbortController();
    let n = 0;
    const res = await readCapture(file, () => {
      if (++n === 3) ac.abort();
    }, { signal: ac.signal, chunkSize: 64 });
    assert.equal(res.aborted, true);
    assert.ok(res.frames >= 3 && res.frames < 20, `frames ${res.frames}`);
  });

  it('reports progress up to the file size', async () => {
    const file = tmpFile('progress.pcap', pcap);
    const seen: Array<[number, number]> = [];
    await readCapture(file, () => undefined, { onProgress: (d, t) => seen.push([d, t]), chunkSize: 1000 });
    assert.ok(seen.length > 5);
    assert.deepEqual(seen[seen.length - 1], [pcap.length, pcap.length]);
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as [number, number])[0] >= (seen[i - 1] as [number, number])[0]);
  });
});
