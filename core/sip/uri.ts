/**
 * SIP URI (RFC 3261 §19.1, §25.1; IPv6 references per RFC 5118), name-addr / addr-spec (§20.10),
 * Via (§20.42) and CSeq (§20.16). Linear scanners; every failure is a TaplineError(SIP_PARSE).
 */
import * as lex from './headers';
import type { CSeq, NameAddr, SipUri, Via } from './types';

// Bound once: tsx/esbuild turn each use of an imported name into a getter call, a fifth of the time in these loops.
const { clip, isLws, isTokenChar, quotedEnd, sipFail, skipLws, trimLws, unquote } = lex;

type Params = Record<string, string | null>;

function setParam(into: Params, name: string, value: string | null): void {
  if (name !== '__proto__') into[name] = value; // a plain object: never let input reach the prototype
}

/** %XX decoding that never throws: malformed escapes (RFC 4475 §3.1.1.5 "%Z") are kept as written. */
export function pctDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    const bytes: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const hex = c === 37 && i + 2 < s.length ? s.slice(i + 1, i + 3) : '';
      if (hex.length === 2 && isHex(hex.charCodeAt(0)) && isHex(hex.charCodeAt(1))) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else for (const b of Buffer.from(s[i] ?? '', 'utf8')) bytes.push(b);
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** hostname / IPv4 characters; '_' is tolerated because real deployments use it. */
const HOST = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._') HOST[c.charCodeAt(0)] = 1;

function isHostChar(c: number): boolean {
  return c < 128 && HOST[c] === 1;
}

/**
 * Set by parseSipMessage for the duration of one (synchronous) parse in lenient mode: grammar slips that real
 * equipment makes are accepted and noted here instead of rejected.
 */
export const leniency: { on: boolean; notes: string[] } = { on: false, notes: [] };

/** An unbracketed IPv6 address (RFC 5118 §4.2 forbids it; some phones send it): the last group is a port only
 *  when there are already eight groups before it. */
function lenientV6(s: string, i: number, end: number, inUri: boolean, where: string): { host: string; port?: number; next: number } {
  let k = i;
  while (k < end && !isHostStop(s.charCodeAt(k), inUri)) k++;
  const text = s.slice(i, k);
  const groups = text.split(':');
  leniency.notes.push(`${where}: IPv6 address not enclosed in [] (RFC 5118 §4.2), accepted`);
  const last = groups[groups.length - 1] ?? '';
  if (groups.length > 8 && /^\d{1,5}$/.test(last) && Number(last) <= 65535) {
    return { host: groups.slice(0, -1).join(':'), port: Number(last), next: k };
  }
  return { host: text, next: k };
}

/** A host ends at ';' (parameters), at '?' (URI headers, URIs only) or at LWS (Via). */
function isHostStop(c: number, inUri: boolean): boolean {
  return c === 59 || (inUri && c === 63) || c === 32 || c === 9;
}

/**
 * Parses a host [":" port] at s[i..end): a hostname, IPv4 address or bracketed IPv6 reference.
 * Returns the host (IPv6 without brackets), the port, and the index after them.
 */
