/** Shared by the storage-local tests: metadata, WAV bytes and temp folders. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RecordingStart } from '../../core/contract';
import type { DirectionStats, RecordingMetadata } from '../../core/media/metadata';
import type { LocalStore, RecordingFiles } from './store';
import { wavHeader } from './wav';
import { repoRoot } from '../../test/corpus';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tapline-storage-${tag}-`));
}

/** µs since the epoch for an ISO time. */
export function us(iso: string): number {
  return Date.parse(iso) * 1000;
}

let seq = 0;
export function start(over: Partial<RecordingStart> = {}): RecordingStart {
  seq++;
  return { id: `rec-${seq}-${Math.random().toString(36).slice(2, 8)}`, callId: `call-${seq}@pbx.example`, start: us('2026-03-04T10:20:30.000Z'), from: 'sip:alice@example.com', to: 'sip:bob@example.com', ...over };
}

const stats = (): DirectionStats => ({ packets: 100, expected: 100, lost: 0, late: 0, duplicates: 0, ssrcs: [1], codecs: ['PCMU/8000'], undecoded: 0 });

export function metadataFor(info: RecordingStart, audioFile: string | undefined, over: Partial<RecordingMetadata> = {}, call: Partial<RecordingMetadata['call']> = {}): RecordingMetadata {
  const startIso = new Date(info.start / 1000).toISOString();
  const meta: RecordingMetadata = {
    id: info.id,
    status: 'recording',
    call: {
      callId: info.callId,
      from: { uri: info.from, displayName: 'Alice Liddell' },
      to: { uri: info.to },
      callerAddr: '10.0.0.1:5060',
      calleeAddr: '10.0.0.2:5060',
      transport: 'udp',
      disposition: 'answered',
      start: startIso,
      legs: [],
      sdp: [],
      holds: [],
      refers: [],
      messages: {},
      warnings: [],
      ...call,
    },
    direction: 'unknown',
    caller: stats(),
    callee: stats(),
    dtmf: [],
    flags: [],
    ...over,
  };
  if (audioFile !== undefined && !('audio' in over)) {
    meta.audio = { file: audioFile, format: 'wav', channels: 2, layout: 'stereo-caller-left', sampleRate: 8000, durationSec: 0.5, start: startIso };
  }
  return meta;
}

/** A WAV as a killed writer leaves it: a 44-byte header with zero sizes, then PCM (plus `extraBytes` of a torn frame). */
export function crashedWav(file: string, frames: number, channels: 1 | 2, sampleRate: number, extraBytes = 0): void {
  // Sizes left at zero, as before the first header rewrite.
  const h = wavHeader(sampleRate, channels, 0);
  h.writeUInt32LE(0, 4);
  const pcm = Buffer.alloc(frames * channels * 2 + extraBytes);
  for (let i = 0; i + 1 < pcm.length; i += 2) pcm.writeInt16LE(((i * 37) % 20000) - 10000, i);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, h, 0, 44, 0);
  fs.writeSync(fd, pcm, 0, pcm.length, 44);
  fs.closeSync(fd);
}

/** A recording opened in the store, and where its files are (what the sink queue's open() does). */
export async function begin(store: LocalStore, info: RecordingStart): Promise<RecordingFiles> {
  await store.open(info);
  return store.filesOf(info);
}

/** The built CLI (dist/core/cli/main.js) run as an operator runs it: exit code, stdout, stderr. */
export function tapline(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'core', 'cli', 'main.js'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Takes a catalogue back from schema version 7 to 6 (migration tests start from older versions). */
export const REVIEW_DOWNGRADE = 'DROP INDEX recordings_duration; ALTER TABLE recordings DROP COLUMN direction; ALTER TABLE recordings DROP COLUMN codecs; ALTER TABLE recordings DROP COLUMN flags;';
