/**
 * TCP stream reassembly: per direction of each connection, segments are put in sequence order,
 * retransmitted and overlapping bytes are dropped (the bytes seen first win), and in-order data is
 * delivered as TcpStreamChunks.
 *
 * - A SYN fixes the initial sequence number; without one (capture started mid-connection) the first
 *   segment seen starts the stream. Sequence numbers are compared modulo 2^32 (wraparound is fine).
 * - A gap (missing segment) is waited for up to gapTimeoutSec of capture time, or until too many bytes are
 *   buffered behind it; then it is skipped, reported through onGap and as `gapBefore` on the next chunk.
 * - FIN closes a direction once every byte before it was delivered; RST closes both at once.
 * - Connections idle for idleTimeoutSec (capture time) are flushed and forgotten. Buffered bytes per
 *   direction and in total, and the number of connections, are bounded.
 *
 * Chunk data is a view of the packet payload when delivered at once, else a copy made when buffered.
 */
import type { TcpStreamChunk, TransportPacket } from './types';

export type TcpChunkCallback = (chunk: TcpStreamChunk) => void;
export type TcpCloseReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'reused' | 'end';

export interface TcpReassemblyOptions {
  /** Capture-time seconds without packets after which a connection is flushed and forgotten (default 300). */
  idleTimeoutSec?: number;
  /** Capture-time seconds to wait for a missing segment before skipping the gap (default 2). */
  gapTimeoutSec?: number;
  /** Out-of-order bytes held per direction before a gap is skipped (default 1 MiB). */
  maxBufferedPerDirection?: number;
  /** Out-of-order segments held per direction before a gap is skipped (default 1024). */
  maxSegmentsPerDirection?: number;
  /** Out-of-order bytes held over all connections (default 64 MiB). */
  maxBufferedTotal?: number;
  /** Connections tracked; beyond, idle ones then the oldest are flushed and forgotten (default 65536). */
  maxConnections?: number;
  /** A gap of `missing` bytes was skipped in direction `flow`. */
  onGap?: (flow: string, missing: number, ts: number) => void;
  /** Direction `flow` ended (after its last chunk). */
  onClose?: (flow: string, reason: TcpCloseReason) => void;
}

export interface TcpReassemblyStats {
  segments: number;
  /** Bytes delivered in chunks. */
  bytes: number;
  /** Retransmitted or overlapping bytes dropped. */
  duplicateBytes: number;
  gaps: number;
  gapBytes: number;
  connections: number;
  evicted: number;
  /** Segments ignored because they arrived after their direction closed. */
  afterClose: number;
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
/** Closed connections are kept this long to swallow retransmitted FINs and ACKs. */
const CLOSED_LINGER_US = 30e6;
/** A segment further ahead than this cannot belong to the stream (windows are far smaller). */
const MAX_AHEAD = 1 << 30;

const enum State {
  New,
  Open,
  Closed,
}

interface Segment {
  seq: number;
  data: Buffer;
  ts: number;
  frameNo: number;
}

class Direction {
  state = State.New;
  /** Sequence number of the next byte to deliver (u32). */
  nextSeq = 0;
  /** The SYN's sequence number, or -1 when no SYN was seen. */
  isn = -1;
  /** Sequence number of the FIN, or -1. */
  finSeq = -1;
  /** Out-of-order segments, sorted by sequence number. */
  segs: Segment[] = [];
  buffered = 0;
  /** Capture time since which the current gap has been waited for; -1 when there is none. */
  gapSince = -1;
  /** Skipped bytes to report on the next chunk. */
  pendingGap = 0;
  peer!: Direction;

  constructor(
    readonly key: string,
    readonly src: string,
    readonly sport: number,
    readonly dst: string,
    readonly dport: number,
    readonly conn: Connection,
  ) {}

