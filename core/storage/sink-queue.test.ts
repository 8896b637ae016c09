import * as assert from 'node:assert/strict';
import type { AudioFormat, RecordingLocation, RecordingSink, RecordingStart } from '../contract';
import type { RecordingMetadata } from '../media/metadata';
import { CounterSet } from '../counters';
import { memoryLogger } from '../log';
import { PromMetrics } from '../metrics';
import { SinkQueue } from './sink-queue';

/** A sink that logs every call and can be made slow or failing. */
class ScriptedSink implements RecordingSink {
  readonly calls: string[] = [];
  delayMs = 0;
  failOn: string | undefined;
  hang = false;
  locate(s: RecordingStart): RecordingLocation {
    return { base: `/r/${s.id}`, audio: `/r/${s.id}/a.wav`, format: 'wav' };
  }
  private async step(what: string): Promise<void> {
    this.calls.push(what);
    if (this.hang) await new Promise(() => undefined);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failOn !== undefined && what.startsWith(this.failOn)) throw new Error(`disk says no to ${what}`);
  }
  open(s: RecordingStart): Promise<void> {
    return this.step(`open ${s.id}`);
  }
  openAudio(id: string, f: AudioFormat): Promise<void> {
    return this.step(`openAudio ${id} ${f.sampleRate}/${f.channels}`);
  }
  writeAudio(id: string, at: number, pcm: Int16Array): Promise<void> {
    return this.step(`audio ${id} @${at} x${pcm.length}`);
  }
  writeAttachment(id: string, name: string, data: Buffer, mode: string): Promise<void> {
    return this.step(`attach ${id} ${name} ${mode} ${data.length}`);
  }
  update(m: RecordingMetadata): Promise<void> {
    return this.step(`update ${m.id} ${m.flags.join(',')}`);
  }
  close(m: RecordingMetadata): Promise<void> {
    return this.step(`close ${m.id}`);
  }
  recover(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

const start = (id: string): RecordingStart => ({ id, callId: `${id}@x`, start: 0, from: 'sip:a@x', to: 'sip:b@x' });
const meta = (id: string, flag = ''): RecordingMetadata => ({ id, flags: flag === '' ? [] : [flag] }) as unknown as RecordingMetadata;

function queue(sink: ScriptedSink, maxBytes = 1 << 20) {
  const { log, records } = memoryLogger('debug');
  const counters = new CounterSet();
  const errors: string[] = [];
  const metrics = new PromMetrics();
  const writeSeconds = metrics.histogram('tapline_storage_write_seconds', 'test', [0.001, 0.01, 0.1, 1], ['op']);
  const q = new SinkQueue(sink, { maxBytes, log, counters, metrics, writeSeconds, onError: (id, op, e) => errors.push(`${id} ${op} ${e.message}`) });
  return { q, records, counters, errors, metrics };
}

describe('SinkQueue: the bounded queue in front of storage', () => {
  it("hands a recording's operations to the sink in order, one at a time; other recordings' run beside them; drains", async () => {
    const sink = new ScriptedSink();
    sink.delayMs = 5;
    const { q } = queue(sink);
    q.open(start('a'));
    q.openAudio('a', { sampleRate: 8000, channels: 2 });
    q.open(start('b'));
    assert.equal(q.audio('a', 0, new Int16Array(320)), true);
    assert.equal(q.attachment('b', 'sip.txt', Buffer.from('INVITE'), 'replace'), true);
    q.close(meta('a'));
    q.close(meta('b'));
    assert.ok(q.depth > 0);
    assert.equal(await q.drain(), true);
    assert.deepEqual(sink.calls.filter((c) => / a( |$)/.test(c)), ['open a', 'openAudio a 8000/2', 'audio a @0 x320', 'close a']);
    assert.deepEqual(sink.calls.filter((c) => / b( |$)/.test(c)), ['open b', 'attach b sip.txt replace 6', 'close b']);
    // b did not wait for a: both were opened before either went further.
    assert.deepEqual(sink.calls.slice(0, 2).sort(), ['open a', 'open b']);
    assert.equal(q.depth, 0);
    assert.equal(q.queuedBytes, 0);
  });

  it('runs at most `concurrency` operations at once', async () => {
    const sink = new ScriptedSink();
    sink.delayMs = 20;
    let running = 0;
    let most = 0;
    const open = sink.open.bind(sink);
    sink.open = async (st) => {
      running++;
      most = Math.max(most, running);
      await open(st);
      running--;
    };
    const { q } = queue(sink);
    for (let i = 0; i < 40; i++) q.open(start(`r${i}`));
    await q.drain();
    assert.equal(most, 16, 'the default concurrency');
  });

  it('a queued metadata refresh is replaced by a newer one, not queued twice', async () => {
    const sink = new ScriptedSink();
    sink.delayMs = 5;
    const { q } = queue(sink);
    q.open(start('a')); // running: the updates below wait behind it
    q.update(meta('a', 'first'));
    q.update(meta('a', 'second'));
    q.update(meta('a', 'third'));
    await q.drain();
    assert.deepEqual(sink.calls, ['open a', 'update a third']);
  });

  it('a slow disk never blocks the caller: past the byte budget audio is dropped, counted, warned about once a second', async () => {
    const sink = new ScriptedSink();
    sink.delayMs = 20;
    const { q, records, counters, metrics } = queue(sink, 64 * 1024);
    q.open(start('a'));
    q.openAudio('a', { sampleRate: 8000, channels: 2 });
    const t0 = performance.now();
    let kept = 0;
    let dropped = 0;
    for (let i = 0; i < 100; i++) (q.audio('a', i * 1000, new Int16Array(2000)) ? kept++ : dropped++);
    assert.ok(performance.now() - t0 < 50, 'enqueueing does not wait for the sink');
    assert.ok(kept > 0 && dropped > 0, `${kept} kept, ${dropped} dropped`);
    assert.equal(kept, 16, '64 KiB / 4000-byte chunks');
    assert.equal(counters.get('storage.dropped.audio'), dropped);
    assert.equal(counters.get('storage.droppedBytes'), dropped * 4000);
    assert.equal(records.filter((r) => r.level === 'warn' && /storage queue full/.test(r.msg)).length, 1, 'one warning for the burst');
    assert.match(await metrics.text(), /tapline_drops_total\{stage="queue",reason="storage-full-audio",source="storage"\} 84/);
    // Control operations are never dropped.
    q.close(meta('a'));
    await q.drain();
    assert.equal(sink.calls[sink.calls.length - 1], 'close a');
  });

  it('writable() is a promise while more than half full (at most 8 MiB queued), resolved once below half of that', async () => {
    const sink = new ScriptedSink();
    sink.delayMs = 2;
    const { q } = queue(sink, 40_000);
    q.open(start('a'));
    assert.equal(q.writable(), undefined);
    for (let i = 0; i < 6; i++) q.audio('a', i * 1000, new Int16Array(2000)); // 24 kB > 20 kB
    assert.equal(q.saturated, true);
    const w = q.writable();
    assert.ok(w instanceof Promise);
    await w;
    assert.ok(q.queuedBytes <= 10_000, `${q.queuedBytes} bytes left when released`);
    await q.drain();
  });

  it('a failing operation is counted, reported for its recording, and the queue goes on', async () => {
    const sink = new ScriptedSink();
    sink.failOn = 'audio';
    const { q, counters, errors } = queue(sink);
    q.open(start('a'));
    q.audio('a', 0, new Int16Array(4));
    q.close(meta('a'));
    await q.drain();
    assert.deepEqual(errors, ['a audio disk says no to audio a @0 x4']);
    assert.equal(counters.get('storage.errors.audio'), 1);
    assert.equal(sink.calls[2], 'close a');
  });

  it('drain(timeout) gives up on a sink that never answers', async () => {
    const sink = new ScriptedSink();
    sink.hang = true;
    const { q } = queue(sink);
    q.open(start('a'));
    const t0 = Date.now();
    assert.equal(await q.drain(100), false);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(q.depth, 1);
  });

  it('measures the time the sink takes per operation', async () => {
    const sink = new ScriptedSink();
    const { q, metrics } = queue(sink);
    q.open(start('a'));
    q.openAudio('a', { sampleRate: 8000, channels: 1 });
    q.audio('a', 0, new Int16Array(100));
    await q.drain();
    assert.equal(q.capacityBytes, 1 << 20);
    assert.match(await metrics.text(), /tapline_storage_write_seconds_count\{op="audio"\} 1/);
  });
});
