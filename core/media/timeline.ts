/**
 * One call's audio timeline: two channels (0 = caller, 1 = callee) on one clock, at one output rate.
 *
 * Placement is by RTP timestamp relative to an anchor taken from the capture time of a stream's first packet, so
 * network jitter and reordering never move audio; only an SSRC change or a timestamp/capture-time disagreement
 * beyond `reanchorThresholdMs` takes a new anchor, and a disagreement that persists for a whole second even in the
 * least-delayed packet (sender clock drift) nudges it. Each channel is a ring buffer of the most recent samples
 * (reorder window + 2 s: ~70 KiB per call at 8 kHz) plus the list of ranges placed; the capture clock (advance())
 * decides when a stretch is final, and it is then emitted to the sink as interleaved stereo with zeros wherever
 * nothing arrived.
 */
import type { PlacedAudio } from './types';
import { resample } from './resample';

export interface CallTimelineOptions {
  /** Output sample rate (Hz) of both channels. */
  sampleRate: number;
  /** Capture time (µs since the epoch) of output sample 0. */
  startTs: number;
  /** How long (capture time) audio stays open to late and reordered packets; default 200. */
  reorderWindowMs?: number;
  /** Disagreement between RTP-timestamp and capture-time placement that takes a new anchor; default 1000. */
  reanchorThresholdMs?: number;
  /**
   * Longest stretch of silence on both channels written as silence (seconds); beyond it the rest is left out (a
   * capture-time or timestamp jump, a long hold without media), so no recording grows by hours of nothing.
   * Default 20; 0 keeps every gap.
   */
  maxSilenceSec?: number;
  /** Receives the finished audio in order: interleaved stereo (caller, callee), a whole number of frames. */
  /** Receives each final stretch; the array is only valid during the call (it is reused): copy what you keep. */
  sink: (interleavedStereo: Int16Array) => void;
}

export type PushResult = 'placed' | 'late' | 'duplicate';

export interface ChannelStats {
  /** Samples (at the output rate) placed from packets. */
  placedFrames: number;
  /** Packets dropped because their audio was already emitted (or did not fit their stream's anchor). */
  latePackets: number;
  /** Packets whose audio was entirely placed already (the first copy is kept). */
  duplicates: number;
  /** Anchors taken after the channel's first: SSRC changes, timestamp jumps, clock-rate changes. */
  reanchors: number;
  /** Zero samples emitted where nothing arrived (loss, silence suppression, hold, one-way audio). */
  concealedSamples: number;
  /** Packets whose RTP timestamp disagreed with their stream's timing beyond the re-anchor threshold (jumps). */
  timestampJumps: number;
}

/** Silence left out of a recording: both channels quiet longer than maxSilenceSec. */
export interface SkippedSilence {
  /** Stretches shortened. */
  gaps: number;
  /** Samples (at the output rate) not written. */
  samples: number;
  /** The longest stretch, in samples, before it was shortened. */
  longest: number;
}

interface StreamState {
  anchorPos: number;
  /** Unwrapped RTP timestamp at anchorPos. */
  anchorRtp: number;
  clockRate: number;
  lastRtp32: number;
  lastRtp: number;
  highSeq: number;
  /** Output position just past this stream's latest placed audio (for pruning idle streams). */
  lastEnd: number;
  /** A packet that disagreed with the anchor but looked old; a next packet agreeing with it confirms a jump. */
  pending: { rtp: number; pos: number } | undefined;
  /** Smallest lag (capture-derived minus RTP-derived position) over the current drift block, and its start (µs). */
  minLag: number;
  blockStart: number;
}

/** Ring capacity beyond the reorder window, covering packets placed ahead of the capture clock. */
const MARGIN_MS = 600;
/** Largest chunk handed to the sink (bounds the allocation when a long silence is flushed). */
const MAX_CHUNK_SEC = 1;
/** Silence on both channels written at most (seconds), by default; a longer stretch is shortened to this. */
export const DEFAULT_MAX_SILENCE_SEC = 20;
/** Streams idle this long (output time) are forgotten; if they come back they are anchored afresh. */
const STREAM_IDLE_SEC = 60;
/** Sequence numbers this far behind a stream's highest are old packets, not a restart. */
const OLD_SEQ = 1000;
/** Capture time over which a stream's smallest lag is taken to measure drift (jitter only ever adds lag). */
const DRIFT_BLOCK_US = 1_000_000;
/**
 * A new stream's packets are held this long (capture time) before it is anchored, and the anchor is taken from
 * the least-delayed of them: the first packet alone may have queued behind others (bursty starts), and its delay
 * would otherwise shift the whole stream. Must stay well below the reorder window.
 */
