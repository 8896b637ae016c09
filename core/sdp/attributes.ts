/**
 * Parsers for the SDP attribute values a recorder derives views from: rtpmap, crypto/cryptoscale, ICE
 * candidates (RFC 5245, draft-6, x-candidate-ipv6), remote-candidates, x-ssrc-range, rtcp, ptime.
 * Each takes the text after 'a=<name>:' and throws SdpAttributeError on malformed input; the parser then skips
 * the attribute in its derived view and reports a warning (a malformed attribute never fails the SDP).
 * Everything is hand-tokenized (no regular expressions), so hostile input costs linear time.
 */
import type { SdpCandidate, SdpConnection, SdpCrypto, SdpCryptoKey, SdpRemoteCandidate, SdpRtpMap } from './types';

/** Reasons quote input; cut them so a 1 MB token does not end up in a warning. */
const MAX_REASON = 160;

export class SdpAttributeError extends Error {
  override readonly name = 'SdpAttributeError';
  constructor(reason: string) {
    super(reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason);
  }
}

function fail(reason: string): never {
  throw new SdpAttributeError(reason);
}

/** Splits on runs of spaces and tabs, dropping empty tokens (senders differ on single vs double spaces). */
export function splitWs(s: string): string[] {
  // Fast path: the native split on single spaces, which is what well-formed SDP uses.
  const t = s.split(' ');
  if (s.indexOf('\t') === -1) {
    let clean = true;
    for (let i = 0; i < t.length; i++) {
      if ((t[i] as string).length === 0) {
        clean = false;
        break;
      }
    }
    if (clean) return t;
  }
  const out: string[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    let c = s.charCodeAt(i);
    while (c === 32 || c === 9) {
      if (++i >= n) return out;
      c = s.charCodeAt(i);
    }
    const start = i;
    while (i < n && c !== 32 && c !== 9) c = s.charCodeAt(++i);
    out.push(s.slice(start, i));
  }
  return out;
}

/** Decimal digits only, at most `max`; -1 otherwise. No sign, no exponent, no whitespace (unlike Number()). */
export function parseUint(s: string | undefined, max: number): number {
  if (s === undefined || s.length === 0 || s.length > 16) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n <= max ? n : -1;
}

/** Positive decimal with an optional fraction ('20', '20.5'); NaN otherwise. */
export function parseDecimal(s: string): number {
  const dot = s.indexOf('.');
  const intPart = dot === -1 ? s : s.slice(0, dot);
  const frac = dot === -1 ? '' : s.slice(dot + 1);
  if (parseUint(intPart, Number.MAX_SAFE_INTEGER) < 0) return NaN;
  if (dot !== -1 && parseUint(frac, Number.MAX_SAFE_INTEGER) < 0) return NaN;
  return Number(s);
}

const U32 = 0xffffffff;

function port(s: string | undefined, what: string): number {
  const p = parseUint(s, 65535);
  if (p < 0) fail(`${what} "${s ?? ''}" is not a port number`);
  return p;
}

/** 'IN IP4 10.0.0.1/127/3' fields → connection; the TTL and address count are split off the address. */
export function parseConnection(netType: string, addrType: string, addr: string): SdpConnection {
  const slash = addr.indexOf('/');
  if (slash === -1) return { netType, addrType, address: addr };
  const conn: SdpConnection = { netType, addrType, address: addr.slice(0, slash) };
  const rest = addr.slice(slash + 1).split('/');
  // RFC 8866 §5.7: IP4 multicast is addr/ttl[/count]; IP6 has no TTL, only addr/count.
  const nums = rest.map((r) => parseUint(r, U32));
  if (addrType.toUpperCase() === 'IP6') {
    if (nums[0] !== undefined && nums[0] >= 0) conn.addressCount = nums[0];
  } else {
    if (nums[0] !== undefined && nums[0] >= 0) conn.ttl = nums[0];
    if (nums[1] !== undefined && nums[1] >= 0) conn.addressCount = nums[1];
  }
  return conn;
}

