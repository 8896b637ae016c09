/**
 * Which RTP belongs to which call and which party. Every SDP a call records advertises addresses where its writer
 * receives media (c=/m=, a=rtcp, ICE candidates incl. relay; a=remote-candidates name the peer's). A packet sent
 * TO an address side S advertised was sent by S's peer ('sdp-dst'); failing that, one sent FROM an address S
 * advertised was sent by S (symmetric RTP, 'sdp-src'). The newest SDP claiming an address wins, across calls.
 *
 * Hot path: one Map lookup on a numeric port-pair key finds the flow, whose per-SSRC binding is cached until the
 * index changes (a generation counter). No strings are built per packet. 'learned' bindings are not made: the
 * symmetric-RTP rule already binds a NAT'ed party's packets through the other party's advertised address.
 */
import type { Counters } from '../contract';
import type { DialogTracker } from '../dialog/tracker';
import type { Call, Side } from '../dialog/types';
import type { TransportPacket } from '../net/types';
import type { SdpRtpMap } from '../sdp/types';
import { STATIC_PAYLOAD_TYPES } from '../sdp/index';
import { Emitter } from '../events';
import type { AssociatedRtp, RouteSlot, RtpPacket, UnmatchedStream } from './types';
import { isRtcp, parseRtp } from './rtp';
import { AddressIndex, latestSdp, otherSide, pickMedia, type AddressBinding } from './associator-index';
import { EarlyMedia } from './early-media';

export interface AssociatorEvents {
  rtp: [AssociatedRtp];
  rtcp: [{ call: Call; sender: Side; pkt: TransportPacket }];
  unmatched: [TransportPacket];
}

export interface AssociatorOptions {
  /** Capture-time seconds an ended call keeps its addresses, so trailing packets still count (default 2). */
  endLingerSec?: number;
  /** Unmatched flow+SSRC entries kept for the report; the oldest is dropped beyond this (default 10,000). */
  maxUnmatched?: number;
  /** Flows idle this long (capture-time seconds) leave the flow cache (default 120). */
  flowIdleSec?: number;
  /**
   * Flows cached at most (default 65,536: far more than the calls one process can carry). Beyond it, flows no call
   * claims are forgotten first (a scan, a flood of junk), so the calls' own flows keep their bindings.
   */
  maxFlows?: number;
  /**
   * Whether unmatched RTP is held for a later mid-call SDP (EarlyMedia): on for capture files, where a joined call's
   * media before its re-INVITE is in the file; off live, where a flood of junk must cost nothing per packet.
   */
  holdEarlyMedia?: () => boolean;
}

const US = 1_000_000;
const DEFAULT_MAX_FLOWS = 65_536;
const MAX_SSRCS_PER_FLOW = 64;
/** Counter batching: the hot counters are kept as numbers and written out at most once a second. */
const C = ['media.rtp', 'media.rtcp', 'media.unmatched', 'media.unmatchedRtcp', 'media.stun', 'media.turnChannel', 'media.turnMux', 'media.dtls', 'media.notRtp', 'media.flowsEvicted'] as const;
const RTP = 0, RTCP = 1, UNMATCHED = 2, UNMATCHED_RTCP = 3, STUN = 4, CHANNEL = 5, TURN_MUX = 6, DTLS = 7, NOT_RTP = 8, FLOWS_EVICTED = 9; // prettier-ignore
/**
 * New flows stay on probation for this many newer flows: one that has not had a second packet (or a call) by then
 * is forgotten. A flood of one-packet junk flows then keeps only this many alive, so its objects die young; a
 * cache that kept each for 65,536 flows moved them all into V8's old generation, where the heap grew to ~200 MB
 * of garbage between full collections on 1,000,000 such packets.
 */
const PROBATION_FLOWS = 2048;
/** One-packet unmatched streams listed in the report at most (the newest; same reasoning). */
const ONE_PACKET_LISTED = 256;