const SETTLE_US = 150_000;

class Channel {
  readonly ring: Int16Array;
  /** Placed ranges [start, end) in absolute output positions, sorted, disjoint, non-adjacent, all ≥ flushed. */
  readonly filled: number[] = [];
  readonly streams = new Map<string, StreamState>();
  /** New streams whose first packets are held until their anchor settles (see SETTLE_US). */
  readonly settling = new Map<string, { until: number; items: PlacedAudio[] }>();
  anchors = 0;
  readonly stats: ChannelStats = { placedFrames: 0, latePackets: 0, duplicates: 0, reanchors: 0, concealedSamples: 0, timestampJumps: 0 };
  constructor(capacity: number) {
    this.ring = new Int16Array(capacity);
  }
}

export class CallTimeline {
  private readonly rate: number;
  private startTs: number;
  private readonly windowUs: number;
  /** SETTLE_US, but never more than 3/4 of the reorder window (held audio must not fall behind the flush point). */
  private readonly settleUs: number;
  private readonly thresholdSamples: number;
  /** A lag, steady over a drift block, beyond which the anchor is moved (half the reorder window). */
  private readonly driftSamples: number;
  private readonly capacity: number;
  private readonly maxChunk: number;
  /** maxSilenceSec in samples (Infinity: no limit). */
  private readonly maxSilence: number;
  /** Output position where the latest emitted audio ended (silence is counted from there). */
  private heardEnd = 0;
  /** Samples written since the last stretch was shortened (the first gap of a stretch is kept). */
  private readonly skip: SkippedSilence = { gaps: 0, samples: 0, longest: 0 };
  private readonly sink: (interleavedStereo: Int16Array) => void;
  private readonly channels: [Channel, Channel];
  /** Output position up to which audio has been emitted; everything before it is final. */
  private flushed = 0;
  /** End of the latest audio placed on either channel. */
  private audioEnd = 0;
  private finished = false;

  constructor(opts: CallTimelineOptions) {
    if (!Number.isInteger(opts.sampleRate) || opts.sampleRate <= 0) throw new Error(`timeline sample rate must be a positive integer, got ${opts.sampleRate}`);
    this.rate = opts.sampleRate;
    this.startTs = opts.startTs;
    const windowMs = opts.reorderWindowMs ?? 200;
    this.windowUs = windowMs * 1000;
    this.settleUs = Math.min(SETTLE_US, Math.floor(this.windowUs * 0.75));
    this.thresholdSamples = ((opts.reanchorThresholdMs ?? 1000) * this.rate) / 1000;
    this.driftSamples = (windowMs * this.rate) / 2000;
    this.capacity = Math.ceil(((windowMs + MARGIN_MS) * this.rate) / 1000);
    this.maxChunk = Math.min(this.capacity, Math.round(MAX_CHUNK_SEC * this.rate));
    const maxSilenceSec = opts.maxSilenceSec ?? DEFAULT_MAX_SILENCE_SEC;
    this.maxSilence = maxSilenceSec > 0 ? Math.round(maxSilenceSec * this.rate) : Infinity;
    this.sink = opts.sink;
    this.channels = [new Channel(this.capacity), new Channel(this.capacity)];
  }

  /** Capture time (µs) of output sample 0: the constructor's startTs, or earlier when the first anchor settled before it. */
  get origin(): number {
    return this.startTs;
  }

  /** Frames emitted to the sink so far. */
  get writtenFrames(): number {
    return this.flushed - this.skip.samples;
  }

  /** Silence left out so far (both channels quiet longer than maxSilenceSec). */
  get skippedSilence(): SkippedSilence {
    return { ...this.skip };
  }

  stats(channel: 0 | 1): ChannelStats {
    return { ...this.channels[channel].stats };
  }

  /** Output position of a capture time. */
  private posOf(ts: number): number {
    return Math.round(((ts - this.startTs) * this.rate) / 1e6);
  }

