/**
 * HTML message bodies to plain text, the way a reader sees them: tags dropped, block ends and <br> as line
 * breaks, whitespace collapsed as HTML does, entities decoded, images by their alt text (Lync emoticons).
 * IM bodies are short fragments ('<span style=…>Hi <b>there</b></span>'), not documents: no layout, no wrapping.
 */
import { decodeHTML } from 'entities';

const BLOCK = new Set(['p', 'div', 'li', 'tr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'pre', 'table', 'ul', 'ol', 'dl', 'dt', 'dd', 'section', 'article', 'header', 'footer', 'hr']);
/** Elements whose content is never text a reader sees. */
const HIDDEN = new Set(['script', 'style', 'head', 'title', 'template', 'xml']);
const BREAK = '\u0000'; // <br>
const EDGE = '\u0001'; // the start or end of a block element
const NAME_START = /[a-zA-Z]/;
/** Longest attribute text of a tag (IM bodies' tags are short); a longer '<…' is text. */
const MAX_TAG = 4096;
const NAME_CHAR = /[a-zA-Z0-9:-]/;

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s"'>]+))`, 'i').exec(attrs);
  return m === null ? undefined : (m[1] ?? m[2] ?? m[3]);
}

/**
 * Numeric character references, made safe for the entity decoder: leading zeros dropped, and a number no code point
 * can have (which makes `entities` throw a RangeError) turned into U+FFFD. One linear pass.
 */
function saneReferences(s: string): string {
  if (s.indexOf('&#') < 0) return s;
  // Rewritten decimal and always terminated: '&#364AAA' must not become '&#x16cAAA' (whose letters are hex digits).
  return s.replace(/&#(?:([xX])([0-9a-fA-F]+)|([0-9]+));?/g, (_m, x: string | undefined, hex: string | undefined, dec: string | undefined) => {
    const digits = (hex ?? dec ?? '').replace(/^0+(?=.)/, '');
    const value = digits.length > 8 ? Infinity : parseInt(digits, x !== undefined ? 16 : 10);
    return value > 0x10ffff ? '&#65533;' : `&#${value};`;
  });
}

function decode(s: string): string {
  return decodeHTML(saneReferences(s));
}

/** A tag at `lt` (s[lt] === '<'): its end (after '>'), name, closing flag and attributes; undefined if it is no tag. */
function readTag(s: string, lt: number): { end: number; name?: string; closing: boolean; attrs: string; cdata?: string } | undefined {
  if (s.startsWith('<!--', lt)) {
    const e = s.indexOf('-->', lt + 4);
    return { end: e < 0 ? s.length : e + 3, closing: false, attrs: '' };
  }
  if (s.startsWith('<![CDATA[', lt)) {
    const e = s.indexOf(']]>', lt + 9);
    return { end: e < 0 ? s.length : e + 3, closing: false, attrs: '', cdata: s.slice(lt + 9, e < 0 ? s.length : e) };
  }
  const c = s.charAt(lt + 1);
  if (c === '!' || c === '?') {
    const e = s.indexOf('>', lt + 2);
    return e < 0 ? undefined : { end: e + 1, closing: false, attrs: '' };
  }
  let i = lt + 1;
  const closing = s.charAt(i) === '/';
  if (closing) i++;
  if (!NAME_START.test(s.charAt(i))) return undefined;
  const nameStart = i;
  while (i < s.length && NAME_CHAR.test(s.charAt(i))) i++;
  const name = s.slice(nameStart, i).toLowerCase();
  const attrStart = i;
  // Attributes up to '>', quotes honoured. A '<' before it, or more than MAX_TAG of attributes, means this was no
  // tag but text: each '<' then costs a bounded scan, so a body of unterminated tags stays linear.
  const limit = Math.min(s.length, i + MAX_TAG);
  while (i < limit) {
    const ch = s.charAt(i);
    if (ch === '>') return { end: i + 1, name, closing, attrs: s.slice(attrStart, i) };
    if (ch === '<') return undefined;
    if (ch === '"' || ch === "'") {
      const q = s.indexOf(ch, i + 1);
      if (q < 0 || q >= limit) return undefined;
      i = q + 1;
    } else i++;
  }
  return undefined;
}

