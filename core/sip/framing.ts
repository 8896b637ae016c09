/**
 * SIP over TCP/TLS framing (RFC 3261 §18.3): messages are delimited by Content-Length alone.
 * CRLF keep-alives (RFC 5626 §4.4.1) are skipped; bytes that never form a start line are dropped up to the next
 * line that looks like one and reported once per stretch; memory is bounded by `maxBuffer` whatever the peer sends.
 */
import { ErrorCodes, TaplineError, isTaplineError } from '../errors';
import { isToken, trimLws } from './headers';
import { parseSipMessage } from './parser';
import type { SipMessage } from './types';

export interface FramerOptions {
  /** Largest message (headers + body) kept in memory; bigger ones are skipped and reported. Default 1 MiB. */
  maxBuffer?: number;
  /** Parse messages leniently (see ParseOptions.lenient). */
  lenient?: boolean;
  /**
   * Called for each CRLFCRLF keep-alive "ping" between messages (RFC 5626 §4.4.1), in stream order, however the
   * bytes were split: a server answers each with a CRLF "pong".
   */
  onKeepAlive?: () => void;
}

export type FramerOutput = Array<SipMessage | TaplineError>;

/** Input is copied in slices so one huge chunk cannot bypass the bound. */
const SLICE = 64 * 1024;

function framingError(message: string, reason: string, extra: Record<string, unknown> = {}): TaplineError {
  return new TaplineError(ErrorCodes.SIP_PARSE, message, { reason, ...extra });
}

export class SipStreamFramer {
  private readonly maxBuffer: number;
  private readonly lenient: boolean;
  private readonly maxLine: number;
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  /** Body bytes of an oversized message still to be thrown away as they arrive. */
  private skip = 0;
  /** Bytes dropped since the last good start line, reported when the stream resynchronises. */
  private garbage = 0;
  /** The buffered data begins with a plausible start line. */
  private lineOk = false;
  /** Where the empty-line search resumes, relative to `start`. */
  private headScan = 0;
  private readonly onKeepAlive: (() => void) | undefined;
  /** How much of "\r\n\r\n" the CR/LF bytes skipped since the last message have matched (0–3). */
  private pingMatch = 0;
  /** Lenient: inside a header line too long to keep, whose bytes are dropped up to its end (see drain()). */
  private inLongLine = false;
  private longLineBytes = 0;
  /** Lenient: what was dropped from the message being framed, said in its warnings. */
  private repairs: string[] = [];

  constructor(opts: FramerOptions = {}) {
    this.maxBuffer = Math.max(1024, opts.maxBuffer ?? 1024 * 1024);
    this.lenient = opts.lenient === true;
    this.maxLine = Math.min(this.maxBuffer, SLICE);
    this.onKeepAlive = opts.onKeepAlive;
  }

  /** Bytes held while waiting for the rest of a message. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Feeds bytes from the stream; returns every message (or framing/parse error) completed by them, in order. */
  push(chunk: Buffer): FramerOutput {
    return this.feed(chunk, true) as FramerOutput;
  }

  /**
   * Like push(), without parsing: each complete message as its own copy of the bytes on the wire (start line to
   * end of body), for callers that hand messages on as received. Only framing errors are reported.
   */
  pushFrames(chunk: Buffer): Array<Buffer | TaplineError> {
    return this.feed(chunk, false) as Array<Buffer | TaplineError>;
  }

