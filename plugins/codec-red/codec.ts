/** RED codec service: a container "decoder" whose unwrap() hands the recorder the blocks to decode. */
import type { Codec, Decoder, PayloadBlock, StreamInfo } from '../../core/plugin-api';
import { parseRed } from './red';

/**
 * RTP clock rates RED is announced with: 8000 (RFC 2198's examples, and Lync even around 16 kHz RTAudio, MS-RTPRAD
 * §4), 16000 (wideband peers that give RED the clock of what it wraps), 48000 (WebRTC's red/48000 around Opus).
 */
export const RED_RATES = [8000, 16000, 48000] as const;
export const RED_ENCODINGS: readonly string[] = RED_RATES.map((r) => `RED/${r}`);
/** Lync's RED payload type (MS-RTPRAD §4; lync-protocols.md §1.4). */
export const DEFAULT_RED_PAYLOAD_TYPES = [97];

export interface RedCodecOptions {
  /** Payload types taken as RED/8000 when an SDP has no rtpmap for them. */
  payloadTypes: readonly number[];
}

export class RedDecoder implements Decoder {
  readonly sampleRate: number;

  constructor(private readonly stream: StreamInfo) {
    // Nominal: RED produces no PCM itself; its blocks are decoded at their own codecs' rates.
    this.sampleRate = stream.clockRate;
  }

  unwrap(payload: Buffer): PayloadBlock[] {
    return parseRed(payload, this.stream.payloadType);
  }

  decode(_payload: Buffer): Int16Array | null {
    throw new Error(`RED (payload type ${this.stream.payloadType}) is a container, not audio: call unwrap() and decode each block with the decoder of its payload type`);
  }

  close(): void {
    // Stateless.
  }
}

export function createRedCodec(opts: RedCodecOptions): Codec {
  const staticPayloadTypes: Record<number, string> = {};
  for (const pt of opts.payloadTypes) staticPayloadTypes[pt] = 'RED/8000';
  return {
    encodings: RED_ENCODINGS,
    staticPayloadTypes,
    createDecoder(stream: StreamInfo): Decoder {
      if (stream.encoding.toUpperCase() !== 'RED' || !(RED_RATES as readonly number[]).includes(stream.clockRate)) {
        throw new Error(`codec-red unwraps RED at ${RED_RATES.join('/')} Hz only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
      }
      return new RedDecoder(stream);
    },
  };
}
