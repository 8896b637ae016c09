/**
 * A focused SDP parser (RFC 8866 / 4566) for recording: every a= line is kept in order (sdp-transform drops
 * unknown ones into invalid[]), and the views a recorder needs (rtpmap, crypto, ICE candidates, SSRC range ...)
 * are derived next to them. Only structural damage (an empty body or no v= first line, an unparseable m= line)
 * throws SDP_PARSE with the line number: a recorder must keep the call, so anything else (a bad attribute,
 * rtpmap included, a bad c= line, an unknown line) is skipped in its derived view and reported in `warnings`.
 * Lines are cut with indexOf and fields with a character loop: no regular expressions, so time is linear.
 */
import { ErrorCodes, TaplineError } from '../errors';
import {
  parseCandidate,
  parseConnection,
  parseCrypto,
  parseDecimal,
  parseFmtp,
  parseRemoteCandidates,
  parseRtcp,
  parseRtpMap,
  parseSsrcRange,
  parseUint,
  SdpAttributeError,
  splitWs,
} from './attributes';
import type { SdpAttribute, SdpConnection, SdpDirection, SdpMedia, SdpOrigin, SdpSession } from './types';

/** Beyond this many, warnings are counted but not kept: garbage input must not grow memory per line. */
const MAX_WARNINGS = 100;
/** Quoted line text in messages is cut here (a 1 MB line must not end up in a log). */
const MAX_QUOTE = 120;

function quote(line: string): string {
  return JSON.stringify(line.length > MAX_QUOTE ? `${line.slice(0, MAX_QUOTE)}…` : line);
}

function parseError(lineNo: number, line: string, reason: string): TaplineError {
  const why = reason.length > MAX_QUOTE ? `${reason.slice(0, MAX_QUOTE)}…` : reason;
  return new TaplineError(ErrorCodes.SDP_PARSE, `SDP line ${lineNo}: ${why}: ${quote(line)}`, {
    line: lineNo,
    text: line.length > MAX_QUOTE ? line.slice(0, MAX_QUOTE) : line,
  });
}

function isDirection(name: string): name is SdpDirection {
  return name === 'sendrecv' || name === 'sendonly' || name === 'recvonly' || name === 'inactive';
}

/** Parser state for one media section: the explicit direction is kept apart to apply the session fallback. */
interface MediaState {
  media: SdpMedia;
  direction?: SdpDirection;
}

class Warnings {
  readonly list: string[] = [];
  private dropped = 0;

  add(lineNo: number, line: string, reason: string): void {
    this.note(`line ${lineNo}: ${reason}: ${quote(line)}`);
  }

  note(msg: string): void {
    if (this.list.length < MAX_WARNINGS) this.list.push(msg);
    else this.dropped++;
  }

  finish(): string[] {
    if (this.dropped > 0) this.list.push(`… ${this.dropped} more warnings not kept`);
    return this.list;
  }
}

