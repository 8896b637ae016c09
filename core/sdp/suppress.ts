/**
 * Codec suppression: the SDP rewrite a component in the signalling path (B2BUA, SBC, proxy script) applies to
 * offers so that calls fall back to a codec the recorder decodes (lync-protocols.md §5: strip x-msrta, and Lync's
 * "uncommon suppressed codecs", a list of payload numbers; requirements.md, net-service setting 15).
 *
 * Only what must change changes: matching payload types leave every audio m= line, with their a=rtpmap, a=fmtp
 * and a=rtcp-fb lines; a redundancy format (RED, rtx) whose fmtp names only removed payload types goes too. Every
 * other byte, line ending and line order stays as it was. A media section is never left without a codec that
 * carries audio: if the rewrite would do that, the section is left alone and reported in `unchanged`.
 */
import { ErrorCodes, TaplineError } from '../errors';
import { parseSipMessage } from '../sip/parser';
import { walkMimeParts } from '../sip/multipart';
import { effectiveRtpMap } from './helpers';
import { parseSdp } from './parser';
import type { SdpMedia } from './types';

export interface SuppressOptions {
  /** rtpmap encoding names, case-insensitive: 'x-msrta'; or 'name/clock[/channels]' for one variant: 'x-msrta/8000'. */
  encodings?: readonly string[];
  /** Payload type numbers (Lync's "uncommon suppressed codecs"), removed whatever their rtpmap says. */
  payloadTypes?: readonly number[];
  /**
   * The codecs allowed in the environment (policy.allowedCodecs), same syntax as `encodings`: every other audio
   * codec goes. Auxiliary formats (RED, CN, telephone-event...) are not codecs and stay. Empty or absent: all.
   */
  allowed?: readonly string[];
}

export interface SuppressedFormat {
  /** Index of the media section among the body's m= lines (0-based). */
  media: number;
  payloadType: number;
  /** 'x-msrta/16000', from the rtpmap or the RFC 3551 static table; undefined when neither names it. */
  encoding?: string;
  /** Matched an encoding or a payload type, or a redundancy format left with nothing to carry. */
  reason: 'encoding' | 'payload-type' | 'not-allowed' | 'carries-only-removed';
}

export interface SuppressResult {
  /** The rewritten SDP (the input itself when nothing changed). */
  sdp: string;
  changed: boolean;
  removed: SuppressedFormat[];
  /** Each audio section's formats after the rewrite, as written in its m= line. */
  kept: Array<{ media: number; formats: string[] }>;
  /** Audio sections left as they were: removing `payloadTypes` would have left them no codec that carries audio. */
  unchanged: Array<{ media: number; payloadTypes: number[] }>;
}

/** Formats that carry no audio of their own: a section with only these left has no codec. */
const AUXILIARY = new Set(['red', 'cn', 'telephone-event', 'rtx', 'ulpfec', 'flexfec']);
/** Media-level attributes whose value starts with the payload type they describe. */
const PER_FORMAT_ATTRIBUTES = ['a=rtpmap:', 'a=fmtp:', 'a=rtcp-fb:'];

interface Line {
  text: string;
  /** '\r\n', '\n' or '' (last line without one). */
  eol: string;
}

function splitLines(s: string): Line[] {
  const out: Line[] = [];
  for (let pos = 0; pos < s.length; ) {
    let nl = s.indexOf('\n', pos);
    if (nl === -1) nl = s.length;
    const cr = nl > pos && s.charCodeAt(nl - 1) === 13;
    out.push({ text: s.slice(pos, cr ? nl - 1 : nl), eol: s.slice(cr ? nl - 1 : nl, nl + 1) });
    pos = nl + 1;
  }
  return out;
}

/** The leading payload type of an attribute value ('104 useinbandfec=1' -> 104); -1 for '*' or anything else. */
function leadingPayloadType(value: string): number {
  let i = 0;
  while (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9) i++;
  let n = 0;
  const start = i;
  for (let c = value.charCodeAt(i); c >= 48 && c <= 57; c = value.charCodeAt(++i)) n = n * 10 + c - 48;
  if (i === start || i - start > 3 || n > 127) return -1;
  return i === value.length || value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9 ? n : -1;
}

function ptOf(format: string): number {
  return /^\d{1,3}$/.test(format) && Number(format) <= 127 ? Number(format) : -1;
}

interface EncodingMatcher {
  name: string;
  clockRate?: number;
  channels?: number;
}

function matchers(encodings: readonly string[]): EncodingMatcher[] {
  return encodings.map((e) => {
    const [name = '', rate, channels] = e.trim().split('/');
    if (name === '' || (rate !== undefined && !/^\d+$/.test(rate)) || (channels !== undefined && !/^\d+$/.test(channels))) {
      throw new RangeError(`"${e}" is not an encoding name or name/clock rate[/channels]`);
    }
    const m: EncodingMatcher = { name: name.toLowerCase() };
    if (rate !== undefined) m.clockRate = Number(rate);
    if (channels !== undefined) m.channels = Number(channels);
    return m;
  });
}

