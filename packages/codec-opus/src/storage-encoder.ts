/**
 * The Opus encoder this plugin offers storage (Points.AudioEncoder): storage-local keeps recordings as Ogg Opus
 * archives with it. 20 ms frames at the recording's own rate (libopus takes 8, 12, 16, 24 and 48 kHz as they are).
 */
import type { AudioEncoderProvider, FrameEncoder } from 'tapline/plugin';
import { OPUS_APPLICATION_AUDIO, type OpusNative } from './native';

const OPUS_INPUT_RATES = [8000, 12000, 16000, 24000, 48000] as const;
/**
 * libopus's look-ahead at 48 kHz: 2.5 ms of analysis plus 4 ms of delay compensation = 312 samples, whatever the
 * input rate (RFC 7845 §4.2 asks writers to put it in the header as the pre-skip).
 */
const LOOKAHEAD_48K = 312;

export function opusEncoderProvider(native: OpusNative | null, unavailableReason: string | undefined): AudioEncoderProvider {
  return {
    format: 'opus',
    unavailableReason: native === null ? (unavailableReason ?? 'the Opus addon is not built') : undefined,
    sampleRates: OPUS_INPUT_RATES,
    create(o): FrameEncoder {
      if (native === null) throw new Error(`Opus encoding is not available: ${unavailableReason ?? 'the Opus addon is not built'}`);
      if (!(OPUS_INPUT_RATES as readonly number[]).includes(o.sampleRate)) throw new RangeError(`Opus encodes at ${OPUS_INPUT_RATES.join(', ')} Hz, not ${o.sampleRate}`);
      // AUDIO rather than VOIP: an archive should sound like the call, not be tuned for intelligibility over loss.
      const enc = new native.Encoder(o.sampleRate, o.channels, OPUS_APPLICATION_AUDIO);
      try {
        if (o.bitrate !== undefined) enc.setBitrate(o.bitrate);
      } catch (e) {
        enc.close();
        throw e;
      }
      const frameSamples = o.sampleRate / 50;
      return {
        frameSamples,
        preSkip48k: LOOKAHEAD_48K,
        encode: (interleaved) => {
          if (interleaved.length !== frameSamples * o.channels) throw new RangeError(`an Opus frame is ${frameSamples * o.channels} samples here, got ${interleaved.length}`);
          return enc.encode(interleaved, frameSamples);
        },
        close: () => {
          if (!enc.closed) enc.close();
        },
      };
    },
  };
}
