/**
 * Typed lifecycle events: what happened to calls, recordings and chats, as JSON-safe facts. The core emits them and
 * forgets (nothing about a finished call is kept); `record` builds its summary from them, and the HTTP API, live
 * views and metrics subscribe to them.
 */
import type { CallSummary } from '../dialog/summary';
import type { RecordingMetadata } from '../media/metadata';
import type { ChatTranscript } from '../contract';

export interface CallEventInfo {
  /** Call-ID plus the caller's tag: unique among calls in progress. */
  key: string;
  callId: string;
  /** When it happened (capture time), ISO 8601. */
  at: string;
  call: CallSummary;
}

export interface RecordingStartedInfo {
  id: string;
  callKey: string;
  callId: string;
  at: string;
  /** Where storage keeps it. */
  audio: string;
  users: Array<{ uri: string; side: 'caller' | 'callee' }>;
  /** The recorder joined a call in progress (started from an in-dialog re-INVITE / UPDATE). */
  joinedMidCall: boolean;
}

export interface CallNotRecordedInfo extends CallEventInfo {
  reason: string;
}

export interface ChatEventInfo {
  /** The chat plugin's conversation key. */
  key: string;
  callId: string;
  at: string;
  participants: string[];
}

export interface ChatEndedInfo extends ChatEventInfo {
  /** The transcript when it was kept (a participant holds the chat licence). */
  transcript?: ChatTranscript;
  /** Why it was not kept: 'no-messages', 'unlicensed'. */
  notKept?: string;
}

/**
 * Where a call's media flows, for forwarders (their interest): sent when the call starts and whenever an SDP
 * changes it. Only for calls this recorder records or stands in for.
 */
export interface CallMediaInfo {
  key: string;
  callId: string;
  at: string;
  /** "ip:port" (IPv6 in brackets) of every media and RTCP address the call's SDPs name, candidates included. */
  endpoints: string[];
  /** 'recording': this recorder records it; 'backup': another recorder's user, recorded here only when a forwarder fails over to this recorder. */
  role: 'recording' | 'backup';
  /** 0 for the recorder the call belongs to, 1 and 2 for the next ones: a forwarder sends media to the lowest rank alive. */
  rank: number;
}

export interface RecordingControlledInfo {
  id: string;
  callKey: string;
  callId: string;
  action: 'start' | 'stop' | 'pause' | 'resume';
  by: string;
  at: string;
}

export interface LifecycleEvents {
  callStarted: [CallEventInfo];
  callAnswered: [CallEventInfo];
  callHeld: [CallEventInfo & { by: 'caller' | 'callee' }];
  callResumed: [CallEventInfo];
  callEnded: [CallEventInfo];
  /** The addresses and ports of a call's media (forwarders' interest). */
  callMedia: [CallMediaInfo];
  /** A call policy leaves alone (no licensed user, another recorder's user). */
  callNotRecorded: [CallNotRecordedInfo];
  recordingStarted: [RecordingStartedInfo];
  /** Final metadata; emitted once storage has been handed everything (it may still be writing). */
  recordingFinished: [RecordingMetadata];
  /** Started, stopped, paused or resumed on demand (the review app). */
  recordingControlled: [RecordingControlledInfo];
  chatStarted: [ChatEventInfo];
  chatEnded: [ChatEndedInfo];
}

export type LifecycleEventName = keyof LifecycleEvents;

/** The hub plugins listen on (and the chat plugin emits chat events on). */
export interface LifecycleBus {
  on<K extends LifecycleEventName>(event: K, fn: (...args: LifecycleEvents[K]) => void): () => void;
  emit<K extends LifecycleEventName>(event: K, ...args: LifecycleEvents[K]): void;
}
