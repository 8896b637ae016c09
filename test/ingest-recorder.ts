/**
 * A fake IngestSink that records what a source hands in, for testing sources without a kernel; and helpers to run
 * a live source until it is ready and to wait for what it delivers.
 */
import type { DropStage, IngestSink, IpArrival, MediaArrival, SipArrival, Source, SourceRunResult } from '../core/contracts/ingest';
import type { RawFrame } from '../core/net/types';
import * as net from 'node:net';

export class IngestRecorder implements IngestSink {
  readonly frames: RawFrame[] = [];
  readonly ips: IpArrival[] = [];
  readonly sips: SipArrival[] = [];
  readonly medias: MediaArrival[] = [];
  readonly skips: string[] = [];
  /** Every drop, as 'stage/reason', once per count. */
  readonly drops: string[] = [];
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  frame(f: RawFrame): void {
    this.frames.push(f);
    this.wake();
  }
  ipPacket(p: IpArrival): void {
    this.ips.push(p);
    this.wake();
  }
  sip(s: SipArrival): void {
    this.sips.push(s);
    this.wake();
  }
  media(m: MediaArrival): void {
    this.medias.push(m);
    this.wake();
  }
  skip(reason: string, detail?: string): void {
    this.skips.push(`${reason}: ${detail ?? ''}`);
    this.wake();
  }
  drop(stage: DropStage, reason: string, count = 1): void {
    for (let i = 0; i < count; i++) this.drops.push(`${stage}/${reason}`);
    this.wake();
  }
  writable(): undefined {
    return undefined;
  }

  /** How many drops of 'stage/reason'. */
  dropped(key: string): number {
    return this.drops.filter((d) => d === key).length;
  }

  /** Drops counted by 'stage/reason'. */
  dropCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const d of this.drops) out[d] = (out[d] ?? 0) + 1;
    return out;
  }

  /** The SIP texts delivered, in order. */
  sipTexts(): string[] {
    return this.sips.map((s) => s.data.toString('utf8'));
  }

  /** Resolves once `test` holds (checked after every call into the sink); rejects after `ms`. */
  until(test: () => boolean, ms = 5000, what = 'the expected input'): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { test, resolve: () => undefined as void };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; sips=${this.sips.length} medias=${this.medias.length} drops=${JSON.stringify(this.dropCounts())}`));
      }, ms);
      w.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(w);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (w.test()) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }
}

/** Polls `test` every 10 ms (for state outside the sink: listener stats); rejects after `ms`. */
export async function eventually(test: () => boolean | Promise<boolean>, ms = 5000, what = 'the condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await test())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface RunningSource {
  sink: IngestRecorder;
  /** Aborts the source and resolves with its result once it has closed everything. */
  stop(): Promise<SourceRunResult>;
}

/** Starts a live source and resolves once it called ready() (rejects if run() fails first). */
export async function startSource(source: Source, sink = new IngestRecorder()): Promise<RunningSource> {
  const ac = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const done = source.run(sink, ac.signal, { ready });
  await Promise.race([readyP, done.then(() => Promise.reject(new Error(`${source.name} ended before it was ready`)))]);
  return {
    sink,
    stop: async () => {
      ac.abort();
      return done;
    },
  };
}

/** A TCP connection that the caller's list keeps, to destroy after the test. */
export function connectTcp(port: number, keep: Array<{ destroy(): void }>, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host }, () => resolve(s));
    keep.push(s);
    s.on('error', reject);
  });
}

/** Ms until the server closes `s` (0 when it is closed already); reads and discards what the server sends. */
export function whenClosed(s: net.Socket): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    s.on('error', () => undefined);
    if (s.destroyed) return resolve(0);
    s.on('close', () => resolve(Date.now() - t0));
    s.resume();
  });
}
