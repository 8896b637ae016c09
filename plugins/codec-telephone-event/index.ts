/** Plugin manifest: RFC 4733 telephone-event (DTMF digits and flash) as MediaEvents; no audio. */
import { definePlugin, TAPLINE_API, Tokens } from '../../core/plugin-api';
import { telephoneEventCodec, TELEPHONE_EVENT_ENCODINGS } from './codec';

export default definePlugin<Record<string, never>>({
  name: 'codec-telephone-event',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'RFC 4733 telephone-event (DTMF) decoder',
  encodings: TELEPHONE_EVENT_ENCODINGS,
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  register(ctx) {
    ctx.container.register(Tokens.Codec, { useValue: telephoneEventCodec(ctx.counters) });
  },
});
