/**
 * Metrics a plugin may publish (Prometheus, served on the ops port by `tapline serve`). Names are
 * `tapline_<stage>_<what>[_total]`; a plugin's metric names must start with `tapline_`.
 */
import type { DropStage } from './ingest';

export type MetricLabels = Readonly<Record<string, string | number>>;

export interface CounterMetric {
  inc(labels?: MetricLabels, by?: number): void;
}

export interface GaugeMetric {
  set(value: number, labels?: MetricLabels): void;
  inc(labels?: MetricLabels, by?: number): void;
  dec(labels?: MetricLabels, by?: number): void;
}

export interface HistogramMetric {
  observe(value: number, labels?: MetricLabels): void;
}

export interface Metrics {
  /** A counter (the name ends in _total). Asking twice for one name returns the same counter. */
  counter(name: string, help: string, labelNames?: readonly string[]): CounterMetric;
  /** A gauge; `collect` is called at each scrape to set it (for values read from elsewhere). */
  gauge(name: string, help: string, labelNames?: readonly string[], collect?: (g: GaugeMetric) => void): GaugeMetric;
  histogram(name: string, help: string, buckets: readonly number[], labelNames?: readonly string[]): HistogramMetric;
  /** tapline_drops_total{stage, reason, source}: input lost or refused anywhere in the pipeline. */
  drop(stage: DropStage, reason: string, source: string, count?: number): void;
}
