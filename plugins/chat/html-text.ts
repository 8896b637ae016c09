/**
 * HTML message bodies to plain text, the way a reader sees them: tags dropped, block ends and <br> as line
 * breaks, whitespace collapsed as HTML does, entities decoded, images by their alt text (Lync emoticons).
 * IM bodies are short fragments ('<span style=…>Hi <b>there</b></span>'), not documents: no layout, no wrapping.
 */
import { decodeHTML } from 'entities';

const BLOCK = new Set(['p', 'div', 'li', 'tr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'pre', 'table', 'ul', 'ol', 'dl', 'dt', 'dd', 'section', 'article', 'header', 'footer', 'hr']);
/** Elements whose content is never text a reader sees. */
const HIDDEN = /<(script|style|head|title|template|xml)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;
const TOKEN = /<!--[\s\S]*?(?:-->|$)|<!\[CDATA\[([\s\S]*?)(?:\]\]>|$)|<[!?][^>]*>|<(\/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const BREAK = '\u0000'; // <br>
const EDGE = '\u0001'; // the start or end of a block element

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s"'>]+))`, 'i').exec(attrs);
  return m === null ? undefined : (m[1] ?? m[2] ?? m[3]);
}

export function htmlToText(html: string): string {
  const src = html.replace(HIDDEN, ' ');
  let out = '';
  let pre = 0;
  let last = 0;
  const text = (s: string): void => {
    if (s === '') return;
    const decoded = decodeHTML(s).replace(/[\u0000\u0001]/g, ''); // the markers below must stay unambiguous
    out += pre > 0 ? decoded.replace(/\r\n?|\n/g, BREAK) : decoded.replace(/[ \t\r\n\f]+/g, ' ');
  };
  for (const m of src.matchAll(TOKEN)) {
    text(src.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[1] !== undefined) {
      out += m[1];
      continue;
    }
    const name = m[3]?.toLowerCase();
    if (name === undefined) continue; // comment, doctype, processing instruction
    const closing = m[2] === '/';
    if (name === 'br') out += BREAK;
    else if (name === 'img') {
      const alt = attr(m[4] ?? '', 'alt');
      if (alt !== undefined && !closing) out += decodeHTML(alt);
    } else if (name === 'pre' || name === 'textarea') {
      pre += closing ? (pre > 0 ? -1 : 0) : 1;
      out += EDGE;
    } else if (name === 'td' || name === 'th') {
      if (closing) out += '\t';
    } else if (BLOCK.has(name)) out += EDGE;
  }
  text(src.slice(last));
  // Block edges in a row are one line break; a <br> that ends a block adds none (as browsers render it);
  // spaces next to a line break are layout, not content.
  return out
    .replace(/ *\u0001[ \u0001]*/g, EDGE)
    .replace(/\u0000 *\u0001/g, EDGE)
    .replace(/[\u0000\u0001]/g, '\n')
    .split('\n')
    .map((l) => l.replace(/^ +| +$/g, ''))
    .join('\n')
    .replace(/\u00a0/g, ' ')
    .replace(/\t+\n/g, '\n')
    .replace(/^\n+|\n+$/g, '');
}
