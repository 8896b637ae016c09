/**
 * One TURN unit (a UDP datagram, or one frame a TurnTcpFramer cut from a TCP stream) → what it carries
 * (lync-protocols.md §3): relayed data with the peer address it names, a control message (Allocate, ChannelBind,
 * Set Active Destination, ICE checks...) with what a relay table needs, or why it is not TURN. Pure and stateless:
 * the channel, session and active-destination tables are TurnAllocations' (allocations.ts). Never throws.
 *
 *  - RFC 5766: Send indication 0x0016 / Data indication 0x0017 (XOR-PEER-ADDRESS 0x0012, DATA 0x0013, padded
 *    TLVs); ChannelData 0x4000-0x7FFF (4-byte header; over UDP up to 3 padding bytes may follow).
 *  - MS-TURN: MAGIC-COOKIE 0x000F = 0x72C64BC6 first, with or without the RFC 5389 cookie in the header, unpadded
 *    TLVs; Send request 0x0004 (DESTINATION-ADDRESS 0x0011 + DATA), Data Indication 0x0115 (REMOTE-ADDRESS 0x0012,
 *    plain, + DATA); multiplexed 0xFF10 | length | 8-byte session id | data [MS-TURN 2.2.3].
 */
import { Attr, attr, classOf, hasMsTurnMagic, methodOf, readAddress, readAttributes, readHeader, STUN_HEADER, type StunAttribute, type StunHeader, type TurnAddress } from './stun';

export type { TurnAddress } from './stun';

/** How relayed data was wrapped. */
export type DataFormat =
  /** RFC 5766 Send indication 0x0016 (client → server). */
  | 'send-indication'
  /** RFC 5766 Data indication 0x0017 (server → client). */
  | 'data-indication'
  /** MS-TURN Send request 0x0004 (client → server). */
  | 'ms-send'
  /** MS-TURN Data Indication 0x0115 (server → client). */
  | 'ms-data-indication'
  /** RFC 5766 ChannelData (either way; the peer is the channel's). */
  | 'channel-data'
  /** MS-TURN multiplexed session data 0xFF10 (either way). */
  | 'mux'
  /** MS-TURN over TCP: an end-to-end data frame (type 0x03), sent to or from the active destination. */
  | 'tcp-data';

export type TurnUnit =
  | {
      kind: 'data';
      format: DataFormat;
      /** True: client → server; false: server → client; undefined: the message does not say (ChannelData, 0xFF10). */
      toServer: boolean | undefined;
      /** The peer address the message names (Send/Data), undefined for ChannelData / 0xFF10 / TCP data frames. */
      peer: TurnAddress | undefined;
      channel?: number;
      /** 0xFF10: the 8-byte MS-TURN multiplexed session id, hex. */
      session?: string;
      data: Buffer;
    }
  | { kind: 'control'; control: TurnControl }
  | { kind: 'not-turn'; code: string; reason: string }
  | { kind: 'malformed'; code: string; reason: string };

/** What a control message tells a relay table. */
export interface TurnControl {
  dialect: 'rfc5389' | 'ms-turn';
  type: number;
  method: number;
  /** 0 request, 1 indication, 2 success, 3 error. */
  cls: number;
  /** e.g. 'allocate-success', 'channel-bind', 'set-active-destination', 'binding'. */
  name: string;
  txid: string;
  /** Allocate success: the relayed transport address (RFC 5766 XOR-RELAYED-ADDRESS; MS-TURN MAPPED-ADDRESS). */
  relayed?: TurnAddress;
  /** Allocate success: the client's reflexive address (XOR-MAPPED-ADDRESS). */
  mapped?: TurnAddress;
  /** ChannelBind: the channel and its peer. */
  channel?: number;
  /** ChannelBind's XOR-PEER-ADDRESS, Set Active Destination's DESTINATION-ADDRESS. */
  peer?: TurnAddress;
  /** MS-MULTIPLEXED-TURN-SESSION-ID 0x8095, hex. */
  session?: string;
}

export interface ParseOptions {
  /** The unit was cut from a TCP stream by a framer: ChannelData then carries its padding, lengths are exact. */
  stream?: boolean;
}

const METHOD_NAMES: Readonly<Record<number, string>> = {
  0x001: 'binding',
  0x003: 'allocate',
  0x004: 'refresh',
  0x006: 'send',
  0x007: 'data',
  0x008: 'create-permission',
  0x009: 'channel-bind',
};
const MS_METHOD_NAMES: Readonly<Record<number, string>> = { ...METHOD_NAMES, 0x004: 'send', 0x006: 'set-active-destination' };
const CLASS_SUFFIX = ['', '-indication', '-success', '-error'] as const;