/** What one flow+SSRC is bound to, valid while `gen` equals the index generation. */
interface SsrcBinding {
  ssrc: number;
  gen: number;
  /** The index's change counters of the flow's destination and source ports when this was resolved. */
  genDst: number;
  genSrc: number;
  call: Call | undefined;
  sender: Side;
  how: AssociatedRtp['how'];
  mediaIndex: number;
  mediaType: string;
  /** Fork of the callee the binding came through, for picking the callee's SDP. */
  toTag: string | undefined;
  /** Payload type → rtpmap (null: none), for the current generation; made on the first packet of a bound call. */
  rtpmaps: Map<number, SdpRtpMap | null> | undefined;
  lastTouch: number;
  /** Its entry in the unmatched report; null once the report forgot it (a returning stream is not counted again). */
  unmatched: UnmatchedEntry | null | undefined;
  /**
   * An unmatched stream's first packet (capture time and payload type; pt -1: none yet). A report entry is made
   * only at its second packet: junk flows of one packet each are counted and listed from a small ring instead.
   */
  firstTs: number;
  firstPt: number;
  /** Capture files: a copy of that first packet, held with the rest once a second one comes (see EarlyMedia). */
  firstPkt: TransportPacket | undefined;
  /** The next stage's routing for this stream (AssociatedRtp.route). */
  route: RouteSlot;
}

interface UnmatchedEntry {
  key: string;
  stream: UnmatchedStream;
  /** The binding that points at it, told when the report forgets it (so the entry can be freed). */
  owner: SsrcBinding | undefined;
  /** False once dropped from the bounded report; a later packet puts it back as the newest. */
  live: boolean;
}

interface Flow {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** "src:sport>dst:dport", built on the first packet a call claims (see flowKey). */
  key: string | undefined;
  lastTs: number;
  last: SsrcBinding | undefined;
  /** Every SSRC's binding, once the flow has had more than one (most flows have one: `last` alone holds it). */
  ssrcs: Map<number, SsrcBinding> | undefined;
  /** Next flow with the same port-pair key. */
  next: Flow | undefined;
  /** Past probation: it had a second packet (see PROBATION_FLOWS). */
  firm: boolean;
}

/** Some call has (or, lingering, had) a stream on the flow. */
function claimed(f: Flow): boolean {
  if (f.ssrcs === undefined) return f.last?.call !== undefined;
  for (const b of f.ssrcs.values()) if (b.call !== undefined) return true;
  return false;
}

/** A packet's copy that owns its bytes (the capture buffer it lives in is not ours to keep). */
function copyPacket(pkt: TransportPacket): TransportPacket {
  return { ts: pkt.ts, frameNo: pkt.frameNo, proto: 'udp', ipVersion: pkt.ipVersion, src: pkt.src, sport: pkt.sport, dst: pkt.dst, dport: pkt.dport, payload: Buffer.from(pkt.payload) };
}

/** A binding still at its one unmatched packet (no second packet, no call since). */
function onePacket(b: SsrcBinding): boolean {
  return b.firstPt >= 0 && b.unmatched === undefined && b.call === undefined;
}

function flowName(f: Flow): string {
  return `${f.src}:${f.sport}>${f.dst}:${f.dport}`;
}

/** The flow's name, built once. */
function flowKey(f: Flow): string {
  f.key ??= flowName(f);
  return f.key;
}

export class MediaAssociator extends Emitter<AssociatorEvents> {
  private readonly index = new AddressIndex();
  /** Port-pair key → chain of flows. */
  private readonly flows = new Map<number, Flow>();
  private flowCount = 0;
  private readonly unmatched = new Map<string, UnmatchedEntry>();
  /** Ended calls waiting out the linger, by the capture time their addresses go. */
  private readonly expiring: Array<{ call: Call; at: number }> = [];
  private readonly pending = new Float64Array(C.length);
  private nextHousekeeping = 0;
  private nextSweep = 0;
  private readonly lingerUs: number;
  private readonly maxUnmatched: number;
  private readonly flowIdleUs: number;
  private readonly maxFlows: number;
  /** The flow found by the latest bind() (saves returning a pair). */
  private lastFlow: Flow | undefined;
  /** A mode's say on packets no SDP address claimed (an endpoint collector knows its user's PC). */
  fallback: ((pkt: TransportPacket) => { call: Call; sender: Side } | undefined) | undefined;

