/**
 * The recorder as a service: one object that `record`, `serve`, tests and embedders share. It owns a kernel and runs
 * its sources — capture files one after another (they share one capture timeline, as rotated files do), live
 * sources concurrently and until stopped, with the wall clock — and it stops within a bound (every active
 * recording finished and catalogued), reloads users and policy without dropping a call, and says whether it is
 * ready. It keeps nothing per finished call: summaries are built by whoever listens to its lifecycle events.
 */
import type { Logger, LifecycleBus, Source, SourceProgress, SourceRunResult } from '../contract';
import { Kernel, type KernelOptions } from '../kernel';
import type { PreparedConfig } from '../plugins/loader';
import { reloadPolicy, type ReloadReport } from './reload';

export interface SourceReport {
  source: string;
  plugin: string;
  label: string;
  live: boolean;
  frames: number;
  warning?: string;
  error?: string;
}

export interface ServiceOptions extends KernelOptions {
  /** Progress of capture-file sources (drives the CLI's progress bar). */
  onProgress?: (source: Source, p: SourceProgress) => void;
}

export interface StopResult {
  /** Everything queued for storage was written before the deadline. */
  drained: boolean;
  ms: number;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

interface Running {
  plugin: string;
  source: Source;
  ready: boolean;
  done: boolean;
  report: SourceReport;
}

export class RecorderService {
  private readonly sourceAbort = new AbortController();
  private readonly running: Running[] = [];
  private runs: Promise<SourceReport[]> | undefined;
  private started = false;
  /** start() has finished: plugins started, sources running. */
  private up = false;
  private stopping: Promise<StopResult> | undefined;

  private constructor(
    readonly kernel: Kernel,
    private readonly opts: ServiceOptions,
  ) {}

  static async create(prepared: PreparedConfig, opts: ServiceOptions = {}): Promise<RecorderService> {
    return new RecorderService(await Kernel.create(prepared, opts), opts);
  }

  get events(): LifecycleBus {
    return this.kernel.events;
  }

  get log(): Logger {
    return this.kernel.log;
  }

  /** True when any source runs until stopped (the service then keeps wall-clock time). */
  get live(): boolean {
    return this.kernel.sources.some((s) => s.source.live === true);
  }

  /** Starts plugins and every source. Live sources make the clock the wall clock. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.live) this.kernel.clock.useWallClock();
    await this.kernel.start();
    const files: Running[] = [];
    const lives: Running[] = [];
    for (const { plugin, source } of this.kernel.sources) {
      if (source.live === true) this.kernel.serviceMetrics.sourceUp.set(0, { source: plugin });
      const r: Running = { plugin, source, ready: source.live !== true, done: false, report: { source: source.name, plugin, label: source.label, live: source.live === true, frames: 0 } };
      this.running.push(r);
      (source.live === true ? lives : files).push(r);
    }
    const liveRuns = lives.map((r) => this.runOne(r));
    const fileRuns = (async (): Promise<void> => {
      for (const r of files) {
        if (this.sourceAbort.signal.aborted) break;
        await this.runOne(r);
        // End of a capture: what TCP reassembly holds is complete. Not while live TCP flows are being followed.
        if (lives.length === 0) this.kernel.ingest.endCapture();
      }
    })();
    this.runs = Promise.all([...liveRuns, fileRuns]).then(() => this.running.map((r) => r.report));
    this.up = true;
  }

  private async runOne(r: Running): Promise<void> {
    const sink = this.kernel.ingest.forSource(r.plugin, r.source.label);
    const progress = this.opts.onProgress;
    let res: SourceRunResult;
    try {
      res = await r.source.run(sink, this.sourceAbort.signal, {
        ...(progress !== undefined ? { onProgress: (p: SourceProgress) => progress(r.source, p) } : {}),
        ready: () => {
          r.ready = true;
          if (r.source.live === true) this.kernel.serviceMetrics.sourceUp.set(1, { source: r.plugin });
        },
      });
      r.report.frames = res.frames;
      if (res.warning !== undefined) {
        r.report.warning = res.warning;
        this.log.warn(`${r.source.label}: ${res.warning}`);
      }
    } catch (e) {
      r.report.error = (e as Error).message;
      this.log.error(`${r.source.label}: ${r.report.error}`, { code: (e as { code?: string }).code, source: r.plugin });
    }
    r.done = true;
    if (r.source.live === true) this.kernel.serviceMetrics.sourceUp.set(0, { source: r.plugin });
    // A live source that ends on its own (an interface went away) is reported: the service is then not ready.
    if (r.source.live === true && !this.sourceAbort.signal.aborted) this.log.error(`live source ${r.plugin} (${r.source.label}) stopped`);
  }

  /** Resolves when every source has ended (capture files read; live sources only once stopped). */
  whenSourcesEnd(): Promise<SourceReport[]> {
    if (this.runs === undefined) throw new Error('RecorderService.whenSourcesEnd() before start()');
    return this.runs;
  }

  /** Ready: plugins started, every live source listening or capturing, storage keeping up. */
  readiness(): Readiness {
    const reasons: string[] = [];
    if (!this.started) reasons.push('not started');
    // Plugins (the web app among them) start before the sources exist: not ready until both have.
    else if (!this.up) reasons.push('starting');
    if (this.stopping !== undefined) reasons.push('stopping');
    for (const r of this.running) {
      if (r.source.live !== true) continue;
      if (r.done) reasons.push(`source ${r.plugin} (${r.source.label}) has stopped${r.report.error !== undefined ? `: ${r.report.error}` : ''}`);
      else if (!r.ready) reasons.push(`source ${r.plugin} (${r.source.label}) is not listening yet`);
    }
    const q = this.kernel.queue;
    if (q?.saturated === true) reasons.push(`storage queue more than half full (${q.queuedBytes} bytes waiting)`);
    return { ready: reasons.length === 0, reasons };
  }

  /** Resolves once every live source is ready (or rejects after `timeoutMs`). */
  async whenReady(timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const r = this.readiness();
      if (r.ready) return;
      if (Date.now() - t0 > timeoutMs) throw new Error(`not ready after ${timeoutMs} ms: ${r.reasons.join('; ')}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  /**
   * Stops sources, finishes and catalogues every active recording, waits for storage, stops plugins; all within
   * `timeoutMs` (SIGTERM's bound). Idempotent: a second call returns the first one's result.
   */
  stop(timeoutMs = this.kernel.config.service.stopTimeoutSec * 1000): Promise<StopResult> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<StopResult> {
    const t0 = Date.now();
    this.sourceAbort.abort();
    if (this.runs !== undefined) {
      if (Number.isFinite(timeoutMs)) {
        // Sources close their sockets promptly; one that does not is not waited for past a fifth of the budget.
        const budget = Math.max(100, timeoutMs / 5);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.runs, new Promise<void>((res) => (timer = setTimeout(res, budget)))]);
        clearTimeout(timer);
      } else await this.runs;
    }
    const left = Number.isFinite(timeoutMs) ? Math.max(50, timeoutMs - (Date.now() - t0)) : Infinity;
    const drained = await this.kernel.stop(left);
    return { drained, ms: Date.now() - t0 };
  }

  /** SIGHUP: users, the users file and policy are read again; calls in progress keep their decision. */
  async reload(prepared: PreparedConfig): Promise<ReloadReport> {
    const report = reloadPolicy(this.kernel, prepared);
    for (const line of report.changes) this.log.info(`reload: ${line}`);
    for (const line of report.notApplied) this.log.warn(`reload: ${line} (restart to apply)`);
    return report;
  }
}
