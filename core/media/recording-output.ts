/**
 * One recording's way to storage: everything the recorder produces for it (audio, undecodable media, the call's
 * SIP, metadata) goes through the bounded sink queue; nothing here touches a file. Audio is addressed by frame
 * offset, so a chunk the queue had to drop becomes silence of the right length, and the recording says how much.
 */
import type { AudioFormat, RecordingLocation, RecordingStart } from '../contract';
import type { RecordingMetadata } from './metadata';
import type { SinkQueue } from '../storage/sink-queue';
import { RAW_MEDIA_FILE, RawMediaKeeper } from './raw-keeper';

export class RecordingOutput {
  /** Frames (samples per channel) of audio handed on so far, dropped ones included. */
  frames = 0;
  droppedFrames = 0;
  droppedAttachmentBytes = 0;
  /** Sink operations that failed for this recording (the queue reports them). */
  readonly failures: string[] = [];
  private format: AudioFormat | undefined;
  private raw: RawMediaKeeper | undefined;

  constructor(
    private readonly queue: SinkQueue | undefined,
    readonly start: RecordingStart,
    readonly location: RecordingLocation | undefined,
  ) {
    queue?.open(start);
  }

  get stored(): boolean {
    return this.queue !== undefined;
  }

  get audioFormat(): AudioFormat | undefined {
    return this.format;
  }

  /** Where an attachment named `name` is kept. */
  attachmentPath(name: string): string | undefined {
    return this.location === undefined ? undefined : `${this.location.base}/${name}`;
  }

  openAudio(format: AudioFormat): void {
    if (this.format !== undefined) return;
    this.format = format;
    this.queue?.openAudio(this.start.id, format);
  }

  /** Interleaved PCM, valid only during the call (copied when queued). */
  writeAudio(pcm: Int16Array): void {
    const channels = this.format?.channels ?? 2;
    const n = pcm.length / channels;
    if (n === 0) return;
    if (this.queue !== undefined && !this.queue.audio(this.start.id, this.frames, pcm.slice())) this.droppedFrames += n;
    this.frames += n;
  }

  /** One undecodable RTP packet, kept losslessly in media.pcap. */
  keepRaw(ts: number, src: string, sport: number, dst: string, dport: number, rtp: Buffer): void {
    if (this.queue === undefined) return;
    this.raw ??= new RawMediaKeeper((bytes) => this.attach(RAW_MEDIA_FILE, bytes, 'append'));
    this.raw.write(ts, src, sport, dst, dport, rtp);
  }

  get rawPackets(): number {
    return this.raw?.packets ?? 0;
  }

  flushRaw(): void {
    this.raw?.flush();
  }

  attach(name: string, data: Buffer, mode: 'append' | 'replace'): void {
    if (this.queue !== undefined && !this.queue.attachment(this.start.id, name, data, mode)) this.droppedAttachmentBytes += data.length;
  }

  update(meta: RecordingMetadata): void {
    this.queue?.update(meta);
  }

  close(meta: RecordingMetadata): void {
    this.raw?.flush();
    // Audio dropped at the very end still counts: storage extends the file with silence to the full length.
    if (this.droppedFrames > 0 && this.format !== undefined) this.queue?.audioEnd(this.start.id, this.frames);
    this.queue?.close(meta);
  }
}
