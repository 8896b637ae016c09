/**
 * SDP bodies: plain RFC 4566/3264 audio offers and answers, and Lync/SfB-style ones (lync-protocols.md §1):
 * ICEv19 (RFC 5245 candidates host/srflx/relay, ufrag/pwd) and ICEv6 (draft-6 candidates) parts, a=crypto
 * lines with the `|2^31|1:1` MKI form, x-ssrc-range, label:main-audio, wrapped in multipart/alternative
 * (optionally inside multipart/mixed with a conversation-context part, MS-SIPRE 3.15.4.1 / 4.11).
 */
import type { G711Codec } from './scenario';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface SdpParams {
  /** o= user name. */
  user: string;
  sessionId: number;
  version: number;
  ip: string;
  port: number;
  codec: G711Codec;
  /** The audio's a=rtpmap value when it is not `<codec>/8000` (CustomPayloads), e.g. 'SILK/16000'. */
  rtpmap?: string;
  payloadType: number;
  ptimeMs: number;
  direction: MediaDirection;
  /** SDES (plain SDP): RTP/SAVP and this inline key (key ‖ salt, base64) in Lync's MKI form. */
  sdesKey?: string;
}

/** Lync extras: the session's ICE and SDES material (fixed for a call side; each offer/answer repeats it). */
export interface LyncSdpParams extends SdpParams {
  ssrc: number;
  ufrag: string;
  pwd: string;
  /** 30 bytes as base64 (16-byte key + 14-byte salt). */
  cryptoKey: string;
  srflx: { ip: string; port: number };
  relay: { ip: string; port: number };
  ipv6: string;
  /** draft-6 candidate username/password (base64 without padding). */
  v6User: string;
  v6Pwd: string;
  /** Offers list Lync's whole codec set; answers only the chosen one. */
  offer: boolean;
}

const CRLF = '\r\n';

/** telephone-event's PT: 101 unless the audio uses it. */
function dtmfPt(pt: number): number {
  return pt === 101 ? 100 : 101;
}

function rtpmapOf(p: SdpParams): string {
  return p.rtpmap ?? `${p.codec}/8000`;
}

/** The one a=crypto line of plain SDES offers and answers: tag 1, Lync's `|2^31|1:1` form (MKI 1, 1 byte). */
export function sdesLine(cryptoKey: string): string {
  return `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${cryptoKey}|2^31|1:1`;
}

export function plainSdp(p: SdpParams): string {
  const te = dtmfPt(p.payloadType);
  const sdes = p.sdesKey !== undefined;
  return [
    'v=0',
    `o=${p.user} ${p.sessionId} ${p.version} IN IP4 ${p.ip}`,
    's=tapline',
    `c=IN IP4 ${p.ip}`,
    't=0 0',
    `m=audio ${p.port} RTP/${sdes ? 'SAVP' : 'AVP'} ${p.payloadType} ${te}`,
    ...(sdes ? [sdesLine(p.sdesKey as string)] : []),
    `a=rtpmap:${p.payloadType} ${rtpmapOf(p)}`,
    `a=rtpmap:${te} telephone-event/8000`,
    `a=fmtp:${te} 0-16`,
    `a=ptime:${p.ptimeMs}`,
    `a=${p.direction}`,
    '',
  ].join(CRLF);
}

/** Lync's usual audio set (§1.2) with our codec's PT in it; a dynamic PT goes first and evicts any clash. */
const LYNC_RTPMAP: ReadonlyArray<[number, string, string?]> = [
  [117, 'G722/8000/2'],
  [104, 'SILK/16000', 'useinbandfec=1; usedtx=0'],
  [114, 'x-msrta/16000', 'bitrate=29000'],
  [9, 'G722/8000'],
  [112, 'G7221/16000', 'bitrate=24000'],
  [111, 'SIREN/16000', 'bitrate=16000'],
  [0, 'PCMU/8000'],
  [8, 'PCMA/8000'],
  [103, 'SILK/8000', 'useinbandfec=1; usedtx=0'],
  [116, 'AAL2-G726-32/8000'],
  [115, 'x-msrta/8000', 'bitrate=11800'],
  [97, 'RED/8000'],
  [13, 'CN/8000'],
  [118, 'CN/16000'],
  [119, 'CN/24000'],
  [101, 'telephone-event/8000', '0-16'],
];

function lyncCodecs(p: LyncSdpParams): Array<[number, string, string?]> {
  const ours: [number, string] = [p.payloadType, rtpmapOf(p)];
  const te = dtmfPt(p.payloadType);
  const dtmf: [number, string, string] = [te, 'telephone-event/8000', '0-16'];
  if (!p.offer) return [ours, dtmf];
  if (p.payloadType === 0 || p.payloadType === 8) return [...LYNC_RTPMAP];
  return [ours, ...LYNC_RTPMAP.filter(([pt]) => pt !== p.payloadType && pt !== te), dtmf];
}

