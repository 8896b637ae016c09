/**
 * The endpoint recording mode: audio captured on the agents' PCs (requirements, "Recording modes"), so everything
 * to and from a user's endpoint IP is that user's. The core's SDP-address association runs first; this mode is
 * asked only about packets no SDP address claimed (a port the SDP did not name, a phone or headset app, a leg
 * whose SDP was not seen) and answers by the packet's IP:
 *
 *  - the IP must be a user's endpoint (configured, or learned: core/policy/endpoints.ts), never a disallowed IP;
 *    the packet's source is tried first (then the user sent it), then its destination (the user's peer sent it);
 *  - an IP shared by several users (NAT, terminal server): with resolveAudioViaSdp on, only the SDP's IP:port
 *    pairs tell them apart, so the packet is left alone; with it off, the users' calls are pooled as below;
 *  - of the active calls of the user(s) there, those on hold are set aside when another is not; exactly one must
 *    remain, else the packet is refused and counted ('ambiguous'): a guess could put one caller's voice in
 *    another's recording;
 *  - media of a fork that lost (an address only a losing early dialog's SDP named: the user's other PC) is never
 *    taken.
 */
import type { Counters, RecordingMode } from '../../core/contract';
import type { Call, Side } from '../../core/dialog/types';
import type { DialogTracker } from '../../core/dialog/tracker';
import type { TransportPacket } from '../../core/net/types';
import type { RecordingMetadata } from '../../core/media/metadata';
import type { EndpointDirectory } from '../../core/policy/endpoints';
import { mediaEndpoints } from '../../core/sdp/index';
import { normalizeIp, otherSide, recordIsLive } from '../../core/media/associator-index';
import type { ActiveCalls, UserCall } from './active-calls';

export interface EndpointModeOptions {
  resolveAudioViaSdp: boolean;
}

/** A recorded party's endpoint as the metadata states it. */
interface PartyEndpoint {
  side: Side;
  uri: string;
  endpointIp?: string;
  source: ReturnType<EndpointDirectory['sourceOf']>;
  /** How many other users share that IP. */
  sharedWith?: number;
}

export class EndpointMode implements RecordingMode {
  readonly name = 'endpoint';
  /** Streams (flow+SSRC bindings) this mode gave each call, for its metadata. */
  private readonly streams = new WeakMap<Call, number>();
  /** The users' endpoints as they were when the call was answered (a learned IP may move on later). */
  private readonly snapshots = new WeakMap<Call, PartyEndpoint[]>();

  constructor(
    private readonly endpoints: EndpointDirectory,
    private readonly active: ActiveCalls,
    private readonly counters: Counters,
    private readonly opts: EndpointModeOptions,
    dialogs: DialogTracker,
  ) {
    // The endpoint directory heard the answer's SDP first (it subscribed before any plugin).
    dialogs.on('callUpdate', (call, what) => {
      if (what === 'answered') this.snapshots.set(call, this.parties(call));
    });
    dialogs.on('callEnd', (call) => {
      if (!this.snapshots.has(call)) this.snapshots.set(call, this.parties(call));
    });
  }

  associate(pkt: TransportPacket): { call: Call; sender: Side } | undefined {
    let seen = false;
    for (const [ip, fromUser] of [[pkt.src, true], [pkt.dst, false]] as const) {
      if (this.endpoints.isDisallowed(ip)) continue;
      const users = this.endpoints.usersAt(ip);
      if (users.length === 0) continue;
      seen = true;
      if (users.length > 1 && this.opts.resolveAudioViaSdp) {
        this.counters.inc('sharedIpPackets');
        continue;
      }
      const r = this.pick(users.flatMap((u) => this.active.of(u.uri)), fromUser, pkt);
      if (r !== undefined) return r;
    }
    if (!seen) this.counters.inc('notAnEndpointPackets');
    return undefined;
  }

  annotate(call: Call, meta: RecordingMetadata): void {
    const parties = this.snapshots.get(call) ?? this.parties(call);
    meta.mode = { name: this.name, resolveAudioViaSdp: this.opts.resolveAudioViaSdp, endpoints: parties.map((p) => ({ ...p })), streamsByEndpointIp: this.streams.get(call) ?? 0 };
  }

  /** The call's parties that are users, with their endpoint IP now. */
  private parties(call: Call): PartyEndpoint[] {
    const out: PartyEndpoint[] = [];
    for (const side of ['caller', 'callee'] as const) {
      const uri = call[side].uri;
      if (this.endpoints.users.lookup(uri) === undefined) continue;
      const p: PartyEndpoint = { side, uri, source: this.endpoints.sourceOf(uri) };
      const ip = this.endpoints.ipOf(uri);
      if (ip !== undefined) {
        p.endpointIp = ip;
        const shared = this.endpoints.usersAt(ip).length;
        if (shared > 1) p.sharedWith = shared - 1;
      }
      out.push(p);
    }
    return out;
  }

  /** One call out of the candidates, or undefined (counted). fromUser: the user's IP is the packet's source. */
  private pick(candidates: UserCall[], fromUser: boolean, pkt: TransportPacket): { call: Call; sender: Side } | undefined {
    if (candidates.length === 0) {
      this.counters.inc('noActiveCallPackets');
      return undefined;
    }
    const talking = candidates.filter((c) => !c.call.holds.some((h) => h.end === undefined));
    const pool = talking.length > 0 ? talking : candidates;
    const calls = new Set(pool.map((c) => c.call));
    if (calls.size !== 1) {
      this.counters.inc('ambiguousPackets');
      return undefined;
    }
    const sides = new Set(pool.map((c) => c.side));
    if (sides.size !== 1) {
      // Two users at one IP talking to each other: the IP cannot say who sent it.
      this.counters.inc('ambiguousPackets');
      return undefined;
    }
    const { call, side } = pool[0] as UserCall;
    const mine = fromUser ? pkt.src : pkt.dst;
    const peer = fromUser ? { ip: pkt.dst, port: pkt.dport } : { ip: pkt.src, port: pkt.sport };
    // A PC (or a port) only a losing fork's SDP named is the other endpoint of the user that did not answer.
    if (onlyInLostForks(call, mine) || onlyInLostForks(call, peer.ip, peer.port)) {
      this.counters.inc('lostForkPackets');
      return undefined;
    }
    this.counters.inc('streams');
    this.streams.set(call, (this.streams.get(call) ?? 0) + 1);
    return { call, sender: fromUser ? side : otherSide(side) };
  }
}

/** Whether ip (and port, when given) is named by the SDP of a fork that lost and by no live SDP of the call. */
function onlyInLostForks(call: Call, ip: string, port?: number): boolean {
  if (call.toTag === undefined) return false;
  const want = normalizeIp(ip);
  let lost = false;
  for (const rec of call.sdp) {
    for (const m of rec.sdp.media) {
      for (const ep of mediaEndpoints(m)) {
        if ((port !== undefined && ep.port !== port) || normalizeIp(ep.ip) !== want) continue;
        if (recordIsLive(call, rec)) return false;
        lost = true;
      }
    }
  }
  return lost;
}