/** Trims `ch` from both ends of a line (a loop: regexes like / +$/ are quadratic on long runs). */
function trimChar(l: string, ch: string): string {
  let a = 0;
  let b = l.length;
  while (a < b && l[a] === ch) a++;
  while (b > a && l[b - 1] === ch) b--;
  return l.slice(a, b);
}

export function htmlToText(html: string): string {
  let out = '';
  let pre = 0;
  let last = 0;
  const text = (s: string): void => {
    if (s === '') return;
    const decoded = decode(s).replace(/[\u0000\u0001]/g, ''); // the markers below must stay unambiguous
    out += pre > 0 ? decoded.replace(/\r\n?|\n/g, BREAK) : decoded.replace(/[ \t\r\n\f]+/g, ' ');
  };
  // One left-to-right scan: each '<' is looked at once, and an unterminated tag ends the search for tags there
  // (the former regexes rescanned to the end of the body from every '<': seconds on a hostile body).
  let lower: string | undefined;
  /** Per hidden element name: where its next end tag is (-1: none after that point), so each search runs once. */
  const closes = new Map<string, number>();
  let from = 0;
  for (;;) {
    const lt = html.indexOf('<', from);
    if (lt < 0) break;
    const tag = readTag(html, lt);
    if (tag === undefined) {
      from = lt + 1;
      continue;
    }
    text(html.slice(last, lt));
    last = tag.end;
    from = tag.end;
    if (tag.cdata !== undefined) {
      out += tag.cdata;
      continue;
    }
    const name = tag.name;
    if (name === undefined) continue; // comment, doctype, processing instruction
    if (HIDDEN.has(name) && !tag.closing) {
      // Its content is skipped up to its own end tag; without one, the tag alone is dropped.
      lower ??= html.toLowerCase();
      let close = closes.get(name);
      if (close === undefined || (close >= 0 && close < tag.end)) {
        close = lower.indexOf(`</${name}`, tag.end);
        closes.set(name, close);
      }
      const gt = close < 0 ? -1 : html.indexOf('>', close);
      if (gt >= 0) {
        out += ' ';
        last = from = gt + 1;
      }
      continue;
    }
    const closing = tag.closing;
    if (name === 'br') out += BREAK;
    else if (name === 'img') {
      const alt = attr(tag.attrs, 'alt');
      if (alt !== undefined && !closing) out += decode(alt);
    } else if (name === 'pre' || name === 'textarea') {
      pre += closing ? (pre > 0 ? -1 : 0) : 1;
      out += EDGE;
    } else if (name === 'td' || name === 'th') {
      if (closing) out += '\t';
    } else if (BLOCK.has(name)) out += EDGE;
  }
  text(html.slice(last));
  // Block edges in a row are one line break; a <br> that ends a block adds none (as browsers render it);
  // spaces next to a line break are layout, not content. One pass with a stack, then line by line: linear whatever
  // the input (the former chain of regexes was quadratic on long runs of spaces or tabs).
  const r: string[] = [];
  let skipping = false; // just after an edge: spaces and further edges belong to it
  for (let i = 0; i < out.length; i++) {
    const ch = out[i] as string;
    if (ch === EDGE) {
      while (r.length > 0 && r[r.length - 1] === ' ') r.pop();
      if (r.length > 0 && r[r.length - 1] === BREAK) r.pop(); // a <br> that ends a block
      if (!(r.length > 0 && r[r.length - 1] === EDGE)) r.push(EDGE);
      skipping = true;
      continue;
    }
    if (skipping && ch === ' ') continue;
    skipping = false;
    r.push(ch);
  }
  const lines = r.join('').split(/[\u0000\u0001]/);
  const cleaned = lines.map((l, i) => {
    let t = trimChar(l, ' ').replace(/\u00a0/g, ' ');
    if (i < lines.length - 1) {
      let e = t.length;
      while (e > 0 && t[e - 1] === '\t') e--; // tabs before a line break are cell ends, not content
      t = t.slice(0, e);
    }
    return t;
  });
  let a = 0;
  let b = cleaned.length;
  while (a < b && cleaned[a] === '') a++;
  while (b > a && cleaned[b - 1] === '') b--;
  return cleaned.slice(a, b).join('\n');
}
