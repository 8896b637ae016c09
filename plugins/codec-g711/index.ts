/** Plugin manifest: G.711 µ-law (PCMU) and A-law (PCMA) decoding, ITU-T G.711 / RFC 3551 §4.5.14. */
import { definePlugin, TAPLINE_API, Tokens } from '../../core/plugin-api';
import { g711Codec } from './codec';

export default definePlugin<Record<string, never>>({
  name: 'codec-g711',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'G.711 PCMU/PCMA decoder',
  encodings: g711Codec.encodings,
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  register(ctx) {
    ctx.container.register(Tokens.Codec, { useValue: g711Codec });
  },
});
