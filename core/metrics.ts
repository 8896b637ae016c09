/**
 * Metrics on prom-client, one Registry per service (never prom-client's global one: two services in a process,
 * as in tests, stay apart). Implements the plugins' Metrics contract; names are checked so every metric is
 * `tapline_…`, and asking twice for a name returns the same metric (plugins may register lazily).
 */
import * as prom from 'prom-client';
import type { CounterMetric, GaugeMetric, HistogramMetric, MetricLabels, Metrics } from './contracts/metrics';
import type { DropStage } from './contracts/ingest';

const NAME = /^tapline_[a-z0-9_]+$/;

type AnyMetric = prom.Counter<string> | prom.Gauge<string> | prom.Histogram<string>;

function labelsOf(l: MetricLabels | undefined): Record<string, string | number> {
  return l === undefined ? {} : (l as Record<string, string | number>);
}

export class PromMetrics implements Metrics {
  readonly registry = new prom.Registry();
  private readonly metrics = new Map<string, { kind: string; m: AnyMetric; api: CounterMetric | GaugeMetric | HistogramMetric }>();
  private readonly drops: CounterMetric;
  private readonly scrapeHooks: Array<() => void> = [];

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // prom-client's names already start with process_ or nodejs_: the prefix makes them tapline_process_cpu_…,
    // tapline_nodejs_eventloop_lag_… (not tapline_process_process_…).
    if (opts.defaultMetrics === true) prom.collectDefaultMetrics({ register: this.registry, prefix: 'tapline_' });
    this.drops = this.counter('tapline_drops_total', 'Input lost or refused, by pipeline stage (kernel, queue, auth, parse, limit), reason and source', ['stage', 'reason', 'source']);
  }

  private existing<T>(name: string, kind: string): T | undefined {
    const e = this.metrics.get(name);
    if (e === undefined) return undefined;
    if (e.kind !== kind) throw new Error(`metric ${name} is already registered as a ${e.kind}`);
    return e.api as T;
  }

  private check(name: string): void {
    if (!NAME.test(name)) throw new Error(`metric name "${name}" must match ${NAME}`);
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): CounterMetric {
    const prior = this.existing<CounterMetric>(name, 'counter');
    if (prior !== undefined) return prior;
    this.check(name);
    const m = new prom.Counter({ name, help, labelNames: [...labelNames], registers: [this.registry] });
    const api: CounterMetric = { inc: (labels, by = 1) => m.inc(labelsOf(labels), by) };
    this.metrics.set(name, { kind: 'counter', m, api });
    return api;
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: (g: GaugeMetric) => void): GaugeMetric {
    const prior = this.existing<GaugeMetric>(name, 'gauge');
    if (prior !== undefined) return prior;
    this.check(name);
    let api: GaugeMetric | undefined;
    const m = new prom.Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      ...(collect !== undefined ? { collect: () => collect(api!) } : {}),
    });
    api = {
      set: (v, labels) => m.set(labelsOf(labels), v),
      inc: (labels, by = 1) => m.inc(labelsOf(labels), by),
      dec: (labels, by = 1) => m.dec(labelsOf(labels), by),
    };
    this.metrics.set(name, { kind: 'gauge', m, api });
    return api;
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): HistogramMetric {
    const prior = this.existing<HistogramMetric>(name, 'histogram');
    if (prior !== undefined) return prior;
    this.check(name);
    const m = new prom.Histogram({ name, help, buckets: [...buckets], labelNames: [...labelNames], registers: [this.registry] });
    const api: HistogramMetric = { observe: (v, labels) => m.observe(labelsOf(labels), v) };
    this.metrics.set(name, { kind: 'histogram', m, api });
    return api;
  }

  /**
   * A counter whose totals live elsewhere (the core's CounterSet, a source's own tally) and are read at each
   * scrape: the hot path never calls prom-client. `read` reports every series' current total.
   */
  collectedCounter(name: string, help: string, labelNames: readonly string[], read: (report: (total: number, labels?: MetricLabels) => void) => void): void {
    if (this.metrics.has(name)) throw new Error(`metric ${name} is already registered as a ${this.metrics.get(name)!.kind}`);
    this.check(name);
    const m: prom.Counter<string> = new prom.Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect: () => {
        m.reset();
        read((total, labels) => {
          if (total > 0) m.inc(labelsOf(labels), total);
        });
      },
    });
    const api: CounterMetric = {
      inc: () => {
        throw new Error(`metric ${name} is read at scrape time; it cannot be incremented`);
      },
    };
    this.metrics.set(name, { kind: 'collected counter', m, api });
  }

  drop(stage: DropStage, reason: string, source: string, count = 1): void {
    this.drops.inc({ stage, reason, source }, count);
  }

  /** Work to do before each scrape (counters batched on a hot path are written out). */
  beforeScrape(fn: () => void): void {
    this.scrapeHooks.push(fn);
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    for (const f of this.scrapeHooks) f();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
