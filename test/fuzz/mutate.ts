/**
 * A deterministic, seeded, structure-aware mutator for the fuzz harness (test/fuzz/run.ts). No coverage-guided
 * tool runs offline here, so the mutations carry the structure instead: integers written where headers keep
 * lengths (the input's own length ±1, 0, 0x7f/0x80, 0xffff, 0xffffffff, as 8/16/32-bit BE/LE), ranges inserted,
 * deleted, duplicated, repeated and spliced from another seed; and for text formats (SIP, SDP, chat bodies)
 * line and token mutations: lines duplicated, deleted and swapped, CR/LF/NUL/control characters inserted, numbers
 * made huge, values emptied, tokens from a dictionary inserted, very long runs (≤ 64 KiB).
 *
 * Everything derives from one 32-bit seed (mulberry32, from the test kit), so a run is reproduced by its seed;
 * outputs never exceed `maxSize` (256 KiB by default).
 */
import { mulberry32 } from '../../core/testing/prng';

export { mulberry32 };

export const DEFAULT_MAX_SIZE = 256 * 1024;
export const DEFAULT_MAX_LONG_TOKEN = 64 * 1024;

export interface MutateOptions {
  /** Text format: line and token mutations are mixed with the byte ones. */
  text?: boolean;
  /** Tokens worth inserting (header names, delimiters, keywords of the format). */
  dictionary?: readonly Buffer[];
  /** Largest output (default 256 KiB). */
  maxSize?: number;
  /** Longest run a "very long token" mutation inserts (default 64 KiB). */
  maxLongToken?: number;
}

/** Values worth writing into a header field. */
const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40, 0xfe, 3, 4];
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0xfffe, 1500, 65507, 4096];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x10000, 0x40000, 0x1000000, 0x00ffffff];

/** Text pieces that break line and token structure. */
const CONTROL_BYTES = [0x00, 0x0d, 0x0a, 0x09, 0x0b, 0x0c, 0x1b, 0x7f, 0x01, 0x08, 0x80, 0xc0, 0xff, 0xfe];
const CRLF_PIECES = ['\r\n', '\n', '\r', '\r\n\r\n', '\n\n', '\r\r', '\r\n ', '\r\n\t', '\0'];
const HUGE_NUMBERS = [
  '0', '-1', '-0', '00', '4294967295', '4294967296', '18446744073709551616', '99999999999999999999999999999999',
  '65535', '65536', '2147483648', '-2147483649', '9007199254740993', '1e309', 'NaN', '0x10', '1.5', '000000000000000000000000001',
  '2^31', '2^64', '65536/8000', '-65536',
];
/** Characters a "very long token" is made of (spaces and brackets are where regexes backtrack). */
const LONG_RUN_UNITS = [' ', 'a', '0', '9', '<', '>', '{', '}', '\\', ';', ',', '=', '"', "'", ':', '%', '-', '\t', '\r\n', '\n', '&', '#', '[', '@', '/', '\\par ', '<a ', '{\\', '--', '= ', '  x', 'AAAA', ', ', '\0'];

/** Byte classes that delimit tokens in SIP, SDP, MIME, RTF and HTML text. */
function isDelimiter(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a || b === 0x3b /* ; */ || b === 0x2c /* , */ || b === 0x3a /* : */ ||
    b === 0x3d /* = */ || b === 0x3c /* < */ || b === 0x3e /* > */ || b === 0x22 /* " */ || b === 0x2f /* / */ || b === 0x40 /* @ */ ||
    b === 0x7b /* { */ || b === 0x7d /* } */ || b === 0x5c /* \ */ || b === 0x26 /* & */;
}

export class Mutator {
  readonly rand: () => number;
  private readonly maxSize: number;
  private readonly maxLong: number;

  constructor(seed: number) {
    this.rand = mulberry32(seed);
    this.maxSize = DEFAULT_MAX_SIZE;
    this.maxLong = DEFAULT_MAX_LONG_TOKEN;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.rand() * n);
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Mostly small numbers, sometimes large: sizes of inserted ranges and repeat counts. */
  private size(max: number): number {
    const r = this.rand();
    if (r < 0.6) return 1 + this.int(Math.min(8, max));
    if (r < 0.9) return 1 + this.int(Math.min(128, max));
    return 1 + this.int(max);
  }

