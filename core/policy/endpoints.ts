/**
 * The recorded users' endpoint IPs (requirements, "Users"): a configured IP is fixed; 0.0.0.0 (or '::') means
 * "detect it and keep it up to date". Learning users are located from what they write themselves: the c= address
 * and host candidates of their SDPs, and an IP-literal Contact of their INVITEs, UPDATEs, REGISTERs and INVITE
 * answers. Disallowed IPs (policy.disallowedIps: recorder, Front End, Edge, Exchange) are never learned, so a
 * server that speaks or relays for a user never becomes that user's endpoint. The newest sighting wins; earlier
 * ones are kept (bounded) for diagnostics. Endpoint IPs need not be unique: usersAt(ip) lists everyone there.
 */
import type { DialogTracker } from '../dialog/tracker';
import type { Call, SdpRecord, SipMeta } from '../dialog/types';
import type { PacketBus } from '../bus';
import type { Counters } from '../contract';
import type { SdpSession } from '../sdp/types';
import type { SipMessage } from '../sip/types';
import { normalizeIp } from '../media/associator-index';
import { userKey, type UserDirectory, type UserEntry } from './users';

export type SightingSource = 'sdp' | 'contact';

export interface EndpointSighting {
  /** Capture time, µs since the epoch. */
  at: number;
  /** Canonical addresses seen together (an SDP's c= address first, then its host candidates). */
  ips: string[];
  how: SightingSource;
  callId?: string;
}

export interface EndpointOptions {
  disallowedIps?: readonly string[];
  /** Sightings kept per learning user (default 8). */
  historySize?: number;
  /**
   * Sightings this close (seconds) to a user's newest one still count as current: an INVITE's Contact and SDP,
   * or the SDPs of two forks of one user that ring together. Older addresses are dropped (default 2).
   */
  currentWindowSec?: number;
  counters?: Counters;
}

interface Learned {
  user: UserEntry;
  history: EndpointSighting[];
  current: string[];
}

const US = 1_000_000;

/** Addresses that never name a host: unspecified (old-style hold), loopback, multicast. */
function unusable(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::' || ip.startsWith('127.') || ip === '::1' || /^2(2[4-9]|3\d)\./.test(ip) || ip.startsWith('ff');
}

function isIpLiteral(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-f:.]+$/i.test(s));
}

/** A user whose endpoint IP is to be learned. */
export function learnsEndpoint(u: UserEntry): boolean {
  const ip = u.endpointIp.trim();
  return ip === '' || normalizeIp(ip) === '0.0.0.0' || normalizeIp(ip) === '::';
}

/** The c= address and host candidates (ICEv19 'typ host', a=x-candidate-ipv6 host) of an SDP's audio, c= first. */
export function sdpHostAddresses(sdp: SdpSession): string[] {
  const out: string[] = [];
  const add = (ip: string | undefined): void => {
    if (ip === undefined) return;
    const n = normalizeIp(ip);
    if (!out.includes(n)) out.push(n);
  };
  const audio = sdp.media.filter((m) => m.type === 'audio' && m.port !== 0);
  for (const m of audio) add(m.connection?.address);
  for (const m of audio) for (const c of m.candidates) if (c.type === 'host') add(c.ip);
  return out;
}

export class EndpointDirectory {
  private readonly learning = new Map<string, Learned>();
  /** Canonical IP → user keys there (configured and current learned addresses). */
  private readonly byIp = new Map<string, Set<string>>();
  private readonly fixed = new Map<string, string>();
  private disallowed: ReadonlySet<string>;
  private readonly historySize: number;
  private readonly windowUs: number;
  private readonly counters: Counters | undefined;
  /** Configuration contradictions found at start (a configured endpoint IP that is disallowed). */
  readonly problems: string[] = [];

  constructor(
    readonly users: UserDirectory,
    opts: EndpointOptions = {},
  ) {
    this.disallowed = new Set((opts.disallowedIps ?? []).map((ip) => normalizeIp(ip)));
    this.historySize = Math.max(1, opts.historySize ?? 8);
    this.windowUs = (opts.currentWindowSec ?? 2) * US;
    this.counters = opts.counters;
    this.build(new Map());
  }

