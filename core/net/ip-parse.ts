/**
 * IP address text → bytes, the inverse of ip-address.ts: for encoders (HEP) that must put an address on the wire.
 * Accepts what a configuration or a SIP header may hold: dotted quads, RFC 4291 IPv6 text with "::" and an
 * embedded IPv4 tail, optional brackets and a zone id ("[fe80::1%eth0]").
 */
import { isIP } from 'node:net';

export interface ParsedIp {
  family: 4 | 6;
  bytes: Buffer;
}

/** The address's family and bytes, or undefined when the text is not an IP address. */
export function parseIp(text: string): ParsedIp | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const kind = isIP(s);
  if (kind === 4) return { family: 4, bytes: Buffer.from(s.split('.').map(Number)) };
  if (kind !== 6) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    // Embedded IPv4 (::ffff:10.0.0.1): two groups written as a dotted quad.
    tail = s.slice(lastColon + 1).split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) bytes.set(tail, 12);
  return { family: 6, bytes };
}

/** An IPv4-mapped IPv6 address ("::ffff:10.0.0.1", as a dual-stack socket reports IPv4 peers) as plain IPv4 text. */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