  /**
   * One mutated copy of `input`: a stack of 1 to 8 mutations (mostly few). `other` is a second seed to splice
   * from. The input itself is never modified.
   */
  mutate(input: Buffer, opts: MutateOptions = {}, other?: Buffer): Buffer {
    const maxSize = Math.min(opts.maxSize ?? this.maxSize, this.maxSize);
    let b: Buffer = Buffer.from(input.subarray(0, maxSize));
    let n = 1;
    while (n < 8 && this.chance(0.45)) n++;
    for (let i = 0; i < n; i++) {
      b = opts.text === true && this.chance(0.55) ? this.textMutation(b, opts) : this.byteMutation(b, opts, other);
      if (b.length > maxSize) b = b.subarray(0, maxSize);
    }
    return b;
  }

  // ---- byte mutations -------------------------------------------------------------------------------------

  byteMutation(b: Buffer, opts: MutateOptions, other?: Buffer): Buffer {
    const len = b.length;
    switch (this.int(16)) {
      case 0: // flip one to four bits
        if (len === 0) return this.insertRandom(b);
        for (let k = 1 + this.int(4); k > 0; k--) {
          const o = this.int(len);
          b[o] = (b[o] as number) ^ (1 << this.int(8));
        }
        return b;
      case 1: // random byte values
        if (len === 0) return this.insertRandom(b);
        for (let k = 1 + this.int(4); k > 0; k--) b[this.int(len)] = this.int(256);
        return b;
      case 2: // interesting 8-bit value
        if (len === 0) return this.insertRandom(b);
        b[this.int(len)] = this.pick(INTERESTING_8);
        return b;
      case 3:
      case 4: // interesting 16-bit value, either byte order (lengths of the input ±1 included)
        return this.writeInt(b, 2, this.interesting16(b));
      case 5: // interesting 32-bit value
        return this.writeInt(b, 4, this.interesting32(b));
      case 6: // small arithmetic on a byte / 16-bit field: lengths off by a few
        return this.arith(b);
      case 7:
        return this.insertRandom(b);
      case 8: // delete a range
        if (len === 0) return b;
        {
          const o = this.int(len);
          const k = Math.min(len - o, this.size(len));
          return Buffer.concat([b.subarray(0, o), b.subarray(o + k)]);
        }
      case 9: // duplicate a range in place
        if (len === 0) return this.insertRandom(b);
        {
          const o = this.int(len);
          const k = Math.min(len - o, this.size(len));
          const at = this.int(len + 1);
          return Buffer.concat([b.subarray(0, at), Buffer.from(b.subarray(o, o + k)), b.subarray(at)]);
        }
      case 10: // overwrite a range with a copy of another range
        if (len < 2) return this.insertRandom(b);
        {
          const from = this.int(len);
          const to = this.int(len);
          const k = Math.min(len - from, len - to, this.size(len));
          Buffer.from(b.subarray(from, from + k)).copy(b, to);
          return b;
        }
      case 11: // truncate
        return len === 0 ? b : b.subarray(0, this.int(len));
      case 12: // splice with another seed
        if (other === undefined || other.length === 0) return this.repeatChunk(b);
        return this.splice(b, other);
      case 13:
        return this.repeatChunk(b);
      case 14: // fill a range with one byte
        if (len === 0) return this.insertRandom(b);
        {
          const o = this.int(len);
          const k = Math.min(len - o, this.size(len));
          b.fill(this.chance(0.5) ? this.pick(INTERESTING_8) : this.int(256), o, o + k);
          return b;
        }
      default: // a dictionary token, else random bytes
        if (opts.dictionary !== undefined && opts.dictionary.length > 0) return this.insertAt(b, this.int(len + 1), this.pick(opts.dictionary), this.chance(0.5));
        return this.insertRandom(b);
    }
  }

  private interesting16(b: Buffer): number {
    const r = this.int(4);
    if (r === 0) return Math.max(0, Math.min(0xffff, b.length + this.int(5) - 2));
    if (r === 1) return Math.max(0, Math.min(0xffff, b.length - this.int(b.length + 1) + this.int(3) - 1));
    return this.pick(INTERESTING_16);
  }

  private interesting32(b: Buffer): number {
    const r = this.int(4);
    if (r === 0) return Math.max(0, b.length + this.int(5) - 2);
    return this.pick(INTERESTING_32);
  }