  /** From the users directory: fixed addresses indexed, learning users kept with what they had learned. */
  private build(learned: ReadonlyMap<string, Learned>): void {
    this.problems.length = 0;
    for (const u of this.users.all()) {
      const key = userKey(u.uri) as string; // the directory refused URIs without a key
      if (learnsEndpoint(u)) {
        const prior = learned.get(key);
        const current = (prior?.current ?? []).filter((ip) => !this.disallowed.has(ip));
        this.learning.set(key, { user: u, history: prior?.history ?? [], current });
        for (const ip of current) this.index(key, ip);
        continue;
      }
      const ip = normalizeIp(u.endpointIp.trim());
      if (this.disallowed.has(ip)) {
        this.problems.push(`user ${u.uri}: endpoint IP ${ip} is in policy.disallowedIps; it is not associated with the user`);
        continue;
      }
      this.fixed.set(key, ip);
      this.index(key, ip);
    }
  }

  /** After the users directory was replaced (SIGHUP): rebuilt, learned addresses of remaining users kept. */
  reconfigure(disallowedIps: readonly string[]): void {
    this.disallowed = new Set(disallowedIps.map((ip) => normalizeIp(ip)));
    const learned = new Map(this.learning);
    this.learning.clear();
    this.fixed.clear();
    this.byIp.clear();
    this.build(learned);
  }

  /** The directory key of the user a URI names (none for unknown URIs and application URIs such as an MCU's). */
  private keyOf(uri: string): string | undefined {
    const u = this.users.lookup(uri);
    return u === undefined ? undefined : userKey(u.uri);
  }

  /** Whether any user's endpoint IP is learned (else nothing needs to watch the signalling). */
  get learns(): boolean {
    return this.learning.size > 0;
  }

  isDisallowed(ip: string): boolean {
    return this.disallowed.size > 0 && this.disallowed.has(normalizeIp(ip));
  }

  /** The user's endpoint IP: the configured one, or the newest learned (the c= address of their newest SDP). */
  ipOf(uri: string): string | undefined {
    const key = this.keyOf(uri);
    if (key === undefined) return undefined;
    return this.fixed.get(key) ?? this.learning.get(key)?.current[0];
  }

  /** Every current address of the user (a learned user's newest SDP may name IPv4 and IPv6 hosts). */
  addressesOf(uri: string): string[] {
    const key = this.keyOf(uri);
    if (key === undefined) return [];
    const f = this.fixed.get(key);
    if (f !== undefined) return [f];
    return [...(this.learning.get(key)?.current ?? [])];
  }

  /**
   * Where the user's IP comes from: configured, learned, 'disallowed' (configured, but in policy.disallowedIps),
   * or 'unknown' (not learned yet, or not a user).
   */
  sourceOf(uri: string): 'configured' | 'learned' | 'disallowed' | 'unknown' {
    const key = this.keyOf(uri);
    if (key === undefined) return 'unknown';
    if (this.fixed.has(key)) return 'configured';
    if (this.learning.has(key)) return (this.learning.get(key)?.current.length ?? 0) > 0 ? 'learned' : 'unknown';
    return 'disallowed';
  }

  /** The users whose endpoint is at `ip` (several behind one NAT or terminal server); none for a disallowed IP. */
  usersAt(ip: string): UserEntry[] {
    const keys = this.byIp.get(normalizeIp(ip));
    if (keys === undefined) return [];
    const out: UserEntry[] = [];
    for (const k of keys) {
      const u = this.users.lookup(k);
      if (u !== undefined) out.push(u);
    }
    return out;
  }

  /** A learning user's sightings, oldest first. */
  history(uri: string): readonly EndpointSighting[] {
    const key = this.keyOf(uri);
    return key === undefined ? [] : [...(this.learning.get(key)?.history ?? [])];
  }

