/**
 * RFC 2198 redundant audio data (RED): the payload format, both ways.
 *
 * Layout (§3): one 4-byte header per redundant block, then a 1-byte header for the primary block, then the block
 * data in the same order (redundant blocks oldest first, the primary last):
 *
 *   redundant header: |F=1| block PT (7) | timestamp offset (14) | block length (10) |
 *   primary header:   |F=0| block PT (7) |
 *
 * The primary's length is whatever follows the other blocks. Lync / SfB (MS-RTPRAD) sends at most one redundant
 * block around RTAudio or SILK on PT 97; RFC 2198 allows more, and so do we.
 */
import type { PayloadBlock } from '../../core/plugin-api';

/** A RED payload that does not follow RFC 2198 §3; the message says which block and what is wrong. */
export class RedFormatError extends Error {
  override readonly name = 'RedFormatError';
}

const REDUNDANT_HEADER = 4;
/** 14-bit timestamp offset and 10-bit block length fields. */
export const RED_MAX_TIMESTAMP_OFFSET = 0x3fff;
export const RED_MAX_BLOCK_LENGTH = 0x3ff;

/**
 * Splits a RED payload into its blocks, oldest first and the primary last; the blocks share one copy of the data.
 * Zero-length blocks are kept (a sender may have had nothing to repeat). `ownPayloadType` is RED's own PT: a block naming it would nest RED in RED,
 * which §3 does not allow and which would send a recorder round in circles.
 */
export function parseRed(payload: Buffer, ownPayloadType?: number): PayloadBlock[] {
  if (payload.length === 0) throw new RedFormatError('empty RED payload: at least the 1-byte primary block header is needed');
  const headers: Array<{ payloadType: number; timestampOffset: number; length: number }> = [];
  let o = 0;
  let primaryPt: number;
  for (;;) {
    if (o >= payload.length) {
      throw new RedFormatError(`RED payload of ${payload.length} bytes ends inside its block headers: ${headers.length} redundant header(s) and no primary header (F=0)`);
    }
    const b = payload[o] as number;
    const pt = b & 0x7f;
    if (pt === ownPayloadType) throw new RedFormatError(`RED block ${headers.length + 1} names payload type ${pt}, RED's own: RED inside RED is not allowed`);
    if ((b & 0x80) === 0) {
      primaryPt = pt;
      o += 1;
      break;
    }
    if (o + REDUNDANT_HEADER > payload.length) {
      throw new RedFormatError(`RED block header ${headers.length + 1} at byte ${o} is truncated: 4 bytes needed, ${payload.length - o} left`);
    }
    const b1 = payload[o + 1] as number;
    const b2 = payload[o + 2] as number;
    const b3 = payload[o + 3] as number;
    headers.push({ payloadType: pt, timestampOffset: (b1 << 6) | (b2 >> 2), length: ((b2 & 0x03) << 8) | b3 });
    o += REDUNDANT_HEADER;
  }
  const dataBytes = payload.length - o;
  const redundantBytes = headers.reduce((n, h) => n + h.length, 0);
  if (redundantBytes > dataBytes) {
    throw new RedFormatError(
      `RED block lengths (${headers.map((h) => h.length).join(' + ')} = ${redundantBytes} bytes) exceed the ${dataBytes} bytes after the ${headers.length + 1} block headers`,
    );
  }
  // One copy: a recorder keeps redundant blocks until it knows whether they fill a loss, and the packet's
  // memory may belong to a capture buffer that is reused.
  const data = Buffer.from(payload.subarray(o));
  o = 0;
  const blocks: PayloadBlock[] = [];
  for (const h of headers) {
    blocks.push({ payloadType: h.payloadType, timestampOffset: h.timestampOffset, payload: data.subarray(o, o + h.length), primary: false });
    o += h.length;
  }
  blocks.push({ payloadType: primaryPt, timestampOffset: 0, payload: data.subarray(o), primary: true });
  return blocks;
}

/** Builds a RED payload from blocks (redundant ones first, oldest first; the primary last): for tests and generators. */
export function encodeRed(blocks: ReadonlyArray<Pick<PayloadBlock, 'payloadType' | 'timestampOffset' | 'payload'>>): Buffer {
  if (blocks.length === 0) throw new RangeError('a RED payload needs at least the primary block');
  const parts: Buffer[] = [];
  const data: Buffer[] = [];
  blocks.forEach((b, i) => {
    if (!Number.isInteger(b.payloadType) || b.payloadType < 0 || b.payloadType > 127) throw new RangeError(`block ${i + 1}: payload type ${b.payloadType} is not 0-127`);
    if (i === blocks.length - 1) {
      parts.push(Buffer.from([b.payloadType]));
    } else {
      if (!Number.isInteger(b.timestampOffset) || b.timestampOffset < 0 || b.timestampOffset > RED_MAX_TIMESTAMP_OFFSET) {
        throw new RangeError(`block ${i + 1}: timestamp offset ${b.timestampOffset} does not fit 14 bits`);
      }
      if (b.payload.length > RED_MAX_BLOCK_LENGTH) throw new RangeError(`block ${i + 1}: ${b.payload.length} bytes do not fit the 10-bit block length`);
      const t = b.timestampOffset;
      const n = b.payload.length;
      parts.push(Buffer.from([0x80 | b.payloadType, t >> 6, ((t & 0x3f) << 2) | (n >> 8), n & 0xff]));
    }
    data.push(b.payload);
  });
  return Buffer.concat([...parts, ...data]);
}
