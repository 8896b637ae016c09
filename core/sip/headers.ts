/**
 * SIP header store and the lexical helpers every SIP file shares (RFC 3261 §7.3, §25.1).
 * Hand-written scanners only: no regex runs over attacker-controlled header text, so nothing can backtrack.
 */
import { ErrorCodes, TaplineError } from '../errors';
import type { SipHeaders } from './types';

/** Throws the one error kind the SIP layer raises; `reason` is a stable machine-readable tag for tests and logs. */
export function sipFail(message: string, reason: string, extra: Record<string, unknown> = {}): never {
  throw new TaplineError(ErrorCodes.SIP_PARSE, message, { reason, ...extra });
}

/** RFC 3261 token characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~". */
const TOKEN = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') TOKEN[c.charCodeAt(0)] = 1;

/** Shortens attacker-sized text for error messages. */
export function clip(s: string, max = 60): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} chars)`;
}

export function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN[c] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

export function isLws(c: number): boolean {
  return c === 32 || c === 9;
}

/** Trims SP/HT only: String.prototype.trim would also eat U+FEFF and NBSP, which are legal header text. */
export function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isLws(s.charCodeAt(a))) a++;
  while (b > a && isLws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

export function skipLws(s: string, i: number, end = s.length): number {
  while (i < end && isLws(s.charCodeAt(i))) i++;
  return i;
}

/** Index just past the closing quote of the quoted-string opening at `start`, or -1 when it never closes. */
export function quotedEnd(s: string, start: number, end = s.length): number {
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++; // quoted-pair: the next character is literal
    else if (c === 34) return i + 1;
  }
  return -1;
}

/** Content of a quoted-string with quoted-pairs resolved ("a\"b" -> a"b). */
export function unquote(q: string): string {
  const inner = q.slice(1, -1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '\\' && i + 1 < inner.length) out += inner[++i];
    else out += c;
  }
  return out;
}

/** [canonical name, compact form] for RFC 3261/3265/3515/3841/3892/4028/4474 and headers Lync uses. */
const KNOWN: ReadonlyArray<readonly [string, string?]> = [
  ['Accept'], ['Accept-Contact', 'a'], ['Accept-Encoding'], ['Accept-Language'], ['Alert-Info'], ['Allow'],
  ['Allow-Events', 'u'], ['Authentication-Info'], ['Authorization'], ['Call-ID', 'i'], ['Call-Info'],
  ['Contact', 'm'], ['Content-Disposition'], ['Content-Encoding', 'e'], ['Content-Language'],
  ['Content-Length', 'l'], ['Content-Type', 'c'], ['CSeq'], ['Date'], ['Error-Info'], ['Event', 'o'],
  ['Expires'], ['From', 'f'], ['History-Info'], ['Identity', 'y'], ['Identity-Info', 'n'], ['In-Reply-To'],
  ['Max-Forwards'], ['MIME-Version'], ['Min-Expires'], ['Min-SE'], ['Organization'], ['Path'], ['Priority'],
  ['Privacy'], ['Proxy-Authenticate'], ['Proxy-Authorization'], ['Proxy-Require'], ['RAck'], ['Reason'],
  ['Record-Route'], ['Refer-To', 'r'], ['Referred-By', 'b'], ['Reject-Contact', 'j'], ['Replaces'],
  ['Reply-To'], ['Request-Disposition', 'd'], ['Require'], ['Retry-After'], ['Route'], ['RSeq'],
  ['Server'], ['Service-Route'], ['Session-Expires', 'x'], ['Subject', 's'], ['Subscription-State'],
  ['Supported', 'k'], ['Timestamp'], ['To', 't'], ['Unsupported'], ['User-Agent'], ['Via', 'v'],
  ['Warning'], ['WWW-Authenticate'], ['P-Asserted-Identity'], ['P-Preferred-Identity'],
  ['Ms-Conversation-ID'], ['Ms-Sender'], ['Ms-Text-Format'],
];

/** Lower-case spelling (full or compact) -> [canonical name, lower-case canonical key]. */
const CANON = new Map<string, readonly [string, string]>();
for (const [name, compact] of KNOWN) {
  const entry = [name, name.toLowerCase()] as const;
  CANON.set(entry[1], entry);
  if (compact !== undefined) CANON.set(compact, entry);
}

/** Headers whose values are comma-separated lists (RFC 3261 §7.3.1); Date, auth challenges etc. are not. */
const LIST_HEADERS = new Set([
  'via', 'route', 'record-route', 'contact', 'allow', 'supported', 'require', 'proxy-require', 'unsupported',
  'accept', 'accept-encoding', 'accept-language', 'allow-events', 'content-encoding', 'content-language',
  'alert-info', 'call-info', 'error-info', 'in-reply-to', 'path', 'service-route', 'p-asserted-identity',
  'p-preferred-identity', 'warning', 'accept-contact', 'reject-contact', 'request-disposition', 'reason',
  'history-info',
]);

/** Canonical spelling and lookup key of a header name as written on the wire (or passed to get()). */
export function canonicalHeader(name: string): readonly [string, string] {
  const hit = SEEN.get(name);
  if (hit !== undefined) return hit;
  const lower = name.toLowerCase();
  const entry = CANON.get(lower) ?? ([name, lower] as const);
  if (SEEN.size >= 4096) SEEN.clear(); // bounded: hostile peers can invent endless names
  SEEN.set(name, entry);
  return entry;
}

/** Spelling as written -> canonical entry; skips toLowerCase for the names a deployment keeps sending. */
const SEEN = new Map<string, readonly [string, string]>();

/**
 * Splits a list header value at commas outside quoted strings and <...>. Elements are LWS-trimmed and
 * empty ones are kept, so callers that validate (Via, Contact) can reject ",," (RFC 4475 §3.1.2.1).
 */
export function splitList(value: string): string[] {
  if (value.indexOf(',') < 0) return [trimLws(value)]; // the common case: one value per header line
  const out: string[] = [];
  let start = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34) {
      const e = quotedEnd(value, i);
      if (e < 0) break; // unterminated: the rest is one element, the name-addr parser reports it
      i = e - 1;
    } else if (c === 60) angle = true;
    else if (c === 62) angle = false;
    else if (c === 44 && !angle) {
      out.push(trimLws(value.slice(start, i)));
      start = i + 1;
    }
  }
  out.push(trimLws(value.slice(start)));
  return out;
}

export type HeaderEntry = readonly [name: string, value: string];

/** SipHeaders over the wire-order entry list; a linear scan beats building a Map for ~30 headers. */
export class HeaderStore implements SipHeaders {
  constructor(
    private readonly list: HeaderEntry[],
    /** Lower-case canonical key of each entry, same index as `list`. */
    private readonly keys: string[],
  ) {}

  get(name: string): string | undefined {
    const key = canonicalHeader(name)[1];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === key) return this.list[i]![1];
    return undefined;
  }

  getAll(name: string): string[] {
    const key = canonicalHeader(name)[1];
    const split = LIST_HEADERS.has(key);
    const out: string[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] !== key) continue;
      const v = this.list[i]![1];
      if (!split) out.push(v);
      else for (const part of splitList(v)) if (part !== '') out.push(part);
    }
    return out;
  }

  has(name: string): boolean {
    return this.keys.indexOf(canonicalHeader(name)[1]) >= 0;
  }

  entries(): ReadonlyArray<HeaderEntry> {
    return this.list;
  }
}
