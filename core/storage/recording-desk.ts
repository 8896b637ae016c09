/**
 * The main thread's side of every recording: where call recorders (in this thread or in call workers) hand what
 * they produce, in order per recording. It opens the recording in storage, passes operations to the bounded sink
 * queue and accounts for what the queue had to drop, finishes the metadata with what only the main thread knows
 * (the mode's view of the call, the drops), and says when a recording is finished. It keeps a live entry per
 * recording in progress and the final metadata of the last MAX_FINISHED (transfer links arrive late): bounded.
 */
import type { AudioFormat, RecordingLocation, RecordingMode, RecordingStart } from '../contract';
import type { Call } from '../dialog/types';
import type { LifecycleHub } from '../lifecycle';
import type { RecordingMetadata } from '../media/metadata';
import type { RecordingPort } from '../media/recording-port';
import { NOT_RECORDABLE } from '../policy/recording-policy';
import type { SinkQueue } from './sink-queue';

/** Finished recordings whose metadata is kept for links added after the end (as the call recorder keeps them). */
const MAX_FINISHED = 1000;

interface LiveRecording {
  call: Call;
  format: AudioFormat | undefined;
  droppedFrames: number;
  droppedAttachmentBytes: number;
}

export interface RecordingDeskOptions {
  /** The recording mode, which annotates every metadata with what it knows of the call. */
  mode?: RecordingMode | undefined;
  events?: LifecycleHub | undefined;
  /** A recording was closed (its metadata is final). */
  onFinished?: (id: string) => void;
}

export class RecordingDesk implements RecordingPort {
  private readonly live = new Map<string, LiveRecording>();
  private readonly finished = new Map<string, RecordingMetadata>();

  constructor(
    private readonly queue: SinkQueue | undefined,
    private readonly opts: RecordingDeskOptions = {},
  ) {}

  get stored(): boolean {
    return this.queue !== undefined;
  }

  /** Recordings opened and not yet closed. */
  get inProgress(): number {
    return this.live.size;
  }

  /** Where storage will keep a recording that starts now. */
  locate(start: RecordingStart): RecordingLocation | undefined {
    return this.queue?.sink.locate(start);
  }

  /** A recording starts: its catalogue entry is the record of a running call (what crash recovery starts from). */
  open(start: RecordingStart, call: Call): void {
    this.live.set(start.id, { call, format: undefined, droppedFrames: 0, droppedAttachmentBytes: 0 });
    this.queue?.open(start);
  }

  openAudio(id: string, format: AudioFormat): void {
    const r = this.live.get(id);
    if (r !== undefined) r.format = format;
    this.queue?.openAudio(id, format);
  }

  audio(id: string, atFrame: number, pcm: Int16Array): void {
    if (this.queue === undefined || this.queue.audio(id, atFrame, pcm)) return;
    const r = this.live.get(id);
    if (r !== undefined) r.droppedFrames += pcm.length / (r.format?.channels ?? 1);
  }

  attachment(id: string, name: string, data: Buffer, mode: 'append' | 'replace'): void {
    if (this.queue === undefined || this.queue.attachment(id, name, data, mode)) return;
    const r = this.live.get(id);
    if (r !== undefined) r.droppedAttachmentBytes += data.length;
  }

  update(meta: RecordingMetadata): void {
    const r = this.live.get(meta.id);
    if (r !== undefined) {
      this.queue?.update(this.finish(meta, r));
      return;
    }
    // A finished recording gained a link: its stored metadata says so too (and the object the event carried).
    const final = this.finished.get(meta.id);
    if (final === undefined) return;
    if (meta.links !== undefined) final.links = [...meta.links];
    this.queue?.update(final);
  }

  close(meta: RecordingMetadata, frames: number): void {
    const r = this.live.get(meta.id);
    if (r === undefined) return;
    this.live.delete(meta.id);
    // Audio dropped at the very end still counts: storage extends the file with silence to the full length.
    if (r.droppedFrames > 0 && r.format !== undefined) this.queue?.audioEnd(meta.id, frames);
    const final = this.finish(meta, r);
    this.queue?.close(final);
    this.finished.set(meta.id, final);
    if (this.finished.size > MAX_FINISHED) this.finished.delete(this.finished.keys().next().value as string);
    this.opts.onFinished?.(meta.id);
    this.opts.events?.emit('recordingFinished', final);
  }

  /**
   * A recording whose recorder is gone (its call worker died): forgotten here, its catalogue entry left as it is —
   * still 'recording', with the audio written so far — for storage's recovery to repair at the next start.
   */
  abandon(id: string): void {
    if (!this.live.delete(id)) return;
    this.opts.onFinished?.(id);
  }

  /** The recorder's metadata (a copy: the recorder keeps its own) with the drops and the mode's annotation. */
  private finish(from: RecordingMetadata, r: LiveRecording): RecordingMetadata {
    const meta = structuredClone(from);
    if (r.droppedAttachmentBytes > 0) meta.flags.push(`${r.droppedAttachmentBytes} bytes of attachments (undecoded media, SIP) were dropped: storage fell behind and its queue was full`);
    if (r.droppedFrames > 0 && meta.audio !== undefined) {
      meta.flags.push(`${(r.droppedFrames / meta.audio.sampleRate).toFixed(2)} s of audio were dropped (silence in the file): storage fell behind and its queue was full`);
    }
    // Signalling and media were seen on the main thread: which forwarder deployments (tenants) carried them.
    if (r.call.deployments !== undefined && r.call.deployments.length > 0) meta.deployments = [...r.call.deployments].sort((a, b) => a - b);
    this.opts.mode?.annotate?.(r.call, meta);
    // The mode said it could not hear this call, yet audio came: keep it, and say so rather than contradict it.
    if (meta.audio !== undefined) meta.flags = meta.flags.map((f) => (f.startsWith(NOT_RECORDABLE) ? `${f} (audio was captured nonetheless)` : f));
    return meta;
  }
}
