/**
 * @tapline/codec-g729: a Tapline codec plugin decoding G.729 / G.729A / G.729B (`G729/8000`, static payload type 18)
 * with bcg729, shipped the way any third party ships a plugin: it uses only the `tapline` package's public API.
 *
 *   { "use": "@tapline/codec-g729" }                          in a tapline config's "plugins"
 *   { "use": "@tapline/codec-g729", "options": { "maxConcealMs": 100 } }
 */
import { definePlugin, TAPLINE_API, Tokens, type PluginManifest } from 'tapline/plugin';
import { createG729Codec, type G729CodecDeps } from './codec';
import { DEFAULT_G729_DECODER_OPTIONS, type G729DecoderOptions } from './decoder';
import { loadG729Native } from './native';

export type G729PluginOptions = G729DecoderOptions;

const PLUGIN_NAME = '@tapline/codec-g729';
const VERSION = (require('../package.json') as { version: string }).version;

/**
 * The plugin manifest; `deps.load` replaces the addon loader (tests: an unavailable addon). By default the addon is
 * looked up at each register() (so TAPLINE_G729_NATIVE=0 in the environment at start-up disables it).
 */
export function createG729Plugin(deps: Pick<G729CodecDeps, 'load'> = {}): PluginManifest<G729PluginOptions> {
  return definePlugin<G729PluginOptions>({
    name: PLUGIN_NAME,
    kind: 'codec',
    api: TAPLINE_API,
    version: VERSION,
    description: 'G.729 / G.729A / G.729B decoder (G729/8000, PT 18) on bcg729: SID comfort noise, loss concealment',
    encodings: ['G729/8000'],
    optionsSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concealLoss: {
          type: 'boolean',
          default: DEFAULT_G729_DECODER_OPTIONS.concealLoss,
          description: 'Fill lost packets with G.729 frame-erasure concealment (false: leave them as silence).',
        },
        maxConcealMs: {
          type: 'integer',
          minimum: 10,
          maximum: 1000,
          default: DEFAULT_G729_DECODER_OPTIONS.maxConcealMs,
          description: 'Longest loss that is concealed, in ms; a longer gap stays silence.',
        },
        maxConcealPackets: {
          type: 'integer',
          minimum: 1,
          maximum: 50,
          default: DEFAULT_G729_DECODER_OPTIONS.maxConcealPackets,
          description: 'Most packets lost in a row that are concealed; more stays silence.',
        },
      },
    },
    register(ctx) {
      const codec = createG729Codec(ctx.options, { load: deps.load ?? (() => loadG729Native()), counters: ctx.counters });
      if (!codec.available) {
        ctx.log.warn(`G.729 decoder not available (${codec.unavailableReason ?? 'unknown'}): G.729 calls are kept raw and flagged "not decoded"`);
      } else {
        ctx.log.debug('bcg729 loaded', { version: codec.bcg729Version });
      }
      ctx.container.register(Tokens.Codec, { useValue: codec });
    },
  });
}

const plugin = createG729Plugin();
export default plugin;

export { createG729Codec, createG729Encoder, G729_ENCODING, G729_NOT_DECODED, G729_PAYLOAD_TYPE, type G729Codec, type G729CodecDeps } from './codec';
export {
  DEFAULT_G729_DECODER_OPTIONS,
  emptyG729Stats,
  fmtpAnnexB,
  G729_RATE,
  G729StreamDecoder,
  NotDecodedG729,
  type G729Counters,
  type G729DecoderOptions,
  type G729DecoderStats,
} from './decoder';
export {
  G729_FRAME_BYTES,
  G729_FRAME_SAMPLES,
  G729_NATIVE_ENV,
  G729_SID_BYTES,
  g729Native,
  loadG729Native,
  type G729Native,
  type NativeG729Decoder,
  type NativeG729Encoder,
  type NativeLoad,
} from './native';
