/**
 * Plugin manifest: SILK decoding (Skype / Lync / Skype for Business) on silk-wasm.
 *
 * Options mirror the Lync integration guide's Silk8CodecPayloadTypes / Silk16CodecPayloadTypes: payload types
 * treated as SILK/8000 and SILK/16000 when an SDP carries no rtpmap for them (the codec's staticPayloadTypes).
 * historyFrames trades CPU for fidelity (see codec.ts). register() is async: it loads and instantiates
 * silk-wasm once, after which every decode is synchronous.
 */
import { definePlugin, TAPLINE_API, ErrorCodes, Tokens } from '../../core/plugin-api';
import { createSilkCodec, DEFAULT_SILK16_PAYLOAD_TYPES, DEFAULT_SILK8_PAYLOAD_TYPES, SILK_RATES, WARMUP_FRAMES, type SilkCodecOptions } from './codec';
import { loadSilkWasm } from './silk-wasm-sync';

const ptList = (def: number[], what: string) => ({
  type: 'array',
  items: { type: 'integer', minimum: 0, maximum: 127 },
  uniqueItems: true,
  default: def,
  description: `RTP payload types decoded as ${what} when an SDP has no rtpmap for them (Lync: ${what === 'SILK/8000' ? 'Silk8CodecPayloadTypes' : 'Silk16CodecPayloadTypes'}).`,
});

export default definePlugin<SilkCodecOptions>({
  name: 'codec-silk',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'SILK decoder (SILK/8000, /12000, /16000, /24000) on silk-wasm',
  encodings: SILK_RATES.map((r) => `SILK/${r}`),
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      silk8PayloadTypes: ptList(DEFAULT_SILK8_PAYLOAD_TYPES, 'SILK/8000'),
      silk16PayloadTypes: ptList(DEFAULT_SILK16_PAYLOAD_TYPES, 'SILK/16000'),
      batchPackets: {
        type: 'integer',
        minimum: 1,
        maximum: 8,
        default: 4,
        description:
          'Consecutive packets decoded in one go (the history is re-decoded once per batch, not per packet: about 3x faster at 4); their audio reaches the recording up to (batchPackets - 1) x 20 ms later, well inside media.reorderWindowMs. 1 = per packet.',
      },
      historyFrames: {
        type: 'integer',
        minimum: 1,
        maximum: 50,
        default: WARMUP_FRAMES,
        description:
          'Frames (20 ms) of a stream re-decoded with each packet so the SILK decoder state carries over: more is closer to one continuous decode, and slower (about 15 µs per frame per packet).',
      },
    },
  },
  async register(ctx) {
    const both = ctx.options.silk8PayloadTypes.filter((pt) => ctx.options.silk16PayloadTypes.includes(pt));
    if (both.length > 0) ctx.error(ErrorCodes.CONFIG_INVALID, `payload type(s) ${both.join(', ')} are in both silk8PayloadTypes and silk16PayloadTypes`, { payloadTypes: both });
    const silk = await loadSilkWasm();
    ctx.log.debug('silk-wasm loaded', { version: silk.version });
    ctx.container.register(Tokens.Codec, { useValue: createSilkCodec(silk, ctx.options) });
  },
});
