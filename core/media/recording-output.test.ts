import * as assert from 'node:assert/strict';
import type { AudioFormat, RecordingLocation, RecordingSink, RecordingStart } from '../contract';
import type { RecordingMetadata } from './metadata';
import { CounterSet } from '../counters';
import { memoryLogger } from '../log';
import { SinkQueue } from '../storage/sink-queue';
import { RecordingDesk } from '../storage/recording-desk';
import type { Call } from '../dialog/types';
import { RecordingOutput } from './recording-output';

/** Keeps the audio a recording's writes describe, as frames at their offsets (gaps stay zero). */
class AudioSink implements RecordingSink {
  audio = new Int16Array(0);
  writes = 0;
  locate(s: RecordingStart): RecordingLocation {
    return { base: `/r/${s.id}`, audio: `/r/${s.id}/audio.wav`, format: 'wav' };
  }
  async open(): Promise<void> {}
  async openAudio(_id: string, _f: AudioFormat): Promise<void> {}
  async writeAudio(_id: string, at: number, pcm: Int16Array): Promise<void> {
    this.writes++;
    const end = at * 2 + pcm.length;
    if (end > this.audio.length) {
      const grown = new Int16Array(end);
      grown.set(this.audio);
      this.audio = grown;
    }
    this.audio.set(pcm, at * 2);
  }
  async writeAttachment(): Promise<void> {}
  async update(): Promise<void> {}
  closed: RecordingMetadata | undefined;
  async close(meta: RecordingMetadata): Promise<void> {
    this.closed = meta;
  }
  async recover(): Promise<string[]> {
    return [];
  }
}

const START: RecordingStart = { id: 'r1', callId: 'c1', start: 0, from: 'sip:a@x', to: 'sip:b@x' };

/** The desk in front of the queue, with the recording opened (as the call dispatcher does). */
function deskOver(q: SinkQueue): RecordingDesk {
  const desk = new RecordingDesk(q);
  desk.open(START, {} as Call);
  return desk;
}

describe('RecordingOutput: gathering audio for the storage queue', () => {
  it('gathers reused chunks into one-second writes at their frame offsets; what is left goes at close', async () => {
    const sink = new AudioSink();
    const q = new SinkQueue(sink, { maxBytes: 1 << 24, log: memoryLogger().log, counters: new CounterSet() });
    const out = new RecordingOutput(deskOver(q), START, sink.locate(START));
    out.openAudio({ sampleRate: 8000, channels: 2 });
    const expected: number[] = [];
    const scratch = new Int16Array(2 * 1234); // reused between calls, as the timeline does
    for (let k = 0; k < 20; k++) {
      for (let i = 0; i < scratch.length; i++) scratch[i] = (k * 7919 + i) & 0x7fff;
      out.writeAudio(scratch);
      expected.push(...scratch);
    }
    out.close({ id: 'r1', flags: [] } as unknown as RecordingMetadata);
    await q.drain();
    assert.equal(out.frames, 20 * 1234);
    assert.deepEqual([...sink.audio], expected);
    assert.equal(sink.writes, Math.ceil((20 * 1234) / 8000), 'one write per 8,000 frames (1 s at 8 kHz), the rest at close');
  });

  it('a chunk the full queue drops is silence of its length, and the desk says so in the metadata', async () => {
    const sink = new AudioSink();
    const q = new SinkQueue(sink, { maxBytes: 32_000, log: memoryLogger().log, counters: new CounterSet() });
    const out = new RecordingOutput(deskOver(q), START, sink.locate(START));
    out.openAudio({ sampleRate: 8000, channels: 2 });
    const ones = new Int16Array(16_000).fill(1); // 8,000 frames: one full gathering buffer each
    out.writeAudio(ones); // queued (32,000 bytes: the whole budget)
    out.writeAudio(ones); // dropped: the queue is full until the first write completes
    out.close({ id: 'r1', flags: [], audio: { sampleRate: 8000 } } as unknown as RecordingMetadata);
    await q.drain();
    assert.ok(sink.closed?.flags.includes('1.00 s of audio were dropped (silence in the file): storage fell behind and its queue was full'), JSON.stringify(sink.closed?.flags));
    assert.equal(out.frames, 16_000);
    assert.equal(sink.audio.length, 32_000, 'the end of the audio is known: storage keeps its full length');
    assert.ok(sink.audio.subarray(0, 16_000).every((v) => v === 1));
    assert.ok(sink.audio.subarray(16_000).every((v) => v === 0));
  });
});
