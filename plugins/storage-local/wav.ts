/**
 * Crash-safe WAV files (storage-local's audio format): 16-bit PCM, or G.711 (µ-law / A-law) kept as received. The
 * writer rewrites the header's sizes every few seconds of data, so a recorder killed mid-call leaves a playable
 * file; repairWav() makes the header exact afterwards.
 */
import * as fs from 'node:fs';
import { bytesPerSample, codingOfWaveTag, decodeG711, encodeSamples, HOST_LE, silenceByte, waveFormatTag, type SampleCoding } from './sample-coding';

export { toLeBytes } from './sample-coding';

/** RIFF sizes are 32-bit: the largest data size whose RIFF size (data + header - 8) still fits, whole frames kept. */
const MAX_RIFF = 0xffffffff;

export interface WavFormat {
  sampleRate: number;
  channels: number;
  /** How samples are stored (default 16-bit PCM). */
  coding?: SampleCoding;
}

/** Header bytes: the canonical 44 for PCM; G.711 adds cbSize to fmt and a fact chunk (as sox writes them). */
export function wavHeaderBytes(coding: SampleCoding = 'pcm16'): number {
  return coding === 'pcm16' ? 44 : 58;
}

/** The header of a WAV holding `dataBytes` of samples in `coding`. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number, coding: SampleCoding = 'pcm16'): Buffer {
  const len = wavHeaderBytes(coding);
  const bps = bytesPerSample(coding);
  const data = dataSize(dataBytes, len, channels * bps);
  const h = Buffer.alloc(len);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(data + len - 8, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(coding === 'pcm16' ? 16 : 18, 16);
  h.writeUInt16LE(waveFormatTag(coding), 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * bps, 28);
  h.writeUInt16LE(channels * bps, 32);
  h.writeUInt16LE(bps * 8, 34);
  let off = 36;
  if (coding !== 'pcm16') {
    h.writeUInt16LE(0, 36); // cbSize
    h.write('fact', 38, 'latin1');
    h.writeUInt32LE(4, 42);
    h.writeUInt32LE(data / (channels * bps), 46); // frames
    off = 50;
  }
  h.write('data', off, 'latin1');
  h.writeUInt32LE(data, off + 4);
  return h;
}

/** Sizes past 4 GiB cannot be expressed: clamp to whole frames (readers that trust the header then see the first 4 GiB). */
function dataSize(dataBytes: number, headerBytes: number, frameBytes: number): number {
  const max = MAX_RIFF + 8 - headerBytes;
  return Math.min(dataBytes, max - (max % frameBytes));
}

/**
 * Audio gathered before one write(2). A data write costs about the same (~70 µs here) from 4 to 32 KiB, so fewer,
 * larger writes save time (24 KiB: a thousand calls' buffers are 24 MiB). The core gathers a second of audio
 * itself, so its writes go straight to the file and this buffer only collects small ones.
 */
const BUFFER_BYTES = 24 * 1024;
/**
 * The header's sizes are rewritten once this much audio has reached the file since the last rewrite (and at every
 * flush and at close): it never claims bytes that are not in the file, a killed recorder leaves a playable file
 * (at most this much shorter than its data; recovery then makes it exact), and each write is one thread-pool job,
 * not two.
 */
const HEADER_EVERY_SEC = 8;

/**
 * A WAV file written asynchronously (the storage queue awaits each call; nothing blocks the capture thread).
 * Audio is addressed by frame: a write beyond the end leaves silence before it (audio the queue had to drop).
 */
