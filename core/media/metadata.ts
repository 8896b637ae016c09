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
  firstPacket?: string;
  lastPacket?: string;
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
    file: string;
    format: 'wav';
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
  /** The capture file(s) or source the call came from. */
  origin?: string;
}
