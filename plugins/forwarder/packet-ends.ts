/**
 * The agent's hot path reads only what it routes on: where the IP packet starts in the frame and its two ends
 * (address and port). Written by hand rather than through the core's decoder, which builds address strings and a
 * packet object per frame: the agent looks at every captured packet and forwards most of them untouched.
 * An IPv4 end is one number, address × 65536 + port (48 bits, exact in a double), so lookups hash no strings;
 * IPv6 ends are "[addr]:port" strings (rare on the networks this serves).
 */
import { normalizeIp } from '../../core/media/associator-index';
import { LinkType } from '../../core/net/types';

export interface PacketEnds {
  /** Where the IP header starts in the frame. */
  ipOff: number;
  /** 4 or 6. */
  ipVersion: number;
  /** 17 UDP, 6 TCP. */
  proto: number;
  src: number | string;
  dst: number | string;
  /** Address-only keys (for "any port" interest and endpoint mode). */
  srcAddr: number | string;
  dstAddr: number | string;
  sport: number;
  dport: number;
  /** Where the UDP/TCP payload starts (UDP only: SIP sniffing), or -1. */
  payloadOff: number;
}

export type SkipWhy = 'not-ip' | 'not-udp-tcp' | 'fragment' | 'truncated';

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = [0x8100, 0x88a8, 0x9100];

/** IPv4 dotted quad → u32, or undefined. */
export function ipv4Number(ip: string): number | undefined {
  const p = ip.split('.');
  if (p.length !== 4) return undefined;
  let n = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x) || Number(x) > 255) return undefined;
    n = n * 256 + Number(x);
  }
  return n;
}

/** The key of "ip:port" / "[v6]:port" as PacketEnds writes it, or undefined. */
export function endpointKeyOf(text: string): number | string | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v6 !== null) return `[${normalizeIp(v6[1]!)}]:${Number(v6[2])}`;
  const m = /^([\d.]+):(\d+)$/.exec(text);
  if (m === null) return undefined;
  const n = ipv4Number(m[1]!);
  const port = Number(m[2]);
  return n === undefined || port > 65535 ? undefined : n * 65536 + port;
}

/** The address-only key of an "ip". */
export function addressKeyOf(ip: string): number | string | undefined {
  if (ip.includes(':')) return `[${normalizeIp(ip)}]`;
  return ipv4Number(ip);
}

function v6Text(b: Buffer, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(off + i).toString(16));
  // Compressed as RFC 5952 would (the longest run of zeros), so it equals what an SDP writes.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}

/** Where the IP packet starts in a frame of this link type, or -1. */
export function ipOffset(linkType: number, b: Buffer): number {
  switch (linkType) {
    case LinkType.ETHERNET: {
      let off = 12;
      if (b.length < 14) return -1;
      let type = b.readUInt16BE(off);
      while (ETH_VLAN.includes(type)) {
        off += 4;
        if (b.length < off + 2) return -1;
        type = b.readUInt16BE(off);
      }
      return type === ETH_IPV4 || type === ETH_IPV6 ? off + 2 : -1;
    }
    case LinkType.LINUX_SLL:
      return b.length >= 16 ? 16 : -1;
    case LinkType.LINUX_SLL2:
      return b.length >= 20 ? 20 : -1;
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return 0;
    case LinkType.NULL:
      return b.length >= 4 ? 4 : -1;
    default:
      return -1;
  }
}

/** Fills `out` and returns undefined, or says why the frame is not routable. */
export function readEnds(linkType: number, b: Buffer, out: PacketEnds): SkipWhy | undefined {
  const ip = ipOffset(linkType, b);
  if (ip < 0 || b.length < ip + 20) return 'not-ip';
  const v = b[ip]! >> 4;
  let l4: number;
  if (v === 4) {
    const ihl = (b[ip]! & 0x0f) * 4;
    out.proto = b[ip + 9]!;
    if (out.proto !== 17 && out.proto !== 6) return 'not-udp-tcp';
    // A non-first fragment has no transport header: it cannot be told apart (the recorder reassembles first ones).
    if ((b.readUInt16BE(ip + 6) & 0x1fff) !== 0) return 'fragment';
    l4 = ip + ihl;
    if (b.length < l4 + 8) return 'truncated';
    const s = b.readUInt32BE(ip + 12);
    const d = b.readUInt32BE(ip + 16);
    out.sport = b.readUInt16BE(l4);
    out.dport = b.readUInt16BE(l4 + 2);
    out.srcAddr = s;
    out.dstAddr = d;
    out.src = s * 65536 + out.sport;
    out.dst = d * 65536 + out.dport;
  } else if (v === 6) {
    if (b.length < ip + 48) return 'truncated';
    out.proto = b[ip + 6]!;
    if (out.proto !== 17 && out.proto !== 6) return 'not-udp-tcp'; // extension headers: not media this agent routes
    l4 = ip + 40;
    out.sport = b.readUInt16BE(l4);
    out.dport = b.readUInt16BE(l4 + 2);
    const s = `[${v6Text(b, ip + 8)}]`;
    const d = `[${v6Text(b, ip + 24)}]`;
    out.srcAddr = s;
    out.dstAddr = d;
    out.src = `${s}:${out.sport}`;
    out.dst = `${d}:${out.dport}`;
  } else return 'not-ip';
  out.ipOff = ip;
  out.ipVersion = v;
  out.payloadOff = out.proto === 17 ? l4 + 8 : -1;
  return undefined;
}

export const newEnds = (): PacketEnds => ({ ipOff: 0, ipVersion: 4, proto: 0, src: 0, dst: 0, srcAddr: 0, dstAddr: 0, sport: 0, dport: 0, payloadOff: -1 });

/** Text of an end key (for logs and HEP). */
export function endText(addr: number | string): string {
  if (typeof addr === 'string') return addr.replace(/^\[|\]$/g, '');
  return [addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255].join('.');
}