  push(channel: 0 | 1, a: PlacedAudio): PushResult {
    const ch = this.channels[channel];
    if (this.finished) {
      ch.stats.latePackets++;
      return 'late';
    }
    if (a.pcm.length === 0) return 'placed'; // nothing to place, nothing lost
    const held = ch.settling.get(a.streamId);
    if (held !== undefined) {
      if (a.captureTs < held.until) {
        held.items.push(held_(a));
        return 'placed';
      }
      this.settle(channel, a.streamId);
    } else {
      const known = ch.streams.get(a.streamId);
      if (known === undefined || known.clockRate !== a.clockRate) {
        ch.settling.set(a.streamId, { until: a.captureTs + this.settleUs, items: [held_(a)] });
        return 'placed';
      }
    }
    return this.place1(channel, a);
  }

  /** Anchors a held stream on its least-delayed packet, then places what was held. */
  private settle(channel: 0 | 1, streamId: string): void {
    const ch = this.channels[channel];
    const held = ch.settling.get(streamId);
    if (held === undefined) return;
    ch.settling.delete(streamId);
    const first = held.items[0]!;
    const rtp0 = first.rtpTimestamp >>> 0;
    // The anchor is the least-delayed packet's implied position of the first packet; the start also covers held
    // packets with earlier timestamps (arrived swapped).
    const settled = this.heldAnchor(held.items);
    ch.stats.timestampJumps += settled.excluded;
    const start = settled.start;
    let anchorPos = settled.anchor;
    if (start < 0 && this.flushed === 0) {
      // This stream starts before the provisional origin and nothing is written yet: move the origin back so no
      // sample is cut, shifting what the other streams already placed.
      this.shiftOrigin(-start);
      anchorPos -= start;
    }
    this.anchor(ch, first, rtp0, anchorPos);
    // A held packet found late here is counted in stats(channel).latePackets (push() had answered 'placed').
    for (const it of held.items) this.place1(channel, it);
  }

  /** Moves output position 0 back by `d` samples (only before anything was emitted): every position grows by d. */
  private shiftOrigin(d: number): void {
    this.startTs -= Math.round((d * 1e6) / this.rate);
    this.audioEnd = this.audioEnd === 0 ? 0 : this.audioEnd + d;
    for (const c of this.channels) {
      for (const st of c.streams.values()) {
        st.anchorPos += d;
        st.lastEnd += d;
        if (st.pending !== undefined) st.pending.pos += d;
      }
      if (c.filled.length === 0) continue;
      // Placed audio moves d samples later in the ring (it is far shorter than the ring: the call just began).
      const old = c.ring.slice();
      c.ring.fill(0);
      for (let i = 0; i < c.filled.length; i += 2) {
        for (let pos = c.filled[i]!; pos < c.filled[i + 1]!; pos++) c.ring[(pos + d) % this.capacity] = old[pos % this.capacity]!;
      }
      for (let i = 0; i < c.filled.length; i++) c.filled[i] = c.filled[i]! + d;
    }
  }

  private settleAll(before?: number): void {
    for (const c of [0, 1] as const) {
      for (const [id, h] of this.channels[c].settling) if (before === undefined || h.until <= before) this.settle(c, id);
    }
  }