export class WavFileWriter {
  private dataBytes = 0;
  /** Bytes already in the file (dataBytes minus what is still buffered). */
  private fileBytes = 0;
  /** Small writes gathered; made on the first one (the core's one-second chunks bypass it: 24 KiB a call saved). */
  private pending: Buffer | undefined;
  private pendingLen = 0;
  private readonly frameBytes: number;
  private readonly coding: SampleCoding;
  /** Where the samples start. */
  private readonly headerLen: number;
  /** fileBytes the header claims, and how far it may lag before it is rewritten. */
  private headerBytes = 0;
  private readonly headerLag: number;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: fs.promises.FileHandle,
    readonly format: WavFormat,
  ) {
    this.coding = format.coding ?? 'pcm16';
    this.frameBytes = format.channels * bytesPerSample(this.coding);
    this.headerLen = wavHeaderBytes(this.coding);
    this.headerLag = HEADER_EVERY_SEC * format.sampleRate * this.frameBytes;
  }

  static async create(path: string, format: { sampleRate: number; channels: 1 | 2; coding?: SampleCoding }): Promise<WavFileWriter> {
    if (!Number.isInteger(format.sampleRate) || format.sampleRate <= 0) throw new Error(`WAV sample rate must be a positive integer, got ${format.sampleRate}`);
    if (format.channels !== 1 && format.channels !== 2) throw new Error(`WAV channels must be 1 or 2, got ${String(format.channels)}`);
    const fh = await fs.promises.open(path, 'w');
    try {
      const h = wavHeader(format.sampleRate, format.channels, 0, format.coding);
      await fh.write(h, 0, h.length, 0);
    } catch (e) {
      await fh.close();
      throw e;
    }
    return new WavFileWriter(path, fh, format);
  }

  /** Frames (samples per channel) in the audio so far, silence before a late write included. */
  get frames(): number {
    return this.dataBytes / this.frameBytes;
  }

  /** Interleaved samples (a whole number of frames) starting at frame `atFrame`; earlier frames never written are silence. */
  async write(atFrame: number, interleaved: Int16Array): Promise<void> {
    if (this.closed) throw new Error(`WAV ${this.path} is closed`);
    if (interleaved.length % this.format.channels !== 0) {
      throw new Error(`WAV write of ${interleaved.length} samples is not a whole number of ${this.format.channels}-channel frames`);
    }
    let bytes = encodeSamples(this.coding, interleaved);
    const at = atFrame * this.frameBytes;
    if (at > this.dataBytes) await this.gapTo(at);
    else if (at < this.dataBytes) {
      // Overlaps what was written (never done by the queue): only the new part is kept.
      bytes = bytes.subarray(Math.min(bytes.length, this.dataBytes - at));
    }
    if (bytes.length === 0) return;
    if (bytes.length >= BUFFER_BYTES / 2) {
      // A large chunk (the core gathers a second) goes to the file as it is, after what is buffered, in one
      // pwritev: no copy into the buffer, and a short write before it (a metadata refresh flushes the core's
      // partial second) does not leave every later chunk going through the buffer.
      await this.writeAt(bytes);
      this.dataBytes += bytes.length;
      if (this.fileBytes - this.headerBytes >= this.headerLag) await this.writeHeader();
      return;
    }
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(BUFFER_BYTES - this.pendingLen, bytes.length - off);
      const pending = (this.pending ??= Buffer.allocUnsafe(BUFFER_BYTES));
      bytes.copy(pending, this.pendingLen, off, off + n);
      this.pendingLen += n;
      this.dataBytes += n;
      off += n;
      if (this.pendingLen === BUFFER_BYTES) {
        await this.writePending();
        if (this.fileBytes - this.headerBytes >= this.headerLag) await this.writeHeader();
      }
    }
  }

  /**
   * Silence up to byte `at` of the data: PCM leaves a hole in the file (it reads as zeros); G.711 silence is not
   * zero bytes, so it is written (a chunk at a time).
   */
  private async gapTo(at: number): Promise<void> {
    await this.flush();
    if (this.coding === 'pcm16') {
      this.dataBytes = at;
      this.fileBytes = at;
      return;
    }
    const fill = Buffer.alloc(Math.min(BUFFER_BYTES, at - this.dataBytes), silenceByte(this.coding));
    while (this.dataBytes < at) {
      const n = Math.min(fill.length, at - this.dataBytes);
      await this.writeAt(fill.subarray(0, n));
      this.dataBytes += n;
    }
  }

  /** Buffered samples to the file, then the header's sizes for what is in it. */
  async flush(): Promise<void> {
    await this.writePending();
    await this.writeHeader();
  }

  /**
   * Bytes at the end of what is in the file, after whatever is buffered (positional: independent of the header
   * rewrites). Buffered bytes and a large chunk go in one pwritev.
   */
  private async writeAt(bytes: Buffer): Promise<void> {
    const at = this.headerLen + this.fileBytes;
    if (this.pendingLen > 0 && this.pending !== undefined) {
      const head = this.pending.subarray(0, this.pendingLen);
      const total = head.length + bytes.length;
      const r = await this.fh.writev([head, bytes], at);
      // A short write (rare: a full disk, a signal) finishes from where it stopped.
      if (r.bytesWritten < total) await this.rest(Buffer.concat([head, bytes]), r.bytesWritten, at);
      this.pendingLen = 0;
      this.fileBytes += total;
      // The buffer served a short write before a large chunk (a metadata refresh's partial second): the core's
      // whole seconds need none, so it is not kept (24 KiB a call at thousands of calls).
      this.pending = undefined;
      return;
    }
    await this.rest(bytes, 0, at);
    this.fileBytes += bytes.length;
  }

  /** The buffered bytes to the file. */
  private async writePending(): Promise<void> {
    if (this.pendingLen === 0 || this.pending === undefined) return;
    const n = this.pendingLen;
    await this.rest(this.pending.subarray(0, n), 0, this.headerLen + this.fileBytes);
    this.pendingLen = 0;
    this.fileBytes += n;
  }

  private async rest(bytes: Buffer, from: number, at: number): Promise<void> {
    let done = from;
    while (done < bytes.length) {
      const r = await this.fh.write(bytes, done, bytes.length - done, at + done);
      done += r.bytesWritten;
    }
  }

  private async writeHeader(): Promise<void> {
    const claimed = this.fileBytes;
    const h = wavHeader(this.format.sampleRate, this.format.channels, claimed, this.coding);
    await this.fh.write(h, 4, h.length - 4, 4);
    this.headerBytes = claimed;
  }

  /** Final header and close; idempotent. A trailing gap (audio dropped at the very end) is written as silence. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
      // A gap at the very end has no write after it to extend the file: extend it (the new bytes are zeros).
      const { size } = await this.fh.stat();
      if (size < this.headerLen + this.dataBytes) await this.fh.truncate(this.headerLen + this.dataBytes);
    } finally {
      await this.fh.close();
    }
  }
}

interface ParsedWav {
  format: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  riffSize: number;
  /** Offset of the fact chunk's sample length (non-PCM files), if it has one. */
  factOffset?: number;
  /** Offset of the data chunk's size field; the samples start 4 bytes later. */
  dataSizeOffset: number;
  dataSize: number;
}

