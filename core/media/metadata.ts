/** The metadata written beside each recording and catalogued: what a quality-management evaluator reads. */
import type { CallSummary } from '../dialog/summary';

export interface DirectionStats {
  /** RTP packets received / expected from sequence numbers, and lost (expected - received, never negative). */
  packets: number;
  expected: number;
  lost: number;
  /** Packets that arrived too late for the timeline (beyond the reorder window). */
  late: number;
  duplicates: number;
  ssrcs: number[];
  /** Encodings seen, 'PCMU/8000'... */
  codecs: string[];
  /** Payloads no codec plugin decodes (kept out of the audio, counted here). */
  undecoded: number;
  /** Lost packets whose audio was rebuilt from redundancy other packets carried (RFC 2198 RED, Opus in-band FEC). */
  recovered?: number;
  /** Lost packets whose audio the decoder made up (packet loss concealment: G.729, Opus). */
  concealed?: number;
  firstPacket?: string;
  lastPacket?: string;
}

/** SRTP of one direction: packets decrypted, refused (by reason), SRTCP authenticated. */
export interface SrtpDirectionStats {
  decrypted: number;
  /** 'auth' (wrong key or corrupt), 'replay' (duplicate), 'short', 'mki', 'not-rtp', 'no-key'. */
  failed: Record<string, number>;
  srtcp: { ok: number; failed: number };
  /** The keys that decrypted this direction, as "callee's 200 answer, a=crypto:2". */
  keys: string[];
}

export interface DtmfEvent {
  digit: string;
  /** Seconds from the start of the recording's audio. */
  at: number;
  durationMs: number;
  side: 'caller' | 'callee';
}

export type RecordingStatus = 'recording' | 'complete' | 'recovered';

export interface RecordingMetadata {
  id: string;
  status: RecordingStatus;
  call: CallSummary;
  /** 'inbound' / 'outbound' / 'internal' when policy knows local users; 'unknown' otherwise. */
  direction: string;
  audio?: {
    /** Where storage keeps it (a path, or an object URL). */
    file: string;
    /** 'wav' (16-bit PCM). */
    format: string;
    channels: 1 | 2;
    /** Left = caller, right = callee for stereo. */
    layout: 'stereo-caller-left' | 'mono-mixed';
    sampleRate: number;
    durationSec: number;
    /** Capture time of the first sample. */
    start: string;
  };
  caller: DirectionStats;
  callee: DirectionStats;
  dtmf: DtmfEvent[];
  /** Conditions a listener must know about ('RTAudio - not decoded', 'not decrypted: ...'). */
  flags: string[];
  /** The recorded users in this call (both, when two recorded users talk: one recording). */
  users?: Array<{ uri: string; name?: string; side: 'caller' | 'callee' }>;
  /** Recordings of the same conversation: a transfer's other leg (REFER, Replaces). */
  links?: Array<{ recordingId: string; callId: string; relation: 'replaces' | 'replaced-by' | 'transferred-to' | 'transferred-from' }>;
  /** Present when a direction was SRTP. */
  srtp?: { caller?: SrtpDirectionStats; callee?: SrtpDirectionStats };
  /** Media no codec decoded (RTAudio...), kept losslessly: decrypted RTP in a pcap, and the call's SDPs. */
  rawMedia?: { file: string; sdp: string; packets: number; reasons: string[] };
  /** The capture file(s) or source the call came from. */
  origin?: string;
  /** The recorder that made it (policy.recorderId, 1–3): with Call-ID, tags and start, what identifies it. */
  recorder?: number;
  /** What the recording mode (mirroring, atedge, endpoint) knows about this call, added by its annotate(). */
  mode?: { name: string; [k: string]: unknown };
  /** Forwarder deployments (tenants, TFWD deployment ids) the call's signalling or media came through. */
  deployments?: number[];
  /** On-demand pauses (the review app): their audio is silence. */
  pauses?: Array<{ start: string; end?: string; by: string; resumedBy?: string }>;
}

/**
 * Searchable flags of a recording, as stable keys (metadata `flags` are sentences for people): what a reviewer
 * filters on. Catalogues store these beside each recording.
 */
export function flagKeys(meta: RecordingMetadata): string[] {
  const keys = new Set<string>();
  if (meta.flags.some((f) => f.startsWith('not decrypted') || f.startsWith('partly not decrypted'))) keys.add('not-decrypted');
  if (meta.call.joinedMidCall !== undefined) keys.add('joined-mid-call');
  if (meta.audio === undefined) keys.add('no-audio');
  if (meta.caller.lost + meta.callee.lost > 0) keys.add('packet-loss');
  if ((meta.caller.concealed ?? 0) + (meta.callee.concealed ?? 0) > 0) keys.add('concealed');
  if (meta.caller.undecoded + meta.callee.undecoded > 0) keys.add('undecoded');
  if (meta.call.refers.length > 0) keys.add('transferred');
  if (meta.rawMedia !== undefined) keys.add('raw-media');
  if (meta.dtmf.length > 0) keys.add('dtmf');
  if (meta.srtp !== undefined) keys.add('srtp');
  if ((meta.pauses ?? []).length > 0) keys.add('paused');
  if (meta.flags.some((f) => f.startsWith('recording stopped on demand'))) keys.add('stopped');
  if (meta.flags.some((f) => f.startsWith('recording started on demand'))) keys.add('started-on-demand');
  return [...keys].sort();
}

/** Encoding names the call's audio used, upper-case without clock rate ('PCMU', 'G722'). */
export function codecNames(meta: RecordingMetadata): string[] {
  const names = new Set<string>();
  for (const c of [...meta.caller.codecs, ...meta.callee.codecs]) names.add((c.split('/')[0] ?? c).toUpperCase());
  return [...names].sort();
}
