/** Parsed SDP (RFC 4566 / 8866) with the Lync/SfB extensions a recorder needs. Produced by core/sdp/parser.ts. */

export interface SdpAttribute {
  name: string; // as written after 'a=' and before ':'
  value: string | null; // null for property attributes (a=rtcp-mux)
}

export interface SdpConnection {
  netType: string; // 'IN'
  addrType: 'IP4' | 'IP6' | string;
  address: string; // without TTL / count suffix
  /** IP4 multicast TTL ('224.2.1.1/127' -> 127). */
  ttl?: number;
  /** Number of consecutive multicast addresses ('224.2.1.1/127/3' -> 3, 'FF15::101/3' -> 3). */
  addressCount?: number;
}

export interface SdpOrigin {
  username: string;
  sessionId: string;
  sessionVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

export interface SdpRtpMap {
  payloadType: number;
  encoding: string; // as written: 'PCMU', 'SILK', 'x-msrta', 'telephone-event'
  clockRate: number;
  channels: number; // 1 when not given
}

export interface SdpCrypto {
  tag: number;
  suite: string; // 'AES_CM_128_HMAC_SHA1_80'
  /** One or more key params; Lync sends one. */
  keys: SdpCryptoKey[];
  /** Session params after the key params (e.g. 'UNENCRYPTED_SRTCP'). */
  sessionParams: string[];
  /** True for a=cryptoscale (Lync scaled SRTP towards an MCU). */
  scale: boolean;
  /** a=cryptoscale role token ('client' / 'server'), when present. */
  role?: string;
}

export interface SdpCryptoKey {
  method: string; // 'inline'
  /** Base64 master key || master salt, as written. */
  keySalt: string;
  /** Lifetime in packets ('2^31' -> 2147483648), when present. */
  lifetime?: number;
  mki?: { value: number; length: number };
}

/** RFC 5245 ("ICE v19") candidate, also used for a=x-candidate-ipv6; or draft-6 ("ICE v6") candidate. */
export interface SdpCandidate {
  form: 'rfc5245' | 'draft6';
  foundation: string; // v19 foundation, or v6 username
  component: number;
  transport: string; // 'UDP', 'TCP-ACT', 'TCP-PASS', 'TCP'
  priority: number;
  ip: string;
  port: number;
  type?: 'host' | 'srflx' | 'prflx' | 'relay' | string; // absent for draft-6
  relatedAddress?: string;
  relatedPort?: number;
  /** draft-6 password, when form is draft6. */
  password?: string;
  /** Came from a=x-candidate-ipv6. */
  ipv6Extension: boolean;
  /** RFC 6544 'tcptype active|passive|so' extension (non-Lync TCP candidates). */
  tcpType?: string;
}

export interface SdpRemoteCandidate {
  component: number;
  ip: string;
  port: number;
}

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface SdpMedia {
  type: string; // 'audio', 'video', 'message', 'x-ms-message', ...
  port: number;
  portCount?: number;
  proto: string; // 'RTP/AVP', 'RTP/SAVP', 'sip', ...
  formats: string[]; // payload types as written (or 'null' for IM)
  /** The media-level c= line, or the session one when the media has none. */
  connection?: SdpConnection;
  bandwidths: Array<{ type: string; value: number }>;
  /** Every a= line of this media section, in order, none dropped. */
  attributes: SdpAttribute[];
  // Derived views of the attributes:
  rtpmap: Map<number, SdpRtpMap>;
  fmtp: Map<number, string>;
  /** Media direction, falling back to the session-level one, then 'sendrecv'. */
  direction: SdpDirection;
  crypto: SdpCrypto[];
  candidates: SdpCandidate[];
  remoteCandidates: SdpRemoteCandidate[];
  ssrcRange?: { first: number; last: number };
  label?: string;
  rtcpPort?: number;
  /** The address of a=rtcp:<port> IN IP4 <addr>, when it names one. */
  rtcpConnection?: SdpConnection;
  rtcpMux: boolean;
  ptime?: number;
}

export interface SdpSession {
  version: number;
  origin: SdpOrigin;
  sessionName: string;
  connection?: SdpConnection;
  bandwidths: Array<{ type: string; value: number }>;
  /** Session-level a= lines, in order. */
  attributes: SdpAttribute[];
  media: SdpMedia[];
  /** Problems that did not fail the parse (a skipped malformed attribute, an ignored line), with line numbers. */
  warnings: string[];
}
