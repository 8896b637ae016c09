/**
 * Where a JSON text is broken, and why, in an operator's words. V8's JSON.parse gives a position for only some
 * errors ("Unexpected token ']', "[1,]" is not valid JSON" has none) and never says "trailing comma" or "comment",
 * so a small scanner re-reads a text that JSON.parse refused and names the first thing that is wrong.
 */

export interface JsonSyntaxError {
  /** Character offset (UTF-16 units) in the text as given (after a byte order mark was removed). */
  offset: number;
  /** 1-based line and column of `offset`. */
  line: number;
  column: number;
  reason: string;
  /** The line (and the one before it) with a caret under the column. */
  excerpt: string;
}

/** A byte order mark (some Windows editors write one) is not part of the JSON. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Nesting beyond this is not scanned (JSON.parse accepts it; the scanner recurses). */
const MAX_DEPTH = 512;

class Fail {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {}
}
class TooDeep {}

/**
 * The first syntax error of a JSON text and why, or undefined when the scanner finds none (the text is valid JSON,
 * or nested deeper than it scans).
 */
export function findJsonSyntaxError(text: string): { offset: number; reason: string } | undefined {
  try {
    new Scanner(text).document();
    return undefined;
  } catch (e) {
    if (e instanceof Fail) return { offset: e.offset, reason: e.reason };
    if (e instanceof TooDeep) return undefined;
    throw e;
  }
}

/** Locates and explains the syntax error of a text JSON.parse refused; `v8Message` is the fallback should the scanner find none. */
export function explainJsonError(text: string, v8Message: string): JsonSyntaxError {
  let found = findJsonSyntaxError(text);
  if (found === undefined) {
    // Only for nesting deeper than MAX_DEPTH: keep V8's word for it.
    const at = /at position (\d+)/.exec(v8Message);
    found = { offset: at ? Number(at[1]) : text.trimEnd().length, reason: v8Message };
  }
  const { line, column } = lineColumn(text, found.offset);
  return { offset: found.offset, line, column, reason: found.reason, excerpt: excerptAt(text, line, column) };
}

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

const EXCERPT_WIDTH = 100;

/** `   12 | "text"` lines: the one before (context) and the one at fault, then a caret under `column`. */
export function excerptAt(text: string, line: number, column: number): string {
  const lines = text.split('\n');
  const gutter = String(line).length;
  const show = (n: number): { shown: string; shift: number } => {
    const raw = (lines[n - 1] ?? '').replace(/\r$/, '');
    if (raw.length <= EXCERPT_WIDTH) return { shown: raw, shift: 0 };
    // A long (minified) line: a window around the column, so the excerpt stays readable.
    const start = n === line ? Math.max(0, Math.min(column - 1 - EXCERPT_WIDTH / 2, raw.length - EXCERPT_WIDTH)) : 0;
    const pre = start > 0 ? '…' : '';
    const post = start + EXCERPT_WIDTH < raw.length ? '…' : '';
    return { shown: pre + raw.slice(start, start + EXCERPT_WIDTH) + post, shift: start - pre.length };
  };
  const out: string[] = [];
  if (line > 1 && (lines[line - 2] ?? '').trim() !== '') out.push(`${String(line - 1).padStart(gutter)} | ${show(line - 1).shown}`);
  const { shown, shift } = show(line);
  out.push(`${String(line).padStart(gutter)} | ${shown}`);
  // Keep tabs so the caret lines up with what an editor or terminal shows above it.
  const lead = shown.slice(0, Math.max(0, column - 1 - shift)).replace(/[^\t]/g, ' ');
  out.push(`${' '.repeat(gutter)} | ${lead}^`);
  return out.join('\n');
}

const COMMENT = 'a comment: JSON has no comments (remove it, or write the config as tapline.config.js)';

class Scanner {
  private i = 0;
  /** Open '{' / '[' and where, for "never closed" at the end of the text. */
  private readonly open: Array<{ ch: string; at: number }> = [];

  constructor(private readonly text: string) {}

  document(): void {
    if (this.text.trim() === '') throw new Fail(0, 'the file is empty (write {} for an empty configuration)');
    this.value(0);
    this.space();
    if (this.i < this.text.length) {
      throw new Fail(this.i, `${this.describe(this.i)} after the end of the JSON value (an extra '}' or ']', or a second value?)`);
    }
  }

  private value(depth: number): void {
    if (depth > MAX_DEPTH) throw new TooDeep();
    this.space();
    const c = this.text[this.i];
    if (c === undefined) this.endOfText('a value');
    else if (c === '{') this.object(depth);
    else if (c === '[') this.array(depth);
    else if (c === '"') this.string();
    else if (c === '-' || (c >= '0' && c <= '9')) this.number();
    else if (c === "'") throw new Fail(this.i, `a string in single quotes: JSON strings need double quotes (")`);
    else if (c === '+') throw new Fail(this.i, "a number with a '+' sign: JSON numbers have none");
    else if (c === '.') throw new Fail(this.i, 'a number starting with \'.\': write a 0 before it (0.5)');
    else this.literal();
  }

