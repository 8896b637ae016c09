/**
 * What the Edge's relay tables hold, rebuilt from the TURN traffic seen: one allocation per client 5-tuple
 * (transport, client ip:port, server ip:port) with its relayed address (Allocate success), channel bindings
 * (ChannelBind request/success), active destination (MS-TURN Set Active Destination) and multiplexed session id.
 * For relayed data it gives the addresses the inner packet travelled between (README.md, "Addresses"):
 *
 *   client → server (Send, or ChannelData / 0xFF10 / TCP data toward the server):  client end → peer
 *   server → client (Data indication, or the same from the server):                peer → client end
 *
 * The client end is the allocation's relayed address when its Allocate success was seen (the relay candidate in
 * the client's SDP, and the very address the Edge relays from on the far leg), else the client's outer address
 * (its srflx candidate over UDP). The peer is the message's, the channel's, or the active destination; when none
 * is known the Edge's own listening address stands in for it, which the mode's associate() reads as "the far side".
 */
import type { TurnAddress, TurnControl, TurnUnit } from './turn';

export interface OuterFlow {
  proto: 'udp' | 'tcp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** An inner packet with the addresses it travelled between. */
export interface Unwrapped {
  data: Buffer;
  src: TurnAddress;
  dst: TurnAddress;
  /** Sent by the TURN client (true) or by its peer, delivered by the server (false). */
  fromClient: boolean;
  /** The allocation it was relayed through (none for RFC 4571 ICE-TCP between hosts). */
  allocation?: Allocation;
  /** The peer came from the message, a channel or session table, the active destination, or is unknown. */
  peerFrom: 'message' | 'channel' | 'session' | 'active-destination' | 'unknown';
}

export interface Allocation {
  key: string;
  proto: 'udp' | 'tcp';
  client: TurnAddress;
  server: TurnAddress;
  relayed?: TurnAddress;
  mapped?: TurnAddress;
  channels: Map<number, TurnAddress>;
  activeDestination?: TurnAddress;
  session?: string;
  lastTs: number;
}

export interface AllocationOptions {
  /** Whether ip:port is a TURN server (an Edge public IP, a relay gateway, a TURN port): decides direction when the message does not. */
  isServer(ip: string, port: number): boolean;
  /** Allocations kept; the least recently used go beyond it (default 100,000). */
  maxAllocations?: number;
}

/** Why relayed data could not be placed, for the counters. */
export type UnplacedReason = 'direction-unknown';

export class TurnAllocations {
  private readonly byKey = new Map<string, Allocation>();
  /** Requests waiting for their response, by transaction id: ChannelBind and Set Active Destination. */
  private readonly pending = new Map<string, { alloc: Allocation; control: TurnControl }>();
  /** MS-TURN multiplexed session id → the allocation whose Allocate carried it. */
  private readonly sessions = new Map<string, Allocation>();
  /** Session ids an ICE check announced, → the address that sent the check (0xFF10 data for it goes there). */
  private readonly sessionOwners = new Map<string, TurnAddress>();
  /** ip:port of every TURN server seen answering, so later data on it knows its direction. */
  readonly servers = new Set<string>();
  private readonly max: number;

