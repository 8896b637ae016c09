/**
 * The at-edge recording mode: audio captured at the Edge Server, where a remote user's media arrives wrapped in
 * TURN (RFC 5766 or MS-TURN, over UDP or TCP 443). Every TURN unit on bus 'media' (UDP) and 'tcpData' (TCP) is
 * unwrapped, and its inner RTP/RTCP is handed to the core's associator (MediaInput) with the addresses it
 * travelled between (allocations.ts), so the calls' SDPs bind it to the right party. The outer datagram was
 * already counted by the associator ('media.stun', 'media.turnChannel', 'media.turnMux'); inner ICE checks are
 * not handed on, so nothing is counted twice. Where SDP cannot tell, the Edge's addresses can (associate()).
 */
import type { Counters, Logger, MediaInput, RecordingMode } from '../../core/contract';
import type { Call, Side } from '../../core/dialog/types';
import type { DialogTracker } from '../../core/dialog/tracker';
import type { RecordingMetadata } from '../../core/media/metadata';
import type { TcpStreamChunk, TransportPacket } from '../../core/net/types';
import { normalizeIp, otherSide } from '../../core/media/associator-index';
import { TurnAllocations, type OuterFlow, type Unwrapped } from './allocations';
import { earlyMediaFlags, earlyMediaMissed } from './early-media';
import { findParty } from './parties';
import { TurnTcpFramer, type FramedUnit } from './tcp-framer';
import { isRtpOrRtcp, parseTurn, type TurnUnit } from './turn';

export interface AtEdgeOptions {
  /** The Edge's external (public) IP addresses. */
  edgePublicIps: string[];
  /** Relay gateways: addresses that, like the Edge, relay media for the far side. */
  relayGateways: string[];
  /** Informational: the net service promotes the Edge media path (kept in each recording's metadata). */
  routeAllAudioThroughEdge: boolean;
  /** Ports the Edge's TURN listeners use (UDP 3478, TCP 443). */
  turnPorts: number[];
  /** A side whose first packet came this many seconds after early media / answer is flagged. */
  earlyMediaReportSec: number;
}

export interface AtEdgeDeps {
  input: MediaInput;
  dialogs: DialogTracker;
  counters: Counters;
  log: Logger;
}

/** TCP flows followed at once; the least recently used are dropped beyond it. */
const MAX_TCP_FLOWS = 20_000;

export class AtEdgeMode implements RecordingMode {
  readonly name = 'atedge';
  readonly allocations: TurnAllocations;
  private readonly edge: ReadonlySet<string>;
  private readonly turnPorts: ReadonlySet<number>;
  private readonly framers = new Map<string, TurnTcpFramer>();
  /** The inner packet being handed to the associator, so associate() knows where it came from. */
  private current: { pkt: TransportPacket; u: Unwrapped } | undefined;
  private readonly warned = new Set<string>();

  constructor(
    private readonly opts: AtEdgeOptions,
    private readonly deps: AtEdgeDeps,
  ) {
    this.edge = new Set([...opts.edgePublicIps, ...opts.relayGateways].map((ip) => normalizeIp(ip)));
    this.turnPorts = new Set(opts.turnPorts);
    this.allocations = new TurnAllocations({ isServer: (ip, port) => this.turnPorts.has(port) || this.edge.has(ip) });
  }

  /** Bus 'media': one non-SIP UDP datagram. Plain RTP is the associator's alone. Never throws. */
  onMedia(pkt: TransportPacket): void {
    const b0 = pkt.payload.length > 0 ? (pkt.payload[0] as number) : -1;
    if (b0 < 0 || (b0 >= 128 && b0 <= 191) || (b0 > 3 && b0 < 0x40) || (b0 > 0x7f && b0 !== 0xff)) return;
    this.unit({ proto: 'udp', src: pkt.src, sport: pkt.sport, dst: pkt.dst, dport: pkt.dport }, parseTurn(pkt.payload), pkt.ts, pkt.frameNo);
  }

