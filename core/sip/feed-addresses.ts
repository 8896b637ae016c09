/**
 * Where a SIP message travelled, from the message alone: for feeds that send plain SIP (the net service's 8008
 * connection) and so carry no capture addresses. RFC 3261 §18.2.1 / RFC 3581: a request came from its top Via's
 * sent-by, or from the `received`/`rport` the next hop stamped on it, and went to its Request-URI (its `maddr`
 * when present); a response goes back to its top Via and comes from the responder, whose Contact names it.
 * What the message cannot tell (a response without Contact, a tel: Request-URI) is the feeder's own address.
 */
import type { SipMessage, SipUri, Via } from './types';

export interface SipPath {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The top Via's transport, lower-cased ('udp', 'tcp', 'tls', 'ws'...). */
  transport: string;
}

export interface SipPathFallback {
  /** The feeder's address: used for an end the message does not name. */
  address: string;
  port: number;
  /** Transport when the message has no Via. */
  transport: string;
}

function defaultPort(transport: string, secure = false): number {
  if (transport === 'wss') return 443;
  if (transport === 'ws') return 80;
  return secure || transport === 'tls' ? 5061 : 5060;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The address a Via says its request came from: `received` and `rport` (RFC 3581) over the sent-by. */
function viaEnd(via: Via): { host: string; port: number } {
  const transport = via.transport.toLowerCase();
  const received = via.params['received'];
  const rport = via.params['rport'];
  const host = received !== undefined && received !== null && received !== '' ? unbracket(received) : via.host;
  const port = rport !== undefined && rport !== null && /^\d{1,5}$/.test(rport) && Number(rport) <= 65535 ? Number(rport) : via.port ?? defaultPort(transport);
  return { host, port };
}

/** A SIP or SIPS URI's host and port (maddr first); undefined for other schemes. */
function uriEnd(uri: SipUri, transport: string): { host: string; port: number } | undefined {
  const scheme = uri.scheme.toLowerCase();
  if ((scheme !== 'sip' && scheme !== 'sips') || uri.host === '') return undefined;
  const maddr = uri.params['maddr'];
  const host = maddr !== undefined && maddr !== null && maddr !== '' ? unbracket(maddr) : uri.host;
  return { host, port: uri.port ?? defaultPort(transport, scheme === 'sips') };
}

export function sipPathOf(msg: SipMessage, fallback: SipPathFallback): SipPath {
  const top = msg.via[0];
  const transport = top !== undefined ? top.transport.toLowerCase() : fallback.transport;
  const feeder = { host: fallback.address, port: fallback.port };
  const viaSide = top !== undefined ? viaEnd(top) : feeder;
  let from: { host: string; port: number };
  let to: { host: string; port: number };
  if (msg.kind === 'request') {
    from = viaSide;
    to = uriEnd(msg.requestUri, transport) ?? feeder;
  } else {
    const contact = msg.contact?.[0];
    from = (contact !== undefined ? uriEnd(contact.uri, transport) : undefined) ?? feeder;
    to = viaSide;
  }
  return { src: from.host, sport: from.port, dst: to.host, dport: to.port, transport };
}
