/**
 * Running one recording mode alone on a generated capture (the core's PluginHarness with the mode under test,
 * codec-g711 and storage-local) and checking each call's recording against the scenario's truth: recorded or
 * not, which users, the call's kind, flags, and which tone is on which channel (caller left, callee right).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness, type Recorded } from '../core/testing/index';
import type { PluginManifest } from '../core/contract';
import type { RecordingMetadata } from '../core/media/metadata';
import { readWav } from '../plugins/storage-local/wav';
import storageLocal from '../plugins/storage-local/index';
import g711 from '../plugins/codec-g711/index';
import { dominantTone, goertzelPower } from '../plugins/source-generator/tones';
import { channel } from './audio-compare';
import type { Expected } from './mode-scenarios';

export interface ModeRun {
  h: PluginHarness;
  recordings: RecordingMetadata[];
  byCallId: Map<string, RecordingMetadata>;
  recorded: Recorded;
  counters: Record<string, number>;
}

export function scratchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tapline-${prefix}-`));
}

/** The mode plugin alone (plus G.711 and local storage) on one capture file. */
export async function runMode(mode: PluginManifest<unknown> | unknown, options: Record<string, unknown>, file: string, config: Record<string, unknown>): Promise<ModeRun> {
  const dir = scratchDir('mode-rec');
  const h = await PluginHarness.create(mode, { options, with: [{ plugin: g711 }, { plugin: storageLocal, options: { dir } }], config });
  const res = await h.pcap(file);
  assert.equal(res.warning, undefined);
  const recorded = await h.stop();
  const recordings = h.recorded.recordings;
  const byCallId = new Map<string, RecordingMetadata>();
  for (const r of recordings) {
    assert.ok(!byCallId.has(r.call.callId), `one recording per call (${r.call.callId})`);
    byCallId.set(r.call.callId, r);
  }
  return { h, recordings, byCallId, recorded, counters: h.counters() };
}

/** The recording's two channels (caller, callee) as floats. */
export function channels(meta: RecordingMetadata): { caller: Float64Array; callee: Float64Array } {
  assert.ok(meta.audio !== undefined, `recording of ${meta.call.callId} has audio`);
  const wav = readWav(meta.audio.file);
  assert.equal(wav.channels, 2);
  return { caller: channel(wav.samples, 2, 0), callee: channel(wav.samples, 2, 1) };
}

/** How far below the channel's own tone another tone is, in dB (large = absent). */
export function dbBelow(ch: Float64Array, own: number, other: number): number {
  return 10 * Math.log10(goertzelPower(ch, own) / Math.max(1e-9, goertzelPower(ch, other)));
}

/** One call's recording against the truth; returns it (or undefined when none was expected). */
export function checkExpected(run: ModeRun, e: Expected): RecordingMetadata | undefined {
  const r = run.byCallId.get(e.callId);
  if (!e.recorded) {
    assert.equal(r, undefined, `${e.label}: not recorded`);
    return undefined;
  }
  assert.ok(r !== undefined, `${e.label}: recorded`);
  if (e.users !== undefined) assert.deepEqual((r.users ?? []).map((u) => u.uri), e.users, `${e.label}: users`);
  if (e.kind !== undefined) assert.equal(r.call.kind, e.kind, `${e.label}: kind`);
  if (e.flag !== undefined) assert.ok(r.flags.some((f) => e.flag?.test(f) === true), `${e.label}: a flag matching ${e.flag} in ${JSON.stringify(r.flags)}`);
  if (e.noAudio === true) {
    assert.equal(r.audio, undefined, `${e.label}: no audio`);
    assert.equal(r.caller.packets + r.callee.packets, 0, `${e.label}: no packets`);
  }
  if (e.tones !== undefined) {
    const ch = channels(r);
    for (const side of ['caller', 'callee'] as const) {
      const hz: number | undefined = e.tones[side];
      if (hz === undefined) continue;
      const d = dominantTone(ch[side]);
      assert.equal(d.hz, hz, `${e.label}: ${side} channel carries ${hz} Hz (found ${d.hz})`);
      assert.ok(d.ratio > 100, `${e.label}: ${side} tone stands 20 dB above any other (ratio ${d.ratio.toFixed(1)})`);
      const other: number | undefined = e.tones[side === 'caller' ? 'callee' : 'caller'];
      if (other !== undefined) assert.ok(dbBelow(ch[side], hz, other) > 30, `${e.label}: the ${side} channel does not carry the other side's tone`);
      for (const a of e.absent ?? []) assert.ok(dbBelow(ch[side], hz, a) > 30, `${e.label}: ${a} Hz is not on the ${side} channel (${dbBelow(ch[side], hz, a).toFixed(1)} dB below)`);
    }
  }
  return r;
}