  private writeInt(b: Buffer, bytes: 2 | 4, value: number): Buffer {
    if (b.length < bytes) return Buffer.concat([b, Buffer.alloc(bytes)]);
    const o = this.int(b.length - bytes + 1);
    const le = this.chance(0.3);
    if (bytes === 2) {
      if (le) b.writeUInt16LE(value & 0xffff, o);
      else b.writeUInt16BE(value & 0xffff, o);
    } else if (le) b.writeUInt32LE(value >>> 0, o);
    else b.writeUInt32BE(value >>> 0, o);
    return b;
  }

  private arith(b: Buffer): Buffer {
    if (b.length === 0) return this.insertRandom(b);
    const delta = (this.int(16) + 1) * (this.chance(0.5) ? 1 : -1);
    if (b.length >= 2 && this.chance(0.5)) {
      const o = this.int(b.length - 1);
      const le = this.chance(0.3);
      const v = le ? b.readUInt16LE(o) : b.readUInt16BE(o);
      const nv = (v + delta) & 0xffff;
      if (le) b.writeUInt16LE(nv, o);
      else b.writeUInt16BE(nv, o);
      return b;
    }
    const o = this.int(b.length);
    b[o] = ((b[o] as number) + delta) & 0xff;
    return b;
  }

  private insertRandom(b: Buffer): Buffer {
    const k = this.size(64);
    const r = Buffer.alloc(k);
    const byte = this.chance(0.3) ? this.int(256) : -1;
    for (let i = 0; i < k; i++) r[i] = byte >= 0 ? byte : this.int(256);
    return this.insertAt(b, this.int(b.length + 1), r, false);
  }

  /** Insert `piece` at `at` (or overwrite from there). */
  private insertAt(b: Buffer, at: number, piece: Buffer, overwrite: boolean): Buffer {
    if (!overwrite) return Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
    const out = Buffer.from(b);
    const end = Math.min(out.length, at + piece.length);
    piece.copy(out, at, 0, end - at);
    return end - at < piece.length ? Buffer.concat([out, piece.subarray(end - at)]) : out;
  }

  private splice(b: Buffer, other: Buffer): Buffer {
    const r = this.int(3);
    if (r === 0) {
      // head of one, tail of the other
      return Buffer.concat([b.subarray(0, this.int(b.length + 1)), other.subarray(this.int(other.length + 1))]);
    }
    // a range of the other, inserted or written over
    const o = this.int(other.length);
    const k = Math.min(other.length - o, this.size(other.length));
    return this.insertAt(b, this.int(b.length + 1), Buffer.from(other.subarray(o, o + k)), r === 2);
  }

  /** A chunk of the input repeated many times (bounded): long header lists, nesting, deep recursion. */
  private repeatChunk(b: Buffer): Buffer {
    if (b.length === 0) return this.insertRandom(b);
    const o = this.int(b.length);
    const k = Math.min(b.length - o, this.size(Math.min(b.length, 256)));
    const chunk = b.subarray(o, o + k);
    const times = Math.max(2, Math.min(this.size(this.chance(0.1) ? 4096 : 64), Math.floor(this.maxLong / Math.max(1, k))));
    const rep = Buffer.alloc(k * times);
    for (let i = 0; i < times; i++) chunk.copy(rep, i * k);
    return Buffer.concat([b.subarray(0, o), rep, b.subarray(o + k)]);
  }

  // ---- text mutations -------------------------------------------------------------------------------------

