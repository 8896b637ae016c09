/** CN codec service: one ComfortNoiseDecoder per stream. */
import type { Codec, Counters, Decoder, StreamInfo } from '../../core/plugin-api';
import { CN_PAYLOAD_TYPE, ComfortNoiseDecoder } from './comfort-noise';

/** RFC 3389 lets CN run at the audio codec's clock; these are the rates SDPs use (8 k static, wideband ones). */
export const CN_ENCODINGS = ['CN/8000', 'CN/16000', 'CN/24000', 'CN/32000'] as const;

export function comfortNoiseCodec(counters?: Counters): Codec {
  return {
    encodings: CN_ENCODINGS,
    staticPayloadTypes: { [CN_PAYLOAD_TYPE]: 'CN/8000' },
    createDecoder(stream: StreamInfo): Decoder {
      if (stream.encoding.toUpperCase() !== 'CN') {
        throw new Error(`codec-cn decodes CN only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
      }
      return new ComfortNoiseDecoder(stream.clockRate, counters);
    },
  };
}
