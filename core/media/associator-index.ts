/**
 * The address index behind MediaAssociator: ip:port → which call and which party receives there, rebuilt from a
 * call's SDP records whenever one is added. Addresses are kept in canonical text (RFC 5952 for IPv6, the
 * form the packet decoder produces) so lookups can use packet addresses as they are.
 */
import type { Call, SdpRecord, Side } from '../dialog/types';
import type { SdpMedia, SdpSession } from '../sdp/types';
import { mediaEndpoints, type MediaEndpoint } from '../sdp/index';
import { formatIpv6 } from '../net/ip-address';

export interface AddressBinding {
  call: Call;
  /** The party that receives at this address (for a=remote-candidates: the peer of the SDP's writer). */
  side: Side;
  source: MediaEndpoint['source'];
  /** ICE component: 1 RTP, 2 RTCP. */
  component: number;
  /** m-line position in the SDP (the same in offer and answer, RFC 3264 §6) and its media type. */
  mediaIndex: number;
  mediaType: string;
  /** To-tag of the early dialog the SDP belongs to (forking), when the callee wrote it. */
  toTag?: string;
  /** Order of the SDP record it came from over all calls: the newest claim on an address wins. */
  rank: number;
  /**
   * From a fork that lost (SDP of an early dialog that was not answered): kept only so that its media, which
   * still reaches the caller's address, is not taken for the answering callee's.
   */
  lostFork: boolean;
}

export function otherSide(side: Side): Side {
  return side === 'caller' ? 'callee' : 'caller';
}

/** Whether a record still counts: after the answer, SDPs of forks that lost are ignored. */
export function recordIsLive(call: Call, rec: SdpRecord): boolean {
  return call.toTag === undefined || rec.toTag === undefined || rec.toTag === call.toTag;
}

/** The newest live SDP `side` wrote; for the callee, preferring the fork `toTag` when given. */
export function latestSdp(call: Call, side: Side, toTag?: string): SdpSession | undefined {
  for (let i = call.sdp.length - 1; i >= 0; i--) {
    const rec = call.sdp[i] as SdpRecord;
    if (rec.from !== side || !recordIsLive(call, rec)) continue;
    if (side === 'callee' && toTag !== undefined && rec.toTag !== undefined && rec.toTag !== toTag) continue;
    return rec.sdp;
  }
  return undefined;
}

/** The media section matching m-line `index` (when its type agrees), else the first of that type. */
export function pickMedia(sdp: SdpSession | undefined, index: number, type: string): SdpMedia | undefined {
  if (sdp === undefined) return undefined;
  const m = sdp.media[index];
  if (m !== undefined && m.type === type) return m;
  return sdp.media.find((x) => x.type === type);
}

const normalized = new Map<string, string>();

/**
 * Canonical address text: IPv6 parsed and re-printed as RFC 5952 (lower case, '::' compression, zone and
 * brackets dropped; IPv4-mapped as plain IPv4), dotted quads without leading zeros. Anything else (a host
 * name) is lower-cased.
 */
export function normalizeIp(text: string): string {
  const hit = normalized.get(text);
  if (hit !== undefined) return hit;
  const out = text.includes(':') ? (canonicalIpv6(text) ?? text.toLowerCase()) : (canonicalIpv4(text) ?? text.toLowerCase());
  if (normalized.size > 10_000) normalized.clear(); // a cache; SDPs name few addresses
  normalized.set(text, out);
  return out;
}

function canonicalIpv4(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const n = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : 256));
  return n.every((x) => x <= 255) ? n.join('.') : undefined;
}

