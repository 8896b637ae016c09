/**
 * The Opus codec service: one decoder per RTP stream of `opus/48000/2` (RFC 7587: the rtpmap always says 48000 and
 * 2 channels, whatever the sender codes). Opus has no static payload type: it is always named by an rtpmap.
 */
import type { Codec, Decoder, StreamInfo } from 'tapline/plugin';
import { NotDecodedOpus, OPUS_RATE, OpusStreamDecoder, type OpusDecoderOptions, type OpusStatsSink } from './decoder';
import type { OpusNative } from './native';

/** The encodings this codec decodes, as the codec registry keys them (case-insensitive; channels are not part of the key). */
export const OPUS_ENCODINGS: readonly string[] = [`OPUS/${OPUS_RATE}`];

export interface OpusCodecOptions extends OpusDecoderOptions {
  /** The loaded addon; null (or absent) when it is not available: every stream is then flagged "not decoded". */
  native?: OpusNative | null;
  /** Why the addon is not available (shown in the recording's flag). */
  unavailableReason?: string;
  /** Told what the decoders did (FEC recoveries, concealment, DTX...), e.g. the plugin's counters. */
  stats?: OpusStatsSink;
}

export interface OpusCodec extends Codec {
  /** Whether streams are decoded (the addon loaded), and if not why. */
  readonly available: boolean;
  readonly unavailableReason: string | undefined;
}

export function createOpusCodec(opts: OpusCodecOptions = {}): OpusCodec {
  const native = opts.native ?? undefined;
  const reason = native === undefined ? (opts.unavailableReason ?? 'the native addon was not loaded') : undefined;
  const decoderOptions: OpusDecoderOptions = {};
  if (opts.fec !== undefined) decoderOptions.fec = opts.fec;
  if (opts.maxConcealMs !== undefined) decoderOptions.maxConcealMs = opts.maxConcealMs;
  return {
    encodings: OPUS_ENCODINGS,
    available: native !== undefined,
    unavailableReason: reason,
    createDecoder(stream: StreamInfo): Decoder {
      if (stream.encoding.toUpperCase() !== 'OPUS' || stream.clockRate !== OPUS_RATE) {
        throw new Error(`@tapline/codec-opus decodes opus/48000 only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
      }
      if (native === undefined) return new NotDecodedOpus(reason as string);
      return new OpusStreamDecoder(native, decoderOptions, opts.stats);
    },
  };
}