  constructor(
    private readonly dialogs: DialogTracker,
    private readonly counters: Counters,
    opts: AssociatorOptions = {},
  ) {
    super();
    this.lingerUs = (opts.endLingerSec ?? 2) * US;
    this.maxUnmatched = opts.maxUnmatched ?? 10_000;
    this.flowIdleUs = (opts.flowIdleSec ?? 120) * US;
    this.maxFlows = Math.max(2, opts.maxFlows ?? DEFAULT_MAX_FLOWS);
    this.holdEarly = opts.holdEarlyMedia ?? ((): boolean => false);
    dialogs.on('callUpdate', (call, what) => {
      // 'answered' too: a 200 without SDP still decides which fork's SDPs count.
      // 'annotation': a source changed who sends which m-line (SIPREC metadata): bindings are made again.
      if (what.startsWith('sdp-') || what === 'answered' || what === 'annotation') {
        this.index.rebuild(call);
        // A call joined mid-way: media held before its SDP came may be its own (replayed before the next packet,
        // once every listener has seen this SIP message).
        if (call.joinedMidCall !== undefined && this.early.size > 0) this.replayDue.add(call);
      }
    });
    dialogs.on('callEnd', (call) => {
      // Held media a joined call's SDP explained goes in before the call ends (its SDP may have been the last thing).
      if (this.replayDue.size > 0) this.replayEarly();
      if (this.index.has(call)) {
        const at = (call.times.end ?? call.times.lastActivity) + this.lingerUs;
        this.expiring.push({ call, at });
        if (at < this.nextHousekeeping) this.nextHousekeeping = at;
      }
      this.flush();
    });
  }

  /** One non-SIP UDP datagram (bus 'media'). Never throws on bad input. */
  onMedia(pkt: TransportPacket): void {
    if (this.replayDue.size > 0) this.replayEarly();
    const ts = pkt.ts;
    if (ts >= this.nextHousekeeping) this.housekeeping(ts);
    const buf = pkt.payload;
    const b0 = buf.length > 0 ? (buf[0] as number) : -1;
    if (b0 < 128 || b0 > 191) {
      // RFC 7983 / lync-protocols §3.1 first-byte demux; a mode plugin unwraps TURN from bus 'media' itself.
      this.pending[this.classify(buf, b0)]++;
      return;
    }
    if (isRtcp(buf)) {
      // The sender SSRC of SR/RR (bytes 4-7) keys the cache like RTP's; 0 when the packet is too short.
      const b = this.bind(pkt, buf.length >= 8 ? buf.readUInt32BE(4) : 0);
      if (b.call === undefined) {
        this.pending[UNMATCHED_RTCP]++;
        this.emit('unmatched', pkt);
        return;
      }
      this.pending[RTCP]++;
      this.touch(b, ts);
      this.emit('rtcp', { call: b.call, sender: b.sender, pkt });
      return;
    }
    // A P bit whose count does not fit may be SRTP (encrypted padding, tag last): the recorder checks it later.
    const rtp = parseRtp(buf, true);
    if (rtp === undefined) {
      this.pending[NOT_RTP]++;
      return;
    }
    const b = this.bind(pkt, rtp.ssrc);
    const flow = this.lastFlow as Flow;
    if (b.call === undefined && this.fallback !== undefined) this.askFallback(b, pkt);
    if (b.call === undefined) {
      this.noteUnmatched(b, flow, rtp, ts);
      // Capture files: held for a mid-call SDP that may explain it later (EarlyMedia).
      const e = b.unmatched;
      if (!this.replaying && e !== null && this.holdEarly()) {
        if (e === undefined) {
          // A stream's first packet waits in its binding, copied: a one-packet junk flow's copy goes with the flow
          // (probation) and never costs a report entry or a place in the held media.
          if (b.firstPt >= 0 && b.firstPkt === undefined) b.firstPkt = copyPacket(pkt);
        } else {
          if (b.firstPkt !== undefined) {
            this.early.keep(e.key, b.firstPkt, true);
            b.firstPkt = undefined;
          }
          this.early.keep(e.key, pkt);
        }
      }
      this.emit('unmatched', pkt);
      return;
    }
    this.pending[RTP]++;
    this.touch(b, ts);
    const rtpmap = this.rtpmap(b, b.call, rtp.payloadType);
    this.emit('rtp', { call: b.call, sender: b.sender, flow: flow.key ?? flowKey(flow), how: b.how, rtp, pkt, rtpmap, route: b.route });
  }

