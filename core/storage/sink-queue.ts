/**
 * The bounded queue in front of the storage sink (heplify-server's habit: a slow sink never blocks capture). The
 * pipeline enqueues synchronously and goes on; the queue hands the operations to the sink, awaiting each, so a
 * recording's operations reach storage in the order they were made. Audio and attachments count against a byte
 * budget: past it they are dropped and counted (and a recording says how much it lost), with a warning at most once
 * a second. Control operations (open, update, close) are never dropped: there are a bounded number per call in
 * progress, and a queued metadata refresh is replaced by a newer one rather than queued twice. A few recordings'
 * operations run at once (their files are independent); one recording's always run in order, one at a time.
 */
import type { AudioFormat, Counters, HistogramMetric, Logger, Metrics, RecordingSink, RecordingStart } from '../contract';
import type { RecordingMetadata } from '../media/metadata';

export interface SinkQueueOptions {
  /** Bytes of audio and attachments the queue may hold. */
  maxBytes: number;
  log: Logger;
  counters: Counters;
  /** tapline_drops_total for what is dropped. */
  metrics?: Metrics;
  /** Time per operation (tapline_storage_write_seconds{op}). */
  writeSeconds?: HistogramMetric;
  /** Recordings whose operations may be in flight at once (default 16). */
  concurrency?: number;
  /** A recording's operation failed in the sink: the recording gets a flag while it still runs. */
  onError?: (id: string, op: OpKind, err: Error) => void;
}

/**
 * Recordings whose operations may run at once. Measured in the live bench (150k packets/s, ~1,500 calls, fsync on
 * close ~27 ms): 4 dropped 52-62k audio chunks a minute, 16 dropped none; the work is in the thread pool, not here.
 */
const DEFAULT_CONCURRENCY = 16;

/** Sources that can wait (capture files) wait while more than this is queued (or half the queue, if less). */
const WAIT_ABOVE_BYTES = 8 * 1024 * 1024;

export type OpKind = 'open' | 'openAudio' | 'audio' | 'attachment' | 'update' | 'close';

interface Op {
  kind: OpKind;
  id: string;
  bytes: number;
  run: () => Promise<void>;
}

export class SinkQueue {
  /** Operations waiting, in arrival order; a recording's run one at a time, up to `concurrency` recordings at once. */
  private readonly waiting: Op[] = [];
  /** Recordings with an operation in flight. */
  private readonly busy = new Set<string>();
  private inFlight = 0;
  private bytes = 0;
  /** Queued (not yet started) metadata refreshes by recording, replaced by newer ones. */
  private readonly queuedUpdates = new Map<string, { meta: RecordingMetadata }>();
  private waitersWritable: Array<() => void> = [];
  private waitersIdle: Array<() => void> = [];
  private lastWarn = 0;
  private suppressed = 0;
  private readonly latency: HistogramMetric | undefined;
  private readonly highWater: number;
  private readonly waitAbove: number;
  private readonly lowWater: number;
  private readonly concurrency: number;
  /** Totals for status and tests. */
  readonly stats = { enqueued: 0, completed: 0, failed: 0, droppedOps: 0, droppedBytes: 0 };

  constructor(
    readonly sink: RecordingSink,
    private readonly opts: SinkQueueOptions,
  ) {
    this.highWater = Math.floor(opts.maxBytes / 2);
    // A source that can wait (a capture file) waits early: reading ahead of storage only costs memory.
    this.waitAbove = Math.min(this.highWater, WAIT_ABOVE_BYTES);
    this.lowWater = Math.floor(this.waitAbove / 2);
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
    this.latency = opts.writeSeconds;
  }

