/**
 * TURN messages as an Edge Server and its clients put them on the wire (lync-protocols.md §3), for the generator's
 * TURN media paths: RFC 5389/5766 (cookie header, padded TLVs, XORed addresses, ChannelData) and MS-TURN (16-byte
 * transaction id, MAGIC-COOKIE first, unpadded TLVs, plain addresses), the MS-TURN TCP frame header, and the
 * pseudo-TLS hellos that open a TCP 443 connection. Written from the specs, independently of the recorder's parser.
 */

export const COOKIE = 0x2112a442;
export const MS_MAGIC = 0x72c64bc6;

/** Message types. */
export const TurnType = {
  ALLOCATE: 0x0003,
  ALLOCATE_SUCCESS: 0x0103,
  CHANNEL_BIND: 0x0009,
  CHANNEL_BIND_SUCCESS: 0x0109,
  SEND_INDICATION: 0x0016,
  DATA_INDICATION: 0x0017,
  MS_SEND: 0x0004,
  MS_DATA_INDICATION: 0x0115,
  MS_SET_ACTIVE_DESTINATION: 0x0006,
  MS_SET_ACTIVE_DESTINATION_SUCCESS: 0x0106,
} as const;

/** Attribute types (RFC 5766 §14, [MS-TURN] 2.2.2). */
export const TurnAttr = {
  MAPPED_ADDRESS: 0x0001,
  MESSAGE_INTEGRITY: 0x0008,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  MAGIC_COOKIE: 0x000f,
  DESTINATION_ADDRESS: 0x0011,
  /** XOR-PEER-ADDRESS (RFC 5766) / REMOTE-ADDRESS (MS-TURN, plain). */
  PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  MS_VERSION: 0x8008,
  MS_XOR_MAPPED_ADDRESS: 0x8020,
  MS_SEQUENCE_NUMBER: 0x8050,
} as const;

export interface Endpoint {
  ip: string;
  port: number;
}

function ipv4(ip: string): Buffer {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`bad IPv4 address ${ip}`);
  return Buffer.from(p);
}

/** reserved(1) family(1) port(2) address(4): plain, or XORed with the cookie (RFC 5389 §15.2; IPv4 only here). */
export function addressValue(e: Endpoint, xor: boolean): Buffer {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(xor ? e.port ^ (COOKIE >>> 16) : e.port, 2);
  const a = ipv4(e.ip);
  v.writeUInt32BE(xor ? (a.readUInt32BE(0) ^ COOKIE) >>> 0 : a.readUInt32BE(0), 4);
  return v;
}

export type StunAttrs = ReadonlyArray<readonly [number, Buffer]>;

/** An RFC 5389 message: cookie, 12-byte transaction id, TLVs padded to 4 bytes. */
export function rfc5389Message(type: number, txid: Buffer, attrs: StunAttrs): Buffer {
  if (txid.length !== 12) throw new RangeError('RFC 5389 transaction ids are 12 bytes');
  const body = Buffer.concat(attrs.map(([t, v]) => tlv(t, v, true)));
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(body.length, 2);
  h.writeUInt32BE(COOKIE, 4);
  txid.copy(h, 8);
  return Buffer.concat([h, body]);
}

/** A legacy MS-TURN message: 16-byte transaction id, MAGIC-COOKIE first, TLVs not padded. */
export function msTurnMessage(type: number, txid: Buffer, attrs: StunAttrs): Buffer {
  if (txid.length !== 16) throw new RangeError('MS-TURN transaction ids are 16 bytes');
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(MS_MAGIC, 0);
  const body = Buffer.concat([tlv(TurnAttr.MAGIC_COOKIE, magic, false), ...attrs.map(([t, v]) => tlv(t, v, false))]);
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(body.length, 2);
  txid.copy(h, 4);
  return Buffer.concat([h, body]);
}

function tlv(type: number, value: Buffer, padded: boolean): Buffer {
  const len = padded ? (value.length + 3) & ~3 : value.length;
  const b = Buffer.alloc(4 + len);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** CHANNEL-NUMBER: the channel, then 2 RFFU bytes. */
export function channelNumber(ch: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(ch, 0);
  return b;
}

/** RFC 5766 §11.4 ChannelData; padded to 4 bytes over TCP (§11.5), not over UDP. */
export function channelData(channel: number, data: Buffer, pad: boolean): Buffer {
  const b = Buffer.alloc(4 + (pad ? (data.length + 3) & ~3 : data.length));
  b.writeUInt16BE(channel, 0);
  b.writeUInt16BE(data.length, 2);
  data.copy(b, 4);
  return b;
}

/** [MS-TURN] 2.1.4 TCP framing: type (0x02 control, 0x03 end-to-end data), 0x00, length, payload; no padding. */
export function msTcpFrame(type: 0x02 | 0x03, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(payload.length, 2);
  return Buffer.concat([h, payload]);
}

/** One TLS 1.0 handshake record holding the given handshake messages (type, body). */
function tlsRecord(messages: ReadonlyArray<readonly [number, Buffer]>): Buffer {
  const hs = Buffer.concat(
    messages.map(([t, body]) => {
      const h = Buffer.alloc(4);
      h[0] = t;
      h.writeUIntBE(body.length, 1, 3);
      return Buffer.concat([h, body]);
    }),
  );
  const r = Buffer.alloc(5);
  r[0] = 0x16;
  r.writeUInt16BE(0x0301, 1);
  r.writeUInt16BE(hs.length, 3);
  return Buffer.concat([r, hs]);
}

/** The pseudo-TLS ClientHello that opens an MS-TURN TCP connection ([MS-TURN] 3.1.5.1): TLS 1.0, one suite, no extensions. */
export function pseudoTlsClientHello(random: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([0x03, 0x01]), random.subarray(0, 32), Buffer.from([0x00]), Buffer.from([0x00, 0x02, 0x00, 0x2f]), Buffer.from([0x01, 0x00])]);
  return tlsRecord([[0x01, body]]);
}

/** The server's answer: ServerHello and ServerHelloDone in one record. */
export function pseudoTlsServerHello(random: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([0x03, 0x01]), random.subarray(0, 32), Buffer.from([0x00]), Buffer.from([0x00, 0x2f]), Buffer.from([0x00])]);
  return tlsRecord([
    [0x02, body],
    [0x0e, Buffer.alloc(0)],
  ]);
}
