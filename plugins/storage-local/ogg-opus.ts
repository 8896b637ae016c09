/**
 * Ogg Opus archives (RFC 7845): the recording encoded in 20 ms frames by the Opus encoder a codec plugin offers
 * (Points.AudioEncoder), one packet a frame, a page a second. Like the WAV writer it takes frames by position
 * (silence before a late write) and leaves a playable file when killed: every page is whole and checksummed,
 * and repairOggOpus() cuts a torn last page off.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { AudioEncoderProvider, FrameEncoder } from '../../core/contract';
import { EncryptedAudioWriter } from './encrypted-audio';
import type { KeyProvider } from './key-provider';
import { MAX_SEGMENTS, lacing, oggPage, PAGE_BOS, PAGE_EOS, readOggFile } from './ogg';

/** metadata.audio.format of an Ogg Opus recording. */
export const OGG_OPUS_FORMAT = 'ogg/opus';
export const OGG_OPUS_FILE = 'audio.opus';
/** Packets a page gathers before it is written: a second of audio, what a crash can lose at most. */
const PACKETS_PER_PAGE = 50;

function opusHead(channels: number, preSkip: number, inputRate: number): Buffer {
  const h = Buffer.alloc(19);
  h.write('OpusHead', 0, 'latin1');
  h[8] = 1; // version
  h[9] = channels;
  h.writeUInt16LE(preSkip, 10);
  h.writeUInt32LE(inputRate, 12);
  h.writeInt16LE(0, 16); // output gain
  h[18] = 0; // channel mapping family 0: mono or stereo (left, right)
  return h;
}

function opusTags(): Buffer {
  const vendor = Buffer.from('Tapline', 'utf8');
  const t = Buffer.alloc(8 + 4 + vendor.length + 4);
  t.write('OpusTags', 0, 'latin1');
  t.writeUInt32LE(vendor.length, 8);
  vendor.copy(t, 12);
  t.writeUInt32LE(0, 12 + vendor.length); // no user comments
  return t;
}

/** Where pages go: the file as it is, or encrypted at rest (encrypted-audio.ts, container 'ogg'). */
interface PageSink {
  append(page: Buffer): Promise<void>;
  close(): Promise<void>;
}

function fileSink(fh: fs.promises.FileHandle, at: number): PageSink {
  let pos = at;
  return {
    append: async (page) => {
      let done = 0;
      while (done < page.length) done += (await fh.write(page, done, page.length - done, pos + done)).bytesWritten;
      pos += page.length;
    },
    close: () => fh.close(),
  };
}

