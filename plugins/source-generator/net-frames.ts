/**
 * Ethernet II / IPv4 / UDP and TCP frames with a correct IPv4 header checksum (UDP and TCP checksums are
 * left 0: "not computed" for UDP, and no reader we compare with verifies TCP's by default).
 * Hot paths (RTP) use UdpHeaderTemplate, which writes the 42 header bytes straight into the writer's chunk.
 */

export const ETH_HEADER = 14;
export const IPV4_HEADER = 20;
export const UDP_HEADER = 8;
export const TCP_HEADER = 20;
/** Ethernet + IPv4 + UDP. */
export const UDP_FRAME_OVERHEAD = ETH_HEADER + IPV4_HEADER + UDP_HEADER;

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const TTL = 64;
const DONT_FRAGMENT = 0x4000;
const MORE_FRAGMENTS = 0x2000;

export function ipv4ToInt(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) throw new RangeError(`bad IPv4 address ${ip}`);
  let v = 0;
  for (const s of p) {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`bad IPv4 address ${ip}`);
    v = v * 256 + n;
  }
  return v;
}

/** A locally administered MAC derived from the address (02:00:a:b:c:d), so hosts are told apart. */
function writeMac(buf: Buffer, off: number, ip: number): void {
  buf[off] = 0x02;
  buf[off + 1] = 0x00;
  buf.writeUInt32BE(ip, off + 2);
}

function writeEthIpv4(buf: Buffer, src: number, dst: number, proto: number): number {
  writeMac(buf, 0, dst);
  writeMac(buf, 6, src);
  buf.writeUInt16BE(0x0800, 12);
  buf[14] = 0x45;
  buf[15] = 0;
  buf[22] = TTL;
  buf[23] = proto;
  buf.writeUInt32BE(src, 26);
  buf.writeUInt32BE(dst, 30);
  // Sum of the 16-bit words that never change: version/IHL/TOS, TTL/protocol, addresses.
  return 0x4500 + ((TTL << 8) | proto) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
}

/** Fill total length, id, flags/offset and the checksum of the IPv4 header at buf[off + 14]. */
function finishIpv4(buf: Buffer, off: number, sumBase: number, total: number, id: number, flagsFrag: number): void {
  buf.writeUInt16BE(total, off + 16);
  buf.writeUInt16BE(id, off + 18);
  buf.writeUInt16BE(flagsFrag, off + 20);
  let s = sumBase + total + id + flagsFrag;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  buf.writeUInt16BE(~s & 0xffff, off + 24);
}

/** RFC 1071 checksum of an IPv4 header (tests check ours with it). */
export function ipv4HeaderChecksum(hdr: Buffer): number {
  let s = 0;
  for (let i = 0; i < IPV4_HEADER; i += 2) if (i !== 10) s += hdr.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** The Ethernet/IPv4/UDP header of one flow, written per packet with only lengths, id and checksum changing. */
export class UdpHeaderTemplate {
  private readonly bytes = Buffer.alloc(UDP_FRAME_OVERHEAD);
  private readonly sumBase: number;

  constructor(src: string, sport: number, dst: string, dport: number) {
    this.sumBase = writeEthIpv4(this.bytes, ipv4ToInt(src), ipv4ToInt(dst), PROTO_UDP) + DONT_FRAGMENT;
    this.bytes.writeUInt16BE(DONT_FRAGMENT, 20);
    this.bytes.writeUInt16BE(sport, 34);
    this.bytes.writeUInt16BE(dport, 36);
  }

  /** Write the 42 header bytes for a UDP payload of payloadLen at buf[off]. */
  write(buf: Buffer, off: number, payloadLen: number, ipId: number): void {
    this.bytes.copy(buf, off);
    const total = IPV4_HEADER + UDP_HEADER + payloadLen;
    buf.writeUInt16BE(total, off + 16);
    buf.writeUInt16BE(ipId, off + 18);
    let s = this.sumBase + total + ipId;
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    buf.writeUInt16BE(~s & 0xffff, off + 24);
    buf.writeUInt16BE(UDP_HEADER + payloadLen, off + 38);
  }
}

/** One UDP datagram as Ethernet frames: one frame, or IPv4 fragments when the packet exceeds mtu. */
export function udpFrames(src: string, sport: number, dst: string, dport: number, payload: Buffer, ipId: number, mtu = 1500): Buffer[] {
  const s = ipv4ToInt(src);
  const d = ipv4ToInt(dst);
  const udp = Buffer.alloc(UDP_HEADER + payload.length);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(udp.length, 4);
  payload.copy(udp, UDP_HEADER);
  if (IPV4_HEADER + udp.length <= mtu) {
    const f = Buffer.alloc(ETH_HEADER + IPV4_HEADER + udp.length);
    const base = writeEthIpv4(f, s, d, PROTO_UDP);
    udp.copy(f, ETH_HEADER + IPV4_HEADER);
    finishIpv4(f, 0, base, IPV4_HEADER + udp.length, ipId, DONT_FRAGMENT);
    return [f];
  }
  const step = (mtu - IPV4_HEADER) & ~7; // fragment offsets count 8-byte units
  const frames: Buffer[] = [];
  for (let at = 0; at < udp.length; at += step) {
    const part = udp.subarray(at, Math.min(udp.length, at + step));
    const f = Buffer.alloc(ETH_HEADER + IPV4_HEADER + part.length);
    const base = writeEthIpv4(f, s, d, PROTO_UDP);
    part.copy(f, ETH_HEADER + IPV4_HEADER);
    const more = at + step < udp.length ? MORE_FRAGMENTS : 0;
    finishIpv4(f, 0, base, IPV4_HEADER + part.length, ipId, more | (at / 8));
    frames.push(f);
  }
  return frames;
}

/** One TCP segment as an Ethernet frame (window 65535, no options). */
export function tcpFrame(src: string, sport: number, dst: string, dport: number, seq: number, ack: number, flags: number, payload: Buffer, ipId: number): Buffer {
  const f = Buffer.alloc(ETH_HEADER + IPV4_HEADER + TCP_HEADER + payload.length);
  const base = writeEthIpv4(f, ipv4ToInt(src), ipv4ToInt(dst), PROTO_TCP);
  finishIpv4(f, 0, base, IPV4_HEADER + TCP_HEADER + payload.length, ipId, DONT_FRAGMENT);
  const t = ETH_HEADER + IPV4_HEADER;
  f.writeUInt16BE(sport, t);
  f.writeUInt16BE(dport, t + 2);
  f.writeUInt32BE(seq >>> 0, t + 4);
  f.writeUInt32BE(ack >>> 0, t + 8);
  f[t + 12] = (TCP_HEADER / 4) << 4;
  f[t + 13] = flags;
  f.writeUInt16BE(65535, t + 14);
  payload.copy(f, t + TCP_HEADER);
  return f;
}
