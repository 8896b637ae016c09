/**
 * Crash-safe 16-bit PCM WAV files (storage-local's audio format). The writer rewrites the header's sizes after every
 * data write, so a recorder killed mid-call leaves a playable file; repairWav() makes the header exact afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

const HEADER_BYTES = 44;
/** RIFF sizes are 32-bit: the largest whole-frame data size whose RIFF size (data + 36) still fits. */
const MAX_DATA = 0xffffffd8;
/** Int16Array bytes are in host order; WAV is little-endian. */
const HOST_LE = os.endianness() === 'LE';

export interface WavFormat {
  sampleRate: number;
  channels: number;
}

/** The canonical 44-byte header of a 16-bit PCM WAV holding `dataBytes` of samples. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(riffSize(dataBytes), 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // WAVE_FORMAT_PCM
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataSize(dataBytes), 40);
  return h;
}

/** Sizes past 4 GiB cannot be expressed: clamp (readers that trust the header then see the first 4 GiB). */
function dataSize(dataBytes: number): number {
  return Math.min(dataBytes, MAX_DATA);
}
function riffSize(dataBytes: number): number {
  return dataSize(dataBytes) + 36;
}

export function toLeBytes(pcm: Int16Array): Buffer {
  const view = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  if (HOST_LE) return view;
  const copy = Buffer.from(view);
  copy.swap16();
  return copy;
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
const HEADER_EVERY_SEC = 2;

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
  /** Header bytes 4..43, rewritten every HEADER_EVERY_SEC of audio. */
  private readonly headerTail: Buffer;
  /** fileBytes the header claims, and how far it may lag before it is rewritten. */
  private headerBytes = 0;
  private readonly headerLag: number;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: fs.promises.FileHandle,
    readonly format: WavFormat,
  ) {
    this.frameBytes = format.channels * 2;
    this.headerTail = wavHeader(format.sampleRate, format.channels, 0).subarray(4, HEADER_BYTES);
    this.headerLag = HEADER_EVERY_SEC * format.sampleRate * this.frameBytes;
  }

  static async create(path: string, format: { sampleRate: number; channels: 1 | 2 }): Promise<WavFileWriter> {
    if (!Number.isInteger(format.sampleRate) || format.sampleRate <= 0) throw new Error(`WAV sample rate must be a positive integer, got ${format.sampleRate}`);
    if (format.channels !== 1 && format.channels !== 2) throw new Error(`WAV channels must be 1 or 2, got ${String(format.channels)}`);
    const fh = await fs.promises.open(path, 'w');
    try {
      await fh.write(wavHeader(format.sampleRate, format.channels, 0), 0, HEADER_BYTES, 0);
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
    let bytes = toLeBytes(interleaved);
    const at = atFrame * this.frameBytes;
    if (at > this.dataBytes) {
      // A gap: what is buffered goes first; the file then continues further on (a hole reads as zeros).
      await this.flush();
      this.dataBytes = at;
      this.fileBytes = at;
    } else if (at < this.dataBytes) {
      // Overlaps what was written (never done by the queue): only the new part is kept.
      bytes = bytes.subarray(Math.min(bytes.length, this.dataBytes - at));
    }
    if (bytes.length === 0) return;
    if (this.pendingLen === 0 && bytes.length >= BUFFER_BYTES / 2) {
      // A large chunk (the core gathers a second) goes to the file as it is: no copy into the buffer.
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
        await this.writeAt(pending.subarray(0, this.pendingLen));
        this.pendingLen = 0;
        if (this.fileBytes - this.headerBytes >= this.headerLag) await this.writeHeader();
      }
    }
  }

  /** Buffered samples to the file, then the header's sizes for what is in it. */
  async flush(): Promise<void> {
    if (this.pendingLen > 0 && this.pending !== undefined) {
      await this.writeAt(this.pending.subarray(0, this.pendingLen));
      this.pendingLen = 0;
    }
    await this.writeHeader();
  }

  /** Bytes at the end of what is in the file (positional: independent of the header rewrites). */
  private async writeAt(bytes: Buffer): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const r = await this.fh.write(bytes, done, bytes.length - done, HEADER_BYTES + this.fileBytes + done);
      done += r.bytesWritten;
    }
    this.fileBytes += bytes.length;
  }

  private async writeHeader(): Promise<void> {
    const h = this.headerTail;
    const claimed = this.fileBytes;
    h.writeUInt32LE(riffSize(claimed), 0);
    h.writeUInt32LE(dataSize(claimed), 36);
    await this.fh.write(h, 0, 40, 4);
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
      if (size < HEADER_BYTES + this.dataBytes) await this.fh.truncate(HEADER_BYTES + this.dataBytes);
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
  let fmt: Omit<ParsedWav, 'riffSize' | 'dataSizeOffset' | 'dataSize'> | undefined;
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
    } else if (id === 'data') {
      if (fmt === undefined) throw new Error(`${path}: WAV data chunk before any fmt chunk`);
      if (fmt.blockAlign === 0 || fmt.channels === 0) throw new Error(`${path}: WAV fmt chunk has no frame size`);
      return { ...fmt, riffSize: head.readUInt32LE(4), dataSizeOffset: off + 4, dataSize: size };
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
    const stated = Math.min(data, MAX_DATA - (MAX_DATA % w.blockAlign), 0xffffffff + 8 - dataStart);
    const sizes = Buffer.alloc(4);
    sizes.writeUInt32LE(dataStart + stated - 8, 0);
    fs.writeSync(fd, sizes, 0, 4, 4);
    sizes.writeUInt32LE(stated, 0);
    fs.writeSync(fd, sizes, 0, 4, w.dataSizeOffset);
    return { repaired: true, frames: data / w.blockAlign, ...result };
  });
}

/** The whole file as 16-bit PCM (header sizes trusted, clipped to the file's length). For tests and tools. */
export function readWav(path: string): WavFormat & { samples: Int16Array } {
  return withFile(path, 'r', (fd, length) => {
    const w = parseHeader(fd, path, length);
    const pcm = w.format === 1 || w.format === 0xfffe;
    if (!pcm || w.bitsPerSample !== 16) throw new Error(`${path}: only 16-bit PCM WAV is supported (format ${w.format}, ${w.bitsPerSample} bits)`);
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
    if (!HOST_LE) buf.swap16();
    const samples = new Int16Array(bytes / 2);
    new Uint8Array(samples.buffer).set(buf);
    return { sampleRate: w.sampleRate, channels: w.channels, samples };
  });
}
