/**
 * One Opus RTP stream (RFC 7587) to 48 kHz mono PCM on libopus, with loss repair.
 *
 * Output: libopus decodes every mode (SILK, CELT, hybrid), every frame size and multi-frame packets (TOC codes 1-3)
 * itself, and a decoder made for one output channel mixes a stereo stream down to mono. The RTP clock of Opus is
 * always 48 kHz (RFC 7587 §4.1), so a packet's duration in samples is its duration in RTP ticks.
 *
 * Loss. The RTP sequence number says when packets are missing before the one being decoded; the timestamps say
 * how much audio they held (from the end of the previous packet to this packet's timestamp):
 *   - one packet missing: its audio is decoded from this packet's in-band FEC data (libopus opus_decode with
 *     decode_fec=1; SILK and hybrid packets of an encoder with FEC on carry a low-bitrate copy of the previous
 *     frame). Where this packet has none (CELT-only, or FEC off at the sender) libopus conceals instead;
 *   - several missing, the gap up to maxConcealMs (default 200): packet loss concealment (PLC) for all but the
 *     last, FEC for the last;
 *   - a longer gap, or timestamps that do not make sense: nothing (the recording has silence there).
 * That audio is handed out through drainAudio() (the recorder drains it after each decode(), before it places the
 * packet's own audio), one chunk per missing packet with its sequence number and RTP timestamp, so it lands where
 * the lost packet belonged. A lost packet that arrives late after all is not decoded again (its place is filled).
 *
 * DTX (discontinuous transmission). A sender in DTX stops sending during silence: the sequence number continues
 * and the timestamp jumps. That is no loss and nothing is concealed: the recording has silence there, as for any
 * silence-suppressed stream. A payload of 1 or 2 bytes is a DTX frame (a TOC without coded audio): it is passed to
 * libopus, so the decoder state follows the sender, but its output (libopus's concealment / comfort noise) is not
 * recorded: decode() returns null, as Tapline records comfort noise as silence everywhere. An empty payload
 * carries nothing at all: null.
 */
import type { Decoder, DelayedAudio, RtpFrameInfo } from 'tapline/plugin';
import type { NativeOpusDecoder, OpusNative } from './native';

/** Opus's RTP clock and Tapline's output rate for it. */
export const OPUS_RATE = 48000;
/** The longest packet Opus allows: 120 ms. */
export const MAX_PACKET_SAMPLES = 5760;
/** 2.5 ms at 48 kHz: PLC and FEC durations are multiples of it. */
const QUANTUM = 120;
/** Payloads this short carry no coded audio (a TOC, maybe a frame-count byte). */
export const DTX_MAX_BYTES = 2;
/** Sequence numbers of concealed or FEC-filled packets remembered, so a late original is not decoded twice. */
const FILLED_MEMORY = 32;
/** RFC 3550 A.1's MAX_MISORDER: a packet further behind than this is a sender restart, not a late packet. */
const MAX_MISORDER = 100;

export interface OpusDecoderOptions {
  /** Decode a lost packet from the next packet's in-band FEC (default true); false: conceal it. */
  fec?: boolean;
  /** Longest gap (ms) filled with PLC/FEC; longer ones stay silent (default 200; 0 fills nothing). */
  maxConcealMs?: number;
}

/** What a decoder (or all of a codec's decoders) did, beyond plain decoding. */
export interface OpusDecodeStats {
  /** Packets decoded (DTX frames included). */
  packets: number;
  /** DTX frames (1-2 byte payloads) and empty payloads: decoded as silence. */
  dtx: number;
  /** Lost packets whose audio came from the next packet's in-band FEC. */
  fecRecovered: number;
  /** Lost packets filled by packet loss concealment (no FEC for them). */
  concealed: number;
  /** Samples (48 kHz) of audio made up for lost packets, FEC and PLC together. */
  filledSamples: number;
  /** Gaps left silent: longer than maxConcealMs, or with timestamps that do not fit the sequence numbers. */
  gapsNotFilled: number;
  /** Late packets whose place FEC or PLC had already filled (not decoded). */
  lateSkipped: number;
  /** Decoder restarts (SSRC change). */
  resets: number;
}

