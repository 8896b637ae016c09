/**
 * Live capture on named interfaces as a Source (the new contract in core/contracts/ingest.ts): one libpcap capture
 * per interface (an Edge has a public and a private adapter), frames to sink.frame(), kernel drops to
 * sink.drop('kernel', 'pcap', n) every statsEverySec and when stopping.
 */
import type { Logger } from '../../core/contract';
import type { IngestSink, Source, SourceRunContext, SourceRunResult } from '../../core/contracts/ingest';
import type { CounterMetric, Metrics } from '../../core/contracts/metrics';
import { TaplineError } from '../../core/errors';
import type { RawFrame } from '../../core/net/types';
import { InterfaceCapture, type CaptureStats } from '../../core/net/interface-capture';

export interface SourceLiveOptions {
  interfaces: string[];
  filter: string;
  snaplen: number;
  bufferBytes: number;
  promiscuous: boolean;
  statsEverySec: number;
}

/** What the plugin context lends the source (all optional, so tests can run it alone). */
export interface LiveSourceDeps {
  metrics?: Metrics;
  log?: Logger;
  /** Test hook: per-interface capture tuning (TPACKET timeout, packets per wake-up). */
  tuning?: { timeoutMs?: number; budget?: number };
}

interface Tap {
  name: string;
  capture: InterfaceCapture;
  /** Drops already reported to the sink. */
  reported: number;
  /** Frames already counted in tapline_capture_packets_total. */
  counted: number;
}

export class LiveSource implements Source {
  readonly name = 'source-live';
  readonly label: string;
  readonly live = true;
  private readonly packetsIn: CounterMetric | undefined;
  private readonly perInterface: CounterMetric | undefined;
  private readonly kernelDrops: CounterMetric | undefined;

  constructor(
    readonly options: Readonly<SourceLiveOptions>,
    private readonly deps: LiveSourceDeps = {},
  ) {
    this.label = options.interfaces.join(',');
    const m = deps.metrics;
    this.packetsIn = m?.counter('tapline_packets_in_total', 'Packets, frames or messages a source handed to the core', ['source']);
    this.perInterface = m?.counter('tapline_capture_packets_total', 'Frames captured on each interface by source-live', ['interface']);
    this.kernelDrops = m?.counter('tapline_capture_kernel_drops_total', 'Packets the kernel dropped before source-live read them (pcap ps_drop + ps_ifdrop), by interface', ['interface']);
  }

  /**
   * Opens every interface (all or none: a failure closes those already open and rejects with the named error),
   * calls ctx.ready(), and hands frames to the sink until `signal` aborts; then closes every capture and resolves.
   * A capture that fails while running (its interface disappeared) rejects run() after closing the rest; one whose
   * interface went down only logs a warning and resumes when it is up again.
   */
  run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult> {
    return new Promise<SourceRunResult>((resolve, reject) => {
      if (signal.aborted) {
        resolve({ frames: 0 });
        return;
      }
      const taps: Tap[] = [];
      let frames = 0;
      let failed: TaplineError | undefined;
      let sinkErrors = 0;
      const onFrame = (f: RawFrame): void => {
        frames++;
        try {
          sink.frame(f);
        } catch (e) {
          // The sink promises not to throw; if it does, the capture goes on and says so (at most once per 1000).
          if (sinkErrors++ % 1000 === 0) this.deps.log?.error('sink.frame threw; capture goes on', { error: (e as Error).message, count: sinkErrors });
        }
      };
      const onError = (err: TaplineError): void => {
        failed ??= err;
        finish();
      };
      const o = this.options;
      try {
        o.interfaces.forEach((name, interfaceId) => {
          const capture = InterfaceCapture.open(
            { interface: name, filter: o.filter, snaplen: o.snaplen, bufferBytes: o.bufferBytes, promiscuous: o.promiscuous, interfaceId, ...this.deps.tuning },
            onFrame,
            onError,
            (message) => this.deps.log?.warn(message, { interface: name }),
          );
          taps.push({ name, capture, reported: 0, counted: 0 });
        });
      } catch (e) {
        for (const t of taps) t.capture.close();
        reject(e);
        return;
      }
      let counted = 0;
      const report = (): void => {
        for (const t of taps) {
          let s: CaptureStats;
          try {
            s = t.capture.stats();
          } catch {
            continue; // a failing interface: its error arrives through onError
          }
          const lost = s.dropped + s.ifDropped;
          if (lost > t.reported) {
            sink.drop('kernel', 'pcap', lost - t.reported);
            this.kernelDrops?.inc({ interface: t.name }, lost - t.reported);
            t.reported = lost;
          }
        }
        this.packetsIn?.inc({ source: this.name }, frames - counted);
        counted = frames;
        for (const t of taps) {
          this.perInterface?.inc({ interface: t.name }, t.capture.frames - t.counted);
          t.counted = t.capture.frames;
        }
      };
      const timer = setInterval(report, o.statsEverySec * 1000);
      const onAbort = (): void => finish();
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        for (const t of taps) t.capture.close(); // reads the final counters first
        report();
        this.deps.log?.info('capture stopped', { frames, interfaces: taps.map((t) => ({ interface: t.name, frames: t.capture.frames, ...t.capture.stats() })) });
        if (failed !== undefined) reject(failed);
        else resolve({ frames });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.deps.log?.info('capturing', { interfaces: taps.map((t) => ({ interface: t.name, linkType: t.capture.linkType, nanosecond: t.capture.nanosecond })), filter: o.filter });
      ctx.ready();
    });
  }
}