const notTurn = (code: string, reason: string): TurnUnit => ({ kind: 'not-turn', code, reason });
const malformed = (code: string, reason: string): TurnUnit => ({ kind: 'malformed', code, reason });

/** Classifies and unwraps one datagram or framed unit. */
export function parseTurn(buf: Buffer, opts: ParseOptions = {}): TurnUnit {
  if (buf.length === 0) return notTurn('empty', 'empty payload');
  const b0 = buf[0] as number;
  if (b0 <= 3) return parseStun(buf);
  if (b0 >= 0x40 && b0 <= 0x7f) return parseChannelData(buf, opts.stream === true);
  if (b0 === 0xff && buf.length >= 2 && buf[1] === 0x10) return parseMux(buf);
  if (b0 >= 128 && b0 <= 191) return notTurn('rtp', 'RTP/RTCP, not wrapped');
  if (b0 >= 20 && b0 <= 63) return notTurn('dtls', 'DTLS or TLS record (first byte 20-63)');
  return notTurn('first-byte', `first byte 0x${b0.toString(16).padStart(2, '0')} starts no STUN, TURN or RTP message`);
}

function parseChannelData(buf: Buffer, stream: boolean): TurnUnit {
  if (buf.length < 4) return malformed('short', `ChannelData of ${buf.length} bytes: shorter than its 4-byte header`);
  const channel = buf.readUInt16BE(0);
  const len = buf.readUInt16BE(2);
  if (buf.length < 4 + len) return malformed('truncated', `ChannelData 0x${channel.toString(16)} claims ${len} bytes, ${buf.length - 4} present`);
  // Over UDP padding is optional (at most 3 bytes); over TCP the framer cut the unit at the padded length.
  if (buf.length > 4 + len + 3 || (stream && buf.length !== 4 + ((len + 3) & ~3))) {
    return malformed('trailing', `ChannelData 0x${channel.toString(16)} of ${len} bytes followed by ${buf.length - 4 - len} more`);
  }
  return { kind: 'data', format: 'channel-data', toServer: undefined, peer: undefined, channel, data: buf.subarray(4, 4 + len) };
}

function parseMux(buf: Buffer): TurnUnit {
  if (buf.length < 12) return malformed('short', `MS-TURN multiplexed frame of ${buf.length} bytes: shorter than its 12-byte header`);
  const len = buf.readUInt16BE(2);
  if (len < 8) return malformed('short', `MS-TURN multiplexed frame length ${len} cannot hold the 8-byte session id`);
  if (buf.length < 4 + len) return malformed('truncated', `MS-TURN multiplexed frame claims ${len} bytes, ${buf.length - 4} present`);
  if (buf.length > 4 + len + 3) return malformed('trailing', `MS-TURN multiplexed frame of ${len} bytes followed by ${buf.length - 4 - len} more`);
  return { kind: 'data', format: 'mux', toServer: undefined, peer: undefined, session: buf.toString('hex', 4, 12), data: buf.subarray(12, 4 + len) };
}

function parseStun(buf: Buffer): TurnUnit {
  const h = readHeader(buf);
  if (h === undefined) return malformed('short', `STUN-range message of ${buf.length} bytes: shorter than the 20-byte header`);
  const end = STUN_HEADER + h.length;
  if (end > buf.length) return malformed('truncated', `STUN message 0x${hex4(h.type)} claims ${h.length} bytes, ${buf.length - STUN_HEADER} present`);
  if (end < buf.length) return malformed('trailing', `STUN message 0x${hex4(h.type)} of ${h.length} bytes followed by ${buf.length - end} more`);
  const ms = hasMsTurnMagic(buf);
  if (!ms && !h.cookie) return notTurn('classic-stun', `message 0x${hex4(h.type)} has neither the RFC 5389 cookie nor MS-TURN's MAGIC-COOKIE attribute (RFC 3489 STUN or not STUN)`);
  // RFC 5389 pads TLVs, MS-TURN does not (even with the 5389 cookie in its header); try the other when one does not fit.
  const attrs = readAttributes(buf, STUN_HEADER, end, !ms) ?? readAttributes(buf, STUN_HEADER, end, ms);
  if (attrs === undefined) return malformed('attributes', `attributes of STUN message 0x${hex4(h.type)} overrun its length`);
  return ms ? msTurn(h, attrs) : rfc5389(h, attrs);
}