function parseHostPort(s: string, i: number, end: number, inUri: boolean, where: string): { host: string; port?: number; next: number } {

  let host: string;
  if (s.charCodeAt(i) === 91) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= end) sipFail(`${where}: unterminated IPv6 reference in '${clip(s)}'`, 'host', { where });
    host = s.slice(i + 1, close);
    let colons = 0;
    for (let k = 0; k < host.length; k++) {
      const c = host.charCodeAt(k);
      if (c === 58) colons++;
      // RFC 5118 §4.10: the 3-colon form the RFC 3261 ABNF allowed is accepted as written.
      else if (!isHex(c) && c !== 46) sipFail(`${where}: invalid IPv6 reference [${clip(host)}]`, 'host', { where });
    }
    if (colons < 2) sipFail(`${where}: invalid IPv6 reference [${clip(host)}]`, 'host', { where });
    i = close + 1;
  } else {
    const hs = i;
    while (i < end && s.charCodeAt(i) !== 58 && !isHostStop(s.charCodeAt(i), inUri)) {
      if (!isHostChar(s.charCodeAt(i))) sipFail(`${where}: invalid character '${s[i]}' in host '${clip(s.slice(hs, end))}'`, 'host', { where });
      i++;
    }
    host = s.slice(hs, i);
    if (host === '') sipFail(`${where}: missing host in '${clip(s)}'`, 'host', { where });
  }
  const j = skipLws(s, i, end);
  if (j >= end || s.charCodeAt(j) !== 58) return { host, next: i };
  const ps = skipLws(s, j + 1, end);
  let k = ps;
  while (k < end && isDigit(s.charCodeAt(k))) k++;
  const portText = s.slice(ps, k);
  const bad = k === ps || (k < end && !isHostStop(s.charCodeAt(k), inUri));
  if (bad) {
    const v6 = s.slice(j + 1, end).indexOf(':') >= 0;
    if (v6 && leniency.on) return lenientV6(s, i - host.length, end, inUri, where);
    sipFail(
      v6 ? `${where}: IPv6 address must be enclosed in [] (RFC 5118 §4.2): '${clip(s)}'` : `${where}: invalid port in '${clip(s)}'`,
      v6 ? 'ipv6-reference' : 'port',
      { where },
    );
  }
  const port = portText.length > 5 ? 65536 : Number(portText);
  if (port > 65535) sipFail(`${where}: port ${clip(portText)} is larger than 65535`, 'port', { where });
  return { host, port, next: k };
}

/** Controls, SP, DEL, '"', '<', '>': never legal unescaped in a URI. A single class: no backtracking. */
const FORBIDDEN_RE = /[\x00-\x20\x7f"<>]/;

/** Parses a URI as written. `noHeaders` enforces RFC 3261 §19.1.1: no ?headers in a Request-URI. */
export function parseUri(raw: string, where: string, noHeaders = false): SipUri {
  const colon = raw.indexOf(':');
  if (colon <= 0) sipFail(`${where}: '${clip(raw)}' has no URI scheme`, 'uri-scheme', { where });
  if (FORBIDDEN_RE.test(raw)) sipFail(`${where}: URI '${clip(raw)}' contains whitespace or a forbidden character`, 'uri-char', { where });
  for (let i = 0; i < colon; i++) {
    const c = raw.charCodeAt(i);
    if (i === 0 ? !isAlpha(c) : !(isAlpha(c) || isDigit(c) || c === 43 || c === 45 || c === 46)) {
      sipFail(`${where}: invalid URI scheme in '${clip(raw)}'`, 'uri-scheme', { where });
    }
  }
  const scheme = raw.slice(0, colon).toLowerCase();
  const params: Params = {};
  const headers: Record<string, string> = {};
  if (scheme === 'tel') {
    const semi = raw.indexOf(';', colon);
    const end = semi < 0 ? raw.length : semi;
    parseUriParams(raw, end, raw.length, params);
    return { scheme, user: raw.slice(colon + 1, end), host: '', params, headers, raw };
  }
  // Unknown schemes are kept opaque (RFC 4475 §3.3.2): the recorder has no business interpreting them.
  if (scheme !== 'sip' && scheme !== 'sips') return { scheme, host: '', params, headers, raw };

  let p = colon + 1;
  let user: string | undefined;
  let password: string | undefined;
  const at = raw.indexOf('@', p);
  if (at >= 0) {
    // userinfo may itself contain ';' '?' ',' (RFC 4475 §3.1.1.2), so '@' decides where it ends.
    const ui = raw.slice(p, at);
    const pc = ui.indexOf(':');
    user = pctDecode(pc < 0 ? ui : ui.slice(0, pc));
    if (pc >= 0) password = pctDecode(ui.slice(pc + 1));
    if (ui === '' || user === '') sipFail(`${where}: empty user part in '${clip(raw)}'`, 'uri-user', { where });
    p = at + 1;
  }
  const hp = parseHostPort(raw, p, raw.length, true, where);
  p = hp.next;
  if (p < raw.length && raw.charCodeAt(p) !== 59 && raw.charCodeAt(p) !== 63) {
    sipFail(`${where}: unexpected '${raw[p]}' after the host in '${clip(raw)}'`, 'host', { where });
  }
  let q = raw.indexOf('?', p);
  if (q < 0) q = raw.length;
  parseUriParams(raw, p, q, params);
  if (q < raw.length) {
    if (noHeaders) sipFail(`${where} must not contain escaped headers ('?${clip(raw.slice(q + 1), 30)}')`, 'ruri-headers', { where });
    for (const h of raw.slice(q + 1).split('&')) {
      if (h === '') continue;
      const eq = h.indexOf('=');
      const name = eq < 0 ? h : h.slice(0, eq);
      if (name !== '__proto__') headers[name] = eq < 0 ? '' : h.slice(eq + 1);
    }
  }
  const uri: SipUri = { scheme, host: hp.host, params, headers, raw };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hp.port !== undefined) uri.port = hp.port;
  return uri;
}

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** ";name[=value]" URI parameters in raw[from..to); names lower-cased, both %-decoded; empty ones skipped. */
function parseUriParams(raw: string, from: number, to: number, into: Params): void {
  let p = from;
  while (p < to) {
    let e = raw.indexOf(';', p + 1);
    if (e < 0 || e > to) e = to;
    const seg = raw.slice(p + 1, e);
    p = e;
    if (seg === '') continue;
    const eq = seg.indexOf('=');
    setParam(into, pctDecode(eq < 0 ? seg : seg.slice(0, eq)).toLowerCase(), eq < 0 ? null : pctDecode(seg.slice(eq + 1)));
  }
}

