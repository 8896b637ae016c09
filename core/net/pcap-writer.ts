/**
 * Streaming capture writers: classic pcap (`PcapWriter`) and pcapng with several interfaces (`PcapngWriter`).
 *
 * Records are appended into large chunks (4 MiB by default) that go to the file through a WriteStream, so
 * memory stays bounded whatever the file size. write() never blocks: a producer that can outrun the disk
 * checks `needsDrain` now and then and awaits drain(). Hot producers may skip the copy of write() by calling
 * beginRecord() and filling `buf` at the returned offset themselves.
 */
import * as fs from 'node:fs';
import { ErrorCodes, TaplineError } from '../errors';
import { PcapMagic } from './pcap-format';
import { BlockType, BYTE_ORDER_MAGIC } from './pcapng-format';

export const WRITER_CHUNK_SIZE = 4 * 1024 * 1024;
/** Chunks kept in flight before needsDrain turns true (the disk writes one while we fill the next). */
const CHUNKS_IN_FLIGHT = 4;

export interface ChunkedWriterOptions {
  /** Bytes per chunk handed to the file system. */
  chunkSize?: number;
}

/** Chunk buffering, backpressure and error reporting shared by both formats. */
abstract class ChunkedFileWriter {
  /** Frames written so far. */
  frames = 0;
  protected chunk: Buffer;
  protected pos = 0;
  private readonly stream: fs.WriteStream;
  private readonly chunkSize: number;
  private readonly pool: Buffer[] = [];
  private failure: Error | undefined;
  private closed: Promise<void> | undefined;

  constructor(readonly path: string, opts: ChunkedWriterOptions = {}) {
    this.chunkSize = Math.max(64 * 1024, Math.floor(opts.chunkSize ?? WRITER_CHUNK_SIZE));
    let fd: number;
    try {
      fd = fs.openSync(path, 'w'); // open now so a bad path fails in the constructor, not later
    } catch (e) {
      throw ioError(path, 'open', e);
    }
    this.stream = fs.createWriteStream(path, { fd, highWaterMark: this.chunkSize * CHUNKS_IN_FLIGHT });
    this.stream.on('error', (e: Error) => {
      this.failure ??= e;
    });
    this.chunk = Buffer.allocUnsafeSlow(this.chunkSize);
  }

  /** The current chunk; valid for the offset beginRecord() returned until the next write or beginRecord(). */
  get buf(): Buffer {
    return this.chunk;
  }

  /** True when enough chunks wait for the disk that the producer should await drain(). */
  get needsDrain(): boolean {
    return this.stream.writableNeedDrain;
  }

  /** Resolves once the queued chunks fall below the high-water mark (at once when they already are). */
  drain(): Promise<void> {
    this.check();
    if (!this.stream.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        if (this.failure !== undefined) reject(ioError(this.path, 'write', this.failure));
        else resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('error', done);
    });
  }

  /** Flush the last chunk and close the file; idempotent. Rejects with CAPTURE_IO on any write error. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve, reject) => {
      this.flush();
      this.chunk = Buffer.alloc(0); // every later record misses the fast path and fails in room()
      this.stream.end(() => {
        if (this.failure !== undefined) reject(ioError(this.path, 'write', this.failure));
        else resolve();
      });
      this.stream.once('error', (e: Error) => reject(ioError(this.path, 'write', e)));
    });
    return this.closed;
  }

  /** Make room for `need` contiguous bytes at `pos`. */
  protected room(need: number): void {
    this.check();
    if (this.pos + need <= this.chunk.length) return;
    this.flush();
    // A record bigger than a chunk gets a one-off buffer of its own.
    if (need > this.chunk.length) this.chunk = Buffer.allocUnsafeSlow(need);
  }

  private flush(): void {
    if (this.pos === 0) return;
    const full = this.chunk;
    const reusable = full.length === this.chunkSize;
    this.stream.write(full.subarray(0, this.pos), () => {
      if (reusable && this.pool.length <= CHUNKS_IN_FLIGHT) this.pool.push(full);
    });
    this.chunk = this.pool.pop() ?? Buffer.allocUnsafeSlow(this.chunkSize);
    this.pos = 0;
  }

  private check(): void {
    if (this.closed !== undefined) throw new TaplineError(ErrorCodes.CAPTURE_IO, `${this.path}: write after close`, { file: this.path });
    if (this.failure !== undefined) throw ioError(this.path, 'write', this.failure);
  }
}

export interface PcapWriterOptions extends ChunkedWriterOptions {
  /** Nanosecond timestamps (magic a1b23c4d) instead of microseconds. */
  nanosecond?: boolean;
  snaplen?: number;
}

/** Classic libpcap, little-endian, one link type for the whole file. */
export class PcapWriter extends ChunkedFileWriter {
  private readonly nanos: boolean;

