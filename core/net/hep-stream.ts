/**
 * HEPv3 records back to back on a byte stream (HEP over TCP or TLS): each record says its own length, so framing
 * needs only the 6-byte header. Memory is one record at most (≤ 64 KiB, or maxRecordBytes). Bytes that do not
 * start a record are fatal: a stream has no resynchronisation point, so the caller closes the connection.
 * HEPv1/v2 carry no total length and are not framed on streams (senders use them over UDP only).
 */
import { decodeHep, HEP3_HEADER_BYTES, HEP3_MAX_BYTES, type HepDecodeOptions, type HepDecodeResult, type HepFailure } from './hep';

const MAGIC = Buffer.from('HEP3', 'latin1');

export interface HepStreamOptions {
  /** Longest record accepted (default and ceiling 65535); a header announcing more is fatal ('oversize'). */
  maxRecordBytes?: number;
  decode?: HepDecodeOptions;
}

export interface HepStreamOutput {
  /** One per complete record, in order: decoded packets and records that failed to decode (framing intact). */
  results: HepDecodeResult[];
  /** Set when the stream cannot be framed any more; the reader then refuses every later push. */
  fatal?: HepFailure;
}

export class HepStreamReader {
  private readonly maxRecord: number;
  private readonly decodeOpts: HepDecodeOptions;
  private buf: Buffer | undefined;
  private len = 0;
  /** Total length of the record being gathered, once its header is in. */
  private want = 0;
  private dead: HepFailure | undefined;
  private count = 0;

  constructor(opts: HepStreamOptions = {}) {
    this.maxRecord = Math.min(HEP3_MAX_BYTES, Math.max(HEP3_HEADER_BYTES, opts.maxRecordBytes ?? HEP3_MAX_BYTES));
    this.decodeOpts = opts.decode ?? {};
  }

  /** Bytes held of a record not yet complete. */
  get buffered(): number {
    return this.len;
  }

  /** Records completed so far. */
  get records(): number {
    return this.count;
  }

  push(chunk: Buffer): HepStreamOutput {
    const results: HepDecodeResult[] = [];
    if (this.dead !== undefined) return { results, fatal: this.dead };
    let off = 0;
    while (off < chunk.length) {
      if (this.len < HEP3_HEADER_BYTES) {
        // Header bytes one by one against the magic: garbage is refused at its first byte, not 6 bytes later.
        const b = chunk[off++] as number;
        if (this.len < 4 && b !== MAGIC[this.len]) return this.kill(results, 'bad-magic', `byte ${this.len} of a record is 0x${b.toString(16).padStart(2, '0')}, not "HEP3"`);
        this.header()[this.len++] = b;
        if (this.len === HEP3_HEADER_BYTES) {
          this.want = this.header().readUInt16BE(4);
          if (this.want < HEP3_HEADER_BYTES) return this.kill(results, 'length-mismatch', `record length ${this.want} is shorter than its own header`);
          if (this.want > this.maxRecord) return this.kill(results, 'oversize', `record of ${this.want} bytes exceeds the ${this.maxRecord}-byte limit`);
        }
        if (this.len < HEP3_HEADER_BYTES || this.want > HEP3_HEADER_BYTES) continue;
      } else {
        const k = Math.min(this.want - this.len, chunk.length - off);
        chunk.copy(this.header(), this.len, off, off + k);
        this.len += k;
        off += k;
      }
      if (this.len === this.want) {
        // Copied out: the packet's payload must not alias the reused buffer.
        results.push(decodeHep(Buffer.from(this.header().subarray(0, this.want)), this.decodeOpts));
        this.count++;
        this.len = 0;
        this.want = 0;
      }
    }
    return { results };
  }

  /** End of the stream: a record cut short is reported as 'truncated'. */
  end(): HepFailure | undefined {
    if (this.dead !== undefined || this.len === 0) return undefined;
    const f: HepFailure = { ok: false, reason: 'truncated', detail: `stream ended ${this.want > 0 ? this.want - this.len : HEP3_HEADER_BYTES - this.len} bytes before the end of a record` };
    this.len = 0;
    return f;
  }

  private header(): Buffer {
    this.buf ??= Buffer.allocUnsafe(this.maxRecord);
    return this.buf;
  }

  private kill(results: HepDecodeResult[], reason: HepFailure['reason'], detail: string): HepStreamOutput {
    this.dead = { ok: false, reason, detail };
    this.buf = undefined;
    this.len = 0;
    return { results, fatal: this.dead };
  }
}