  private feed(chunk: Buffer, parse: boolean): Array<SipMessage | TaplineError | Buffer> {
    const out: Array<SipMessage | TaplineError | Buffer> = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, chunk.length - off);
        this.skip -= k;
        off += k;
        continue;
      }
      if (this.inLongLine) {
        // The rest of an over-long header line goes, its line end with it; the message continues after it.
        const lf = chunk.indexOf(10, off);
        const to = lf < 0 ? chunk.length : lf + 1;
        this.longLineBytes += to - off;
        off = to;
        if (lf >= 0) {
          this.inLongLine = false;
          this.repairs.push(`repaired: a header line of ${this.longLineBytes} bytes left out (longer than ${this.maxLine})`);
          this.longLineBytes = 0;
        }
        continue;
      }
      const piece = chunk.subarray(off, off + SLICE);
      off += piece.length;
      this.append(piece);
      this.drain(out, parse);
    }
    return out;
  }

  /** End of stream: reports whatever incomplete message or garbage is left, then resets. */
  flush(): FramerOutput {
    const out: FramerOutput = [];
    if (this.skip > 0) out.push(framingError(`stream ended ${this.skip} bytes before the end of an oversized message body`, 'stream-truncated', { missing: this.skip }));
    let rest = this.end - this.start;
    if (!this.lineOk && this.buf.subarray(this.start, this.end).every((b) => b === 13 || b === 10)) rest = 0; // keep-alives
    if (rest > 0 && this.lineOk) out.push(framingError(`stream ended inside a message (${rest} bytes buffered)`, 'stream-truncated', { bytes: rest }));
    else this.garbage += rest;
    this.reportGarbage(out);
    this.skip = 0;
    this.start = this.end = 0;
    this.lineOk = false;
    this.headScan = 0;
    return out;
  }

  private append(piece: Buffer): void {
    const len = this.end - this.start;
    if (this.end + piece.length > this.buf.length) {
      if (len + piece.length <= this.buf.length) this.buf.copy(this.buf, 0, this.start, this.end);
      else {
        const grown = Buffer.allocUnsafe(Math.max(4096, this.buf.length * 2, len + piece.length));
        this.buf.copy(grown, 0, this.start, this.end);
        this.buf = grown;
      }
      this.start = 0;
      this.end = len;
    }
    piece.copy(this.buf, this.end);
    this.end += piece.length;
  }

  private reportGarbage(out: Array<SipMessage | TaplineError | Buffer>): void {
    if (this.garbage === 0) return;
    out.push(framingError(`discarded ${this.garbage} bytes that are not a SIP message`, 'stream-garbage', { bytes: this.garbage }));
    this.garbage = 0;
  }

  private nextMessage(): void {
    this.lineOk = false;
    this.headScan = 0;
    this.pingMatch = 0;
  }

  /** Follows skipped CR/LF bytes through "\r\n\r\n"; a complete one is a ping. */
  private keepAliveByte(b: number): void {
    const want = this.pingMatch % 2 === 0 ? 13 : 10;
    if (b === want) this.pingMatch++;
    else this.pingMatch = b === 13 ? 1 : 0;
    if (this.pingMatch === 4) {
      this.pingMatch = 0;
      this.onKeepAlive?.();
    }
  }

  private drain(out: Array<SipMessage | TaplineError | Buffer>, parse: boolean): void {
    for (;;) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, this.end - this.start);
        this.start += k;
        this.skip -= k;
        if (this.skip > 0) break;
      }
      if (!this.lineOk) {
        while (this.start < this.end && (this.buf[this.start] === 13 || this.buf[this.start] === 10)) {
          if (this.onKeepAlive !== undefined) this.keepAliveByte(this.buf[this.start] as number);
          this.start++;
        }
        if (this.start === this.end) break;
        this.pingMatch = 0;
      }
      const view = this.buf.subarray(this.start, this.end);
      if (!this.lineOk) {
        const lf = view.indexOf(10);
        if (lf < 0) {
          if (view.length > this.maxLine) {
            this.garbage += view.length;
            this.start = this.end;
          }
          break;
        }
        const line = view.toString('latin1', 0, view[lf - 1] === 13 ? lf - 1 : lf);
        if (!looksLikeStartLine(line)) {
          this.garbage += lf + 1;
          this.start += lf + 1;
          if (this.garbage >= this.maxBuffer) this.reportGarbage(out);
          continue;
        }
        this.reportGarbage(out);
        this.lineOk = true;
      }
      const head = findHeadEnd(view, this.headScan);
      if (head === undefined) {
        const lineStart = view.lastIndexOf(10) + 1;
        if (this.lenient && lineStart > 0 && view.length - lineStart > this.maxLine) {
          // One header line longer than any real one (a 1 MB header): it is left out and the message kept, so
          // the call is not lost to a header the recorder does not need; the rest of the line is dropped as it comes.
          this.longLineBytes = view.length - lineStart;
          this.end = this.start + lineStart;
          this.inLongLine = true;
          this.headScan = Math.max(0, lineStart - 3);
          break;
        }
        if (view.length > this.maxBuffer) {
          out.push(framingError(`header section longer than ${this.maxBuffer} bytes`, 'stream-oversized', { bytes: view.length }));
          this.start += view.indexOf(10) + 1; // drop the start line, resynchronise on what follows
          this.nextMessage();
          continue;
        }
        this.headScan = Math.max(0, view.length - 3);
        break;
      }
      const cl = contentLength(view.toString('latin1', 0, head.textEnd));
      if (typeof cl === 'string') {
        out.push(framingError(`${cl} on a stream: the message cannot be framed`, 'stream-content-length'));
        this.start += head.bodyStart; // the body, if any, is resynchronised over as garbage
        this.nextMessage();
        continue;
      }
      const total = head.bodyStart + cl;
      if (total > this.maxBuffer) {
        out.push(framingError(`message of ${total} bytes exceeds the ${this.maxBuffer}-byte limit; skipped`, 'stream-oversized', { bytes: total }));
        this.start += head.bodyStart;
        this.skip = cl;
        this.nextMessage();
        continue;
      }
      if (view.length < total) break;
      // Copy: the returned message and its body must not alias the reusable buffer.
      const copy = Buffer.from(view.subarray(0, total));
      this.start += total;
      this.nextMessage();
      if (!parse) {
        out.push(copy);
        continue;
      }
      const repairs = this.repairs;
      this.repairs = [];
      try {
        const msg = parseSipMessage(copy, { transport: 'stream', lenient: this.lenient });
        if (repairs.length > 0) msg.warnings = [...(msg.warnings ?? []), ...repairs];
        out.push(msg);
      } catch (e) {
        out.push(isTaplineError(e) ? e : framingError(`SIP parser failed: ${String(e)}`, 'internal', { cause: e }));
      }
    }
    if (this.start === this.end) this.start = this.end = 0;
  }
}

