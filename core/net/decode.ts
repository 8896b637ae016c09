/**
 * Frame decoding: link layer → (tunnels) → IPv4/IPv6 (+ fragment reassembly) → UDP/TCP.
 *
 * Link types: Ethernet (802.1Q / QinQ 0x88a8 / 0x9100 tags, MPLS, PPPoE session), Linux SLL and SLL2, raw IP
 * (101, 228, 229), BSD NULL (0) and OpenBSD LOOP (108). Tunnels: IP-in-IP (4, 41), GRE carrying IPv4, IPv6,
 * Ethernet (0x6558), ERSPAN I/II (0x88be) and III (0x22eb). The innermost IP header gives the addresses and
 * the innermost VLAN tag gives `vlan`.
 *
 * The result is a TransportPacket, or a SkipReason string for frames that carry no UDP/TCP or are malformed:
 * decoding never throws. `payload` is a view into the frame's bytes (or into the reassembled datagram).
 * Allocation per packet: the packet object (none when `out` is passed), the payload view and, for TCP, the
 * tcp info object (reused with `out`); address strings come from a cache.
 */
import { ipv4String, ipv6String } from './ip-address';
import { IpReassembler, type IpReassemblyOptions } from './ip-reassembly';
import { LinkType, type RawFrame, type SkipReason, type TransportPacket, type TransportProto } from './types';

/** LINKTYPE_LOOP (OpenBSD loopback: like NULL, but the family is big-endian). */
const LINKTYPE_LOOP = 108;
const MAX_TUNNEL_DEPTH = 4;
const MAX_IPV6_EXT_HEADERS = 16;

const enum EtherType {
  IPV4 = 0x0800,
  IPV6 = 0x86dd,
  VLAN = 0x8100,
  QINQ = 0x88a8,
  QINQ_OLD = 0x9100,
  MPLS = 0x8847,
  MPLS_MC = 0x8848,
  PPPOE_SESSION = 0x8864,
  TEB = 0x6558,
  ERSPAN_2 = 0x88be,
  ERSPAN_3 = 0x22eb,
}

export function isSkipReason(r: TransportPacket | SkipReason): r is SkipReason {
  return typeof r === 'string';
}

export interface PacketDecoderOptions {
  /** Shorthand for reassembly.timeoutSec (capture-time seconds an incomplete IP datagram is kept; default 30). */
  fragmentTimeoutSec?: number;
  /** IP fragment reassembly settings, or false to skip fragments as 'fragment-pending' without holding them. */
  reassembly?: IpReassemblyOptions | false;
}

function u16(d: Buffer, o: number): number {
  return ((d[o] as number) << 8) | (d[o + 1] as number);
}

function u32(d: Buffer, o: number): number {
  return (((d[o] as number) << 24) | ((d[o + 1] as number) << 16) | ((d[o + 2] as number) << 8) | (d[o + 3] as number)) >>> 0;
}

/**
 * Stateful decoder: owns the IP reassembler, so one instance per capture (or per live source).
 * Not re-entrant: decode() keeps per-frame scratch state in fields.
 */
export class PacketDecoder {
  readonly reassembler: IpReassembler | null;

  // Per-frame scratch.
  private frame!: RawFrame;
  private out: TransportPacket | undefined;
  private vlan = -1;
  private depth = 0;
  private ipVersion: 4 | 6 = 4;
  private addrBuf: Buffer = Buffer.alloc(0);
  private srcOff = 0;
  private dstOff = 0;

  constructor(opts: PacketDecoderOptions = {}) {
    const r = opts.reassembly;
    this.reassembler =
      r === false ? null : new IpReassembler({ ...r, ...(opts.fragmentTimeoutSec !== undefined ? { timeoutSec: opts.fragmentTimeoutSec } : {}) });
  }

