/**
 * The front of the pipeline, where every source hands in what it has: link-layer frames and IP packets are decoded
 * (IP reassembly) into transport packets → SIP over UDP, SIP over TCP (stream reassembly + Content-Length framing),
 * or media; SIP messages and media datagrams that arrive with their addresses (HEP, the 8008 feed, forwarders) go
 * straight to their stage. Nothing here throws on bad input: every problem is counted (and SIP errors reported on
 * the bus), and processing goes on with the next packet. Each source gets its own view (forSource), which names it
 * as the origin of what it hands in and counts its packets and drops.
 */
import type { Counters, DropStage, IngestSink, IpArrival, MediaArrival, Metrics, SipArrival, CaptureNode } from '../contract';
import { LinkType, type RawFrame, type TcpStreamChunk, type TransportPacket } from '../net/types';
import { PacketDecoder } from '../net/decode';
import { TcpReassembler } from '../net/tcp-reassembly';
import { parseSipMessage, SipStreamFramer } from '../sip/index';
import { ErrorCodes, TaplineError } from '../errors';
import type { PacketBus } from '../bus';
import type { DialogTracker } from '../dialog/tracker';
import type { SipMeta } from '../dialog/types';
import type { TaplineConfig } from '../config/types';
import type { SipMessage } from '../sip/types';
import { isKeepAlive, looksLikeSip } from './sip-detect';
import { TimeJumpGate } from './time-jump-gate';
import { isWebSocketUpgrade, WebSocketDeframer } from '../net/websocket';

/** µs since the epoch as ISO 8601 (a timestamp too large for Date says so instead of throwing). */
function isoUs(ts: number): string {
  const d = new Date(ts / 1000);
  return Number.isNaN(d.getTime()) ? `${ts} µs` : d.toISOString();
}

/** How one direction of a TCP connection is read: SIP framed by Content-Length, SIP over WebSocket, or not at all. */
type TcpSipFlow = { kind: 'sip'; framer: SipStreamFramer } | { kind: 'ws'; ws: WebSocketDeframer } | { kind: 'other' };

const ARRIVAL_KINDS = ['frame', 'ip', 'sip', 'media'] as const;
type ArrivalKind = (typeof ARRIVAL_KINDS)[number];

export interface IngestOptions {
  /** Sees every arrival's capture time (the capture clock moves with it; the wall clock ignores it). */
  observeTime?: (ts: number) => void;
  /** True while time is capture time (files): frames far ahead of the rest are checked (TimeJumpGate). */
  captureClock?: () => boolean;
  /** A frame's capture time was an isolated jump, taken as the time so far: said on the calls in progress. */
  onTimeOutlier?: (text: string) => void;
  /** Flow control for sources that can wait (the storage queue). */
  writable?: () => Promise<void> | undefined;
  metrics?: Metrics;
}

export class Ingest {
  /** Capture time of the newest arrival seen, µs. */
  lastTs = 0;
  private frameNo = 0;
  /** The arrival being processed: its origin and capture node label what it produces. */
  private node: CaptureNode | undefined;

  /** The capture node of the arrival being processed (media is associated while it is). */
  get currentNode(): CaptureNode | undefined {
    return this.node;
  }
  private readonly rawFrame: RawFrame = { ts: 0, linkType: LinkType.RAW, data: Buffer.alloc(0), origLen: 0, interfaceId: 0, frameNo: 0 };
  private readonly decoder: PacketDecoder;
  private readonly tcp: TcpReassembler;
  private readonly tcpFlows = new Map<string, TcpSipFlow>();
  private readonly sipPorts: Set<number>;
  private origin: string | undefined;

  constructor(
    private readonly cfg: TaplineConfig,
    private readonly bus: PacketBus,
    private readonly dialogs: DialogTracker,
    private readonly counters: Counters,
    private readonly opts: IngestOptions = {},
  ) {
    this.sipPorts = new Set(cfg.sip.ports);
    this.decoder = new PacketDecoder({
      reassembly: { timeoutSec: cfg.capture.fragmentTimeoutSec, onDrop: (reason) => this.counters.inc(`ip.fragments.${reason}`) },
    });
    this.tcp = new TcpReassembler({
      idleTimeoutSec: cfg.capture.tcpFlowIdleSec,
      onGap: () => this.counters.inc('tcp.gaps'),
      onClose: (flow) => this.closeTcpFlow(flow),
    });
  }