/** Parses one SDP body (CRLF or LF lines). Throws TaplineError(SDP_PARSE) when the structure is unusable. */
export function parseSdp(input: string | Buffer): SdpSession {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const warnings = new Warnings();

  let version = -1;
  let origin: SdpOrigin | undefined;
  let sessionName = '';
  let sessionConnection: SdpConnection | undefined;
  const sessionBandwidths: SdpSession['bandwidths'] = [];
  const sessionAttributes: SdpAttribute[] = [];
  let sessionDirection: SdpDirection | undefined;
  const medias: MediaState[] = [];
  let cur: MediaState | undefined;

  const len = text.length;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 BOM from a file-based source
  let lineNo = 0;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = len;
    lineNo++;
    // Trim trailing CR, spaces and tabs: the CRLF/LF difference and sloppy senders.
    let end = nl;
    for (let c = text.charCodeAt(end - 1); end > pos && (c === 13 || c === 32 || c === 9); c = text.charCodeAt(end - 1)) end--;
    const start = pos;
    pos = nl + 1;
    if (end === start) continue; // blank line (e.g. the trailing CRLF of a multipart part)
    const line = text.slice(start, end);

    const type = line.charCodeAt(0);
    if (line.length < 2 || line.charCodeAt(1) !== 61 /* '=' */) {
      if (version < 0) throw parseError(lineNo, line, 'an SDP body must start with "v="');
      warnings.add(lineNo, line, 'not a "<type>=<value>" line, ignored');
      continue;
    }
    const value = line.slice(2);

    if (version < 0) {
      if (type !== 118 /* v */) throw parseError(lineNo, line, 'an SDP body must start with "v="');
      version = parseUint(value.trim(), 65535);
      if (version < 0) throw parseError(lineNo, line, 'v= is not a number');
      continue;
    }

    switch (type) {
      case 97 /* a */: {
        const colon = value.indexOf(':');
        const attr: SdpAttribute = colon === -1 ? { name: value, value: null } : { name: value.slice(0, colon), value: value.slice(colon + 1) };
        if (cur === undefined) {
          sessionAttributes.push(attr);
          if (attr.value === null && isDirection(attr.name)) sessionDirection = attr.name;
        } else {
          cur.media.attributes.push(attr);
          deriveMediaAttribute(cur, attr, lineNo, line, warnings);
        }
        break;
      }
      case 109 /* m */:
        cur = { media: parseMediaLine(value, lineNo, line, warnings) };
        medias.push(cur);
        break;
      case 99 /* c */: {
        // A bad c= loses that address only: ICE candidates may still locate the media, so the call is kept.
        const t = splitWs(value);
        if (t.length !== 3) {
          warnings.add(lineNo, line, 'c= is not "<nettype> <addrtype> <address>", ignored');
          break;
        }
        const conn = parseConnection(t[0] as string, t[1] as string, t[2] as string);
        if (conn.address === '') {
          warnings.add(lineNo, line, 'c= has an empty address, ignored');
          break;
        }
        if (cur === undefined) {
          if (sessionConnection === undefined) sessionConnection = conn;
          else warnings.add(lineNo, line, 'second session-level c= line ignored');
        } else if (cur.media.connection === undefined) {
          cur.media.connection = conn;
        } else {
          // Several c= lines in one media section are layered multicast: the first names the stream.
          warnings.add(lineNo, line, 'second c= line in a media section ignored');
        }
        break;
      }
      case 98 /* b */: {
        const colon = value.indexOf(':');
        const bw = colon > 0 ? parseUint(value.slice(colon + 1).trim(), Number.MAX_SAFE_INTEGER) : -1;
        if (bw < 0) {
          warnings.add(lineNo, line, 'b= is not "<type>:<number>", ignored');
          break;
        }
        (cur === undefined ? sessionBandwidths : cur.media.bandwidths).push({ type: value.slice(0, colon), value: bw });
        break;
      }
      case 111 /* o */:
        if (cur !== undefined || origin !== undefined) {
          warnings.add(lineNo, line, 'o= out of place, ignored');
          break;
        }
        origin = parseOrigin(value, lineNo, line, warnings);
        break;
      case 115 /* s */:
        if (cur === undefined) sessionName = value;
        break;
      case 118 /* v */:
        warnings.add(lineNo, line, 'second v= line ignored (two SDP bodies concatenated?)');
        break;
      // Known types the recorder does not use (RFC 8866 §5): i u e p t r z k.
      case 105:
      case 117:
      case 101:
      case 112:
      case 116:
      case 114:
      case 122:
      case 107:
        break;
      default:
        // RFC 8866 §5 lets a parser ignore unknown types; say so, since it usually means a damaged body.
        warnings.add(lineNo, line, 'unknown line type ignored');
    }
  }

  if (version < 0) throw parseError(Math.max(lineNo, 1), '', 'empty SDP body (no "v=" line)');
  if (origin === undefined) {
    warnings.note('no o= line');
    origin = { username: '', sessionId: '', sessionVersion: '', netType: '', addrType: '', address: '' };
  }

  const media: SdpMedia[] = [];
  for (const m of medias) {
    m.media.direction = m.direction ?? sessionDirection ?? 'sendrecv';
    if (m.media.connection === undefined && sessionConnection !== undefined) m.media.connection = sessionConnection;
    media.push(m.media);
  }

  const session: SdpSession = {
    version,
    origin,
    sessionName,
    bandwidths: sessionBandwidths,
    attributes: sessionAttributes,
    media,
    warnings: warnings.finish(),
  };
  if (sessionConnection !== undefined) session.connection = sessionConnection;
  return session;
}

