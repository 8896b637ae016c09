/**
 * RFC 3389 comfort noise. A CN packet says "the sender stopped sending audio (VAD/DTX); play noise at this level
 * until the next packet". Its first byte is the noise level in -dBov (0-127); the rest are optional spectral
 * (reflection) coefficients, ignored here.
 *
 * decode() returns null: no samples are produced, so the call timeline fills the time until the next audio packet
 * with zeros (its normal gap concealment). A recording therefore has silence where the sender had comfort noise,
 * never synthesised noise and never garbage. The level is reported as a MediaEvent for metadata.
 */
import type { Counters, MediaEvent, RtpFrameInfo } from '../../core/plugin-api';

/** RFC 3551 §4.5.4 / RFC 3389 §4: CN's static payload type, always at 8000 Hz. */
export const CN_PAYLOAD_TYPE = 13;

/** The noise level byte: -dBov in the low 7 bits, top bit 0 (RFC 3389 §3.1); undefined if the payload is not CN. */
export function parseNoiseLevel(payload: Buffer): number | undefined {
  if (payload.length < 1) return undefined;
  const b = payload[0] as number;
  return b > 127 ? undefined : b;
}

export interface ComfortNoiseStats {
  packets: number;
  /** Empty payloads or a level byte with the top bit set: ignored. */
  malformed: number;
}

export class ComfortNoiseDecoder {
  readonly stats: ComfortNoiseStats = { packets: 0, malformed: 0 };
  private events: MediaEvent[] = [];
  /** Without RTP header info, the timestamp is unknown: a per-decoder packet number stands in for it. */
  private synthetic = 0;

  constructor(
    readonly sampleRate: number,
    private readonly counters?: Counters,
  ) {}

  decode(payload: Buffer, rtp?: RtpFrameInfo): null {
    this.stats.packets++;
    const level = parseNoiseLevel(payload);
    if (level === undefined) {
      this.stats.malformed++;
      this.counters?.inc('malformed');
      return null;
    }
    const rtpTimestamp = rtp === undefined ? this.synthetic++ : rtp.timestamp >>> 0;
    // levelDbov is the level in dBov (≤ 0): byte 40 means -40 dBov. `|| 0` avoids reporting -0 for level 0.
    this.events.push({ kind: 'comfort-noise', rtpTimestamp, levelDbov: -level || 0 });
    return null;
  }

  drainEvents(): MediaEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  close(): void {
    // Nothing held: every packet's event was queued when it arrived.
  }
}
