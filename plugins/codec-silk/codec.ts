/**
 * SILK (Skype's wideband codec; Lync / Skype for Business `SILK/8000` PT 103 and `SILK/16000` PT 104) decoding
 * on silk-wasm, one decoder per RTP stream, synchronous per packet.
 *
 * Payload format (draft-spittka-silk-payload-format-00 §3, and lync-protocols.md §4): the RTP clock equals the
 * sampling rate, and each payload is ONE SILK packet of 1-5 frames of 20 ms. The frames of a packet share one
 * range-coded bit stream with in-band frame-termination codes, so a packet cannot be split into frames; the
 * decoder's "more internal frames" loop walks them. An empty payload carries no audio (DTX).
 *
 * The state problem. SILK is predictive: decoding each packet with a fresh decoder sounds broken. silk-wasm only
 * decodes whole containers (`\x02#!SILK_V3` + [int16le length, packet]...) with a decoder it creates per call,
 * and its decoder functions are inlined into that one call (nothing else is exported), so the state cannot be
 * kept. This decoder therefore re-decodes a short history with every packet: a container of the stream's
 * previous `historyFrames` frames (lost packets as empty entries, which the SDK conceals) followed by the new
 * packet, keeping only the new packet's samples. The state converges within that history. Measured against one
 * continuous decode of the same packets (SNR of the difference): 10 frames (the default) give 30 dB on real
 * call speech and 44-58 dB on espeak-ng speech; 8 frames 24 / 36-47 dB; no history 1-2 dB. Voiced speech
 * converges slowest (long-term prediction). The cost is (history + 3) frames of decoding per packet:
 * ~120x real time per core at 10 frames, against ~1200x for one continuous decode.
 * Loss: a gap becomes empty entries, so the packets after it are decoded as an SDK decoder with packet-loss
 * concealment would (output within 0.9999 correlation of one continuous decode of the lossy stream); the
 * concealed audio itself is offered through drainConcealment(). Late (reordered) packets are decoded after
 * the packets that precede them in sequence order.
 *
 * Quirks of silk-wasm's container loop (SILK SDK Decoder.c, trimmed; checked by the tests):
 *   - it pre-reads 2 packets as a "jitter buffer", then silently skips the 3rd and 4th entries (their data is
 *     read but never decoded): we put two empty entries there;
 *   - at the end it decodes 2 more frames from the last length read: we end with a length above the SDK's
 *     1024-byte limit, which the SDK turns into 2 concealed frames (instead of decoding stale bytes);
 *   - a payload longer than 3750 bytes would overflow its stack buffer; SILK rejects more than 1024 anyway,
 *     so such payloads are treated as lost;
 *   - an empty entry is decoded as a lost frame (the range decoder fails on it and the SDK runs its PLC).
 */
import type { Codec, Decoder, DelayedAudio, RtpFrameInfo, StreamInfo } from '../../core/plugin-api';
import type { SilkWasm } from './silk-wasm-sync';

export const SILK_HEADER = Buffer.from('\x02#!SILK_V3', 'latin1');
/** SILK's MAX_ARITHM_BYTES: larger payloads are rejected by the SDK as too large. */
export const SILK_MAX_PAYLOAD = 1024;
/** Frames of history re-decoded before each packet by default (see the file header for the measurements). */
export const WARMUP_FRAMES = 10;
/** Packets remembered for reordering and history. */
const HISTORY = 64;
/** RFC 3550 A.1: a sequence jump this far ahead is a restart, this far back is not reordering. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
/** place() results that are not history indexes. */
const DUPLICATE = -1;
const STRAY = -2;
/** The container length that ends the stream and makes the SDK conceal its 2 trailing frames. */
const END_MARK = 0x7fff;
/** SILK sampling rates (and RTP clocks) an SDP may name. */
export const SILK_RATES = [8000, 12000, 16000, 24000] as const;
/** Lync's default dynamic payload types (Silk8CodecPayloadTypes / Silk16CodecPayloadTypes). */
export const DEFAULT_SILK8_PAYLOAD_TYPES = [103];
export const DEFAULT_SILK16_PAYLOAD_TYPES = [104];

/** Concealment audio for a gap: `pcm` at the decoder's rate, starting at `rtpTimestamp`. */
export interface ConcealedAudio {
  rtpTimestamp: number;
  pcm: Int16Array;
}

interface Entry {
  /** Extended sequence number. */
  seq: number;
  timestamp: number;
  /** null: lost (decoded as a concealed frame). */
  payload: Buffer | null;
  /** Output samples this packet decodes to (one frame for a lost entry). */
  samples: number;
}

function seqDelta(a: number, b: number): number {
  return ((b - a + 32768) & 0xffff) - 32768;
}

function tsDelta(a: number, b: number): number {
  return (b - a) | 0;
}