  /** Operations waiting or running. */
  get depth(): number {
    return this.waiting.length + this.inFlight;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  get capacityBytes(): number {
    return this.opts.maxBytes;
  }

  /** True while the byte budget is more than half used. */
  get saturated(): boolean {
    return this.bytes > this.highWater;
  }

  open(start: RecordingStart): void {
    this.push({ kind: 'open', id: start.id, bytes: 0, run: () => this.sink.open(start) });
  }

  openAudio(id: string, format: AudioFormat): void {
    this.push({ kind: 'openAudio', id, bytes: 0, run: () => this.sink.openAudio(id, format) });
  }

  /** Enqueues audio (the queue keeps `pcm`: pass a copy); false when it was dropped (the queue is full). */
  audio(id: string, atFrame: number, pcm: Int16Array): boolean {
    const bytes = pcm.byteLength;
    if (!this.fits(bytes, 'audio')) return false;
    this.push({ kind: 'audio', id, bytes, run: () => this.sink.writeAudio(id, atFrame, pcm) });
    return true;
  }

  /**
   * The audio's end, when its last chunks were dropped: an empty write at `frames`, so storage knows how long the
   * audio is (the end is silence). A control operation: never dropped.
   */
  audioEnd(id: string, frames: number): void {
    this.push({ kind: 'audio', id, bytes: 0, run: () => this.sink.writeAudio(id, frames, new Int16Array(0)) });
  }

  attachment(id: string, name: string, data: Buffer, mode: 'append' | 'replace'): boolean {
    if (!this.fits(data.length, 'attachment')) return false;
    this.push({ kind: 'attachment', id, bytes: data.length, run: () => this.sink.writeAttachment(id, name, data, mode) });
    return true;
  }

  update(meta: RecordingMetadata): void {
    const queued = this.queuedUpdates.get(meta.id);
    if (queued !== undefined) {
      queued.meta = meta;
      return;
    }
    const slot = { meta };
    this.queuedUpdates.set(meta.id, slot);
    this.push({
      kind: 'update',
      id: meta.id,
      bytes: 0,
      run: () => {
        this.queuedUpdates.delete(meta.id);
        return this.sink.update(slot.meta);
      },
    });
  }

  close(meta: RecordingMetadata): void {
    this.push({ kind: 'close', id: meta.id, bytes: 0, run: () => this.sink.close(meta) });
  }

  /** For sources that can wait (files): a promise while more than WAIT_ABOVE_BYTES (or half the queue) is queued. */
  writable(): Promise<void> | undefined {
    if (this.bytes <= this.waitAbove) return undefined;
    return new Promise((resolve) => this.waitersWritable.push(resolve));
  }

  /** Resolves when everything queued has reached the sink, or false when `timeoutMs` passes first. */
  drain(timeoutMs = Infinity): Promise<boolean> {
    if (this.depth === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
      this.waitersIdle.push(done);
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const i = this.waitersIdle.indexOf(done);
          if (i >= 0) this.waitersIdle.splice(i, 1);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  private fits(bytes: number, kind: OpKind): boolean {
    if (this.bytes + bytes <= this.opts.maxBytes) return true;
    this.stats.droppedOps++;
    this.stats.droppedBytes += bytes;
    this.opts.counters.inc(`storage.dropped.${kind}`);
    this.opts.counters.inc('storage.droppedBytes', bytes);
    this.opts.metrics?.drop('queue', `storage-full-${kind}`, 'storage');
    const now = Date.now();
    if (now - this.lastWarn >= 1000) {
      const more = this.suppressed > 0 ? ` (and ${this.suppressed} more since the last warning)` : '';
      this.opts.log.warn(`storage queue full (${this.bytes} bytes waiting, limit ${this.opts.maxBytes}): ${kind} dropped${more}; storage is slower than the recordings coming in`);
      this.lastWarn = now;
      this.suppressed = 0;
    } else this.suppressed++;
    return false;
  }

  private push(op: Op): void {
    this.waiting.push(op);
    this.bytes += op.bytes;
    this.stats.enqueued++;
    this.schedule();
  }

  /**
   * Starts waiting operations whose recording has none in flight, up to `concurrency` at once, in arrival order:
   * several recordings' writes overlap in the thread pool; one recording's stay in order.
   */
  private schedule(): void {
    if (this.inFlight >= this.concurrency || this.waiting.length === 0) return;
    for (let i = 0; i < this.waiting.length && this.inFlight < this.concurrency; ) {
      const op = this.waiting[i]!;
      if (this.busy.has(op.id)) {
        i++;
        // Past a few blocked heads the rest waits for the next completion (bounded scan per call).
        if (i >= 64) break;
        continue;
      }
      this.waiting.splice(i, 1);
      this.busy.add(op.id);
      this.inFlight++;
      void this.run(op);
    }
  }

  private async run(op: Op): Promise<void> {
    const t0 = performance.now();
    try {
      await op.run();
      this.stats.completed++;
    } catch (e) {
      this.stats.failed++;
      this.opts.counters.inc(`storage.errors.${op.kind}`);
      const err = e instanceof Error ? e : new Error(String(e));
      this.opts.log.error(`storage: ${op.kind} of recording ${op.id} failed: ${err.message}`);
      this.opts.onError?.(op.id, op.kind, err);
    }
    this.latency?.observe((performance.now() - t0) / 1000, { op: op.kind });
    this.bytes -= op.bytes;
    this.busy.delete(op.id);
    this.inFlight--;
    if (this.bytes <= this.lowWater && this.waitersWritable.length > 0) {
      const w = this.waitersWritable;
      this.waitersWritable = [];
      for (const f of w) f();
    }
    this.schedule();
    if (this.depth === 0) {
      const w = [...this.waitersIdle, ...this.waitersWritable];
      this.waitersIdle = [];
      this.waitersWritable = [];
      for (const f of w) f();
    }
  }
}
