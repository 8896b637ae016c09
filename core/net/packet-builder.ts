/**
 * Builds frames layer by layer (Ethernet, VLAN, SLL, IPv4/IPv6 with extension headers and fragments,
 * UDP, TCP, GRE, ERSPAN) for tests of the decoder and reassembly. Checksums are left zero: no reader we
 * compare with verifies them by default.
 */

export function ipv4Bytes(addr: string): Buffer {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${addr}`);
  return Buffer.from(parts);
}

export function ipv6Bytes(addr: string): Buffer {
  const [head = '', tail] = addr.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 address ${addr}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export interface VlanTag {
  tpid: number;
  id: number;
}

/** Ethernet II; each VLAN tag (outermost first) is its TPID and TCI, then the real EtherType follows. */
export function ethernet(etherType: number, payload: Buffer, vlans: readonly VlanTag[] = []): Buffer {
  const macs = Buffer.from('00163e000001' + '00163e000002', 'hex');
  const tags = vlans.map((v) => {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(v.tpid, 0);
    t.writeUInt16BE(v.id & 0x0fff, 2);
    return t;
  });
  const typeBuf = Buffer.alloc(2);
  typeBuf.writeUInt16BE(etherType);
  return Buffer.concat([macs, ...tags, typeBuf, payload]);
}

export function sll(protocol: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // packet type: to us
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  h.writeUInt16BE(protocol, 14);
  return Buffer.concat([h, payload]);
}

export function sll2(protocol: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(protocol, 0);
  h.writeUInt32BE(2, 4); // interface index
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h.writeUInt8(6, 11);
  return Buffer.concat([h, payload]);
}

/** BSD loopback header: the address family in the capturing host's byte order. */
export function nullLoopback(family: number, payload: Buffer, littleEndian = true): Buffer {
  const h = Buffer.alloc(4);
  if (littleEndian) h.writeUInt32LE(family);
  else h.writeUInt32BE(family);
  return Buffer.concat([h, payload]);
}

export interface Ipv4Options {
  src: string;
  dst: string;
  id?: number;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  moreFragments?: boolean;
  /** IP options bytes (a multiple of 4). */
  options?: Buffer;
}

export function ipv4(proto: number, payload: Buffer, o: Ipv4Options): Buffer {
  const opt = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h.writeUInt8(0x40 | ((20 + opt.length) / 4), 0);
  h.writeUInt16BE(20 + opt.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 1, 4);
  h.writeUInt16BE(((o.moreFragments === true ? 1 : 0) << 13) | ((o.fragOffset ?? 0) / 8), 6);
  h.writeUInt8(64, 8);
  h.writeUInt8(proto, 9);
  ipv4Bytes(o.src).copy(h, 12);
  ipv4Bytes(o.dst).copy(h, 16);
  return Buffer.concat([h, opt, payload]);
}

/** Split an IPv4 payload into fragments of at most `size` bytes (a multiple of 8). */
export function ipv4Fragments(proto: number, payload: Buffer, o: Ipv4Options, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const more = off + size < payload.length;
    out.push(ipv4(proto, payload.subarray(off, off + size), { ...o, fragOffset: off, moreFragments: more }));
  }
  return out;
}

export interface Ipv6Ext {
  /** 0 hop-by-hop, 43 routing, 60 destination options (8-byte-unit headers). */
  type: number;
  /** Bytes after the next-header and length bytes; padded to make the header a multiple of 8. */
  body?: Buffer;
}

export interface Ipv6Options {
  src: string;
  dst: string;
  ext?: readonly Ipv6Ext[];
  /** Fragment header appended after `ext`. */
  frag?: { offset: number; more: boolean; id: number };
}

export function ipv6(nextHeader: number, payload: Buffer, o: Ipv6Options): Buffer {
  const exts: Array<{ type: number; bytes: Buffer }> = [];
  for (const e of o.ext ?? []) {
    const body = e.body ?? Buffer.alloc(0);
    const len = Math.ceil((body.length + 2) / 8) * 8;
    const b = Buffer.alloc(len);
    body.copy(b, 2);
    b.writeUInt8(len / 8 - 1, 1);
    exts.push({ type: e.type, bytes: b });
  }
  if (o.frag !== undefined) {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(o.frag.offset | (o.frag.more ? 1 : 0), 2);
    b.writeUInt32BE(o.frag.id >>> 0, 4);
    exts.push({ type: 44, bytes: b });
  }
  // Chain next-header fields: each header names the one after it; the last names the payload.
  for (let i = 0; i < exts.length; i++) {
    const next = exts[i + 1];
    (exts[i] as { bytes: Buffer }).bytes.writeUInt8(next !== undefined ? next.type : nextHeader, 0);
  }
  const first = exts[0];
  const extBytes = Buffer.concat(exts.map((e) => e.bytes));
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(extBytes.length + payload.length, 4);
  h.writeUInt8(first !== undefined ? first.type : nextHeader, 6);
  h.writeUInt8(64, 7);
  ipv6Bytes(o.src).copy(h, 8);
  ipv6Bytes(o.dst).copy(h, 24);
  return Buffer.concat([h, extBytes, payload]);
}

/** Split the fragmentable part (`payload`, upper layer `nextHeader`) into IPv6 fragments of at most `size` bytes. */
export function ipv6Fragments(nextHeader: number, payload: Buffer, o: Ipv6Options, size: number, id: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const more = off + size < payload.length;
    out.push(ipv6(nextHeader, payload.subarray(off, off + size), { ...o, frag: { offset: off, more, id } }));
  }
  return out;
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export const TcpFlags = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, payload: Buffer, options?: Buffer): Buffer {
  const opt = options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h.writeUInt8(((20 + opt.length) / 4) << 4, 12);
  h.writeUInt8(flags, 13);
  h.writeUInt16BE(65535, 14);
  return Buffer.concat([h, opt, payload]);
}

export interface GreOptions {
  checksum?: boolean;
  key?: number;
  seq?: number;
}

export function gre(protocolType: number, payload: Buffer, o: GreOptions = {}): Buffer {
  let flags = 0;
  const extra: Buffer[] = [];
  if (o.checksum === true) {
    flags |= 0x8000;
    extra.push(Buffer.alloc(4));
  }
  if (o.key !== undefined) {
    flags |= 0x2000;
    const k = Buffer.alloc(4);
    k.writeUInt32BE(o.key >>> 0);
    extra.push(k);
  }
  if (o.seq !== undefined) {
    flags |= 0x1000;
    const s = Buffer.alloc(4);
    s.writeUInt32BE(o.seq >>> 0);
    extra.push(s);
  }
  const h = Buffer.alloc(4);
  h.writeUInt16BE(flags, 0);
  h.writeUInt16BE(protocolType, 2);
  return Buffer.concat([h, ...extra, payload]);
}

/** ERSPAN type II header (version 1) + mirrored Ethernet frame; goes in GRE 0x88be with a sequence number. */
export function erspan2(frame: Buffer, session = 1, vlan = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE((1 << 12) | (vlan & 0xfff), 0);
  h.writeUInt16BE(session & 0x3ff, 2);
  h.writeUInt32BE(0, 4);
  return Buffer.concat([h, frame]);
}

/** ERSPAN type III header (version 2), frame type Ethernet, with the optional platform subheader. */
export function erspan3(frame: Buffer, platformSubheader = false, session = 1): Buffer {
  const h = Buffer.alloc(12 + (platformSubheader ? 8 : 0));
  h.writeUInt16BE(2 << 12, 0);
  h.writeUInt16BE(session & 0x3ff, 2);
  h.writeUInt32BE(0x12345678, 4); // timestamp
  h.writeUInt8(0, 10); // P=0, FT=0 (Ethernet)
  h.writeUInt8(platformSubheader ? 1 : 0, 11); // O flag
  return Buffer.concat([h, frame]);
}
