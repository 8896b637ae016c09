/**
 * HEP encoding: HEPv3 with every generic chunk decodeHep reads (for tests, benchmarks and the forwarder agent),
 * and the older HEPv2/v1 header (for tests of the decoder and of listeners that still receive it).
 * Our own callers give the input, so bad input is a thrown TAPLINE_ERR_HEP_ENCODE, not a result.
 */
import * as zlib from 'node:zlib';
import { ErrorCodes, TaplineError } from '../errors';
import { HEP3_HEADER_BYTES, HEP3_MAGIC, HEP3_MAX_BYTES, HEP_CHUNK_HEADER_BYTES, HepChunk, HepFamily, HepProtoType, V12_HEADER_V4, V12_HEADER_V6, V2_TIME_HEADER_BYTES, type HepOptionalFields, type HepRawChunk } from './hep';
import { parseIp, type ParsedIp } from './ip-parse';

export interface HepEncodeInput extends HepOptionalFields {
  /** IP protocol number of the captured packet (default 17, UDP). */
  ipProto?: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** Capture time, µs since the epoch (whole microseconds). Omitted: no time chunks. */
  ts?: number;
  /** HepProtoType (default 1, SIP). */
  protoType?: number;
  captureId?: number;
  keepAliveTimer?: number;
  authKey?: string | Buffer;
  payload: Buffer | string;
  /** Send the payload deflated (zlib) in chunk 16 instead of chunk 15. */
  compress?: boolean;
  /** Appended as given (vendor chunks, chunk types from a newer specification). */
  extraChunks?: readonly HepRawChunk[];
}

function encodeError(message: string): never {
  throw new TaplineError(ErrorCodes.HEP_ENCODE, message);
}

function addresses(input: HepEncodeInput): { src: ParsedIp; dst: ParsedIp } {
  const src = parseIp(input.src) ?? encodeError(`source '${input.src}' is not an IP address`);
  const dst = parseIp(input.dst) ?? encodeError(`destination '${input.dst}' is not an IP address`);
  if (src.family !== dst.family) encodeError(`source ${input.src} and destination ${input.dst} are of different IP families`);
  for (const [name, port] of [['source', input.sport], ['destination', input.dport]] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) encodeError(`${name} port ${port} is not a port number`);
  }
  return { src, dst };
}

function uint(bytes: 1 | 2 | 4, value: number, what: string): Buffer {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** (bytes * 8)) encodeError(`${what} ${value} does not fit ${bytes * 8} bits`);
  const b = Buffer.alloc(bytes);
  b.writeUIntBE(value, 0, bytes);
  return b;
}

function mac(text: string, what: string): Buffer {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((x) => !/^[0-9a-fA-F]{2}$/.test(x))) encodeError(`${what} '${text}' is not a MAC address`);
  // uint64 in the specification: two zero bytes, then the six of the address.
  return Buffer.concat([Buffer.alloc(2), Buffer.from(parts.join(''), 'hex')]);
}