  private readonly holdEarly: () => boolean;
  /** Unmatched RTP kept for calls that a later SDP joins mid-way (bounded: see EarlyMedia). */
  private readonly early = new EarlyMedia();
  /** Calls joined mid-way whose new SDP may explain media held in `early`. */
  private readonly replayDue = new Set<Call>();
  private replaying = false;

  /** Held media that a mid-call SDP now explains goes through again, in capture order, before anything newer. */
  private replayEarly(): void {
    const calls = [...this.replayDue];
    this.replayDue.clear();
    const mine = (p: TransportPacket): boolean => {
      const buf = p.payload;
      if (buf.length < 12) return false;
      const b = this.bind(p, buf.readUInt32BE(8));
      return b.call !== undefined && calls.includes(b.call);
    };
    const streams = this.early.take(mine);
    if (streams.length === 0) return;
    const all = streams.flat().sort((a, b) => a.ts - b.ts);
    this.replaying = true;
    try {
      for (const p of all) this.onMedia(p);
    } finally {
      this.replaying = false;
    }
    this.counters.inc('media.heldThenRecorded', all.length);
  }

  private earlyReported = 0;

  /** The clock's tick: expiries and idle-flow sweeps happen on an idle link too. */
  tick(now: number): void {
    if (this.replayDue.size > 0) this.replayEarly();
    if (now >= this.nextHousekeeping) this.housekeeping(now);
  }

  /**
   * RTP streams no call claimed, for the run report: those of two packets or more (the report's entries) and the
   * newest one-packet ones, at most maxUnmatched, ordered by their last packet (newest last).
   */
  unmatchedStreams(): UnmatchedStream[] {
    const out = [...this.unmatched.values()].map((e) => ({ ...e.stream, payloadTypes: [...e.stream.payloadTypes] }));
    for (let i = 0; i < this.oneB.length; i++) {
      const at = (this.oneAt + i) % this.oneB.length;
      const b = this.oneB[at];
      const f = this.oneF[at];
      if (b === undefined || f === undefined || !onePacket(b)) continue;
      out.push({ flow: f.key ?? flowName(f), ssrc: b.ssrc, payloadTypes: [b.firstPt], packets: 1, firstTs: b.firstTs, lastTs: b.firstTs });
    }
    out.sort((x, y) => x.lastTs - y.lastTs);
    return out.length > this.maxUnmatched ? out.slice(out.length - this.maxUnmatched) : out;
  }

  /** The newest one-packet unmatched streams, as a ring of bindings and their flows (nothing allocated per packet). */
  private readonly oneB: Array<SsrcBinding | undefined> = [];
  private readonly oneF: Array<Flow | undefined> = [];
  private oneAt = 0;

  private listOnePacket(b: SsrcBinding, f: Flow): void {
    const size = Math.min(ONE_PACKET_LISTED, this.maxUnmatched);
    if (this.oneB.length < size) {
      this.oneB.push(b);
      this.oneF.push(f);
      return;
    }
    const old = this.oneB[this.oneAt];
    if (old !== undefined && onePacket(old)) this.counters.inc('media.unmatchedDropped');
    this.oneB[this.oneAt] = b;
    this.oneF[this.oneAt] = f;
    this.oneAt = (this.oneAt + 1) % size;
  }

  /** Flows on probation, oldest at probeAt once the ring is full. */
  private readonly probation: Array<Flow | undefined> = new Array<Flow | undefined>(PROBATION_FLOWS).fill(undefined);
  private probeAt = 0;

  /** A new flow goes on probation; the one it replaces there goes unless it had a second packet or a call. */
  private probate(f: Flow): void {
    const old = this.probation[this.probeAt];
    this.probation[this.probeAt] = f;
    this.probeAt = (this.probeAt + 1) & (PROBATION_FLOWS - 1);
    if (old !== undefined && !old.firm && !claimed(old) && this.unlink(old)) this.pending[FLOWS_EVICTED]++;
  }

  /** Takes one flow out of its chain; false when it was no longer cached (a sweep or a full eviction took it). */
  private unlink(f: Flow): boolean {
    const pk = ((f.sport << 14) ^ f.dport) & 0x3fffffff;
    let prev: Flow | undefined;
    for (let x = this.flows.get(pk); x !== undefined; prev = x, x = x.next) {
      if (x !== f) continue;
      if (prev !== undefined) prev.next = f.next;
      else if (f.next !== undefined) this.flows.set(pk, f.next);
      else this.flows.delete(pk);
      f.next = undefined;
      this.flowCount--;
      if (this.lastFlow === f) this.lastFlow = undefined;
      return true;
    }
    return false;
  }

