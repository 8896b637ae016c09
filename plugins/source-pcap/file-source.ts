/** One pcap/pcapng file as a Source: frames stream to the sink as the file is read. */
import type { FrameSink, Source, SourceProgress, SourceRunResult } from '../../core/contract';
import { readCapture } from '../../core/net/capture-reader';

export class PcapFileSource implements Source {
  readonly name = 'source-pcap';
  readonly label: string;

  constructor(readonly path: string) {
    this.label = path;
  }

  /**
   * Reads the whole file (or until `signal` aborts). Unreadable files throw TaplineError(CAPTURE_*); a file
   * that ends early or turns corrupt part-way returns the frames read before, with a warning.
   */
  async run(sink: FrameSink, signal: AbortSignal, onProgress?: (p: SourceProgress) => void): Promise<SourceRunResult> {
    const res = await readCapture(this.path, (f) => sink.frame(f), {
      signal,
      onSkip: (reason, detail) => sink.skip(reason, detail),
      ...(onProgress !== undefined ? { onProgress: (done: number, total: number) => onProgress({ done, total }) } : {}),
    });
    const out: SourceRunResult = { frames: res.frames };
    if (res.warning !== undefined) out.warning = res.warning;
    return out;
  }
}
