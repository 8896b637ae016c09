/**
 * Plugin manifest: RTAudio (x-msrta/8000, x-msrta/16000), Microsoft's proprietary codec with no open decoder.
 *
 * By default its streams are kept, not decoded (decoder.notDecoded): the recorder writes their decrypted packets
 * to a pcap beside the recording with the SDP and flags it "RTAudio — not decoded". A site with a licensed
 * decoder names its module in "decoder" (see RtaudioDecoderModule) and gets audio. To avoid RTAudio altogether,
 * a signalling-path component strips it from offers: `tapline sdp suppress` / suppressCodecs() in core/sdp.
 */
import { definePlugin, TAPLINE_API, ErrorCodes, Tokens } from '../../core/plugin-api';
import {
  createRtaudioCodec,
  DEFAULT_RTAUDIO16_PAYLOAD_TYPES,
  DEFAULT_RTAUDIO8_PAYLOAD_TYPES,
  RTAUDIO_ENCODINGS,
  type RtaudioCodecOptions,
} from './codec';
import { loadRtaudioDecoder, type RtaudioDecoderModule } from './decoder-module';

export type { RtaudioDecoderModule } from './decoder-module';
export type { RtaudioCodecOptions } from './codec';
export { RTAUDIO_NOT_DECODED } from './codec';

const ptList = (def: number[], what: string) => ({
  type: 'array',
  items: { type: 'integer', minimum: 0, maximum: 127 },
  uniqueItems: true,
  default: def,
  description: `RTP payload types taken as ${what} when an SDP has no rtpmap for them (Lync: ${def.join(', ')}).`,
});

export default definePlugin<RtaudioCodecOptions>({
  name: 'codec-rtaudio',
  kind: 'codec',
  api: TAPLINE_API,
  description: 'RTAudio: kept undecoded for offline decoding, or decoded by a licensed decoder module; `tapline sdp suppress` strips it from offers',
  encodings: RTAUDIO_ENCODINGS,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rtaudio8PayloadTypes: ptList(DEFAULT_RTAUDIO8_PAYLOAD_TYPES, 'x-msrta/8000'),
      rtaudio16PayloadTypes: ptList(DEFAULT_RTAUDIO16_PAYLOAD_TYPES, 'x-msrta/16000'),
      decoder: {
        type: 'string',
        minLength: 1,
        description:
          'A licensed RTAudio decoder module (npm package name, or path relative to the config file) exporting createDecoder(stream) (RtaudioDecoderModule). Without it, RTAudio is kept undecoded.',
      },
      decoderOptions: {
        type: 'object',
        default: {},
        description: "Passed to the decoder module's init() (a licence file, a key).",
      },
    },
  },
  async register(ctx) {
    const o = ctx.options;
    const both = o.rtaudio8PayloadTypes.filter((pt) => o.rtaudio16PayloadTypes.includes(pt));
    if (both.length > 0) ctx.error(ErrorCodes.CONFIG_INVALID, `payload type(s) ${both.join(', ')} are in both rtaudio8PayloadTypes and rtaudio16PayloadTypes`, { payloadTypes: both });
    let licensed: RtaudioDecoderModule | undefined;
    if (o.decoder !== undefined) {
      licensed = await loadRtaudioDecoder(o.decoder, ctx.configDir, ctx.error);
      try {
        await licensed.init?.(o.decoderOptions ?? {}, { configDir: ctx.configDir });
      } catch (e) {
        ctx.error(ErrorCodes.PLUGIN_HOOK, `RTAudio decoder "${o.decoder}" refused to start: ${(e as Error)?.message ?? String(e)}`, { decoder: o.decoder });
      }
      ctx.log.info('licensed RTAudio decoder loaded', { decoder: o.decoder, name: licensed.name, version: licensed.version });
    } else {
      ctx.log.debug('no RTAudio decoder configured: RTAudio streams are kept undecoded');
    }
    const codec = createRtaudioCodec(o, {
      licensed,
      onDecoderFailure: (message) => {
        ctx.counters.inc('decoderFailures');
        ctx.log.warn(message);
      },
    });
    ctx.container.register(Tokens.Codec, { useValue: codec });
  },
});