  /**
   * Decode one frame. With `out`, its fields are overwritten and it is returned (no packet allocation);
   * the caller then must not keep the previous contents.
   */
  decode(frame: RawFrame, out?: TransportPacket): TransportPacket | SkipReason {
    this.frame = frame;
    this.out = out;
    this.vlan = -1;
    this.depth = 0;
    const d = frame.data;
    const end = d.length;
    switch (frame.linkType) {
      case LinkType.ETHERNET:
        return this.ether(d, 0, end);
      case LinkType.LINUX_SLL:
        return end < 16 ? 'truncated' : this.l3(u16(d, 14), d, 16, end);
      case LinkType.LINUX_SLL2:
        return end < 20 ? 'truncated' : this.l3(u16(d, 0), d, 20, end);
      case LinkType.RAW:
      case LinkType.IPV4:
      case LinkType.IPV6:
        return this.ipAny(d, 0, end);
      case LinkType.NULL:
      case LINKTYPE_LOOP: {
        if (end < 4) return 'truncated';
        // NULL stores the address family in the capturing host's byte order; LOOP in network order.
        let fam = frame.linkType === LINKTYPE_LOOP ? d.readUInt32BE(0) : d.readUInt32LE(0);
        if (fam > 0xffff) fam = d.readUInt32BE(0);
        if (fam === 2) return this.ipv4(d, 4, end);
        // AF_INET6 is 10 on Linux, 23 on Windows, 24/28/30 on the BSDs and macOS.
        if (fam === 10 || fam === 23 || fam === 24 || fam === 28 || fam === 30) return this.ipv6(d, 4, end);
        return 'unsupported-l3';
      }
      default:
        return 'unsupported-link';
    }
  }

