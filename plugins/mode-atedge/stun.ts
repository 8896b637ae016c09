/**
 * STUN message primitives shared by RFC 5389/5766 TURN and Microsoft's MS-TURN (lync-protocols.md §3.2): the
 * header, the attribute TLVs (padded to 4 bytes in RFC 5389, unpadded in MS-TURN) and transport addresses (plain
 * or XORed with the cookie). Pure functions over a Buffer; nothing here throws on bad input.
 */
import { ipv4String, ipv6String } from '../../core/net/ip-address';

/** RFC 5389 magic cookie, bytes 4-7 of the header. */
export const STUN_COOKIE = 0x2112a442;
/** MS-TURN MAGIC-COOKIE attribute value: the first attribute of every MS-TURN message [MS-TURN 2.2.2.6]. */
export const MS_TURN_MAGIC = 0x72c64bc6;
export const STUN_HEADER = 20;

/** Attribute types this plugin reads (RFC 5389/5766 and [MS-TURN] 2.2.2; the same number can mean two things). */
export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  CHANNEL_NUMBER: 0x000c,
  MAGIC_COOKIE: 0x000f,
  /** MS-TURN DESTINATION-ADDRESS (plain). */
  DESTINATION_ADDRESS: 0x0011,
  /** RFC 5766 XOR-PEER-ADDRESS; in MS-TURN the plain REMOTE-ADDRESS. */
  PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  XOR_RELAYED_ADDRESS: 0x0016,
  XOR_MAPPED_ADDRESS: 0x0020,
  /** MS-TURN's XOR-MAPPED-ADDRESS (the reflexive address in an Allocate response). */
  MS_XOR_MAPPED_ADDRESS: 0x8020,
  MS_MULTIPLEXED_SESSION_ID: 0x8095,
} as const;

export interface TurnAddress {
  ip: string;
  port: number;
}

export interface StunHeader {
  type: number;
  /** Message length from the header (bytes after the 20-byte header). */
  length: number;
  /** RFC 5389 cookie in bytes 4-7 (else the 16-byte transaction id of RFC 3489 / legacy MS-TURN). */
  cookie: boolean;
  /** Transaction id as hex: 12 bytes with the cookie, 16 without. */
  txid: string;
}

export interface StunAttribute {
  type: number;
  value: Buffer;
}

/** Method and class of a message type (RFC 5389 §6: class bits C1 = bit 8, C0 = bit 4). */
export function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}

/** 0 request, 1 indication, 2 success response, 3 error response. */
export function classOf(type: number): number {
  return ((type >> 4) & 1) | ((type >> 7) & 2);
}

/** The header of a STUN-looking buffer (top two bits 00, at least 20 bytes), or undefined. */
export function readHeader(buf: Buffer): StunHeader | undefined {
  if (buf.length < STUN_HEADER || (buf[0] as number) > 3) return undefined;
  const cookie = buf.readUInt32BE(4) === STUN_COOKIE;
  return { type: buf.readUInt16BE(0), length: buf.readUInt16BE(2), cookie, txid: buf.toString('hex', cookie ? 8 : 4, STUN_HEADER) };
}

/** Whether the first attribute is MS-TURN's MAGIC-COOKIE (what makes a message MS-TURN, with or without the header cookie). */
export function hasMsTurnMagic(buf: Buffer): boolean {
  return buf.length >= STUN_HEADER + 8 && buf.readUInt16BE(20) === Attr.MAGIC_COOKIE && buf.readUInt16BE(22) === 4 && buf.readUInt32BE(24) === MS_TURN_MAGIC;
}

/**
 * The attributes in buf[start, end): TLVs padded to 4 bytes (RFC 5389 §15) or not (MS-TURN legacy). Undefined
 * when a TLV runs past `end` or the last one does not end exactly at `end` (the other alignment may fit).
 */
export function readAttributes(buf: Buffer, start: number, end: number, padded: boolean): StunAttribute[] | undefined {
  const out: StunAttribute[] = [];
  let off = start;
  while (off < end) {
    if (off + 4 > end) return undefined;
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    const valueEnd = off + 4 + len;
    if (valueEnd > end) return undefined;
    out.push({ type, value: buf.subarray(off + 4, valueEnd) });
    off = padded ? off + 4 + ((len + 3) & ~3) : valueEnd;
  }
  // A padded last attribute may claim padding the message length leaves out (some stacks do): still exact enough.
  return off === end || (padded && off - end < 4) ? out : undefined;
}

/** First attribute of a type. */
export function attr(attrs: readonly StunAttribute[], type: number): Buffer | undefined {
  for (const a of attrs) if (a.type === type) return a.value;
  return undefined;
}

/**
 * A transport address attribute value: reserved(1) family(1: 1 IPv4, 2 IPv6) port(2) address(4|16). XORed
 * (RFC 5389 §15.2) when `xorTxid` is given: port with the cookie's top 16 bits, IPv4 with the cookie, IPv6 with
 * cookie ‖ transaction id (hex, 12 bytes; without it an IPv6 XOR address cannot be decoded).
 */
export function readAddress(value: Buffer | undefined, xorTxid?: string): TurnAddress | undefined {
  if (value === undefined || value.length < 8) return undefined;
  const family = value[1];
  let port = value.readUInt16BE(2);
  if (xorTxid !== undefined) port ^= STUN_COOKIE >>> 16;
  if (family === 1) {
    const a = Buffer.from(value.subarray(4, 8));
    if (xorTxid !== undefined) a.writeUInt32BE((a.readUInt32BE(0) ^ STUN_COOKIE) >>> 0, 0);
    return { ip: ipv4String(a, 0), port };
  }
  if (family === 2 && value.length >= 20) {
    const a = Buffer.from(value.subarray(4, 20));
    if (xorTxid !== undefined) {
      if (xorTxid.length !== 24) return undefined;
      const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), Buffer.from(xorTxid, 'hex')]);
      for (let i = 0; i < 16; i++) a[i] = (a[i] as number) ^ (mask[i] as number);
    }
    return { ip: ipv6String(a, 0), port };
  }
  return undefined;
}
