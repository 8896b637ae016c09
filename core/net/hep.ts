/**
 * HEP, the Homer Encapsulation Protocol (sipcapture.org): how proxies, SBCs and capture agents (Kamailio siptrace,
 * OpenSIPS proto_hep, FreeSWITCH, heplify, captagent) send a copy of each SIP message or media packet with the
 * addresses and time it was captured with.
 *
 * HEPv3: "HEP3", a 16-bit total length, then chunks of (vendor id, type id, length incl. the 6-byte chunk header,
 * value), all big-endian. HEPv1/v2: a binary header (version, header length, address family, IP protocol, ports,
 * addresses), then for v2 a time header that senders write in their own (little-endian) byte order and C struct
 * layout — seconds, microseconds, 16-bit capture id, 2 bytes of padding: 12 bytes, as Kamailio 5.6 siptrace sends
 * it (checked byte by byte in hep-kamailio.test.ts) — then the SIP message.
 *
 * decodeHep never throws: what the network sent is a typed result. The payload is a view of the input, bytes
 * exactly as sent (non-ASCII SIP survives); octet-string chunks meant as text (node name, correlation id) are
 * decoded as UTF-8.
 */
import * as zlib from 'node:zlib';
import { ipv4String, ipv6String } from './ip-address';

/** "HEP3" read as a big-endian 32-bit number. */
export const HEP3_MAGIC = 0x48455033;
export const HEP3_HEADER_BYTES = 6;
export const HEP_CHUNK_HEADER_BYTES = 6;
/** The total-length field is 16 bits: no HEPv3 record is longer. */
export const HEP3_MAX_BYTES = 65535;

/** Generic chunk types (vendor 0x0000) of the HEP3 specification. */
export const HepChunk = {
  IP_FAMILY: 1,
  IP_PROTO: 2,
  IPV4_SRC: 3,
  IPV4_DST: 4,
  IPV6_SRC: 5,
  IPV6_DST: 6,
  SRC_PORT: 7,
  DST_PORT: 8,
  TIME_SEC: 9,
  TIME_USEC: 10,
  PROTO_TYPE: 11,
  CAPTURE_ID: 12,
  KEEP_ALIVE: 13,
  AUTH_KEY: 14,
  PAYLOAD: 15,
  COMPRESSED_PAYLOAD: 16,
  CORRELATION_ID: 17,
  VLAN: 18,
  NODE_NAME: 19,
  SRC_MAC: 20,
  DST_MAC: 21,
  ETHER_TYPE: 22,
  TCP_FLAGS: 23,
  IP_TOS: 24,
  MOS: 25,
  R_FACTOR: 26,
  GEO_LOCATION: 27,
  JITTER: 28,
  TRANSACTION_TYPE: 29,
  PAYLOAD_JSON_KEYS: 30,
  TAGS_VALUES: 31,
  TAG_TYPE: 32,
} as const;

/** Values of the protocol-type chunk (11) that a recorder tells apart. RTCP (5) is JSON from most agents. */
export const HepProtoType = {
  SIP: 1,
  RTP: 4,
  RTCP: 5,
  RTP_AGENT_JSON: 34,
  RTCP_XR: 35,
  DNS: 53,
  LOG: 100,
} as const;

/** Values of the IP-family chunk (1). */
export const HepFamily = { IPV4: 2, IPV6: 10 } as const;

/** A chunk kept as sent: vendor chunks and generic types this decoder does not interpret. */
export interface HepRawChunk {
  vendor: number;
  type: number;
  value: Buffer;
}

/** One decoded HEP packet. Optional fields are present only when the sender included them. */
/** The generic chunks a packet may carry besides addresses, time and payload (decoded, or to encode). */
export interface HepOptionalFields {
  correlationId?: string;
  vlan?: number;
  /** Capture agent name (chunk 19). */
  nodeName?: string;
  /** "aa:bb:cc:dd:ee:ff". */
  srcMac?: string;
  dstMac?: string;
  etherType?: number;
  tcpFlags?: number;
  ipTos?: number;
  mos?: number;
  rFactor?: number;
  geoLocation?: string;
  jitter?: number;
  transactionType?: string;
  payloadJsonKeys?: string;
  tagsValues?: string;
  tagType?: number;
}

