/**
 * pcapng: a sequence of blocks (type, total length, body, total length again), grouped in sections that
 * each start with a Section Header Block fixing the byte order and resetting the interface list.
 * https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html
 */
import type { FrameCallback, RecordParser, SkipCallback } from './record-parser';

export const BlockType = {
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  /** Obsolete Packet Block (pcapng 1.0 drafts, still written by old tools). */
  PB: 0x00000002,
  SPB: 0x00000003,
  NRB: 0x00000004,
  ISB: 0x00000005,
  EPB: 0x00000006,
  /** systemd Journal Export Block. */
  JOURNAL: 0x00000009,
  DSB: 0x0000000a,
  CUSTOM: 0x00000bad,
  CUSTOM_NOCOPY: 0x40000bad,
} as const;

export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Blocks longer than this are taken as a corrupt length rather than buffered. */
export const MAX_BLOCK_LEN = 16 * 1024 * 1024;

const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const TWO_32 = 4294967296;

interface Interface {
  linkType: number;
  snaplen: number;
  /** Microseconds per timestamp unit (1 for the default µs resolution). */
  scale: number;
  /** Microseconds added to every timestamp (if_tsoffset, whole seconds). */
  offsetUs: number;
}

export class PcapngParser implements RecordParser {
  readonly format = 'pcapng' as const;
  frames = 0;
  /**
   * Last frame number used. Wireshark also numbers custom and systemd-journal blocks as frames; they are
   * not delivered (onSkip is told) but use up their number, so frameNo stays the one Wireshark shows.
   */
  frameNo = 0;
  records = 0;
  corrupt: string | undefined = undefined;
  /** Sections seen (one per SHB). */
  sections = 0;
  private le = true;
  private interfaces: Interface[] = [];
  /** Simple Packet Blocks carry no time: they get the previous frame's, so downstream time stays monotonic. */
  private lastTs = 0;

  constructor(private readonly onSkip?: SkipCallback) {}

