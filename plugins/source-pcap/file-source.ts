/** One pcap/pcapng file as a Source: frames stream to the sink as the file is read, no faster than storage keeps up. */
import type { IngestSink, Source, SourceRunContext, SourceRunResult } from '../../core/contract';
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
  async run(sink: IngestSink, signal: AbortSignal, ctx?: SourceRunContext): Promise<SourceRunResult> {
    const res = await readCapture(this.path, (f) => sink.frame(f), {
      signal,
      onSkip: (reason, detail) => sink.skip(reason, detail),
      waitWritable: () => sink.writable(),
      ...(ctx?.onProgress !== undefined ? { onProgress: (done: number, total: number) => ctx.onProgress?.({ done, total }) } : {}),
    });
    const out: SourceRunResult = { frames: res.frames };
    if (res.warning !== undefined) out.warning = res.warning;
    return out;
  }
}
