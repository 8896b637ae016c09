/**
 * Ogg pages (RFC 3533), written by hand: an Ogg Opus archive needs only the page layer (lacing, granule position,
 * CRC), some 100 lines, where the npm Ogg packages are native bindings to libogg or unmaintained. Pages are
 * self-delimiting and checksummed, so a file cut short by a crash is repaired by keeping its whole pages.
 */
import * as fs from 'node:fs';

export const PAGE_BOS = 0x02;
export const PAGE_EOS = 0x04;
const CAPTURE = Buffer.from('OggS', 'latin1');
const HEADER_BYTES = 27;
/** A page holds at most 255 lacing values. */
export const MAX_SEGMENTS = 255;

/** CRC-32 of Ogg: polynomial 0x04C11DB7, MSB first, initial value 0, no final XOR (not zlib's reflected CRC). */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

export function oggCrc(buf: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < buf.length; i++) crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ (buf[i] as number)) & 0xff] as number)) >>> 0;
  return crc;
}

/** Lacing values of a packet: 255 for each full 255 bytes, then the rest (0 when it is a multiple of 255). */
export function lacing(length: number): number[] {
  const out = new Array<number>(Math.floor(length / 255)).fill(255);
  out.push(length % 255);
  return out;
}

/** One page of whole packets (each packet's lacing must fit: the caller keeps a page under MAX_SEGMENTS). */
export function oggPage(o: { serial: number; sequence: number; granule: bigint; flags: number; packets: readonly Buffer[] }): Buffer {
  const segments = o.packets.flatMap((p) => lacing(p.length));
  if (segments.length > MAX_SEGMENTS) throw new RangeError(`an Ogg page holds at most ${MAX_SEGMENTS} lacing values, not ${segments.length}`);
  const body = Buffer.concat(o.packets as Buffer[]);
  const page = Buffer.alloc(HEADER_BYTES + segments.length + body.length);
  CAPTURE.copy(page, 0);
  page[4] = 0; // version
  page[5] = o.flags;
  page.writeBigInt64LE(o.granule, 6);
  page.writeUInt32LE(o.serial >>> 0, 14);
  page.writeUInt32LE(o.sequence >>> 0, 18);
  page.writeUInt32LE(0, 22);
  page[26] = segments.length;
  for (let i = 0; i < segments.length; i++) page[HEADER_BYTES + i] = segments[i] as number;
  body.copy(page, HEADER_BYTES + segments.length);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

export interface OggPageInfo {
  offset: number;
  length: number;
  flags: number;
  granule: bigint;
  sequence: number;
  packets: Buffer[];
}

/**
 * The whole, checksummed pages at the start of a buffer, in order (packets split across pages are not used by
 * Tapline's writer and are returned as the parts each page holds). Stops at the first torn or corrupt page.
 */
export function readOggPages(buf: Buffer): { pages: OggPageInfo[]; validBytes: number } {
  const pages: OggPageInfo[] = [];
  let off = 0;
  while (off + HEADER_BYTES <= buf.length && buf.subarray(off, off + 4).equals(CAPTURE)) {
    const nseg = buf[off + 26] as number;
    if (off + HEADER_BYTES + nseg > buf.length) break;
    const segs = buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + nseg);
    const bodyLen = segs.reduce((a, b) => a + b, 0);
    const length = HEADER_BYTES + nseg + bodyLen;
    if (off + length > buf.length) break;
    const page = Buffer.from(buf.subarray(off, off + length));
    const stated = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    if (oggCrc(page) !== stated) break;
    const packets: Buffer[] = [];
    let p = off + HEADER_BYTES + nseg;
    let start = p;
    for (const s of segs) {
      p += s;
      if (s < 255) {
        packets.push(buf.subarray(start, p));
        start = p;
      }
    }
    if (start < p) packets.push(buf.subarray(start, p));
    pages.push({ offset: off, length, flags: buf[off + 5] as number, granule: buf.readBigInt64LE(off + 6), sequence: buf.readUInt32LE(off + 18), packets });
    off += length;
  }
  return { pages, validBytes: off };
}

/** Reads a whole Ogg file's valid pages. */
export function readOggFile(file: string): { pages: OggPageInfo[]; validBytes: number; size: number } {
  const buf = fs.readFileSync(file);
  return { ...readOggPages(buf), size: buf.length };
}