  /** Bus 'tcpData': reassembled bytes of one direction of a non-SIP TCP connection. Never throws. */
  onTcpData(chunk: TcpStreamChunk): void {
    let framer = this.framers.get(chunk.flow);
    if (framer === undefined) {
      const onEdge = this.onTurnPortOrEdge(chunk);
      if (!onEdge && !looksLikeRfc4571(chunk.data)) return;
      framer = new TurnTcpFramer({ joinMidStream: onEdge });
      if (this.framers.size >= MAX_TCP_FLOWS) this.framers.delete(this.framers.keys().next().value as string);
    } else this.framers.delete(chunk.flow);
    // Re-inserted on every chunk: Map order is then recency order, and the stalest flow is the one dropped.
    this.framers.set(chunk.flow, framer);
    if (framer.gaveUp) return;
    const outer: OuterFlow = { proto: 'tcp', src: chunk.src, sport: chunk.sport, dst: chunk.dst, dport: chunk.dport };
    for (const u of framer.push(chunk.data, chunk.gapBefore)) this.framed(outer, u, chunk);
  }

  // ---------------------------------------------------------------------------------------------
  // RecordingMode hooks

  /**
   * A packet no SDP address claimed. An inner packet we unwrapped: the party whose SDP names its allocation
   * (relayed, reflexive or client address) sent it or, for data from the server, that party's peer did. A plain
   * packet to or from an Edge address (after MS-TURN Set Active Destination media flows unwrapped): from the Edge
   * it was relayed from the far side, so the party at the other end received it; to the Edge, that party sent it.
   */
  associate(pkt: TransportPacket): { call: Call; sender: Side } | undefined {
    const calls = this.deps.dialogs.active();
    const cur = this.current;
    const a = cur !== undefined && cur.pkt === pkt ? cur.u.allocation : undefined;
    if (cur !== undefined && a !== undefined) {
      const m = findParty(calls, [a.relayed, a.mapped, a.client], [a.mapped?.ip, a.client.ip]);
      if (m !== undefined) {
        this.deps.counters.inc('associated.allocation');
        return { call: m.call, sender: cur.u.fromClient ? m.side : otherSide(m.side) };
      }
      // Else the peer's party, when the peer is known: it sent what the server delivers, and received the rest.
      const peer = cur.u.peerFrom === 'unknown' ? undefined : cur.u.fromClient ? cur.u.dst : cur.u.src;
      const p = peer === undefined ? undefined : findParty(calls, [peer], [peer.ip]);
      if (p === undefined) return undefined;
      this.deps.counters.inc('associated.peer');
      return { call: p.call, sender: cur.u.fromClient ? otherSide(p.side) : p.side };
    }
    const fromEdge = this.isEdge(pkt.src, pkt.sport);
    const toEdge = this.isEdge(pkt.dst, pkt.dport);
    if (fromEdge === toEdge) return undefined;
    const near = fromEdge ? { ip: pkt.dst, port: pkt.dport } : { ip: pkt.src, port: pkt.sport };
    const m = findParty(calls, [near], [near.ip]);
    if (m === undefined) return undefined;
    this.deps.counters.inc('associated.edgeAddress');
    return { call: m.call, sender: fromEdge ? otherSide(m.side) : m.side };
  }

  annotate(call: Call, meta: RecordingMetadata): void {
    const report = earlyMediaMissed(call, meta);
    meta.mode = {
      name: this.name,
      earlyMediaMissedSec: report.missedSec,
      missedFrom: report.from,
      earlyMediaReportSec: this.opts.earlyMediaReportSec,
      routeAllAudioThroughEdge: this.opts.routeAllAudioThroughEdge,
    };
    for (const f of earlyMediaFlags(report, this.opts.earlyMediaReportSec)) if (!meta.flags.includes(f)) meta.flags.push(f);
  }

  // ---------------------------------------------------------------------------------------------

  private isEdge(ip: string, port: number): boolean {
    return this.edge.has(ip) || this.allocations.servers.has(`${ip}:${port}`);
  }

