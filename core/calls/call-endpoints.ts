/**
 * The transport addresses a call's media may use, from every SDP it carried (offers and answers of both sides,
 * re-INVITEs included): each audio or video m= line's address and port, its RTCP address (a=rtcp, else port + 1
 * unless rtcp-mux), and its ICE candidates (a Lync SDP's relay candidates are the Edge's ports). This is what
 * a forwarder needs to pick a call's packets out of everything it captures.
 */
import type { Call } from '../dialog/types';
import { normalizeIp } from '../media/associator-index';

/** "ip:port", IPv6 in brackets (as a forwarder writes a packet's ends). */
export function endpointKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Bounded: a hostile SDP with thousands of candidates names at most this many addresses. */
const MAX_ENDPOINTS = 256;

export function callEndpoints(call: Call): string[] {
  const out = new Set<string>();
  const add = (ip: string | undefined, port: number | undefined): void => {
    if (ip === undefined || port === undefined || port <= 0 || port > 65535 || ip === '0.0.0.0' || ip === '::') return;
    // Canonical text (RFC 5952 for IPv6): an SDP may write 2001:0DB8:0:0:0:0:0:1, a forwarder reads 2001:db8::1.
    if (out.size < MAX_ENDPOINTS) out.add(endpointKey(normalizeIp(ip), port));
  };
  for (const r of call.sdp) {
    for (const m of r.sdp.media) {
      if (m.port === 0 || (m.type !== 'audio' && m.type !== 'video')) continue;
      const ip = m.connection?.address;
      add(ip, m.port);
      if (m.rtcpPort !== undefined) add(m.rtcpConnection?.address ?? ip, m.rtcpPort);
      else if (!m.rtcpMux) add(ip, m.port + 1);
      for (const c of m.candidates) add(c.ip, c.port);
    }
  }
  return [...out];
}
