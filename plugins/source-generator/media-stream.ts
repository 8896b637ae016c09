/**
 * One RTP direction as a scheduler actor. Packet slots fall every ptime from the stream's start; a slot in a
 * gap (hold, silence) sends nothing, and the next sent packet carries the marker bit with its timestamp
 * having moved on by the gap (RFC 3551 §4.1). Sent packets get consecutive sequence numbers; a lost one is
 * numbered but not written; a reordered pair is written in swapped order in the two slots' capture times.
 */
import type { StreamPlan } from './call-plan';
import { Rng } from './random';
import { FrameCycle, RtpFlowWriter, RtpPacketBuilder, type PayloadSource, type RecordSink, type RtpPacketSink } from './rtp-builder';
import type { ResolvedScenario } from './scenario';
import type { Actor } from './scheduler';
import { SAMPLE_RATE, ToneSource } from './tones';
import type { DirectionTruth, SsrcSegmentTruth } from './truth';

/** A numbered packet waiting to be written. */
interface Packet {
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  sample: number;
  lost: boolean;
}


export class MediaActor implements Actor {
  time = Infinity;
  private readonly rng: Rng;
  private readonly flow: RtpFlowWriter | RtpPacketBuilder;
  private readonly payload: PayloadSource;
  private readonly usPerSample: number;
  private readonly ptimeUs: number;
  private readonly spp: number;
  private readonly slots: number;
  private readonly changeSlot: number;
  private readonly jitterUs: number;
  /** Slot whose capture time is `time`. */
  private cur = 0;
  /** Last slot numbered so far, and the last one that was sent. */
  private lastSent = -2;
  private seg: SsrcSegmentTruth | undefined;
  private segIndex = -1;
  private sentInSeg = 0;
  /** The earlier packet of a swapped pair, written at the next slot. */
  private held: Packet | null = null;
  /** With `held`: the successor that overtakes it, emitted at its own slot time. */
  private heldNext: Packet | null = null;
  private done = false;
  private pa: Packet = { seq: 0, ts: 0, ssrc: 0, marker: false, sample: 0, lost: false };
  private pb: Packet = { seq: 0, ts: 0, ssrc: 0, marker: false, sample: 0, lost: false };

  constructor(
    private readonly plan: StreamPlan,
    private readonly s: ResolvedScenario,
    private readonly out: RecordSink,
    readonly order: number,
    readonly truth: DirectionTruth,
    private readonly onDone: () => void,
    /** Where packets go instead of plain UDP frames (SRTP, TURN at the Edge). */
    sink?: RtpPacketSink,
  ) {
    this.rng = new Rng(plan.seed);
    this.ptimeUs = s.ptimeMs * 1000;
    const rate = s.payloads?.clockRate ?? SAMPLE_RATE;
    this.usPerSample = 1e6 / rate;
    this.spp = Math.round((s.ptimeMs * rate) / 1000);
    this.slots = Math.max(0, Math.ceil((plan.end - plan.start) / this.ptimeUs));
    this.changeSlot = plan.change === null ? Infinity : Math.max(1, Math.ceil((plan.change.at - plan.start) / this.ptimeUs));
    this.jitterUs = s.jitterMs * 1000;
    this.payload = s.payloads === null ? new ToneSource(s.codec, plan.hz, s.markerBursts) : new FrameCycle(s.payloads.frames, this.spp, plan.seed % s.payloads.frames.length);
    const ipId = this.rng.u32(); // drawn either way: the stream's loss and reordering stay the same whatever the path
    this.flow = sink === undefined ? new RtpFlowWriter(plan.src, plan.dst, s.payloadType, this.spp, this.payload, ipId) : new RtpPacketBuilder(s.payloadType, this.spp, this.payload, sink);
    this.schedule(this.nextSent(0));
  }

  step(): void {
    const t = this.time;
    if (this.held !== null && this.heldNext !== null) {
      // The successor's own slot: it goes first, the held predecessor right behind it. Reordered, but no packet
      // is ever captured before it was sent (which would tell a recorder the sender's clock is early).
      this.emit(this.heldNext, t);
      this.emit(this.held, t + 1); // 1 µs behind: capture times stay strictly increasing within the stream
      this.held = null;
      this.heldNext = null;
      this.schedule(this.nextSent(this.cur + 1));
      return;
    }
    const k = this.cur;
    const p = this.number(k, this.pa);
    const k2 = k + 1;
    if (this.s.reorderRate > 0 && !p.lost && k2 < this.slots && this.sent(k2) && this.segmentOf(k2) === this.segmentOf(k) && this.rng.next() < this.s.reorderRate) {
      const q = this.number(k2, this.pb);
      if (!q.lost) {
        this.held = p;
        this.heldNext = q;
        this.truth.reordered++;
        // Keep the held packet's object safe from the next number() call.
        this.pa = this.pb;
        this.pb = p;
        this.schedule(k2);
        return;
      }
      this.emit(p, t);
      this.schedule(this.nextSent(k2 + 1));
      return;
    }
    this.emit(p, t);
    this.schedule(this.nextSent(k2));
  }

