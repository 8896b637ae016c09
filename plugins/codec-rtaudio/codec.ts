/**
 * RTAudio (Microsoft's proprietary x-msrta codec): without a licensed decoder, a placeholder decoder that says
 * "not decoded", so the recorder keeps the packets losslessly (decrypted, in a pcap with the SDP) and flags the
 * recording; with one (decoder-module.ts), that decoder. Never garbage audio: no open decoder exists.
 */
import type { Codec, Decoder, StreamInfo } from '../../core/plugin-api';
import { decoderShapeProblem, type RtaudioDecoderModule } from './decoder-module';

/** The flag the recorder puts on a recording whose RTAudio was kept, not decoded. */
export const RTAUDIO_NOT_DECODED = 'RTAudio — not decoded';
/** x-msrta/8000 (bitrate=11800) and x-msrta/16000 (bitrate=29000); the RTP clock is the sampling rate. */
export const RTAUDIO_RATES = [8000, 16000] as const;
export const RTAUDIO_ENCODINGS: readonly string[] = RTAUDIO_RATES.map((r) => `x-msrta/${r}`);
/** Lync's usual payload types (lync-protocols.md §1.4). */
export const DEFAULT_RTAUDIO8_PAYLOAD_TYPES = [115];
export const DEFAULT_RTAUDIO16_PAYLOAD_TYPES = [114];

export class NotDecodedRtaudio implements Decoder {
  readonly sampleRate: number;

  constructor(
    private readonly stream: StreamInfo,
    readonly notDecoded: string = RTAUDIO_NOT_DECODED,
  ) {
    this.sampleRate = stream.clockRate;
  }

  decode(_payload: Buffer): Int16Array | null {
    throw new Error(
      `RTAudio (x-msrta/${this.stream.clockRate}, payload type ${this.stream.payloadType}) is not decoded: no open decoder exists; ` +
        'its packets are kept for offline decoding (codec-rtaudio option "decoder" names a licensed one)',
    );
  }

  close(): void {
    // Nothing held.
  }
}

export interface RtaudioCodecOptions {
  rtaudio8PayloadTypes: readonly number[];
  rtaudio16PayloadTypes: readonly number[];
  /** Module specifier of a licensed decoder (see RtaudioDecoderModule). */
  decoder?: string;
  /** Passed to the licensed decoder's init(). */
  decoderOptions?: Readonly<Record<string, unknown>>;
}

export interface RtaudioCodecDeps {
  /** A loaded licensed decoder module; without one every stream is kept undecoded. */
  licensed?: RtaudioDecoderModule;
  /** Told when the licensed decoder fails for a stream (which is then kept undecoded instead). */
  onDecoderFailure?: (message: string, stream: StreamInfo) => void;
}

export function createRtaudioCodec(opts: RtaudioCodecOptions, deps: RtaudioCodecDeps = {}): Codec {
  const staticPayloadTypes: Record<number, string> = {};
  for (const pt of opts.rtaudio8PayloadTypes) staticPayloadTypes[pt] = 'x-msrta/8000';
  for (const pt of opts.rtaudio16PayloadTypes) staticPayloadTypes[pt] = 'x-msrta/16000';
  const { licensed, onDecoderFailure } = deps;
  return {
    encodings: RTAUDIO_ENCODINGS,
    staticPayloadTypes,
    createDecoder(stream: StreamInfo): Decoder {
      if (stream.encoding.toLowerCase() !== 'x-msrta' || !(RTAUDIO_RATES as readonly number[]).includes(stream.clockRate)) {
        throw new Error(`codec-rtaudio handles x-msrta at ${RTAUDIO_RATES.join('/')} Hz only, not "${stream.encoding}/${stream.clockRate}" (payload type ${stream.payloadType})`);
      }
      if (licensed === undefined) return new NotDecodedRtaudio(stream);
      // A failing licensed decoder must cost the audio of one stream, not the call: keep its packets instead.
      let problem: string | undefined;
      try {
        const d: unknown = licensed.createDecoder({ ...stream });
        problem = decoderShapeProblem(d);
        if (problem === undefined) return d as Decoder;
      } catch (e) {
        problem = `createDecoder() threw: ${(e as Error)?.message ?? String(e)}`;
      }
      const message = `licensed RTAudio decoder failed for payload type ${stream.payloadType} (x-msrta/${stream.clockRate}): ${problem}`;
      onDecoderFailure?.(message, stream);
      return new NotDecodedRtaudio(stream, `${RTAUDIO_NOT_DECODED} (${message})`);
    },
  };
}