function rfc5389(h: StunHeader, attrs: StunAttribute[]): TurnUnit {
  const xor = h.txid;
  if (h.type === 0x0016 || h.type === 0x0017) {
    const send = h.type === 0x0016;
    const data = attr(attrs, Attr.DATA);
    const peer = readAddress(attr(attrs, Attr.PEER_ADDRESS), xor);
    const what = send ? 'Send indication' : 'Data indication';
    if (data === undefined) return malformed('no-data', `${what} without DATA`);
    if (peer === undefined) return malformed('no-peer', `${what} without a readable XOR-PEER-ADDRESS`);
    return { kind: 'data', format: send ? 'send-indication' : 'data-indication', toServer: send, peer, data };
  }
  const c = control('rfc5389', h, METHOD_NAMES);
  const relayed = readAddress(attr(attrs, Attr.XOR_RELAYED_ADDRESS), xor);
  const mapped = readAddress(attr(attrs, Attr.XOR_MAPPED_ADDRESS), xor);
  const peer = readAddress(attr(attrs, Attr.PEER_ADDRESS), xor);
  const ch = attr(attrs, Attr.CHANNEL_NUMBER);
  if (relayed !== undefined) c.relayed = relayed;
  if (mapped !== undefined) c.mapped = mapped;
  if (peer !== undefined) c.peer = peer;
  if (ch !== undefined && ch.length >= 2) c.channel = ch.readUInt16BE(0);
  // MS-ICE checks carry the sender's multiplexed session id too.
  const session = attr(attrs, Attr.MS_MULTIPLEXED_SESSION_ID);
  if (session !== undefined && session.length === 8) c.session = session.toString('hex');
  if (c.method === 0x009 && c.cls === 0 && (c.channel === undefined || c.peer === undefined)) return malformed('channel-bind', 'ChannelBind request without CHANNEL-NUMBER and XOR-PEER-ADDRESS');
  return { kind: 'control', control: c };
}

function msTurn(h: StunHeader, attrs: StunAttribute[]): TurnUnit {
  if (h.type === 0x0004 || h.type === 0x0115) {
    const send = h.type === 0x0004;
    const data = attr(attrs, Attr.DATA);
    const peer = readAddress(attr(attrs, send ? Attr.DESTINATION_ADDRESS : Attr.PEER_ADDRESS));
    const what = send ? 'MS-TURN Send request' : 'MS-TURN Data Indication';
    if (data === undefined) return malformed('no-data', `${what} without DATA`);
    if (peer === undefined) return malformed('no-peer', `${what} without a readable ${send ? 'DESTINATION' : 'REMOTE'}-ADDRESS`);
    return { kind: 'data', format: send ? 'ms-send' : 'ms-data-indication', toServer: send, peer, data };
  }
  const c = control('ms-turn', h, MS_METHOD_NAMES);
  // MS-TURN Allocate response: MAPPED-ADDRESS is the relayed address on the server, XOR-MAPPED-ADDRESS the reflexive one.
  const relayed = readAddress(attr(attrs, Attr.MAPPED_ADDRESS));
  const mapped = readAddress(attr(attrs, Attr.MS_XOR_MAPPED_ADDRESS), h.cookie ? h.txid : '');
  const dest = readAddress(attr(attrs, Attr.DESTINATION_ADDRESS));
  const session = attr(attrs, Attr.MS_MULTIPLEXED_SESSION_ID);
  if (c.method === 0x003 && relayed !== undefined) c.relayed = relayed;
  if (mapped !== undefined) c.mapped = mapped;
  if (dest !== undefined) c.peer = dest;
  if (session !== undefined && session.length === 8) c.session = session.toString('hex');
  return { kind: 'control', control: c };
}

function control(dialect: TurnControl['dialect'], h: StunHeader, names: Readonly<Record<number, string>>): TurnControl {
  const method = methodOf(h.type);
  const cls = classOf(h.type);
  const name = `${names[method] ?? `method-0x${method.toString(16)}`}${CLASS_SUFFIX[cls] ?? ''}`;
  return { dialect, type: h.type, method, cls, name, txid: h.txid };
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** Whether a payload is RTP or RTCP (version 2, RFC 7983 first byte 128-191; RTCP can be 8 bytes): what the associator takes. */
export function isRtpOrRtcp(data: Buffer): boolean {
  const b0 = data.length >= 8 ? (data[0] as number) : 0;
  return b0 >= 128 && b0 <= 191;
}