/** Builds silk-wasm's container so that `packets` are decoded in order; returns it and the trailing frames it adds. */
export function buildContainer(packets: ReadonlyArray<Buffer | null>): { container: Buffer; trailingFrames: number } {
  const first = packets[0];
  if (first === undefined || first === null || first.length === 0) throw new Error('the first SILK packet of a container must carry data');
  // Entry order: packets[0], packets[1] (or an empty one), two empty entries the loop skips, packets[2...].
  const order: Array<Buffer | null> = [first, packets.length > 1 ? (packets[1] as Buffer | null) : null, null, null];
  for (let i = 2; i < packets.length; i++) order.push(packets[i] as Buffer | null);
  let size = SILK_HEADER.length + 2;
  for (const p of order) size += 2 + (p?.length ?? 0);
  const out = Buffer.allocUnsafe(size);
  let o = SILK_HEADER.copy(out, 0);
  for (const p of order) {
    const n = p?.length ?? 0;
    if (n > SILK_MAX_PAYLOAD) throw new Error(`SILK packet of ${n} bytes exceeds ${SILK_MAX_PAYLOAD}`);
    o = out.writeInt16LE(n, o);
    if (p !== null && n > 0) o += p.copy(out, o);
  }
  out.writeInt16LE(END_MARK, o);
  // With one packet, the empty entry in second place is decoded too (as one concealed frame).
  return { container: out, trailingFrames: packets.length > 1 ? 2 : 3 };
}

export class SilkStreamDecoder implements Decoder {
  readonly sampleRate: number;
  /** Output samples per 20 ms frame. */
  private readonly frame: number;
  private readonly history: Entry[] = [];
  private ssrc: number | undefined;
  private maxSeq = -1;
  private nextSeq = 0;
  /** The sequence number that would confirm a jump (RFC 3550 A.1 "bad_seq"), or -1. */
  private probeSeq = -1;
  /** Packets decoded, how many arrived out of order, and how often the history restarted (SSRC change, jump). */
  packets = 0;
  reordered = 0;
  restarts = 0;
  /** Lost entries put in the history, which the SDK conceals (the timeline still fills the gap with silence). */
  concealed = 0;

  private concealment: ConcealedAudio[] = [];
  /** Batch mode: in-order one-frame packets held to be decoded together, and audio decoded but not yet taken. */
  private pending: Array<{ entry: Entry; rtpTimestamp: number; seq: number }> = [];
  private ready: DelayedAudio[] = [];

  constructor(
    private readonly silk: SilkWasm,
    readonly clockRate: number,
    /** Frames of history re-decoded before each packet: more is closer to a continuous decode, and slower. */
    readonly historyFrames = WARMUP_FRAMES,
    /**
     * Consecutive packets decoded in one container (their audio comes through drainAudio()): the history is then
     * re-decoded once per batch instead of once per packet. 1 = per packet, audio returned by decode().
     */
    readonly batchPackets = 1,
  ) {
    this.sampleRate = clockRate;
    this.frame = clockRate / 50;
  }

  decode(payload: Buffer, rtp?: RtpFrameInfo): Int16Array | null {
    if (payload.length === 0) return null; // DTX: nothing sent
    const tooLarge = payload.length > SILK_MAX_PAYLOAD;
    const entry: Entry = { seq: 0, timestamp: 0, payload: tooLarge ? null : Buffer.from(payload), samples: this.frame };
    const pos = this.place(entry, rtp);
    if (pos === DUPLICATE) return null;
    if (tooLarge) throw new Error(`SILK payload of ${payload.length} bytes exceeds the ${SILK_MAX_PAYLOAD}-byte limit`);
    this.packets++;

    if (this.batchPackets > 1 && rtp !== undefined && pos !== STRAY && this.extendsBatch(entry, pos)) {
      this.pending.push({ entry, rtpTimestamp: rtp.timestamp, seq: rtp.seq });
      if (this.pending.length >= this.batchPackets) this.decodePending();
      return null;
    }
    // Not a continuation (first packet, a gap, a late packet, several frames): the held batch goes first.
    this.decodePending();
    return this.decodeEntry(entry, pos === STRAY ? STRAY : this.history.indexOf(entry));
  }

  /** Where the history before history[pos] starts: historyFrames frames back, without leading lost entries. */
  private historyStart(pos: number): number {
    let start = pos;
    let frames = 0;
    while (start > 0 && frames < this.historyFrames) {
      start--;
      frames += Math.max(1, Math.round((this.history[start] as Entry).samples / this.frame));
    }
    while (start < pos && (this.history[start] as Entry).payload === null) start++;
    return start;
  }