export interface HepPacket extends HepOptionalFields {
  version: 1 | 2 | 3;
  ipFamily: 4 | 6;
  /** IP protocol number of the captured packet: 17 UDP, 6 TCP, 132 SCTP. */
  ipProto: number;
  /** Addresses as the rest of the core formats them (dotted quad; RFC 5952 IPv6). */
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** Capture time, µs since the epoch (chunks 9 + 10; the HEPv2 time header); absent when the sender sent none. */
  ts?: number;
  tsSec?: number;
  tsUsec?: number;
  /** Chunk 11 (HepProtoType); HEPv1/v2 carry SIP only, so 1. */
  protoType: number;
  /** Capture agent id (chunk 12; 16 bits in HEPv2). */
  captureId?: number;
  keepAliveTimer?: number;
  /** Chunk 14, as sent. */
  authKey?: Buffer;
  /** The captured packet's payload (chunk 15, or chunk 16 inflated); empty when there was none. */
  payload: Buffer;
  /** The payload came compressed (chunk 16). */
  compressed: boolean;
  /** Vendor chunks, unknown generic chunks and known ones of an unexpected size, as sent (the first MAX_KEPT_CHUNKS). */
  extraChunks: HepRawChunk[];
  /** How many chunks were skipped (all of them, including those beyond the kept ones). */
  skippedChunks: number;
}

export type HepErrorReason =
  | 'bad-magic'
  | 'truncated'
  | 'bad-chunk-length'
  | 'length-mismatch'
  | 'missing-addresses'
  | 'oversize'
  | 'bad-compressed-payload';

export interface HepFailure {
  ok: false;
  reason: HepErrorReason;
  detail: string;
}

export type HepDecodeResult = { ok: true; packet: HepPacket } | HepFailure;

export interface HepDecodeOptions {
  /** Largest packet accepted (default 65535). */
  maxBytes?: number;
  /** Largest inflated payload of chunk 16 (default 256 KiB); a bigger one is refused as 'oversize' unexpanded. */
  maxDecompressedBytes?: number;
}

/** Unknown chunks kept per packet (all are counted): a packet of a thousand tiny chunks must not cost a thousand objects. */
export const MAX_KEPT_CHUNKS = 16;
const DEFAULT_MAX_DECOMPRESSED = 256 * 1024;

function fail(reason: HepErrorReason, detail: string): HepFailure {
  return { ok: false, reason, detail };
}

/** True when the buffer starts like a HEPv3 record (for protocol detection on a stream). */
export function isHep3(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32BE(0) === HEP3_MAGIC;
}

/** Decodes one HEP packet (v3, v2 or v1) that fills `buf` exactly. */
export function decodeHep(buf: Buffer, opts: HepDecodeOptions = {}): HepDecodeResult {
  const max = opts.maxBytes ?? HEP3_MAX_BYTES;
  if (buf.length > max) return fail('oversize', `${buf.length} bytes exceed the ${max}-byte limit`);
  if (buf.length >= 4 && buf.readUInt32BE(0) === HEP3_MAGIC) return decodeHep3(buf, opts);
  const v = buf[0];
  if ((v === 1 || v === 2) && (buf.length < 2 || buf[1] === V12_HEADER_V4 || buf[1] === V12_HEADER_V6)) return decodeHep12(buf);
  if (buf.length < 4 && buf.length > 0 && Buffer.from('HEP3').subarray(0, buf.length).equals(buf)) return fail('truncated', `${buf.length} bytes: shorter than a HEPv3 header`);
  return fail('bad-magic', buf.length === 0 ? 'empty packet' : `starts with 0x${buf.subarray(0, 4).toString('hex')}: neither "HEP3" nor a HEPv1/v2 header`);
}

