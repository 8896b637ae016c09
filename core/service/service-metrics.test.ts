import * as assert from 'node:assert/strict';
import { LifecycleHub } from '../lifecycle';
import { PromMetrics } from '../metrics';
import type { CallEventInfo, RecordingStartedInfo } from '../contracts/lifecycle';
import type { RecordingMetadata } from '../media/metadata';
import { sample } from '../../test/prom-text';
import { attachLifecycleMetrics, registerServiceMetrics, SERVICE_METRICS } from './service-metrics';

const call = (key: string): CallEventInfo => ({ key, callId: key, at: '2026-01-01T00:00:00.000Z', call: {} as CallEventInfo['call'] });
const rec = (id: string): RecordingStartedInfo => ({ id, callKey: id, callId: id, at: '2026-01-01T00:00:00.000Z', audio: `${id}.wav`, users: [], joinedMidCall: false });

describe('service metrics (sources, storage queue, logger, lifecycle)', () => {
  it('reads per-source totals, the storage queue and dropped log lines at scrape time; set-by-hand ones are returned', async () => {
    const metrics = new PromMetrics();
    const tally = new Map<string, number>([['hep-udp|sip', 10]]);
    let queue = { depth: 3, bytes: 4096, capacityBytes: 65536 };
    let queueReads = 0;
    let dropped = 0;
    const s = registerServiceMetrics(metrics, {
      sourcePackets: () => [...tally].map(([k, v]) => [k.split('|')[0]!, k.split('|')[1]!, v] as const),
      storageQueue: () => (queueReads++, queue),
      logDroppedLines: () => dropped,
    });
    s.sourceUp.set(1, { source: 'hep-udp' });
    s.feedConnections.inc({ source: 'feed-8008' });
    s.feedConnections.inc({ source: 'feed-8008' });
    s.storageWriteSeconds.observe(0.004, { op: 'write' });
    let text = await metrics.text();
    assert.equal(sample(text, 'tapline_source_packets_total', { source: 'hep-udp', kind: 'sip' }), 10);
    assert.equal(sample(text, 'tapline_storage_queue_depth'), 3);
    assert.equal(sample(text, 'tapline_storage_queue_capacity_bytes'), 65536);
    assert.equal(sample(text, 'tapline_storage_queue_bytes'), 4096);
    assert.equal(queueReads, 1, 'one read of the queue serves all its gauges');
    assert.equal(sample(text, 'tapline_log_dropped_lines_total'), 0, 'a counter without labels shows 0 from the start');
    assert.equal(sample(text, 'tapline_source_up', { source: 'hep-udp' }), 1);
    assert.equal(sample(text, 'tapline_feed_connections', { source: 'feed-8008' }), 2);
    assert.equal(sample(text, 'tapline_storage_write_seconds_bucket', { op: 'write', le: '0.005' }), 1);
    assert.equal(sample(text, 'tapline_storage_write_seconds_bucket', { op: 'write', le: '0.0025' }), 0);
    tally.set('hep-udp|sip', 25);
    tally.set('pcap-eth0|frame', 1000);
    queue = { depth: 200, bytes: 60000, capacityBytes: 65536 };
    dropped = 4;
    await new Promise((r) => setImmediate(r));
    text = await metrics.text();
    assert.equal(sample(text, 'tapline_source_packets_total', { source: 'hep-udp', kind: 'sip' }), 25);
    assert.equal(sample(text, 'tapline_source_packets_total', { source: 'pcap-eth0', kind: 'frame' }), 1000);
    assert.equal(sample(text, 'tapline_storage_queue_depth'), 200);
    assert.equal(sample(text, 'tapline_log_dropped_lines_total'), 4);
  });

  it('counts calls, recordings and chats from lifecycle events; the in-progress gauges follow starts and ends', async () => {
    const metrics = new PromMetrics();
    const events = new LifecycleHub();
    const off = attachLifecycleMetrics(metrics, events);
    events.emit('callStarted', call('a'));
    events.emit('callStarted', call('b'));
    events.emit('callStarted', call('c'));
    events.emit('callNotRecorded', { ...call('c'), reason: 'no party holds the call-recording licence' });
    events.emit('recordingStarted', rec('a'));
    events.emit('recordingStarted', rec('b'));
    events.emit('callEnded', call('a'));
    events.emit('recordingFinished', {} as RecordingMetadata);
    events.emit('chatEnded', { key: 'x', callId: 'x', at: '', participants: [], notKept: 'unlicensed' });
    events.emit('chatEnded', { key: 'y', callId: 'y', at: '', participants: [] });
    let text = await metrics.text();
    assert.equal(sample(text, 'tapline_calls_started_total'), 3);
    assert.equal(sample(text, 'tapline_calls_ended_total'), 1);
    assert.equal(sample(text, 'tapline_calls_active'), 2);
    assert.equal(sample(text, 'tapline_calls_not_recorded_total'), 1);
    assert.equal(sample(text, 'tapline_recordings_started_total'), 2);
    assert.equal(sample(text, 'tapline_recordings_active'), 1);
    assert.equal(sample(text, 'tapline_chats_ended_total', { outcome: 'unlicensed' }), 1);
    assert.equal(sample(text, 'tapline_chats_ended_total', { outcome: 'kept' }), 1);
    // An end without its start (a reload in the middle of a call) never makes the gauge negative.
    for (const k of ['b', 'c', 'z']) events.emit('callEnded', call(k));
    off();
    events.emit('callStarted', call('after'));
    text = await metrics.text();
    assert.equal(sample(text, 'tapline_calls_active'), 0);
    assert.equal(sample(text, 'tapline_calls_started_total'), 3, 'unsubscribed');
  });

  it('every definition has a tapline_ name, counters end in _total and the others do not', () => {
    for (const d of Object.values(SERVICE_METRICS)) {
      assert.match(d.name, /^tapline_[a-z0-9_]+$/);
      assert.equal(d.name.endsWith('_total'), d.type === 'counter', d.name);
    }
  });
});
