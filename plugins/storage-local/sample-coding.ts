/**
 * How a recording's samples are stored in its WAV: 16-bit PCM, or G.711 kept as received (µ-law or A-law, one
 * byte a sample: lossless for a G.711 call and half the size). The core hands storage decoded PCM; the G.711
 * decode tables are exactly invertible (core/media/g711.ts), so encoding gives back the bytes that were received.
 */
import { ALAW_TABLE, encodeG711Exact, ULAW_TABLE } from '../../core/media/g711';
import * as os from 'node:os';

export type SampleCoding = 'pcm16' | 'ulaw' | 'alaw';

/** Int16Array bytes are in host order; WAV is little-endian. */
export const HOST_LE = os.endianness() === 'LE';

/** 16-bit samples as little-endian bytes (a view of the same memory on little-endian hosts). */
export function toLeBytes(pcm: Int16Array): Buffer {
  const view = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  if (HOST_LE) return view;
  const copy = Buffer.from(view);
  copy.swap16();
  return copy;
}

/** WAVE_FORMAT_PCM, WAVE_FORMAT_ALAW, WAVE_FORMAT_MULAW. */
const WAVE_TAGS: Readonly<Record<SampleCoding, number>> = { pcm16: 1, alaw: 6, ulaw: 7 };

export function waveFormatTag(c: SampleCoding): number {
  return WAVE_TAGS[c];
}

export function codingOfWaveTag(tag: number, bits: number): SampleCoding | undefined {
  if ((tag === 1 || tag === 0xfffe) && bits === 16) return 'pcm16';
  if (tag === 7 && bits === 8) return 'ulaw';
  if (tag === 6 && bits === 8) return 'alaw';
  return undefined;
}

export function bytesPerSample(c: SampleCoding): 1 | 2 {
  return c === 'pcm16' ? 2 : 1;
}

/** The byte silence is made of: 0 for PCM, the code for zero in G.711 (a zero byte there is full scale). */
export function silenceByte(c: SampleCoding): number {
  return c === 'ulaw' ? 0xff : c === 'alaw' ? 0xd5 : 0;
}

/** Samples as the file holds them (little-endian for PCM). The result may share memory with `pcm`. */
export function encodeSamples(c: SampleCoding, pcm: Int16Array): Buffer {
  return c === 'pcm16' ? toLeBytes(pcm) : encodeG711Exact(c, pcm);
}

/** G.711 bytes back to 16-bit PCM (PCM is read by the WAV reader itself). */
export function decodeG711(c: 'ulaw' | 'alaw', bytes: Uint8Array): Int16Array {
  const table = c === 'ulaw' ? ULAW_TABLE : ALAW_TABLE;
  return Int16Array.from(bytes, (b) => table[b] as number);
}

/**
 * The coding for a call, given what storage was asked for and the encodings the call uses: G.711 kept as received
 * only when one law is all the call's audio (telephone events and comfort noise aside) and it is stored at 8 kHz.
 */
export function codingFor(wanted: 'wav' | 'g711', sampleRate: number, encodings: readonly string[] | undefined): SampleCoding {
  if (wanted !== 'g711' || sampleRate !== 8000 || encodings === undefined) return 'pcm16';
  const audio = new Set(encodings.map((e) => e.toUpperCase()).filter((e) => !e.startsWith('TELEPHONE-EVENT/') && !e.startsWith('CN/')));
  if (audio.size !== 1) return 'pcm16';
  if (audio.has('PCMU/8000')) return 'ulaw';
  if (audio.has('PCMA/8000')) return 'alaw';
  return 'pcm16';
}
