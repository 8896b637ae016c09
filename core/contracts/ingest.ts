/**
 * What a source hands the core, in the form it has it: a link-layer frame (a capture file, libpcap), a whole IP
 * packet (unwrapped from VXLAN, TZSP or a forwarder's encapsulation), a SIP message with its addresses and time
 * (HEP, the net service's 8008 feed), or a media datagram with its 5-tuple and time. Nothing is faked into frames.
 */
import type { RawFrame } from '../net/types';

/** Who captured something: kept with the call and in its recording's metadata. */
export interface CaptureNode {
  /** HEP capture agent id (chunk 12), or a forwarder's sensor id. */
  id?: number;
  /** HEP node name (chunk 19), a forwarder's or feeder's name. */
  name?: string;
  /** A forwarder's deployment (tenant) id. */
  deployment?: number;
}

/** A whole IPv4 or IPv6 packet (its first nibble says which). */
export interface IpArrival {
  /** Capture time, µs since the epoch. */
  ts: number;
  data: Buffer;
  node?: CaptureNode;
}

/**
 * What a source that terminates the signalling (a SIPREC recording server) knows of the call that its SIP does not
 * say: the SIP dialog is between the SRC and the recorder, the call recorded is between the participants.
 * The dialog tracker applies it to the call the message belongs to, before the call's start is announced.
 */
export interface CallAnnotation {
  /** What kind of source says it ('siprec'), kept in the recording's metadata. */
  kind: string;
  /** The parties recorded, in place of the message's From and To. */
  caller?: { uri: string; displayName?: string };
  callee?: { uri: string; displayName?: string };
  /** Which party sends the media of each m-line of the call's SDP, by the m-line's position. */
  mediaSenders?: ReadonlyArray<'caller' | 'callee' | undefined>;
  /** Facts for the recording's metadata (`call.source.facts`): a session id, the SRC's own call identifiers. */
  facts?: Readonly<Record<string, string | readonly string[]>>;
  /** Things that happened (a participant joined or left), kept with their time in `call.source.events`. */
  events?: readonly string[];
  /** Problems the source saw (metadata it could not use), added to the call's warnings. */
  warnings?: readonly string[];
}

/** One whole SIP message and where it travelled. */
export interface SipArrival {
  /** Capture time, µs since the epoch. */
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The message's own transport: 'udp', 'tcp', 'tls', 'ws', 'sctp'. */
  transport: string;
  data: Buffer;
  node?: CaptureNode;
  /** The feed or connection it came over (kept in metadata as the origin), e.g. 'hep udp 10.0.0.5:9060'. */
  origin?: string;
  /** What the source knows of the call beyond this message (see CallAnnotation). */
  annotation?: CallAnnotation;
}

/** One media datagram (RTP, RTCP, STUN/TURN) and its 5-tuple. */
export interface MediaArrival {
  /** Capture time, µs since the epoch. */
  ts: number;
  proto: 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
  node?: CaptureNode;
}

/** Pipeline stages a drop is counted at (the `stage` label of tapline_drops_total). */
export const DROP_STAGES = ['kernel', 'queue', 'auth', 'parse', 'limit'] as const;
export type DropStage = (typeof DROP_STAGES)[number];

/**
 * The core's ingest, as a source sees it. Every method is synchronous, never throws on what the network sends,
 * and may be called from any source at any time (sources run concurrently).
 */
export interface IngestSink {
  frame(frame: RawFrame): void;
  ipPacket(p: IpArrival): void;
  sip(s: SipArrival): void;
  media(m: MediaArrival): void;
  /** A frame or block a capture file could not read; counted and reported, the run goes on. */
  skip(reason: string, detail?: string): void;
  /** Input the source refused or lost (kernel drops, a wrong auth key, a malformed HEP packet), counted by stage and reason. */
  drop(stage: DropStage, reason: string, count?: number): void;
  /**
   * Flow control for sources that can wait (capture files): a promise when the pipeline's storage queue is filling,
   * to await before handing in more, else undefined. Live sources never wait: the queue drops and counts instead.
   */
  writable(): Promise<void> | undefined;
}

/** The part of IngestSink a capture-file reader needs. */
export type FrameSink = Pick<IngestSink, 'frame' | 'skip'>;

export interface SourceProgress {
  /** Bytes (or units) done and total, when known; drives the CLI progress bar. */
  done: number;
  total?: number;
}

export interface SourceRunResult {
  /** Frames, packets or messages handed in. */
  frames: number;
  /** A non-fatal problem that ended reading early (e.g. a truncated file): what was read still counts. */
  warning?: string;
}

export interface SourceRunContext {
  onProgress?(p: SourceProgress): void;
  /** A live source calls this once it listens or captures: the service is ready when every live source is. */
  ready(): void;
}

/** A source of captured traffic: a file, a live interface, a feed server, a forwarder socket. */
export interface Source {
  readonly name: string;
  /** Where traffic comes from (file path, interface, listening address), kept in metadata and logs. */
  readonly label: string;
  /**
   * true: runs until stopped (the service then keeps time by the wall clock); false/absent: ends when its input
   * does (capture files: time is capture time).
   */
  readonly live?: boolean;
  /** Hands everything to `sink` until the input ends (file) or `signal` aborts (live; close sockets, then resolve). */
  run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult>;
}
