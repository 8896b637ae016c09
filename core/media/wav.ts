/**
 * Crash-safe 16-bit PCM WAV files. The writer keeps the header's sizes at most `syncEverySec` behind the data,
 * so a recorder killed mid-call leaves a playable file; repairWav() makes the header exact again afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

const HEADER_BYTES = 44;
/** RIFF sizes are 32-bit: the largest whole-frame data size whose RIFF size (data + 36) still fits. */
const MAX_DATA = 0xffffffd8;
/** Int16Array bytes are in host order; WAV is little-endian. */
const HOST_LE = os.endianness() === 'LE';

export interface WavWriterOptions {
  sampleRate: number;
  channels: 1 | 2;
  /** Rewrite the header sizes after at least this much audio (seconds); default 1. */
  syncEverySec?: number;
  /**
   * Hand the writes to libuv's thread pool (fs.write): the capture thread never waits for the disk. The header
   * is rewritten once the data before it has landed; close() finishes when the last write has. Await
   * WavWriter.settled() before reading the file.
   */
  background?: boolean;
}

/** Background writes not yet completed, across all writers, and who waits for none. */
let inflightTotal = 0;
let settledWaiters: Array<() => void> = [];
function inflightDone(): void {
  if (--inflightTotal === 0) {
    const w = settledWaiters;
    settledWaiters = [];
    for (const f of w) f();
  }
}

export interface WavFormat {
  sampleRate: number;
  channels: number;
}