  private place1(channel: 0 | 1, a: PlacedAudio): PushResult {
    const ch = this.channels[channel];
    const rtp32 = a.rtpTimestamp >>> 0;
    const capPos = this.posOf(a.captureTs);
    let s = ch.streams.get(a.streamId);
    let pos: number;
    if (s === undefined || s.clockRate !== a.clockRate) {
      // New stream (or its RTP clock changed, so its timestamps no longer compare): anchor on capture time.
      s = this.anchor(ch, a, rtp32, capPos);
      pos = capPos;
    } else {
      const rtp = s.lastRtp + ((rtp32 - s.lastRtp32) | 0); // unwrap: signed 32-bit step from the last packet
      const seqStep = (((a.seq - s.highSeq) & 0xffff) << 16) >> 16;
      pos = s.anchorPos + Math.round(((rtp - s.anchorRtp) * this.rate) / s.clockRate);
      if (Math.abs(capPos - pos) > this.thresholdSamples) {
        // Timestamps and capture time disagree by more than jitter can explain: a jump, or a very old packet.
        const p = s.pending;
        const confirmed = p !== undefined && Math.abs(p.pos + this.rtpToOut(rtp - p.rtp, s.clockRate) - capPos) <= this.thresholdSamples;
        if (seqStep <= 0 && seqStep > -OLD_SEQ && !confirmed) {
          // Looks like a packet delayed past the threshold: drop it, unless the next one shows it began a jump.
          s.pending = { rtp, pos: capPos };
          ch.stats.latePackets++;
          return 'late';
        }
        ch.stats.timestampJumps++;
        s.anchorPos = confirmed ? p.pos : capPos;
        s.anchorRtp = confirmed ? p.rtp : rtp;
        pos = s.anchorPos + this.rtpToOut(rtp - s.anchorRtp, s.clockRate);
        if (pos < s.lastEnd && seqStep > 0) {
          // Never re-anchor a stream back into its own audio: the overlap would be dropped as duplicates.
          s.anchorPos += s.lastEnd - pos;
          pos = s.lastEnd;
        }
        ch.stats.reanchors++;
        s.minLag = Infinity;
        s.blockStart = a.captureTs;
      } else {
        this.trackDrift(ch, s, capPos - pos, a.captureTs, seqStep > 0 ? pos - s.lastEnd : 0);
        pos = s.anchorPos + this.rtpToOut(rtp - s.anchorRtp, s.clockRate);
      }
      s.pending = undefined;
      s.lastRtp32 = rtp32;
      s.lastRtp = rtp;
      if (seqStep > 0 || seqStep <= -OLD_SEQ) s.highSeq = a.seq;
    }
    const pcm = this.toOutputRate(a.pcm, a.pcmRate);
    let start = pos;
    const end = pos + pcm.length;
    if (end <= this.flushed) {
      ch.stats.latePackets++;
      return 'late';
    }
    // advance() not called often enough for the ring: make room by emitting the oldest audio now.
    if (end > this.flushed + this.capacity) this.flushTo(end - this.capacity);
    if (start < this.flushed) start = this.flushed; // the head is already emitted: keep the rest
    if (end > s.lastEnd) s.lastEnd = end;
    const placed = this.place(ch, pcm, pos, start, end);
    if (placed === 0) {
      ch.stats.duplicates++;
      return 'duplicate';
    }
    ch.stats.placedFrames += placed;
    if (end > this.audioEnd) this.audioEnd = end;
    return 'placed';
  }

  private anchor(ch: Channel, a: PlacedAudio, rtp32: number, capPos: number): StreamState {
    const s: StreamState = {
      anchorPos: capPos,
      anchorRtp: rtp32,
      clockRate: a.clockRate,
      lastRtp32: rtp32,
      lastRtp: rtp32,
      highSeq: a.seq,
      lastEnd: capPos,
      pending: undefined,
      minLag: Infinity,
      blockStart: a.captureTs,
    };
    ch.streams.set(a.streamId, s);
    if (ch.anchors++ > 0) ch.stats.reanchors++;
    return s;
  }

  private rtpToOut(ticks: number, clockRate: number): number {
    return Math.round((ticks * this.rate) / clockRate);
  }

  /**
   * Clock drift and lasting delay changes: when even the least-delayed packet of a whole block is placed more than
   * half the reorder window away from its capture time, move the anchor by that much. Waiting for the 1 s
   * re-anchor threshold would drop every packet as late (RTP clock slow) or cut a second of overlap (fast).
   */
  private trackDrift(ch: Channel, s: StreamState, lag: number, captureTs: number, room: number): void {
    if (lag < s.minLag) s.minLag = lag;
    if (captureTs - s.blockStart < DRIFT_BLOCK_US) return;
    if (Math.abs(s.minLag) > this.driftSamples) {
      // Moving earlier only when the silence before this packet absorbs the whole shift: never back over the
      // stream's own audio (it would be dropped as duplicates). Continuous speech waits for the next pause.
      const shift = s.minLag < 0 ? (room >= -s.minLag ? s.minLag : 0) : s.minLag;
      if (shift !== 0) {
        s.anchorPos += shift;
        ch.stats.reanchors++;
      }
    }
    s.minLag = Infinity;
    s.blockStart = captureTs;
  }

  private toOutputRate(pcm: Int16Array, pcmRate: number): Int16Array {
    if (pcmRate === this.rate) return pcm;
    return resample(pcm, pcmRate, this.rate);
  }