/** 'a=rtpmap:<pt> <encoding>/<clock>[/<channels>]'. */
export function parseRtpMap(value: string): SdpRtpMap {
  // Hand-cut rather than splitWs + split('/'): every SDP has a dozen of these.
  const v = value.trim();
  let sp = v.indexOf(' ');
  const tab = v.indexOf('\t');
  if (tab !== -1 && (sp === -1 || tab < sp)) sp = tab;
  if (sp === -1) fail('expected "<payload type> <encoding>/<clock rate>[/<channels>]"');
  const ptText = v.slice(0, sp);
  const payloadType = parseUint(ptText, 127);
  if (payloadType < 0) fail(`payload type "${ptText}" is not 0-127`);
  const enc = v.slice(sp + 1).trim();
  const s1 = enc.indexOf('/');
  const s2 = s1 === -1 ? -1 : enc.indexOf('/', s1 + 1);
  if (s1 <= 0 || (s2 !== -1 && enc.indexOf('/', s2 + 1) !== -1) || enc.includes(' ') || enc.includes('\t')) {
    fail(`"${enc}" is not <encoding>/<clock rate>[/<channels>]`);
  }
  const rateText = s2 === -1 ? enc.slice(s1 + 1) : enc.slice(s1 + 1, s2);
  const clockRate = parseUint(rateText, U32);
  if (clockRate <= 0) fail(`clock rate "${rateText}" is not a positive integer`);
  let channels = 1;
  if (s2 !== -1) {
    channels = parseUint(enc.slice(s2 + 1), 255);
    if (channels <= 0) fail(`channel count "${enc.slice(s2 + 1)}" is not a positive integer`);
  }
  return { payloadType, encoding: enc.slice(0, s1), clockRate, channels };
}

/** 'a=fmtp:<pt> <params>' → [pt, params as written]. */
export function parseFmtp(value: string): [number, string] {
  let i = 0;
  while (i < value.length && value.charCodeAt(i) !== 32 && value.charCodeAt(i) !== 9) i++;
  const pt = parseUint(value.slice(0, i), 127);
  if (pt < 0) fail(`payload type "${value.slice(0, i)}" is not 0-127`);
  return [pt, value.slice(i).trim()];
}

function parseLifetime(s: string): number {
  // RFC 4568 §9.2: lifetime = ["2^"] 1*DIGIT.
  if (s.startsWith('2^')) {
    const e = parseUint(s.slice(2), 64);
    if (e < 0) fail(`key lifetime "${s}" is not 2^<n>`);
    return 2 ** e;
  }
  const n = parseUint(s, Number.MAX_SAFE_INTEGER);
  if (n < 0) fail(`key lifetime "${s}" is not a number`);
  return n;
}

function parseKeyParam(param: string): SdpCryptoKey {
  const colon = param.indexOf(':');
  if (colon <= 0) fail(`key parameter "${param}" is not <method>:<info>`);
  const method = param.slice(0, colon);
  const info = param.slice(colon + 1);
  if (method.toLowerCase() !== 'inline') {
    // Only 'inline' is defined for SRTP; other methods are kept opaque.
    if (info === '') fail(`key parameter "${param}" has no key info`);
    return { method, keySalt: info };
  }
  const parts = info.split('|');
  const key: SdpCryptoKey = { method, keySalt: parts[0] as string };
  if (key.keySalt === '') fail('inline key is empty');
  if (parts.length > 3) fail(`inline key "${info}" has more than key|lifetime|MKI`);
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i] as string;
    const mkiColon = p.indexOf(':');
    if (mkiColon === -1) {
      // Lifetime must come before the MKI.
      if (i !== 1) fail(`key lifetime "${p}" after the MKI`);
      key.lifetime = parseLifetime(p);
    } else {
      if (key.mki !== undefined) fail(`two MKIs in "${info}"`);
      const value = parseUint(p.slice(0, mkiColon), Number.MAX_SAFE_INTEGER);
      const length = parseUint(p.slice(mkiColon + 1), 128);
      if (value < 0 || length <= 0) fail(`MKI "${p}" is not <value>:<length 1-128>`);
      key.mki = { value, length };
    }
  }
  return key;
}

/**
 * 'a=crypto:<tag> <suite> <key-params> [<session-params>]' (RFC 4568), and Lync's
 * 'a=cryptoscale:<tag> [<role>] <suite> <key-params> ...' (MS-SDPEXT) when `scale` is true.
 */
export function parseCrypto(value: string, scale: boolean): SdpCrypto {
  const t = splitWs(value);
  const tag = parseUint(t[0], 999999999);
  if (tag < 0) fail(`tag "${t[0] ?? ''}" is not a number`);
  let i = 1;
  let role: string | undefined;
  // The key params always contain ':'; a suite never does. So a cryptoscale token followed by a second
  // colon-less token is the role ('client' / 'server').
  if (scale && t[2] !== undefined && !t[2].includes(':') && t[1] !== undefined && !t[1].includes(':')) {
    role = t[1];
    i = 2;
  }
  const suite = t[i];
  const keyText = t[i + 1];
  if (suite === undefined || keyText === undefined) fail('expected "<tag> <suite> <key params>"');
  if (suite.includes(':')) fail(`crypto suite "${suite}" looks like a key`);
  const keys = keyText.split(';').map(parseKeyParam);
  const crypto: SdpCrypto = { tag, suite, keys, sessionParams: t.slice(i + 2), scale };
  if (role !== undefined) crypto.role = role;
  return crypto;
}

