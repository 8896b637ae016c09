/**
 * The recorder's SDP answer to a recording session's offer (RFC 7866 §8.1.1): each audio stream offered gets a
 * port of ours, receive-only (the SRC's streams are sendonly; an inactive one stays inactive), its `a=label`
 * echoed so the metadata can name it; formats as offered (an answerer may receive everything it lists; what cannot
 * be decoded is kept raw and flagged by the recorder); SRTP answered with a key of ours on the first crypto line
 * whose suite is supported. Anything else (video, a port we could not open) is declined with port 0.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { SdpCrypto, SdpMedia, SdpSession } from '../../core/sdp/types';

/** SDES suites the recorder's SRTP stage decrypts. */
const SUITES = new Set(['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']);

export interface AnswerLine {
  /** 0: declined. */
  port: number;
  /** The offered crypto line answered (its tag and suite, with a key of ours). */
  crypto?: { tag: number; suite: string };
}

/** Whether an offered m-line is a stream the recorder takes, and if not why (for logs and warnings). */
export function refusal(m: SdpMedia): string | undefined {
  if (m.type !== 'audio') return `${m.type} is not recorded`;
  if (m.port === 0) return 'declined by the SRC (port 0)';
  if (!/^RTP\/S?AVPF?$/i.test(m.proto)) return `transport ${m.proto} is not RTP`;
  if (/SAVP/i.test(m.proto) && chooseCrypto(m) === undefined) {
    return m.crypto.length === 0 ? `${m.proto} without SDES keys (DTLS-SRTP is not supported)` : `no supported SRTP suite among ${m.crypto.map((c) => c.suite).join(', ')}`;
  }
  return undefined;
}

/** The offered crypto line the answer takes: the first with a supported suite and an inline key. */
export function chooseCrypto(m: SdpMedia): SdpCrypto | undefined {
  return m.crypto.find((c) => SUITES.has(c.suite.toUpperCase()) && c.keys.some((k) => k.method === 'inline'));
}

function connection(ip: string): string {
  return `IN ${isIP(ip) === 6 ? 'IP6' : 'IP4'} ${ip}`;
}

/** A fresh 30-byte master key and salt (AES-128 key + 112-bit salt), base64. */
function newKeySalt(): string {
  return randomBytes(30).toString('base64');
}

export function buildAnswer(offer: SdpSession, lines: readonly AnswerLine[], ip: string, sessionId: string, version: number): string {
  const out = ['v=0', `o=tapline ${sessionId} ${version} ${connection(ip)}`, 's=Tapline recording', `c=${connection(ip)}`, 't=0 0'];
  offer.media.forEach((m, i) => {
    const line = lines[i];
    const formats = m.formats.length > 0 ? m.formats.join(' ') : '0';
    if (line === undefined || line.port === 0) {
      out.push(`m=${m.type} 0 ${m.proto} ${formats}`);
      return;
    }
    out.push(`m=${m.type} ${line.port} ${m.proto} ${formats}`);
    for (const a of m.attributes) {
      if (a.name === 'rtpmap' || a.name === 'fmtp' || a.name === 'ptime' || a.name === 'maxptime') out.push(`a=${a.name}:${a.value ?? ''}`);
    }
    if (m.label !== undefined) out.push(`a=label:${m.label}`);
    if (line.crypto !== undefined) out.push(`a=crypto:${line.crypto.tag} ${line.crypto.suite} inline:${newKeySalt()}`);
    if (m.rtcpMux) out.push('a=rtcp-mux');
    out.push(m.direction === 'inactive' ? 'a=inactive' : 'a=recvonly');
  });
  return out.join('\r\n') + '\r\n';
}