/** One HEPv3 record. Chunks are written in type order, the payload last (as Kamailio and heplify do). */
export function encodeHep3(input: HepEncodeInput): Buffer {
  const { src, dst } = addresses(input);
  const chunks: Array<[number, number, Buffer]> = [];
  const add = (type: number, value: Buffer | undefined): void => {
    if (value !== undefined) chunks.push([0, type, value]);
  };
  const text = (s: string | undefined): Buffer | undefined => (s === undefined ? undefined : Buffer.from(s, 'utf8'));
  const num = (bytes: 1 | 2 | 4, v: number | undefined, what: string): Buffer | undefined => (v === undefined ? undefined : uint(bytes, v, what));
  const v6 = src.family === 6;
  add(HepChunk.IP_FAMILY, uint(1, v6 ? HepFamily.IPV6 : HepFamily.IPV4, 'family'));
  add(HepChunk.IP_PROTO, uint(1, input.ipProto ?? 17, 'IP protocol'));
  add(v6 ? HepChunk.IPV6_SRC : HepChunk.IPV4_SRC, src.bytes);
  add(v6 ? HepChunk.IPV6_DST : HepChunk.IPV4_DST, dst.bytes);
  add(HepChunk.SRC_PORT, uint(2, input.sport, 'source port'));
  add(HepChunk.DST_PORT, uint(2, input.dport, 'destination port'));
  if (input.ts !== undefined) {
    if (!Number.isInteger(input.ts) || input.ts < 0) encodeError(`time ${input.ts} is not whole microseconds since the epoch`);
    add(HepChunk.TIME_SEC, uint(4, Math.floor(input.ts / 1e6), 'time (s)'));
    add(HepChunk.TIME_USEC, uint(4, input.ts % 1e6, 'time (µs)'));
  }
  add(HepChunk.PROTO_TYPE, uint(1, input.protoType ?? HepProtoType.SIP, 'protocol type'));
  add(HepChunk.CAPTURE_ID, num(4, input.captureId, 'capture id'));
  add(HepChunk.KEEP_ALIVE, num(2, input.keepAliveTimer, 'keep-alive timer'));
  add(HepChunk.AUTH_KEY, typeof input.authKey === 'string' ? Buffer.from(input.authKey, 'utf8') : input.authKey);
  add(HepChunk.CORRELATION_ID, text(input.correlationId));
  add(HepChunk.VLAN, num(2, input.vlan, 'VLAN'));
  add(HepChunk.NODE_NAME, text(input.nodeName));
  add(HepChunk.SRC_MAC, input.srcMac === undefined ? undefined : mac(input.srcMac, 'source MAC'));
  add(HepChunk.DST_MAC, input.dstMac === undefined ? undefined : mac(input.dstMac, 'destination MAC'));
  add(HepChunk.ETHER_TYPE, num(2, input.etherType, 'Ethernet type'));
  add(HepChunk.TCP_FLAGS, num(1, input.tcpFlags, 'TCP flags'));
  add(HepChunk.IP_TOS, num(1, input.ipTos, 'IP TOS'));
  add(HepChunk.MOS, num(2, input.mos, 'MOS'));
  add(HepChunk.R_FACTOR, num(2, input.rFactor, 'R-factor'));
  add(HepChunk.GEO_LOCATION, text(input.geoLocation));
  add(HepChunk.JITTER, num(4, input.jitter, 'jitter'));
  add(HepChunk.TRANSACTION_TYPE, text(input.transactionType));
  add(HepChunk.PAYLOAD_JSON_KEYS, text(input.payloadJsonKeys));
  add(HepChunk.TAGS_VALUES, text(input.tagsValues));
  add(HepChunk.TAG_TYPE, num(2, input.tagType, 'tag type'));
  for (const c of input.extraChunks ?? []) chunks.push([uint(2, c.vendor, 'vendor id').readUInt16BE(0), uint(2, c.type, 'chunk type').readUInt16BE(0), c.value]);
  const payload = typeof input.payload === 'string' ? Buffer.from(input.payload, 'utf8') : input.payload;
  if (input.compress === true) add(HepChunk.COMPRESSED_PAYLOAD, zlib.deflateSync(payload));
  else add(HepChunk.PAYLOAD, payload);

  const total = HEP3_HEADER_BYTES + chunks.reduce((n, [, , v]) => n + HEP_CHUNK_HEADER_BYTES + v.length, 0);
  if (total > HEP3_MAX_BYTES) encodeError(`the record would be ${total} bytes; HEPv3 records end at ${HEP3_MAX_BYTES}`);
  const out = Buffer.alloc(total);
  out.writeUInt32BE(HEP3_MAGIC, 0);
  out.writeUInt16BE(total, 4);
  let off = HEP3_HEADER_BYTES;
  for (const [vendor, type, value] of chunks) {
    out.writeUInt16BE(vendor, off);
    out.writeUInt16BE(type, off + 2);
    out.writeUInt16BE(HEP_CHUNK_HEADER_BYTES + value.length, off + 4);
    value.copy(out, off + HEP_CHUNK_HEADER_BYTES);
    off += HEP_CHUNK_HEADER_BYTES + value.length;
  }
  return out;
}

/**
 * A HEPv2 (or, with version 1, HEPv1: no time header) packet laid out as Kamailio and captagent send it: address
 * family as Linux numbers it (2, 10), the time header in little-endian order with 2 bytes of padding.
 */
export function encodeHepV2(input: HepEncodeInput, version: 1 | 2 = 2): Buffer {
  const { src, dst } = addresses(input);
  const v6 = src.family === 6;
  const hl = v6 ? V12_HEADER_V6 : V12_HEADER_V4;
  const payload = typeof input.payload === 'string' ? Buffer.from(input.payload, 'utf8') : input.payload;
  const timeBytes = version === 2 ? V2_TIME_HEADER_BYTES : 0;
  const out = Buffer.alloc(hl + timeBytes + payload.length);
  out[0] = version;
  out[1] = hl;
  out[2] = v6 ? 10 : 2;
  out[3] = uint(1, input.ipProto ?? 17, 'IP protocol')[0] as number;
  out.writeUInt16BE(input.sport, 4);
  out.writeUInt16BE(input.dport, 6);
  src.bytes.copy(out, 8);
  dst.bytes.copy(out, 8 + src.bytes.length);
  if (version === 2) {
    const ts = input.ts ?? 0;
    out.writeUInt32LE(Math.floor(ts / 1e6), hl);
    out.writeUInt32LE(ts % 1e6, hl + 4);
    out.writeUInt16LE(uint(2, input.captureId ?? 0, 'HEPv2 capture id').readUInt16BE(0), hl + 8);
  }
  payload.copy(out, hl + timeBytes);
  return out;
}