  private ether(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 14) return 'truncated';
    let type = u16(d, off + 12);
    off += 14;
    while (type === EtherType.VLAN || type === EtherType.QINQ || type === EtherType.QINQ_OLD) {
      if (end - off < 4) return 'truncated';
      this.vlan = u16(d, off) & 0x0fff;
      type = u16(d, off + 2);
      off += 4;
    }
    return this.l3(type, d, off, end);
  }

  private l3(type: number, d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    switch (type) {
      case EtherType.IPV4:
        return this.ipv4(d, off, end);
      case EtherType.IPV6:
        return this.ipv6(d, off, end);
      case EtherType.MPLS:
      case EtherType.MPLS_MC:
        // Pop labels to the bottom of the stack; the payload's IP version nibble says what follows.
        for (;;) {
          if (end - off < 4) return 'truncated';
          const bottom = ((d[off + 2] as number) & 1) === 1;
          off += 4;
          if (bottom) return this.ipAny(d, off, end);
        }
      case EtherType.PPPOE_SESSION: {
        if (end - off < 8) return 'truncated';
        const ppp = u16(d, off + 6);
        if (ppp === 0x0021) return this.ipv4(d, off + 8, end);
        if (ppp === 0x0057) return this.ipv6(d, off + 8, end);
        return 'unsupported-l3';
      }
      default:
        return 'unsupported-l3';
    }
  }

  private ipAny(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 1) return 'truncated';
    const v = (d[off] as number) >> 4;
    if (v === 4) return this.ipv4(d, off, end);
    if (v === 6) return this.ipv6(d, off, end);
    return 'unsupported-l3';
  }

  /** 'truncated' when the snaplen cut the frame, else the given malformation reason. */
  private short(reason: SkipReason): SkipReason {
    return this.frame.data.length < this.frame.origLen ? 'truncated' : reason;
  }

  private ipv4(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 20) return this.short('bad-ip-header');
    const vihl = d[off] as number;
    const hl = (vihl & 15) * 4;
    if (vihl >> 4 !== 4 || hl < 20) return 'bad-ip-header';
    let total = u16(d, off + 2);
    // A total length of 0 is what captures of TCP segmentation offload show: take what was captured.
    if (total === 0) total = end - off;
    if (total < hl) return 'bad-ip-header';
    if (off + total > end) return this.short('bad-ip-header');
    const payEnd = off + total; // drops Ethernet padding
    const proto = d[off + 9] as number;
    this.ipVersion = 4;
    this.addrBuf = d;
    this.srcOff = off + 12;
    this.dstOff = off + 16;
    const frag = u16(d, off + 6);
    if ((frag & 0x3fff) !== 0) {
      // MF set or a non-zero offset: a fragment.
      const r = this.reassembler;
      if (r === null) return 'fragment-pending';
      const key = `4:${u32(d, off + 12)}:${u32(d, off + 16)}:${u16(d, off + 4)}:${proto}`;
      const res = r.add(key, (frag & 0x1fff) * 8, (frag & 0x2000) !== 0, d.subarray(off + hl, payEnd), this.frame.ts, proto);
      if (res === 'pending') return 'fragment-pending';
      if (res === 'invalid') return 'bad-ip-header';
      return this.l4(res.proto, res.data, 0, res.data.length);
    }
    return this.l4(proto, d, off + hl, payEnd);
  }

  private ipv6(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 40) return this.short('bad-ip-header');
    if ((d[off] as number) >> 4 !== 6) return 'bad-ip-header';
    const plen = u16(d, off + 4);
    // Payload length 0: a jumbogram or offloaded segment; take what was captured.
    let payEnd = plen === 0 ? end : off + 40 + plen;
    if (payEnd > end) return this.short('bad-ip-header');
    this.ipVersion = 6;
    this.addrBuf = d;
    this.srcOff = off + 8;
    this.dstOff = off + 24;
    let nh = d[off + 6] as number;
    let p = off + 40;
    for (let i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
      switch (nh) {
        case 0: // hop-by-hop options
        case 43: // routing
        case 60: // destination options
        case 135: // mobility
        case 51: {
          // AH counts its length in 4-byte units minus 2; the others in 8-byte units minus 1.
          if (payEnd - p < 8) return this.short('bad-ip-header');
          const len = nh === 51 ? ((d[p + 1] as number) + 2) * 4 : ((d[p + 1] as number) + 1) * 8;
          nh = d[p] as number;
          p += len;
          if (p > payEnd) return this.short('bad-ip-header');
          continue;
        }
        case 44: {
          if (payEnd - p < 8) return this.short('bad-ip-header');
          const fnh = d[p] as number;
          const offField = u16(d, p + 2);
          const fragOff = offField & 0xfff8;
          const more = (offField & 1) === 1;
          const id = u32(d, p + 4);
          p += 8;
          if (fragOff === 0 && !more) {
            nh = fnh; // atomic fragment (RFC 6946): nothing to reassemble
            continue;
          }
          const r = this.reassembler;
          if (r === null) return 'fragment-pending';
          const key = `6:${this.addrBuf.toString('hex', this.srcOff, this.srcOff + 32)}:${id}`;
          const res = r.add(key, fragOff, more, d.subarray(p, payEnd), this.frame.ts, fnh);
          if (res === 'pending') return 'fragment-pending';
          if (res === 'invalid') return 'bad-ip-header';
          // Walk on in the reassembled payload (it may start with more extension headers).
          d = res.data;
          p = 0;
          payEnd = d.length;
          nh = res.proto;
          continue;
        }
        case 59: // no next header
          return 'unsupported-l4';
        default:
          return this.l4(nh, d, p, payEnd);
      }
    }
    return 'bad-ip-header';
  }

  private l4(proto: number, d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    switch (proto) {
      case 17:
        return this.udp(d, off, end);
      case 6:
        return this.tcp(d, off, end);
      case 4:
        return ++this.depth > MAX_TUNNEL_DEPTH ? 'unsupported-l4' : this.ipv4(d, off, end);
      case 41:
        return ++this.depth > MAX_TUNNEL_DEPTH ? 'unsupported-l4' : this.ipv6(d, off, end);
      case 47:
        return ++this.depth > MAX_TUNNEL_DEPTH ? 'unsupported-l4' : this.gre(d, off, end);
      default:
        return 'unsupported-l4';
    }
  }

  private gre(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 4) return this.short('unsupported-l4');
    const flags = u16(d, off);
    // Version 1 is PPTP's enhanced GRE; RFC 1701 source routing is never seen in practice.
    if ((flags & 7) !== 0 || (flags & 0x4000) !== 0) return 'unsupported-l4';
    const ptype = u16(d, off + 2);
    let p = off + 4;
    if (flags & 0x8000) p += 4; // checksum + reserved
    if (flags & 0x2000) p += 4; // key
    const hasSeq = (flags & 0x1000) !== 0;
    if (hasSeq) p += 4;
    if (p > end) return this.short('unsupported-l4');
    switch (ptype) {
      case EtherType.IPV4:
        return this.ipv4(d, p, end);
      case EtherType.IPV6:
        return this.ipv6(d, p, end);
      case EtherType.TEB:
        return this.ether(d, p, end);
      case EtherType.ERSPAN_2:
        // Type I has no ERSPAN header and no GRE sequence number; type II has both (8-byte header).
        return this.ether(d, hasSeq ? p + 8 : p, end);
      case EtherType.ERSPAN_3: {
        if (end - p < 12) return this.short('unsupported-l4');
        const ft = ((d[p + 10] as number) >> 2) & 0x1f;
        const platformSubheader = ((d[p + 11] as number) & 1) === 1;
        const inner = p + 12 + (platformSubheader ? 8 : 0);
        if (ft === 0) return this.ether(d, inner, end);
        if (ft === 2) return this.ipAny(d, inner, end);
        return 'unsupported-l4';
      }
      default:
        return 'unsupported-l4';
    }
  }

  private udp(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 8) return this.short('bad-udp-header');
    let len = u16(d, off + 4);
    if (len === 0) len = end - off; // jumbogram / offloaded datagram
    if (len < 8) return 'bad-udp-header';
    if (off + len > end) return this.short('bad-udp-header');
    return this.emit('udp', u16(d, off), u16(d, off + 2), d.subarray(off + 8, off + len), 0, 0, -1);
  }

  private tcp(d: Buffer, off: number, end: number): TransportPacket | SkipReason {
    if (end - off < 20) return this.short('bad-tcp-header');
    const hl = ((d[off + 12] as number) >> 4) * 4;
    if (hl < 20) return 'bad-tcp-header';
    if (off + hl > end) return this.short('bad-tcp-header');
    return this.emit('tcp', u16(d, off), u16(d, off + 2), d.subarray(off + hl, end), u32(d, off + 4), u32(d, off + 8), d[off + 13] as number);
  }

  /** Fill the result; `flags` < 0 means UDP (no tcp info). */
  private emit(proto: TransportProto, sport: number, dport: number, payload: Buffer, seq: number, ack: number, flags: number): TransportPacket {
    const f = this.frame;
    const v4 = this.ipVersion === 4;
    const src = v4 ? ipv4String(this.addrBuf, this.srcOff) : ipv6String(this.addrBuf, this.srcOff);
    const dst = v4 ? ipv4String(this.addrBuf, this.dstOff) : ipv6String(this.addrBuf, this.dstOff);
    const vlan = this.vlan >= 0 ? this.vlan : undefined;
    const out = this.out;
    if (out === undefined) {
      return {
        ts: f.ts,
        frameNo: f.frameNo,
        proto,
        ipVersion: this.ipVersion,
        src,
        sport,
        dst,
        dport,
        payload,
        vlan,
        tcp: flags < 0 ? undefined : { seq, ack, flags },
      };
    }
    out.ts = f.ts;
    out.frameNo = f.frameNo;
    out.proto = proto;
    out.ipVersion = this.ipVersion;
    out.src = src;
    out.sport = sport;
    out.dst = dst;
    out.dport = dport;
    out.payload = payload;
    out.vlan = vlan;
    if (flags < 0) out.tcp = undefined;
    else if (out.tcp !== undefined) {
      out.tcp.seq = seq;
      out.tcp.ack = ack;
      out.tcp.flags = flags;
    } else out.tcp = { seq, ack, flags };
    return out;
  }
}

const stateless = new PacketDecoder({ reassembly: false });

/**
 * Decode one frame without IP reassembly (fragments come back as 'fragment-pending'). For captures that
 * may hold fragments, use a PacketDecoder per capture instead.
 */
export function decodeFrame(frame: RawFrame, out?: TransportPacket): TransportPacket | SkipReason {
  return stateless.decode(frame, out);
}
