/**
 * The plugin contract: what a plugin module exports and what the core hands it.
 * A third-party npm package implements exactly this; nothing else of the core is needed.
 */
import type { DependencyContainer } from 'tsyringe';
import type { ErrorCode } from './errors';
import type { TransportPacket } from './net/types';
import type { Call, Side } from './dialog/types';
import type { RecordingMetadata } from './media/metadata';
import type { Metrics } from './contracts/metrics';
import type { LifecycleBus } from './contracts/lifecycle';
import type { Clock } from './contracts/clock';
import type { CommandSpec } from './contracts/commands';

export * from './contracts/ingest';
export * from './contracts/clock';
export * from './contracts/storage';
export * from './contracts/metrics';
export * from './contracts/commands';
export * from './contracts/lifecycle';
export * from './contracts/library';
export * from './contracts/control';

/** Bump on any breaking change to this file. Checked before any plugin code runs. */
export const TAPLINE_API = 1;

export const PLUGIN_KINDS = ['source', 'mode', 'codec', 'chat', 'storage', 'sink', 'transport', 'web', 'agent'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** A JSON Schema (2020-12) object. Kept structural so plugins need no ajv types. */
export type JsonSchema = { readonly [key: string]: unknown };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Named counters; the kernel prints them in the summary. */
export interface Counters {
  inc(name: string, by?: number): void;
  get(name: string): number;
  snapshot(): Record<string, number>;
}

/** What the core gives each plugin: bound to its name, with its own child container. */
export interface PluginContext<O = unknown> {
  readonly name: string;
  readonly kind: PluginKind;
  /** Options after schema validation with defaults applied; frozen. */
  readonly options: Readonly<O>;
  /** Child of the kernel's root container: register services here, resolve core services from here. */
  readonly container: DependencyContainer;
  readonly log: Logger;
  /** Counters named "<plugin>.<counter>" in the summary. */
  readonly counters: Counters;
  /** Aborted when the kernel begins to stop. */
  readonly signal: AbortSignal;
  /** Folder of the config file (relative paths in options resolve against it). */
  readonly configDir: string;
  /** Prometheus metrics (served on the ops port by `tapline serve`). */
  readonly metrics: Metrics;
  /** Lifecycle events of calls, recordings and chats. */
  readonly events: LifecycleBus;
  /** Capture time when replaying files, the wall clock when live; ticks drive timers. */
  readonly clock: Clock;
  /** Throw a named error attributed to this plugin. */
  error(code: ErrorCode, message: string, details?: Record<string, unknown>): never;
}

/** Returned by register(): the plugin's lifecycle. stop() drains and must be idempotent. */
export interface PluginLifecycle {
  start?(): void | Promise<void>;
  stop?(): void | Promise<void>;
}

export interface PluginManifest<O = unknown> {
  /** Unique plugin name, e.g. 'codec-g711' or 'tapline-plugin-acme-pbx'. */
  readonly name: string;
  readonly kind: PluginKind;
  /** The TAPLINE_API this plugin was written against. */
  readonly api: number;
  readonly version?: string;
  readonly description?: string;
  /** Plugin names that must be registered first. */
  readonly dependsOn?: readonly string[];
  /** JSON Schema (2020-12) of this plugin's options; defaults are applied from it. */
  readonly optionsSchema: JsonSchema;
  /** Codec plugins: the encodings they decode, as 'NAME/clockrate' ('PCMU/8000'), case-insensitive. */
  readonly encodings?: readonly string[];
  /** CLI commands this plugin adds (`recordings list`...), available whether or not the config enables it. */
  readonly commands?: readonly CommandSpec[];
  /** Bind services into ctx.container. Must not open sockets or files: that is start()'s job. */
  register(ctx: PluginContext<O>): void | PluginLifecycle | Promise<void | PluginLifecycle>;
}

/** Helper giving a plugin module full type-checking of its manifest. */
export function definePlugin<O>(manifest: PluginManifest<O>): PluginManifest<O> {
  return manifest;
}

// ---------------------------------------------------------------------------------------------
// Services plugins contribute (registered under the tokens in core/tokens.ts).

/** Describes the RTP stream a decoder is created for. */
export interface StreamInfo {
  encoding: string; // as in rtpmap, e.g. 'PCMU'
  clockRate: number;
  channels: number;
  payloadType: number;
  fmtp?: string;
}

/** The RTP header facts a decoder may need (RFC 3550 §5.1). */
export interface RtpFrameInfo {
  timestamp: number;
  seq: number;
  marker: boolean;
  ssrc: number;
  payloadType: number;
}

/** Something a payload carries that is not audio: a DTMF digit (RFC 4733), comfort-noise level (RFC 3389). */
export type MediaEvent =
  | {
      kind: 'dtmf';
      /** '0'-'9', '*', '#', 'A'-'D', or 'flash'. */
      digit: string;
      /** RTP timestamp the event started at. */
      rtpTimestamp: number;
      /** Duration so far, in RTP timestamp units. */
      duration: number;
      volume: number;
      end: boolean;
    }
  | { kind: 'comfort-noise'; rtpTimestamp: number; levelDbov: number };

/** One block of a payload that carries other payloads (RFC 2198 RED), as a container decoder's unwrap() gives it. */
export interface PayloadBlock {
  /** Payload type of the block: decoded by that payload type's own decoder. */
  payloadType: number;
  /** How far before the packet's RTP timestamp the block starts, in RTP timestamp units (0 for the primary). */
  timestampOffset: number;
  payload: Buffer;
  /** The newest block (RFC 2198's primary encoding); the others are redundant copies of earlier packets. */
  primary: boolean;
}

/** Audio a batch decoder delivers after its packet: the packet's RTP timestamp and sequence number, and its PCM. */
export interface DelayedAudio {
  rtpTimestamp: number;
  seq: number;
  pcm: Int16Array;
  /**
   * Audio for a packet that never arrived, made by the decoder: 'redundancy' when it was rebuilt from data another
   * packet carried (Opus in-band FEC), 'concealment' when it was made up (packet loss concealment). Counted in the
   * recording's metadata (DirectionStats.recovered / concealed), so a listener knows what was not heard as sent.
   */
  recovered?: 'redundancy' | 'concealment';
}

/** One decoder per stream (decoders keep state across packets). */
export interface Decoder {
  /** Output sample rate of decode()'s PCM. */
  readonly sampleRate: number;
  /**
   * Set by a decoder that cannot turn its payload into audio (RTAudio without a licensed decoder): the reason,
   * e.g. 'RTAudio — not decoded'. The recorder keeps such packets losslessly beside the recording (decrypted,
   * in a pcap, with the call's SDP) and flags the recording with this text; decode() is not called.
   */
  readonly notDecoded?: string;
  /**
   * Container formats (RFC 2198 RED): split a payload into blocks instead of decoding it. The recorder decodes
   * the primary block with its payload type's decoder and uses redundant blocks to fill packets that were lost.
   * `payload` is valid only during this call (see decode()); the blocks are used before the next packet.
   */
  unwrap?(payload: Buffer, rtp?: RtpFrameInfo): PayloadBlock[];
  /**
   * Batch decoders: decode() may return null for a packet and deliver its audio a little later (within ~100 ms
   * of capture time), here. The recorder drains after every decode(), and calls flush() when a stream pauses and
   * before it ends, so nothing stays held.
   */
  drainAudio?(): DelayedAudio[];
  flush?(): void;
  /**
   * Decode one RTP payload to 16-bit mono PCM; null when the payload carries no audio (events, comfort noise).
   * The array may be reused by the next decode() call (no allocation per packet): a caller that keeps it copies.
   * Likewise `payload` is valid only during this call (decrypted SRTP lives in reused memory): a decoder that
   * keeps payloads past it (batch decoders) copies them.
   */
  decode(payload: Buffer, rtp?: RtpFrameInfo): Int16Array | null;
  /** Events found since the last call (DTMF digits, comfort-noise levels). */
  drainEvents?(): MediaEvent[];
  close(): void;
}

/** A codec plugin's factory: stateless, creates a fresh decoder per stream (Oreka's Instanciate()). */
export interface Codec {
  /** 'NAME/clockrate' encodings this codec decodes, e.g. ['PCMU/8000']. */
  readonly encodings: readonly string[];
  /** Static payload types this codec covers when an SDP has no rtpmap for them (RFC 3551). */
  readonly staticPayloadTypes?: Readonly<Record<number, string>>;
  createDecoder(stream: StreamInfo): Decoder;
}

export interface CatalogueQuery {
  /** ISO date-times or dates; calls that started within [from, to). */
  from?: string;
  to?: string;
  /** Substring of a participant URI or display name. */
  user?: string;
  limit?: number;
}

export interface CatalogueEntry {
  id: string;
  callId: string;
  start: string;
  end?: string;
  durationSec?: number;
  from: string;
  to: string;
  disposition: string;
  status: string;
  audio?: string;
  metadata: string;
}

// ---------------------------------------------------------------------------------------------
// Chat transcripts: the chat plugin builds them; a storage plugin that keeps them registers a TranscriptStore
// under Tokens.Transcripts (storage-local does: same folders and catalogue as the recordings).

/** Someone who took part in an IM session. */
export interface TranscriptParticipant {
  uri: string;
  name?: string;
  /** 'initiator', 'invitee' (one-to-one), 'participant' (multiparty). */
  role: string;
  /** Holds the chat (text) recording licence. */
  licensed: boolean;
}

/** One instant message, in the order it was sent. */
export interface TranscriptMessage {
  /** 1-based position in the transcript. */
  seq: number;
  /** Capture time, ISO 8601 UTC. */
  at: string;
  /** Who wrote it: the sender, or for messages the IM MCU forwards, the Ms-Sender it names. */
  author: { uri: string; name?: string };
  /** The text as sent; rich bodies (HTML, RTF) rendered to plain text. */
  text: string;
  /** Media type the text came from ('text/plain', 'text/html', 'text/rtf'). */
  contentType: string;
  /** The richest body as sent (HTML or RTF source, decoded to characters), when it was not plain text. */
  rich?: { contentType: string; body: string };
  /** msgr= formatting metadata (X-MMS-IM-Format: font, effects, colour, charset, pitch), as sent and decoded. */
  format?: { msgr: string; decoded?: string; fields?: Record<string, string> };
  /** 'INVITE': the first message, carried in the INVITE's ms-text-format header; else 'MESSAGE'. */
  carriedBy: 'INVITE' | 'MESSAGE';
  /** Final response to the request that carried it (200 = delivered), when seen. */
  status?: number;
  /** Multiparty: who the IM MCU was seen forwarding it to. */
  deliveredTo?: string[];
  /** Problems decoding the body; the body then is also in `raw`, as received. */
  warnings?: string[];
  raw?: { contentType: string; base64: string };
}

/** Something that happened in the session that is not text: typing, delivery notices, people joining or leaving. */
export interface TranscriptEvent {
  at: string;
  kind: 'typing' | 'idle' | 'delivery' | 'joined' | 'left';
  who?: string;
  detail?: string;
}

/** A chat transcript (transcript.json): one IM session, from its first message to its end. */
export interface ChatTranscript {
  /** Unique id assigned by the chat plugin. */
  id: string;
  /** 'im': one-to-one; 'multiparty': through the IM MCU (conference chat) or the older roster-managed chat. */
  kind: 'im' | 'multiparty';
  /** Call-ID of the session's (first) SIP dialog; multiparty sessions list every leg in callIds. */
  callId: string;
  callIds: string[];
  /** Ms-Conversation-ID: the same conversation's calls carry it too. */
  conversationId?: string;
  /** The IM MCU (conference chat) URI. */
  conference?: string;
  start: string;
  end: string;
  durationSec: number;
  /** 'bye', 'rejected', 'dangling' (a 408/480/481 to a MESSAGE or INFO), 'idle-timeout', 'end-of-input'. */
  endReason: string;
  participants: TranscriptParticipant[];
  /** Why the transcript was kept: the first participant holding the chat licence, or the recordAll option. */
  keptFor: { reason: 'licence'; user: string; name?: string } | { reason: 'recordAll' };
  messages: TranscriptMessage[];
  events: TranscriptEvent[];
  /** Calls seen in the same run with the same Ms-Conversation-ID. */
  linkedCalls: Array<{ callId: string; start: string }>;
  warnings: string[];
  origin?: string;
}

/** Readable renderings the chat plugin makes, stored beside transcript.json. */
export interface TranscriptRenderings {
  html?: string;
  text?: string;
}

export interface TranscriptFiles {
  dir: string;
  json: string;
  html?: string;
  text?: string;
}

/** A catalogued transcript. */
export interface TranscriptEntry {
  id: string;
  kind: ChatTranscript['kind'];
  callId: string;
  conversationId?: string;
  start: string;
  end: string;
  durationSec: number;
  messages: number;
  participants: string[];
  /** The user whose licence kept it, or 'recordAll'. */
  keptFor: string;
  transcript: string;
  html?: string;
  text?: string;
}

export interface TranscriptStore {
  /** Writes the transcript (and its renderings) and catalogues it. */
  saveTranscript(t: ChatTranscript, renderings: TranscriptRenderings): TranscriptFiles;
  /** Newest first; from/to bound the start time, user matches a participant's URI or name. */
  listTranscripts(q: CatalogueQuery): TranscriptEntry[];
  /** The transcript, and the recordings of calls that share its Ms-Conversation-ID. */
  getTranscript(id: string): { entry: TranscriptEntry; transcript: ChatTranscript; linkedRecordings: CatalogueEntry[] } | undefined;
}

// ---------------------------------------------------------------------------------------------
// Recording modes (mirroring, at-edge, endpoint): where the audio is captured decides what can be recorded and how
// packets are found. A mode plugin registers one RecordingMode under Tokens.Mode; at most one mode is enabled.

/** What the core lets a mode do with packets: hand unwrapped media (inner RTP of TURN...) to the association. */
export interface MediaInput {
  push(pkt: TransportPacket): void;
}

/** Whether a call's audio can be recorded where this mode captures it. */
export type RecordableVerdict = { recordable: true } | { recordable: false; reason: string };

export interface RecordingMode {
  /** 'mirroring', 'atedge', 'endpoint', or a third party's. */
  readonly name: string;
  /**
   * Decided when a call starts (and again when it is answered): a call this mode cannot hear is still catalogued,
   * without audio, with the reason as a flag ("internal call: mirroring mode records only ...").
   */
  recordable?(call: Call): RecordableVerdict;
  /**
   * A packet no SDP address claimed: the call and sending side it belongs to where the mode knows better (an
   * endpoint collector: everything to and from a user's PC is that user's), or undefined.
   */
  associate?(pkt: TransportPacket): { call: Call; sender: Side } | undefined;
  /** Adds what the mode knows to a recording's metadata (e.g. early media missed at the Edge). */
  annotate?(call: Call, meta: RecordingMetadata): void;
}
