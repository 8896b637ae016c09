/**
 * The metrics `tapline serve` exposes beyond the core's counters (core/service/counter-metrics.ts) and the drops
 * (tapline_drops_total, core/metrics.ts): one definition per metric, so names, labels and help are written once
 * and core/service/METRICS.md can be checked against them.
 *
 * Values that change per packet are never pushed into prom-client from the packet path: they are read at scrape
 * time from readers the service supplies (a source's own tally, the storage queue's length).
 */
import type { CounterMetric, GaugeMetric, HistogramMetric, MetricLabels } from '../contracts/metrics';
import type { LifecycleBus } from '../contracts/lifecycle';
import type { PromMetrics } from '../metrics';
import { FEED_CONNECTIONS_CLOSED } from '../net/feed-common';

export interface MetricDef {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  readonly labels: readonly string[];
  readonly buckets?: readonly number[];
}

const def = <T extends Record<string, MetricDef>>(d: T): T => d;

export const SERVICE_METRICS = def({
  sourcePackets: {
    name: 'tapline_source_packets_total',
    type: 'counter',
    help: 'What each source handed to the core, by kind (frame, ip, sip, media)',
    labels: ['source', 'kind'],
  },
  sourceUp: { name: 'tapline_source_up', type: 'gauge', help: '1 while a live source listens or captures, 0 when it is down or restarting', labels: ['source'] },
  feedConnections: { name: 'tapline_feed_connections', type: 'gauge', help: 'Open connections of connection-based sources (HEP over TCP, the 8008 feed, SIPREC)', labels: ['source'] },
  feedConnectionsClosed: FEED_CONNECTIONS_CLOSED,
  storageQueueDepth: { name: 'tapline_storage_queue_depth', type: 'gauge', help: 'Recording operations waiting in the storage queue', labels: [] },
  storageQueueBytes: { name: 'tapline_storage_queue_bytes', type: 'gauge', help: 'Bytes of audio and attachments waiting in the storage queue', labels: [] },
  storageQueueCapacity: {
    name: 'tapline_storage_queue_capacity_bytes',
    type: 'gauge',
    help: 'The storage queue byte budget (storage.queueMaxBytes); past it new audio is dropped and counted',
    labels: [],
  },
  storageWriteSeconds: {
    name: 'tapline_storage_write_seconds',
    type: 'histogram',
    help: 'Time storage took per queued operation (open, openAudio, audio, attachment, update, close)',
    labels: ['op'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  },
  callWorkerBehind: { name: 'tapline_call_worker_behind_bytes', type: 'gauge', help: 'Bytes of calls\' packets handed to a call worker thread and not yet processed (media.workers)', labels: ['worker'] },
  callWorkerRecordings: { name: 'tapline_call_worker_recordings', type: 'gauge', help: 'Recordings in progress in each call worker thread', labels: ['worker'] },
  callsStarted: { name: 'tapline_calls_started_total', type: 'counter', help: 'Calls seen starting (INVITE dialogs and Lync/SfB sessions)', labels: [] },
  callsEnded: { name: 'tapline_calls_ended_total', type: 'counter', help: 'Calls ended (BYE, CANCEL, failure or idle timeout)', labels: [] },
  callsActive: { name: 'tapline_calls_active', type: 'gauge', help: 'Calls in progress (started, not ended)', labels: [] },
  callsNotRecorded: { name: 'tapline_calls_not_recorded_total', type: 'counter', help: 'Calls the recording policy left alone (no licensed user, another recorder, disallowed user agent)', labels: [] },
  recordingsStarted: { name: 'tapline_recordings_started_total', type: 'counter', help: 'Recordings begun', labels: [] },
  recordingsActive: { name: 'tapline_recordings_active', type: 'gauge', help: 'Recordings in progress (begun, final metadata not yet handed to storage)', labels: [] },
  chatsEnded: { name: 'tapline_chats_ended_total', type: 'counter', help: 'Chat sessions ended, by outcome (kept, no-messages, unlicensed)', labels: ['outcome'] },
  logDroppedLines: { name: 'tapline_log_dropped_lines_total', type: 'counter', help: 'Log lines dropped because the log destination was slower than the logs', labels: [] },
});

export type ServiceMetricKey = keyof typeof SERVICE_METRICS;

/** Values read at each scrape; each is optional (a service without a storage queue has no depth). */
export interface ServiceMetricReaders {
  /** Per source and kind, totals since start: [source, kind, total]. */
  sourcePackets?: () => Iterable<readonly [source: string, kind: string, total: number]>;
  storageQueue?: () => { depth: number; bytes: number; capacityBytes: number };
  /** ServiceLogger.droppedLines. */
  logDroppedLines?: () => number;
  /** Per call worker thread (none when calls run in the main thread). */
  callWorkers?: () => Iterable<{ worker: string; behind: number; recordings: number }>;
}

/** Metrics the service sets itself (low rate: state changes, storage operations). */
export interface ServiceMetrics {
  sourceUp: GaugeMetric;
  feedConnections: GaugeMetric;
  feedConnectionsClosed: CounterMetric;
  storageWriteSeconds: HistogramMetric;
}

function gaugeOf(m: PromMetrics, d: MetricDef, collect?: (g: GaugeMetric) => void): GaugeMetric {
  return m.gauge(d.name, d.help, d.labels, collect);
}

/** Registers the service metrics on `metrics`: the set-by-hand ones returned, the read ones wired to `readers`. */
export function registerServiceMetrics(metrics: PromMetrics, readers: ServiceMetricReaders = {}): ServiceMetrics {
  const S = SERVICE_METRICS;
  const { sourcePackets, storageQueue, logDroppedLines, callWorkers } = readers;
  if (sourcePackets !== undefined) {
    metrics.collectedCounter(S.sourcePackets.name, S.sourcePackets.help, S.sourcePackets.labels, (report) => {
      for (const [source, kind, total] of sourcePackets()) report(total, { source, kind });
    });
  }
  if (storageQueue !== undefined) {
    // One read serves both gauges of a scrape (they are collected in the same pass).
    let q: { depth: number; bytes: number; capacityBytes: number } | undefined;
    const read = (): { depth: number; bytes: number; capacityBytes: number } => {
      if (q === undefined) {
        q = storageQueue();
        setImmediate(() => (q = undefined));
      }
      return q;
    };
    gaugeOf(metrics, S.storageQueueDepth, (g) => g.set(read().depth));
    gaugeOf(metrics, S.storageQueueBytes, (g) => g.set(read().bytes));
    gaugeOf(metrics, S.storageQueueCapacity, (g) => g.set(read().capacityBytes));
  }
  if (callWorkers !== undefined) {
    gaugeOf(metrics, S.callWorkerBehind, (g) => {
      for (const w of callWorkers()) g.set(w.behind, { worker: w.worker });
    });
    gaugeOf(metrics, S.callWorkerRecordings, (g) => {
      for (const w of callWorkers()) g.set(w.recordings, { worker: w.worker });
    });
  }
  if (logDroppedLines !== undefined) {
    metrics.collectedCounter(S.logDroppedLines.name, S.logDroppedLines.help, [], (report) => report(logDroppedLines()));
  }
  const h = S.storageWriteSeconds;
  return {
    sourceUp: gaugeOf(metrics, S.sourceUp),
    feedConnections: gaugeOf(metrics, S.feedConnections),
    feedConnectionsClosed: metrics.counter(S.feedConnectionsClosed.name, S.feedConnectionsClosed.help, S.feedConnectionsClosed.labels),
    storageWriteSeconds: metrics.histogram(h.name, h.help, h.buckets, h.labels),
  };
}

/**
 * Call, recording and chat metrics from the lifecycle events (a few per call: cheap to count as they come).
 * Returns a function that unsubscribes.
 */
export function attachLifecycleMetrics(metrics: PromMetrics, events: LifecycleBus): () => void {
  const S = SERVICE_METRICS;
  const counter = (d: MetricDef): CounterMetric => metrics.counter(d.name, d.help, d.labels);
  const callsStarted = counter(S.callsStarted);
  const callsEnded = counter(S.callsEnded);
  const callsNotRecorded = counter(S.callsNotRecorded);
  const recordingsStarted = counter(S.recordingsStarted);
  const chatsEnded = counter(S.chatsEnded);
  // Gauges kept as numbers and read at scrape: never below zero even if an end event came without its start.
  let calls = 0;
  let recordings = 0;
  gaugeOf(metrics, S.callsActive, (g) => g.set(calls));
  gaugeOf(metrics, S.recordingsActive, (g) => g.set(recordings));
  const offs = [
    events.on('callStarted', () => {
      calls++;
      callsStarted.inc();
    }),
    events.on('callEnded', () => {
      calls = Math.max(0, calls - 1);
      callsEnded.inc();
    }),
    events.on('callNotRecorded', () => callsNotRecorded.inc()),
    events.on('recordingStarted', () => {
      recordings++;
      recordingsStarted.inc();
    }),
    events.on('recordingFinished', () => {
      recordings = Math.max(0, recordings - 1);
    }),
    events.on('chatEnded', (c) => chatsEnded.inc({ outcome: c.notKept ?? 'kept' } satisfies MetricLabels)),
  ];
  return () => {
    for (const off of offs) off();
  };
}
