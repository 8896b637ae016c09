/**
 * G.722 codec service: one decoder per RTP stream, mono (RFC 3551 §4.5.2, `G722/8000`, PT 9) or Microsoft's
 * stereo variant (`G722/8000/2`, PT 117 in Lync / Skype for Business offers).
 *
 * Stereo layout ([MS-RTP] §2.2.1.1 "G722 Encoding"): "G722 stereo encoding concatenates two G722 mono encodings,
 * with the left channel's encoding at the beginning, followed by the right channel's encoding", i.e. a payload is
 * `left octets || right octets`, each half an ordinary G.722 mono frame (so NOT RFC 3551 §4.1's per-sample
 * interleaving). The same section says mono G.722 may be sent on PT 9 *or* 117, so a stream negotiated as
 * `G722/8000/2` can carry mono frames. The decoder therefore checks the layout from the RTP header: between
 * consecutive packets the timestamp advances by one tick per octet for mono and by one tick per octet *pair*
 * for stereo (the RTP clock is 8000 either way). Until the second packet proves otherwise, a 2-channel stream
 * is taken to be stereo. Stereo is mixed down to mono ((L + R) / 2) at 16 kHz, as the timeline wants.
 * This layout logic is written from the specification only: no stereo Lync capture was available to test it.
 */
import type { Codec, Decoder, RtpFrameInfo, StreamInfo } from '../../core/plugin-api';
import { G722_PAYLOAD_TYPE, G722_RTP_CLOCK, G722_SAMPLE_RATE, G722Decoder } from './g722';

/** A timestamp jump beyond this (RTP ticks, i.e. 1 s at 8000) restarts the decoder state: stale predictor
 * state after a long silence (hold, a restarted sender) is worth nothing, and G.722 re-converges in a few ms. */
export const G722_RESET_JUMP_TICKS = G722_RTP_CLOCK;
/** A sequence jump beyond this many packets also restarts the state (RFC 3550 A.1's MAX_MISORDER is 100). */
export const G722_RESET_JUMP_PACKETS = 100;

type Layout = 'mono' | 'stereo';

function seqDelta(a: number, b: number): number {
  return ((b - a + 32768) & 0xffff) - 32768;
}

function tsDelta(a: number, b: number): number {
  return (b - a) | 0;
}

export class G722StreamDecoder implements Decoder {
  readonly sampleRate = G722_SAMPLE_RATE;
  private readonly left = new G722Decoder();
  private readonly right = new G722Decoder();
  private layoutNow: Layout;
  private last: { ts: number; seq: number; ssrc: number; len: number } | undefined;
  /** Times the state was restarted (SSRC change, timestamp or sequence jump). */
  resets = 0;

  constructor(readonly channels: number) {
    this.layoutNow = channels === 2 ? 'stereo' : 'mono';
  }

  /** The payload layout in use: for a `G722/8000/2` stream, what the RTP timestamps showed (see file header). */
  get layout(): Layout {
    return this.layoutNow;
  }

  decode(payload: Buffer, rtp?: RtpFrameInfo): Int16Array | null {
    if (payload.length === 0) return null;
    if (rtp !== undefined) this.track(payload.length, rtp);
    if (this.layoutNow === 'mono' || payload.length < 2) {
      const out = new Int16Array(payload.length * 2);
      this.left.decodeInto(payload, 0, payload.length, out, 0);
      return out;
    }
    // Stereo: left half then right half ([MS-RTP] §2.2.1.1); an odd last octet cannot belong to either.
    const half = payload.length >> 1;
    const l = new Int16Array(half * 2);
    const r = new Int16Array(half * 2);
    this.left.decodeInto(payload, 0, half, l, 0);
    this.right.decodeInto(payload, half, half, r, 0);
    for (let i = 0; i < l.length; i++) l[i] = ((l[i] as number) + (r[i] as number)) >> 1;
    return l;
  }

  private track(len: number, rtp: RtpFrameInfo): void {
    const last = this.last;
    this.last = { ts: rtp.timestamp, seq: rtp.seq, ssrc: rtp.ssrc, len };
    if (last === undefined) return;
    if (last.ssrc !== rtp.ssrc) {
      this.reset();
      return;
    }
    const dSeq = seqDelta(last.seq, rtp.seq);
    const dTs = tsDelta(last.ts, rtp.timestamp);
    if (Math.abs(dTs) > G722_RESET_JUMP_TICKS || Math.abs(dSeq) > G722_RESET_JUMP_PACKETS) {
      this.reset();
      return;
    }
    if (this.channels === 2 && dSeq === 1 && dTs > 0) {
      // The previous packet lasted dTs ticks (8000 Hz) and held last.len octets.
      const seen: Layout | undefined = last.len === dTs ? 'mono' : last.len === 2 * dTs ? 'stereo' : undefined;
      if (seen !== undefined && seen !== this.layoutNow) {
        this.layoutNow = seen;
        this.reset();
      }
    }
  }

  private reset(): void {
    this.left.reset();
    this.right.reset();
    this.resets++;
  }

  close(): void {
    // Plain JS state: nothing to release.
  }
}

export const g722Codec: Codec = {
  encodings: ['G722/8000'],
  staticPayloadTypes: { [G722_PAYLOAD_TYPE]: 'G722/8000' },
  createDecoder(stream: StreamInfo): Decoder {
    if (stream.encoding.toUpperCase() !== 'G722' || stream.clockRate !== G722_RTP_CLOCK) {
      throw new Error(`codec-g722 decodes G722/8000 only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
    }
    // Only Microsoft's 2-channel layout is defined; any other count is decoded as mono rather than refused.
    return new G722StreamDecoder(stream.channels === 2 ? 2 : 1);
  },
};