export function emptyStats(): OpusDecodeStats {
  return { packets: 0, dtx: 0, fecRecovered: 0, concealed: 0, filledSamples: 0, gapsNotFilled: 0, lateSkipped: 0, resets: 0 };
}

/** Where a decoder reports what it did (the plugin's counters: "@tapline/codec-opus.fecRecovered"...). */
export interface OpusStatsSink {
  inc(name: string, by?: number): void;
}

function seqDelta(a: number, b: number): number {
  return ((b - a + 32768) & 0xffff) - 32768;
}

function tsDelta(a: number, b: number): number {
  return (b - a) | 0;
}

interface Last {
  seq: number;
  ts: number;
  ssrc: number;
  /** Samples the packet decoded to (its duration in RTP ticks). */
  dur: number;
}

export class OpusStreamDecoder implements Decoder {
  readonly sampleRate = OPUS_RATE;
  /** What this stream's decoding did (see OpusDecodeStats). */
  readonly stats: OpusDecodeStats = emptyStats();
  private readonly dec: NativeOpusDecoder;
  /** decode()'s output, reused (the Decoder contract allows it). */
  private readonly out = new Int16Array(MAX_PACKET_SAMPLES);
  private readonly fec: boolean;
  private readonly maxConceal: number;
  private last: Last | undefined;
  private ready: DelayedAudio[] = [];
  private readonly filled: number[] = [];

  constructor(
    private readonly native: OpusNative,
    opts: OpusDecoderOptions = {},
    private readonly sink?: OpusStatsSink,
  ) {
    this.fec = opts.fec ?? true;
    const ms = opts.maxConcealMs ?? 200;
    if (!(ms >= 0 && ms <= 1000)) throw new RangeError(`maxConcealMs must be within 0..1000, got ${ms}`);
    this.maxConceal = Math.floor((ms * OPUS_RATE) / 1000 / QUANTUM) * QUANTUM;
    this.dec = new native.Decoder(OPUS_RATE, 1);
  }

  decode(payload: Buffer, rtp?: RtpFrameInfo): Int16Array | null {
    if (rtp !== undefined && this.before(payload, rtp)) return null;
    if (payload.length === 0) {
      this.count('dtx');
      if (rtp !== undefined) this.last = { seq: rtp.seq, ts: rtp.timestamp, ssrc: rtp.ssrc, dur: 0 };
      return null;
    }
    // Throws on a malformed packet: then `last` stays where it was, and the next packet's FEC fills this one.
    const n = this.dec.decode(payload, this.out);
    this.count('packets');
    if (rtp !== undefined) this.last = { seq: rtp.seq, ts: rtp.timestamp, ssrc: rtp.ssrc, dur: n };
    if (payload.length <= DTX_MAX_BYTES) {
      this.count('dtx');
      return null;
    }
    return this.out.subarray(0, n);
  }

  /**
   * Sequence bookkeeping before a packet is decoded: a new SSRC restarts the decoder; missing packets are filled
   * (into `ready`). True when the packet must not be decoded (a late one whose place is filled already).
   */
  private before(payload: Buffer, rtp: RtpFrameInfo): boolean {
    const last = this.last;
    if (last === undefined) return false;
    if (last.ssrc !== rtp.ssrc) {
      this.dec.reset();
      this.last = undefined;
      this.filled.length = 0;
      this.count('resets');
      return false;
    }
    const d = seqDelta(last.seq, rtp.seq);
    if (d < -MAX_MISORDER) {
      // The sender's numbering started again (same SSRC): follow it from here, nothing to fill.
      this.last = undefined;
      this.filled.length = 0;
      return false;
    }
    if (d <= 0) {
      // Late (reordered): decoded where it belongs unless FEC or PLC stood in for it already. `last` stays.
      if (this.filled.includes(rtp.seq)) {
        this.count('lateSkipped');
        return true;
      }
      return false;
    }
    if (d >= 2 && payload.length > 0) this.fillGap(last, rtp, d - 1, payload);
    return false;
  }

