/**
 * SIP message parser (RFC 3261 §7, checked against the RFC 4475 torture tests and RFC 5118 IPv6 tests).
 *
 * Strict where the grammar is broken (start line, header lines, name-addr, Via, scalar ranges, framing) and
 * lenient where only application semantics are wrong (missing or repeated single-value headers become
 * `warnings`, as RFC 4475 §3.3 asks). Route, Record-Route and other headers are kept raw and parsed on demand.
 */
import * as lex from './headers';
import type { HeaderEntry } from './headers';
import * as grammar from './uri';
import type { CSeq, NameAddr, SipMessage, SipRequest, SipResponse, SipUri, Via } from './types';

export interface ParseOptions {
  /**
   * 'udp' (default): one datagram; bytes after Content-Length are ignored (RFC 4475 §3.1.1.8) and a missing
   * Content-Length means "rest of the datagram". 'stream': Content-Length is mandatory (RFC 3261 §18.3).
   */
  transport?: 'udp' | 'stream';
  /**
   * Accept grammar slips real equipment makes (unbracketed IPv6 hosts, a non-GMT Date, overlarge scalar values),
   * noting each in `warnings`, instead of rejecting the message. A recorder parses leniently so that no call is
   * lost; conformance checks (RFC 4475) parse strictly, the default.
   */
  lenient?: boolean;
}

// Bound once: tsx/esbuild turn each use of an imported name into a getter call.
const { clip, canonicalHeader, HeaderStore, isLws, isToken, sipFail, splitList, trimLws } = lex;
const { parseCSeq, parseNameAddr, parseUri, parseVia } = grammar;

const MAX_U32 = 4294967295;
const LF_CRLF = Buffer.from('\n\r\n', 'latin1');
const LF_LF = Buffer.from('\n\n', 'latin1');
const DATE_RE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const VERSION_RE = /^SIP\/\d{1,9}\.\d{1,9}$/;

/** Parses one SIP message from the start of `buf` (leading CRLFs skipped). The body shares `buf`'s memory. */
export function parseSipMessage(buf: Buffer, opts: ParseOptions = {}): SipMessage {
  if (opts.lenient !== true) return parseStrictOrNot(buf, opts);
  grammar.leniency.on = true;
  grammar.leniency.notes = [];
  try {
    const msg = parseStrictOrNot(buf, opts);
    if (grammar.leniency.notes.length > 0) msg.warnings = [...(msg.warnings ?? []), ...grammar.leniency.notes];
    return msg;
  } finally {
    grammar.leniency.on = false;
    grammar.leniency.notes = [];
  }
}