  /** A TCP flow on a TURN port or an Edge address: framed, even when its start was not captured. */
  private onTurnPortOrEdge(c: TcpStreamChunk): boolean {
    return this.turnPorts.has(c.dport) || this.turnPorts.has(c.sport) || this.edge.has(c.src) || this.edge.has(c.dst);
  }

  private framed(outer: OuterFlow, u: FramedUnit, c: TcpStreamChunk): void {
    const counters = this.deps.counters;
    switch (u.kind) {
      case 'pseudo-tls':
        counters.inc('tcp.pseudoTls');
        return;
      case 'skipped':
        counters.inc('tcp.skippedBytes', u.bytes);
        return;
      case 'not-turn':
        counters.inc('tcp.notTurn');
        return;
      case 'frame':
        break;
    }
    if (u.framing === 'rfc4571') {
      // ICE-TCP between two hosts: no relay, the packet went between the connection's own ends.
      counters.inc('unwrapped.rfc4571');
      this.push({ data: u.payload, src: { ip: outer.src, port: outer.sport }, dst: { ip: outer.dst, port: outer.dport }, fromClient: true, peerFrom: 'message' }, c.ts, c.frameNo);
      return;
    }
    if (u.framing === 'ms-tcp' && u.msType === 0x03 && !(u.payload[0] === 0xff && u.payload[1] === 0x10)) {
      this.unit(outer, { kind: 'data', format: 'tcp-data', toServer: undefined, peer: undefined, data: u.payload }, c.ts, c.frameNo);
      return;
    }
    this.unit(outer, parseTurn(u.payload, { stream: true }), c.ts, c.frameNo);
  }

  private unit(outer: OuterFlow, unit: TurnUnit, ts: number, frameNo: number): void {
    const counters = this.deps.counters;
    switch (unit.kind) {
      case 'not-turn':
        counters.inc('notTurn');
        return;
      case 'malformed':
        counters.inc(`malformed.${unit.code}`);
        this.warnOnce(`malformed.${unit.code}`, `malformed TURN message (${unit.reason}); later ones are only counted`, { frameNo });
        return;
      case 'control':
        counters.inc(`control.${unit.control.name}`);
        this.allocations.handle(outer, unit, ts);
        return;
      case 'data':
        break;
    }
    const u = this.allocations.handle(outer, unit, ts);
    if (u === undefined) return;
    if (typeof u === 'string') {
      counters.inc(`unplaced.${u}`);
      return;
    }
    counters.inc(`unwrapped.${unit.format}`);
    if (u.peerFrom === 'unknown') counters.inc('unwrapped.peerUnknown');
    this.push(u, ts, frameNo);
  }

  /** Hands an inner RTP/RTCP packet to the associator; ICE checks and anything else stay here (counted). */
  private push(u: Unwrapped, ts: number, frameNo: number): void {
    if (!isRtpOrRtcp(u.data)) {
      this.deps.counters.inc((u.data[0] as number) <= 3 ? 'inner.stun' : 'inner.notRtp');
      return;
    }
    const pkt: TransportPacket = {
      ts,
      frameNo,
      proto: 'udp',
      ipVersion: u.src.ip.includes(':') ? 6 : 4,
      src: u.src.ip,
      sport: u.src.port,
      dst: u.dst.ip,
      dport: u.dst.port,
      payload: u.data,
    };
    this.current = { pkt, u };
    try {
      this.deps.input.push(pkt);
    } finally {
      this.current = undefined;
    }
    this.deps.counters.inc('pushed');
  }

  private warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.deps.log.warn(msg, fields);
  }
}

/** A TCP stream that starts like RFC 4571 ICE-TCP media: a length, then RTP/RTCP or STUN with its cookie. */
function looksLikeRfc4571(d: Buffer): boolean {
  const p0 = d.length >= 3 ? (d[2] as number) : -1;
  return (p0 >= 128 && p0 <= 191) || (p0 >= 0 && p0 <= 3 && d.length >= 10 && d.readUInt32BE(6) === 0x2112a442);
}