/** Read the RIFF chunk list up to the data chunk (which a crashed writer leaves running to the end of file). */
function parseHeader(fd: number, path: string, fileLength: number): ParsedWav {
  const head = Buffer.alloc(Math.min(fileLength, 64 * 1024));
  fs.readSync(fd, head, 0, head.length, 0);
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error(`${path} is not a WAV file (no RIFF/WAVE header)`);
  }
  let fmt: Omit<ParsedWav, 'riffSize' | 'dataSizeOffset' | 'dataSize' | 'factOffset'> | undefined;
  let factOffset: number | undefined;
  let off = 12;
  while (off + 8 <= head.length) {
    const id = head.toString('latin1', off, off + 4);
    const size = head.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      if (size < 16 || off + 24 > head.length) throw new Error(`${path}: WAV fmt chunk is truncated`);
      fmt = {
        format: head.readUInt16LE(off + 8),
        channels: head.readUInt16LE(off + 10),
        sampleRate: head.readUInt32LE(off + 12),
        blockAlign: head.readUInt16LE(off + 20),
        bitsPerSample: head.readUInt16LE(off + 22),
      };
    } else if (id === 'fact' && size >= 4) {
      factOffset = off + 8;
    } else if (id === 'data') {
      if (fmt === undefined) throw new Error(`${path}: WAV data chunk before any fmt chunk`);
      if (fmt.blockAlign === 0 || fmt.channels === 0) throw new Error(`${path}: WAV fmt chunk has no frame size`);
      return { ...fmt, riffSize: head.readUInt32LE(4), dataSizeOffset: off + 4, dataSize: size, ...(factOffset !== undefined ? { factOffset } : {}) };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no WAV data chunk found`);
}

function withFile<T>(path: string, flags: string, fn: (fd: number, length: number) => T): T {
  const fd = fs.openSync(path, flags);
  try {
    return fn(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Recovery after a crash: set the RIFF and data sizes from the file's length (the data chunk is taken to run to
 * the end of file), dropping a trailing partial frame. A file whose sizes already agree with its length is left alone.
 */
export function repairWav(path: string): { repaired: boolean; frames: number; sampleRate: number; channels: number } {
  return withFile(path, 'r+', (fd, length) => {
    const w = parseHeader(fd, path, length);
    const dataStart = w.dataSizeOffset + 4;
    const result = { sampleRate: w.sampleRate, channels: w.channels };
    // Consistent already (possibly with chunks after data, which a crash cannot produce): nothing to do.
    if (w.riffSize + 8 === length && dataStart + w.dataSize <= length && w.dataSize % w.blockAlign === 0) {
      return { repaired: false, frames: w.dataSize / w.blockAlign, ...result };
    }
    const available = Math.max(0, length - dataStart);
    const data = available - (available % w.blockAlign);
    if (dataStart + data !== length) fs.ftruncateSync(fd, dataStart + data);
    // Past 4 GiB the sizes saturate; the audio beyond is kept (readers that go to end of file still get it).
    const room = MAX_RIFF + 8 - dataStart;
    const stated = Math.min(data, room - (room % w.blockAlign));
    const sizes = Buffer.alloc(4);
    sizes.writeUInt32LE(dataStart + stated - 8, 0);
    fs.writeSync(fd, sizes, 0, 4, 4);
    sizes.writeUInt32LE(stated, 0);
    fs.writeSync(fd, sizes, 0, 4, w.dataSizeOffset);
    if (w.factOffset !== undefined) {
      sizes.writeUInt32LE(stated / w.blockAlign, 0);
      fs.writeSync(fd, sizes, 0, 4, w.factOffset);
    }
    return { repaired: true, frames: data / w.blockAlign, ...result };
  });
}

/** The whole file as 16-bit PCM (header sizes trusted, clipped to the file's length; G.711 decoded). For tests and tools. */
export function readWav(path: string): WavFormat & { samples: Int16Array; coding: SampleCoding } {
  return withFile(path, 'r', (fd, length) => {
    const w = parseHeader(fd, path, length);
    const coding = codingOfWaveTag(w.format, w.bitsPerSample);
    if (coding === undefined) throw new Error(`${path}: only 16-bit PCM, µ-law and A-law WAV are supported (format ${w.format}, ${w.bitsPerSample} bits)`);
    const buf = readData(fd, w, length);
    if (coding !== 'pcm16') return { sampleRate: w.sampleRate, channels: w.channels, coding, samples: decodeG711(coding, buf) };
    if (!HOST_LE) buf.swap16();
    const samples = new Int16Array(buf.length / 2);
    new Uint8Array(samples.buffer).set(buf);
    return { sampleRate: w.sampleRate, channels: w.channels, coding, samples };
  });
}

/** The data chunk's bytes as stored (G.711 codes as they are), for tests that compare them with what was received. */
export function readWavBytes(path: string): WavFormat & { data: Buffer; coding: SampleCoding | undefined } {
  return withFile(path, 'r', (fd, length) => {
    const w = parseHeader(fd, path, length);
    return { sampleRate: w.sampleRate, channels: w.channels, coding: codingOfWaveTag(w.format, w.bitsPerSample), data: readData(fd, w, length) };
  });
}

function readData(fd: number, w: ParsedWav, length: number): Buffer {
  const dataStart = w.dataSizeOffset + 4;
  let bytes = Math.min(w.dataSize, Math.max(0, length - dataStart));
  bytes -= bytes % w.blockAlign;
  const buf = Buffer.alloc(bytes);
  let done = 0;
  while (done < bytes) {
    const n = fs.readSync(fd, buf, done, bytes - done, dataStart + done);
    if (n === 0) break;
    done += n;
  }
  return buf;
}
