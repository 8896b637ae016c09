/**
 * Writes classic pcap and pcapng into a Buffer, in every variant the reader accepts (both byte orders,
 * µs/ns, several sections and interfaces, if_tsresol/if_tsoffset, EPB/SPB/obsolete PB, filler blocks).
 * Used by tests to build captures the corpus lacks, and to damage them on purpose.
 */
import { PcapMagic } from './pcap-format';
import { BlockType, BYTE_ORDER_MAGIC } from './pcapng-format';

export interface WriteFrame {
  /** Capture time, µs since the epoch. */
  ts: number;
  data: Buffer;
  origLen?: number;
}

export interface PcapWriteOptions {
  linkType: number;
  littleEndian?: boolean;
  nanos?: boolean;
  /** Kuznetzov's modified format (8 more bytes per record header). */
  modified?: boolean;
  snaplen?: number;
}

export function buildPcap(frames: readonly WriteFrame[], opts: PcapWriteOptions): Buffer {
  const le = opts.littleEndian ?? true;
  const hl = opts.modified === true ? 24 : 16;
  const parts: Buffer[] = [];
  const hdr = Buffer.alloc(24);
  const magic = opts.modified === true ? PcapMagic.MODIFIED : opts.nanos === true ? PcapMagic.NANO : PcapMagic.MICRO;
  const w32 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const w16 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  w32(hdr, magic, 0);
  w16(hdr, 2, 4);
  w16(hdr, 4, 6);
  w32(hdr, opts.snaplen ?? 262144, 16);
  w32(hdr, opts.linkType, 20);
  parts.push(hdr);
  for (const f of frames) {
    const rec = Buffer.alloc(hl);
    const sec = Math.floor(f.ts / 1e6);
    const frac = opts.nanos === true ? Math.round((f.ts - sec * 1e6) * 1000) : Math.round(f.ts - sec * 1e6);
    w32(rec, sec, 0);
    w32(rec, frac, 4);
    w32(rec, f.data.length, 8);
    w32(rec, f.origLen ?? f.data.length, 12);
    parts.push(rec, f.data);
  }
  return Buffer.concat(parts);
}

export interface PcapngInterfaceOptions {
  snaplen?: number;
  /** Raw if_tsresol byte: 6 = µs (default), 9 = ns, 0x80 | n = 2^-n s. */
  tsresol?: number;
  /** if_tsoffset in seconds, added by readers to every timestamp. */
  tsoffsetSec?: number;
}

interface IfaceState {
  unitsPerSec: number;
  offsetSec: number;
}

/** Builds a pcapng file block by block. */
export class PcapngBuilder {
  private readonly parts: Buffer[] = [];
  private le = true;
  private ifaces: IfaceState[] = [];

  /** Start a section (each resets the interface list); the byte order may change between sections. */
  section(littleEndian = true): this {
    this.le = littleEndian;
    this.ifaces = [];
    const body = Buffer.alloc(16);
    this.u32(body, BYTE_ORDER_MAGIC, 0);
    this.u16(body, 1, 4);
    this.u16(body, 0, 6);
    body.writeInt32LE(-1, 8); // section length unknown (-1): same bytes in both orders
    body.writeInt32LE(-1, 12);
    return this.block(BlockType.SHB, Buffer.concat([body, this.options([[4, Buffer.from('tapline test writer')]])]));
  }

  interface(linkType: number, o: PcapngInterfaceOptions = {}): this {
    const fixed = Buffer.alloc(8);
    this.u16(fixed, linkType, 0);
    this.u32(fixed, o.snaplen ?? 0, 4);
    const opts: Array<[number, Buffer]> = [[2, Buffer.from(`if${this.ifaces.length}`)]];
    const res = o.tsresol ?? 6;
    if (o.tsresol !== undefined) opts.push([9, Buffer.from([res])]);
    if (o.tsoffsetSec !== undefined) {
      const v = Buffer.alloc(8);
      if (this.le) v.writeBigInt64LE(BigInt(o.tsoffsetSec));
      else v.writeBigInt64BE(BigInt(o.tsoffsetSec));
      opts.push([14, v]);
    }
    this.ifaces.push({ unitsPerSec: res & 0x80 ? 2 ** (res & 0x7f) : 10 ** res, offsetSec: o.tsoffsetSec ?? 0 });
    return this.block(BlockType.IDB, Buffer.concat([fixed, this.options(opts)]));
  }

  /** Enhanced Packet Block; `units` overrides the timestamp computed from ts (exact values for ns tests). */
  epb(ifId: number, f: WriteFrame, units?: bigint): this {
    const fixed = Buffer.alloc(20);
    this.u32(fixed, ifId, 0);
    this.ts(fixed, 4, ifId, f.ts, units);
    this.u32(fixed, f.data.length, 12);
    this.u32(fixed, f.origLen ?? f.data.length, 16);
    return this.block(BlockType.EPB, Buffer.concat([fixed, pad4(f.data), this.options([[1, Buffer.from('comment')]])]));
  }

  /** Simple Packet Block (interface 0, no timestamp). */
  spb(f: WriteFrame): this {
    const fixed = Buffer.alloc(4);
    this.u32(fixed, f.origLen ?? f.data.length, 0);
    return this.block(BlockType.SPB, Buffer.concat([fixed, pad4(f.data)]));
  }

  /** Obsolete Packet Block. */
  pb(ifId: number, f: WriteFrame): this {
    const fixed = Buffer.alloc(20);
    this.u16(fixed, ifId, 0);
    this.u16(fixed, 0, 2);
    this.ts(fixed, 4, ifId, f.ts);
    this.u32(fixed, f.data.length, 12);
    this.u32(fixed, f.origLen ?? f.data.length, 16);
    return this.block(BlockType.PB, Buffer.concat([fixed, pad4(f.data)]));
  }

  /** Any block with a raw body (NRB, ISB, DSB, custom...), zero-padded to 4 bytes. */
  block(type: number, rawBody: Buffer): this {
    const body = pad4(rawBody);
    const b = Buffer.alloc(12 + body.length);
    this.u32(b, type, 0);
    this.u32(b, b.length, 4);
    body.copy(b, 8);
    this.u32(b, b.length, b.length - 4);
    this.parts.push(b);
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }

  private ts(b: Buffer, o: number, ifId: number, tsUs: number, units?: bigint): void {
    const i = this.ifaces[ifId] ?? { unitsPerSec: 1e6, offsetSec: 0 };
    const u = units ?? BigInt(Math.round(((tsUs - i.offsetSec * 1e6) * i.unitsPerSec) / 1e6));
    this.u32(b, Number(u >> 32n), o);
    this.u32(b, Number(u & 0xffffffffn), o + 4);
  }

  private options(opts: ReadonlyArray<[number, Buffer]>): Buffer {
    const parts: Buffer[] = [];
    for (const [code, value] of opts) {
      const h = Buffer.alloc(4);
      this.u16(h, code, 0);
      this.u16(h, value.length, 2);
      parts.push(h, pad4(value));
    }
    parts.push(Buffer.alloc(4)); // opt_endofopt
    return Buffer.concat(parts);
  }

  private u16(b: Buffer, v: number, o: number): void {
    if (this.le) b.writeUInt16LE(v, o);
    else b.writeUInt16BE(v, o);
  }

  private u32(b: Buffer, v: number, o: number): void {
    if (this.le) b.writeUInt32LE(v >>> 0, o);
    else b.writeUInt32BE(v >>> 0, o);
  }
}

function pad4(b: Buffer): Buffer {
  const rem = b.length % 4;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - rem)]);
}