  /** Copy pcm (which starts at pos) into the parts of [start, end) not placed yet; returns samples copied. */
  private place(ch: Channel, pcm: Int16Array, pos: number, start: number, end: number): number {
    const f = ch.filled;
    // Find the first range that ends at or after start (ranges are few; in-order packets hit the last one).
    let i = f.length;
    while (i >= 2 && f[i - 1]! >= start) i -= 2;
    // i is now the index of the first range with end >= start.
    let copied = 0;
    let cursor = start;
    let j = i;
    while (cursor < end) {
      const rs = j < f.length ? f[j]! : Infinity;
      const gapEnd = Math.min(rs, end);
      if (gapEnd > cursor) {
        this.copyIn(ch.ring, pcm, cursor - pos, cursor, gapEnd - cursor);
        copied += gapEnd - cursor;
      }
      if (j >= f.length || rs >= end) break;
      cursor = f[j + 1]!;
      j += 2;
    }
    if (copied === 0) return 0;
    // Merge [start, end) with the ranges it touches: ranges i..j-1 (step 2) overlap or abut it.
    let k = i;
    let ns = start;
    let ne = end;
    while (k < f.length && f[k]! <= end) {
      if (f[k]! < ns) ns = f[k]!;
      if (f[k + 1]! > ne) ne = f[k + 1]!;
      k += 2;
    }
    if (k === i + 2) {
      f[i] = ns; // the common case: extends one range (in-order packets)
      f[i + 1] = ne;
    } else f.splice(i, k - i, ns, ne);
    return copied;
  }

  private copyIn(ring: Int16Array, pcm: Int16Array, from: number, at: number, n: number): void {
    const cap = this.capacity;
    const idx = at % cap;
    const first = Math.min(n, cap - idx);
    // The common case copies a whole packet: no view object per packet.
    ring.set(from === 0 && first === pcm.length ? pcm : pcm.subarray(from, from + first), idx);
    if (first < n) ring.set(pcm.subarray(from + first, from + n), 0);
  }

  /** Capture time moved on: audio older than now − reorder window is final and is emitted. */
  advance(nowTs: number): void {
    if (this.finished) return;
    this.settleAll(nowTs);
    let target = this.posOf(nowTs - this.windowUs);
    // Never emit past where a still-settling stream will place its first sample (its first packet may have been
    // delayed by up to the settle time plus jitter: waiting costs memory for a moment, emitting would cut audio).
    for (const c of this.channels) for (const h of c.settling.values()) target = Math.min(target, this.heldStart(h.items));
    if (target > this.flushed) this.flushTo(target);
  }

  /** Where a held stream's earliest sample will go once settled (the same reckoning as settle()). */
  private heldStart(items: PlacedAudio[]): number {
    return this.heldAnchor(items).start;
  }

  /**
   * A held stream's anchor (the output position of its first packet's RTP timestamp) and where its earliest sample
   * goes. Each held packet implies an anchor (its capture position minus its RTP offset from the first); the packets
   * that agree with the median of them, within the re-anchor threshold, decide: the least-delayed of those gives the
   * anchor, and their offsets the start. A packet with a wild RTP timestamp (a jump in a stream's first packets)
   * disagrees and is left out of both (it is then dropped, or re-anchors, when placed), instead of moving the
   * recording's start a day back.
   */
  private heldAnchor(items: PlacedAudio[]): { anchor: number; start: number; excluded: number } {
    const first = items[0]!;
    const rtp0 = first.rtpTimestamp >>> 0;
    const implied: Array<{ anchor: number; offset: number }> = [];
    for (const it of items) {
      if (it.clockRate !== first.clockRate) continue;
      const offset = this.rtpToOut(((it.rtpTimestamp >>> 0) - rtp0) | 0, first.clockRate);
      implied.push({ anchor: this.posOf(it.captureTs) - offset, offset });
    }
    const sorted = implied.map((x) => x.anchor).sort((a, b) => a - b);
    const median = sorted[(sorted.length - 1) >> 1] as number;
    let anchor = Infinity;
    let earliest = Infinity;
    let excluded = 0;
    for (const x of implied) {
      if (Math.abs(x.anchor - median) > this.thresholdSamples) {
        excluded++;
        continue;
      }
      anchor = Math.min(anchor, x.anchor);
      earliest = Math.min(earliest, x.offset);
    }
    return { anchor, start: anchor + Math.min(0, earliest), excluded };
  }

