import * as assert from 'node:assert/strict';
import { CounterSet } from '../counters';
import { PromMetrics } from '../metrics';
import { PluginHarness } from '../testing/index';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { sample } from '../../test/prom-text';
import { CORE_COUNTER_RULES, exportCounters, GENERIC_COUNTER_METRIC, MAX_EXPORTED_COUNTERS } from './counter-metrics';

describe('core counters as Prometheus metrics (read at scrape time)', () => {
  it('exports every counter as tapline_counter_total{name} and the documented ones as named metrics with labels', async () => {
    const counters = new CounterSet();
    const core = counters.scoped('core');
    const metrics = new PromMetrics();
    exportCounters(metrics, counters);
    core.inc('media.unmatched', 40);
    core.inc('media.unmatchedRtcp', 2);
    core.inc('srtp.auth', 7);
    core.inc('srtp.replay', 1);
    core.inc('srtp.heldForAnswer', 5);
    core.inc('frames.skipped');
    core.inc('frames.skipped.unsupported-l3', 3);
    core.inc('media.noDecoder', 4);
    counters.scoped('storage-local').inc('completed', 2);
    const text = await metrics.text();
    assert.equal(sample(text, GENERIC_COUNTER_METRIC, { name: 'core.media.unmatched' }), 40);
    assert.equal(sample(text, GENERIC_COUNTER_METRIC, { name: 'storage-local.completed' }), 2, 'plugin counters too');
    assert.equal(sample(text, GENERIC_COUNTER_METRIC, { name: 'core.frames.skipped' }), 1);
    assert.equal(sample(text, 'tapline_media_unmatched_packets_total', { kind: 'rtp' }), 40);
    assert.equal(sample(text, 'tapline_media_unmatched_packets_total', { kind: 'rtcp' }), 2);
    assert.equal(sample(text, 'tapline_srtp_decrypt_failures_total', { reason: 'auth' }), 7);
    assert.equal(sample(text, 'tapline_srtp_decrypt_failures_total', { reason: 'replay' }), 1);
    assert.equal(sample(text, 'tapline_srtp_decrypt_failures_total', { reason: 'heldForAnswer' }), undefined, 'held packets are not failures');
    assert.equal(sample(text, 'tapline_srtp_held_for_answer_total'), 5);
    assert.equal(sample(text, 'tapline_frames_skipped_total', { reason: 'unsupported-l3' }), 3);
    assert.equal(sample(text, 'tapline_media_discarded_packets_total', { reason: 'no-decoder' }), 4);
    assert.match(text, /^# TYPE tapline_srtp_decrypt_failures_total counter$/m);
    assert.match(text, /^# HELP tapline_media_unmatched_packets_total RTP\/RTCP packets no call claimed/m, 'help from the first rule of a metric');
  });

  it('values are read at each scrape: increments between scrapes show at the next one; nothing is pushed per increment', async () => {
    const counters = new CounterSet();
    let snapshots = 0;
    const metrics = new PromMetrics();
    exportCounters(metrics, { snapshot: () => (snapshots++, counters.snapshot()) });
    for (let i = 0; i < 100_000; i++) counters.inc('core.media.unmatched');
    assert.equal(snapshots, 0, 'increments do not touch the exporter');
    assert.equal(sample(await metrics.text(), 'tapline_media_unmatched_packets_total', { kind: 'rtp' }), 100_000);
    assert.equal(snapshots, 1, 'one snapshot per scrape for all the metrics');
    counters.inc('core.media.unmatched', 5);
    await new Promise((r) => setImmediate(r));
    assert.equal(sample(await metrics.text(), 'tapline_media_unmatched_packets_total', { kind: 'rtp' }), 100_005);
    assert.equal(snapshots, 2);
  });

  it('a collected counter cannot be incremented by hand nor registered twice under another kind', () => {
    const metrics = new PromMetrics();
    exportCounters(metrics, new CounterSet());
    assert.throws(() => metrics.counter('tapline_srtp_decrypt_failures_total', 'x'), /already registered as a collected counter/);
    assert.throws(() => metrics.collectedCounter('tapline_counter_total', 'x', [], () => undefined), /already registered/);
    assert.throws(() => metrics.collectedCounter('not_tapline', 'x', [], () => undefined), /must match/);
  });

  it('rules feeding one metric must agree on labels', () => {
    const rules = [
      { counter: 'core.a', metric: 'tapline_x_total', help: 'x', labels: { kind: 'a' } },
      { counter: 'core.b.{reason}', metric: 'tapline_x_total', help: '' },
    ];
    assert.throws(() => exportCounters(new PromMetrics(), new CounterSet(), { rules }), /disagree on labels: \[kind\] and \[reason\]/);
  });

  it(`the generic view is bounded to ${MAX_EXPORTED_COUNTERS} names, and says once how many it left out`, async () => {
    const counters = new CounterSet();
    for (let i = 0; i < MAX_EXPORTED_COUNTERS + 7; i++) counters.inc(`p.c${String(i).padStart(5, '0')}`);
    const overflow: number[] = [];
    const metrics = new PromMetrics();
    exportCounters(metrics, counters, { onOverflow: (n) => overflow.push(n) });
    const text = await metrics.text();
    assert.equal(text.split('\n').filter((l) => l.startsWith(`${GENERIC_COUNTER_METRIC}{`)).length, MAX_EXPORTED_COUNTERS);
    await new Promise((r) => setImmediate(r));
    await metrics.text();
    assert.deepEqual(overflow, [7]);
  });
});

describeCorpus('core counters of real captures on /metrics', () => {
  /** Counters that are only in the generic view on purpose (totals of labelled ones, diagnostics). */
  const GENERIC_ONLY = new Set(['core.frames.skipped', 'core.capture.skips', 'core.sip.warnings']);

  it('after a G.711 call and a Teams TURN capture, the named metrics equal the core counters they come from', async () => {
    const h = await PluginHarness.core(); // the kernel exports its counters itself
    await h.pcap(corpusPath('pcap/ww_sip-rtp-g711.pcap'));
    await h.pcap(corpusPath('pcap/ndpi_teams.pcap'));
    await h.stop();
    const c = h.counters();
    const text = await h.kernel.metrics.text();
    const pairs: Array<[string, string, Record<string, string>]> = [
      ['core.frames', 'tapline_frames_total', {}],
      ['core.sip.messages', 'tapline_sip_messages_total', {}],
      ['core.media.packets', 'tapline_media_packets_total', {}],
      ['core.media.rtp', 'tapline_media_classified_total', { kind: 'rtp' }],
      ['core.media.turnMux', 'tapline_media_classified_total', { kind: 'turn-mux' }],
      ['core.media.stun', 'tapline_media_classified_total', { kind: 'stun' }],
      ['core.media.unmatched', 'tapline_media_unmatched_packets_total', { kind: 'rtp' }],
      ['core.media.unmatchedStreams', 'tapline_media_unmatched_streams_total', {}],
      ['core.frames.skipped.unsupported-l4', 'tapline_frames_skipped_total', { reason: 'unsupported-l4' }],
    ];
    for (const [counter, metric, labels] of pairs) {
      assert.ok((c[counter] ?? 0) > 0, `${counter} is non-zero in these captures`);
      assert.equal(sample(text, metric, labels), c[counter], `${metric}${JSON.stringify(labels)} = ${counter}`);
    }
    for (const [name, v] of Object.entries(c)) assert.equal(sample(text, GENERIC_COUNTER_METRIC, { name }), v, name);
    // Every core counter these captures raise has a named metric (or is generic-only on purpose): a new core
    // counter shows up here, to be given a rule and a METRICS.md row.
    const rules = CORE_COUNTER_RULES.map((r) => new RegExp('^' + r.counter.replace(/\./g, '\\.').replace(/\{[a-z_]+\}/g, '[^.]+') + '$'));
    const unnamed = Object.keys(c).filter((n) => n.startsWith('core.') && !GENERIC_ONLY.has(n) && !rules.some((re) => re.test(n)));
    assert.deepEqual(unnamed, []);
  });
});