  /**
   * A sighting of `uri` at `ips`. Ignored for users with a configured IP and for unknown URIs; disallowed and
   * unusable addresses are dropped. True when the user's current addresses changed.
   */
  observe(uri: string, ips: readonly string[], at: number, how: SightingSource, callId?: string): boolean {
    const key = this.keyOf(uri);
    const l = key === undefined ? undefined : this.learning.get(key);
    if (l === undefined || key === undefined) return false;
    const kept: string[] = [];
    for (const raw of ips) {
      const ip = normalizeIp(raw);
      if (!isIpLiteral(ip) || unusable(ip) || kept.includes(ip)) continue; // a host name says nothing certain
      if (this.disallowed.has(ip)) {
        this.counters?.inc('endpoints.disallowedIgnored');
        continue;
      }
      kept.push(ip);
    }
    if (kept.length === 0) return false;
    const s: EndpointSighting = { at, ips: kept, how };
    if (callId !== undefined) s.callId = callId;
    l.history.push(s);
    if (l.history.length > this.historySize) l.history.shift();
    return this.recompute(key, l);
  }

  /** An SDP `uri` wrote. */
  observeSdp(uri: string, sdp: SdpSession, at: number, callId?: string): boolean {
    return this.observe(uri, sdpHostAddresses(sdp), at, 'sdp', callId);
  }

  /**
   * A SIP message: the Contact of an INVITE, UPDATE or REGISTER belongs to its From; that of a 1xx/2xx answer to an
   * INVITE or UPDATE to its To. Only IP-literal Contacts say where the user is (a Lync GRUU names no host).
   */
  observeMessage(msg: SipMessage, meta: SipMeta): boolean {
    if (this.learning.size === 0 || msg.contact === undefined || msg.contact.length !== 1) return false;
    let who: string;
    if (msg.kind === 'request') {
      if (msg.method !== 'INVITE' && msg.method !== 'UPDATE' && msg.method !== 'REGISTER') return false;
      who = msg.from.uri.raw;
    } else {
      if (msg.status < 101 || msg.status >= 300 || (msg.cseq.method !== 'INVITE' && msg.cseq.method !== 'UPDATE')) return false;
      who = msg.to.uri.raw;
    }
    const host = msg.contact[0]?.uri.host ?? '';
    if (!isIpLiteral(host)) return false;
    return this.observe(who, [host], meta.ts, 'contact', msg.callId);
  }

  /** Follows the signalling: SDPs as the dialog tracker records them, Contacts of every SIP message on the bus. */
  attach(dialogs: DialogTracker, bus: PacketBus): void {
    // Always subscribed (cheap when nobody learns): a reload may add learning users.
    bus.on('sip', (msg, meta) => this.observeMessage(msg, meta));
    dialogs.on('callUpdate', (call, what) => {
      if (this.learning.size > 0 && what.startsWith('sdp-')) this.onSdp(call, call.sdp[call.sdp.length - 1]);
    });
  }

  private onSdp(call: Call, rec: SdpRecord | undefined): void {
    if (rec === undefined) return;
    this.observeSdp(call[rec.from].uri, rec.sdp, rec.ts, call.callId);
  }

  /** Current = every address seen within the window before the newest sighting; re-indexed when it changed. */
  private recompute(key: string, l: Learned): boolean {
    let newest = -Infinity;
    for (const s of l.history) if (s.at > newest) newest = s.at;
    // Newest first, so current[0] is the newest sighting's first address (an SDP's c=).
    const next: string[] = [];
    for (let i = l.history.length - 1; i >= 0; i--) {
      const s = l.history[i] as EndpointSighting;
      if (s.at < newest - this.windowUs) continue;
      for (const ip of s.ips) if (!next.includes(ip)) next.push(ip);
    }
    const prev = l.current;
    const same = prev.length === next.length && prev.every((ip, i) => ip === next[i]);
    if (same) return false;
    for (const ip of prev) if (!next.includes(ip)) this.unindex(key, ip);
    for (const ip of next) if (!prev.includes(ip)) this.index(key, ip);
    if (prev.length === 0) this.counters?.inc('endpoints.learned');
    else if (prev[0] !== next[0]) this.counters?.inc('endpoints.moved');
    l.current = next;
    return true;
  }

  private index(key: string, ip: string): void {
    let set = this.byIp.get(ip);
    if (set === undefined) {
      set = new Set();
      this.byIp.set(ip, set);
    }
    set.add(key);
  }

  private unindex(key: string, ip: string): void {
    const set = this.byIp.get(ip);
    if (set === undefined) return;
    set.delete(key);
    if (set.size === 0) this.byIp.delete(ip);
  }
}
