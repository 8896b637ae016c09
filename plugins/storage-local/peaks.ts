/**
 * Waveform peaks computed while a recording is written (the review page draws both channels from these without
 * downloading the audio): the largest |sample| of each channel per 1/PEAKS_PER_SEC s, saved as peaks.json beside
 * the audio when the recording closes. Gaps the writer skips are silence, as in the audio.
 */
import * as fs from 'node:fs';
import type { LibraryPeaks } from '../../core/contract';

export const PEAKS_PER_SEC = 50;
export const PEAKS_FILE = 'peaks.json';

export class PeakAccumulator {
  private readonly bucketFrames: number;
  private peaks: Uint16Array[];
  private frames = 0;

  constructor(readonly sampleRate: number, readonly channels: number) {
    this.bucketFrames = Math.max(1, Math.round(sampleRate / PEAKS_PER_SEC));
    this.peaks = Array.from({ length: channels }, () => new Uint16Array(1024));
  }

  /** Interleaved PCM at frame `atFrame` (frames before it never written are silence). */
  add(atFrame: number, pcm: Int16Array): void {
    const n = Math.floor(pcm.length / this.channels);
    const endFrame = atFrame + n;
    this.reserve(Math.ceil(endFrame / this.bucketFrames));
    for (let c = 0; c < this.channels; c++) {
      const out = this.peaks[c] as Uint16Array;
      for (let i = 0; i < n; i++) {
        const v = pcm[i * this.channels + c] as number;
        const a = v < 0 ? -v : v;
        const b = Math.floor((atFrame + i) / this.bucketFrames);
        if (a > (out[b] as number)) out[b] = a > 32767 ? 32767 : a;
      }
    }
    if (endFrame > this.frames) this.frames = endFrame;
  }

  private reserve(buckets: number): void {
    const cur = (this.peaks[0] as Uint16Array).length;
    if (buckets <= cur) return;
    let size = cur;
    while (size < buckets) size *= 2;
    this.peaks = this.peaks.map((p) => {
      const grown = new Uint16Array(size);
      grown.set(p);
      return grown;
    });
  }

  result(): LibraryPeaks {
    const count = Math.ceil(this.frames / this.bucketFrames);
    return {
      peaksPerSec: this.sampleRate / this.bucketFrames,
      durationSec: this.frames / this.sampleRate,
      channels: this.peaks.map((p) => Array.from(p.subarray(0, count), (v) => Math.round((v / 32767) * 1000) / 1000)),
    };
  }

  async save(file: string): Promise<void> {
    await fs.promises.writeFile(file, JSON.stringify(this.result()));
  }
}

/** Peaks of decoded PCM at once (recordings written before peaks were kept). */
export function peaksOf(samples: Int16Array, sampleRate: number, channels: number): LibraryPeaks {
  const acc = new PeakAccumulator(sampleRate, channels);
  acc.add(0, samples);
  return acc.result();
}
