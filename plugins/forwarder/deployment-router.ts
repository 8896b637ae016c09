/**
 * One deployment's interest and routing: which captured packets belong to which call (from every recorder's
 * interest, or the static list), and which recorder each call's media goes to.
 *
 * A call goes to the recorder that ranks it lowest (0: the recorder of its users; 1, 2: the next ones), among the
 * recorders up. The choice sticks: a recorder that comes back up takes its users again at their next call, not in
 * the middle of one. When the chosen recorder dies, the call moves to the next one at once and the call's last
 * seconds are sent there again (ReplayRing), so the two parts overlap. While the best recorder so far is only a
 * stand-in and another recorder that is up has not spoken of the call yet, packets wait in the ring briefly (the
 * call's own recorder may announce it a moment later); otherwise a stand-in would start a needless part.
 */
import type { InterestEntry } from '../../core/net/forward-control';
import { addressKeyOf, endpointKeyOf, type PacketEnds } from './packet-ends';
import type { RecorderLink } from './recorder-link';
import { ReplayRing, type ReplayArena } from './replay-ring';

/** A packet of a call whose better recorder has not spoken yet waits at most this long. */
const HOLD_US = 500_000;

export interface RouteCounts {
  forwarded: number;
  failovers: number;
  replayed: number;
  /** Packets of interest with no recorder up to take them. */
  noRecorder: number;
}

interface CallSlot {
  key: string;
  /** Rank per link index (undefined: that recorder has not asked for it). */
  ranks: Array<number | undefined>;
  endpoints: Set<number | string>;
  /** Link index the media goes to, -1 before the first choice. */
  dest: number;
  /** Capture time of its first packet (µs), 0 before. */
  firstTs: number;
  /** Wall time (ms) of its first packet: recorders that came up later are not preferred. */
  firstWall: number;
  ring: ReplayRing;
  /** Static slots never end. */
  fixed: boolean;
}

export class DeploymentRouter {
  readonly counts: RouteCounts = { forwarded: 0, failovers: 0, replayed: 0, noRecorder: 0 };
  private readonly calls = new Map<string, CallSlot>();
  /** Calls by media end; an end two calls name (rare) lists both, the newest last. */
  private readonly byEndpoint = new Map<number | string, CallSlot[]>();
  /** Static interest, looked at after the calls' (a call that names a static end does not replace it). */
  private readonly staticEndpoints = new Map<number | string, CallSlot>();
  private readonly byAddress = new Map<number | string, CallSlot>();
  /** Told when the set of ends of interest may have changed (the kernel filter follows it). */
  onChange: () => void = () => undefined;
  /** Calls each link asked for (to forget them when it goes down or sends its interest whole). */
  private readonly asked: Array<Set<string>>;

  constructor(
    readonly id: number,
    readonly links: readonly RecorderLink[],
    staticAddresses: readonly string[],
    staticEndpoints: readonly string[],
    private readonly keepUs: number,
    private readonly arena: ReplayArena,
  ) {
    this.asked = links.map(() => new Set<string>());
    // Static interest goes to the first recorder up, in the configured order.
    const ranks = links.map((_l, i) => i);
    for (const a of staticAddresses) {
      const k = addressKeyOf(a);
      if (k !== undefined) this.byAddress.set(k, this.slot(`static:${a}`, ranks, true));
    }
    for (const e of staticEndpoints) {
      const k = endpointKeyOf(e);
      if (k !== undefined) this.staticEndpoints.set(k, this.slot(`static:${e}`, ranks, true));
    }
  }

  /** Every end of interest now (calls' and static), as keys; static addresses (any port) as address keys. */
  ends(): { endpoints: Iterable<number | string>; addresses: Iterable<number | string> } {
    return { endpoints: [...this.byEndpoint.keys(), ...this.staticEndpoints.keys()], addresses: this.byAddress.keys() };
  }

  get interestCalls(): number {
    return this.calls.size;
  }

  /** The call a packet belongs to, if any. */
  match(e: PacketEnds): CallSlot | undefined {
    const list = this.byEndpoint.get(e.dst) ?? this.byEndpoint.get(e.src);
    if (list !== undefined) return list[list.length - 1];
    if (this.staticEndpoints.size > 0) {
      const s = this.staticEndpoints.get(e.dst) ?? this.staticEndpoints.get(e.src);
      if (s !== undefined) return s;
    }
    return this.byAddress.size > 0 ? (this.byAddress.get(e.dstAddr) ?? this.byAddress.get(e.srcAddr)) : undefined;
  }

  /** Sends one packet of interest (ip: the IP packet; copied by the ring and the TFWD batch, never kept). */
  route(slot: CallSlot, ts: number, ip: Buffer): void {
    if (slot.firstTs === 0) {
      slot.firstTs = ts;
      slot.firstWall = Date.now();
    }
    const kept = slot.ring.push(ts, ip);
    const d = slot.dest;
    if (d < 0 || !this.usable(slot, d)) {
      const next = this.choose(slot);
      if (next < 0) {
        this.counts.noRecorder++;
        return;
      }
      if (kept && this.shouldHold(slot, next, ts)) return; // in the ring: sent with the rest once the choice is made
      this.moveTo(slot, next); // the ring, this packet included when it was kept
      if (kept) return;
    }
    if (this.links[slot.dest]!.send(ts, ip)) this.counts.forwarded++;
  }

