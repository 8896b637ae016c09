/**
 * Reads a recording's audio for a test: 16-bit PCM WAV (RIFF, or RF64 as written for files over 4 GiB), every
 * chunk walked, the data chunk's declared size trusted only as far as the file goes (a recording cut by a crash).
 */
import * as fs from 'node:fs';

export interface WavAudio {
  sampleRate: number;
  channels: number;
  /** Interleaved samples (use channelOf() for one channel). */
  samples: Int16Array;
}

export function readWavFile(file: string): WavAudio {
  const buf = fs.readFileSync(file);
  const bad = (why: string): never => {
    throw new Error(`${file}: not a 16-bit PCM WAV file (${why})`);
  };
  if (buf.length < 12) bad('shorter than a RIFF header');
  const riff = buf.toString('latin1', 0, 4);
  if ((riff !== 'RIFF' && riff !== 'RF64') || buf.toString('latin1', 8, 12) !== 'WAVE') bad('no RIFF/WAVE header');
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | undefined;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) bad('truncated fmt chunk');
      fmt = { format: buf.readUInt16LE(body), channels: buf.readUInt16LE(body + 2), sampleRate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (fmt === undefined) return bad('data before fmt');
      if ((fmt.format !== 1 && fmt.format !== 0xfffe) || fmt.bits !== 16) bad(`format ${fmt.format}, ${fmt.bits} bits`);
      if (fmt.channels < 1) bad('no channels');
      // RF64 and crash-cut files: the declared size may be 0xffffffff or beyond the end; the file's end decides.
      let bytes = Math.min(size === 0xffffffff ? Infinity : size, buf.length - body);
      bytes -= bytes % (2 * fmt.channels);
      const samples = new Int16Array(bytes / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(body + 2 * i);
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
    }
    off = body + size + (size & 1);
  }
  return bad('no data chunk');
}