  /** Data or a FIN is still expected behind a gap. */
  waiting(): boolean {
    return this.segs.length > 0 || (this.finSeq >= 0 && this.state === State.Open && this.nextSeq !== this.finSeq);
  }
}

class Connection {
  a!: Direction;
  b!: Direction;
  closed = false;
  constructor(public lastTs: number) {}
}

/** Flow key of one direction: "src:sport>dst:dport", IPv6 addresses in brackets. */
export function tcpFlowKey(src: string, sport: number, dst: string, dport: number): string {
  const s = src.includes(':') ? `[${src}]` : src;
  const d = dst.includes(':') ? `[${dst}]` : dst;
  return `${s}:${sport}>${d}:${dport}`;
}

export class TcpReassembler {
  readonly stats: TcpReassemblyStats = {
    segments: 0,
    bytes: 0,
    duplicateBytes: 0,
    gaps: 0,
    gapBytes: 0,
    connections: 0,
    evicted: 0,
    afterClose: 0,
  };
  private readonly idleUs: number;
  private readonly gapUs: number;
  private readonly maxPerDir: number;
  private readonly maxSegs: number;
  private readonly maxTotal: number;
  private readonly maxConns: number;
  private readonly onGap: TcpReassemblyOptions['onGap'];
  private readonly onClose: TcpReassemblyOptions['onClose'];
  private readonly dirs = new Map<string, Direction>();
  /** Insertion order = creation order, used to evict the oldest. */
  private readonly conns = new Set<Connection>();
  private totalBuffered = 0;
  private now = 0;
  private lastSweep = 0;
  private readonly sweepUs: number;

  constructor(opts: TcpReassemblyOptions = {}) {
    this.idleUs = (opts.idleTimeoutSec ?? 300) * 1e6;
    this.gapUs = (opts.gapTimeoutSec ?? 2) * 1e6;
    this.maxPerDir = opts.maxBufferedPerDirection ?? 1024 * 1024;
    this.maxSegs = opts.maxSegmentsPerDirection ?? 1024;
    this.maxTotal = opts.maxBufferedTotal ?? 64 * 1024 * 1024;
    this.maxConns = opts.maxConnections ?? 65536;
    this.onGap = opts.onGap;
    this.onClose = opts.onClose;
    this.sweepUs = Math.min(1e6, this.gapUs / 2);
  }

  /** Connections tracked (open or lingering after close). */
  get connections(): number {
    return this.conns.size;
  }

  /** Out-of-order bytes held. */
  get bufferedBytes(): number {
    return this.totalBuffered;
  }

  /** Feed one decoded TCP segment (UDP packets are ignored); in-order data goes to onChunk. */
  push(p: TransportPacket, onChunk: TcpChunkCallback): void {
    const t = p.tcp;
    if (t === undefined || p.proto !== 'tcp') return;
    this.stats.segments++;
    if (p.ts > this.now) this.now = p.ts;
    const flags = t.flags;
    const key = tcpFlowKey(p.src, p.sport, p.dst, p.dport);
    let d = this.dirs.get(key);
    if (d !== undefined && (flags & SYN) !== 0 && this.isNewConnection(d, t.seq)) {
      this.closeConnection(d.conn, 'reused', onChunk);
      d = undefined;
    }
    if (d === undefined) {
      if ((flags & RST) !== 0) return; // nothing to reset
      d = this.open(p, key, onChunk);
    }
    const c = d.conn;
    if (p.ts > c.lastTs) c.lastTs = p.ts;
    if (d.state === State.Closed) {
      this.stats.afterClose++;
      return;
    }
    if ((flags & RST) !== 0) {
      this.closeConnection(c, 'rst', onChunk, false);
      return;
    }
    let seq = t.seq;
    if ((flags & SYN) !== 0) {
      if (d.state === State.New) {
        d.isn = seq;
        d.nextSeq = (seq + 1) >>> 0;
        d.state = State.Open;
      }
      seq = (seq + 1) >>> 0; // data on a SYN (TCP Fast Open) follows the ISN
    } else if (d.state === State.New) {
      d.nextSeq = seq; // mid-stream start
      d.state = State.Open;
    }
    const len = p.payload.length;
    if (len > 0) this.data(d, seq, p.payload, p.ts, p.frameNo, onChunk);
    if ((flags & FIN) !== 0 && d.finSeq < 0) d.finSeq = (seq + len) >>> 0;
    this.checkFin(d);
    if (d.waiting() && d.gapSince < 0) d.gapSince = p.ts;
    if (d.waiting() && this.now - d.gapSince > this.gapUs) this.skipGap(d, onChunk);
    if (this.now - this.lastSweep >= this.sweepUs) this.expire(this.now, onChunk);
  }

