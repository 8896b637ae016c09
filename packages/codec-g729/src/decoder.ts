/**
 * One G.729 RTP stream's decoder (RFC 3551 §4.5.6, `G729/8000`, static payload type 18) on bcg729.
 *
 * Payload: N ≥ 0 speech frames of 10 bytes (10 ms each, in order), optionally followed by ONE 2-byte G.729 Annex B
 * SID frame, which is always last. The SID is decoded by bcg729 to comfort noise (bcg729 runs Annex B's CNG).
 * `annexb=no` in the fmtp only means the sender will not send SIDs; nothing else changes. Any other payload size
 * is an error: decode() throws, and the recorder counts the packet and flags the recording.
 *
 * Loss. G.729 is predictive: the decoder must be told of lost frames (bcg729's frame erasure) so the frames after a
 * loss decode right, and the erasure itself gives concealment audio (G.729 §4.4; after a SID, comfort noise). The
 * RTP header tells a loss from silence: a sequence jump of k > 1 means k - 1 packets were lost, and the timestamp
 * span they should have covered (from the end of the previous packet to this one) is concealed — at most
 * `maxConcealPackets` packets and `maxConcealMs`; beyond that the gap is left as silence. A timestamp jump with
 * consecutive sequence numbers is DTX (Annex B silence: the sender sent nothing), not loss, and is left alone.
 * The concealment is decoded before the packet that revealed the loss (decoder state stays in order) and handed
 * out through drainAudio() with the lost packets' own timestamps and sequence numbers, but held for a few packets
 * first: a packet that was only late (reordered) arrives within that time, is decoded normally, and replaces its
 * concealment. flush() hands out everything held. A packet older than the newest is decoded normally too.
 */
import type { Counters, Decoder, DelayedAudio, RtpFrameInfo, StreamInfo } from 'tapline/plugin';
import { G729_FRAME_BYTES, G729_FRAME_SAMPLES, G729_SID_BYTES, type G729Native, type NativeG729Decoder } from './native';

/** RTP clock and output rate. */
export const G729_RATE = 8000;

export interface G729DecoderOptions {
  /** Conceal lost packets with bcg729's frame erasure (default true). */
  concealLoss: boolean;
  /** Longest loss concealed, in ms (default 200). */
  maxConcealMs: number;
  /** Most packets lost in a row that are concealed (default 10). */
  maxConcealPackets: number;
}

export const DEFAULT_G729_DECODER_OPTIONS: Readonly<G729DecoderOptions> = Object.freeze({ concealLoss: true, maxConcealMs: 200, maxConcealPackets: 10 });

/** What one stream's decoder did (also added to the plugin's counters when it has them). */
export interface G729DecoderStats {
  packets: number;
  /** 10-byte speech frames decoded. */
  speechFrames: number;
  /** Annex B SID frames decoded to comfort noise. */
  sidFrames: number;
  /** Losses detected (sequence jumps) and the frames concealed for them. */
  lossEvents: number;
  concealedFrames: number;
  /** Losses left as silence: too many packets or too long (see maxConcealPackets / maxConcealMs). */
  lossesNotConcealed: number;
  /** Packets older than the newest (reordered), and those of them that replaced their concealment. */
  latePackets: number;
  replacedConcealment: number;
  /** Payloads of a size that is not N×10 (+2) bytes. */
  badPayloads: number;
  /** Decoder restarts (a new SSRC). */
  resets: number;
}

/** The subset of the plugin's counters the decoder adds to (names: the G729DecoderStats keys). */
export type G729Counters = Pick<Counters, 'inc'>;

/** Concealment is held until the stream has moved this far past it (packets, or RTP ticks = 60 ms). */
const HOLD_PACKETS = 3;
const HOLD_TICKS = 480;
/** Held concealment is released anyway beyond this many entries. */
const MAX_HELD = 32;
/** A frame count per packet beyond this is not believed when estimating a lost packet's length. */
const MAX_FRAMES_PER_PACKET = 12;

function seqDelta(a: number, b: number): number {
  return ((b - a + 32768) & 0xffff) - 32768;
}

function tsDelta(a: number, b: number): number {
  return (b - a) | 0;
}