  /** `missing` packets lost between `last` and the packet `rtp`/`next`: PLC for all but the last, FEC for the last. */
  private fillGap(last: Last, rtp: RtpFrameInfo, missing: number, next: Buffer): void {
    const start = (last.ts + last.dur) >>> 0;
    const span = tsDelta(start, rtp.timestamp);
    // Each missing packet's share of the gap, in whole 2.5 ms units (Opus frame sizes all are).
    const per = span / missing;
    if (span <= 0 || span > this.maxConceal || !Number.isInteger(per) || per % QUANTUM !== 0) {
      this.count('gapsNotFilled');
      return;
    }
    for (let i = 0; i < missing; i++) {
      const seq = (last.seq + 1 + i) & 0xffff;
      const ts = (start + i * per) >>> 0;
      const pcm = new Int16Array(per);
      let recovered: 'redundancy' | 'concealment' = 'concealment';
      if (i === missing - 1 && this.fec && this.carriesFec(next, per)) {
        try {
          this.dec.decodeFec(next, per, pcm);
          this.count('fecRecovered');
          recovered = 'redundancy';
        } catch {
          // A packet libopus cannot parse has no FEC to give either; decode() will say what is wrong with it.
          this.dec.conceal(per, pcm);
          this.count('concealed');
        }
      } else {
        this.dec.conceal(per, pcm);
        this.count('concealed');
      }
      this.count('filledSamples', per);
      this.ready.push({ rtpTimestamp: ts, seq, pcm, recovered });
      this.filled.push(seq);
      if (this.filled.length > FILLED_MEMORY) this.filled.shift();
    }
  }

  /** The packet's first frame has FEC data for a lost packet of `duration` samples (not shorter than a frame). */
  private carriesFec(packet: Buffer, duration: number): boolean {
    try {
      const info = this.native.packetInfo(packet);
      return info.fec && info.mode !== 'celt' && duration >= info.samplesPerFrame;
    } catch {
      return false;
    }
  }

  /** Audio made up for lost packets since the last call (FEC or PLC), each chunk at its lost packet's place. */
  drainAudio(): DelayedAudio[] {
    if (this.ready.length === 0) return NONE;
    const out = this.ready;
    this.ready = [];
    return out;
  }

  private count(what: keyof OpusDecodeStats, by = 1): void {
    this.stats[what] += by;
    this.sink?.inc(what, by);
  }

  close(): void {
    this.dec.close();
    this.ready = [];
  }
}

const NONE: DelayedAudio[] = [];
Object.freeze(NONE);

/** The reason an Opus recording carries when no decoder is available. */
export function notDecodedText(reason: string): string {
  return `Opus — not decoded: Opus decoder not available (${reason})`;
}

/**
 * Stands in when the addon is not available: the recorder keeps the stream's packets losslessly beside the
 * recording (decrypted, in a pcap with the call's SDP) and flags the recording; decode() is never called.
 */
export class NotDecodedOpus implements Decoder {
  /**
   * This decoder gives no audio. The recorder sizes a call's output rate from its codecs' decoders: 8000 (the lowest
   * any codec gives) lets the other side's codec decide, instead of recording it at 48 kHz for nothing.
   */
  readonly sampleRate = 8000;
  readonly notDecoded: string;

  constructor(readonly reason: string) {
    this.notDecoded = notDecodedText(reason);
  }

  decode(_payload: Buffer): Int16Array | null {
    throw new Error(`${this.notDecoded}: its packets are kept, not decoded`);
  }

  close(): void {
    // Nothing held.
  }
}
