/**
 * The core's named counters (CounterSet: `core.media.unmatched`, `core.srtp.auth`, `<plugin>.<name>`) as Prometheus
 * metrics, read at scrape time: the packet path keeps bumping plain numbers and never calls prom-client.
 *
 * Two views of the same numbers:
 * - every counter as `tapline_counter_total{name="core.media.unmatched"}` (nothing is left out, plugins included);
 * - the documented ones as named metrics with labels (core/service/METRICS.md), by the rules below: a rule's
 *   `counter` is a dotted name in which `{label}` matches one segment and becomes that label's value.
 */
import type { Counters } from '../contract';
import type { MetricLabels } from '../contracts/metrics';
import type { PromMetrics } from '../metrics';

export interface CounterRule {
  /** Dotted counter name; `{label}` matches one dot-free segment (`core.srtp.{reason}`). */
  counter: string;
  /** The Prometheus counter it adds to (several rules may feed one metric, told apart by `labels`). */
  metric: string;
  help: string;
  /** Fixed labels this rule adds (`{ kind: 'rtcp' }`). */
  labels?: Readonly<Record<string, string>>;
}

/** Named metrics for the core's counters. The first rule that matches a counter wins. */
export const CORE_COUNTER_RULES: readonly CounterRule[] = [
  { counter: 'core.frames', metric: 'tapline_frames_total', help: 'Link-layer frames read (capture files, live interfaces)' },
  { counter: 'core.frames.skipped.{reason}', metric: 'tapline_frames_skipped_total', help: 'Frames not decoded, by reason (truncated, unsupported-link, unsupported-l3, unsupported-l4, bad-ip-header, fragment-pending)' },
  { counter: 'core.ip.fragments.{reason}', metric: 'tapline_ip_fragments_dropped_total', help: 'IP fragment sets given up, by reason (expired, evicted, invalid)' },
  { counter: 'core.tcp.gaps', metric: 'tapline_tcp_gaps_total', help: 'Holes in reassembled TCP streams (segments never captured)' },
  { counter: 'core.tcp.flows.{kind}', metric: 'tapline_tcp_flows_total', help: 'TCP flows seen, by what they carry (sip, other)' },
  { counter: 'core.sip.messages', metric: 'tapline_sip_messages_total', help: 'SIP messages parsed' },
  { counter: 'core.sip.errors', metric: 'tapline_sip_parse_errors_total', help: 'SIP messages that could not be parsed' },
  { counter: 'core.sip.keepalives', metric: 'tapline_sip_keepalives_total', help: 'SIP keep-alives (CRLF pings) skipped' },
  { counter: 'core.sip.ignoredUserAgent', metric: 'tapline_sip_ignored_total', help: 'SIP messages ignored by policy, by reason', labels: { reason: 'user-agent' } },
  { counter: 'core.media.packets', metric: 'tapline_media_packets_total', help: 'UDP datagrams handed to media association (not SIP)' },
  { counter: 'core.media.rtp', metric: 'tapline_media_classified_total', help: 'Media datagrams by what they turned out to be', labels: { kind: 'rtp' } },
  { counter: 'core.media.rtcp', metric: 'tapline_media_classified_total', help: '', labels: { kind: 'rtcp' } },
  { counter: 'core.media.stun', metric: 'tapline_media_classified_total', help: '', labels: { kind: 'stun' } },
  { counter: 'core.media.turnChannel', metric: 'tapline_media_classified_total', help: '', labels: { kind: 'turn-channel' } },
  { counter: 'core.media.turnMux', metric: 'tapline_media_classified_total', help: '', labels: { kind: 'turn-mux' } },
  { counter: 'core.media.dtls', metric: 'tapline_media_classified_total', help: '', labels: { kind: 'dtls' } },
  { counter: 'core.media.notRtp', metric: 'tapline_media_classified_total', help: '', labels: { kind: 'not-rtp' } },
  { counter: 'core.media.unmatched', metric: 'tapline_media_unmatched_packets_total', help: 'RTP/RTCP packets no call claimed (no SDP seen for their addresses)', labels: { kind: 'rtp' } },
  { counter: 'core.media.unmatchedRtcp', metric: 'tapline_media_unmatched_packets_total', help: '', labels: { kind: 'rtcp' } },
  { counter: 'core.media.unmatchedStreams', metric: 'tapline_media_unmatched_streams_total', help: 'RTP streams (flow + SSRC) no call claimed' },
  { counter: 'core.media.unmatchedDropped', metric: 'tapline_media_unmatched_streams_forgotten_total', help: 'Unmatched streams forgotten to keep their table bounded' },
  { counter: 'core.media.notRecorded', metric: 'tapline_media_discarded_packets_total', help: 'Media of known calls not put in a recording, by reason', labels: { reason: 'call-not-recorded' } },
  { counter: 'core.media.afterRecording', metric: 'tapline_media_discarded_packets_total', help: '', labels: { reason: 'after-recording' } },
  { counter: 'core.media.noDecoder', metric: 'tapline_media_discarded_packets_total', help: '', labels: { reason: 'no-decoder' } },
  { counter: 'core.media.badPadding', metric: 'tapline_media_discarded_packets_total', help: '', labels: { reason: 'bad-padding' } },
  { counter: 'core.media.decodeErrors', metric: 'tapline_media_discarded_packets_total', help: '', labels: { reason: 'decode-error' } },
  { counter: 'core.media.workerBehind', metric: 'tapline_media_discarded_packets_total', help: '', labels: { reason: 'worker-behind' } },
  { counter: 'core.workers.failed', metric: 'tapline_call_workers_failed_total', help: 'Call worker threads that died (their calls in progress are lost; the log says which)' },
  { counter: 'core.workers.restarted', metric: 'tapline_call_workers_restarted_total', help: 'Call worker threads started again after one died (after 1 s, doubling up to a minute)' },
  { counter: 'core.srtp.heldForAnswer', metric: 'tapline_srtp_held_for_answer_total', help: 'SRTP packets held until the SDP answer with their key arrived' },
  { counter: 'core.srtp.{reason}', metric: 'tapline_srtp_decrypt_failures_total', help: 'SRTP packets not decrypted, by reason (auth: wrong key or corrupt, replay, short, mki, not-rtp)' },
  { counter: 'core.recordings.finished', metric: 'tapline_recordings_finished_total', help: 'Recordings completed and handed to storage' },
  { counter: 'core.storage.errors.{op}', metric: 'tapline_storage_errors_total', help: 'Storage operations that failed, by operation (the recording may be incomplete; it is flagged)' },
];