/** G.729 fmtp `annexb=no` (RFC 4856 §2.1.9): the sender uses no Annex B. Default yes. */
export function fmtpAnnexB(fmtp: string | undefined): boolean {
  const m = /(?:^|[;\s])annexb\s*=\s*(\w+)/i.exec(fmtp ?? '');
  return m === null || (m[1] ?? '').toLowerCase() !== 'no';
}

export function emptyG729Stats(): G729DecoderStats {
  return { packets: 0, speechFrames: 0, sidFrames: 0, lossEvents: 0, concealedFrames: 0, lossesNotConcealed: 0, latePackets: 0, replacedConcealment: 0, badPayloads: 0, resets: 0 };
}

interface Held {
  chunk: DelayedAudio;
}

export class G729StreamDecoder implements Decoder {
  readonly sampleRate = G729_RATE;
  readonly stats: G729DecoderStats = emptyG729Stats();
  /** False when the SDP said annexb=no (SIDs are still decoded if they come). */
  readonly annexB: boolean;
  private dec: NativeG729Decoder;
  private readonly opts: G729DecoderOptions;
  /** Output buffer, reused; views of it by frame count (no allocation per packet). */
  private buf = new Int16Array(G729_FRAME_SAMPLES * 2);
  private views: Int16Array[] = [];
  /** Newest packet (by sequence number) of the current SSRC. */
  private last: { seq: number; ts: number; ssrc: number; frames: number } | undefined;
  /** Most frames seen in one packet (how long a lost packet probably was). */
  private framesPerPacket = 1;
  private held: Held[] = [];
  private ready: DelayedAudio[] = [];
  private isClosed = false;

