/**
 * One recording's way to storage: everything the recorder produces for it (audio, undecodable media, the call's
 * SIP, metadata) goes to the recording port (the desk in front of the bounded sink queue); nothing here touches a
 * file. Audio is addressed by frame offset, so a chunk the queue had to drop becomes silence of the right length,
 * and the desk says in the metadata how much.
 */
import type { AudioFormat, RecordingLocation, RecordingStart } from '../contract';
import type { RecordingMetadata } from './metadata';
import type { RecordingPort } from './recording-port';
import { RAW_MEDIA_FILE, RawMediaKeeper } from './raw-keeper';

/**
 * Audio gathered per recording before it is queued: one queue operation (and one copy) a second instead of one per
 * timeline flush (32 KiB at 8 kHz stereo: what storage writes in one go). What a kill -9 can lose is this second.
 */
const GATHER_SEC = 1;

export class RecordingOutput {
  /** Frames (samples per channel) of audio handed on so far (gathered, queued or dropped). */
  frames = 0;
  private format: AudioFormat | undefined;
  private raw: RawMediaKeeper | undefined;
  /** Audio gathered and not yet queued, and the frame it starts at. */
  private gather: Int16Array | undefined;
  private gathered = 0;
  private gatherAt = 0;

  /** undefined: no storage plugin (nothing is gathered; metadata still reaches the port). */
  private readonly queue: RecordingPort | undefined;

  constructor(
    private readonly port: RecordingPort,
    readonly start: RecordingStart,
    readonly location: RecordingLocation | undefined,
  ) {
    this.queue = port.stored ? port : undefined;
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
    this.queue.audio(this.start.id, this.gatherAt, chunk);
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
    this.queue?.attachment(this.start.id, name, data, mode);
  }

  update(meta: RecordingMetadata): void {
    this.port.update(meta);
  }

  close(meta: RecordingMetadata): void {
    this.flushAudio();
    this.raw?.flush();
    this.port.close(meta, this.frames);
  }
}