  constructor(private readonly opts: AllocationOptions) {
    this.max = opts.maxAllocations ?? 100_000;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The allocation of a client 5-tuple, if seen. */
  get(proto: 'udp' | 'tcp', client: TurnAddress, server: TurnAddress): Allocation | undefined {
    return this.byKey.get(keyOf(proto, client, server));
  }

  /** Learns from a control message; for data, the inner packet and its addresses (undefined when its direction cannot be told). */
  handle(outer: OuterFlow, unit: TurnUnit, ts: number): Unwrapped | UnplacedReason | undefined {
    if (unit.kind === 'control') {
      this.learn(outer, unit.control, ts);
      return undefined;
    }
    if (unit.kind !== 'data') return undefined;
    const toServer = unit.toServer ?? (unit.session !== undefined ? this.sessionDirection(outer, unit.session) : undefined) ?? this.direction(outer);
    if (toServer === undefined) return 'direction-unknown';
    // 0xFF10 for a session an Allocate announced belongs to that allocation, whichever server port carried it.
    const own = unit.session === undefined ? undefined : this.sessions.get(unit.session);
    const client = toServer ? { ip: outer.src, port: outer.sport } : { ip: outer.dst, port: outer.dport };
    const alloc = own !== undefined && sameAddress(own.client, client) ? own : this.allocation(outer, toServer, ts);
    let peer = unit.peer;
    let peerFrom: Unwrapped['peerFrom'] = 'message';
    if (peer === undefined && unit.channel !== undefined) {
      peer = alloc.channels.get(unit.channel);
      peerFrom = 'channel';
    } else if (peer === undefined && unit.session !== undefined) {
      // 0xFF10 names the receiving session; its allocation's active destination is where the data goes.
      peer = this.sessions.get(unit.session)?.activeDestination;
      peerFrom = 'session';
    }
    if (peer === undefined && alloc.activeDestination !== undefined) {
      peer = alloc.activeDestination;
      peerFrom = 'active-destination';
    }
    if (peer === undefined) {
      // The server end of this very packet stands in for the peer it does not name.
      peer = toServer ? { ip: outer.dst, port: outer.dport } : { ip: outer.src, port: outer.sport };
      peerFrom = 'unknown';
    }
    const end = alloc.relayed ?? alloc.client;
    return toServer
      ? { data: unit.data, src: end, dst: peer, fromClient: true, allocation: alloc, peerFrom }
      : { data: unit.data, src: peer, dst: end, fromClient: false, allocation: alloc, peerFrom };
  }

  /**
   * 0xFF10 carries the session id of its receiver: one a client announced in its Allocate (the frame goes to that
   * client, from the server) or one an ICE check announced (the frame goes to the check's sender, as to a server).
   */
  private sessionDirection(outer: OuterFlow, session: string): boolean | undefined {
    const a = this.sessions.get(session);
    if (a !== undefined) {
      if (a.client.ip === outer.dst && a.client.port === outer.dport) return false;
      if (a.client.ip === outer.src && a.client.port === outer.sport) return true;
    }
    const owner = this.sessionOwners.get(session);
    if (owner !== undefined) {
      if (owner.ip === outer.dst && owner.port === outer.dport) return true;
      if (owner.ip === outer.src && owner.port === outer.sport) return false;
    }
    return undefined;
  }

  /** Client → server (true), server → client (false), or undefined, for a message that does not say. */
  direction(outer: OuterFlow): boolean | undefined {
    if (this.byKey.has(keyOf(outer.proto, { ip: outer.src, port: outer.sport }, { ip: outer.dst, port: outer.dport }))) return true;
    if (this.byKey.has(keyOf(outer.proto, { ip: outer.dst, port: outer.dport }, { ip: outer.src, port: outer.sport }))) return false;
    const dstServer = this.isServer(outer.dst, outer.dport);
    const srcServer = this.isServer(outer.src, outer.sport);
    if (dstServer !== srcServer) return dstServer;
    return undefined;
  }

  private isServer(ip: string, port: number): boolean {
    return this.servers.has(`${ip}:${port}`) || this.opts.isServer(ip, port);
  }

  private learn(outer: OuterFlow, c: TurnControl, ts: number): void {
    // Requests and indications come from the client; responses from the server.
    const toServer = c.cls === 0 || c.cls === 1;
    if (c.method === 0x001) {
      // ICE connectivity checks run between any two candidates: they say nothing about a TURN server.
      if (c.session !== undefined && c.cls === 0) this.noteSessionOwner(outer, c.session);
      return;
    }
    const alloc = this.allocation(outer, toServer, ts);
    if (!toServer) {
      if (this.servers.size >= this.max) this.servers.clear(); // a cache: a real Edge has a handful of listeners
      this.servers.add(`${outer.src}:${outer.sport}`);
    }
    if (c.session !== undefined) {
      alloc.session = c.session;
      this.sessions.set(c.session, alloc);
      if (this.sessions.size > this.max) this.sessions.delete(this.sessions.keys().next().value as string);
    }
    if (c.method === 0x003 && c.cls === 2) {
      if (c.relayed !== undefined) alloc.relayed = c.relayed;
      if (c.mapped !== undefined) alloc.mapped = c.mapped;
      return;
    }
    const bind = c.dialect === 'rfc5389' && c.method === 0x009;
    const active = c.dialect === 'ms-turn' && c.method === 0x006;
    if (!bind && !active) return;
    if (c.cls === 0) {
      this.pending.set(c.txid, { alloc, control: c });
      if (this.pending.size > 10_000) this.pending.delete(this.pending.keys().next().value as string);
      // Bound already at the request: a response lost from the capture must not lose the call's audio.
      if (bind && c.channel !== undefined && c.peer !== undefined) alloc.channels.set(c.channel, c.peer);
      if (active && c.peer !== undefined) alloc.activeDestination = c.peer;
      return;
    }
    const req = this.pending.get(c.txid);
    if (req === undefined) return;
    this.pending.delete(c.txid);
    if (c.cls !== 3) return;
    // Refused: undo what the request set.
    if (bind && req.control.channel !== undefined) req.alloc.channels.delete(req.control.channel);
    if (active && sameAddress(req.alloc.activeDestination, req.control.peer)) delete req.alloc.activeDestination;
  }

  /** An ICE check carrying 0x8095 names its sender's session: 0xFF10 data for that session goes to the sender. */
  private noteSessionOwner(outer: OuterFlow, session: string): void {
    this.sessionOwners.set(session, { ip: outer.src, port: outer.sport });
    if (this.sessionOwners.size > this.max) this.sessionOwners.delete(this.sessionOwners.keys().next().value as string);
  }

  private allocation(outer: OuterFlow, toServer: boolean, ts: number): Allocation {
    const client = toServer ? { ip: outer.src, port: outer.sport } : { ip: outer.dst, port: outer.dport };
    const server = toServer ? { ip: outer.dst, port: outer.dport } : { ip: outer.src, port: outer.sport };
    const key = keyOf(outer.proto, client, server);
    let a = this.byKey.get(key);
    if (a === undefined) {
      if (this.byKey.size >= this.max) this.byKey.delete(this.byKey.keys().next().value as string);
      a = { key, proto: outer.proto, client, server, channels: new Map(), lastTs: ts };
      this.byKey.set(key, a);
    } else {
      // Map order is recency order: a touched allocation moves to the end, the eviction end stays the stalest.
      this.byKey.delete(key);
      this.byKey.set(key, a);
      a.lastTs = ts;
    }
    return a;
  }
}

function keyOf(proto: string, client: TurnAddress, server: TurnAddress): string {
  return `${proto} ${client.ip}:${client.port}>${server.ip}:${server.port}`;
}

function sameAddress(a: TurnAddress | undefined, b: TurnAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.ip === b.ip && a.port === b.port;
}