  constructor(
    private readonly native: G729Native,
    stream?: StreamInfo,
    opts: Partial<G729DecoderOptions> = {},
    private readonly counters?: G729Counters,
  ) {
    this.opts = { ...DEFAULT_G729_DECODER_OPTIONS, ...opts };
    this.annexB = fmtpAnnexB(stream?.fmtp);
    this.dec = new native.Decoder();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  decode(payload: Buffer, rtp?: RtpFrameInfo): Int16Array | null {
    if (this.isClosed) throw new Error('G.729 decoder is closed');
    const len = payload.length;
    const rest = len % G729_FRAME_BYTES;
    if (rest !== 0 && rest !== G729_SID_BYTES) {
      this.count('badPayloads');
      throw new Error(
        `G.729 payload of ${len} bytes: not whole 10-byte frames optionally followed by one 2-byte SID frame (RFC 3551 §4.5.6, G.729 Annex B)`,
      );
    }
    const speech = (len - rest) / G729_FRAME_BYTES;
    const frames = speech + (rest === 0 ? 0 : 1);
    this.stats.packets++;
    if (rtp !== undefined) this.track(rtp, frames);
    if (frames === 0) return null;
    const out = this.view(frames);
    for (let i = 0; i < speech; i++) {
      this.dec.decode(payload.subarray(i * G729_FRAME_BYTES, (i + 1) * G729_FRAME_BYTES), out, i * G729_FRAME_SAMPLES);
    }
    this.stats.speechFrames += speech;
    if (rest !== 0) {
      this.dec.decodeSid(payload.subarray(len - G729_SID_BYTES), out, speech * G729_FRAME_SAMPLES);
      this.count('sidFrames');
    }
    return out;
  }

  /** Concealment ready to be placed (see the file header): the lost packets' timestamps, sequence numbers and audio. */
  drainAudio(): DelayedAudio[] {
    if (this.ready.length === 0) return [];
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Everything held is made ready (the stream paused or ends). */
  flush(): void {
    for (const h of this.held) this.ready.push(h.chunk);
    this.held = [];
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.held = [];
    this.ready = [];
    this.dec.close();
  }

  private view(frames: number): Int16Array {
    const n = frames * G729_FRAME_SAMPLES;
    if (this.buf.length < n) {
      this.buf = new Int16Array(n);
      this.views = [];
    }
    let v = this.views[frames];
    if (v === undefined) {
      v = this.buf.subarray(0, n);
      this.views[frames] = v;
    }
    return v;
  }

  private count(name: keyof G729DecoderStats, by = 1): void {
    this.stats[name] += by;
    this.counters?.inc(name, by);
  }

  /** Sequence and timestamp tracking: restarts on a new SSRC, conceals losses, notices late packets. */
  private track(rtp: RtpFrameInfo, frames: number): void {
    const last = this.last;
    if (last === undefined || last.ssrc !== rtp.ssrc) {
      if (last !== undefined) this.restart();
      this.last = { seq: rtp.seq, ts: rtp.timestamp, ssrc: rtp.ssrc, frames };
      return;
    }
    const d = seqDelta(last.seq, rtp.seq);
    if (d <= 0) {
      // Reordered (or repeated): decoded normally; if its concealment is still held, this audio replaces it.
      this.count('latePackets');
      const i = this.held.findIndex((h) => h.chunk.seq === rtp.seq);
      if (i >= 0) {
        this.held.splice(i, 1);
        this.count('replacedConcealment');
      }
      return;
    }
    if (frames > 0 && frames <= MAX_FRAMES_PER_PACKET && frames > this.framesPerPacket) this.framesPerPacket = frames;
    if (d > 1) this.conceal(last, rtp, d - 1);
    this.last = { seq: rtp.seq, ts: rtp.timestamp, ssrc: rtp.ssrc, frames };
    this.release(rtp);
  }

  private conceal(last: { seq: number; ts: number; frames: number }, rtp: RtpFrameInfo, lost: number): void {
    this.count('lossEvents');
    const from = (last.ts + last.frames * G729_FRAME_SAMPLES) >>> 0;
    const span = tsDelta(from, rtp.timestamp);
    const o = this.opts;
    if (!o.concealLoss || lost > o.maxConcealPackets || span <= 0 || span > (o.maxConcealMs * G729_RATE) / 1000) {
      this.count('lossesNotConcealed');
      return;
    }
    // The lost packets are taken to be as long as the stream's packets; a span shorter than that (DTX in between,
    // or shorter packets) bounds the concealment, and a longer one is DTX after them (left as silence).
    let frames = Math.min(Math.floor(span / G729_FRAME_SAMPLES), lost * this.framesPerPacket);
    for (let j = 0; j < lost && frames > 0; j++) {
      const n = Math.min(this.framesPerPacket, frames);
      const pcm = new Int16Array(n * G729_FRAME_SAMPLES);
      for (let f = 0; f < n; f++) this.dec.conceal(pcm, f * G729_FRAME_SAMPLES);
      this.count('concealedFrames', n);
      frames -= n;
      this.held.push({ chunk: { rtpTimestamp: (from + j * this.framesPerPacket * G729_FRAME_SAMPLES) >>> 0, seq: (last.seq + 1 + j) & 0xffff, pcm, recovered: 'concealment' } });
    }
  }

  /** Held concealment the stream has moved well past becomes ready. */
  private release(rtp: RtpFrameInfo): void {
    while (this.held.length > 0) {
      const h = this.held[0] as Held;
      const far = seqDelta(h.chunk.seq, rtp.seq) >= HOLD_PACKETS || tsDelta(h.chunk.rtpTimestamp, rtp.timestamp) >= HOLD_TICKS || this.held.length > MAX_HELD;
      if (!far) break;
      this.held.shift();
      this.ready.push(h.chunk);
    }
  }

  /** A new SSRC: a new sender (or a restarted one), so a fresh decoder; what is held is handed out first. */
  private restart(): void {
    this.flush();
    this.dec.close();
    this.dec = new this.native.Decoder();
    this.framesPerPacket = 1;
    this.count('resets');
  }
}

/** The decoder given when the addon is not available: the recorder keeps the packets raw and flags the call. */
export class NotDecodedG729 implements Decoder {
  readonly sampleRate = G729_RATE;

  constructor(
    readonly notDecoded: string,
    private readonly stream?: StreamInfo,
  ) {}

  decode(_payload: Buffer): Int16Array | null {
    throw new Error(`${this.notDecoded}${this.stream === undefined ? '' : ` (payload type ${this.stream.payloadType})`}`);
  }

  close(): void {
    // Nothing held.
  }
}
