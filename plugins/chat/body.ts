/**
 * Message bodies to transcript text (lync-protocols.md §6): text/plain, text/html, text/rtf and
 * multipart/alternative (the richest part kept, with a plain rendering), any charset iconv-lite knows, base64
 * and quoted-printable transfer encodings, and the msgr= formatting metadata. A body that cannot be read as
 * declared (bad base64, bytes that are not the declared charset, a truncated multipart) still yields the best
 * text available, a warning saying what was wrong, and the raw bytes: never an exception, never a lost message.
 */
import * as iconv from 'iconv-lite';
import { walkMimeParts } from '../../core/sip/multipart';
import type { TranscriptMessage } from '../../core/contract';
import { htmlToText } from './html-text';
import { looksLikeRtf, rtfToText } from './rtf-text';

export interface DecodedText {
  text: string;
  contentType: string;
  rich?: { contentType: string; body: string };
  format?: NonNullable<TranscriptMessage['format']>;
  warnings: string[];
  /** Set when a warning was raised: the body exactly as received. */
  raw?: { contentType: string; base64: string };
}

export interface ContentType {
  type: string;
  params: Record<string, string>;
}

/** 'text/plain; charset="UTF-8";msgr=…' → { type: 'text/plain', params: { charset: 'UTF-8', msgr: '…' } }. */
export function parseContentType(raw: string): ContentType {
  const [head = '', ...rest] = splitParams(raw);
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[p.slice(0, eq).trim().toLowerCase()] = v;
  }
  return { type: head.trim().toLowerCase(), params };
}

/** Splits at ';' outside quotes. */
function splitParams(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') q = !q;
    if (c === ';' && !q) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Strict base64 (RFC 4648 alphabet; whitespace allowed, padding optional): undefined when it is not base64. */
export function decodeBase64Strict(s: string): Buffer | undefined {
  const t = s.replace(/[\s]+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.replace(/=+$/, '').length % 4 === 1) return undefined;
  if (/=/.test(t) && t.length % 4 !== 0) return undefined;
  return Buffer.from(t, 'base64');
}

/** Quoted-printable (RFC 2045 §6.7); `bad` counts '=' sequences that are neither a hex octet nor a soft break. */
export function decodeQuotedPrintable(s: Buffer): { bytes: Buffer; bad: number } {
  const out: number[] = [];
  let bad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== 0x3d) {
      out.push(c);
      continue;
    }
    const h = s.toString('latin1', i + 1, i + 3);
    if (/^[0-9A-Fa-f]{2}$/.test(h)) {
      out.push(parseInt(h, 16));
      i += 2;
    } else if (s[i + 1] === 0x0d && s[i + 2] === 0x0a) i += 2;
    else if (s[i + 1] === 0x0a) i += 1;
    else {
      bad++;
      out.push(c);
    }
  }
  return { bytes: Buffer.from(out), bad };
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Bytes to characters in `charset` (default UTF-8). Bytes that are not what was declared: Windows-1252 guess + warning. */
export function decodeCharset(bytes: Buffer, charset: string | undefined, warnings: string[]): string {
  const name = (charset ?? 'utf-8').trim().toLowerCase();
  if (name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || name === 'ascii') {
    try {
      return utf8Strict.decode(bytes).replace(/^\uFEFF/, '');
    } catch {
      warnings.push(`body is not valid ${charset ?? 'UTF-8 (the default)'}: read as Windows-1252`);
      return iconv.decode(bytes, 'windows-1252');
    }
  }
  if (!iconv.encodingExists(name)) {
    warnings.push(`unknown charset "${charset}": read as UTF-8`);
    return bytes.toString('utf8');
  }
  return iconv.decode(bytes, name);
}

