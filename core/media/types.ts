/** Media-path shapes: RTP packets, their association with calls, and audio placed on a call's timeline. */
import type { TransportPacket } from '../net/types';
import type { Call, Side } from '../dialog/types';
import type { SdpRtpMap } from '../sdp/types';

/** RFC 3550 §5.1 fixed header plus what follows it. */
export interface RtpPacket {
  version: number;
  padding: boolean;
  extension: boolean;
  marker: boolean;
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  csrc: readonly number[];
  /** Payload without header, CSRCs, extension and padding (a view into the packet). */
  payload: Buffer;
  /** Bytes before the payload. */
  headerLength: number;
  /**
   * Set (true) when the P bit is on but the last byte cannot be a padding count: an SRTP packet, whose padding is
   * encrypted and whose last byte is its tag's. `payload` then runs to the end; padding is checked after decryption.
   */
  paddingUnchecked?: boolean;
}

/** One RTP packet bound to a call and to the side that sent it. */
export interface AssociatedRtp {
  call: Call;
  /** The party that sent this packet (its audio goes to that party's channel). */
  sender: Side;
  /** "src:sport>dst:dport" of the packet. */
  flow: string;
  /** How the binding was made: the destination or source address was in that side's SDP, or learned. */
  how: 'sdp-dst' | 'sdp-src' | 'learned';
  rtp: RtpPacket;
  pkt: TransportPacket;
  /** The payload type's mapping from the receiver's SDP (RFC 3264 §5.1), else the sender's, else static. */
  rtpmap?: SdpRtpMap;
  /**
   * A slot that stays with this packet's stream binding (flow + SSRC): the next stage may keep what it found for
   * the stream there (checking it still applies) rather than look the call up again for every packet.
   */
  route: RouteSlot;
}

export interface RouteSlot {
  value: unknown;
}

/** An RTP stream no call claimed: counted and reported, never silently lost. */
export interface UnmatchedStream {
  flow: string;
  ssrc: number;
  payloadTypes: number[];
  packets: number;
  firstTs: number;
  lastTs: number;
}

/** Decoded audio with the facts needed to place it on a call's timeline. */
export interface PlacedAudio {
  /** Identifies one RTP stream (flow + SSRC); a new id means re-anchoring (SSRC change). */
  streamId: string;
  /** RTP timestamp of the first sample and the RTP clock rate. */
  rtpTimestamp: number;
  clockRate: number;
  /** Capture time of the packet, µs since the epoch. */
  captureTs: number;
  seq: number;
  /** 16-bit mono PCM at pcmRate (a decoder's output rate; may differ from clockRate, e.g. G.722). */
  pcm: Int16Array;
  pcmRate: number;
}