/**
 * Header parameters: *( SWS ";" SWS token [ SWS "=" SWS ( token / host / quoted-string ) ] ) from s[i..].
 * An empty parameter (";;", RFC 4475 §3.1.2.1) or trailing junk is an error. Quoted values are unquoted.
 */
export function parseHeaderParams(s: string, i: number, into: Params, where: string): void {
  const end = s.length;
  for (;;) {
    i = skipLws(s, i);
    if (i >= end) return;
    if (s.charCodeAt(i) !== 59) sipFail(`${where}: unexpected '${s[i]}' in '${clip(s)}'`, 'params', { where });
    i = skipLws(s, i + 1);
    const ns = i;
    while (i < end && isTokenChar(s.charCodeAt(i))) i++;
    if (i === ns) sipFail(`${where}: empty parameter (extraneous ';') in '${clip(s)}'`, 'empty-param', { where });
    const name = s.slice(ns, i).toLowerCase();
    i = skipLws(s, i);
    if (i < end && s.charCodeAt(i) === 61) {
      i = skipLws(s, i + 1);
      if (i < end && s.charCodeAt(i) === 34) {
        const e = quotedEnd(s, i);
        if (e < 0) sipFail(`${where}: unterminated quoted string in parameter '${name}'`, 'quoted-string', { where });
        setParam(into, name, unquote(s.slice(i, e)));
        i = e;
      } else {
        const vs = i;
        for (; i < end; i++) {
          const c = s.charCodeAt(i);
          if (c === 59 || c === 44 || c === 34 || isLws(c)) break;
        }
        if (i === vs) sipFail(`${where}: parameter '${name}' has '=' but no value`, 'params', { where });
        setParam(into, name, s.slice(vs, i));
      }
    } else setParam(into, name, null);
  }
}

/**
 * name-addr or addr-spec with header parameters (From, To, Contact, Route, Refer-To...).
 * Enforces what RFC 4475 §3.1.2.6/.13/.14/.15 probe: balanced quotes, no LWS just inside <>, token-only
 * unquoted display names, and no '?' or ',' in a URI written without <>.
 */