  parse(buf: Buffer, pos: number, end: number, fileOffset: number, onFrame: FrameCallback): number {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (end - pos >= 12) {
      let le = this.le;
      let type = dv.getUint32(pos, le);
      if (type === BlockType.SHB) {
        // The SHB type is a palindrome; its byte-order magic says how to read everything after it.
        const magic = dv.getUint32(pos + 8, true);
        if (magic === BYTE_ORDER_MAGIC) le = true;
        else if (magic === 0x4d3c2b1a) le = false;
        else {
          this.corrupt = `corrupt pcapng section header at byte ${fileOffset + pos} (record ${this.records + 1}): byte-order magic 0x${magic.toString(16)}`;
          break;
        }
        type = BlockType.SHB;
      }
      const len = dv.getUint32(pos + 4, le);
      if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK_LEN) {
        this.corrupt = `corrupt pcapng block at byte ${fileOffset + pos} (record ${this.records + 1}): block length ${len}`;
        break;
      }
      if (end - pos < len) break;
      if (dv.getUint32(pos + len - 4, le) !== len) {
        this.corrupt =
          `corrupt pcapng block at byte ${fileOffset + pos} (record ${this.records + 1}): ` +
          `trailing length ${dv.getUint32(pos + len - 4, le)} differs from leading length ${len}`;
        break;
      }
      const problem = this.block(type, buf, dv, pos, len, le, onFrame);
      if (problem !== undefined) {
        this.corrupt = `corrupt pcapng block at byte ${fileOffset + pos} (record ${this.records + 1}): ${problem}`;
        break;
      }
      this.records++;
      pos += len;
    }
    return pos;
  }

  /** Handle one complete block; returns a problem description when it is malformed. */
  private block(
    type: number,
    buf: Buffer,
    dv: DataView,
    pos: number,
    len: number,
    le: boolean,
    onFrame: FrameCallback,
  ): string | undefined {
    switch (type) {
      case BlockType.EPB: {
        if (len < 32) return `enhanced packet block too short (${len})`;
        const caplen = dv.getUint32(pos + 20, le);
        if (caplen > len - 32) return `captured length ${caplen} exceeds block length ${len}`;
        return this.packet(dv.getUint32(pos + 8, le), dv.getUint32(pos + 12, le), dv.getUint32(pos + 16, le),
          buf.subarray(pos + 28, pos + 28 + caplen), dv.getUint32(pos + 24, le), onFrame);
      }
      case BlockType.SPB: {
        if (len < 16) return `simple packet block too short (${len})`;
        const iface = this.interfaces[0];
        if (iface === undefined) return 'simple packet block before any interface description';
        const origLen = dv.getUint32(pos + 8, le);
        let caplen = Math.min(origLen, len - 16);
        if (iface.snaplen > 0 && caplen > iface.snaplen) caplen = iface.snaplen;
        this.frames++;
        onFrame({
          ts: this.lastTs,
          linkType: iface.linkType,
          data: buf.subarray(pos + 12, pos + 12 + caplen),
          origLen,
          interfaceId: 0,
          frameNo: ++this.frameNo,
        });
        return undefined;
      }
      case BlockType.PB: {
        if (len < 32) return `packet block too short (${len})`;
        const caplen = dv.getUint32(pos + 20, le);
        if (caplen > len - 32) return `captured length ${caplen} exceeds block length ${len}`;
        return this.packet(dv.getUint16(pos + 8, le), dv.getUint32(pos + 12, le), dv.getUint32(pos + 16, le),
          buf.subarray(pos + 28, pos + 28 + caplen), dv.getUint32(pos + 24, le), onFrame);
      }
      case BlockType.IDB:
        if (len < 20) return `interface description block too short (${len})`;
        this.interfaces.push(readInterface(dv, pos, len, le));
        return undefined;
      case BlockType.SHB: {
        if (len < 28) return `section header block too short (${len})`;
        const major = dv.getUint16(pos + 12, le);
        if (major !== 1) return `unsupported pcapng version ${major}.${dv.getUint16(pos + 14, le)}`;
        this.le = le;
        this.interfaces = [];
        this.sections++;
        return undefined;
      }
      case BlockType.CUSTOM:
      case BlockType.CUSTOM_NOCOPY:
      case BlockType.JOURNAL:
        this.frameNo++;
        this.onSkip?.(
          type === BlockType.JOURNAL ? 'pcapng-journal-block' : 'pcapng-custom-block',
          `frame ${this.frameNo} (block ${this.records + 1}) is a ${type === BlockType.JOURNAL ? 'systemd journal export' : 'custom'} block, not a packet`,
        );
        return undefined;
      default:
        // NRB, ISB, DSB and unknown blocks carry no packets: their length lets us step over them.
        return undefined;
    }
  }

  private packet(ifId: number, tsHi: number, tsLo: number, data: Buffer, origLen: number, onFrame: FrameCallback): string | undefined {
    const iface = this.interfaces[ifId];
    if (iface === undefined) {
      // Not numbered: tshark refuses such a file outright; we keep going and say so.
      this.onSkip?.('pcapng-unknown-interface', `packet block for undefined interface ${ifId} (block ${this.records + 1})`);
      return undefined;
    }
    const ts =
      iface.scale === 1 ? tsHi * TWO_32 + tsLo + iface.offsetUs : tsHi * (TWO_32 * iface.scale) + tsLo * iface.scale + iface.offsetUs;
    this.lastTs = ts;
    this.frames++;
    onFrame({ ts, linkType: iface.linkType, data, origLen, interfaceId: ifId, frameNo: ++this.frameNo });
    return undefined;
  }
}

function readInterface(dv: DataView, pos: number, len: number, le: boolean): Interface {
  const iface: Interface = { linkType: dv.getUint16(pos + 8, le), snaplen: dv.getUint32(pos + 12, le), scale: 1, offsetUs: 0 };
  const end = pos + len - 4;
  let p = pos + 16;
  while (p + 4 <= end) {
    const code = dv.getUint16(p, le);
    const olen = dv.getUint16(p + 2, le);
    if (code === 0 || p + 4 + olen > end) break; // opt_endofopt, or options overrunning the block: ignore the rest
    if (code === OPT_IF_TSRESOL && olen >= 1) {
      const v = dv.getUint8(p + 4);
      const unitsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
      iface.scale = 1e6 / unitsPerSec;
    } else if (code === OPT_IF_TSOFFSET && olen >= 8) {
      const hi = le ? dv.getInt32(p + 8, true) : dv.getInt32(p + 4, false);
      const lo = le ? dv.getUint32(p + 4, true) : dv.getUint32(p + 8, false);
      iface.offsetUs = (hi * TWO_32 + lo) * 1e6;
    }
    p += 4 + ((olen + 3) & ~3);
  }
  return iface;
}