  /** Emit everything up to the end of the latest audio (or endTs, when later); later pushes are 'late'. */
  finish(endTs?: number): void {
    if (this.finished) return;
    this.settleAll();
    let target = this.audioEnd;
    if (endTs !== undefined) target = Math.max(target, this.posOf(endTs));
    if (target > this.flushed) this.flushTo(target);
    this.finished = true;
    for (const ch of this.channels) ch.streams.clear();
  }

  private flushTo(target: number): void {
    const [c0, c1] = this.channels;
    while (this.flushed < target) {
      const from = this.flushed;
      // Both channels quiet beyond the silence limit: up to the next audio (or the target), nothing is written, in
      // one step however long (a ten-year capture-time jump costs no more than a second's).
      const nextAudio = Math.min(c0.filled[0] ?? Infinity, c1.filled[0] ?? Infinity);
      const quietUntil = this.heardEnd + this.maxSilence;
      if (from >= quietUntil && nextAudio > from) {
        const to = Math.min(target, nextAudio);
        this.noteSkipped(from, to);
        this.flushed = to;
        continue;
      }
      let n = Math.min(target - from, this.maxChunk);
      // A quiet stretch stops at the limit, so that what lies beyond it can be left out.
      if (nextAudio >= quietUntil && quietUntil > from) n = Math.min(n, quietUntil - from);
      const to = from + n;
      const out = scratch(2 * n);
      const heard0 = this.drain(c0, from, to, out, 0);
      const heard1 = this.drain(c1, from, to, out, 1);
      if (Math.max(heard0, heard1) > this.heardEnd) this.heardEnd = Math.max(heard0, heard1);
      this.flushed = to;
      this.sink(out);
    }
    // Forget idle streams so a long call's SSRC churn does not accumulate.
    const idle = this.flushed - STREAM_IDLE_SEC * this.rate;
    for (const ch of this.channels) {
      if (ch.streams.size <= 1) continue;
      for (const [id, s] of ch.streams) if (s.lastEnd < idle) ch.streams.delete(id);
    }
  }

  /** A stretch [from, to) of silence on both channels left out; a run of them is one gap. */
  private noteSkipped(from: number, to: number): void {
    if (from !== this.lastSkipEnd) this.skip.gaps++;
    this.skip.samples += to - from;
    this.lastSkipEnd = to;
    if (to - this.heardEnd > this.skip.longest) this.skip.longest = to - this.heardEnd;
  }

  private lastSkipEnd = -1;

  /**
   * Copy [from, to) of a channel into the interleaved output, drop its ranges there, count the gaps; returns where
   * its latest audio in the stretch ends (0 when it has none there).
   */
  private drain(ch: Channel, from: number, to: number, out: Int16Array, offset: number): number {
    let heard = 0;
    const f = ch.filled;
    const ring = ch.ring;
    const cap = this.capacity;
    let covered = 0;
    let r = 0;
    while (r < f.length && f[r]! < to) {
      const s = Math.max(f[r]!, from);
      const e = Math.min(f[r + 1]!, to);
      covered += e - s;
      if (e > heard) heard = e;
      // Only placed ranges are read (the output starts as zeros), so stale ring contents never need clearing.
      let p = s;
      let o = 2 * (s - from) + offset;
      while (p < e) {
        const idx = p % cap;
        const n = Math.min(e - p, cap - idx); // contiguous in the ring
        for (let k = idx, end = idx + n; k < end; k++, o += 2) out[o] = ring[k]!;
        p += n;
      }
      if (f[r + 1]! <= to) r += 2;
      else {
        f[r] = to; // range continues past this chunk
        break;
      }
    }
    if (r > 0) f.splice(0, r);
    ch.stats.concealedSamples += to - from - covered;
    return heard;
  }
}

/** A packet held while its stream settles outlives push(): its fields and PCM are copied (callers reuse both). */
function held_(a: PlacedAudio): PlacedAudio {
  return { ...a, pcm: a.pcm.slice() };
}

/** One output buffer for every timeline: flushes are synchronous and the sink copies what it keeps. */
let scratchBuf = new Int16Array(0);
function scratch(n: number): Int16Array {
  if (scratchBuf.length < n) scratchBuf = new Int16Array(n);
  const out = scratchBuf.subarray(0, n);
  out.fill(0);
  return out;
}