/** Payload types a redundancy format's fmtp names (RED '0/5', rtx 'apt=96'); undefined when it names none. */
function carriedPayloadTypes(encoding: string, fmtp: string | undefined): number[] | undefined {
  if (fmtp === undefined) return undefined;
  let pts: number[];
  if (encoding === 'red') pts = fmtp.split('/').map((t) => ptOf(t.trim()));
  else if (encoding === 'rtx') pts = [...fmtp.matchAll(/(?:^|;)\s*apt=(\d+)/g)].map((m) => ptOf(m[1] ?? ''));
  else return undefined;
  return pts.length > 0 && pts.every((pt) => pt >= 0) ? pts : undefined;
}

/** Which of one audio section's formats go, and why; empty when none do. */
function planMedia(media: SdpMedia, index: number, pts: ReadonlySet<number>, encs: readonly EncodingMatcher[], allowed: readonly EncodingMatcher[]): SuppressedFormat[] {
  const removed = new Map<number, SuppressedFormat>();
  for (const f of media.formats) {
    const pt = ptOf(f);
    if (pt < 0 || removed.has(pt)) continue;
    const map = effectiveRtpMap(media, pt);
    const encoding = map === undefined ? undefined : `${map.encoding}/${map.clockRate}${map.channels > 1 ? `/${map.channels}` : ''}`;
    const matches = (list: readonly EncodingMatcher[]): boolean =>
      map !== undefined &&
      list.some((m) => m.name === map.encoding.toLowerCase() && (m.clockRate === undefined || m.clockRate === map.clockRate) && (m.channels === undefined || m.channels === map.channels));
    const byEncoding = matches(encs);
    const notAllowed = allowed.length > 0 && map !== undefined && !AUXILIARY.has(map.encoding.toLowerCase()) && !matches(allowed);
    if (pts.has(pt) || byEncoding || notAllowed) {
      const reason = pts.has(pt) ? 'payload-type' : byEncoding ? 'encoding' : 'not-allowed';
      removed.set(pt, { media: index, payloadType: pt, ...(encoding === undefined ? {} : { encoding }), reason });
    }
  }
  if (removed.size === 0) return [];
  // Redundancy formats left carrying only removed payload types go too (RED's fmtp '114/114').
  for (const f of media.formats) {
    const pt = ptOf(f);
    const map = pt < 0 || removed.has(pt) ? undefined : effectiveRtpMap(media, pt);
    if (map === undefined) continue;
    const carried = carriedPayloadTypes(map.encoding.toLowerCase(), media.fmtp.get(pt));
    if (carried !== undefined && carried.every((c) => removed.has(c))) {
      removed.set(pt, { media: index, payloadType: pt, encoding: `${map.encoding}/${map.clockRate}`, reason: 'carries-only-removed' });
    }
  }
  return [...removed.values()];
}

function carriesAudio(media: SdpMedia, format: string): boolean {
  const pt = ptOf(format);
  const map = pt < 0 ? undefined : effectiveRtpMap(media, pt);
  return map === undefined || !AUXILIARY.has(map.encoding.toLowerCase());
}

/** The m= line with only the formats `keep` accepts, every separator and the line's tail as written. */
function rewriteMediaLine(text: string, keep: (format: string) => boolean): string {
  const tokens = [...text.matchAll(/[^ \t]+/g)];
  const fixedEnd = (tokens[2]?.index ?? 0) + (tokens[2]?.[0].length ?? 0);
  let out = text.slice(0, fixedEnd);
  let prevEnd = fixedEnd;
  for (const t of tokens.slice(3)) {
    const start = t.index ?? 0;
    if (keep(t[0])) out += text.slice(prevEnd, start) + t[0];
    prevEnd = start + t[0].length;
  }
  return out + text.slice(prevEnd);
}

/**
 * Removes the matching payload types from every audio m= line of one SDP body, with their per-format attribute
 * lines. Throws TaplineError(SDP_PARSE) when the text is not SDP, RangeError for a malformed option.
 */