  constructor(path: string, readonly linkType = 1, opts: PcapWriterOptions = {}) {
    super(path, opts);
    this.nanos = opts.nanosecond === true;
    const b = this.chunk;
    b.writeUInt32LE(this.nanos ? PcapMagic.NANO : PcapMagic.MICRO, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeUInt32LE(0, 8); // thiszone
    b.writeUInt32LE(0, 12); // sigfigs
    b.writeUInt32LE(opts.snaplen ?? 262144, 16);
    b.writeUInt32LE(linkType, 20);
    this.pos = 24;
  }

  /** Append one frame captured at tsMicros (µs since the epoch, fractional allowed for ns files). */
  write(tsMicros: number, frame: Buffer, origLen = frame.length): void {
    const off = this.beginRecord(tsMicros, frame.length, origLen);
    frame.copy(this.chunk, off);
  }

  /** Write a record header for `len` bytes and return the offset in `buf` where the caller puts them. */
  beginRecord(tsMicros: number, len: number, origLen = len): number {
    const o = this.pos;
    if (o + 16 + len > this.chunk.length) return this.beginRecordSlow(tsMicros, len, origLen);
    const b = this.chunk;
    let sec = Math.floor(tsMicros / 1e6);
    let frac = this.nanos ? Math.round((tsMicros - sec * 1e6) * 1000) : Math.round(tsMicros - sec * 1e6);
    const unit = this.nanos ? 1e9 : 1e6;
    if (frac >= unit) {
      sec++;
      frac -= unit;
    }
    b.writeUInt32LE(sec, o);
    b.writeUInt32LE(frac, o + 4);
    b.writeUInt32LE(len, o + 8);
    b.writeUInt32LE(origLen, o + 12);
    this.pos = o + 16 + len;
    this.frames++;
    return o + 16;
  }

  private beginRecordSlow(tsMicros: number, len: number, origLen: number): number {
    this.room(16 + len);
    return this.beginRecord(tsMicros, len, origLen);
  }
}

export interface PcapngInterface {
  linkType: number;
  name?: string;
  snaplen?: number;
  /** Nanosecond resolution (if_tsresol = 9) instead of the default microseconds. */
  nanosecond?: boolean;
}

/** pcapng: one section, the given interfaces, Enhanced Packet Blocks (little-endian). */
export class PcapngWriter extends ChunkedFileWriter {
  private readonly nanos: boolean[];

  constructor(path: string, interfaces: readonly PcapngInterface[] = [{ linkType: 1 }], opts: ChunkedWriterOptions = {}) {
    super(path, opts);
    this.nanos = interfaces.map((i) => i.nanosecond === true);
    const shbBody = Buffer.alloc(16);
    shbBody.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
    shbBody.writeUInt16LE(1, 4);
    shbBody.writeUInt16LE(0, 6);
    shbBody.writeInt32LE(-1, 8); // section length unknown: we stream
    shbBody.writeInt32LE(-1, 12);
    this.block(BlockType.SHB, Buffer.concat([shbBody, options([[4, Buffer.from('tapline')]])]));
    interfaces.forEach((itf, i) => {
      const fixed = Buffer.alloc(8);
      fixed.writeUInt16LE(itf.linkType, 0);
      fixed.writeUInt32LE(itf.snaplen ?? 262144, 4);
      const opts: Array<[number, Buffer]> = [[2, Buffer.from(itf.name ?? `if${i}`)]];
      if (itf.nanosecond === true) opts.push([9, Buffer.from([9])]);
      this.block(BlockType.IDB, Buffer.concat([fixed, options(opts)]));
    });
  }

  write(tsMicros: number, frame: Buffer, interfaceId = 0, origLen = frame.length): void {
    const off = this.beginRecord(tsMicros, frame.length, interfaceId, origLen);
    frame.copy(this.chunk, off);
  }

  /** Write an EPB around `len` bytes and return the offset in `buf` where the caller puts them. */
  beginRecord(tsMicros: number, len: number, interfaceId = 0, origLen = len): number {
    const nanos = this.nanos[interfaceId];
    if (nanos === undefined) throw new TaplineError(ErrorCodes.USAGE, `${this.path}: no pcapng interface ${interfaceId}`);
    const padded = (len + 3) & ~3;
    const total = 32 + padded;
    this.room(total);
    const b = this.chunk;
    const o = this.pos;
    let hi: number;
    let lo: number;
    if (nanos) {
      const units = BigInt(Math.floor(tsMicros)) * 1000n + BigInt(Math.round((tsMicros % 1) * 1000));
      hi = Number(units >> 32n);
      lo = Number(units & 0xffffffffn);
    } else {
      const units = Math.round(tsMicros); // < 2^53: exact
      hi = Math.floor(units / 4294967296);
      lo = units - hi * 4294967296;
    }
    b.writeUInt32LE(BlockType.EPB, o);
    b.writeUInt32LE(total, o + 4);
    b.writeUInt32LE(interfaceId, o + 8);
    b.writeUInt32LE(hi, o + 12);
    b.writeUInt32LE(lo, o + 16);
    b.writeUInt32LE(len, o + 20);
    b.writeUInt32LE(origLen, o + 24);
    b.fill(0, o + 28 + len, o + 28 + padded);
    b.writeUInt32LE(total, o + 28 + padded);
    this.pos = o + total;
    this.frames++;
    return o + 28;
  }

  private block(type: number, body: Buffer): void {
    const padded = (body.length + 3) & ~3;
    const total = 12 + padded;
    this.room(total);
    const b = this.chunk;
    const o = this.pos;
    b.writeUInt32LE(type, o);
    b.writeUInt32LE(total, o + 4);
    body.copy(b, o + 8);
    b.fill(0, o + 8 + body.length, o + 8 + padded);
    b.writeUInt32LE(total, o + 8 + padded);
    this.pos = o + total;
  }
}

function options(opts: ReadonlyArray<[number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of opts) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(code, 0);
    h.writeUInt16LE(value.length, 2);
    parts.push(h, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  }
  parts.push(Buffer.alloc(4)); // opt_endofopt
  return Buffer.concat(parts);
}

function ioError(path: string, op: string, e: unknown): TaplineError {
  const msg = e instanceof Error ? e.message : String(e);
  return new TaplineError(ErrorCodes.CAPTURE_IO, `${path}: cannot ${op}: ${msg}`, { file: path, op }, e);
}
