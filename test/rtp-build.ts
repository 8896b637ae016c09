/**
 * Hand-built RTP for tests: packets (RFC 3550 §5.1 fixed header + payload), a stream that numbers them, and the
 * payloads the scenarios need (G.711 and L16 tones, RFC 4733 events, RFC 3389 comfort noise).
 */
import { encodeAlaw, encodeUlaw } from '../core/media/g711';

export { rtpPacket, RtpStream, tone, type RtpFields } from '../core/testing/rtp';

export const pcmu = (pcm: Int16Array): Buffer => encodeUlaw(pcm);
export const pcma = (pcm: Int16Array): Buffer => encodeAlaw(pcm);

/** L16 (RFC 3551 §4.5.11): big-endian 16-bit linear PCM. */
export function l16(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16BE(pcm[i]!, i * 2);
  return b;
}

/** One RFC 4733 event block: event code (0-9 digits, 10 '*', 11 '#'), end bit, volume (-dBm0), duration (ticks). */
export function dtmfEvent(event: number, end: boolean, duration: number, volume = 10): Buffer {
  const b = Buffer.alloc(4);
  b[0] = event;
  b[1] = (end ? 0x80 : 0) | (volume & 0x3f);
  b.writeUInt16BE(duration & 0xffff, 2);
  return b;
}

/** An RFC 3389 comfort-noise payload carrying only the noise level (-dBov). */
export function comfortNoise(levelDbov = 64): Buffer {
  return Buffer.from([levelDbov & 0x7f]);
}