function lyncSdp(p: LyncSdpParams, ice: 'v19' | 'v6'): string {
  const codecs = lyncCodecs(p);
  const key = p.cryptoKey;
  const lines = [
    'v=0',
    `o=- ${p.sessionId} ${p.version} IN IP4 ${p.ip}`,
    's=session',
    `c=IN IP4 ${p.ip}`,
    'b=CT:99980',
    't=0 0',
    `m=audio ${p.port} RTP/SAVP ${codecs.map(([pt]) => pt).join(' ')}`,
    `a=x-ssrc-range:${p.ssrc}-${p.ssrc}`,
    'a=rtcp-fb:* x-message app send:dsh recv:dsh',
    'a=rtcp-rsize',
    'a=label:main-audio',
    'a=x-source:main-audio',
  ];
  if (ice === 'v19') {
    lines.push(
      `a=ice-ufrag:${p.ufrag}`,
      `a=ice-pwd:${p.pwd}`,
      `a=candidate:1 1 UDP 2130706431 ${p.ip} ${p.port} typ host`,
      `a=candidate:1 2 UDP 2130705918 ${p.ip} ${p.port + 1} typ host`,
      `a=x-candidate-ipv6:6 1 UDP 2130703871 ${p.ipv6} ${p.port} typ host`,
      `a=candidate:2 1 UDP 1694234111 ${p.srflx.ip} ${p.srflx.port} typ srflx raddr ${p.ip} rport ${p.port}`,
      `a=candidate:3 1 UDP 184548351 ${p.relay.ip} ${p.relay.port} typ relay raddr ${p.srflx.ip} rport ${p.srflx.port}`,
      `a=candidate:4 1 TCP-PASS 174456319 ${p.relay.ip} ${p.relay.port + 1} typ relay raddr ${p.srflx.ip} rport ${p.srflx.port}`,
      `a=candidate:5 1 TCP-ACT 1684796415 ${p.srflx.ip} ${p.srflx.port} typ srflx raddr ${p.ip} rport ${p.port}`,
    );
  } else {
    lines.push(
      `a=candidate:${p.v6User} 1 ${p.v6Pwd} UDP 0.830 ${p.ip} ${p.port}`,
      `a=candidate:${p.v6User} 2 ${p.v6Pwd} UDP 0.830 ${p.ip} ${p.port + 1}`,
      `a=candidate:${p.v6User} 1 ${p.v6Pwd} UDP 0.450 ${p.relay.ip} ${p.relay.port}`,
      `a=candidate:${p.v6User} 2 ${p.v6Pwd} UDP 0.450 ${p.relay.ip} ${p.relay.port + 1}`,
    );
  }
  if (p.offer) lines.push(`a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`);
  lines.push(`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`);
  if (p.offer) lines.push(`a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31`);
  lines.push('a=maxptime:200', `a=rtcp:${p.port + 1}`);
  for (const [pt, map, fmtp] of codecs) {
    lines.push(`a=rtpmap:${pt} ${map}`);
    if (fmtp !== undefined) lines.push(`a=fmtp:${pt} ${fmtp}`);
  }
  lines.push(`a=ptime:${p.ptimeMs}`);
  if (p.direction !== 'sendrecv') lines.push(`a=${p.direction}`);
  lines.push('');
  return lines.join(CRLF);
}

/** A Lync answer (or re-offer): one ICEv19 application/sdp body. */
export function lyncSingleSdp(p: LyncSdpParams): string {
  return lyncSdp(p, 'v19');
}

export interface MultipartBody {
  contentType: string;
  body: string;
}

export interface ConversationContext {
  id: string;
  conversationId: string;
  from: string;
  to: string;
  /** ISO date-time. */
  date: string;
  /** Boundary of the outer multipart/mixed; neither boundary may be a prefix of the other (RFC 2046 §5.1.1). */
  boundary: string;
}

/** The Lync INVITE body: multipart/alternative {ICEv6, ICEv19}, optionally in multipart/mixed with a call context. */
export function lyncOfferBody(p: LyncSdpParams, boundary: string, ctx?: ConversationContext): MultipartBody {
  const alt = [
    `--${boundary}`,
    'Content-Type: application/sdp',
    'Content-Transfer-Encoding: 7bit',
    'Content-Disposition: session; handling=optional; ms-proxy-2007fallback',
    '',
    lyncSdp(p, 'v6'),
    `--${boundary}`,
    'Content-Type: application/sdp',
    'Content-Transfer-Encoding: 7bit',
    'Content-Disposition: session; handling=optional',
    '',
    lyncSdp(p, 'v19'),
    `--${boundary}--`,
    '',
  ].join(CRLF);
  const altType = `multipart/alternative;boundary="${boundary}"`;
  if (ctx === undefined) return { contentType: altType, body: alt };
  const outer = ctx.boundary;
  const xml =
    `<cc:XmlConvContext xmlns:cc="http://schemas.microsoft.com/2008/03/sip/conversationContext">` +
    `<cc:id>${ctx.id}</cc:id><cc:from><cc:uri>${ctx.from}</cc:uri></cc:from><cc:to><cc:uri>${ctx.to}</cc:uri></cc:to>` +
    `<cc:participants/><cc:date>${ctx.date}</cc:date><cc:conversationId>${ctx.conversationId}</cc:conversationId>` +
    `<cc:dataFormat>text/plain</cc:dataFormat><cc:contextData>tapline generated call</cc:contextData></cc:XmlConvContext>`;
  const body = [
    `--${outer}`,
    `Content-Type: ${altType}`,
    '',
    alt,
    `--${outer}`,
    'Content-Type: application/ms-conversation-context+xml',
    'Content-Disposition: render;handling=optional',
    '',
    xml,
    `--${outer}--`,
    '',
  ].join(CRLF);
  return { contentType: `multipart/mixed;boundary="${outer}"`, body };
}