  /** Skip overdue gaps and forget idle or long-closed connections, as of capture time nowUs. */
  expire(nowUs: number, onChunk: TcpChunkCallback): void {
    if (nowUs > this.now) this.now = nowUs;
    this.lastSweep = this.now;
    for (const c of this.conns) {
      if (c.closed) {
        if (this.now - c.lastTs > CLOSED_LINGER_US) this.forget(c);
      } else if (this.now - c.lastTs > this.idleUs) {
        this.closeConnection(c, 'idle', onChunk);
      } else {
        for (const d of [c.a, c.b]) if (d.waiting() && d.gapSince >= 0 && this.now - d.gapSince > this.gapUs) this.skipGap(d, onChunk);
      }
    }
  }

  /** End of input: deliver everything still buffered (skipping gaps), close and forget every connection. */
  flush(onChunk: TcpChunkCallback): void {
    for (const c of this.conns) this.closeConnection(c, 'end', onChunk);
  }

  /** A SYN on a known direction: a retransmission when it repeats the ISN, else a new connection on the same ports. */
  private isNewConnection(d: Direction, seq: number): boolean {
    if (d.state === State.New) return false;
    return d.conn.closed || d.state === State.Closed || d.isn !== seq;
  }

  private open(p: TransportPacket, key: string, onChunk: TcpChunkCallback): Direction {
    if (this.conns.size >= this.maxConns) {
      this.expire(this.now, onChunk);
      for (const old of this.conns) {
        if (this.conns.size < this.maxConns) break;
        this.stats.evicted++;
        this.closeConnection(old, 'evicted', onChunk);
      }
    }
    const c = new Connection(p.ts);
    const a = new Direction(key, p.src, p.sport, p.dst, p.dport, c);
    const b = new Direction(tcpFlowKey(p.dst, p.dport, p.src, p.sport), p.dst, p.dport, p.src, p.sport, c);
    a.peer = b;
    b.peer = a;
    c.a = a;
    c.b = b;
    this.dirs.set(a.key, a);
    this.dirs.set(b.key, b);
    this.conns.add(c);
    this.stats.connections++;
    return a;
  }

  private data(d: Direction, seq: number, payload: Buffer, ts: number, frameNo: number, onChunk: TcpChunkCallback): void {
    const len = payload.length;
    const diff = (seq - d.nextSeq) | 0;
    if (diff <= 0) {
      if (-diff >= len) {
        this.stats.duplicateBytes += len;
        return;
      }
      this.stats.duplicateBytes -= diff;
      this.deliver(d, diff < 0 ? payload.subarray(-diff) : payload, ts, frameNo, onChunk);
      this.drain(d, onChunk);
      return;
    }
    if (diff > MAX_AHEAD) {
      this.stats.duplicateBytes += len; // stale or foreign: far outside any window
      return;
    }
    if (!this.insert(d, { seq, data: Buffer.from(payload), ts, frameNo })) return;
    if (d.gapSince < 0) d.gapSince = ts;
    while (d.segs.length > 0 && (d.buffered > this.maxPerDir || d.segs.length > this.maxSegs)) this.skipGap(d, onChunk);
    while (this.totalBuffered > this.maxTotal) {
      const biggest = this.biggestBuffer();
      if (biggest === undefined) break;
      while (biggest.segs.length > 0) this.skipGap(biggest, onChunk);
    }
  }

