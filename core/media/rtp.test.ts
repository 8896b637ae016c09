import { strict as assert } from 'node:assert';
import { isRtcp, parseRtp, SequenceTracker, seqDelta, tsDelta, unwrap } from './rtp';

/** An RTP packet: 12-byte header, optional CSRCs, extension words and padding. */
function rtpBytes(o: { seq?: number; ts?: number; ssrc?: number; pt?: number; marker?: boolean; payload?: Buffer; csrc?: number[]; extWords?: number; pad?: number } = {}): Buffer {
  const csrc = o.csrc ?? [];
  const ext = o.extWords === undefined ? Buffer.alloc(0) : Buffer.alloc(4 + o.extWords * 4);
  if (o.extWords !== undefined) {
    ext.writeUInt16BE(0xbede, 0);
    ext.writeUInt16BE(o.extWords, 2);
  }
  const payload = o.payload ?? Buffer.alloc(160, 0xd5);
  const pad = o.pad ?? 0;
  const h = Buffer.alloc(12 + csrc.length * 4);
  h[0] = 0x80 | (pad > 0 ? 0x20 : 0) | (o.extWords !== undefined ? 0x10 : 0) | csrc.length;
  h[1] = ((o.marker ?? false) ? 0x80 : 0) | (o.pt ?? 0);
  h.writeUInt16BE((o.seq ?? 1) & 0xffff, 2);
  h.writeUInt32BE((o.ts ?? 0) >>> 0, 4);
  h.writeUInt32BE((o.ssrc ?? 0x1234) >>> 0, 8);
  csrc.forEach((c, i) => h.writeUInt32BE(c, 12 + i * 4));
  const padding = Buffer.alloc(pad);
  if (pad > 0) padding[pad - 1] = pad;
  return Buffer.concat([h, ext, payload, padding]);
}

