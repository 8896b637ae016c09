import * as assert from 'node:assert/strict';
import { BatchWriter, readBatch, REC_RTCP, REC_RTP, RTP_HEADER, type MediaRecord } from './media-batch';

describe('media batches for call workers', () => {
  it('packets and event markers come back in order, with every field', () => {
    const w = new BatchWriter(new ArrayBuffer(4096));
    w.media(REC_RTP, 7, 'callee', 2, 3, 4, 1_700_000_000_123_456, Buffer.from([0x80, 0, 1, 2]));
    w.event();
    w.media(REC_RTCP, 0xffffffff, 'caller', 0, 0, 0, 5, Buffer.alloc(0));
    const seen: Array<Omit<MediaRecord, 'payload'> & { payload: number[] } | 'event'> = [];
    readBatch(w.buf, w.len, (r) => seen.push({ ...r, payload: [...r.payload] }), () => seen.push('event'));
    assert.deepEqual(seen, [
      { kind: REC_RTP, slot: 7, sender: 'callee', how: 2, flow: 3, rtpmap: 4, ts: 1_700_000_000_123_456, payload: [0x80, 0, 1, 2] },
      'event',
      { kind: REC_RTCP, slot: 0xffffffff, sender: 'caller', how: 0, flow: 0, rtpmap: 0, ts: 5, payload: [] },
    ]);
  });

  it('a truncated batch is refused with the offset, not read past its end', () => {
    const w = new BatchWriter(new ArrayBuffer(4096));
    w.media(REC_RTP, 1, 'caller', 0, 1, 0, 0, Buffer.alloc(100));
    assert.throws(() => readBatch(w.buf, RTP_HEADER + 50, () => {}, () => {}), /media batch truncated at byte 24/);
    assert.throws(() => readBatch(w.buf, 10, () => {}, () => {}), /media batch truncated at byte 0/);
  });

  it('fits() says when a batch is full', () => {
    const w = new BatchWriter(new ArrayBuffer(RTP_HEADER + 10));
    assert.ok(w.fits(RTP_HEADER + 10));
    w.media(REC_RTP, 1, 'caller', 0, 1, 0, 0, Buffer.alloc(10));
    assert.ok(!w.fits(1));
  });
});
