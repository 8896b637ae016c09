/**
 * RTF message bodies (text/rtf, what Communicator/Lync clients may send) to plain text. A focused reader of the
 * RTF 1.x syntax: groups, control words and symbols, \'hh bytes in the document's code page (\ansicpg, or the
 * current font's \fcharset from the font table; double-byte code pages decoded a run at a time), \uN with its
 * \ucN fallback skipped, and the destinations that are not text (font, colour and style tables, pictures,
 * field instructions, any \* destination) left out. Formatting is dropped; paragraphs and lines become '\n'.
 */
import * as iconv from 'iconv-lite';

export interface RtfText {
  text: string;
  warnings: string[];
}

/** Destinations whose content is not part of the text (RTF 1.9.1 spec, "Destinations"). */
const SKIP = new Set([
  'colortbl', 'stylesheet', 'info', 'pict', 'object', 'header', 'headerl', 'headerr', 'headerf', 'footer', 'footerl', 'footerr', 'footerf',
  'footnote', 'fldinst', 'generator', 'themedata', 'colorschememapping', 'latentstyles', 'datastore', 'listtable', 'listoverridetable',
  'rsidtbl', 'xmlnstbl', 'mmathPr', 'pgdsctbl', 'filetbl', 'revtbl', 'shppict', 'nonshppict', 'bkmkstart', 'bkmkend', 'xe', 'tc', 'txe',
]);

const SYMBOLS: Record<string, string> = {
  par: '\n', line: '\n', row: '\n', sect: '\n', page: '\n', tab: '\t', cell: '\t',
  emdash: '\u2014', endash: '\u2013', bullet: '\u2022', lquote: '\u2018', rquote: '\u2019', ldblquote: '\u201c', rdblquote: '\u201d',
  emspace: ' ', enspace: ' ', qmspace: ' ', zwj: '\u200d', zwnj: '\u200c', ltrmark: '\u200e', rtlmark: '\u200f',
};

/** \fcharset values to Windows code pages. */
const CHARSET_CP: Record<number, number> = {
  0: 1252, 77: 10000, 128: 932, 129: 949, 130: 1361, 134: 936, 136: 950, 161: 1253, 162: 1254, 163: 1258, 177: 1255, 178: 1256,
  186: 1257, 204: 1251, 222: 874, 238: 1250, 254: 437, 255: 850,
};

function encodingFor(cp: number): string {
  const names = cp === 10000 ? ['macintosh'] : cp === 1252 ? ['windows-1252'] : [`cp${cp}`, `windows-${cp}`];
  return names.find((n) => iconv.encodingExists(n)) ?? 'windows-1252';
}

interface GroupState {
  skip: boolean;
  fonttbl: boolean;
  uc: number;
  font: number | undefined;
}