function parseStrictOrNot(buf: Buffer, opts: ParseOptions): SipMessage {
  const stream = opts.transport === 'stream';
  const n = buf.length;
  let start = 0;
  while (start < n && (buf[start] === 13 || buf[start] === 10)) start++; // RFC 3261 §7.5 keep-alive CRLFs
  if (start >= n) sipFail(n === 0 ? 'empty SIP message' : 'only CRLF keep-alive bytes, no SIP message', 'empty');

  // End of the header section: the first empty line, whether lines end in CRLF or bare LF.
  // Two native searches beat walking ~20 lines from JS.
  let textEnd = buf.indexOf(LF_CRLF, start);
  let bodyStart = textEnd + 3;
  const bare = buf.indexOf(LF_LF, start);
  if (bare >= 0 && (textEnd < 0 || bare < textEnd)) {
    textEnd = bare;
    bodyStart = bare + 2;
  }
  const warnings: string[] = [];
  if (textEnd < 0) {
    // A datagram may stop right after its last header line (RFC 5118's files do); a stream cannot.
    if (stream || buf[n - 1] !== 10) sipFail('no empty line ends the header section (truncated message?)', 'truncated', { bytes: n - start });
    textEnd = n - 1;
    bodyStart = n;
    warnings.push('header section not terminated by an empty line');
  }
  const text = buf.toString('utf8', start, textEnd);

  let nl = text.indexOf('\n');
  if (nl < 0) nl = text.length;
  const startLine = text.charCodeAt(nl - 1) === 13 ? text.slice(0, nl - 1) : text.slice(0, nl);
  // Start line first: when it is broken, that is the problem to report (RFC 4475 test.dat).
  let req: { method: string; requestUri: SipUri } | undefined;
  let status = 0;
  let reason = '';
  if (startsWithSip(startLine)) ({ status, reason } = parseStatusLine(startLine));
  else req = parseRequestLine(startLine);

  // Header lines: unfold continuations (RFC 3261 §7.3.1) and canonicalise names.
  const names: string[] = [];
  const keys: string[] = [];
  const values: string[] = [];
  for (let pos = nl + 1; pos < text.length; ) {
    let e = text.indexOf('\n', pos);
    if (e < 0) e = text.length;
    const le = e > pos && text.charCodeAt(e - 1) === 13 ? e - 1 : e;
    const next = e + 1;
    if (isLws(text.charCodeAt(pos))) {
      const k = values.length - 1;
      if (k < 0) sipFail('the first header line starts with whitespace', 'folding');
      const more = trimLws(text.slice(pos, le));
      if (more !== '') values[k] = values[k] === '' ? more : `${values[k]} ${more}`;
      pos = next;
      continue;
    }
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon >= le) sipFail(`header line '${clip(text.slice(pos, le))}' has no ':'`, 'header-line');
    let ne = colon;
    while (ne > pos && isLws(text.charCodeAt(ne - 1))) ne--;
    const name = text.slice(pos, ne);
    if (!isToken(name)) sipFail(`invalid header name '${clip(name)}'`, 'header-name');
    const canon = canonicalHeader(name);
    names.push(canon[0]);
    keys.push(canon[1]);
    values.push(trimLws(text.slice(colon + 1, le)));
    pos = next;
  }
  const list: HeaderEntry[] = new Array<HeaderEntry>(names.length);
  for (let k = 0; k < names.length; k++) list[k] = [names[k]!, values[k]!];
  const headers = new HeaderStore(list, keys);

  // Pick out what the convenience fields and the checks need, in one pass.
  let callIdV: string | undefined;
  let cseqV: string | undefined;
  let fromV: string | undefined;
  let toV: string | undefined;
  let ctypeV: string | undefined;
  let clV: string | undefined;
  let clConflict = false;
  const viaV: string[] = [];
  const contactV: string[] = [];
  const checks: number[] = [];
  for (let k = 0; k < keys.length; k++) {
    const v = values[k]!;
    switch (keys[k]) {
      case 'via': viaV.push(v); break;
      case 'call-id': if (callIdV === undefined) callIdV = v; else if (v !== callIdV) dup(warnings, 'Call-ID'); break;
      case 'cseq': if (cseqV === undefined) cseqV = v; else if (v !== cseqV) dup(warnings, 'CSeq'); break;
      case 'from': if (fromV === undefined) fromV = v; else dup(warnings, 'From'); break;
      case 'to': if (toV === undefined) toV = v; else dup(warnings, 'To'); break;
      case 'contact': contactV.push(v); break;
      case 'content-type': if (ctypeV === undefined) ctypeV = v; else dup(warnings, 'Content-Type'); break;
      case 'content-length':
        if (clV === undefined) clV = v;
        else if (v !== clV) clConflict = true;
        break;
      case 'max-forwards': case 'expires': case 'date': case 'retry-after': case 'warning': checks.push(k); break;
      default:
    }
  }

  // Body framing (RFC 3261 §18.3, §20.14). A datagram frames itself: leniently, a Content-Length that cannot be
  // right for it (unreadable, or more than the datagram holds) gives way to the datagram's own end.
  const lenient = grammar.leniency.on;
  const datagram = lenient && !stream;
  let cl: number | undefined;
  if (clV !== undefined) {
    const negative = clV.charCodeAt(0) === 45 && isDigits(clV.slice(1));
    if (!negative && isDigits(clV)) cl = clV.length > 15 ? Infinity : Number(clV);
    else if (datagram) warnings.push(`repaired: Content-Length '${clip(clV)}' unreadable; the body is the rest of the datagram`);
    else if (negative) sipFail(`negative Content-Length ${clip(clV)}`, 'negative-content-length');
    else sipFail(`malformed Content-Length '${clip(clV)}'`, 'content-length');
  }
  const avail = n - bodyStart;
  let bodyLen = avail;
  if (clConflict) {
    if (stream) sipFail('conflicting Content-Length headers: message boundary unknown on a stream', 'content-length-conflict');
    warnings.push('conflicting Content-Length headers; the body is the rest of the datagram');
  } else if (cl === undefined) {
    if (stream) sipFail('no Content-Length on a stream transport (RFC 3261 §18.3 requires it)', 'no-content-length');
  } else if (cl > avail && datagram) {
    warnings.push(`repaired: Content-Length ${clip(clV ?? '')} exceeds the ${avail} body bytes of the datagram; the body is the rest of the datagram`);
  } else if (cl > avail) {
    sipFail(`Content-Length ${clip(clV ?? '')} exceeds the ${avail} body bytes present`, 'content-length-exceeds-body', { contentLength: cl, available: avail });
  } else bodyLen = cl;
  const body = buf.subarray(bodyStart, bodyStart + bodyLen);

  // Convenience fields. Missing ones are semantic problems (RFC 4475 §3.3.1): placeholders plus a warning.
  let cseq: CSeq;
  if (cseqV === undefined) {
    warnings.push('missing CSeq');
    cseq = { seq: 0, method: '' };
  } else cseq = parseCSeq(cseqV);
  if (req !== undefined && cseqV !== undefined && cseq.method !== req.method) {
    sipFail(`CSeq method ${clip(cseq.method)} does not match the request method ${clip(req.method)}`, 'cseq-method-mismatch');
  }
  if (callIdV === undefined) warnings.push('missing Call-ID');
  else if (callIdV === '') sipFail('empty Call-ID', 'call-id');
  const from = fromV === undefined ? missingAddr('From', warnings) : lenient ? tolerantAddr(fromV, 'From', warnings) : parseNameAddr(fromV, 'From');
  const to = toV === undefined ? missingAddr('To', warnings) : lenient ? tolerantAddr(toV, 'To', warnings) : parseNameAddr(toV, 'To');
  const via: Via[] = [];
  for (const v of viaV) {
    for (const el of splitList(v)) {
      if (el === '') {
        if (lenient) {
          warnings.push(`repaired: empty Via value in '${clip(v)}' ignored`);
          continue;
        }
        sipFail(`empty Via value (extraneous ',') in '${clip(v)}'`, 'empty-param', { where: 'Via' });
      }
      if (!lenient) via.push(parseVia(el));
      else {
        const parsed = tolerantVia(el, warnings);
        if (parsed !== undefined) via.push(parsed);
      }
    }
  }
  if (via.length === 0) warnings.push('missing Via');
  const scalars: string[] = [];
  if (cseq.seq > MAX_U32) scalars.push(`CSeq ${clip(trimLws(cseqV ?? ''), 30)} > 2^32-1`);
  let contact: NameAddr[] | undefined;
  for (const v of contactV) {
    for (const el of splitList(v)) {
      if (el === '*') continue;
      if (el === '') {
        if (lenient) continue;
        sipFail(`empty Contact value (extraneous ',') in '${clip(v)}'`, 'empty-param', { where: 'Contact' });
      }
      let na: NameAddr;
      try {
        na = parseNameAddr(el, 'Contact');
      } catch (e) {
        // The recorder follows a call by Call-ID, tags and CSeq; an unreadable Contact is only noted.
        if (!lenient) throw e;
        warnings.push(`repaired: Contact '${clip(el)}' unreadable, left out (${(e as Error).message})`);
        continue;
      }
      const exp = na.params.expires;
      if (typeof exp === 'string' && isDigits(exp) && overU32(exp)) scalars.push(`Contact expires ${clip(exp, 30)} > 2^32-1`);
      (contact ??= []).push(na);
    }
  }
  for (const k of checks) {
    try {
      checkScalar(names[k]!, values[k]!, scalars);
    } catch (e) {
      if (!lenient) throw e;
      warnings.push(`repaired: ${names[k]!} '${clip(values[k]!)}' unreadable, ignored`);
    }
  }
  if (scalars.length > 0) {
    if (grammar.leniency.on) warnings.push(`scalar values out of range, kept as written: ${scalars.join('; ')}`);
    else sipFail(`scalar values out of range: ${scalars.join('; ')}`, 'scalar-range', { fields: scalars });
  }

  let contentType: string | undefined;
  if (ctypeV !== undefined) contentType = mediaType(ctypeV);

  const common = {
    version: 'SIP/2.0',
    headers,
    callId: callIdV ?? '',
    cseq,
    from,
    to,
    via,
    contentType,
    body,
    wireLength: bodyStart + bodyLen - start,
    contact,
    warnings: warnings.length > 0 ? warnings : undefined,
  };
  if (req !== undefined) {
    const r: SipRequest = { kind: 'request', method: req.method, requestUri: req.requestUri, ...common };
    return r;
  }
  const r: SipResponse = { kind: 'response', status, reason, ...common };
  return r;
}

