/**
 * What a call recorder hands its recordings' output to: audio, attachments and metadata, in order per recording.
 * In one thread it is the RecordingDesk itself; in a call worker it is a client that posts the same operations to
 * the desk on the main thread. Nothing here answers synchronously, so both look the same to the recorder: what
 * storage had to drop is accounted for by the desk, which adds it to the metadata it stores.
 */
import type { AudioFormat } from '../contract';
import type { RecordingMetadata } from './metadata';

export interface RecordingPort {
  /** A storage plugin is enabled (undecoded media is kept only then). */
  readonly stored: boolean;
  openAudio(id: string, format: AudioFormat): void;
  /** Interleaved PCM starting at frame `atFrame`; the port keeps `pcm` (pass a buffer you no longer write). */
  audio(id: string, atFrame: number, pcm: Int16Array): void;
  attachment(id: string, name: string, data: Buffer, mode: 'append' | 'replace'): void;
  /** A running recording's metadata, or a finished one's again (a transfer link added later). */
  update(meta: RecordingMetadata): void;
  /** The recording is finished: `frames` is its audio's full length (for audio dropped at the very end). */
  close(meta: RecordingMetadata, frames: number): void;
}
