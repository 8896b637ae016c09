/**
 * The forwarder control protocol (version 1): how a recorder tells the forwarders of its deployment which
 * packets it wants (interest) and shows it is alive (heartbeats). Shared by the recorder's listener
 * (source-forwarded) and the agent (`tapline forward`); documented in plugins/forwarder/README.md.
 *
 * A forwarder connects over TCP to each recorder it sends to (default port 9071). Newline-delimited JSON, one
 * object a line, at most MAX_LINE bytes. Both ends prove they hold the deployment's TFWD key before anything else:
 *   forwarder → { t: 'hello', v: 1, deployment, sensor, keyId, time (ms), nonce, mac }
 *   recorder  → { t: 'welcome', v: 1, recorder, nonce, mac }   or   { t: 'refused', reason } and close
 * mac = hex HMAC-SHA256 with key keyId over the fields joined by '|' (helloText / welcomeText), so a replayed hello
 * is refused by its time (±HELLO_SKEW_MS) and a recorder without the key cannot answer the forwarder's nonce.
 * Then the recorder sends its interest whole and its changes:
 *   { t: 'interest', calls: [{ call, endpoints: ["ip:port", …], rank }] }   (replaces all)
 *   { t: 'call', call, endpoints, rank }   (added or changed)        { t: 'end', call }
 * and both send { t: 'hb' } every heartbeat interval; silence for longer than the peer's dead time ends the link.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { TfwdKey } from './tfwd';

export const FORWARD_CONTROL_VERSION = 1;
export const FORWARD_CONTROL_DEFAULT_PORT = 9071;
/** A line longer than this closes the connection (hostile or broken peer). */
export const MAX_LINE = 1 << 20;
/** How far a hello's clock may be from the recorder's. */
export const HELLO_SKEW_MS = 60_000;

export interface InterestEntry {
  call: string;
  endpoints: string[];
  rank: number;
}

export type ControlMessage =
  | { t: 'hello'; v: number; deployment: number; sensor: number; keyId: number; time: number; nonce: string; mac: string }
  | { t: 'welcome'; v: number; recorder: number; nonce: string; mac: string }
  | { t: 'refused'; reason: string }
  | { t: 'interest'; calls: InterestEntry[] }
  | ({ t: 'call' } & InterestEntry)
  | { t: 'end'; call: string }
  | { t: 'hb' };

export const newNonce = (): string => randomBytes(16).toString('hex');

export function helloText(deployment: number, sensor: number, time: number, nonce: string): string {
  return `tapline-forward-hello|v${FORWARD_CONTROL_VERSION}|${deployment}|${sensor}|${time}|${nonce}`;
}

/** The recorder answers the forwarder's nonce (and its own), so the forwarder knows it holds the key too. */
export function welcomeText(deployment: number, sensor: number, recorder: number, helloNonce: string, nonce: string): string {
  return `tapline-forward-welcome|v${FORWARD_CONTROL_VERSION}|${deployment}|${sensor}|${recorder}|${helloNonce}|${nonce}`;
}

export function macOf(key: TfwdKey, text: string): string {
  const b = Buffer.from(text, 'utf8');
  return key.mac(b, 0, b.length).toString('hex');
}

export function macMatches(key: TfwdKey, text: string, mac: string): boolean {
  const want = Buffer.from(macOf(key, text), 'hex');
  const got = Buffer.from(/^[0-9a-f]{64}$/i.test(mac) ? mac : '', 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Parses one line; undefined for anything that is not a known, well-formed message. */
export function parseControl(line: string): ControlMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const int = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
  const str = (x: unknown): x is string => typeof x === 'string' && x.length <= 256;
  const entry = (e: unknown): InterestEntry | undefined => {
    if (typeof e !== 'object' || e === null) return undefined;
    const r = e as Record<string, unknown>;
    if (!str(r.call) || !int(r.rank) || !Array.isArray(r.endpoints) || r.endpoints.length > 4096 || !r.endpoints.every(str)) return undefined;
    return { call: r.call, endpoints: r.endpoints as string[], rank: r.rank };
  };
  switch (o.t) {
    case 'hb':
      return { t: 'hb' };
    case 'hello':
      return int(o.v) && int(o.deployment) && int(o.sensor) && int(o.keyId) && typeof o.time === 'number' && str(o.nonce) && str(o.mac)
        ? { t: 'hello', v: o.v, deployment: o.deployment, sensor: o.sensor, keyId: o.keyId, time: o.time, nonce: o.nonce, mac: o.mac }
        : undefined;
    case 'welcome':
      return int(o.v) && int(o.recorder) && str(o.nonce) && str(o.mac) ? { t: 'welcome', v: o.v, recorder: o.recorder, nonce: o.nonce, mac: o.mac } : undefined;
    case 'refused':
      return str(o.reason) ? { t: 'refused', reason: o.reason } : undefined;
    case 'end':
      return str(o.call) ? { t: 'end', call: o.call } : undefined;
    case 'call': {
      const e = entry(o);
      return e === undefined ? undefined : { t: 'call', ...e };
    }
    case 'interest': {
      if (!Array.isArray(o.calls) || o.calls.length > 1_000_000) return undefined;
      const calls: InterestEntry[] = [];
      for (const c of o.calls) {
        const e = entry(c);
        if (e === undefined) return undefined;
        calls.push(e);
      }
      return { t: 'interest', calls };
    }
    default:
      return undefined;
  }
}

/**
 * Splits a TCP stream into lines, bounded: onLine per complete line; false from push() when a line grew past
 * MAX_LINE (the caller closes the connection).
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): boolean {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const line = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.parts = [];
      this.size = 0;
      if (line.length > MAX_LINE) return false;
      this.onLine(line.toString('utf8'));
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.size += chunk.length - start;
      if (this.size > MAX_LINE) return false;
      this.parts.push(chunk.subarray(start));
    }
    return true;
  }
}

export const encodeControl = (m: ControlMessage): string => `${JSON.stringify(m)}\n`;
