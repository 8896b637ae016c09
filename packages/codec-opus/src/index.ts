/**
 * @tapline/codec-opus: a Tapline codec plugin decoding Opus (opus/48000/2, RFC 7587) on the system libopus, through
 * a small N-API addon built at install. Lost packets are filled from the next packet's in-band FEC, or concealed
 * (PLC); see decoder.ts. Without the addon (no libopus-dev or C compiler at install) Opus streams are kept raw and
 * the recording is flagged "Opus — not decoded".
 *
 * Config: `{ "use": "@tapline/codec-opus" }`, options `fec` (default true) and `maxConcealMs` (default 200).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePlugin, TAPLINE_API, Tokens } from 'tapline/plugin';
import { createOpusCodec, OPUS_ENCODINGS } from './codec';
import { loadOpusNative } from './native';
import { opusEncoderProvider } from './storage-encoder';

export interface OpusPluginOptions {
  fec: boolean;
  maxConcealMs: number;
}

function packageVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

const plugin = definePlugin<OpusPluginOptions>({
  name: '@tapline/codec-opus',
  kind: 'codec',
  api: TAPLINE_API,
  version: packageVersion(),
  description: 'Opus decoder (opus/48000/2, 48 kHz mono output) on the system libopus, with in-band FEC and packet loss concealment; and the Opus encoder storage uses for Ogg Opus archives',
  encodings: OPUS_ENCODINGS,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      fec: {
        type: 'boolean',
        default: true,
        description: "Decode a lost packet from the next packet's in-band FEC data (when the sender puts it there: useinbandfec=1); false conceals it instead.",
      },
      maxConcealMs: {
        type: 'integer',
        minimum: 0,
        maximum: 1000,
        default: 200,
        description: 'Longest run of lost packets (ms) filled with concealment (and FEC for its last packet); longer gaps stay silent. 0: never fill.',
      },
    },
  },
  register(ctx) {
    const loaded = loadOpusNative();
    if (loaded.native === undefined) {
      ctx.log.warn('Opus decoder not available: Opus streams will be kept undecoded and flagged', { reason: loaded.reason });
    } else {
      ctx.log.debug('libopus loaded', { version: loaded.native.version, addon: loaded.path });
    }
    const codec = createOpusCodec({
      native: loaded.native ?? null,
      unavailableReason: loaded.reason,
      fec: ctx.options.fec,
      maxConcealMs: ctx.options.maxConcealMs,
      stats: ctx.counters,
    });
    ctx.container.register(Tokens.Codec, { useValue: codec });
    // Storage may keep recordings as Ogg Opus with it (storage-local audio.format 'opus').
    ctx.container.register(Tokens.AudioEncoder, { useValue: opusEncoderProvider(loaded.native ?? null, loaded.reason) });
  },
});

export default plugin;

export { createOpusCodec, OPUS_ENCODINGS, type OpusCodec, type OpusCodecOptions } from './codec';
export { OpusStreamDecoder, NotDecodedOpus, notDecodedText, emptyStats, OPUS_RATE, MAX_PACKET_SAMPLES, type OpusDecoderOptions, type OpusDecodeStats, type OpusStatsSink } from './decoder';
export {
  loadOpusNative,
  nativeSelfTest,
  ADDON_FILE,
  DISABLE_ENV,
  OPUS_APPLICATION_VOIP,
  OPUS_APPLICATION_AUDIO,
  OPUS_APPLICATION_RESTRICTED_LOWDELAY,
  type OpusNative,
  type OpusNativeLoad,
  type NativeOpusDecoder,
  type NativeOpusEncoder,
  type OpusPacketInfo,
} from './native';
export { createOpusEncoder, type OpusEncoderOptions } from './encoder';
export { opusEncoderProvider } from './storage-encoder';