  /** Per packet: a container of the history before the entry (historyFrames frames) and the entry. */
  private decodeEntry(entry: Entry, pos: number): Int16Array {
    // History: the entries before this one, at most historyFrames frames of them, without leading lost ones.
    let win: Entry[];
    if (pos === STRAY) {
      win = [entry];
    } else {
      win = this.history.slice(this.historyStart(pos), pos + 1);
    }
    let pcm: Int16Array | undefined;
    let before = 0;
    let end = 0;
    try {
      const { container, trailingFrames } = buildContainer(win.map((e) => e.payload));
      pcm = this.silk.decodeContainer(container, this.sampleRate);
      if (pcm === undefined) throw new Error('silk decoding failure');
      for (let i = 0; i < win.length - 1; i++) before += (win[i] as Entry).samples;
      end = pcm.length - trailingFrames * this.frame;
      const n = end - before;
      if (n <= 0 || n % this.frame !== 0) throw new Error(`SILK decoder returned ${pcm.length} samples where ${before} + k×${this.frame} + ${trailingFrames * this.frame} were expected`);
    } catch (e) {
      entry.payload = null; // later packets see it as lost (one concealed frame) rather than fail in turn
      throw e;
    }
    const n = end - before;
    entry.samples = n;
    // Lost entries right before the newest packet: the SDK's concealment of the gap, on offer to the caller.
    if (pos !== STRAY && pos === this.history.length - 1) {
      let k = 0;
      for (let i = win.length - 2; i >= 0 && (win[i] as Entry).payload === null; i--) k++;
      if (k > 0) {
        const samples = k * this.frame;
        this.concealment.push({ rtpTimestamp: (entry.timestamp - samples * (this.clockRate / this.sampleRate)) >>> 0, pcm: pcm.slice(before - samples, before) });
      }
    }
    return pcm.slice(before, end);
  }

  /**
   * The entry continues the stream right after the previous packet (no gap, one 20 ms frame from its timestamp),
   * so it can join the batch: the batch's packets then decode exactly as they would one by one.
   */
  private extendsBatch(entry: Entry, pos: number): boolean {
    if (pos !== this.history.length - 1 || pos === 0) return false;
    const prev = this.history[pos - 1] as Entry;
    if (prev.payload === null || tsDelta(prev.timestamp, entry.timestamp) !== this.frame * (this.clockRate / this.sampleRate)) return false;
    const last = this.pending[this.pending.length - 1];
    // The first packet of a batch follows a packet already decoded (its frame count known); later ones the batch.
    return last === undefined ? prev.samples === this.frame : last.entry === prev;
  }

  /** Decodes the held batch: one container of history + batch; each packet gets its 20 ms. */
  private decodePending(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const first = this.history.indexOf(batch[0]!.entry);
    const last = this.history.indexOf(batch[batch.length - 1]!.entry);
    let contiguous = first >= 0 && last - first === batch.length - 1;
    for (let i = 0; contiguous && i < batch.length; i++) contiguous = this.history[first + i] === batch[i]!.entry;
    let pcm: Int16Array | undefined;
    let before = 0;
    if (contiguous) {
      const start = this.historyStart(first);
      const win = this.history.slice(start, last + 1);
      for (let i = 0; i < first - start; i++) before += (win[i] as Entry).samples;
      const { container, trailingFrames } = buildContainer(win.map((e) => e.payload));
      try {
        pcm = this.silk.decodeContainer(container, this.sampleRate);
      } catch {
        pcm = undefined; // one by one below: each failure is then the packet's own
      }
      // A packet held as one frame that carried several would shift the split: decode one by one instead.
      if (pcm !== undefined && pcm.length - trailingFrames * this.frame - before !== batch.length * this.frame) pcm = undefined;
    }
    for (let i = 0; i < batch.length; i++) {
      const b = batch[i]!;
      let out: Int16Array;
      if (pcm !== undefined) {
        out = pcm.slice(before + i * this.frame, before + (i + 1) * this.frame);
        b.entry.samples = this.frame;
      } else {
        const pos = this.history.indexOf(b.entry);
        try {
          out = this.decodeEntry(b.entry, pos < 0 ? STRAY : pos);
        } catch {
          continue; // counted as lost by the next packets (decodeEntry marked it)
        }
      }
      this.ready.push({ rtpTimestamp: b.rtpTimestamp, seq: b.seq, pcm: out });
    }
  }

