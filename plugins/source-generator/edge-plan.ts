/**
 * A call's leg to the Edge Server on a TURN media path: which party is the remote user, the addresses the Edge
 * sees, and when the allocation, the channel bind / active destination and (TCP) the teardown happen.
 *
 * The remote party's client allocates on the Edge's public IP (UDP 3478 or TCP 443) before its SDP is written, so
 * the SDP's relay candidate is that allocation's relayed address (Edge public IP, the candidate's port). It reaches
 * the Edge from its server-reflexive address: over UDP exactly the srflx candidate, over TCP that IP with an
 * ephemeral port. The Edge relays to the other party's c= address (its host candidate).
 */
import type { CallIdentity } from './call-identity';
import { deriveSeed, Rng } from './random';
import type { MediaPath, ResolvedScenario } from './scenario';
import type { Direction } from './tones';
import type { EdgeTruth } from './truth';

export interface Endpoint {
  ip: string;
  port: number;
}

export interface EdgePlan {
  path: Exclude<MediaPath, 'direct'>;
  /** The remote party: its client speaks TURN to the Edge. */
  party: Direction;
  client: Endpoint;
  server: Endpoint;
  relay: Endpoint;
  peer: Endpoint;
  /** turn-udp: the channel the client binds to its peer. */
  channel: number;
  /** Allocate request (the response 1 ms later); TCP: the handshake and pseudo-TLS precede it by 3 ms. */
  allocateAt: number;
  /** turn-udp ChannelBind / msturn-tcp Set Active Destination request (the success 1 ms later; wrapped data switches then); Infinity for a call never answered. */
  switchAt: number;
  /** msturn-tcp: the connection closes (FIN) then, after the call's last media. */
  closeAt: number;
  /** Seed of the leg's transaction ids, TCP sequence numbers and IP ids. */
  seed: number;
}

/** Only the remote party: 'alternate' gives even-numbered calls a remote caller, odd ones a remote callee. */
export function edgePartyOf(s: ResolvedScenario, index: number): Direction | undefined {
  if (s.mediaPath === 'direct') return undefined;
  if (s.edgeParty === 'alternate') return index % 2 === 0 ? 'caller' : 'callee';
  return s.edgeParty;
}

/** Gives the remote party's SDP the Edge as its relay candidate (its port kept): called before any SDP is built. */
export function relayThroughEdge(s: ResolvedScenario, id: CallIdentity, party: Direction): void {
  const side = id[party];
  side.ice = { ...side.ice, relay: { ip: s.addresses.edgePublic, port: side.ice.relay.port } };
}

/** `answer`: the 200 OK's time, undefined for a call never answered; `mediaEnd`: when its streams stop. */
export function planEdge(s: ResolvedScenario, index: number, id: CallIdentity, party: Direction, t0: number, answer: number | undefined, mediaEnd: number): EdgePlan {
  const path = s.mediaPath as EdgePlan['path'];
  const rng = new Rng(deriveSeed(s.seed, index, 7));
  const me = id[party];
  const peer = id[party === 'caller' ? 'callee' : 'caller'];
  const tcp = path === 'msturn-tcp';
  return {
    path,
    party,
    client: tcp ? { ip: me.ice.srflx.ip, port: 49152 + rng.int(16000) } : { ...me.ice.srflx },
    server: { ip: s.addresses.edgePublic, port: tcp ? 443 : 3478 },
    relay: { ...me.ice.relay },
    peer: { ip: peer.ip, port: peer.rtpPort },
    channel: 0x4000 + rng.int(0x1000),
    // The caller allocates before its INVITE (the offer lists the relay); the callee once the INVITE arrives.
    allocateAt: party === 'caller' ? t0 - 5000 : t0 + 3000,
    switchAt: answer === undefined ? Infinity : answer + 100_000,
    // Past the last packet a jittered stream can send.
    closeAt: mediaEnd + s.jitterMs * 1000 + 60_000,
    seed: rng.u32(),
  };
}

export function emptyEdgeTruth(p: EdgePlan): EdgeTruth {
  return { path: p.path, party: p.party, client: { ...p.client }, server: { ...p.server }, relay: { ...p.relay }, peer: { ...p.peer }, messages: {} };
}
