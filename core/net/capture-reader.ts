/**
 * Streaming reader for classic pcap and pcapng files.
 *
 * The file is read in chunks (1 MiB by default) with one read always in flight ahead of the parser, so
 * memory stays bounded whatever the file size. Each frame's `data` is a view into the chunk it came from:
 * chunks are never reused, so the view stays valid, but keeping it pins that chunk. Code that buffers
 * frames for long (reassembly) copies the bytes it keeps.
 */
import * as fs from 'node:fs';
import { ErrorCodes, TaplineError } from '../errors';
import { DETECT_LEN, openCapture } from './capture-detect';
import { MAX_CAPLEN, type CaptureFormat, type RecordParser, type SkipCallback } from './record-parser';
import type { RawFrame } from './types';

export type { CaptureFormat } from './record-parser';

/**
 * 1 MiB: a chunk is freed only when V8 collects the last view of it, and views promoted with the objects that hold
 * them pin whole chunks until a full collection. With 4 MiB chunks 60-90 MB of them waited there on a 230 MB
 * capture; with 1 MiB, 6-16 MB, and reading was no slower.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

export interface ReadCaptureOptions {
  /** Stops reading between chunks; the promise then resolves with `aborted: true` and what was read. */
  signal?: AbortSignal;
  /** Called after each chunk with the bytes parsed so far and the file size. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Records that were readable but not delivered (e.g. a pcapng packet for an undefined interface). */
  onSkip?: (reason: string, detail: string) => void;
  /** Bytes per read; tests use tiny values to cross record boundaries at every offset. */
  chunkSize?: number;
  /** Flow control: awaited between chunks when it returns a promise (the pipeline's storage is behind). */
  waitWritable?: () => Promise<void> | undefined;
}

export interface ReadCaptureResult {
  frames: number;
  /** Bytes of the file parsed (the file size when it was read to the end without problem). */
  bytes: number;
  format: CaptureFormat;
  /** Why reading ended early ("truncated at byte N (record K)", a corrupt length...); frames before it were delivered. */
  warning?: string;
  /** True when opts.signal stopped the read. */
  aborted?: boolean;
}

/** Read every frame of a capture file, calling onFrame synchronously in file order. */
export async function readCapture(
  path: string,
  onFrame: (f: RawFrame) => void,
  opts: ReadCaptureOptions = {},
): Promise<ReadCaptureResult> {
  const chunkSize = Math.max(1, Math.floor(opts.chunkSize ?? DEFAULT_CHUNK_SIZE));
  let fh: fs.promises.FileHandle;
  let size: number;
  try {
    fh = await fs.promises.open(path, 'r');
  } catch (e) {
    throw ioError(path, 'open', e);
  }
  const reader = new ChunkReader(fh, path, chunkSize);
  try {
    try {
      size = (await fh.stat()).size;
    } catch (e) {
      throw ioError(path, 'stat', e);
    }
    let win: Window = { buf: Buffer.alloc(0), pos: 0, end: 0, base: 0 };
    // Gather enough bytes to recognise the format (only tiny test chunk sizes need more than one read).
    while (win.end - win.pos < DETECT_LEN) {
      const next = await reader.next();
      if (next === null) break;
      win = append(win, next, reader.headroom);
    }
    const { parser, headerLen } = openCapture(win.buf.subarray(win.pos), win.end - win.pos, path, opts.onSkip);
    win.pos += headerLen;
    let warning: string | undefined;
    let aborted = false;
    for (;;) {
      if (opts.signal?.aborted) {
        aborted = true;
        break;
      }
      win.pos = parser.parse(win.buf, win.pos, win.end, win.base, onFrame);
      opts.onProgress?.(win.base + win.pos, size);
      const wait = opts.waitWritable?.();
      if (wait !== undefined) await wait;
      if (parser.corrupt !== undefined) {
        warning = parser.corrupt;
        break;
      }
      const next = await reader.next();
      if (next === null) {
        if (win.pos < win.end) warning = truncation(parser, path, win.base + win.pos);
        break;
      }
      win = append(win, next, reader.headroom);
    }
    return result(parser, win.base + win.pos, warning, aborted);
  } finally {
    await reader.close();
  }
}