  /** Per source: what it handed in, by kind (read at scrape time: no prom-client call per packet). */
  private readonly tally = new Map<string, Record<ArrivalKind, number>>();
  /** Drops not yet reported to tapline_drops_total, by stage, reason and source (a flood costs a Map update each). */
  private readonly pendingDrops = new Map<string, { stage: DropStage; reason: string; source: string; n: number }>();

  /** A source's view of the ingest: what it hands in is labelled with its origin and counted as its own. */
  forSource(name: string, label: string): IngestSink {
    let t = this.tally.get(name);
    if (t === undefined) {
      t = { frame: 0, ip: 0, sip: 0, media: 0 };
      this.tally.set(name, t);
    }
    const n = t;
    return {
      frame: (f) => {
        n.frame++;
        this.origin = label;
        this.node = undefined;
        this.frame(f);
      },
      ipPacket: (p) => {
        n.ip++;
        this.origin = label;
        this.ipPacket(p);
      },
      sip: (m) => {
        n.sip++;
        this.origin = m.origin ?? label;
        this.sip(m);
      },
      media: (m) => {
        n.media++;
        this.origin = label;
        this.media(m);
      },
      skip: (reason, detail) => this.skip(reason, detail),
      drop: (stage, reason, count = 1) => this.drop(stage, reason, name, count),
      writable: () => this.opts.writable?.(),
    };
  }

  /** [source, kind, total] of everything handed in (tapline_source_packets_total). */
  *tallies(): Iterable<readonly [string, string, number]> {
    for (const [source, t] of this.tally) for (const kind of ARRIVAL_KINDS) yield [source, kind, t[kind]] as const;
  }

  /** Input a source refused or lost. */
  drop(stage: DropStage, reason: string, source: string, n = 1): void {
    this.counters.inc(`drops.${stage}.${reason}`, n);
    const key = `${stage}\u0000${reason}\u0000${source}`;
    const d = this.pendingDrops.get(key);
    if (d !== undefined) d.n += n;
    else if (this.pendingDrops.size < 1024) this.pendingDrops.set(key, { stage, reason, source, n });
    else this.opts.metrics?.drop(stage, reason, source, n);
  }

  /** Reports batched drops (before each metrics scrape, and at stop). */
  flushDrops(): void {
    for (const d of this.pendingDrops.values()) this.opts.metrics?.drop(d.stage, d.reason, d.source, d.n);
    this.pendingDrops.clear();
  }

  /** End of a capture file (or of everything): deliver what reassembly holds. */
  endCapture(): void {
    this.flush();
  }

  /** Delivers what reassembly still holds (end of a capture, shutdown). */
  flush(): void {
    this.gate.flush(this.deliverFrame);
    this.tcp.flush((chunk) => this.tcpChunk(chunk));
    for (const [flow, f] of this.tcpFlows) {
      if (f.kind === 'sip') for (const item of f.framer.flush()) this.framed(item, flow);
    }
  }

  frame(f: RawFrame): void {
    if (this.opts.captureClock?.() === true) this.gate.push(f, this.deliverFrame);
    else this.frameNow(f);
  }

  private readonly gate = new TimeJumpGate((f, latest) => {
    this.counters.inc('capture.timeOutliers');
    const text = `frame ${f.frameNo}: capture time ${isoUs(f.ts)} is ${((f.ts - latest) / 1e6).toFixed(0)} s after the frames around it; taken as ${isoUs(latest)}`;
    this.outliers.push(text);
    if (this.outliers.length > 20) this.outliers.shift();
    this.opts.onTimeOutlier?.(text);
  });
  private readonly deliverFrame = (f: RawFrame): void => this.frameNow(f);
  /** The latest capture-time outliers, for the run's report (bounded). */
  readonly outliers: string[] = [];

  private frameNow(f: RawFrame): void {
    this.counters.inc('frames');
    if (f.ts > this.lastTs) this.lastTs = f.ts;
    if (this.bus.hasListeners('frame')) this.bus.emit('frame', f);
    this.decodeFrame(f);
  }

  private decodeFrame(f: RawFrame): void {
    const res = this.decoder.decode(f);
    if (typeof res === 'string') {
      if (res !== 'fragment-pending') {
        this.counters.inc('frames.skipped');
        this.counters.inc(`frames.skipped.${res}`);
      }
      return;
    }
    this.packet(res);
  }

  /** A whole IP packet (no link layer): decoded like a raw-IP frame. */
  ipPacket(p: IpArrival): void {
    this.counters.inc('ipPackets');
    this.node = p.node;
    const f = this.rawFrame;
    f.ts = p.ts;
    f.data = p.data;
    f.origLen = p.data.length;
    f.frameNo = ++this.frameNo;
    if (p.ts > this.lastTs) this.lastTs = p.ts;
    this.decodeFrame(f);
  }

