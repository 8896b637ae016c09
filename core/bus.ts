/** The one-way flow between pipeline stages: source frames → transport packets → SIP / media. */
import { Emitter } from './events';
import type { RawFrame, TcpStreamChunk, TransportPacket } from './net/types';
import type { SipMessage } from './sip/types';
import type { SipMeta } from './dialog/types';
import type { TaplineError } from './errors';

export interface BusEvents {
  /** A frame as read from a source, before decoding. */
  frame: [frame: RawFrame];
  /** A SIP message, parsed, with where it was seen; emitted before the dialog tracker sees it. */
  sip: [msg: SipMessage, meta: SipMeta];
  /** Bytes on a SIP path that did not parse; counted, reported, never fatal. */
  sipError: [err: TaplineError, meta: SipMeta];
  /** A UDP datagram that is not SIP (RTP, RTCP, STUN/TURN...), for media demux. */
  media: [pkt: TransportPacket];
  /** Reassembled bytes of a TCP stream that is not SIP (TURN over TCP 443...), in order, for a mode to frame. */
  tcpData: [chunk: TcpStreamChunk];
}

export class PacketBus extends Emitter<BusEvents> {}
