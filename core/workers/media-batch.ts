/**
 * Media packets for a call worker, packed back to back in one buffer that is transferred (not copied) with the
 * batch: a record is a kind byte, then for RTP and RTCP the call's slot, who sent it, how it was bound, the flow's
 * and rtpmap's ids (defined once per call by events), the capture time and the packet. An EVENT record says where
 * the next call event of the batch falls between packets, so a call's SIP and media keep their order.
 */
import type { Side } from '../dialog/types';
import type { AssociatedRtp } from '../media/types';

export const REC_RTP = 1;
export const REC_RTCP = 2;
export const REC_EVENT = 3;

/** kind, slot, sender|how, flow, rtpmap, ts, length. */
export const RTP_HEADER = 1 + 4 + 1 + 4 + 4 + 8 + 2;
export const BATCH_BYTES = 256 * 1024;

const HOWS: ReadonlyArray<AssociatedRtp['how']> = ['sdp-dst', 'sdp-src', 'learned'];

export function howCode(how: AssociatedRtp['how']): number {
  return how === 'sdp-dst' ? 0 : how === 'sdp-src' ? 1 : 2;
}

export function howOf(code: number): AssociatedRtp['how'] {
  return HOWS[code] ?? 'learned';
}

/** Appends records; the owner hands `buf` over (transfer) when full or when the turn of the event loop ends. */
export class BatchWriter {
  buf: ArrayBuffer;
  private view: DataView;
  private bytes: Uint8Array;
  len = 0;
  records = 0;

  constructor(buf: ArrayBuffer = new ArrayBuffer(BATCH_BYTES)) {
    this.buf = buf;
    this.view = new DataView(buf);
    this.bytes = new Uint8Array(buf);
  }

  /** Room for a record of `n` bytes. */
  fits(n: number): boolean {
    return this.len + n <= this.buf.byteLength;
  }

  /** A media packet (RTP or RTCP); the caller checked fits(RTP_HEADER + payload.length). */
  media(kind: number, slot: number, sender: Side, how: number, flow: number, rtpmap: number, ts: number, payload: Uint8Array): void {
    const v = this.view;
    let o = this.len;
    v.setUint8(o, kind);
    v.setUint32(o + 1, slot, true);
    v.setUint8(o + 5, (sender === 'caller' ? 0 : 1) | (how << 1));
    v.setUint32(o + 6, flow, true);
    v.setUint32(o + 10, rtpmap, true);
    v.setFloat64(o + 14, ts, true);
    v.setUint16(o + 22, payload.length, true);
    o += RTP_HEADER;
    this.bytes.set(payload, o);
    this.len = o + payload.length;
    this.records++;
  }

  event(): void {
    this.view.setUint8(this.len, REC_EVENT);
    this.len += 1;
    this.records++;
  }

  /** Starts again on a fresh (or returned) buffer. */
  reset(buf: ArrayBuffer): void {
    this.buf = buf;
    this.view = new DataView(buf);
    this.bytes = new Uint8Array(buf);
    this.len = 0;
    this.records = 0;
  }
}

export interface MediaRecord {
  kind: number;
  slot: number;
  sender: Side;
  how: number;
  flow: number;
  rtpmap: number;
  ts: number;
  /** A view into the batch buffer (the worker owns it until it returns the buffer). */
  payload: Buffer;
}

/** Reads a batch in order: one reused record object per media packet, onEvent for each EVENT record. */
export function readBatch(buf: ArrayBuffer, len: number, onMedia: (r: MediaRecord) => void, onEvent: () => void): void {
  const v = new DataView(buf, 0, len);
  const r: MediaRecord = { kind: 0, slot: 0, sender: 'caller', how: 0, flow: 0, rtpmap: 0, ts: 0, payload: Buffer.alloc(0) };
  let o = 0;
  while (o < len) {
    const kind = v.getUint8(o);
    if (kind === REC_EVENT) {
      o += 1;
      onEvent();
      continue;
    }
    if (o + RTP_HEADER > len) throw new Error(`media batch truncated at byte ${o}`);
    const sh = v.getUint8(o + 5);
    r.kind = kind;
    r.slot = v.getUint32(o + 1, true);
    r.sender = (sh & 1) === 0 ? 'caller' : 'callee';
    r.how = sh >> 1;
    r.flow = v.getUint32(o + 6, true);
    r.rtpmap = v.getUint32(o + 10, true);
    r.ts = v.getFloat64(o + 14, true);
    const n = v.getUint16(o + 22, true);
    o += RTP_HEADER;
    if (o + n > len) throw new Error(`media batch truncated at byte ${o}`);
    r.payload = Buffer.from(buf, o, n);
    o += n;
    onMedia(r);
  }
}