  /** A SIP message with its addresses (HEP, the 8008 feed): parsed as one whole message. */
  sip(s: SipArrival): void {
    this.counters.inc('sip.arrivals');
    if (s.ts > this.lastTs) this.lastTs = s.ts;
    this.opts.observeTime?.(s.ts);
    const meta: SipMeta = { ts: s.ts, frameNo: ++this.frameNo, src: s.src, sport: s.sport, dst: s.dst, dport: s.dport, transport: s.transport };
    if (this.origin !== undefined) meta.origin = this.origin;
    if (s.node !== undefined) meta.node = s.node;
    if (s.annotation !== undefined) meta.annotation = s.annotation;
    if (isKeepAlive(s.data)) {
      this.counters.inc('sip.keepalives');
      return;
    }
    try {
      this.deliver(parseSipMessage(s.data, { transport: 'udp', lenient: true }), meta);
    } catch (e) {
      this.sipFailed(e, meta);
    }
  }

  /** A media datagram with its 5-tuple. */
  media(m: MediaArrival): void {
    if (m.ts > this.lastTs) this.lastTs = m.ts;
    this.opts.observeTime?.(m.ts);
    this.counters.inc('media.packets');
    this.bus.emit('media', {
      ts: m.ts,
      frameNo: ++this.frameNo,
      proto: 'udp',
      ipVersion: m.src.includes(':') ? 6 : 4,
      src: m.src,
      sport: m.sport,
      dst: m.dst,
      dport: m.dport,
      payload: m.payload,
    });
  }

  skip(reason: string, detail?: string): void {
    this.counters.inc('frames.skipped');
    this.counters.inc(`frames.skipped.${reason}`);
    if (detail !== undefined) this.counters.inc('capture.skips');
  }

  /** A decoded UDP datagram or TCP segment. */
  packet(p: TransportPacket): void {
    if (p.ts > this.lastTs) this.lastTs = p.ts;
    this.opts.observeTime?.(p.ts);
    if (p.proto === 'udp') this.udp(p);
    else this.tcp.push(p, (chunk) => this.tcpChunk(chunk));
  }

  private udp(p: TransportPacket): void {
    const onSipPort = this.sipPorts.has(p.dport) || this.sipPorts.has(p.sport);
    const sipLike = looksLikeSip(p.payload);
    if (sipLike || (onSipPort && !isLikelyMedia(p.payload))) {
      if (!sipLike && isKeepAlive(p.payload)) {
        this.counters.inc('sip.keepalives');
        return;
      }
      if (!sipLike && !this.cfg.sip.detectOnAnyPort && !onSipPort) return;
      const meta = this.meta(p, 'udp');
      try {
        this.deliver(parseSipMessage(p.payload, { transport: 'udp', lenient: true }), meta);
      } catch (e) {
        this.sipFailed(e, meta);
      }
      return;
    }
    this.counters.inc('media.packets');
    this.bus.emit('media', p);
  }

  private tcpChunk(chunk: TcpStreamChunk): void {
    let flow = this.tcpFlows.get(chunk.flow);
    if (flow === undefined) {
      flow = this.classifyTcp(chunk);
      this.tcpFlows.set(chunk.flow, flow);
      this.counters.inc(`tcp.flows.${flow.kind}`);
    }
    this.currentChunk = chunk;
    if (flow.kind === 'sip') {
      if (chunk.gapBefore !== undefined) {
        // Bytes are missing: end what was buffered, then let a fresh framer resynchronise on the next start line.
        for (const item of flow.framer.flush()) this.framed(item, chunk.flow);
        flow.framer = new SipStreamFramer({ maxBuffer: this.cfg.sip.maxMessageBytes, lenient: true });
      }
      for (const item of flow.framer.push(chunk.data)) this.framed(item, chunk.flow);
    } else if (flow.kind === 'ws') {
      for (const item of flow.ws.push(chunk.data)) {
        if ('error' in item) this.framed(new TaplineError(ErrorCodes.SIP_PARSE, item.error, { reason: 'websocket' }), chunk.flow);
        else if (!isKeepAlive(item.message)) this.wsMessage(item.message, chunk);
      }
    } else if (this.bus.hasListeners('tcpData')) {
      // Not SIP: media over TCP (MS-TURN on 443) for a mode plugin to frame.
      this.bus.emit('tcpData', chunk);
    }
  }