function isDigitsWithOptionalFraction(s: string): boolean {
  return Number.isFinite(parseDecimal(s));
}

/**
 * RFC 5245 'a=candidate:' / 'a=x-candidate-ipv6:' value, or draft-6 ("ICE v6") one. The form is chosen as SIPE
 * does: the 7th token is 'typ' in RFC 5245; draft-6 is '<user> <comp> <password> <UDP|TCP> <q> <ip> <port>'.
 */
export function parseCandidate(value: string, ipv6Extension: boolean): SdpCandidate {
  const t = splitWs(value);
  const component = parseUint(t[1], 256);
  if (component <= 0) fail(`component "${t[1] ?? ''}" is not 1-256`);
  if (t[6] === 'typ') {
    const priority = parseUint(t[3], U32);
    if (priority < 0) fail(`priority "${t[3] ?? ''}" is not a 32-bit number`);
    const ip = t[4] as string;
    const type = t[7];
    if (type === undefined || type === '') fail('no candidate type after "typ"');
    const c: SdpCandidate = {
      form: 'rfc5245',
      foundation: t[0] as string,
      component,
      transport: t[2] as string,
      priority,
      ip,
      port: port(t[5], 'port'),
      type,
      ipv6Extension,
    };
    // Extensions come in name/value pairs; an unpaired trailing name is ignored.
    for (let i = 8; i + 1 < t.length; i += 2) {
      const name = t[i] as string;
      const v = t[i + 1] as string;
      if (name === 'raddr') c.relatedAddress = v;
      else if (name === 'rport') c.relatedPort = port(v, 'rport');
      else if (name === 'tcptype') c.tcpType = v;
    }
    return c;
  }
  if (ipv6Extension) fail('x-candidate-ipv6 must use the RFC 5245 form ("... typ <type>")');
  if (t.length !== 7) fail('neither an RFC 5245 candidate ("... typ <type>") nor a draft-6 one (7 fields)');
  const transport = t[3] as string;
  const upper = transport.toUpperCase();
  if (upper !== 'UDP' && upper !== 'TCP') fail(`draft-6 transport "${transport}" is not UDP or TCP`);
  const q = t[4] as string;
  if (!isDigitsWithOptionalFraction(q)) fail(`draft-6 q-value "${q}" is not a number`);
  // SIPE (sdpmsg.c) takes the digits after '0.' as the priority and writes it back as '0.<priority>'.
  const fracDigits = q.startsWith('0.') ? q.slice(2) : '';
  const priority = fracDigits === '' ? 0 : parseUint(fracDigits, U32);
  if (priority < 0) fail(`draft-6 q-value "${q}" is too long`);
  return {
    form: 'draft6',
    foundation: t[0] as string,
    component,
    transport,
    priority,
    ip: t[5] as string,
    port: port(t[6], 'port'),
    password: t[2] as string,
    ipv6Extension: false,
  };
}

/** 'a=remote-candidates:<comp> <ip> <port> ...' (RFC 5245 §15.2). */
export function parseRemoteCandidates(value: string): SdpRemoteCandidate[] {
  const t = splitWs(value);
  if (t.length === 0 || t.length % 3 !== 0) fail(`expected <component> <ip> <port> triples, got ${t.length} fields`);
  const out: SdpRemoteCandidate[] = [];
  for (let i = 0; i < t.length; i += 3) {
    const component = parseUint(t[i], 256);
    if (component <= 0) fail(`component "${t[i] ?? ''}" is not 1-256`);
    out.push({ component, ip: t[i + 1] as string, port: port(t[i + 2], 'port') });
  }
  return out;
}

/** 'a=x-ssrc-range:<first>-<last>' (MS-SDPEXT); a single number means a one-SSRC range. */
export function parseSsrcRange(value: string): { first: number; last: number } {
  const v = value.trim();
  const dash = v.indexOf('-');
  const first = parseUint(dash === -1 ? v : v.slice(0, dash), U32);
  const last = dash === -1 ? first : parseUint(v.slice(dash + 1), U32);
  if (first < 0 || last < 0) fail(`"${v}" is not <first>-<last> with 32-bit SSRCs`);
  if (first > last) fail(`range "${v}" ends before it starts`);
  return { first, last };
}

/** 'a=rtcp:<port> [IN IP4 <addr>]' (RFC 3605). */
export function parseRtcp(value: string): { port: number; connection?: SdpConnection } {
  const t = splitWs(value);
  const p = port(t[0], 'RTCP port');
  if (t.length === 1) return { port: p };
  if (t.length !== 4) fail('expected "<port> [IN <addrtype> <address>]"');
  return { port: p, connection: parseConnection(t[1] as string, t[2] as string, t[3] as string) };
}
