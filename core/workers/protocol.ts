/**
 * What the main thread and a call worker say to each other. Main → worker: batches (media packets in one
 * transferred buffer, with the call events, in order, beside it), the policy after a reload, close. Worker → main:
 * each batch acknowledged with the recordings' output it produced (audio buffers transferred), counters that
 * moved, log lines; 'closed' once every recording is finished. One message per batch, never one per packet.
 */
import type { AudioFormat } from '../contract';
import type { LogLevel } from '../log';
import type { Call } from '../dialog/types';
import type { RecordingMetadata } from '../media/metadata';
import type { RecordingControl, RecordingLink, RecordingStartInfo, CallRecorderOptions } from '../media/call-recorder';
import type { SdpRecord } from '../dialog/types';
import type { SdpRtpMap } from '../sdp/types';
import type { PolicyConfig } from '../config/types';

/** The call without its SDPs, which travel only once each (sdpFrom: how many the worker has already). */
export type CallSnapshot = Omit<Call, 'sdp'>;

export type CallEvent =
  | { k: 'call'; slot: number; call: CallSnapshot; sdpFrom: number; sdp: SdpRecord[] }
  | { k: 'start'; slot: number; info: RecordingStartInfo; replaced?: Call }
  | { k: 'answered'; slot: number; modeFlag: string | null | undefined }
  | { k: 'link'; key: string; link: RecordingLink }
  | { k: 'control'; key: string; c: RecordingControl }
  | { k: 'ended'; slot: number }
  | { k: 'sip'; slot: number; text: string }
  | { k: 'rtpmap'; slot: number; id: number; map: SdpRtpMap }
  | { k: 'flow'; slot: number; id: number; flow: string; src: string; sport: number; dst: string; dport: number }
  | { k: 'tick'; now: number }
  | { k: 'storageFailed'; id: string; op: string; message: string };

export interface BatchMessage {
  t: 'batch';
  seq: number;
  /** Records (media-batch.ts), `len` bytes of it used. */
  buf: ArrayBuffer;
  len: number;
  events: CallEvent[];
}

export type ToWorker = BatchMessage | { t: 'policy'; policy: PolicyConfig } | { t: 'close' };

export type OutputOp =
  | { o: 'openAudio'; id: string; format: AudioFormat }
  | { o: 'audio'; id: string; at: number; pcm: Int16Array }
  | { o: 'attachment'; id: string; name: string; data: Uint8Array; mode: 'append' | 'replace' }
  | { o: 'update'; meta: RecordingMetadata }
  | { o: 'close'; meta: RecordingMetadata; frames: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; message: string }
  | { t: 'ack'; seq: number; bytes: number; ops: OutputOp[]; counters?: Record<string, number> }
  | { t: 'log'; level: LogLevel; msg: string; fields?: Record<string, unknown> }
  | { t: 'closed' };

/** Everything a worker needs to build its call recorder (plain data: it crosses the thread boundary). */
export interface WorkerSetup {
  index: number;
  configDir: string;
  /** The config's codec plugins, in order (the worker imports and registers them itself). */
  codecs: Array<{ use: string; options: Record<string, unknown> }>;
  recorder: CallRecorderOptions;
  policy: PolicyConfig;
  stored: boolean;
}
