/**
 * The G.729 codec service: a fresh G729StreamDecoder per RTP stream when the addon is loaded, else a decoder that
 * says "not decoded" (the recorder keeps such packets losslessly beside the recording and flags it).
 */
import type { Codec, Decoder, StreamInfo } from 'tapline/plugin';
import { G729_RATE, G729StreamDecoder, NotDecodedG729, type G729Counters, type G729DecoderOptions } from './decoder';
import { g729Native, type NativeG729Encoder, type NativeLoad } from './native';

/** RFC 3551 §6: payload type 18 is G729/8000. */
export const G729_PAYLOAD_TYPE = 18;
export const G729_ENCODING = 'G729/8000';
/** The flag text of a recording whose G.729 was kept raw, before the reason in parentheses. */
export const G729_NOT_DECODED = 'G.729 — not decoded: G.729 decoder not available';

export interface G729CodecDeps {
  /** How the addon is loaded (default: once per process, from the package's build folder). */
  load?: () => NativeLoad;
  /** Where decoders add their events (the plugin's counters). */
  counters?: G729Counters;
}

export interface G729Codec extends Codec {
  /** Whether decoders decode (the addon loaded), and why not. */
  readonly available: boolean;
  readonly unavailableReason?: string;
  /** bcg729's version, when loaded. */
  readonly bcg729Version?: string;
  createDecoder(stream: StreamInfo): Decoder;
}

export function createG729Codec(opts: Partial<G729DecoderOptions> = {}, deps: G729CodecDeps = {}): G729Codec {
  const loaded = (deps.load ?? g729Native)();
  const base = { encodings: [G729_ENCODING] as readonly string[], staticPayloadTypes: { [G729_PAYLOAD_TYPE]: G729_ENCODING } };
  const check = (stream: StreamInfo): void => {
    if (stream.encoding.toUpperCase() !== 'G729' || stream.clockRate !== G729_RATE) {
      throw new Error(`@tapline/codec-g729 decodes G729/8000 only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
    }
  };
  if (!loaded.ok) {
    const flag = `${G729_NOT_DECODED} (${loaded.reason})`;
    return {
      ...base,
      available: false,
      unavailableReason: loaded.reason,
      createDecoder(stream: StreamInfo): Decoder {
        check(stream);
        return new NotDecodedG729(flag, stream);
      },
    };
  }
  const native = loaded.native;
  return {
    ...base,
    available: true,
    bcg729Version: native.bcg729Version,
    createDecoder(stream: StreamInfo): G729StreamDecoder {
      check(stream);
      return new G729StreamDecoder(native, stream, opts, deps.counters);
    },
  };
}

/** A bcg729 encoder (vad: Annex B VAD/DTX), for tests and tools; throws when the addon is not available. */
export function createG729Encoder(vad: boolean, load: () => NativeLoad = g729Native): NativeG729Encoder {
  const loaded = load();
  if (!loaded.ok) throw new Error(`G.729 encoder not available (${loaded.reason})`);
  return new loaded.native.Encoder(vad);
}