  textMutation(b: Buffer, opts: MutateOptions): Buffer {
    switch (this.int(12)) {
      case 0:
      case 1:
        return this.lineMutation(b);
      case 2: // CR, LF, NUL or another control character somewhere
        {
          const piece = this.chance(0.5) ? Buffer.from(this.pick(CRLF_PIECES), 'latin1') : Buffer.from([this.pick(CONTROL_BYTES)]);
          return this.insertAt(b, this.int(b.length + 1), piece, this.chance(0.3));
        }
      case 3:
        return this.hugeNumber(b);
      case 4:
        return this.emptyValue(b);
      case 5:
        return this.longToken(b);
      case 6:
      case 7:
        return this.tokenMutation(b);
      case 8: // a dictionary token
        if (opts.dictionary !== undefined && opts.dictionary.length > 0) {
          const at = this.chance(0.5) ? this.tokenBoundary(b) : this.int(b.length + 1);
          return this.insertAt(b, at, this.pick(opts.dictionary), this.chance(0.2));
        }
        return this.longToken(b);
      case 9: // change case of a range (header names and tokens are case-insensitive, often)
        {
          if (b.length === 0) return b;
          const o = this.int(b.length);
          const k = Math.min(b.length - o, this.size(32));
          const up = this.chance(0.5);
          for (let i = o; i < o + k; i++) {
            const c = b[i] as number;
            if (up && c >= 0x61 && c <= 0x7a) b[i] = c - 32;
            else if (!up && c >= 0x41 && c <= 0x5a) b[i] = c + 32;
          }
          return b;
        }
      case 10: // line endings: CRLF ↔ LF for the whole text
        {
          const s = b.toString('latin1');
          return Buffer.from(s.includes('\r\n') ? s.replace(/\r\n/g, this.chance(0.5) ? '\n' : '\r') : s.replace(/\n/g, '\r\n'), 'latin1');
        }
      default: // bytes that are not valid UTF-8 / 7-bit text
        {
          const seqs = [[0xc3, 0x28], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf], [0xff, 0xfe], [0xc0, 0x80], [0xe9]];
          return this.insertAt(b, this.int(b.length + 1), Buffer.from(this.pick(seqs)), false);
        }
    }
  }

  /** Line starts (offsets just after each LF, and 0). */
  private lines(b: Buffer): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let start = 0;
    for (;;) {
      const lf = b.indexOf(10, start);
      if (lf < 0) {
        if (start < b.length) out.push([start, b.length]);
        return out;
      }
      out.push([start, lf + 1]);
      start = lf + 1;
    }
  }

  private lineMutation(b: Buffer): Buffer {
    const ls = this.lines(b);
    if (ls.length === 0) return this.longToken(b);
    const pieces = ls.map(([s, e]) => b.subarray(s, e));
    const i = this.int(pieces.length);
    switch (this.int(5)) {
      case 0: // duplicate (maybe many times: headers repeated)
        {
          const times = this.chance(0.1) ? this.size(2000) : 1 + this.int(3);
          const p = pieces[i] as Buffer;
          const rep: Buffer[] = new Array<Buffer>(Math.min(times, Math.floor(this.maxLong / Math.max(1, p.length)) + 1)).fill(p);
          pieces.splice(i, 0, ...rep);
        }
        break;
      case 1: // delete
        pieces.splice(i, 1);
        break;
      case 2: // swap two lines
        {
          const j = this.int(pieces.length);
          const t = pieces[i] as Buffer;
          pieces[i] = pieces[j] as Buffer;
          pieces[j] = t;
        }
        break;
      case 3: // move a line elsewhere
        {
          const [p] = pieces.splice(i, 1);
          pieces.splice(this.int(pieces.length + 1), 0, p as Buffer);
        }
        break;
      default: // fold: the line continues the previous one
        pieces[i] = Buffer.concat([Buffer.from(this.chance(0.5) ? ' ' : '\t'), pieces[i] as Buffer]);
    }
    return Buffer.concat(pieces);
  }

  /** Offset of a token boundary (just after a delimiter), or a random offset. */
  private tokenBoundary(b: Buffer): number {
    if (b.length === 0) return 0;
    const start = this.int(b.length);
    for (let i = start; i < b.length; i++) if (isDelimiter(b[i] as number)) return i + 1;
    return start;
  }

  /** [start, end) of the token around a random offset: a run of non-delimiters. */
  private token(b: Buffer): [number, number] | undefined {
    if (b.length === 0) return undefined;
    let o = this.int(b.length);
    // move to a token
    let tries = 0;
    while (o < b.length && isDelimiter(b[o] as number) && tries++ < 64) o++;
    if (o >= b.length) return undefined;
    let s = o;
    while (s > 0 && !isDelimiter(b[s - 1] as number)) s--;
    let e = o;
    while (e < b.length && !isDelimiter(b[e] as number)) e++;
    return [s, e];
  }

  private tokenMutation(b: Buffer): Buffer {
    const t = this.token(b);
    if (t === undefined) return this.longToken(b);
    const [s, e] = t;
    const tok = b.subarray(s, e);
    switch (this.int(4)) {
      case 0: // delete the token
        return Buffer.concat([b.subarray(0, s), b.subarray(e)]);
      case 1: // duplicate it
        return Buffer.concat([b.subarray(0, e), Buffer.from(tok), b.subarray(e)]);
      case 2: // swap with another token
        {
          const u = this.token(b);
          if (u === undefined || u[0] === s) return b;
          const [s2, e2] = u;
          const other = Buffer.from(b.subarray(s2, e2));
          const mine = Buffer.from(tok);
          if (s < s2) return Buffer.concat([b.subarray(0, s), other, b.subarray(e, s2), mine, b.subarray(e2)]);
          return Buffer.concat([b.subarray(0, s2), mine, b.subarray(e2, s), other, b.subarray(e)]);
        }
      default: // one character of it replaced by a delimiter
        {
          const d = Buffer.from(this.pick([' ', ';', ',', ':', '=', '<', '>', '"', '\\', '/', '@', '\t', '[', ']', '%', '{', '}']), 'latin1');
          const at = s + this.int(e - s);
          return Buffer.concat([b.subarray(0, at), d, b.subarray(at + 1)]);
        }
    }
  }

  /** A number (a run of digits) replaced by a huge or odd one; else one inserted after a delimiter. */
  private hugeNumber(b: Buffer): Buffer {
    const num = Buffer.from(this.pick(HUGE_NUMBERS), 'latin1');
    if (b.length > 0) {
      const start = this.int(b.length);
      for (let i = start; i < Math.min(b.length, start + 4096); i++) {
        const c = b[i] as number;
        if (c >= 0x30 && c <= 0x39) {
          let e = i;
          while (e < b.length && (b[e] as number) >= 0x30 && (b[e] as number) <= 0x39) e++;
          return Buffer.concat([b.subarray(0, i), num, b.subarray(e)]);
        }
      }
    }
    return this.insertAt(b, this.tokenBoundary(b), num, false);
  }

  /** The value after a ':' or '=' on one line removed (an empty header or attribute value). */
  private emptyValue(b: Buffer): Buffer {
    const ls = this.lines(b);
    if (ls.length === 0) return b;
    const [s, e] = this.pick(ls);
    const line = b.subarray(s, e);
    let sep = line.indexOf(0x3a);
    const eq = line.indexOf(0x3d);
    if (sep < 0 || (eq >= 0 && eq < sep && this.chance(0.5))) sep = eq;
    if (sep < 0) return b;
    let end = e;
    while (end > s + sep + 1 && (b[end - 1] === 10 || b[end - 1] === 13)) end--;
    return Buffer.concat([b.subarray(0, s + sep + 1), b.subarray(end)]);
  }

  /** A very long run (≤ maxLongToken) of one unit or of an existing token, inserted or replacing a token. */
  private longToken(b: Buffer): Buffer {
    let unit: Buffer;
    const at = this.chance(0.6) ? this.tokenBoundary(b) : this.int(b.length + 1);
    const r0 = this.rand();
    const t = r0 < 0.35 ? this.token(b) : undefined;
    if (t !== undefined && t[1] - t[0] <= 64) unit = Buffer.from(b.subarray(t[0], t[1]));
    else if (r0 < 0.55 && b.length > 0) unit = Buffer.from([b[Math.min(at, b.length - 1)] as number]); // the byte already there, many times
    else unit = Buffer.from(this.pick(LONG_RUN_UNITS), 'latin1');
    if (unit.length === 0) unit = Buffer.from('A');
    const r = this.rand();
    const total = r < 0.5 ? 64 + this.int(1024) : r < 0.85 ? 1024 + this.int(16 * 1024) : 16 * 1024 + this.int(this.maxLong - 16 * 1024);
    const times = Math.max(1, Math.floor(total / unit.length));
    const run = Buffer.alloc(unit.length * times);
    for (let i = 0; i < times; i++) unit.copy(run, i * unit.length);
    return this.insertAt(b, at, run, false);
  }
}

/** Hex of a buffer, shortened for messages (`max` hex characters, with the length when cut). */
export function shortHex(b: Buffer, max = 80): string {
  const h = b.toString('hex');
  return h.length <= max ? h : `${h.slice(0, max - 12)}…(${b.length} B)`;
}