  private object(depth: number): void {
    this.open.push({ ch: '{', at: this.i });
    this.i++;
    this.space();
    if (this.text[this.i] === '}') {
      this.i++;
      this.open.pop();
      return;
    }
    for (;;) {
      this.space();
      const key = this.propertyName();
      this.space();
      if (this.text[this.i] !== ':') {
        if (this.i >= this.text.length) this.endOfText("':'");
        throw new Fail(this.i, `expected ':' after the property name "${key}", found ${this.describe(this.i)}`);
      }
      this.i++;
      this.value(depth + 1);
      this.space();
      const c = this.text[this.i];
      if (c === '}') {
        this.i++;
        this.open.pop();
        return;
      }
      if (c === ',') {
        const comma = this.i;
        this.i++;
        this.space();
        if (this.text[this.i] === '}') throw new Fail(comma, "a trailing comma before '}': JSON allows none (remove it)");
        continue;
      }
      if (c === undefined) this.endOfText("',' or '}'");
      if (c === '"') throw new Fail(this.i, `a missing ',' between properties (after the value of "${key}")`);
      throw new Fail(this.i, `expected ',' or '}' after the value of "${key}", found ${this.describe(this.i)}`);
    }
  }

  private propertyName(): string {
    const c = this.text[this.i];
    if (c === '"') {
      const start = this.i;
      this.string();
      return this.text.slice(start + 1, this.i - 1);
    }
    if (c === undefined) this.endOfText('a property name');
    if (c === "'") throw new Fail(this.i, 'a property name in single quotes: JSON names need double quotes (")');
    if (c === '}') throw new Fail(this.i, "expected a property name in double quotes, found '}'");
    const word = /[A-Za-z_$][\w$-]*/y;
    word.lastIndex = this.i;
    const m = word.exec(this.text);
    if (m) throw new Fail(this.i, `a property name without quotes: write "${m[0]}"`);
    throw new Fail(this.i, `expected a property name in double quotes, found ${this.describe(this.i)}`);
  }

  private array(depth: number): void {
    this.open.push({ ch: '[', at: this.i });
    this.i++;
    this.space();
    if (this.text[this.i] === ']') {
      this.i++;
      this.open.pop();
      return;
    }
    for (;;) {
      this.value(depth + 1);
      this.space();
      const c = this.text[this.i];
      if (c === ']') {
        this.i++;
        this.open.pop();
        return;
      }
      if (c === ',') {
        const comma = this.i;
        this.i++;
        this.space();
        if (this.text[this.i] === ']') throw new Fail(comma, "a trailing comma before ']': JSON allows none (remove it)");
        if (this.text[this.i] === ',') throw new Fail(this.i, 'two commas in a row (a missing value?)');
        continue;
      }
      if (c === undefined) this.endOfText("',' or ']'");
      throw new Fail(this.i, `expected ',' or ']' after a list item, found ${this.describe(this.i)}`);
    }
  }

  private string(): void {
    const start = this.i;
    this.i++;
    for (;;) {
      const c = this.text[this.i];
      if (c === undefined) throw new Fail(start, 'a string that is never closed (a missing "?)');
      if (c === '"') {
        this.i++;
        return;
      }
      if (c === '\\') {
        const e = this.text[this.i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) this.i += 2;
        else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) this.i += 6;
        else throw new Fail(this.i, `an invalid escape "\\${e ?? ''}" in a string (write a backslash as \\\\, e.g. in Windows paths, or use /)`);
        continue;
      }
      const code = c.charCodeAt(0);
      if (code === 0x0a || code === 0x0d) throw new Fail(this.i, 'a line break inside a string (a missing closing "?)');
      if (code < 0x20) throw new Fail(this.i, `a control character (U+${code.toString(16).padStart(4, '0').toUpperCase()}) inside a string: write it as an escape`);
      this.i++;
    }
  }

  private number(): void {
    const start = this.i;
    const re = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    re.lastIndex = start;
    const m = re.exec(this.text);
    const token = /[-+\w.]+/y;
    token.lastIndex = start;
    const whole = token.exec(this.text)?.[0] ?? this.text[start] ?? '';
    if (m === null || m[0].length !== whole.length) {
      const why = /^-?0\d/.test(whole) ? ' (no leading zeros)' : /^-?0x/i.test(whole) ? ' (no hexadecimal)' : '';
      throw new Fail(start, `an invalid number "${whole}"${why}`);
    }
    this.i += m[0].length;
  }

  private literal(): void {
    const re = /[A-Za-z_$][\w$]*/y;
    re.lastIndex = this.i;
    const word = re.exec(this.text)?.[0];
    if (word === 'true' || word === 'false' || word === 'null') {
      this.i += word.length;
      return;
    }
    if (word !== undefined) {
      const lower = word.toLowerCase();
      const hint = lower === 'true' || lower === 'false' || lower === 'null' ? `; write ${lower}` : ['nan', 'infinity', 'undefined'].includes(lower) ? ' (not a JSON value)' : ' (a missing "?)';
      throw new Fail(this.i, `unexpected word ${word}${hint}`);
    }
    throw new Fail(this.i, `expected a value (a "string", a number, true, false, null, {…} or […]), found ${this.describe(this.i)}`);
  }

  /** Whitespace as JSON defines it; a comment is the commonest thing that is not. */
  private space(): void {
    for (;;) {
      const c = this.text[this.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.i++;
      else if ((c === '/' && (this.text[this.i + 1] === '/' || this.text[this.i + 1] === '*')) || c === '#') throw new Fail(this.i, COMMENT);
      else return;
    }
  }

  private endOfText(expected: string): never {
    const end = this.text.trimEnd().length;
    const innermost = this.open[this.open.length - 1];
    if (innermost === undefined) throw new Fail(end, `the file ends where ${expected} was expected`);
    const { line, column } = lineColumn(this.text, innermost.at);
    throw new Fail(end, `the file ends before the '${innermost.ch}' of line ${line}, column ${column} is closed`);
  }

  private describe(at: number): string {
    const c = this.text[at];
    if (c === undefined) return 'the end of the file';
    if (c === '\n' || c === '\r') return 'a line break';
    return `'${c}'`;
  }
}