  /** Writes batched counters out now (also done each second of capture time and at every call end). */
  flush(): void {
    if (this.early.dropped > this.earlyReported) {
      this.counters.inc('media.heldForgotten', this.early.dropped - this.earlyReported);
      this.earlyReported = this.early.dropped;
    }
    for (let i = 0; i < C.length; i++) {
      const n = this.pending[i] as number;
      if (n > 0) {
        this.counters.inc(C[i] as string, n);
        this.pending[i] = 0;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  private classify(buf: Buffer, b0: number): number {
    if (b0 >= 0 && b0 <= 3) return STUN;
    if (b0 >= 64 && b0 <= 79) return CHANNEL;
    if (b0 >= 20 && b0 <= 63) return DTLS;
    if (b0 === 0xff && buf.length >= 2 && buf[1] === 0x10) return TURN_MUX; // MS-TURN multiplexed session
    return NOT_RTP;
  }

  private bind(pkt: TransportPacket, ssrc: number): SsrcBinding {
    const { src, dst, sport, dport } = pkt;
    // Within 30 bits so the key stays a small integer; the chain compares the full 4-tuple.
    const pk = ((sport << 14) ^ dport) & 0x3fffffff;
    let f = this.flows.get(pk);
    while (f !== undefined && (f.sport !== sport || f.dport !== dport || f.src !== src || f.dst !== dst)) f = f.next;
    if (f === undefined) {
      if (this.flowCount >= this.maxFlows) this.evictFlows();
      f = { src, sport, dst, dport, key: undefined, lastTs: pkt.ts, last: undefined, ssrcs: undefined, next: this.flows.get(pk), firm: false };
      this.flows.set(pk, f);
      this.flowCount++;
      this.probate(f);
    } else if (!f.firm) f.firm = true;
    f.lastTs = pkt.ts;
    this.lastFlow = f;
    let b = f.last;
    if (b === undefined || b.ssrc !== ssrc) {
      b = f.ssrcs?.get(ssrc);
      if (b === undefined) {
        const first = f.last;
        b = { ssrc, gen: -1, genDst: -1, genSrc: -1, call: undefined, sender: 'caller', how: 'sdp-dst', mediaIndex: 0, mediaType: 'audio', toTag: undefined, rtpmaps: undefined, lastTouch: 0, unmatched: undefined, firstTs: 0, firstPt: -1, firstPkt: undefined, route: { value: undefined } };
        if (first !== undefined) {
          // A second SSRC on the flow: from now on every binding is kept in the map.
          f.ssrcs ??= new Map([[first.ssrc, first]]);
          if (f.ssrcs.size >= MAX_SSRCS_PER_FLOW) f.ssrcs.clear(); // junk with random SSRCs must not grow without bound
          f.ssrcs.set(ssrc, b);
        }
      }
      f.last = b;
    }
    const pg = this.index.portGen;
    if (b.genDst !== pg[f.dport] || b.genSrc !== pg[f.sport]) this.resolve(f, b);
    return b;
  }

  private resolve(f: Flow, b: SsrcBinding): void {
    b.gen = this.index.generation;
    b.genDst = this.index.portGen[f.dport]!;
    b.genSrc = this.index.portGen[f.sport]!;
    b.rtpmaps = undefined;
    const dsts = this.index.lookup(f.dst, f.dport);
    const srcs = this.index.lookup(f.src, f.sport);
    // An ended call in its linger keeps the streams it already had, even if a newer call took the address.
    const prev = b.call;
    if (prev !== undefined && prev.state === 'terminated') {
      const kept = (b.how === 'sdp-src' ? srcs : dsts)?.find((x) => x.call === prev);
      if (kept !== undefined) return this.take(b, kept, b.how);
    }
    const d = dsts?.[0];
    const s = srcs?.[0];
    let how: AssociatedRtp['how'] | undefined;
    if (d !== undefined && (s === undefined || s.call === d.call || d.rank >= s.rank)) how = 'sdp-dst';
    else if (s !== undefined) how = 'sdp-src';
    const chosen = how === 'sdp-dst' ? d : s;
    const other = how === 'sdp-dst' ? s : d;
    // A losing fork's media (its address at either end) belongs to no party of the call.
    if (how === undefined || chosen === undefined || chosen.lostFork || (other?.lostFork === true && other.call === chosen.call)) {
      b.call = undefined;
      return;
    }
    this.take(b, chosen, how);
    // The callee fork at the far end, when known, picks which early SDP numbers the payload types.
    if (other !== undefined && other.call === chosen.call && other.toTag !== undefined) b.toTag = other.toTag;
  }

  private take(b: SsrcBinding, a: AddressBinding, how: AssociatedRtp['how']): void {
    b.call = a.call;
    b.how = how;
    // A source that knows whose voice each m-line carries (SIPREC: all come from the SRC) says so in mediaSenders.
    b.sender = a.call.mediaSenders?.[a.mediaIndex] ?? (how === 'sdp-src' ? a.side : otherSide(a.side));
    b.mediaIndex = a.mediaIndex;
    b.mediaType = a.mediaType;
    b.toTag = a.toTag ?? a.call.toTag;
    if (b.unmatched !== undefined) b.unmatched = undefined;
    b.firstPt = -1;
    b.firstPkt = undefined;
  }

  /** RFC 3264 §5.1: payload types are numbered by the receiver's SDP; else the sender's; else RFC 3551 static. */
  private rtpmap(b: SsrcBinding, call: Call, pt: number): SdpRtpMap | undefined {
    let m = b.rtpmaps?.get(pt);
    if (m === undefined) {
      const receiver = otherSide(b.sender);
      const tagOf = (side: Side): string | undefined => (side === 'callee' ? b.toTag : undefined);
      m =
        pickMedia(latestSdp(call, receiver, tagOf(receiver)), b.mediaIndex, b.mediaType)?.rtpmap.get(pt) ??
        pickMedia(latestSdp(call, b.sender, tagOf(b.sender)), b.mediaIndex, b.mediaType)?.rtpmap.get(pt) ??
        STATIC_PAYLOAD_TYPES.get(pt) ??
        null;
      (b.rtpmaps ??= new Map()).set(pt, m);
    }
    return m ?? undefined;
  }

  /** The mode's binding for a flow+SSRC no SDP claimed, kept (like an SDP one) until the index changes. */
  private askFallback(b: SsrcBinding, pkt: TransportPacket): void {
    const r = (this.fallback as NonNullable<MediaAssociator['fallback']>)(pkt);
    if (r === undefined || r.call.state === 'terminated') return;
    b.call = r.call;
    b.sender = r.sender;
    b.how = 'learned';
    b.mediaIndex = 0;
    b.mediaType = 'audio';
    b.toTag = r.call.toTag;
    b.unmatched = undefined;
    b.firstPt = -1;
    b.firstPkt = undefined;
  }

  /** Media defers the call's idle timeout; once a second per stream is enough. */
  private touch(b: SsrcBinding, ts: number): void {
    if (ts - b.lastTouch < US) return;
    b.lastTouch = ts;
    this.dialogs.touch((b.call as Call).key, ts);
  }

  private noteUnmatched(b: SsrcBinding, f: Flow, rtp: RtpPacket, ts: number): void {
    this.pending[UNMATCHED]++;
    let e = b.unmatched;
    if (e === undefined && b.firstPt < 0) {
      // The stream's first packet: counted and remembered in the binding; listed from the one-packet ring.
      b.firstTs = ts;
      b.firstPt = rtp.payloadType;
      this.counters.inc('media.unmatchedStreams');
      this.listOnePacket(b, f);
      return;
    }
    if (e === undefined || e === null) {
      // Not kept on the flow: junk flows that no call claims keep no name.
      const name = f.key ?? flowName(f);
      const key = `${name}#${rtp.ssrc}`;
      let found = this.unmatched.get(key);
      if (found === undefined) {
        // Its first packet (e undefined) was counted then; a stream the report forgot and that comes back is listed
        // again, not counted again.
        const first = e === undefined && b.firstPt >= 0;
        found = { key, live: false, owner: b, stream: { flow: name, ssrc: rtp.ssrc, payloadTypes: first ? [b.firstPt] : [], packets: first ? 1 : 0, firstTs: first ? b.firstTs : ts, lastTs: ts } };
      }
      found.owner = b;
      b.unmatched = e = found;
    }
    if (!e.live) this.keepUnmatched(e);
    const s = e.stream;
    s.packets++;
    if (ts > s.lastTs) s.lastTs = ts;
    if (ts < s.firstTs) s.firstTs = ts;
    if (!s.payloadTypes.includes(rtp.payloadType) && s.payloadTypes.length < 16) s.payloadTypes.push(rtp.payloadType);
  }

  private keepUnmatched(e: UnmatchedEntry): void {
    if (this.unmatched.size >= this.maxUnmatched) {
      // The oldest from a FIFO of its own: a Map's first entry, after many deletions at its front, is found by
      // skipping every deleted slot (a junk flood ran 2.5x slower that way).
      const oldest = this.unmatchedOrder[this.unmatchedHead] as UnmatchedEntry;
      this.unmatchedOrder[this.unmatchedHead++] = undefined;
      if (this.unmatchedHead > 1024 && this.unmatchedHead * 2 > this.unmatchedOrder.length) {
        this.unmatchedOrder.splice(0, this.unmatchedHead);
        this.unmatchedHead = 0;
      }
      oldest.live = false;
      this.unmatched.delete(oldest.key);
      // Nothing keeps a forgotten entry: a flood of junk streams costs the report's bound, not one entry each.
      if (oldest.owner !== undefined && oldest.owner.unmatched === oldest) oldest.owner.unmatched = null;
      oldest.owner = undefined;
      this.counters.inc('media.unmatchedDropped');
    }
    e.live = true;
    this.unmatched.set(e.key, e);
    this.unmatchedOrder.push(e);
  }

  /** The report's entries in the order they were listed (from unmatchedHead on): who goes first when it is full. */
  private readonly unmatchedOrder: Array<UnmatchedEntry | undefined> = [];
  private unmatchedHead = 0;

  /** Runs at most once a second of capture time, or when a linger ends: expiries, counters, idle flows. */
  private housekeeping(now: number): void {
    let next = now + US;
    for (let i = this.expiring.length - 1; i >= 0; i--) {
      const x = this.expiring[i] as { call: Call; at: number };
      if (x.at <= now) {
        this.index.remove(x.call);
        this.expiring.splice(i, 1);
      } else if (x.at < next) next = x.at;
    }
    this.nextHousekeeping = next;
    this.flush();
    if (now >= this.nextSweep) {
      this.nextSweep = now + this.flowIdleUs / 4;
      this.sweepFlows(now - this.flowIdleUs);
    }
  }

  private sweepFlows(idleBefore: number): void {
    this.pruneFlows((f) => f.lastTs >= idleBefore);
  }

  /**
   * The cache is full (a flood of distinct flows, a scan): flows no call claims go, so calls keep their bindings
   * (an ended call in its linger keeps its streams only through them). If calls' flows alone fill half of it, it is
   * dropped wholesale; live flows re-resolve on their next packet. Either way the work is paid for by the many new
   * flows it makes room for.
   */
  private evictFlows(): void {
    const before = this.flowCount;
    this.pruneFlows(claimed);
    if (this.flowCount >= this.maxFlows / 2) {
      this.flows.clear();
      this.flowCount = 0;
    }
    this.counters.inc('media.flowsEvicted', before - this.flowCount);
  }

  /** Keeps the flows `keep` accepts. */
  private pruneFlows(keep: (f: Flow) => boolean): void {
    for (const [pk, head] of this.flows) {
      let first: Flow | undefined;
      let tail: Flow | undefined;
      for (let f: Flow | undefined = head; f !== undefined; f = f.next) {
        if (!keep(f)) {
          this.flowCount--;
          continue;
        }
        if (tail === undefined) first = f;
        else tail.next = f;
        tail = f;
      }
      if (tail !== undefined) tail.next = undefined;
      if (first === undefined) this.flows.delete(pk);
      else if (first !== head) this.flows.set(pk, first);
    }
  }

  /** Flows currently cached (for tests and diagnostics). */
  get cachedFlows(): number {
    return this.flowCount;
  }
}