function canonicalIpv6(text: string): string | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const fields = part.split(':');
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i] as string;
      if (f.includes('.') && i === fields.length - 1) {
        const v4 = canonicalIpv4(f);
        if (v4 === undefined) return undefined;
        const b = v4.split('.').map(Number) as [number, number, number, number];
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(f)) out.push(Number.parseInt(f, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const buf = Buffer.alloc(16);
  all.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  const out = formatIpv6(buf, 0);
  // An IPv4-mapped address is what a dual-stack socket writes for an IPv4 peer: the packets are IPv4.
  return out.startsWith('::ffff:') && out.includes('.') ? out.slice(7) : out;
}

interface Placed {
  ip: string;
  port: number;
  binding: AddressBinding;
}

export class AddressIndex {
  /** ip → port → bindings, newest rank first (one per call). */
  private readonly byIp = new Map<string, Map<number, AddressBinding[]>>();
  private readonly byCall = new Map<Call, Placed[]>();
  private readonly ranks = new WeakMap<SdpRecord, number>();
  private nextRank = 1;
  /** Bumped on every change, so cached flow bindings know to re-resolve. */
  generation = 0;
  /**
   * Per-port change counters: a flow's binding stays valid while neither of its ports had an entry added or
   * removed (a global counter made every stream of every call re-resolve whenever any call's SDP changed).
   * Ports of different addresses share a counter: that only costs an extra re-resolve.
   */
  readonly portGen = new Uint32Array(65536);

  lookup(ip: string, port: number): AddressBinding[] | undefined {
    return this.byIp.get(ip)?.get(port);
  }

  has(call: Call): boolean {
    return this.byCall.has(call);
  }

  get size(): number {
    return this.byCall.size;
  }

  /**
   * Re-derives every address of `call` from its SDP records: a later record overrides an earlier one, and any
   * live record overrides a losing fork's.
   */
  rebuild(call: Call): void {
    this.remove(call);
    const mine = new Map<string, Placed>();
    for (const rec of call.sdp) if (!this.ranks.has(rec)) this.ranks.set(rec, this.nextRank++);
    const lost = call.sdp.filter((r) => !recordIsLive(call, r));
    const live = call.sdp.filter((r) => recordIsLive(call, r));
    for (const rec of [...lost, ...live]) {
      const rank = this.ranks.get(rec) as number;
      const lostFork = !recordIsLive(call, rec);
      rec.sdp.media.forEach((media, mediaIndex) => {
        if (!media.proto.toUpperCase().includes('RTP')) return;
        for (const ep of mediaEndpoints(media)) {
          const ip = normalizeIp(ep.ip);
          const binding: AddressBinding = {
            call,
            side: ep.source === 'remote-candidate' ? otherSide(rec.from) : rec.from,
            source: ep.source,
            component: ep.component,
            mediaIndex,
            mediaType: media.type,
            rank,
            lostFork,
          };
          if (rec.toTag !== undefined && rec.from === 'callee') binding.toTag = rec.toTag;
          mine.set(`${ip} ${ep.port}`, { ip, port: ep.port, binding });
        }
      });
    }
    const placed = [...mine.values()];
    for (const p of placed) this.insert(p);
    if (placed.length > 0) this.byCall.set(call, placed);
    this.generation++;
  }

  remove(call: Call): void {
    const placed = this.byCall.get(call);
    if (placed === undefined) return;
    this.byCall.delete(call);
    for (const p of placed) {
      this.portGen[p.port & 0xffff]!++;
      const ports = this.byIp.get(p.ip);
      const list = ports?.get(p.port);
      if (ports === undefined || list === undefined) continue;
      const rest = list.filter((b) => b.call !== call);
      if (rest.length > 0) ports.set(p.port, rest);
      else {
        ports.delete(p.port);
        if (ports.size === 0) this.byIp.delete(p.ip);
      }
    }
    this.generation++;
  }

  private insert(p: Placed): void {
    this.portGen[p.port & 0xffff]!++;
    let ports = this.byIp.get(p.ip);
    if (ports === undefined) {
      ports = new Map();
      this.byIp.set(p.ip, ports);
    }
    const list = ports.get(p.port) ?? [];
    let i = 0;
    while (i < list.length && (list[i] as AddressBinding).rank > p.binding.rank) i++;
    list.splice(i, 0, p.binding);
    ports.set(p.port, list);
  }
}
