/** What the dialog tracker knows about a call: parties, state, timing, every SDP, links to other calls. */
import type { SdpSession } from '../sdp/types';
import type { CallAnnotation } from '../contracts/ingest';

export type CallState = 'calling' | 'proceeding' | 'early' | 'confirmed' | 'terminated';

/** How the call ended up, as a quality-management user reads it. */
export type Disposition = 'answered' | 'cancelled' | 'busy' | 'declined' | 'no-answer' | 'failed' | 'unanswered';

export type EndReason =
  | 'bye'
  | 'cancel'
  | 'rejected'
  | 'setup-timeout'
  | 'idle-timeout'
  | 'session-expired'
  | 'end-of-input';

/** Where a SIP message was seen. Times are microseconds since the epoch (capture time). */
export interface SipMeta {
  ts: number;
  /** What the source knows of the call beyond the message (a SIPREC server: the participants). */
  annotation?: CallAnnotation;
  frameNo?: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  transport: string; // 'udp', 'tcp', 'ws', 'hep'...
  /** Capture or connection the message came from (file path, interface, peer). */
  origin?: string;
  /** The capture node that saw it (HEP capture id / node name). */
  node?: { id?: number; name?: string; deployment?: number };
}

export interface Party {
  uri: string;
  user?: string;
  host: string;
  displayName?: string;
  tag?: string;
  /** Lync endpoint id (;epid= on From/To). */
  epid?: string;
}

export type Side = 'caller' | 'callee';

export interface SdpRecord {
  ts: number;
  /** Which party wrote this SDP. */
  from: Side;
  role: 'offer' | 'answer';
  /** 'INVITE', 'ACK', 'UPDATE', 'PRACK', or a status like '183'/'200'. */
  carriedBy: string;
  /** True when carried by a request inside an established dialog (re-INVITE, UPDATE). */
  inDialog: boolean;
  cseq: number;
  /** To-tag of the early dialog (forking) this SDP belongs to, when known. */
  toTag?: string;
  sdp: SdpSession;
  /** The SDP as received (kept beside undecodable media for offline decoding). */
  text: string;
  /** The message carrying it had a Replaces header (RFC 3891). */
  replaces?: boolean;
}

export interface Leg {
  toTag: string;
  state: 'early' | 'confirmed' | 'terminated';
  firstStatus: number;
  contact?: string;
  userAgent?: string;
}

export interface Call {
  /** Internal key: Call-ID plus the caller's From-tag (several dialogs can share a Call-ID). */
  key: string;
  callId: string;
  caller: Party;
  callee: Party;
  /** Address the initial INVITE came from and went to (first sighting). */
  callerAddr: { ip: string; port: number };
  calleeAddr: { ip: string; port: number };
  transport: string;
  state: CallState;
  disposition: Disposition;
  endReason?: EndReason;
  /** Final status to the initial INVITE (200, 486, 487 ...). */
  finalStatus?: number;
  /** Who sent the BYE. */
  endedBy?: Side;
  times: { start: number; ringing?: number; earlyMedia?: number; answer?: number; end?: number; lastActivity: number };
  /** Early dialogs and the confirmed one, by To-tag (forking creates several). */
  legs: Map<string, Leg>;
  /** The confirmed To-tag, once answered. */
  toTag?: string;
  sdp: SdpRecord[];
  /** Hold periods: start/end times, who held. */
  holds: Array<{ start: number; end?: number; by: Side }>;
  sessionExpiresSec?: number;
  lastRefresh: number;
  conversationId?: string;
  userAgents: { caller?: string; callee?: string };
  /** Attended transfer: the dialog this call replaces (RFC 3891). */
  replaces?: { callId: string; toTag?: string; fromTag?: string; key?: string };
  /** REFERs seen in this call (blind or attended transfer). */
  refers: Array<{ ts: number; by: Side; referTo: string; referredBy?: string }>;
  /** SIP messages seen for this call, by method or status. */
  messageCounts: Record<string, number>;
  /**
   * The recorder joined this call in progress: its first message was an in-dialog re-INVITE or UPDATE with SDP
   * (a recorder started or restarted mid-call). Caller and callee are then that request's sender and receiver.
   */
  joinedMidCall?: 're-INVITE' | 'UPDATE';
  /** Capture nodes (HEP agents, forwarders) its signalling came through, by name or id. */
  nodes?: string[];
  /** Forwarder deployments (tenants) its signalling or media came through (TFWD deployment ids). */
  deployments?: number[];
  /** Problems with this call's signalling (bad SDP...), kept for its metadata. */
  warnings: string[];
  origin?: string;
  /**
   * Which party sends the media of each m-line (by position), when a source knows it better than the SDP's
   * addresses can say (SIPREC: every stream comes from the SRC, the metadata says whose voice each one is).
   */
  mediaSenders?: Array<Side | undefined>;
  /** What a source that terminates the signalling said of the call (CallAnnotation): facts and events. */
  source?: { kind: string; facts: Record<string, string | string[]>; events: Array<{ ts: number; text: string }> };
}

export interface DialogTimers {
  setupTimeoutSec: number;
  idleTimeoutSec: number;
  sessionExpiresGrace: number;
}
