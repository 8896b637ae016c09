/**
 * MIME multipart walking (RFC 2046 §5.1) for SIP bodies. Lync sends multipart/alternative {ICEv6 SDP, ICEv19 SDP},
 * possibly inside multipart/mixed with a call context; the ICEv19 SDP is always the last SDP part (MS-SIPRE 3.15.4.1).
 *
 * Policy: a malformed or truncated multipart body throws TaplineError(SIP_PARSE) from walkMimeParts and from
 * findSdpBody alike, so the caller can log why a call has no SDP; findSdpBody returns undefined only when the
 * message legitimately carries no SDP. Part bodies are views into the message body (no copies), kept as sent
 * (Content-Transfer-Encoding is not decoded: SIP bodies are binary/8bit in practice).
 */
import { clip, isLws, isToken, sipFail, trimLws } from './headers';
import { parseHeaderParams } from './uri';
import type { MimePart, SipMessage } from './types';

/** Nesting deeper than this is not a real SIP body, and recursion must stay bounded on hostile input. */
const MAX_DEPTH = 8;

/** The SDP a recorder should use: a single application/sdp body, or the last application/sdp leaf of a multipart. */
export function findSdpBody(msg: SipMessage): Buffer | undefined {
  const ct = msg.contentType;
  if (ct === 'application/sdp') return msg.body;
  if (ct === undefined || !ct.startsWith('multipart/')) return undefined;
  const parts = walkMimeParts(msg.headers.get('Content-Type') ?? ct, msg.body);
  for (let i = parts.length - 1; i >= 0; i--) if (parts[i]!.contentType === 'application/sdp') return parts[i]!.body;
  return undefined;
}

/** Leaf parts of a (possibly nested) multipart body, in order. A non-multipart type yields the body itself. */
export function walkMimeParts(contentTypeRaw: string, body: Buffer): MimePart[] {
  const out: MimePart[] = [];
  walk(contentTypeRaw, body, 0, out);
  return out;
}

function splitType(raw: string): { type: string; params: Record<string, string | null> } {
  const semi = raw.indexOf(';');
  const type = trimLws(semi < 0 ? raw : raw.slice(0, semi)).toLowerCase();
  const slash = type.indexOf('/');
  if (slash <= 0 || !isToken(trimLws(type.slice(0, slash))) || !isToken(trimLws(type.slice(slash + 1)))) {
    sipFail(`malformed MIME Content-Type '${clip(raw)}'`, 'multipart', { where: 'Content-Type' });
  }
  const params: Record<string, string | null> = {};
  if (semi >= 0) parseHeaderParams(raw, semi, params, 'Content-Type');
  return { type: type.replace(/[ \t]/g, ''), params };
}

function walk(ctRaw: string, body: Buffer, depth: number, out: MimePart[]): void {
  const { type, params } = splitType(ctRaw);
  if (!type.startsWith('multipart/')) {
    out.push({ contentType: type, contentTypeRaw: ctRaw, headers: { 'content-type': ctRaw }, body });
    return;
  }
  if (depth >= MAX_DEPTH) sipFail(`multipart nesting deeper than ${MAX_DEPTH} levels`, 'multipart-depth');
  const boundary = params.boundary;
  if (typeof boundary !== 'string' || boundary === '') sipFail(`${type} without a boundary parameter`, 'multipart-boundary');
  const delim = Buffer.from(`--${boundary}`, 'utf8');
  let at = findDelimiter(body, delim, 0);
  if (at < 0) sipFail(`${type} body has no '--${clip(boundary, 40)}' delimiter`, 'multipart-truncated');
  for (;;) {
    let p = at + delim.length;
    if (body[p] === 45 && body[p + 1] === 45) return; // close delimiter; the epilogue is ignored
    while (isLws(body[p] ?? 0)) p++;
    p += body[p] === 13 ? 2 : 1; // findDelimiter guaranteed a line break (or the end) here
    const next = findDelimiter(body, delim, p);
    if (next < 0) sipFail(`${type} body is truncated: no closing '--${clip(boundary, 40)}--' delimiter`, 'multipart-truncated');
    // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    let end = next > 0 && body[next - 1] === 10 ? next - 1 : next;
    if (end > p && body[end - 1] === 13) end--;
    part(body.subarray(p, Math.max(p, end)), depth, out);
    at = next;
  }
}

/** Start of the next line that is `delim` followed by "--", padding + line break, or the end of the body. */
function findDelimiter(body: Buffer, delim: Buffer, from: number): number {
  for (let p = from; p <= body.length; ) {
    const i = body.indexOf(delim, p);
    if (i < 0) return -1;
    if (i === 0 || body[i - 1] === 10) {
      let j = i + delim.length;
      if (body[j] === 45 && body[j + 1] === 45) return i;
      while (isLws(body[j] ?? 0)) j++;
      if (j >= body.length || body[j] === 10 || (body[j] === 13 && body[j + 1] === 10)) return i;
    }
    p = i + 1;
  }
  return -1;
}

/** One part: headers (possibly none), an empty line, then the content. */
function part(buf: Buffer, depth: number, out: MimePart[]): void {
  let bodyStart = -1;
  let textEnd = 0;
  if (buf[0] === 10) bodyStart = 1;
  else if (buf[0] === 13 && buf[1] === 10) bodyStart = 2;
  else {
    for (let p = 0; ; ) {
      const lf = buf.indexOf(10, p);
      if (lf < 0) break;
      const b = buf[lf + 1];
      if (b === 10 || (b === 13 && buf[lf + 2] === 10)) {
        textEnd = lf;
        bodyStart = lf + (b === 10 ? 2 : 3);
        break;
      }
      p = lf + 1;
    }
  }
  if (bodyStart < 0) sipFail('MIME part has no empty line between its headers and its content', 'multipart-part');
  const headers: Record<string, string> = {};
  let last = '';
  for (const rawLine of buf.toString('utf8', 0, textEnd).split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line === '') continue;
    if (isLws(line.charCodeAt(0)) && last !== '') {
      headers[last] = `${headers[last] ?? ''} ${trimLws(line)}`.trim();
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : trimLws(line.slice(0, colon)).toLowerCase();
    if (!isToken(name)) sipFail(`malformed MIME part header '${clip(line)}'`, 'multipart-part');
    last = name;
    if (name !== '__proto__' && headers[name] === undefined) headers[name] = trimLws(line.slice(colon + 1));
  }
  const body = buf.subarray(bodyStart);
  const ctRaw = headers['content-type'] ?? 'text/plain'; // RFC 2045 §5.2 default
  const { type } = splitType(ctRaw);
  if (type.startsWith('multipart/')) walk(ctRaw, body, depth + 1, out);
  else out.push({ contentType: type, contentTypeRaw: ctRaw, headers, body });
}