/** msgr=: base64 of UTF-16LE 'X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=0; CS=0; PF=0' (MS-CONFIM). */
export function decodeMsgr(msgr: string): NonNullable<TranscriptMessage['format']> {
  const out: NonNullable<TranscriptMessage['format']> = { msgr };
  const bytes = decodeBase64Strict(msgr);
  if (bytes === undefined || bytes.length < 2) return out;
  const text = bytes.toString('utf16le');
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0) end--; // a loop: /\u0000+$/ is quadratic on a long NUL run
  const decoded = text.slice(0, end).trim();
  if (!/^[\x20-\x7e\r\n\t]*$/.test(decoded) || !/X-MMS-IM-Format/i.test(decoded)) return out;
  out.decoded = decoded;
  const fields: Record<string, string> = {};
  for (const part of decoded.replace(/^X-MMS-IM-Format:\s*/i, '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    let v = part.slice(eq + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      // keep as written
    }
    fields[part.slice(0, eq).trim()] = v;
  }
  out.fields = fields;
  return out;
}

function rawOf(contentType: string, body: Buffer): { contentType: string; base64: string } {
  return { contentType, base64: body.toString('base64') };
}

/** Undoes a Content-Transfer-Encoding; a broken encoding gives the bytes as received and a warning. */
function undoTransferEncoding(body: Buffer, cte: string | undefined, warnings: string[]): Buffer {
  const enc = cte?.trim().toLowerCase();
  if (enc === undefined || enc === '' || enc === '7bit' || enc === '8bit' || enc === 'binary') return body;
  if (enc === 'base64') {
    const b = decodeBase64Strict(body.toString('latin1'));
    if (b !== undefined) return b;
    warnings.push('Content-Transfer-Encoding base64, but the body is not valid base64: kept as received');
    return body;
  }
  if (enc === 'quoted-printable') {
    const { bytes, bad } = decodeQuotedPrintable(body);
    if (bad > 0) warnings.push(`quoted-printable body with ${bad} malformed escape(s): those kept as received`);
    return bytes;
  }
  warnings.push(`unknown Content-Transfer-Encoding "${cte}": body kept as received`);
  return body;
}

interface Part {
  ct: ContentType;
  ctRaw: string;
  chars: string;
}

function readPart(ctRaw: string, body: Buffer, cte: string | undefined, warnings: string[]): Part {
  const ct = parseContentType(ctRaw);
  const bytes = undoTransferEncoding(body, cte, warnings);
  // RTF is 7-bit text whose \'hh escapes are decoded by the RTF reader: keep every byte as one character.
  const chars = ct.type === 'text/rtf' || ct.type === 'application/rtf' ? bytes.toString('latin1') : decodeCharset(bytes, ct.params.charset, warnings);
  return { ct, ctRaw, chars };
}

function partText(p: Part, warnings: string[]): string {
  switch (p.ct.type) {
    case 'text/html':
    case 'application/xhtml+xml':
      return htmlToText(p.chars);
    case 'text/rtf':
    case 'application/rtf': {
      if (!looksLikeRtf(p.chars)) {
        warnings.push('text/rtf body does not start with {\\rtf: kept as plain text');
        return p.chars;
      }
      const r = rtfToText(p.chars);
      warnings.push(...r.warnings);
      return r.text;
    }
    default:
      return p.chars;
  }
}

/** Richness order for multipart/alternative (RFC 2046 §5.1.4 puts the richest last; clients do not always). */
const RICHNESS: Record<string, number> = { 'text/plain': 1, 'text/rtf': 2, 'application/rtf': 2, 'text/html': 3, 'application/xhtml+xml': 3 };

/** True for the body types a transcript holds as text. */
export function isTextType(type: string): boolean {
  return type.startsWith('text/') || type === 'multipart/alternative' || type === 'multipart/related' || type === 'multipart/mixed' || type === 'application/rtf' || type === 'application/xhtml+xml';
}

/**
 * Decodes one message body. `contentTypeRaw` is the full Content-Type (with charset, msgr...), `cte` the
 * message's Content-Transfer-Encoding, if any.
 */
export function decodeTextBody(contentTypeRaw: string, body: Buffer, cte?: string): DecodedText {
  const warnings: string[] = [];
  const top = parseContentType(contentTypeRaw);
  const format = top.params.msgr !== undefined ? decodeMsgr(top.params.msgr) : undefined;
  let result: DecodedText;
  if (top.type.startsWith('multipart/')) {
    result = decodeMultipart(contentTypeRaw, top, body, warnings);
  } else {
    const p = readPart(contentTypeRaw || 'text/plain', body, cte, warnings);
    result = { text: partText(p, warnings), contentType: p.ct.type || 'text/plain', warnings };
    if (p.ct.type !== 'text/plain' && p.ct.type !== '' && RICHNESS[p.ct.type] !== undefined) result.rich = { contentType: p.ct.type, body: p.chars };
    if (!isTextType(p.ct.type || 'text/plain')) warnings.push(`"${p.ct.type}" is not a text type: kept as received`);
  }
  if (format !== undefined) result.format = format;
  if (warnings.length > 0) result.raw = rawOf(contentTypeRaw, body);
  return result;
}