/** Chunks whose size is fixed, and that size. A wrong size on one the recorder relies on rejects the packet. */
const FIXED: Readonly<Record<number, number>> = {
  [HepChunk.IP_FAMILY]: 1,
  [HepChunk.IP_PROTO]: 1,
  [HepChunk.IPV4_SRC]: 4,
  [HepChunk.IPV4_DST]: 4,
  [HepChunk.IPV6_SRC]: 16,
  [HepChunk.IPV6_DST]: 16,
  [HepChunk.SRC_PORT]: 2,
  [HepChunk.DST_PORT]: 2,
  [HepChunk.TIME_SEC]: 4,
  [HepChunk.TIME_USEC]: 4,
  [HepChunk.PROTO_TYPE]: 1,
  [HepChunk.KEEP_ALIVE]: 2,
  [HepChunk.VLAN]: 2,
};

/** Analytics chunks (20–32): one of an unexpected size is kept raw and skipped, never a reason to lose the SIP message. */
const OPTIONAL_FIXED: Readonly<Record<number, readonly number[]>> = {
  [HepChunk.SRC_MAC]: [6, 8],
  [HepChunk.DST_MAC]: [6, 8],
  [HepChunk.ETHER_TYPE]: [2],
  [HepChunk.TCP_FLAGS]: [1],
  [HepChunk.IP_TOS]: [1],
  [HepChunk.MOS]: [2],
  [HepChunk.R_FACTOR]: [2],
  [HepChunk.JITTER]: [4],
  [HepChunk.TAG_TYPE]: [2],
};

