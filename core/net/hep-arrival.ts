/**
 * What a decoded HEP packet is for the core's ingest: a SIP message with its original addresses and capture time,
 * a media datagram (RTP, raw RTCP), a sender's keep-alive, or a counted drop (wrong auth key, a type a recorder has
 * no use for).
 * Shared by every source that receives HEP (source-hep, source-sipfeed).
 */
import { timingSafeEqual } from 'node:crypto';
import type { CaptureNode, DropStage, MediaArrival, SipArrival } from '../contracts/ingest';
import { HepProtoType, type HepPacket } from './hep';

export type HepArrival =
  | { kind: 'sip'; sip: SipArrival }
  | { kind: 'media'; media: MediaArrival }
  /** A packet without payload: a sender's heartbeat (chunk 13 announces its period), nothing lost. */
  | { kind: 'keepalive' }
  | { kind: 'drop'; stage: DropStage; reason: string };

export interface HepArrivalOptions {
  /** The feed and peer it came over, kept as SipArrival.origin, e.g. 'hep udp 10.0.0.5:40120'. */
  origin: string;
  /** Arrival time, µs since the epoch: used when the sender gave no capture time (or 0, as some agents do). */
  nowUs: number;
  /** When set, chunk 14 must equal it byte for byte. */
  authKey?: Buffer;
}

/** Bounded drop reasons for the types senders mix into their feeds (the label set must stay small). */
const TYPE_NAMES: Readonly<Record<number, string>> = {
  [HepProtoType.RTP_AGENT_JSON]: 'rtp-agent-json',
  [HepProtoType.RTCP_XR]: 'rtcp-xr',
  [HepProtoType.DNS]: 'dns',
  [HepProtoType.LOG]: 'log',
};

const IP_PROTO_TRANSPORT: Readonly<Record<number, string>> = { 17: 'udp', 6: 'tcp', 132: 'sctp' };

/** Checks the auth key, then classifies the packet. */
export function hepArrival(p: HepPacket, opts: HepArrivalOptions): HepArrival {
  if (opts.authKey !== undefined) {
    if (p.authKey === undefined) return { kind: 'drop', stage: 'auth', reason: 'hep-auth-key-missing' };
    if (p.authKey.length !== opts.authKey.length || !timingSafeEqual(p.authKey, opts.authKey)) return { kind: 'drop', stage: 'auth', reason: 'hep-auth-key-wrong' };
  }
  if (p.payload.length === 0) return { kind: 'keepalive' };
  const ts = p.ts !== undefined && p.ts > 0 ? p.ts : opts.nowUs;
  const node = captureNode(p);
  if (p.protoType === HepProtoType.SIP) {
    const transport = IP_PROTO_TRANSPORT[p.ipProto];
    if (transport === undefined) return { kind: 'drop', stage: 'parse', reason: 'hep-sip-unknown-transport' };
    const sip: SipArrival = { ts, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, transport, data: p.payload, origin: opts.origin };
    if (node !== undefined) sip.node = node;
    return { kind: 'sip', sip };
  }
  if (p.protoType === HepProtoType.RTP || (p.protoType === HepProtoType.RTCP && isBinaryRtcp(p.payload))) {
    if (p.ipProto !== 17) return { kind: 'drop', stage: 'parse', reason: 'hep-media-not-udp' };
    const media: MediaArrival = { ts, proto: 'udp', src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, payload: p.payload };
    if (node !== undefined) media.node = node;
    return { kind: 'media', media };
  }
  if (p.protoType === HepProtoType.RTCP) return { kind: 'drop', stage: 'parse', reason: 'hep-type-rtcp-json' };
  return { kind: 'drop', stage: 'parse', reason: `hep-type-${TYPE_NAMES[p.protoType] ?? 'unsupported'}` };
}

function captureNode(p: HepPacket): CaptureNode | undefined {
  if (p.captureId === undefined && p.nodeName === undefined) return undefined;
  const node: CaptureNode = {};
  if (p.captureId !== undefined) node.id = p.captureId;
  if (p.nodeName !== undefined) node.name = p.nodeName;
  return node;
}

/** RTCP as sent on the wire (RFC 3550 §6.4: version 2, packet type 200–207), not the JSON reports agents make of it. */
function isBinaryRtcp(b: Buffer): boolean {
  return b.length >= 8 && ((b[0] as number) >> 6) === 2 && (b[1] as number) >= 200 && (b[1] as number) <= 207;
}
