/**
 * RTP that no call claims yet, kept a while in case an SDP that explains it comes later. A recorder that joins a call
 * in the middle (a capture cut after the ACK, a restart while calls run) first sees the call at an in-dialog
 * re-INVITE or UPDATE; the media before it was unmatched, and is recorded from its first packet once that SDP names
 * its addresses (the associator holds a stream's first packet in its binding until a second one shows it is a stream,
 * not one-packet junk). Bounded twice: the newest `maxPerStream` packets of a stream (about a minute), and `maxBytes`
 * in all, the least recently fed streams forgotten first (a flood of junk flows costs this budget, never more).
 */
import type { TransportPacket } from '../net/types';

export interface EarlyMediaOptions {
  /** All streams together, payload bytes plus a fixed cost per packet. */
  maxBytes?: number;
  /** Packets kept per stream (the newest). */
  maxPerStream?: number;
}

/** Bytes a kept packet costs beyond its payload (the object and its address strings), for the budget. */
const PACKET_COST = 160;

interface Stream {
  pkts: TransportPacket[];
  bytes: number;
}

export class EarlyMedia {
  private readonly streams = new Map<string, Stream>();
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly maxPerStream: number;
  /** Packets forgotten for the budget (counted by the owner). */
  dropped = 0;

  constructor(opts: EarlyMediaOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.maxPerStream = opts.maxPerStream ?? 3000;
  }

  get size(): number {
    return this.streams.size;
  }

  /**
   * Keeps a copy of an unmatched RTP packet (the capture buffer it lives in is not ours to keep); `owned`: the packet
   * is already a copy of its own, kept as it is.
   */
  keep(key: string, pkt: TransportPacket, owned = false): void {
    let s = this.streams.get(key);
    if (s === undefined) {
      s = { pkts: [], bytes: 0 };
    } else this.streams.delete(key); // re-inserted last: the Map's order is least recently fed first
    this.streams.set(key, s);
    const copy: TransportPacket = owned ? pkt : { ts: pkt.ts, frameNo: pkt.frameNo, proto: 'udp', ipVersion: pkt.ipVersion, src: pkt.src, sport: pkt.sport, dst: pkt.dst, dport: pkt.dport, payload: Buffer.from(pkt.payload) };
    const cost = copy.payload.length + PACKET_COST;
    s.pkts.push(copy);
    s.bytes += cost;
    this.bytes += cost;
    if (s.pkts.length > this.maxPerStream) {
      // Drop the older half at once (amortised: no shift() per packet).
      const gone = s.pkts.splice(0, s.pkts.length - (this.maxPerStream >> 1));
      this.forget(s, gone);
    }
    for (const [k, old] of this.streams) {
      if (this.bytes <= this.maxBytes) break;
      this.streams.delete(k);
      this.forget(old, old.pkts);
    }
  }

  /** The streams whose first packet `claims` accepts are taken out and returned, oldest packet first. */
  take(claims: (first: TransportPacket) => boolean): TransportPacket[][] {
    const out: TransportPacket[][] = [];
    for (const [k, s] of this.streams) {
      const first = s.pkts[0];
      if (first === undefined || !claims(first)) continue;
      this.streams.delete(k);
      this.bytes -= s.bytes;
      out.push(s.pkts);
    }
    return out;
  }

  private forget(s: Stream, pkts: TransportPacket[]): void {
    let b = 0;
    for (const p of pkts) b += p.payload.length + PACKET_COST;
    s.bytes -= b;
    this.bytes -= b;
    this.dropped += pkts.length;
  }
}