  /** A packet for every recorder up (TURN control at the Edge: not a call's yet). */
  broadcast(ts: number, ip: Buffer): void {
    for (const l of this.links) if (l.up && l.send(ts, ip)) this.counts.forwarded++;
  }

  /** A link went down: what it asked for is forgotten and its calls move to the next recorder now. */
  linkDown(link: RecorderLink): void {
    const i = this.links.indexOf(link);
    for (const key of this.asked[i]!) {
      const s = this.calls.get(key);
      if (s !== undefined) this.setRank(s, i, undefined);
    }
    this.asked[i]!.clear();
    for (const s of this.allSlots()) {
      if (s.dest !== i) continue;
      const next = this.choose(s);
      if (next >= 0) {
        this.counts.failovers++;
        this.moveTo(s, next);
      } else s.dest = -1;
    }
  }

  interest(link: RecorderLink, calls: readonly InterestEntry[]): void {
    const i = this.links.indexOf(link);
    const now = new Set(calls.map((c) => c.call));
    for (const key of [...this.asked[i]!]) {
      if (now.has(key)) continue;
      this.end(link, key);
    }
    for (const c of calls) this.call(link, c);
  }

  call(link: RecorderLink, e: InterestEntry): void {
    const i = this.links.indexOf(link);
    let s = this.calls.get(e.call);
    if (s === undefined) {
      s = this.slot(e.call, this.links.map(() => undefined), false);
      this.calls.set(e.call, s);
    }
    this.setRank(s, i, e.rank);
    this.asked[i]!.add(e.call);
    for (const text of e.endpoints) {
      const k = endpointKeyOf(text);
      if (k === undefined || s.endpoints.has(k)) continue;
      s.endpoints.add(k);
      this.onChange();
      const list = this.byEndpoint.get(k);
      if (list === undefined) this.byEndpoint.set(k, [s]);
      else list.push(s);
    }
  }

  end(link: RecorderLink, call: string): void {
    const i = this.links.indexOf(link);
    this.asked[i]!.delete(call);
    const s = this.calls.get(call);
    if (s !== undefined) this.setRank(s, i, undefined);
  }

  private setRank(s: CallSlot, i: number, rank: number | undefined): void {
    s.ranks[i] = rank;
    if (s.fixed || s.ranks.some((r) => r !== undefined)) return;
    // No recorder wants it any more: forget it.
    this.calls.delete(s.key);
    if (s.endpoints.size > 0) this.onChange();
    for (const k of s.endpoints) {
      const list = this.byEndpoint.get(k);
      if (list === undefined) continue;
      const rest = list.filter((x) => x !== s);
      if (rest.length === 0) this.byEndpoint.delete(k);
      else this.byEndpoint.set(k, rest);
    }
    s.ring.clear();
  }

  private slot(key: string, ranks: Array<number | undefined>, fixed: boolean): CallSlot {
    return { key, ranks: [...ranks], endpoints: new Set(), dest: -1, firstTs: 0, firstWall: 0, ring: new ReplayRing(this.keepUs, this.arena), fixed };
  }

  private *allSlots(): Iterable<CallSlot> {
    yield* this.calls.values();
    for (const s of this.byAddress.values()) yield s;
    yield* this.staticEndpoints.values();
  }

  private usable(s: CallSlot, i: number): boolean {
    return this.links[i]!.up && s.ranks[i] !== undefined;
  }

  /** The lowest-ranked recorder up that asked for the call; one that came up after the call began only if no other. */
  private choose(s: CallSlot): number {
    let best = -1;
    let bestScore = Infinity;
    for (let i = 0; i < this.links.length; i++) {
      if (!this.usable(s, i)) continue;
      const late = s.firstWall !== 0 && this.links[i]!.upSince > s.firstWall && s.dest >= 0 ? 10 : 0;
      const score = late + (s.ranks[i] ?? 9);
      if (score < bestScore) {
        best = i;
        bestScore = score;
      }
    }
    return best;
  }

  private shouldHold(s: CallSlot, next: number, ts: number): boolean {
    if (s.dest >= 0 || (s.ranks[next] ?? 0) === 0 || ts - s.firstTs > HOLD_US) return false;
    // Another recorder is up and silent about this call: it may be its own recorder, a moment behind.
    return this.links.some((l, i) => i !== next && l.up && s.ranks[i] === undefined);
  }

  private moveTo(s: CallSlot, next: number): void {
    const link = this.links[next]!;
    const replay = s.dest >= 0;
    s.dest = next;
    let n = 0;
    s.ring.forEach((ts, pkt) => {
      if (link.send(ts, pkt)) n++;
    });
    if (replay) this.counts.replayed += n;
    else this.counts.forwarded += n;
  }
}
