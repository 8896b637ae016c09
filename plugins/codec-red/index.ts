/**
 * Plugin manifest: RFC 2198 RED (redundant audio data), as Lync / SfB wraps RTAudio and SILK in it on PT 97.
 * The decoder only unwraps: the recorder decodes the primary block with its payload type's codec and uses the
 * redundant blocks to fill packets that were lost.
 */
import { definePlugin, TAPLINE_API, Tokens } from '../../core/plugin-api';
import { createRedCodec, DEFAULT_RED_PAYLOAD_TYPES, RED_ENCODINGS, type RedCodecOptions } from './codec';

export type { RedCodecOptions } from './codec';

export default definePlugin<RedCodecOptions>({
  name: 'codec-red',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'RFC 2198 RED: unwraps primary and redundant blocks (Lync PT 97) for their own decoders',
  encodings: RED_ENCODINGS,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      payloadTypes: {
        type: 'array',
        items: { type: 'integer', minimum: 0, maximum: 127 },
        uniqueItems: true,
        default: DEFAULT_RED_PAYLOAD_TYPES,
        description: 'RTP payload types taken as RED/8000 when an SDP has no rtpmap for them (Lync sends one for its PT 97).',
      },
    },
  },
  register(ctx) {
    ctx.container.register(Tokens.Codec, { useValue: createRedCodec(ctx.options) });
  },
});