export function rtfToText(rtf: string): RtfText {
  const warnings: string[] = [];
  let out = '';
  let bytes: number[] = [];
  let bytesCp = 1252;
  let ansiCp = 1252;
  const fontCp = new Map<number, number>();
  let tableFont: number | undefined;
  let st: GroupState = { skip: false, fonttbl: false, uc: 1, font: undefined };
  const stack: GroupState[] = [];
  let groupStart = false;
  let pendingSkip = 0;
  let depth = 0;
  let ended = false;

  const cpNow = (): number => (st.font !== undefined ? (fontCp.get(st.font) ?? ansiCp) : ansiCp);
  const flush = (): void => {
    if (bytes.length === 0) return;
    out += iconv.decode(Buffer.from(bytes), encodingFor(bytesCp));
    bytes = [];
  };
  const emit = (s: string): void => {
    if (st.skip || st.fonttbl) return;
    flush();
    out += s;
  };
  const byte = (b: number): void => {
    if (pendingSkip > 0) {
      pendingSkip--;
      return;
    }
    if (st.skip || st.fonttbl) return;
    const cp = cpNow();
    if (bytes.length > 0 && cp !== bytesCp) flush();
    bytesCp = cp;
    bytes.push(b);
  };

  let i = 0;
  const n = rtf.length;
  while (i < n && !ended) {
    const ch = rtf[i]!;
    if (ch === '{') {
      stack.push(st);
      st = { ...st };
      depth++;
      groupStart = true;
      pendingSkip = 0;
      i++;
      continue;
    }
    if (ch === '}') {
      flush();
      const prev = stack.pop();
      if (prev === undefined) {
        warnings.push(`RTF: unbalanced '}' at offset ${i}`);
      } else st = prev;
      depth--;
      pendingSkip = 0;
      groupStart = false;
      i++;
      if (depth === 0) ended = true; // the document's group is closed; anything after it is not RTF
      continue;
    }
    if (ch === '\\') {
      const next = rtf[i + 1];
      if (next === undefined) break;
      if (/[a-zA-Z]/.test(next)) {
        const m = /^([a-zA-Z]{1,32})(-?\d{1,10})? ?/.exec(rtf.slice(i + 1, i + 48));
        const word = m![1]!;
        const param = m![2] === undefined ? undefined : Number(m![2]);
        i += 1 + m![0].length;
        const first = groupStart;
        groupStart = false;
        if (first && SKIP.has(word)) {
          st.skip = true;
          continue;
        }
        if (word === 'fonttbl') {
          st.fonttbl = true;
          continue;
        }
        if (word === 'bin' && param !== undefined && param > 0) {
          i += param;
          continue;
        }
        if (st.fonttbl) {
          if (word === 'f' && param !== undefined) tableFont = param;
          else if (word === 'fcharset' && param !== undefined && tableFont !== undefined && CHARSET_CP[param] !== undefined) fontCp.set(tableFont, CHARSET_CP[param]!);
          else if (word === 'cpg' && param !== undefined && tableFont !== undefined) fontCp.set(tableFont, param);
          continue;
        }
        switch (word) {
          case 'ansicpg':
            if (param !== undefined && param > 0) ansiCp = param;
            break;
          case 'mac':
            ansiCp = 10000;
            break;
          case 'pc':
            ansiCp = 437;
            break;
          case 'pca':
            ansiCp = 850;
            break;
          case 'f':
            st.font = param;
            break;
          case 'uc':
            if (param !== undefined && param >= 0) st.uc = param;
            break;
          case 'u':
            if (param !== undefined) {
              emit(String.fromCharCode(param < 0 ? param + 65536 : param));
              pendingSkip = st.uc;
            }
            break;
          default: {
            const sym = SYMBOLS[word];
            if (sym !== undefined) emit(sym);
          }
        }
        continue;
      }
      groupStart = false;
      i += 2;
      switch (next) {
        case "'": {
          const hex = rtf.slice(i, i + 2);
          if (/^[0-9a-fA-F]{2}$/.test(hex)) {
            byte(parseInt(hex, 16));
            i += 2;
          } else warnings.push(`RTF: bad \\' escape at offset ${i - 2}`);
          break;
        }
        case '*':
          st.skip = true; // an ignorable destination this reader does not know
          break;
        case '~':
          emit(' ');
          break;
        case '_':
          emit('-');
          break;
        case '-':
          break;
        case '\r':
        case '\n':
          emit('\n');
          break;
        default:
          if (pendingSkip > 0) pendingSkip--;
          else emit(next); // \\ \{ \} and any other escaped character stand for themselves
      }
      continue;
    }
    groupStart = false;
    i++;
    if (ch === '\r' || ch === '\n') continue;
    const code = ch.charCodeAt(0);
    // Raw 8-bit characters (some writers emit them unescaped) are bytes in the current code page.
    if (code >= 0x80 && code <= 0xff) byte(code);
    else if (pendingSkip > 0) pendingSkip--;
    else emit(ch);
  }
  flush();
  if (!ended) warnings.push(depth > 0 ? `RTF: ${depth} group(s) not closed (truncated?)` : 'RTF: no closing brace');
  // A loop, not /[\n\t ]+$/: that regex is quadratic on a long run of blanks followed by text.
  let end = out.length;
  while (end > 0 && (out[end - 1] === '\n' || out[end - 1] === '\t' || out[end - 1] === ' ')) end--;
  return { text: out.slice(0, end), warnings };
}

/** True when the text starts like an RTF document. */
export function looksLikeRtf(s: string): boolean {
  return /^\s*\{\\rtf/.test(s);
}