function header(sampleRate: number, channels: number, dataBytes: number): Buffer {
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

function toLeBytes(pcm: Int16Array): Buffer {
  const view = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  if (HOST_LE) return view;
  const copy = Buffer.from(view);
  copy.swap16();
  return copy;
}

/**
 * Audio gathered before one write(2): up to `syncEverySec` of it, within these bounds. A data write costs about
 * the same (~70 µs here) from 4 to 32 KiB, so fewer, larger writes save time (24 KiB: a thousand calls' buffers
 * are 24 MiB). A header rewrite (one cached page) is cheap and follows every data write, so the header never
 * claims bytes that are not in the file.
 */
const MIN_BUFFER_BYTES = 4 * 1024;
const MAX_BUFFER_BYTES = 24 * 1024;

export class WavWriter {
  private fd: number | undefined;
  private dataBytes = 0;
  /** Bytes already written to the file (dataBytes minus what is still buffered). */
  private fileBytes = 0;
  private pending: Buffer = Buffer.allocUnsafe(0);
  private pendingLen = 0;
  private readonly bufferBytes: number;
  private readonly frameBytes: number;
  /** Header bytes 4..43, rewritten on every sync. */
  private readonly headerTail: Buffer;
  /** Background mode: writes issued and not completed for this file, the first error, and a close waiting. */
  private inflight = 0;
  private failure: Error | undefined;
  private closeWhenDone = false;

  /** Resolves once every background write of every writer has completed (at once when none is pending). */
  static settled(): Promise<void> {
    if (inflightTotal === 0) return Promise.resolve();
    return new Promise((resolve) => settledWaiters.push(resolve));
  }

  constructor(
    readonly path: string,
    private readonly opts: WavWriterOptions,
  ) {
    if (!Number.isInteger(opts.sampleRate) || opts.sampleRate <= 0) throw new Error(`WAV sample rate must be a positive integer, got ${opts.sampleRate}`);
    if (opts.channels !== 1 && opts.channels !== 2) throw new Error(`WAV channels must be 1 or 2, got ${String(opts.channels)}`);
    this.frameBytes = opts.channels * 2;
    const perSync = Math.round((opts.syncEverySec ?? 1) * opts.sampleRate) * this.frameBytes;
    this.bufferBytes = Math.min(MAX_BUFFER_BYTES, Math.max(MIN_BUFFER_BYTES, perSync - (perSync % this.frameBytes)));
    this.headerTail = header(opts.sampleRate, opts.channels, 0).subarray(4, HEADER_BYTES);
    this.fd = fs.openSync(path, 'w');
    try {
      fs.writeSync(this.fd, header(opts.sampleRate, opts.channels, 0), 0, HEADER_BYTES, 0);
    } catch (e) {
      fs.closeSync(this.fd);
      this.fd = undefined;
      throw e;
    }
  }

  /** Frames (samples per channel) written so far. */
  get frames(): number {
    return this.dataBytes / this.frameBytes;
  }

  /** Append interleaved samples (a whole number of frames). */
  write(interleaved: Int16Array): void {
    if (this.fd === undefined || this.closeWhenDone) throw new Error(`WAV ${this.path} is closed`);
    if (this.failure !== undefined) throw new Error(`WAV ${this.path}: ${this.failure.message}`);
    if (interleaved.length % this.opts.channels !== 0) {
      throw new Error(`WAV write of ${interleaved.length} samples is not a whole number of ${this.opts.channels}-channel frames`);
    }
    if (interleaved.length === 0) return;
    const bytes = toLeBytes(interleaved);
    this.dataBytes += bytes.length;
    if (this.pendingLen + bytes.length > this.bufferBytes) this.sync();
    if (bytes.length >= this.bufferBytes) {
      // A background write outlives this call, and the caller may reuse its array.
      this.writeAt(this.opts.background === true && bytes.buffer === interleaved.buffer ? Buffer.from(bytes) : bytes, bytes.length);
      this.writeHeader();
    } else {
      if (this.pending.length === 0) this.pending = Buffer.allocUnsafe(this.bufferBytes);
      bytes.copy(this.pending, this.pendingLen);
      this.pendingLen += bytes.length;
      if (this.pendingLen === this.bufferBytes) this.sync();
    }
  }

  /** Positional writes: data order does not depend on the header rewrites in between. */
  private writeAt(buf: Buffer, len: number): void {
    if (this.opts.background === true) {
      this.writeInBackground(buf, len);
      return;
    }
    let done = 0;
    while (done < len) done += fs.writeSync(this.fd!, buf, done, len - done, HEADER_BYTES + this.fileBytes + done);
    this.fileBytes += len;
  }

  private flushPending(): void {
    if (this.pendingLen === 0 || this.fd === undefined) return;
    this.writeAt(this.pending, this.pendingLen);
    this.pendingLen = 0;
    // The thread pool owns that buffer until its write completes.
    if (this.opts.background === true) this.pending = Buffer.allocUnsafe(0);
  }

  private writeInBackground(buf: Buffer, len: number): void {
    const fd = this.fd!;
    const at = HEADER_BYTES + this.fileBytes;
    this.fileBytes += len;
    this.inflight++;
    inflightTotal++;
    const issue = (off: number): void => {
      fs.write(fd, buf, off, len - off, at + off, (err, n) => {
        if (err === null && off + n < len) return issue(off + n); // short write: the rest
        if (err !== null) this.failure ??= err;
        this.inflight--;
        // Everything issued has landed: the header may claim it (a synchronous 40-byte write of a cached page).
        if (this.inflight === 0 && this.failure === undefined && this.fd !== undefined) this.writeHeaderNow();
        if (this.inflight === 0 && this.closeWhenDone) this.finishClose();
        inflightDone();
      });
    };
    issue(0);
  }

  /** Write buffered samples, then rewrite the RIFF and data sizes for what is in the file. */
  sync(): void {
    if (this.fd === undefined) return;
    const before = this.fileBytes;
    this.flushPending();
    if (this.fileBytes !== before) this.writeHeader();
  }

  private writeHeader(): void {
    // In the background the header follows when the data has landed (writeInBackground's callback).
    if (this.opts.background !== true || this.inflight === 0) this.writeHeaderNow();
  }

  /** Bytes 4..43 of the header in one write: the RIFF size, the unchanged fmt chunk, and the data size on disk. */
  private writeHeaderNow(): void {
    const h = this.headerTail;
    h.writeUInt32LE(riffSize(this.fileBytes), 0);
    h.writeUInt32LE(dataSize(this.fileBytes), 36);
    fs.writeSync(this.fd!, h, 0, 40, 4);
  }

  /** Final header and close; idempotent. In the background, completes when the last write has. */
  close(): void {
    if (this.fd === undefined || this.closeWhenDone) return;
    if (this.opts.background === true) {
      this.flushPending();
      this.closeWhenDone = true;
      if (this.inflight === 0) this.finishClose();
      return;
    }
    const fd = this.fd;
    try {
      this.sync();
    } finally {
      this.fd = undefined;
      fs.closeSync(fd);
    }
  }

  private finishClose(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    try {
      if (this.failure === undefined) {
        const h = this.headerTail;
        h.writeUInt32LE(riffSize(this.fileBytes), 0);
        h.writeUInt32LE(dataSize(this.fileBytes), 36);
        fs.writeSync(fd, h, 0, 40, 4);
      }
    } finally {
      fs.closeSync(fd);
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