/** Offsets of the empty line ending the header section (CRLF or bare LF), searching from `from`. */
function findHeadEnd(view: Buffer, from: number): { textEnd: number; bodyStart: number } | undefined {
  for (let p = from; ; ) {
    const lf = view.indexOf(10, p);
    if (lf < 0) return undefined;
    const b = view[lf + 1];
    if (b === 10) return { textEnd: lf, bodyStart: lf + 2 };
    if (b === 13 && view[lf + 2] === 10) return { textEnd: lf, bodyStart: lf + 3 };
    p = lf + 1;
  }
}

/** The Content-Length value, or a sentence saying why there is none usable. */
function contentLength(head: string): number | string {
  let found: string | undefined;
  for (const raw of head.split('\n')) {
    const colon = raw.indexOf(':');
    if (colon <= 0 || raw.charCodeAt(0) === 32 || raw.charCodeAt(0) === 9) continue;
    // No regex here: /[ \t]+$/ backtracks quadratically on long runs of spaces.
    const name = trimLws(raw.slice(0, colon)).toLowerCase();
    if (name !== 'content-length' && name !== 'l') continue;
    const v = trimLws(raw.endsWith('\r') ? raw.slice(colon + 1, -1) : raw.slice(colon + 1));
    if (found !== undefined && v !== found) return 'conflicting Content-Length headers';
    found = v;
  }
  if (found === undefined) return 'no Content-Length';
  if (!/^\d{1,15}$/.test(found)) return `invalid Content-Length '${found.slice(0, 30)}'`;
  return Number(found);
}

/** Cheap plausibility test used for resynchronisation; the parser does the real validation. */
function looksLikeStartLine(line: string): boolean {
  if (line.startsWith('SIP/')) return /^SIP\/\d+\.\d+ \d/.test(line);
  const sp = line.indexOf(' ');
  if (sp <= 0 || !isToken(line.slice(0, sp))) return false;
  const v = line.toUpperCase().lastIndexOf(' SIP/');
  return v > sp && /^ SIP\/\d+\.\d+[ \t]*$/.test(line.slice(v).toUpperCase());
}