function decodeMultipart(contentTypeRaw: string, top: ContentType, body: Buffer, warnings: string[]): DecodedText {
  let leaves;
  try {
    leaves = walkMimeParts(contentTypeRaw, body);
  } catch (e) {
    warnings.push(`${top.type} body unreadable (${(e as Error).message}): kept as received`);
    return { text: salvageText(body), contentType: top.type, warnings };
  }
  const parts: Part[] = [];
  for (const leaf of leaves) {
    const t = leaf.contentType;
    if (RICHNESS[t] === undefined && !t.startsWith('text/')) continue; // images of multipart/related, attachments
    parts.push(readPart(leaf.contentTypeRaw, leaf.body, leaf.headers['content-transfer-encoding'], warnings));
  }
  if (parts.length === 0) {
    warnings.push(`${top.type} body has no text part: kept as received`);
    return { text: '', contentType: top.type, warnings };
  }
  if (top.type !== 'multipart/alternative') {
    // mixed/related: the parts are all content; their texts in order.
    return { text: parts.map((p) => partText(p, warnings)).join('\n'), contentType: parts[0]!.ct.type, warnings };
  }
  const richest = parts.reduce((best, p) => ((RICHNESS[p.ct.type] ?? 0) >= (RICHNESS[best.ct.type] ?? 0) ? p : best));
  const plain = parts.find((p) => p.ct.type === 'text/plain');
  // The sender's own plain alternative is the text as typed; a rendering of the rich part only when there is none.
  const out: DecodedText = { text: plain !== undefined ? plain.chars : partText(richest, warnings), contentType: plain?.ct.type ?? richest.ct.type, warnings };
  if (richest !== plain) {
    out.rich = { contentType: richest.ct.type, body: richest.chars };
    if (plain === undefined) out.contentType = richest.ct.type;
  }
  const msgr = parseContentType(richest.ctRaw).params.msgr ?? (plain ? parseContentType(plain.ctRaw).params.msgr : undefined);
  if (msgr !== undefined) out.format = decodeMsgr(msgr);
  return out;
}

/** Text readable from a body that could not be parsed as declared: its text-looking lines, best effort. */
function salvageText(body: Buffer): string {
  const s = decodeCharset(body, 'utf-8', []);
  return s
    .split(/\r?\n/)
    .filter((l) => !/^--/.test(l) && !/^content-[a-z-]+:/i.test(l))
    .join('\n')
    .trim();
}

/**
 * The first message carried by an INVITE (lync-protocols.md §6): 'ms-text-format: text/plain; charset=UTF-8;
 * msgr=…;ms-body=<base64>'. Undefined when the header has no ms-body.
 */
export function decodeMsTextFormat(header: string): DecodedText | undefined {
  const parts = splitParams(header);
  const bodyParam = parts.findIndex((p) => /^\s*ms-body\s*=/i.test(p));
  if (bodyParam < 0) return undefined;
  const b64 = parts[bodyParam]!.slice(parts[bodyParam]!.indexOf('=') + 1).trim();
  const ctRaw = parts.filter((_, i) => i !== bodyParam).join(';');
  const bytes = decodeBase64Strict(b64);
  if (bytes === undefined) {
    const warnings = ['ms-text-format: ms-body is not valid base64: kept as received'];
    const out: DecodedText = { text: b64, contentType: parseContentType(ctRaw).type || 'text/plain', warnings, raw: { contentType: header, base64: Buffer.from(b64, 'latin1').toString('base64') } };
    const msgr = parseContentType(ctRaw).params.msgr;
    if (msgr !== undefined) out.format = decodeMsgr(msgr);
    return out;
  }
  return decodeTextBody(ctRaw, bytes);
}