/** A minimal RTCP receiver report (PT 201) with rtcp-mux-style first bytes. */
function rtcpRr(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

describe('media/rtp', () => {
  describe('parseRtp', () => {
    it('parses the fixed header and payload', () => {
      const p = parseRtp(rtpBytes({ seq: 513, ts: 0xfffffff0, ssrc: 0xdeadbeef, pt: 8, marker: true, payload: Buffer.from([1, 2, 3]) }));
      assert.ok(p);
      assert.equal(p.version, 2);
      assert.equal(p.seq, 513);
      assert.equal(p.timestamp, 0xfffffff0);
      assert.equal(p.ssrc, 0xdeadbeef);
      assert.equal(p.payloadType, 8);
      assert.equal(p.marker, true);
      assert.deepEqual([...p.payload], [1, 2, 3]);
      assert.equal(p.headerLength, 12);
    });

    it('skips CSRCs and the header extension, strips padding', () => {
      const p = parseRtp(rtpBytes({ csrc: [7, 9], extWords: 2, pad: 4, payload: Buffer.from([0xaa, 0xbb]) }));
      assert.ok(p);
      assert.deepEqual(p.csrc, [7, 9]);
      assert.equal(p.extension, true);
      assert.equal(p.padding, true);
      assert.equal(p.headerLength, 12 + 8 + 4 + 8);
      assert.deepEqual([...p.payload], [0xaa, 0xbb]);
    });

    it('with uncheckedPadding (SRTP: encrypted padding, tag last) keeps a P-bit packet whose count does not fit', () => {
      const b = rtpBytes({ payload: Buffer.alloc(3) });
      b[0] |= 0x20;
      b[b.length - 1] = 200;
      assert.equal(parseRtp(b), undefined);
      const p = parseRtp(b, true);
      assert.ok(p);
      assert.equal(p.paddingUnchecked, true);
      assert.equal(p.payload.length, 3, 'the payload runs to the end');
      const ok = parseRtp(rtpBytes({ pad: 4, payload: Buffer.from([1, 2]) }), true);
      assert.ok(ok);
      assert.equal(ok.paddingUnchecked, undefined, 'a count that fits is applied as usual');
      assert.deepEqual([...ok.payload], [1, 2]);
    });

    it('rejects malformed packets without throwing', () => {
      const good = rtpBytes({ payload: Buffer.alloc(4) });
      const bad: Buffer[] = [
        Buffer.alloc(0),
        Buffer.from([0x80]),
        good.subarray(0, 11),
        Buffer.from([0x40, ...good.subarray(1)]), // version 1
        Buffer.from([0xc0, ...good.subarray(1)]), // version 3
        rtpBytes({ csrc: [1, 2, 3] }).subarray(0, 20), // CSRC list cut
        rtpBytes({ extWords: 10, payload: Buffer.alloc(0) }).subarray(0, 30), // extension cut
        (() => {
          const b = rtpBytes({ payload: Buffer.alloc(2) });
          b[0] |= 0x10; // extension flag without the extension
          return b;
        })(),
        (() => {
          const b = rtpBytes({ payload: Buffer.alloc(3) });
          b[0] |= 0x20;
          b[b.length - 1] = 0; // zero padding count
          return b;
        })(),
        (() => {
          const b = rtpBytes({ payload: Buffer.alloc(3) });
          b[0] |= 0x20;
          b[b.length - 1] = 200; // padding longer than the packet
          return b;
        })(),
      ];
      for (const b of bad) assert.equal(parseRtp(b), undefined, b.toString('hex'));
      for (let i = 0; i < 2000; i++) {
        const junk = Buffer.alloc(i % 40);
        for (let j = 0; j < junk.length; j++) junk[j] = (i * 131 + j * 71) & 0xff;
        parseRtp(junk); // must not throw
        isRtcp(junk);
      }
    });
  });

  describe('isRtcp', () => {
    it('recognises PT 200-207 (and the 192-223 range) only with version 2', () => {
      for (const pt of [200, 201, 202, 203, 204, 205, 206, 207]) {
        const b = rtcpRr(1);
        b[1] = pt;
        assert.equal(isRtcp(b), true, String(pt));
      }
      assert.equal(isRtcp(rtpBytes({ pt: 0 })), false);
      assert.equal(isRtcp(rtpBytes({ pt: 96, marker: true })), false); // second byte 224
      const v1 = rtcpRr(1);
      v1[0] = 0x40;
      assert.equal(isRtcp(v1), false);
      assert.equal(isRtcp(Buffer.from([0x80, 200])), false);
    });
  });

  describe('wrap helpers', () => {
    it('seqDelta / tsDelta are signed and wrap', () => {
      assert.equal(seqDelta(65535, 0), 1);
      assert.equal(seqDelta(0, 65535), -1);
      assert.equal(seqDelta(10, 20), 10);
      assert.equal(tsDelta(0xffffff00, 0x100), 0x200);
      assert.equal(tsDelta(0x100, 0xffffff00), -0x200);
    });

    it('unwrap extends 16- and 32-bit counters across the wrap', () => {
      assert.equal(unwrap(65535, 2), 65538);
      assert.equal(unwrap(65538, 65534), 65534);
      assert.equal(unwrap(5 * 65536 + 100, 90), 5 * 65536 + 90);
      assert.equal(unwrap(0xfffffff0, 0x10, 32), 0x100000010);
      assert.equal(unwrap(0x100000010, 0xfffffff0, 32), 0xfffffff0);
    });
  });

  describe('SequenceTracker', () => {
    it('counts loss across the 16-bit wrap', () => {
      const t = new SequenceTracker();
      for (let s = 65530; s < 65546; s++) if (s !== 65534 && s !== 65537) assert.equal(t.add(s & 0xffff), true);
      assert.equal(t.expected, 16);
      assert.equal(t.received, 14);
      assert.equal(t.lost, 2);
      assert.equal(t.extendedMax, 65545);
    });

    it('flags duplicates and counts reordered packets once', () => {
      const t = new SequenceTracker();
      for (const s of [10, 12, 11, 12, 13, 11, 14]) t.add(s);
      assert.equal(t.received, 5);
      assert.equal(t.duplicates, 2);
      assert.equal(t.expected, 5);
      assert.equal(t.lost, 0);
    });

    it('a late packet from before the first one widens the range; lost is never negative', () => {
      const t = new SequenceTracker();
      for (const s of [100, 101, 99, 101, 101]) t.add(s);
      assert.equal(t.expected, 3);
      assert.equal(t.received, 3);
      assert.equal(t.duplicates, 2);
      assert.equal(t.lost, 0);
    });

    it('re-anchors after a confirmed sequence jump, ignores a lone stray', () => {
      const t = new SequenceTracker();
      for (let s = 0; s < 10; s++) t.add(s);
      t.add(40000); // stray
      t.add(10);
      assert.equal(t.expected, 11);
      assert.equal(t.received, 11);
      t.add(30000);
      t.add(30001); // confirms the restart
      t.add(30003);
      assert.equal(t.expected, 11 + 4);
      assert.equal(t.received, 14);
      assert.equal(t.lost, 1);
    });
  });
});
