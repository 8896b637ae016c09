/**
 * Storage as the core sees it: an asynchronous sink that recordings' audio bytes, attachments and metadata pass
 * through. The core writes no file; a bounded queue in front of the sink (core/storage/sink-queue.ts) keeps a slow
 * disk from ever blocking capture.
 */
import type { RecordingMetadata } from '../media/metadata';

/** What the core knows when a call's recording begins. */
export interface RecordingStart {
  /** Unique recording id assigned by the core. */
  id: string;
  callId: string;
  /** Capture time the call started, µs since the epoch. */
  start: number;
  from: string;
  to: string;
}

/** Where a recording lives, decided without I/O (so metadata can name it before the sink has opened it). */
export interface RecordingLocation {
  /** Folder or object prefix of the recording. */
  base: string;
  /** The audio file or object. */
  audio: string;
  /** What the audio is stored as ('wav'). */
  format: string;
}

export interface AudioFormat {
  sampleRate: number;
  channels: 1 | 2;
  /**
   * The audio encodings the call uses ('PCMU/8000', 'telephone-event/8000' as 'TELEPHONE-EVENT/8000'): the
   * latest answer's decodable formats and the first packet's. Storage may keep G.711 as received when it is all
   * there is.
   */
  encodings?: readonly string[];
}

/**
 * One recording's life in storage, always in this order per id: open → (openAudio → writeAudio*)? →
 * (writeAttachment | update)* → close. Calls for different recordings interleave. A method that rejects is counted
 * and logged by the queue; later calls for the same recording still come (close always does).
 */
export interface RecordingSink {
  locate(start: RecordingStart): RecordingLocation;
  /** The recording begins: a catalogue entry with status 'recording' (what a crash recovery starts from). */
  open(start: RecordingStart): Promise<void>;
  /** The audio's format, once the first audio is decoded. */
  openAudio(id: string, format: AudioFormat): Promise<void>;
  /**
   * Interleaved 16-bit PCM starting at frame `atFrame` of the audio (frames are samples per channel). Frames before
   * it that were never written are silence (what the queue had to drop). The sink owns `pcm` from now on.
   */
  writeAudio(id: string, atFrame: number, pcm: Int16Array): Promise<void>;
  /** A file beside the recording ('sip.txt', 'media.pcap', 'sdp.txt'), appended to or replaced. */
  writeAttachment(id: string, name: string, data: Buffer, mode: 'append' | 'replace'): Promise<void>;
  /** Metadata of a running recording (a refresh), or a finished one gaining a link. */
  update(meta: RecordingMetadata): Promise<void>;
  /** The recording is finished: final metadata; audio and attachments are complete. */
  close(meta: RecordingMetadata): Promise<void>;
  /** At start-up: repair and catalogue recordings a crash left unfinished; returns their ids. */
  recover(): Promise<string[]>;
  /** Called once when the service stops, after every close() has completed. */
  shutdown?(): Promise<void>;
}

/**
 * An audio encoder a codec plugin contributes (Points.AudioEncoder) for storage that keeps recordings compressed:
 * storage-local's Ogg Opus archives use the Opus plugin's. Only storage encodes; the pipeline never does.
 */
export interface AudioEncoderProvider {
  /** The storage format it serves, e.g. 'opus'. */
  readonly format: string;
  /** Why it cannot encode on this machine (its library is missing), or undefined when it can. */
  readonly unavailableReason: string | undefined;
  /** Input sample rates it takes as they are. */
  readonly sampleRates: readonly number[];
  create(o: { sampleRate: number; channels: 1 | 2; bitrate?: number }): FrameEncoder;
}

/** One stream's encoder: whole frames of interleaved 16-bit PCM in, one packet out per frame. */
export interface FrameEncoder {
  /** Samples per channel in a frame. */
  readonly frameSamples: number;
  /** Samples (at 48 kHz) a decoder drops at the start: the encoder's look-ahead (Ogg Opus pre-skip). */
  readonly preSkip48k: number;
  encode(interleaved: Int16Array): Buffer;
  /** Idempotent. */
  close(): void;
}