/** The same parse over bytes already in memory (tests, small captures received over the network). */
export function readCaptureBuffer(
  buf: Buffer,
  onFrame: (f: RawFrame) => void,
  opts: { onSkip?: SkipCallback; name?: string } = {},
): ReadCaptureResult {
  const name = opts.name ?? '<buffer>';
  const { parser, headerLen } = openCapture(buf, Math.min(buf.length, DETECT_LEN), name, opts.onSkip);
  const pos = parser.parse(buf, headerLen, buf.length, 0, onFrame);
  let warning = parser.corrupt;
  if (warning === undefined && pos < buf.length) warning = truncation(parser, name, pos);
  return result(parser, pos, warning, false);
}

function result(parser: RecordParser, bytes: number, warning: string | undefined, aborted: boolean): ReadCaptureResult {
  const r: ReadCaptureResult = { frames: parser.frames, bytes, format: parser.format };
  if (warning !== undefined) r.warning = warning;
  if (aborted) r.aborted = true;
  return r;
}

/** Warning for a file that ends inside a record; a pcapng file cut inside its first SHB is no capture at all. */
function truncation(parser: RecordParser, file: string, offset: number): string {
  if (parser.format === 'pcapng' && parser.records === 0) {
    throw new TaplineError(ErrorCodes.CAPTURE_TRUNCATED, `${file}: truncated inside the pcapng section header block`, { file });
  }
  return `truncated at byte ${offset} (record ${parser.records + 1})`;
}

function ioError(file: string, op: string, e: unknown): TaplineError {
  const msg = e instanceof Error ? e.message : String(e);
  return new TaplineError(ErrorCodes.CAPTURE_IO, `cannot ${op} capture ${file}: ${msg}`, { file }, e);
}

/** Unparsed bytes buf[pos, end); base is the file offset of buf[0]. */
interface Window {
  buf: Buffer;
  pos: number;
  end: number;
  base: number;
}

interface Chunk {
  /** Data is at buf[headroom, headroom + length). */
  buf: Buffer;
  length: number;
  /** File offset of the chunk's first data byte. */
  fileOffset: number;
}

/** Put the unparsed tail of `win` in front of `c`: in the chunk's headroom when it fits (no extra copy of the chunk). */
function append(win: Window, c: Chunk, headroom: number): Window {
  const tail = win.end - win.pos;
  if (tail <= headroom) {
    win.buf.copy(c.buf, headroom - tail, win.pos, win.end);
    return { buf: c.buf, pos: headroom - tail, end: headroom + c.length, base: c.fileOffset - headroom };
  }
  // A record longer than the headroom (big pcapng block, tiny test chunks): build one buffer holding both.
  const buf = Buffer.allocUnsafe(tail + c.length);
  win.buf.copy(buf, 0, win.pos, win.end);
  c.buf.copy(buf, tail, headroom, headroom + c.length);
  return { buf, pos: 0, end: tail + c.length, base: c.fileOffset - tail };
}

/** Sequential reads with the next one already issued while the caller parses the current chunk. */
class ChunkReader {
  /** Free space in front of each chunk, where the previous chunk's partial record is copied. */
  readonly headroom: number;
  private filePos = 0;
  private pending: Promise<Chunk | null> | null = null;
  private done = false;

  constructor(
    private readonly fh: fs.promises.FileHandle,
    private readonly path: string,
    private readonly chunkSize: number,
  ) {
    this.headroom = Math.min(MAX_CAPLEN + 64, chunkSize);
  }

  async next(): Promise<Chunk | null> {
    const c = await (this.pending ?? this.issue());
    this.pending = null;
    if (c === null) {
      this.done = true;
      return null;
    }
    this.filePos += c.length;
    this.pending = this.issue();
    return c;
  }

  private issue(): Promise<Chunk | null> {
    if (this.done) return Promise.resolve(null);
    const buf = Buffer.allocUnsafe(this.headroom + this.chunkSize);
    const fileOffset = this.filePos;
    return this.fh.read(buf, this.headroom, this.chunkSize, fileOffset).then(
      ({ bytesRead }) => (bytesRead === 0 ? null : { buf, length: bytesRead, fileOffset }),
      (e: unknown) => {
        throw ioError(this.path, 'read', e);
      },
    );
  }

  async close(): Promise<void> {
    // Let an in-flight read settle before closing its descriptor.
    if (this.pending !== null) await this.pending.catch(() => null);
    this.pending = null;
    await this.fh.close();
  }
}