function parseOrigin(value: string, lineNo: number, line: string, warnings: Warnings): SdpOrigin {
  const t = splitWs(value);
  if (t.length !== 6) warnings.add(lineNo, line, `o= has ${t.length} fields, 6 expected`);
  return {
    username: t[0] ?? '',
    sessionId: t[1] ?? '',
    sessionVersion: t[2] ?? '',
    netType: t[3] ?? '',
    addrType: t[4] ?? '',
    address: t[5] ?? '',
  };
}

function parseMediaLine(value: string, lineNo: number, line: string, warnings: Warnings): SdpMedia {
  const t = splitWs(value);
  if (t.length < 3) throw parseError(lineNo, line, 'm= must be "<media> <port>[/<count>] <proto> <fmt> ..."');
  const portText = t[1] as string;
  const slash = portText.indexOf('/');
  const port = parseUint(slash === -1 ? portText : portText.slice(0, slash), 65535);
  if (port < 0) throw parseError(lineNo, line, `m= port "${portText}" is not a number 0-65535`);
  let portCount: number | undefined;
  if (slash !== -1) {
    portCount = parseUint(portText.slice(slash + 1), 65535);
    if (portCount <= 0) throw parseError(lineNo, line, `m= port count "${portText.slice(slash + 1)}" is not a positive number`);
  }
  if (t.length === 3) warnings.add(lineNo, line, 'm= line lists no formats');
  const media: SdpMedia = {
    type: t[0] as string,
    port,
    proto: t[2] as string,
    formats: t.slice(3),
    bandwidths: [],
    attributes: [],
    rtpmap: new Map(),
    fmtp: new Map(),
    direction: 'sendrecv', // replaced once the session-level fallback is known
    crypto: [],
    candidates: [],
    remoteCandidates: [],
    rtcpMux: false,
  };
  if (portCount !== undefined) media.portCount = portCount;
  return media;
}

/**
 * Fills the derived views from one media-level attribute. A malformed one (rtpmap included) is kept in
 * `attributes`, left out of its derived view and reported in `warnings`: it never fails the parse.
 */
function deriveMediaAttribute(state: MediaState, attr: SdpAttribute, lineNo: number, line: string, warnings: Warnings): void {
  const m = state.media;
  const v = attr.value;
  if (v === null) {
    if (isDirection(attr.name)) state.direction = attr.name;
    else if (attr.name === 'rtcp-mux') m.rtcpMux = true;
    return;
  }
  try {
    switch (attr.name) {
      case 'rtpmap': {
        // A bad one leaves its payload type unmapped (effectiveRtpMap then falls back to the static table).
        const map = parseRtpMap(v);
        if (m.rtpmap.has(map.payloadType)) warnings.add(lineNo, line, `second rtpmap for payload type ${map.payloadType} ignored`);
        else m.rtpmap.set(map.payloadType, map);
        break;
      }
      case 'fmtp': {
        const [pt, params] = parseFmtp(v);
        if (m.fmtp.has(pt)) warnings.add(lineNo, line, `second fmtp for payload type ${pt} ignored`);
        else m.fmtp.set(pt, params);
        break;
      }
      case 'crypto':
        m.crypto.push(parseCrypto(v, false));
        break;
      case 'cryptoscale':
        m.crypto.push(parseCrypto(v, true));
        break;
      case 'candidate':
        m.candidates.push(parseCandidate(v, false));
        break;
      case 'x-candidate-ipv6':
        m.candidates.push(parseCandidate(v, true));
        break;
      case 'remote-candidates':
        for (const rc of parseRemoteCandidates(v)) m.remoteCandidates.push(rc);
        break;
      case 'x-ssrc-range':
        m.ssrcRange = parseSsrcRange(v);
        break;
      case 'label':
        m.label = v;
        break;
      case 'rtcp': {
        const r = parseRtcp(v);
        m.rtcpPort = r.port;
        if (r.connection !== undefined) m.rtcpConnection = r.connection;
        break;
      }
      case 'ptime': {
        const p = parseDecimal(v.trim());
        if (!(p > 0)) throw new SdpAttributeError(`"${v}" is not a positive number`);
        m.ptime = p;
        break;
      }
      default:
        if (isDirection(attr.name)) state.direction = attr.name; // 'a=sendonly:' with an empty value
    }
  } catch (e) {
    if (!(e instanceof SdpAttributeError)) throw e;
    warnings.add(lineNo, line, `a=${attr.name} skipped: ${e.message}`);
  }
}
