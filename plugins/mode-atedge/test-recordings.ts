/**
 * Test helper: generate a capture, record it with mode-atedge alone (plus G.711 and storage) in the core's harness,
 * and check each call's WAV against the generator's truth: the caller's tone on the left, the callee's on the right.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness } from '../../core/testing/index';
import { readWav } from '../storage-local/wav';
import type { RecordingMetadata } from '../../core/media/metadata';
import g711 from '../codec-g711/index';
import storageLocal from '../storage-local/index';
import { generateCalls, type GeneratorOptions } from '../source-generator/generate';
import type { GeneratedTruth } from '../source-generator/truth';
import { CALLEE_BASE_HZ, CALLER_BASE_HZ, goertzelPower, TONE_STEP_HZ, TONES_PER_DIRECTION } from '../source-generator/tones';
import modeAtedge from './index';

export const EDGE_IP = '198.51.100.10';

export interface Recorded {
  truth: GeneratedTruth;
  recordings: RecordingMetadata[];
  counters: Record<string, number>;
}

/** Generates a capture and records it with mode-atedge (Edge public IP configured), G.711 and storage-local. */
export async function recordGenerated(name: string, opts: GeneratorOptions, modeOptions: Record<string, unknown> = {}): Promise<Recorded> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tapline-atedge-${name}-`));
  try {
    const file = path.join(dir, `${name}.pcap`);
    const truth = await generateCalls(opts, file);
    const h = await PluginHarness.create(modeAtedge, { options: { edgePublicIps: [EDGE_IP], ...modeOptions }, with: [{ plugin: g711 }, { plugin: storageLocal, options: { dir: path.join(dir, 'rec') } }] });
    await h.pcap(file);
    await h.stop();
    const recordings = h.recorded.recordings;
    // Read what the checks need before the folder goes.
    for (const m of recordings) if (m.audio !== undefined) wavs.set(m.id, readWav(m.audio.file));
    return { truth, recordings, counters: h.counters() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const wavs = new Map<string, { sampleRate: number; channels: number; samples: Int16Array }>();

const ALL_TONES = [CALLER_BASE_HZ, CALLEE_BASE_HZ].flatMap((base) => Array.from({ length: TONES_PER_DIRECTION }, (_, i) => base + i * TONE_STEP_HZ));

/** Checks one channel: in every 200 ms window with sound, `hz` is the loudest tone of the table, by at least 20 dB. */
function checkChannel(pcm: Int16Array, hz: number, what: string): number {
  const win = 1600;
  let windows = 0;
  for (let at = 0; at + win <= pcm.length; at += win) {
    const w = pcm.subarray(at, at + win);
    let energy = 0;
    for (const x of w) energy += x * x;
    if (energy / win < 100 * 100) continue; // silence (before a side starts, held, after it ends)
    windows++;
    const own = goertzelPower(w, hz);
    for (const f of ALL_TONES) {
      if (f === hz) continue;
      const p = goertzelPower(w, f);
      assert.ok(own > 100 * p, `${what}: at ${(at / 8000).toFixed(1)} s, ${f} Hz is within 20 dB of the expected ${hz} Hz`);
    }
  }
  return windows;
}

export function checkRecordings(r: Recorded): void {
  const { truth, recordings, counters } = r;
  assert.equal(recordings.length, truth.calls.length, 'one recording per call');
  assert.equal(counters['core.media.unmatched'] ?? 0, 0, 'no RTP left unmatched');
  assert.equal(counters['mode-atedge.pushed'] ?? 0, truth.scenario.mediaPath === 'direct' ? 0 : truth.totals.rtpPackets, 'every wrapped RTP packet unwrapped once');
  assert.equal(counters['core.media.rtp'], truth.totals.rtpPackets);
  for (const call of truth.calls) {
    const meta = recordings.find((m) => m.call.callId === call.callId);
    assert.ok(meta?.audio !== undefined, `call ${call.index}: a recording with audio`);
    // Media held back from the Edge is flagged (the early-media test checks how); nothing else may be.
    const late = truth.scenario.edgeMediaDelayMs !== null;
    assert.deepEqual(meta.flags.filter((f) => !(late && /^the first [\d.]+ s of the \w+'s audio were missed/.test(f))), [], `call ${call.index}: no flags`);
    assert.equal(meta.mode?.name, 'atedge');
    const wav = wavs.get(meta.id);
    assert.ok(wav !== undefined && wav.channels === 2);
    for (const [ch, dir] of (['caller', 'callee'] as const).entries()) {
      const d = call.media[dir];
      assert.ok(d !== undefined);
      assert.equal(meta[dir].packets, d.packetsWritten, `call ${call.index} ${dir}: packets`);
      assert.equal(meta[dir].lost, 0);
      const pcm = new Int16Array(wav.samples.length / 2);
      for (let i = 0; i < pcm.length; i++) pcm[i] = wav.samples[2 * i + ch] as number;
      const windows = checkChannel(pcm, d.frequencyHz, `call ${call.index} (remote ${call.edge?.party ?? 'none'}) ${dir} channel`);
      assert.ok(windows >= Math.floor((d.lastTime - d.firstTime) / 200_000) - 1, `call ${call.index} ${dir}: ${windows} windows with sound`);
    }
    if (call.edge !== undefined) assert.equal(meta.srtp?.[call.edge.party]?.decrypted, call.media[call.edge.party]?.packetsWritten, 'the remote party\'s SRTP decrypted');
  }
}