  /** Audio of batched packets, decoded since the last call (in packet order). */
  drainAudio(): DelayedAudio[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Decodes whatever the batch holds (the stream paused, or ends). */
  flush(): void {
    this.decodePending();
  }

  /**
   * Files the entry into the history in sequence order (lost entries for gaps) and returns its index; DUPLICATE
   * for a packet already decoded, STRAY for one far outside the sequence, decoded on its own (RFC 3550 A.1:
   * a jump is only believed, and the history restarted, when the next packet continues from it).
   */
  private place(e: Entry, rtp?: RtpFrameInfo): number {
    const h = this.history;
    if (rtp === undefined) {
      e.seq = this.nextSeq++;
      h.push(e);
      this.trim();
      return h.length - 1;
    }
    e.timestamp = rtp.timestamp;
    const last = h[h.length - 1];
    const delta = last === undefined ? 0 : seqDelta(this.maxSeq & 0xffff, rtp.seq);
    const jump = delta > MAX_DROPOUT || delta < -MAX_MISORDER;
    if (last === undefined || this.ssrc !== rtp.ssrc || (jump && rtp.seq === this.probeSeq)) {
      if (last !== undefined) this.restarts++;
      h.length = 0;
      this.ssrc = rtp.ssrc;
      this.maxSeq = rtp.seq;
      this.probeSeq = -1;
      e.seq = rtp.seq;
      h.push(e);
      return 0;
    }
    if (jump) {
      this.probeSeq = (rtp.seq + 1) & 0xffff;
      return STRAY;
    }
    this.probeSeq = -1;
    const seq = this.maxSeq + delta;
    e.seq = seq;
    if (delta > 0) {
      const missing = delta - 1;
      if (missing > 0) {
        // Frames lost: from the timestamps when they are sane, else one frame per missing packet.
        const gapTicks = tsDelta(last.timestamp, rtp.timestamp) - last.samples * (this.clockRate / this.sampleRate);
        const lostFrames = Math.max(missing, gapTicks > 0 ? Math.round(gapTicks / this.frame) : missing);
        // Each missing packet gets its share of lost entries; only the last historyFrames + 1 can matter
        // (leading lost entries of a history are dropped), so a long gap amounts to a fresh decoder.
        const perPacket = Math.max(1, Math.round(lostFrames / missing));
        const lost: Entry[] = [];
        for (let m = seq - 1; m > this.maxSeq && lost.length <= this.historyFrames; m--) {
          for (let k = 0; k < perPacket && lost.length <= this.historyFrames; k++) lost.push({ seq: m, timestamp: 0, payload: null, samples: this.frame });
        }
        h.push(...lost.reverse());
        this.concealed += lost.length;
      }
      this.maxSeq = seq;
      h.push(e);
      this.trim();
      return h.length - 1;
    }
    // Late (or duplicate): its lost entries become the packet; else it goes where its number belongs.
    let i = h.length - 1;
    while (i >= 0 && (h[i] as Entry).seq > seq) i--;
    if (i >= 0 && (h[i] as Entry).seq === seq) {
      if ((h[i] as Entry).payload !== null) return DUPLICATE;
      let first = i;
      while (first > 0 && (h[first - 1] as Entry).seq === seq) first--;
      h.splice(first, i - first + 1, e);
      this.reordered++;
      return first;
    }
    this.reordered++;
    h.splice(i + 1, 0, e);
    return i + 1;
  }

  /**
   * Audio the SILK decoder made up for lost packets (its PLC), found while decoding the packet after a gap
   * of up to historyFrames frames, placed by RTP timestamp. Not part of the Decoder contract (yet): a core
   * that calls it can fill gaps with concealment instead of silence. Returns and forgets what it holds.
   */
  drainConcealment(): ConcealedAudio[] {
    const out = this.concealment;
    this.concealment = [];
    return out;
  }

  private trim(): void {
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
  }

  close(): void {
    this.decodePending();
    this.history.length = 0;
    this.concealment = [];
  }
}

export interface SilkCodecOptions {
  silk8PayloadTypes: readonly number[];
  silk16PayloadTypes: readonly number[];
  /** Frames of history re-decoded with each packet (default WARMUP_FRAMES). */
  historyFrames?: number;
  /** Consecutive packets decoded together, their audio delivered through drainAudio() (default 1: per packet). */
  batchPackets?: number;
}

/** The codec service: SILK at every rate silk-wasm decodes, plus the configured rtpmap-less payload types. */
export function createSilkCodec(silk: SilkWasm, opts: SilkCodecOptions): Codec {
  const staticPayloadTypes: Record<number, string> = {};
  for (const pt of opts.silk8PayloadTypes) staticPayloadTypes[pt] = 'SILK/8000';
  for (const pt of opts.silk16PayloadTypes) staticPayloadTypes[pt] = 'SILK/16000';
  return {
    encodings: SILK_RATES.map((r) => `SILK/${r}`),
    staticPayloadTypes,
    createDecoder(stream: StreamInfo): Decoder {
      if (stream.encoding.toUpperCase() !== 'SILK' || !(SILK_RATES as readonly number[]).includes(stream.clockRate)) {
        throw new Error(`codec-silk decodes SILK at ${SILK_RATES.join('/')} Hz only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
      }
      return new SilkStreamDecoder(silk, stream.clockRate, opts.historyFrames ?? WARMUP_FRAMES, opts.batchPackets ?? 1);
    },
  };
}
