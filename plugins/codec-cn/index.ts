/** Plugin manifest: RFC 3389 comfort noise. Produces no audio (the timeline writes silence) and reports noise levels. */
import { definePlugin, TAPLINE_API, Tokens } from '../../core/plugin-api';
import { CN_ENCODINGS, comfortNoiseCodec } from './codec';

export default definePlugin<Record<string, never>>({
  name: 'codec-cn',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'RFC 3389 comfort noise (CN): silence in the recording, level in events',
  encodings: CN_ENCODINGS,
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  register(ctx) {
    ctx.container.register(Tokens.Codec, { useValue: comfortNoiseCodec(ctx.counters) });
  },
});
