/** Views over a parsed media section used by stream association and decoding. */
import type { SdpMedia, SdpRtpMap } from './types';

function st(payloadType: number, encoding: string, clockRate: number, channels = 1): [number, SdpRtpMap] {
  return [payloadType, Object.freeze({ payloadType, encoding, clockRate, channels })];
}

/** RFC 3551 §6 tables 4 and 5: payload types with a fixed meaning when an SDP has no rtpmap for them. */
export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, Readonly<SdpRtpMap>> = new Map([
  st(0, 'PCMU', 8000),
  st(3, 'GSM', 8000),
  st(4, 'G723', 8000),
  st(5, 'DVI4', 8000),
  st(6, 'DVI4', 16000),
  st(7, 'LPC', 8000),
  st(8, 'PCMA', 8000),
  st(9, 'G722', 8000), // 16 kHz audio on an 8 kHz RTP clock (RFC 3551 §4.5.2)
  st(10, 'L16', 44100, 2),
  st(11, 'L16', 44100),
  st(12, 'QCELP', 8000),
  st(13, 'CN', 8000),
  st(14, 'MPA', 90000),
  st(15, 'G728', 8000),
  st(16, 'DVI4', 11025),
  st(17, 'DVI4', 22050),
  st(18, 'G729', 8000),
  st(25, 'CelB', 90000),
  st(26, 'JPEG', 90000),
  st(28, 'nv', 90000),
  st(31, 'H261', 90000),
  st(32, 'MPV', 90000),
  st(33, 'MP2T', 90000),
  st(34, 'H263', 90000),
]);

/** The media's rtpmap for `pt`, else the RFC 3551 static meaning of `pt` (a fresh copy), else undefined. */
export function effectiveRtpMap(media: SdpMedia, pt: number): SdpRtpMap | undefined {
  const m = media.rtpmap.get(pt);
  if (m !== undefined) return m;
  const s = STATIC_PAYLOAD_TYPES.get(pt);
  return s === undefined ? undefined : { ...s };
}

export interface MediaEndpoint {
  ip: string;
  port: number;
  source: 'c/m' | 'candidate' | 'remote-candidate';
  /** 1 = RTP, 2 = RTCP (ICE component ids). */
  component: number;
}

function isUnspecified(address: string): boolean {
  // RFC 3264 §8.4 (old-style hold) and its IPv6 twin: no media flows there.
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

/**
 * Every address:port the media may flow on: the c=/m= address and port (plus RTCP at a=rtcp or port+1 for RTP
 * without rtcp-mux), each ICE candidate's own address (not raddr), and the remote candidates. A rejected media
 * (port 0) has none. Exact duplicates are listed once; addresses are as written (IPv6 not normalised).
 */
export function mediaEndpoints(media: SdpMedia): MediaEndpoint[] {
  if (media.port === 0) return [];
  const out: MediaEndpoint[] = [];
  const seen = new Set<string>();
  const add = (ip: string, port: number, source: MediaEndpoint['source'], component: number): void => {
    const key = `${source} ${component} ${ip} ${port}`;
    if (seen.has(key) || port <= 0 || port > 65535) return;
    seen.add(key);
    out.push({ ip, port, source, component });
  };

  const c = media.connection;
  if (c !== undefined && !isUnspecified(c.address)) {
    const rtp = media.proto.toUpperCase().includes('RTP');
    // m=<media> <port>/<count>: RTP uses every second port (RFC 8866 §5.14); other protocols consecutive ones.
    const count = media.portCount ?? 1;
    const step = rtp ? 2 : 1;
    for (let i = 0; i < count; i++) add(c.address, media.port + i * step, 'c/m', 1);
    if (rtp && !media.rtcpMux) {
      if (media.rtcpPort !== undefined) add(media.rtcpConnection?.address ?? c.address, media.rtcpPort, 'c/m', 2);
      else for (let i = 0; i < count; i++) add(c.address, media.port + i * step + 1, 'c/m', 2);
    }
  }
  for (const cand of media.candidates) add(cand.ip, cand.port, 'candidate', cand.component);
  for (const rc of media.remoteCandidates) add(rc.ip, rc.port, 'remote-candidate', rc.component);
  return out;
}
