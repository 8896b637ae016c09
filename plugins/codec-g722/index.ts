/** Plugin manifest: ITU-T G.722 64 kbit/s decoding (RFC 3551 §4.5.2), mono and Microsoft's stereo G722/8000/2. */
import { definePlugin, TAPLINE_API, Tokens } from '../../core/plugin-api';
import { g722Codec } from './codec';

export default definePlugin<Record<string, never>>({
  name: 'codec-g722',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'G.722 decoder (G722/8000, 16 kHz audio; G722/8000/2 stereo mixed down to mono)',
  encodings: g722Codec.encodings,
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  register(ctx) {
    ctx.container.register(Tokens.Codec, { useValue: g722Codec });
  },
});