function macString(v: Buffer): string {
  return [...v.subarray(v.length - 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function decodeHep3(buf: Buffer, opts: HepDecodeOptions): HepDecodeResult {
  if (buf.length < HEP3_HEADER_BYTES) return fail('truncated', `${buf.length} bytes: shorter than a HEPv3 header`);
  const total = buf.readUInt16BE(4);
  if (total > buf.length) return fail('truncated', `header says ${total} bytes, ${buf.length} arrived`);
  if (total < buf.length) return fail('length-mismatch', `header says ${total} bytes, the packet has ${buf.length}`);
  const p: HepPacket = { version: 3, ipFamily: 4, ipProto: 0, src: '', sport: 0, dst: '', dport: 0, protoType: 0, payload: EMPTY, compressed: false, extraChunks: [], skippedChunks: 0 };
  let family: number | undefined;
  let v4src: string | undefined, v4dst: string | undefined, v6src: string | undefined, v6dst: string | undefined;
  let sport: number | undefined, dport: number | undefined;
  let payload: Buffer | undefined, zipped: Buffer | undefined;
  for (let off = HEP3_HEADER_BYTES; off < total; ) {
    if (off + HEP_CHUNK_HEADER_BYTES > total) return fail('bad-chunk-length', `${total - off} bytes left at offset ${off}: too few for a chunk header`);
    const vendor = buf.readUInt16BE(off);
    const type = buf.readUInt16BE(off + 2);
    const len = buf.readUInt16BE(off + 4);
    if (len < HEP_CHUNK_HEADER_BYTES || off + len > total) return fail('bad-chunk-length', `chunk ${vendor}/${type} at offset ${off} claims ${len} bytes (${total - off} left)`);
    const v = buf.subarray(off + HEP_CHUNK_HEADER_BYTES, off + len);
    off += len;
    const skip = (): void => {
      p.skippedChunks++;
      if (p.extraChunks.length < MAX_KEPT_CHUNKS) p.extraChunks.push({ vendor, type, value: v });
    };
    if (vendor !== 0) {
      skip();
      continue;
    }
    const fixed = FIXED[type];
    if (fixed !== undefined && v.length !== fixed) return fail('bad-chunk-length', `chunk ${type} has ${v.length} value bytes, expected ${fixed}`);
    const optional = OPTIONAL_FIXED[type];
    if (optional !== undefined && !optional.includes(v.length)) {
      skip();
      continue;
    }
    switch (type) {
      case HepChunk.IP_FAMILY:
        family = v[0];
        break;
      case HepChunk.IP_PROTO:
        p.ipProto = v[0] as number;
        break;
      case HepChunk.IPV4_SRC:
        v4src = ipv4String(v, 0);
        break;
      case HepChunk.IPV4_DST:
        v4dst = ipv4String(v, 0);
        break;
      case HepChunk.IPV6_SRC:
        v6src = ipv6String(v, 0);
        break;
      case HepChunk.IPV6_DST:
        v6dst = ipv6String(v, 0);
        break;
      case HepChunk.SRC_PORT:
        sport = v.readUInt16BE(0);
        break;
      case HepChunk.DST_PORT:
        dport = v.readUInt16BE(0);
        break;
      case HepChunk.TIME_SEC:
        p.tsSec = v.readUInt32BE(0);
        break;
      case HepChunk.TIME_USEC:
        p.tsUsec = v.readUInt32BE(0);
        break;
      case HepChunk.PROTO_TYPE:
        p.protoType = v[0] as number;
        break;
      case HepChunk.CAPTURE_ID:
        // uint32 in the specification; some older agents send 16 bits.
        if (v.length === 4) p.captureId = v.readUInt32BE(0);
        else if (v.length === 2) p.captureId = v.readUInt16BE(0);
        else return fail('bad-chunk-length', `chunk 12 has ${v.length} value bytes, expected 4`);
        break;
      case HepChunk.KEEP_ALIVE:
        p.keepAliveTimer = v.readUInt16BE(0);
        break;
      case HepChunk.AUTH_KEY:
        p.authKey = v;
        break;
      case HepChunk.PAYLOAD:
        payload = v;
        break;
      case HepChunk.COMPRESSED_PAYLOAD:
        zipped = v;
        break;
      case HepChunk.CORRELATION_ID:
        p.correlationId = v.toString('utf8');
        break;
      case HepChunk.VLAN:
        p.vlan = v.readUInt16BE(0);
        break;
      case HepChunk.NODE_NAME:
        p.nodeName = v.toString('utf8');
        break;
      case HepChunk.SRC_MAC:
        p.srcMac = macString(v);
        break;
      case HepChunk.DST_MAC:
        p.dstMac = macString(v);
        break;
      case HepChunk.ETHER_TYPE:
        p.etherType = v.readUInt16BE(0);
        break;
      case HepChunk.TCP_FLAGS:
        p.tcpFlags = v[0] as number;
        break;
      case HepChunk.IP_TOS:
        p.ipTos = v[0] as number;
        break;
      case HepChunk.MOS:
        p.mos = v.readUInt16BE(0);
        break;
      case HepChunk.R_FACTOR:
        p.rFactor = v.readUInt16BE(0);
        break;
      case HepChunk.GEO_LOCATION:
        p.geoLocation = v.toString('utf8');
        break;
      case HepChunk.JITTER:
        p.jitter = v.readUInt32BE(0);
        break;
      case HepChunk.TRANSACTION_TYPE:
        p.transactionType = v.toString('utf8');
        break;
      case HepChunk.PAYLOAD_JSON_KEYS:
        p.payloadJsonKeys = v.toString('utf8');
        break;
      case HepChunk.TAGS_VALUES:
        p.tagsValues = v.toString('utf8');
        break;
      case HepChunk.TAG_TYPE:
        p.tagType = v.readUInt16BE(0);
        break;
      default:
        skip();
    }
  }
  // Both pairs present: the family chunk decides (IPv4 when it says nothing).
  const useV6 = v6src !== undefined && v6dst !== undefined && (v4src === undefined || v4dst === undefined || family === HepFamily.IPV6);
  if (useV6) {
    p.ipFamily = 6;
    p.src = v6src as string;
    p.dst = v6dst as string;
  } else if (v4src !== undefined && v4dst !== undefined) {
    p.src = v4src;
    p.dst = v4dst;
  } else {
    const missing = [v4src ?? v6src ? '' : 'source', v4dst ?? v6dst ? '' : 'destination'].filter((x) => x !== '').join(' and ');
    return fail('missing-addresses', missing === '' ? 'source and destination are of different IP families' : `no ${missing} IP address chunk`);
  }
  if (sport === undefined || dport === undefined) return fail('missing-addresses', `no ${sport === undefined ? 'source' : 'destination'} port chunk`);
  p.sport = sport;
  p.dport = dport;
  if (p.tsSec !== undefined) p.ts = p.tsSec * 1e6 + (p.tsUsec ?? 0);
  if (payload !== undefined) p.payload = payload;
  else if (zipped !== undefined) {
    const inflated = inflate(zipped, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED);
    if (!Buffer.isBuffer(inflated)) return inflated;
    p.payload = inflated;
    p.compressed = true;
  }
  return { ok: true, packet: p };
}

/**
 * Chunk 16: captagent and heplify deflate with zlib; gzip and raw deflate are accepted too. The output is capped
 * while inflating, so a small bomb never expands past the limit.
 */
function inflate(data: Buffer, limit: number): Buffer | HepFailure {
  const opts = { maxOutputLength: Math.max(1, limit) };
  try {
    if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) return zlib.gunzipSync(data, opts);
    const cmf = data[0] ?? 0;
    const isZlib = data.length >= 2 && (cmf & 0x0f) === 8 && ((cmf << 8) | (data[1] as number)) % 31 === 0;
    return isZlib ? zlib.inflateSync(data, opts) : zlib.inflateRawSync(data, opts);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return fail('oversize', `compressed payload inflates past the ${limit}-byte limit`);
    return fail('bad-compressed-payload', `chunk 16 does not inflate: ${(e as Error).message}`);
  }
}

/** HEPv1/v2 header length: version, length, family, protocol, two ports, then two addresses. */
export const V12_HEADER_V4 = 8 + 2 * 4;
export const V12_HEADER_V6 = 8 + 2 * 16;
/** The HEPv2 time header as senders' C structs lay it out: u32 sec, u32 usec, u16 capture id, 2 bytes padding. */
export const V2_TIME_HEADER_BYTES = 12;
/** AF_INET6 as Linux (10), FreeBSD (28), macOS (30) and Net/OpenBSD (24) number it: senders write their own. */
const AF_INET6_VALUES: ReadonlySet<number> = new Set([10, 24, 28, 30]);
const AF_INET = 2;

function decodeHep12(buf: Buffer): HepDecodeResult {
  if (buf.length < 8) return fail('truncated', `${buf.length} bytes: shorter than a HEPv1/v2 header`);
  const version = buf[0] as 1 | 2;
  const hl = buf[1] as number;
  const af = buf[2] as number;
  const v6 = AF_INET6_VALUES.has(af);
  if (!v6 && af !== AF_INET) return fail('missing-addresses', `unknown address family ${af}`);
  const want = v6 ? V12_HEADER_V6 : V12_HEADER_V4;
  if (hl !== want) return fail('length-mismatch', `header length ${hl} does not fit address family ${af} (expected ${want})`);
  const need = hl + (version === 2 ? V2_TIME_HEADER_BYTES : 0);
  if (buf.length < need) return fail('truncated', `${buf.length} bytes: the HEPv${version} header needs ${need}`);
  const p: HepPacket = {
    version,
    ipFamily: v6 ? 6 : 4,
    ipProto: buf[3] as number,
    sport: buf.readUInt16BE(4),
    dport: buf.readUInt16BE(6),
    src: v6 ? ipv6String(buf, 8) : ipv4String(buf, 8),
    dst: v6 ? ipv6String(buf, 24) : ipv4String(buf, 12),
    protoType: HepProtoType.SIP,
    payload: buf.subarray(need),
    compressed: false,
    extraChunks: [],
    skippedChunks: 0,
  };
  if (version === 2) {
    p.tsSec = buf.readUInt32LE(hl);
    p.tsUsec = buf.readUInt32LE(hl + 4);
    p.ts = p.tsSec * 1e6 + p.tsUsec;
    p.captureId = buf.readUInt16LE(hl + 8);
  }
  return { ok: true, packet: p };
}

const EMPTY = Buffer.alloc(0);
