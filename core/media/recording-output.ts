/**
 * One recording's way to storage: everything the recorder produces for it (audio, undecodable media, the call's
 * SIP, metadata) goes through the bounded sink queue; nothing here touches a file. Audio is addressed by frame
 * offset, so a chunk the queue had to drop becomes silence of the right length, and the recording says how much.
 */
import type { AudioFormat, RecordingLocation, RecordingStart } from '../contract';
import type { RecordingMetadata } from './metadata';
import type { SinkQueue } from '../storage/sink-queue';
import { RAW_MEDIA_FILE, RawMediaKeeper } from './raw-keeper';

/**
 * Audio gathered per recording before it is queued: one queue operation (and one copy) a second instead of one per
 * timeline flush (32 KiB at 8 kHz stereo: what storage writes in one go). What a kill -9 can lose is this second.
 */
const GATHER_SEC = 1;

export class RecordingOutput {
  /** Frames (samples per channel) of audio handed on so far (gathered, queued or dropped). */
  frames = 0;
  droppedFrames = 0;
  droppedAttachmentBytes = 0;
  /** Sink operations that failed for this recording (the queue reports them). */
  readonly failures: string[] = [];
  private format: AudioFormat | undefined;
  private raw: RawMediaKeeper | undefined;
  /** Audio gathered and not yet queued, and the frame it starts at. */
  private gather: Int16Array | undefined;
  private gathered = 0;
  private gatherAt = 0;

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

  /** Interleaved PCM, valid only during the call (copied into the gathering buffer). */
  writeAudio(pcm: Int16Array): void {
    const format = this.format;
    if (format === undefined || pcm.length === 0) return;
    const n = pcm.length / format.channels;
    if (this.queue !== undefined) {
      let off = 0;
      while (off < pcm.length) {
        // A full buffer is handed to the queue by flushAudio(): take a fresh one then.
        const buf = (this.gather ??= new Int16Array(Math.ceil(format.sampleRate * GATHER_SEC) * format.channels));
        if (this.gathered === 0) this.gatherAt = this.frames + off / format.channels;
        const take = Math.min(buf.length - this.gathered, pcm.length - off);
        buf.set(pcm.subarray(off, off + take), this.gathered);
        this.gathered += take;
        off += take;
        if (this.gathered === buf.length) this.flushAudio();
      }
    }
    this.frames += n;
  }

  /** Queues what is gathered (at metadata refreshes and the end, so storage is never far behind). */
  flushAudio(): void {
    const buf = this.gather;
    if (buf === undefined || this.gathered === 0 || this.queue === undefined || this.format === undefined) return;
    // The queue keeps the array: a full buffer is handed over (a fresh one is made on the next write), a partial one copied.
    const chunk = this.gathered === buf.length ? buf : buf.slice(0, this.gathered);
    if (chunk === buf) this.gather = undefined;
    if (!this.queue.audio(this.start.id, this.gatherAt, chunk)) this.droppedFrames += this.gathered / this.format.channels;
    this.gathered = 0;
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
    this.flushAudio();
    this.raw?.flush();
    // Audio dropped at the very end still counts: storage extends the file with silence to the full length.
    if (this.droppedFrames > 0 && this.format !== undefined) this.queue?.audioEnd(this.start.id, this.frames);
    this.queue?.close(meta);
  }
}