/**
 * Lenient only: a Via the recorder cannot read does not cost the call (it follows calls by Call-ID, tags and CSeq).
 * Junk after the last parameter is cut off (one word at a time, a few at most); a Via that stays unreadable is left
 * out. Either way the message's warnings say so.
 */
function tolerantVia(el: string, warnings: string[]): Via | undefined {
  let first: unknown;
  let text = el;
  for (let tries = 0; tries < 4; tries++) {
    try {
      const v = parseVia(text);
      if (text !== el) warnings.push(`repaired: Via '${clip(el)}': '${clip(el.slice(text.length).trim())}' after it ignored`);
      return v;
    } catch (e) {
      first ??= e;
      const cut = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\t'));
      if (cut <= 0) break;
      text = text.slice(0, cut).trimEnd();
    }
  }
  warnings.push(`repaired: Via '${clip(el)}' unreadable, left out (${(first as Error).message})`);
  return undefined;
}

/** Control characters (NUL, CR, ...) in a name or URI, percent-escaped so that they are kept, visibly, not fatal. */
function escapeControls(v: string): string {
  return v.replace(/[\u0000-\u001f\u007f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

/**
 * Lenient only: From and To carry the tags a dialog is followed by, so they are salvaged rather than refused: control
 * characters are kept escaped; failing that, the URI and the tag are taken as written.
 */
function tolerantAddr(v: string, where: string, warnings: string[]): NameAddr {
  try {
    return parseNameAddr(v, where);
  } catch (e) {
    const escaped = escapeControls(v);
    if (escaped !== v) {
      try {
        const na = parseNameAddr(escaped, where);
        warnings.push(`repaired: ${where} control characters kept escaped ('${clip(escaped)}')`);
        return na;
      } catch {
        // Not only control characters: fall through to the salvage.
      }
    }
    const uriText = /<([^>]*)>?/.exec(escaped)?.[1] ?? bareUri(escaped);
    let uri: SipUri;
    try {
      uri = parseUri(uriText.trim(), where, false);
    } catch {
      const colon = uriText.indexOf(':');
      uri = { scheme: colon > 0 ? uriText.slice(0, colon).toLowerCase() : '', host: '', params: {}, headers: {}, raw: uriText.trim() };
    }
    const params: Record<string, string | null> = {};
    const tag = /;\s*tag\s*=\s*([^;\s,>]+)/i.exec(escaped.slice(escaped.lastIndexOf('>') + 1))?.[1];
    if (tag !== undefined) params.tag = tag;
    warnings.push(`repaired: ${where} '${clip(escaped)}' unreadable (${(e as Error).message}); URI and tag taken as written`);
    return { uri, params };
  }
}

/**
 * The first "scheme:rest" in a value, found in one pass (a regex for it rescans from every letter: a 64 KiB From
 * of letters took seconds).
 */
function bareUri(v: string): string {
  const colon = v.indexOf(':');
  if (colon <= 0) return '';
  let s = colon;
  while (s > 0 && /[\w+.-]/.test(v.charAt(s - 1))) s--;
  while (s < colon && !/[a-zA-Z]/.test(v.charAt(s))) s++;
  if (s === colon) return '';
  let e = colon + 1;
  while (e < v.length && !/[\s;,>]/.test(v.charAt(e))) e++;
  return e > colon + 1 ? v.slice(s, e) : '';
}

function dup(warnings: string[], h: string): void {
  const w = `more than one ${h} header; the first is used`;
  if (warnings.indexOf(w) < 0) warnings.push(w);
}

function startsWithSip(line: string): boolean {
  const c = line.charCodeAt(0) | 32;
  return c === 115 && (line.charCodeAt(1) | 32) === 105 && (line.charCodeAt(2) | 32) === 112 && line.charCodeAt(3) === 47;
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Digit string > 2^32-1, without Number overflow tricks for 100-digit inputs. */
function overU32(d: string): boolean {
  let i = 0;
  while (i < d.length - 1 && d.charCodeAt(i) === 48) i++;
  return d.length - i > 10 || Number(d.slice(i)) > MAX_U32;
}

function checkVersion(v: string): void {
  if (v === 'SIP/2.0') return;
  const up = v.toUpperCase();
  if (up === 'SIP/2.0') return;
  if (VERSION_RE.test(up)) sipFail(`unsupported SIP version ${up}`, 'version', { version: up });
  sipFail(`malformed SIP version '${clip(v)}'`, 'version');
}

/** Status-Line = SIP-Version SP 3DIGIT SP Reason-Phrase; an empty reason is fine (RFC 4475 §3.1.1.13). */
function parseStatusLine(line: string): { status: number; reason: string } {
  const sp = line.indexOf(' ');
  checkVersion(sp < 0 ? line : line.slice(0, sp));
  if (sp < 0) sipFail('Status-Line has no status code', 'status-line');
  const sp2 = line.indexOf(' ', sp + 1);
  const code = sp2 < 0 ? line.slice(sp + 1) : line.slice(sp + 1, sp2);
  if (!isDigits(code)) sipFail(`malformed status code '${clip(code)}'`, 'status-line');
  if (code.length !== 3 || code < '100' || code > '699') sipFail(`status code ${clip(code)} is outside 100-699`, 'status-range', { status: code });
  return { status: Number(code), reason: sp2 < 0 ? '' : line.slice(sp2 + 1) };
}

/** Request-Line = Method SP Request-URI SP SIP-Version, single SPs, nothing trailing (RFC 4475 §3.1.2.7-10). */
function parseRequestLine(line: string): { method: string; requestUri: SipUri } {
  if (line.length === 0) sipFail('empty start line', 'start-line');
  if (isLws(line.charCodeAt(0))) sipFail('start line begins with whitespace', 'request-line');
  if (isLws(line.charCodeAt(line.length - 1))) sipFail('trailing whitespace at the end of the Request-Line', 'request-line');
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) sipFail(`start line '${clip(line)}' is neither a Request-Line nor a Status-Line`, 'start-line');
  const method = line.slice(0, sp1);
  if (!isToken(method)) sipFail(`invalid method '${clip(method)}'`, 'method');
  const sp2 = line.lastIndexOf(' ');
  if (sp2 === sp1) sipFail(`Request-Line '${clip(line)}' has no SIP-Version (RFC 2543-style?)`, 'request-line');
  if (line.charCodeAt(sp1 + 1) === 32 || line.charCodeAt(sp2 - 1) === 32) {
    sipFail('more than one SP between Request-Line elements', 'request-line');
  }
  checkVersion(line.slice(sp2 + 1));
  const uriText = line.slice(sp1 + 1, sp2);
  if (uriText.indexOf(' ') >= 0 || uriText.indexOf('\t') >= 0) sipFail(`whitespace inside the Request-URI '${clip(uriText)}'`, 'request-uri');
  if (uriText.charCodeAt(0) === 60) sipFail('the Request-URI must not be enclosed in <>', 'request-uri');
  return { method, requestUri: parseUri(uriText, 'Request-URI', true) };
}

function missingAddr(h: string, warnings: string[]): NameAddr {
  warnings.push(`missing ${h}`);
  return { uri: { scheme: '', host: '', params: {}, headers: {}, raw: '' }, params: {} };
}

/** 'Application/SDP; charset=x' -> 'application/sdp' (type "/" subtype, SWS allowed around the slash). */
function mediaType(v: string): string {
  const semi = v.indexOf(';');
  const mt = semi < 0 ? v : v.slice(0, semi);
  const slash = mt.indexOf('/');
  const type = trimLws(mt.slice(0, slash < 0 ? 0 : slash));
  const sub = trimLws(mt.slice(slash + 1));
  if (slash < 0 || !isToken(type) || !isToken(sub)) sipFail(`malformed Content-Type '${clip(v)}'`, 'content-type');
  return `${type}/${sub}`.toLowerCase();
}

/** Range checks RFC 4475 §3.1.2.4/.5/.12 probe; overflows are collected, format errors thrown at once. */
function checkScalar(name: string, v: string, out: string[]): void {
  switch (name) {
    case 'Max-Forwards':
      if (!isDigits(v)) sipFail(`malformed Max-Forwards '${clip(v)}'`, 'max-forwards');
      if (overU32(v) || Number(v) > 255) out.push(`Max-Forwards ${clip(v, 30)} > 255`);
      return;
    case 'Expires':
      // Only numeric values are range-checked: RFC 2543 allowed a date here (RFC 4475 §3.4.1 asks for tolerance).
      if (isDigits(v) && overU32(v)) out.push(`Expires ${clip(v, 30)} > 2^32-1`);
      return;
    case 'Retry-After': {
      let e = 0;
      while (e < v.length && v.charCodeAt(e) >= 48 && v.charCodeAt(e) <= 57) e++;
      if (e === 0) sipFail(`malformed Retry-After '${clip(v)}'`, 'retry-after');
      if (overU32(v.slice(0, e))) out.push(`Retry-After ${clip(v.slice(0, e), 30)} > 2^32-1`);
      return;
    }
    case 'Warning':
      for (const w of splitList(v)) {
        const sp = w.indexOf(' ');
        const code = sp < 0 ? w : w.slice(0, sp);
        if (code.length !== 3 || !isDigits(code)) out.push(`Warning code ${clip(code, 30)} is not 3 digits`);
      }
      return;
    case 'Date':
      if (DATE_RE.test(v)) return;
      if (grammar.leniency.on) {
        grammar.leniency.notes.push(`Date '${clip(v, 40)}' is not RFC 1123 GMT form, ignored`);
        return;
      }
      if (!v.endsWith(' GMT')) {
        sipFail(`invalid Date time zone '${clip(v.slice(v.lastIndexOf(' ') + 1), 20)}' (RFC 3261 §20.17 requires GMT)`, 'date-zone');
      }
      sipFail(`malformed Date '${clip(v)}'`, 'date');
      return;
    default:
  }
}