export class OggOpusWriter {
  private readonly frameLen: number;
  private readonly partial: Int16Array;
  private partialLen = 0;
  /** Input frames (samples per channel) taken so far, silence included. */
  private framesIn = 0;
  /** Input frames encoded, padding included. */
  private framesEncoded = 0;
  private readonly to48k: number;
  private pending: Buffer[] = [];
  private pendingSegments = 0;
  private sequence = 2;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly sink: PageSink,
    private readonly enc: FrameEncoder,
    readonly format: { sampleRate: number; channels: 1 | 2 },
    private readonly serial: number,
  ) {
    this.frameLen = enc.frameSamples * format.channels;
    this.partial = new Int16Array(this.frameLen);
    this.to48k = 48000 / format.sampleRate;
  }

  /** With `keys`, the file is encrypted at rest (no readable Ogg page in it); else a plain .opus file. */
  static async create(path: string, format: { sampleRate: number; channels: 1 | 2 }, provider: AudioEncoderProvider, bitrate: number | undefined, keys?: KeyProvider): Promise<OggOpusWriter> {
    if (provider.unavailableReason !== undefined) throw new Error(`Ogg Opus storage: the Opus encoder is not available (${provider.unavailableReason})`);
    if (!provider.sampleRates.includes(format.sampleRate)) throw new Error(`Ogg Opus storage: Opus takes ${provider.sampleRates.join(', ')} Hz, the recording is ${format.sampleRate} Hz`);
    const enc = provider.create({ sampleRate: format.sampleRate, channels: format.channels, ...(bitrate !== undefined ? { bitrate } : {}) });
    const serial = randomBytes(4).readUInt32LE(0);
    const head = Buffer.concat([
      oggPage({ serial, sequence: 0, granule: 0n, flags: PAGE_BOS, packets: [opusHead(format.channels, enc.preSkip48k, format.sampleRate)] }),
      oggPage({ serial, sequence: 1, granule: 0n, flags: 0, packets: [opusTags()] }),
    ]);
    let sink: PageSink | undefined;
    try {
      if (keys !== undefined) {
        const w = await EncryptedAudioWriter.create(path, { ...format, container: 'ogg' }, keys);
        sink = { append: (b) => w.appendBytes(b), close: () => w.close() };
      } else {
        sink = fileSink(await fs.promises.open(path, 'w'), 0);
      }
      await sink.append(head);
    } catch (e) {
      enc.close();
      await sink?.close().catch(() => undefined);
      throw e;
    }
    return new OggOpusWriter(path, sink, enc, format, serial);
  }

  get frames(): number {
    return this.framesIn;
  }

  /** Interleaved samples from frame `atFrame`; frames before it never written are silence, overlaps are dropped. */
  async write(atFrame: number, interleaved: Int16Array): Promise<void> {
    if (this.closed) throw new Error(`${this.path} is closed`);
    const ch = this.format.channels;
    if (interleaved.length % ch !== 0) throw new Error(`a write of ${interleaved.length} samples is not a whole number of ${ch}-channel frames`);
    if (atFrame > this.framesIn) await this.silence(atFrame - this.framesIn);
    const skip = Math.max(0, this.framesIn - atFrame) * ch;
    if (skip < interleaved.length) await this.take(interleaved.subarray(skip));
  }

  private async silence(frames: number): Promise<void> {
    const zeros = new Int16Array(Math.min(frames, this.enc.frameSamples * 50) * this.format.channels);
    let left = frames;
    while (left > 0) {
      const n = Math.min(left, zeros.length / this.format.channels);
      await this.take(zeros.subarray(0, n * this.format.channels));
      left -= n;
    }
  }

  private async take(samples: Int16Array): Promise<void> {
    let off = 0;
    while (off < samples.length) {
      const n = Math.min(this.frameLen - this.partialLen, samples.length - off);
      this.partial.set(samples.subarray(off, off + n), this.partialLen);
      this.partialLen += n;
      off += n;
      if (this.partialLen === this.frameLen) await this.encodeFrame();
    }
    this.framesIn += samples.length / this.format.channels;
  }

  private async encodeFrame(): Promise<void> {
    const packet = this.enc.encode(this.partial);
    this.partialLen = 0;
    this.framesEncoded += this.enc.frameSamples;
    const segs = lacing(packet.length).length;
    if (this.pendingSegments + segs > MAX_SEGMENTS) await this.writePage(false);
    this.pending.push(packet);
    this.pendingSegments += segs;
    if (this.pending.length >= PACKETS_PER_PAGE) await this.writePage(false);
  }

  private async writePage(last: boolean): Promise<void> {
    if (this.pending.length === 0) return;
    // A granule counts the samples decoded up to the page's last packet, the pre-skip among them (RFC 7845 §4);
    // the last page's ends the audio where the input ended: pre-skip + input (end trimming, §4.4).
    const granule = last ? BigInt(this.enc.preSkip48k + this.framesIn * this.to48k) : BigInt(this.framesEncoded * this.to48k);
    const page = oggPage({ serial: this.serial, sequence: this.sequence++, granule, flags: last ? PAGE_EOS : 0, packets: this.pending });
    this.pending = [];
    this.pendingSegments = 0;
    await this.sink.append(page);
  }

  /**
   * The last frame padded with silence, and more silence until the encoder's look-ahead is covered (a decoder
   * drops the pre-skip at the start, so the input's end must be encoded past it); the last page marked; idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      const needed = this.framesIn + Math.ceil(this.enc.preSkip48k / this.to48k);
      if (this.partialLen > 0) {
        this.partial.fill(0, this.partialLen);
        await this.encodeFrame();
      }
      while (this.framesEncoded < needed) {
        this.partial.fill(0);
        await this.encodeFrame();
      }
      await this.writePage(true);
    } finally {
      this.enc.close();
      await this.sink.close();
    }
  }
}

/** After a crash: the torn pages after the last whole one cut off; frames from the last page's granule. */
export function repairOggOpus(file: string): { repaired: boolean; frames: number; sampleRate: number; channels: number } {
  const { pages, validBytes, size } = readOggFile(file);
  const head = pages[0]?.packets[0];
  if (head === undefined || head.length < 19 || head.toString('latin1', 0, 8) !== 'OpusHead') throw new Error(`${file} is not an Ogg Opus file (no OpusHead page)`);
  const channels = head[9] as number;
  const preSkip = head.readUInt16LE(10);
  const sampleRate = head.readUInt32LE(12) || 48000;
  if (validBytes < size) fs.truncateSync(file, validBytes);
  const last = pages.length > 2 ? (pages[pages.length - 1]?.granule ?? 0n) : 0n;
  const frames48 = Math.max(0, Number(last) - preSkip);
  return { repaired: validBytes < size, frames: Math.floor((frames48 * sampleRate) / 48000), sampleRate, channels };
}
