/** telephone-event codec service: one TelephoneEventDecoder per stream, at any of the usual clock rates. */
import type { Codec, Counters, Decoder, StreamInfo } from '../../core/plugin-api';
import { TelephoneEventDecoder } from './telephone-event';

/** Clock rates offered in practice: 8000 with narrowband audio, 16000 with G.722/wideband, 48000 with Opus. */
export const TELEPHONE_EVENT_ENCODINGS = ['telephone-event/8000', 'telephone-event/16000', 'telephone-event/48000'] as const;

/** A telephone-event codec; `counters` (the plugin's) receive the decoders' malformed/ignored/press counts. */
export function telephoneEventCodec(counters?: Counters): Codec {
  return {
    encodings: TELEPHONE_EVENT_ENCODINGS,
    // telephone-event has no static payload type (RFC 4733 §7.1): it is always negotiated with an rtpmap.
    createDecoder(stream: StreamInfo): Decoder {
      if (stream.encoding.toLowerCase() !== 'telephone-event') {
        throw new Error(`codec-telephone-event decodes telephone-event only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
      }
      // Events carry no audio; sampleRate is the RTP clock so durations read in the stream's own units.
      return new TelephoneEventDecoder(stream.clockRate, counters);
    },
  };
}