export function suppressCodecs(sdpText: string, opts: SuppressOptions): SuppressResult {
  const encs = matchers(opts.encodings ?? []);
  const allowed = matchers(opts.allowed ?? []);
  for (const pt of opts.payloadTypes ?? []) if (!Number.isInteger(pt) || pt < 0 || pt > 127) throw new RangeError(`payload type ${pt} is not 0-127`);
  const pts = new Set(opts.payloadTypes ?? []);
  const session = parseSdp(sdpText);
  const lines = splitLines(sdpText);
  const mLines: number[] = [];
  lines.forEach((l, i) => {
    if (l.text.charCodeAt(0) === 109 /* m */ && l.text.charCodeAt(1) === 61 /* = */) mLines.push(i);
  });
  if (mLines.length !== session.media.length) {
    throw new TaplineError(ErrorCodes.SDP_PARSE, `SDP has ${mLines.length} m= lines but ${session.media.length} media sections parsed`, {});
  }

  const result: SuppressResult = { sdp: sdpText, changed: false, removed: [], kept: [], unchanged: [] };
  const drop = new Set<number>();
  session.media.forEach((media, index) => {
    if (media.type.toLowerCase() !== 'audio') return;
    const plan = planMedia(media, index, pts, encs, allowed);
    const gone = new Set(plan.map((r) => r.payloadType));
    const keep = (f: string): boolean => !gone.has(ptOf(f));
    const remaining = media.formats.filter(keep);
    if (plan.length > 0 && !remaining.some((f) => carriesAudio(media, f))) {
      result.unchanged.push({ media: index, payloadTypes: [...gone] });
      result.kept.push({ media: index, formats: [...media.formats] });
      return;
    }
    result.kept.push({ media: index, formats: remaining });
    if (plan.length === 0) return;
    result.removed.push(...plan);
    const from = mLines[index] as number;
    const to = mLines[index + 1] ?? lines.length;
    const mLine = lines[from] as Line;
    mLine.text = rewriteMediaLine(mLine.text, keep);
    for (let i = from + 1; i < to; i++) {
      const t = (lines[i] as Line).text;
      const attr = PER_FORMAT_ATTRIBUTES.find((p) => t.startsWith(p));
      if (attr !== undefined && gone.has(leadingPayloadType(t.slice(attr.length)))) drop.add(i);
    }
  });
  if (result.removed.length === 0) return result;
  result.sdp = lines
    .filter((_, i) => !drop.has(i))
    .map((l) => l.text + l.eol)
    .join('');
  result.changed = result.sdp !== sdpText;
  return result;
}

export interface SipSuppressResult {
  /** The rewritten message (the input's bytes when nothing changed). */
  message: Buffer;
  changed: boolean;
  /** One result per SDP body, in body order: the single application/sdp body, or each application/sdp part. */
  sdps: SuppressResult[];
  /** Every format removed, over all SDP bodies. */
  removed: SuppressedFormat[];
}

/** Content-Length (or compact 'l') header lines of a header section get `length`; everything else is kept. */
function fixContentLength(head: string, length: number): string {
  return head.replace(/^((?:content-length|l)[ \t]*:[ \t]*)\d+/gim, `$1${length}`);
}

/**
 * suppressCodecs() on the SDP of a SIP message: a plain application/sdp body, or every application/sdp part of a
 * (nested) multipart body, as Lync sends multipart/alternative {ICEv6 SDP, ICEv19 SDP} (lync-protocols.md §1.1);
 * Content-Length is set to the new body length. Bytes are kept as they are (bodies are handled as latin1, so no
 * character is re-encoded). Throws TaplineError(SIP_PARSE / SDP_PARSE) on a message or body it cannot parse: a
 * signalling component should then forward the message unchanged.
 */
export function suppressCodecsInSip(message: string | Buffer, opts: SuppressOptions): SipSuppressResult {
  const buf = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const msg = parseSipMessage(buf, { lenient: true });
  const bodyStart = msg.body.byteOffset - buf.byteOffset;
  const bodyEnd = bodyStart + msg.body.length;
  const ct = msg.contentType;
  let spans: Array<{ start: number; end: number }> = [];
  if (ct === 'application/sdp') {
    spans = [{ start: 0, end: msg.body.length }];
  } else if (ct !== undefined && ct.startsWith('multipart/')) {
    for (const part of walkMimeParts(msg.headers.get('Content-Type') ?? ct, msg.body)) {
      if (part.contentType !== 'application/sdp') continue;
      const start = part.body.byteOffset - msg.body.byteOffset;
      spans.push({ start, end: start + part.body.length });
    }
  }
  const sdps = spans.map((s) => suppressCodecs(msg.body.toString('latin1', s.start, s.end), opts));
  const removed = sdps.flatMap((r) => r.removed);
  if (!sdps.some((r) => r.changed)) return { message: buf, changed: false, sdps, removed };

  const pieces: Buffer[] = [];
  let at = 0;
  spans.forEach((s, i) => {
    pieces.push(msg.body.subarray(at, s.start), Buffer.from((sdps[i] as SuppressResult).sdp, 'latin1'));
    at = s.end;
  });
  pieces.push(msg.body.subarray(at));
  const body = Buffer.concat(pieces);
  const head = Buffer.from(fixContentLength(buf.toString('latin1', 0, bodyStart), body.length), 'latin1');
  // Bytes after Content-Length (a datagram's padding) stay where they were.
  return { message: Buffer.concat([head, body, buf.subarray(bodyEnd)]), changed: true, sdps, removed };
}