/** The generic view's name; its `name` label is the counter's dotted name. */
export const GENERIC_COUNTER_METRIC = 'tapline_counter_total';
/** Distinct counter names exported by the generic view (a bound on its series; the rest are left out, once warned). */
export const MAX_EXPORTED_COUNTERS = 5000;

interface Compiled {
  rule: CounterRule;
  re: RegExp;
  captures: string[];
}

function compile(rule: CounterRule): Compiled {
  const captures: string[] = [];
  const src = rule.counter
    .split('.')
    .map((seg) => {
      const m = /^\{([a-z_][a-z0-9_]*)\}$/.exec(seg);
      if (m === null) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      captures.push(m[1] as string);
      return '([^.]+)';
    })
    .join('\\.');
  return { rule, re: new RegExp(`^${src}$`), captures };
}

/** Which metric and labels a counter name maps to, or null; cached per name (names are few and stable). */
class RuleIndex {
  private readonly compiled: Compiled[];
  private readonly cache = new Map<string, { metric: string; labels: MetricLabels } | null>();

  constructor(rules: readonly CounterRule[]) {
    this.compiled = rules.map(compile);
  }

  resolve(name: string): { metric: string; labels: MetricLabels } | null {
    let r = this.cache.get(name);
    if (r !== undefined) return r;
    r = null;
    for (const c of this.compiled) {
      const m = c.re.exec(name);
      if (m === null) continue;
      const labels: Record<string, string> = { ...c.rule.labels };
      c.captures.forEach((label, i) => (labels[label] = m[i + 1] as string));
      r = { metric: c.rule.metric, labels };
      break;
    }
    if (this.cache.size < MAX_EXPORTED_COUNTERS) this.cache.set(name, r);
    return r;
  }
}

export interface ExportCountersOptions {
  rules?: readonly CounterRule[];
  /** Also export every counter as tapline_counter_total{name} (default true). */
  generic?: boolean;
  /** Told once when counters beyond MAX_EXPORTED_COUNTERS are left out of the generic view. */
  onOverflow?: (dropped: number) => void;
}

/**
 * Registers, on `metrics`, counters that read `counters.snapshot()` at each scrape (once per scrape).
 */
export function exportCounters(metrics: PromMetrics, counters: Pick<Counters, 'snapshot'>, opts: ExportCountersOptions = {}): void {
  const rules = opts.rules ?? CORE_COUNTER_RULES;
  const index = new RuleIndex(rules);
  // One metric per distinct name: label names are the union of its rules' (each rule must give the same set).
  const byMetric = new Map<string, { help: string; labelNames: string[] }>();
  for (const r of rules) {
    const c = compile(r);
    const labelNames = [...Object.keys(r.labels ?? {}), ...c.captures].sort();
    const prior = byMetric.get(r.metric);
    if (prior === undefined) byMetric.set(r.metric, { help: r.help, labelNames });
    else if (prior.labelNames.join(',') !== labelNames.join(',')) throw new Error(`counter rules for ${r.metric} disagree on labels: [${prior.labelNames.join(', ')}] and [${labelNames.join(', ')}] (${r.counter})`);
    else if (prior.help === '') prior.help = r.help;
  }

  // prom-client runs every metric's collect in one synchronous pass per scrape: one snapshot serves them all.
  let snap: Record<string, number> | undefined;
  const snapshot = (): Record<string, number> => {
    if (snap === undefined) {
      snap = counters.snapshot();
      setImmediate(() => (snap = undefined));
    }
    return snap;
  };

  for (const [metric, { help, labelNames }] of byMetric) {
    metrics.collectedCounter(metric, help, labelNames, (report) => {
      const sums = new Map<string, { labels: MetricLabels; total: number }>();
      for (const [name, total] of Object.entries(snapshot())) {
        const r = index.resolve(name);
        if (r === null || r.metric !== metric) continue;
        const key = JSON.stringify(r.labels);
        const e = sums.get(key);
        if (e === undefined) sums.set(key, { labels: r.labels, total });
        else e.total += total;
      }
      for (const { labels, total } of sums.values()) report(total, labels);
    });
  }

  if (opts.generic !== false) {
    let warned = false;
    metrics.collectedCounter(GENERIC_COUNTER_METRIC, "Every named counter of the core and plugins (the run summary's counters), by its dotted name", ['name'], (report) => {
      const entries = Object.entries(snapshot());
      for (let i = 0; i < entries.length && i < MAX_EXPORTED_COUNTERS; i++) report(entries[i]![1], { name: entries[i]![0] });
      if (entries.length > MAX_EXPORTED_COUNTERS && !warned) {
        warned = true;
        opts.onOverflow?.(entries.length - MAX_EXPORTED_COUNTERS);
      }
    });
  }
}