  /** A direction ended (FIN, RST, idle): deliver what its framer holds and forget it. */
  private closeTcpFlow(flowKey: string): void {
    const f = this.tcpFlows.get(flowKey);
    if (f === undefined) return;
    if (f.kind === 'sip') for (const item of f.framer.flush()) this.framed(item, flowKey);
    this.tcpFlows.delete(flowKey);
  }

  private classifyTcp(chunk: TcpStreamChunk): TcpSipFlow {
    if (isWebSocketUpgrade(chunk.data)) return { kind: 'ws', ws: new WebSocketDeframer(this.cfg.sip.maxMessageBytes) };
    const onSipPort = this.sipPorts.has(chunk.dport) || this.sipPorts.has(chunk.sport);
    if (onSipPort || (this.cfg.sip.detectOnAnyPort && looksLikeSip(chunk.data))) {
      return { kind: 'sip', framer: new SipStreamFramer({ maxBuffer: this.cfg.sip.maxMessageBytes, lenient: true }) };
    }
    return { kind: 'other' };
  }

  /** One WebSocket message is one whole SIP message (RFC 7118 §5), parsed like a datagram. */
  private wsMessage(data: Buffer, c: TcpStreamChunk): void {
    const meta: SipMeta = { ts: c.ts, frameNo: c.frameNo, src: c.src, sport: c.sport, dst: c.dst, dport: c.dport, transport: 'ws' };
    if (this.origin !== undefined) meta.origin = this.origin;
    if (this.node !== undefined) meta.node = this.node;
    try {
      this.deliver(parseSipMessage(data, { transport: 'udp', lenient: true }), meta);
    } catch (e) {
      this.sipFailed(e, meta);
    }
  }

  private currentChunk: TcpStreamChunk | undefined;

  private framed(item: SipMessage | TaplineError, flowKey: string): void {
    const c = this.currentChunk;
    const meta: SipMeta =
      c !== undefined && c.flow === flowKey
        ? { ts: c.ts, frameNo: c.frameNo, src: c.src, sport: c.sport, dst: c.dst, dport: c.dport, transport: 'tcp' }
        : { ts: this.lastTs, src: '', sport: 0, dst: '', dport: 0, transport: 'tcp' };
    if (this.origin !== undefined) meta.origin = this.origin;
    if (this.node !== undefined) meta.node = this.node;
    if (item instanceof TaplineError) this.sipFailed(item, meta);
    else this.deliver(item, meta);
  }

  private meta(p: TransportPacket, transport: string): SipMeta {
    const m: SipMeta = { ts: p.ts, frameNo: p.frameNo, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, transport };
    if (this.origin !== undefined) m.origin = this.origin;
    if (this.node !== undefined) m.node = this.node;
    return m;
  }

  /** Call control to ignore (policy.disallowedUserAgents): the reason, or undefined. */
  sipFilter: ((msg: SipMessage) => string | undefined) | undefined;
  /** Sees every parsed SIP message, ignored ones too (policy.logAllSipMessages). */
  sipTap: ((msg: SipMessage, meta: SipMeta) => void) | undefined;

  private deliver(msg: SipMessage, meta: SipMeta): void {
    this.counters.inc('sip.messages');
    this.sipTap?.(msg, meta);
    if (this.sipFilter !== undefined && this.sipFilter(msg) !== undefined) {
      this.counters.inc('sip.ignoredUserAgent');
      return;
    }
    if (msg.warnings !== undefined) this.counters.inc('sip.warnings');
    this.bus.emit('sip', msg, meta);
    this.dialogs.onMessage(msg, meta);
  }

  private sipFailed(e: unknown, meta: SipMeta): void {
    const err = e instanceof TaplineError ? e : new TaplineError(ErrorCodes.SIP_PARSE, `SIP message could not be parsed: ${(e as Error)?.message ?? String(e)}`, {}, e);
    this.counters.inc('sip.errors');
    this.bus.emit('sipError', err, meta);
  }
}

/**
 * RTP/RTCP (version 2) and STUN start with bytes SIP text never starts with; TURN ChannelData (0x40-0x4F) shares
 * its first byte with 'A'-'O', so it also needs its length field to match the datagram (RFC 5766 §11.5).
 */
function isLikelyMedia(b: Buffer): boolean {
  if (b.length < 4) return false;
  const b0 = b[0]!;
  if (b0 >> 6 === 2 || b0 < 4) return true;
  if (b0 >= 0x40 && b0 <= 0x4f) {
    const len = b.readUInt16BE(2);
    return b.length >= 4 + len && b.length <= 4 + len + 3;
  }
  return false;
}