  /** Insert in sequence order; returns false for an exact duplicate of a held segment. */
  private insert(d: Direction, s: Segment): boolean {
    const segs = d.segs;
    let i = segs.length;
    // Segments mostly arrive in order, so search from the end.
    while (i > 0) {
      const prev = segs[i - 1] as Segment;
      const cmp = (s.seq - prev.seq) | 0;
      if (cmp > 0) break;
      if (cmp === 0 && prev.data.length >= s.data.length) {
        this.stats.duplicateBytes += s.data.length;
        return false;
      }
      i--;
    }
    segs.splice(i, 0, s);
    d.buffered += s.data.length;
    this.totalBuffered += s.data.length;
    return true;
  }

  /** Deliver held segments that have become contiguous. */
  private drain(d: Direction, onChunk: TcpChunkCallback): void {
    const segs = d.segs;
    while (segs.length > 0) {
      const s = segs[0] as Segment;
      const diff = (s.seq - d.nextSeq) | 0;
      if (diff > 0) break;
      segs.shift();
      d.buffered -= s.data.length;
      this.totalBuffered -= s.data.length;
      if (-diff >= s.data.length) {
        this.stats.duplicateBytes += s.data.length;
        continue;
      }
      this.stats.duplicateBytes -= diff;
      this.deliver(d, diff < 0 ? s.data.subarray(-diff) : s.data, s.ts, s.frameNo, onChunk);
    }
    // The wait for the next gap (if any) starts now.
    d.gapSince = d.waiting() ? this.now : -1;
    this.checkFin(d);
  }

  private deliver(d: Direction, data: Buffer, ts: number, frameNo: number, onChunk: TcpChunkCallback): void {
    d.nextSeq = (d.nextSeq + data.length) >>> 0;
    this.stats.bytes += data.length;
    const chunk: TcpStreamChunk = { ts, frameNo, flow: d.key, src: d.src, sport: d.sport, dst: d.dst, dport: d.dport, data };
    if (d.pendingGap > 0) {
      chunk.gapBefore = d.pendingGap;
      d.pendingGap = 0;
    }
    onChunk(chunk);
  }

  /** Give up on the first missing range: jump to the next held segment (or to the FIN). */
  private skipGap(d: Direction, onChunk: TcpChunkCallback): void {
    const first = d.segs[0];
    const target = first !== undefined ? first.seq : d.finSeq >= 0 ? d.finSeq : -1;
    if (target < 0) return;
    const missing = (target - d.nextSeq) | 0;
    if (missing > 0) {
      this.stats.gaps++;
      this.stats.gapBytes += missing;
      d.pendingGap += missing;
      this.onGap?.(d.key, missing, this.now);
      d.nextSeq = target;
    }
    this.drain(d, onChunk);
  }

  private checkFin(d: Direction): void {
    if (d.state === State.Open && d.finSeq >= 0 && d.nextSeq === d.finSeq && d.segs.length === 0) {
      this.closeDirection(d, 'fin');
      if (d.peer.state === State.Closed) d.conn.closed = true;
    }
  }

  private closeDirection(d: Direction, reason: TcpCloseReason): void {
    if (d.state === State.Closed) return;
    d.state = State.Closed;
    this.onClose?.(d.key, reason);
  }

  /**
   * Close both directions, delivering what they hold first (skipping gaps: those bytes were received).
   * Without `forget` the connection lingers closed, swallowing retransmissions (after a RST).
   */
  private closeConnection(c: Connection, reason: TcpCloseReason, onChunk: TcpChunkCallback, forget = true): void {
    for (const d of [c.a, c.b]) {
      while (d.segs.length > 0) this.skipGap(d, onChunk);
      this.closeDirection(d, reason);
    }
    c.closed = true;
    if (forget) this.forget(c);
  }

  private forget(c: Connection): void {
    for (const d of [c.a, c.b]) {
      this.totalBuffered -= d.buffered;
      d.buffered = 0;
      d.segs = [];
      if (this.dirs.get(d.key) === d) this.dirs.delete(d.key);
    }
    this.conns.delete(c);
  }

  private biggestBuffer(): Direction | undefined {
    let best: Direction | undefined;
    for (const c of this.conns) {
      for (const d of [c.a, c.b]) if (d.buffered > 0 && (best === undefined || d.buffered > best.buffered)) best = d;
    }
    return best;
  }
}