export function parseNameAddr(value: string, where: string): NameAddr {
  const s = value;
  const n = s.length;
  let i = skipLws(s, 0);
  if (i >= n) sipFail(`${where} is empty`, 'name-addr', { where });
  let displayName: string | undefined;
  let c = s.charCodeAt(i);
  if (c === 34) {
    const e = quotedEnd(s, i);
    if (e < 0) sipFail(`${where}: unterminated quoted string in display name '${clip(s.slice(i))}'`, 'quoted-string', { where });
    displayName = unquote(s.slice(i, e));
    i = skipLws(s, e);
    if (s.charCodeAt(i) !== 60) sipFail(`${where}: a quoted display name must be followed by <URI>`, 'name-addr', { where });
  } else if (c !== 60) {
    let j = i;
    while (j < n && (isTokenChar((c = s.charCodeAt(j))) || isLws(c))) j++;
    if (j < n && c === 60) {
      displayName = trimLws(s.slice(i, j));
      i = j;
    } else if (j < n && c !== 58 && s.indexOf('<', j) >= 0) {
      sipFail(`${where}: display name '${clip(trimLws(s.slice(i, s.indexOf('<', j))))}' has characters that need quotes`, 'display-name', { where });
    }
  }
  let uri: SipUri;
  let after: number;
  if (s.charCodeAt(i) === 60) {
    const close = s.indexOf('>', i + 1);
    if (close < 0) sipFail(`${where}: '<' without '>' in '${clip(s)}'`, 'name-addr', { where });
    if (isLws(s.charCodeAt(i + 1)) || isLws(s.charCodeAt(close - 1))) {
      sipFail(`${where}: whitespace inside <> around the URI in '${clip(s)}'`, 'addr-spec', { where });
    }
    uri = parseUri(s.slice(i + 1, close), where);
    after = close + 1;
  } else {
    // addr-spec: everything up to the first ';' is the URI, the rest are header parameters (RFC 3261 §20).
    let e = s.indexOf(';', i);
    if (e < 0) e = n;
    const raw = trimLws(s.slice(i, e));
    if (raw.indexOf('?') >= 0 || raw.indexOf(',') >= 0) {
      sipFail(`${where}: URI '${clip(raw)}' contains '?' or ',' and must be enclosed in <> (RFC 3261 §20)`, 'name-addr', { where });
    }
    uri = parseUri(raw, where);
    after = e;
  }
  const params: Params = {};
  parseHeaderParams(s, after, params, where);
  const na: NameAddr = { uri, params };
  if (displayName !== undefined) na.displayName = displayName;
  return na;
}

function readToken(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

function viaFail(what: string, el: string): never {
  return sipFail(`Via: ${what} in '${clip(el)}'`, 'via', { where: 'Via' });
}

/** One Via element (already split from its list): sent-protocol LWS sent-by *( SEMI via-params ). */
export function parseVia(el: string): Via {
  let i = skipLws(el, 0);
  const parts: string[] = [];
  for (let k = 0; k < 3; k++) {
    if (k > 0) {
      if (el.charCodeAt(i) !== 47) viaFail('malformed sent-protocol', el);
      i = skipLws(el, i + 1);
    }
    const e = readToken(el, i);
    if (e === i) viaFail('malformed sent-protocol', el);
    parts.push(el.slice(i, e));
    i = skipLws(el, e);
  }
  if (i === el.length) viaFail('missing sent-by', el);
  if (!isLws(el.charCodeAt(i - 1))) viaFail('missing space before sent-by', el);
  const hp = parseHostPort(el, i, el.length, false, 'Via');
  const params: Params = {};
  parseHeaderParams(el, hp.next, params, 'Via');
  const via: Via = { protocol: `${parts[0]!.toUpperCase()}/${parts[1]!}`, transport: parts[2]!.toUpperCase(), host: hp.host, params };
  if (hp.port !== undefined) via.port = hp.port;
  return via;
}

/** CSeq = 1*DIGIT LWS Method. `seq` may exceed 2^32-1 here; the caller range-checks it with the other scalars. */
export function parseCSeq(value: string): CSeq {
  let i = skipLws(value, 0);
  const ds = i;
  while (i < value.length && isDigit(value.charCodeAt(i))) i++;
  const digits = value.slice(ds, i);
  const ms = skipLws(value, i);
  const me = readToken(value, ms);
  if (digits === '' || ms === i || me === ms || skipLws(value, me) !== value.length) {
    sipFail(`malformed CSeq '${clip(value)}'`, 'cseq', { where: 'CSeq' });
  }
  return { seq: digits.length > 16 ? Infinity : Number(digits), method: value.slice(ms, me) };
}
