/** Capture-level and transport-level packet shapes shared by sources, demux and plugins. */

/** libpcap DLT / LINKTYPE numbers Tapline decodes. */
export const LinkType = {
  NULL: 0, // BSD loopback
  ETHERNET: 1,
  RAW: 101, // raw IPv4/IPv6
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** One frame as read from a capture (file or live), before any decoding. */
export interface RawFrame {
  /** Capture time in microseconds since the Unix epoch (fractional for ns-resolution files). */
  ts: number;
  /** LINKTYPE_* of the interface the frame was captured on. */
  linkType: number;
  /** Captured bytes (may be shorter than origLen when the snaplen cut it). */
  data: Buffer;
  /** Length on the wire. */
  origLen: number;
  /** pcapng interface id (0 for classic pcap). */
  interfaceId: number;
  /** 1-based frame number within its capture, as tshark numbers frames. */
  frameNo: number;
}

export type TransportProto = 'udp' | 'tcp';

/** A UDP datagram or TCP segment after link/IP decoding (and IP reassembly). */
export interface TransportPacket {
  ts: number;
  frameNo: number;
  proto: TransportProto;
  ipVersion: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** UDP payload, or TCP segment payload (may be empty for pure ACK/SYN/FIN). */
  payload: Buffer;
  vlan?: number;
  /** Present for TCP only. */
  tcp?: TcpInfo;
}

export interface TcpInfo {
  seq: number;
  ack: number;
  /** Raw TCP flag bits (FIN=0x01, SYN=0x02, RST=0x04, PSH=0x08, ACK=0x10). */
  flags: number;
}

/** A contiguous, in-order chunk of one direction of a TCP connection (after reassembly). */
export interface TcpStreamChunk {
  ts: number;
  frameNo: number;
  /** Flow key "src:sport>dst:dport" of this direction. */
  flow: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  data: Buffer;
  /** Bytes lost just before this chunk: the reassembler gave up waiting for them and skipped the gap. */
  gapBefore?: number;
}

/** Why a frame was skipped; counted in stats, never thrown out of the pipeline. */
export type SkipReason =
  | 'truncated'
  | 'unsupported-link'
  | 'unsupported-l3'
  | 'unsupported-l4'
  | 'bad-ip-header'
  | 'bad-udp-header'
  | 'bad-tcp-header'
  | 'fragment-pending'
  | 'fragment-expired';