  private schedule(k: number): void {
    if (k >= this.slots) {
      this.time = Infinity;
      if (!this.done) {
        this.done = true;
        this.finish();
      }
      return;
    }
    const nominal = this.plan.start + k * this.ptimeUs;
    let t = this.jitterUs > 0 ? nominal + Math.round(this.rng.next() * this.jitterUs) : nominal;
    if (this.time !== Infinity && t <= this.time) t = this.time + 1; // keep this stream's capture order
    this.time = t;
    this.cur = k;
  }

  private sent(k: number): boolean {
    const t = this.plan.start + k * this.ptimeUs;
    for (const [a, b] of this.plan.gaps) if (t >= a && t < b) return false;
    const sil = this.plan.silence;
    if (sil !== null && (t - this.plan.start + sil.phaseUs) % sil.periodUs >= sil.talkUs) return false;
    return true;
  }

  private nextSent(k: number): number {
    while (k < this.slots && !this.sent(k)) k++;
    return k;
  }

  private segmentOf(k: number): number {
    return k >= this.changeSlot ? 1 : 0;
  }

  /** Give slot k (a sent one, numbered in slot order) its sequence number, timestamp and fate. */
  private number(k: number, p: Packet): Packet {
    const segIndex = this.segmentOf(k);
    const tr = this.truth;
    let marker = k !== this.lastSent + 1;
    if (segIndex !== this.segIndex) {
      const c = segIndex === 1 ? this.plan.change : null;
      const ssrc = c === null ? this.plan.ssrc : c.ssrc;
      const base = { ssrc, firstSeq: c === null ? this.plan.seq : c.seq, lastSeq: 0, firstTs: 0, lastTs: 0, packets: 0, lost: 0 };
      this.seg = base;
      tr.segments.push(base);
      tr.ssrcs.push(ssrc);
      this.segIndex = segIndex;
      this.sentInSeg = 0;
      marker = true;
    }
    const seg = this.seg as SsrcSegmentTruth;
    const slot0 = segIndex === 1 ? this.changeSlot : 0;
    const tsBase = segIndex === 1 && this.plan.change !== null ? this.plan.change.ts : this.plan.ts;
    p.seq = (seg.firstSeq + this.sentInSeg) & 0xffff;
    p.ts = (tsBase + (k - slot0) * this.spp) >>> 0;
    p.ssrc = seg.ssrc;
    p.marker = marker;
    p.sample = k * this.spp;
    p.lost = this.s.lossRate > 0 && this.rng.next() < this.s.lossRate;
    this.sentInSeg++;
    this.lastSent = k;
    if (seg.packets === 0) seg.firstTs = p.ts;
    seg.lastSeq = p.seq;
    seg.lastTs = p.ts;
    seg.packets++;
    tr.packetsSent++;
    if (p.lost) {
      seg.lost++;
      tr.packetsLost++;
      tr.lost.push({ ssrc: p.ssrc, seq: p.seq });
    }
    if (marker) tr.markerSeqs.push(p.seq);
    const burst = this.payload.burstIn(p.sample, this.spp);
    if (burst >= 0) tr.burstTimes.push(this.plan.start + Math.round(burst * this.usPerSample));
    return p;
  }

  private emit(p: Packet, t: number): void {
    if (p.lost) return;
    this.flow.write(this.out, t, p.marker, p.seq, p.ts, p.ssrc, p.sample);
    const tr = this.truth;
    if (tr.packetsWritten === 0) tr.firstTime = t;
    tr.lastTime = t;
    tr.packetsWritten++;
  }

  private finish(): void {
    const tr = this.truth;
    const first = tr.segments[0];
    const last = tr.segments[tr.segments.length - 1];
    if (first !== undefined && last !== undefined) {
      tr.firstRtpTs = first.firstTs;
      tr.lastRtpTs = last.lastTs;
    }
    this.onDone();
  }
}

/** An empty truth record for one direction of a planned stream. */
export function emptyDirectionTruth(plan: StreamPlan): DirectionTruth {
  return {
    src: { ...plan.src },
    dst: { ...plan.dst },
    frequencyHz: plan.hz,
    ssrcs: [],
    segments: [],
    packetsSent: 0,
    packetsWritten: 0,
    packetsLost: 0,
    lost: [],
    reordered: 0,
    firstRtpTs: 0,
    lastRtpTs: 0,
    firstTime: 0,
    lastTime: 0,
    burstTimes: [],
    markerSeqs: [],
  };
}
