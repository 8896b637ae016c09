import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SourceProgress } from '../../core/contract';
import { CollectingIngest } from '../../core/testing/collecting-ingest';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { buildPcap, PcapngBuilder } from '../../core/net/capture-writer';
import { PcapFileSource } from './file-source';

describe('source-pcap: PcapFileSource', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-source-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const frames = Array.from({ length: 50 }, (_, i) => ({ ts: 1_700_000_000_000_000 + i * 20_000, data: Buffer.alloc(200, i) }));

  const sink = (): CollectingIngest => new CollectingIngest();
  const ready = { ready: (): void => undefined };

  it('streams every frame to the sink with progress up to the file size', async () => {
    const file = path.join(tmp, 'ok.pcap');
    const bytes = buildPcap(frames, { linkType: 1 });
    fs.writeFileSync(file, bytes);
    const src = new PcapFileSource(file);
    assert.equal(src.name, 'source-pcap');
    assert.equal(src.label, file);
    const s = sink();
    const progress: SourceProgress[] = [];
    const res = await src.run(s, new AbortController().signal, { ...ready, onProgress: (p) => progress.push(p) });
    assert.deepEqual(res, { frames: 50 });
    assert.deepEqual(s.frames.map((f) => f.frameNo), frames.map((_, i) => i + 1));
    assert.deepEqual(progress[progress.length - 1], { done: bytes.length, total: bytes.length });
  });

  it('returns the frames read and a warning for a truncated file', async () => {
    const file = path.join(tmp, 'cut.pcap');
    fs.writeFileSync(file, buildPcap(frames, { linkType: 1 }).subarray(0, 24 + 216 * 10 + 100));
    const s = sink();
    const res = await new PcapFileSource(file).run(s, new AbortController().signal, ready);
    assert.deepEqual(res, { frames: 10, warning: `truncated at byte ${24 + 216 * 10} (record 11)` });
    assert.equal(s.frames.length, 10);
  });

  it('forwards skipped records to sink.skip', async () => {
    const file = path.join(tmp, 'skip.pcapng');
    const b = new PcapngBuilder().section().interface(1);
    b.epb(0, frames[0] as (typeof frames)[number]).epb(3, frames[1] as (typeof frames)[number]);
    fs.writeFileSync(file, b.build());
    const s = sink();
    const res = await new PcapFileSource(file).run(s, new AbortController().signal, ready);
    assert.equal(res.frames, 1);
    assert.equal(s.skips.length, 1);
    assert.match(s.skips[0] ?? '', /^pcapng-unknown-interface: /);
  });

  it('stops when the signal aborts', async () => {
    const file = path.join(tmp, 'abort.pcap');
    fs.writeFileSync(file, buildPcap(frames, { linkType: 1 }));
    const ac = new AbortController();
    ac.abort();
    const res = await new PcapFileSource(file).run(sink(), ac.signal, ready);
    assert.ok(res.frames < 50);
  });

  it('throws CAPTURE_FORMAT for a file that is no capture', async () => {
    const file = path.join(tmp, 'text.pcap');
    fs.writeFileSync(file, 'not a capture at all');
    await assert.rejects(new PcapFileSource(file).run(sink(), new AbortController().signal), (e: unknown) => isTaplineError(e, ErrorCodes.CAPTURE_FORMAT));
  });
});
