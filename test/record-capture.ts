/** Records a capture with the default plugin set (G.711, DTMF, CN, G.722, SILK, RED, RTAudio, storage-local) into a scratch folder. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness, type Recorded } from '../core/testing/index';
import storageLocal from '../plugins/storage-local/index';
import g711 from '../plugins/codec-g711/index';
import telephoneEvent from '../plugins/codec-telephone-event/index';
import cn from '../plugins/codec-cn/index';
import g722 from '../plugins/codec-g722/index';
import silk from '../plugins/codec-silk/index';
import red from '../plugins/codec-red/index';
import rtaudio from '../plugins/codec-rtaudio/index';
import type { RecordingMetadata } from '../core/media/metadata';

export interface RecordedCapture {
  dir: string;
  recordings: RecordingMetadata[];
  recorded: Recorded;
  counters: Record<string, number>;
  warning?: string;
}

export async function recordCapture(file: string, config: Record<string, unknown> = {}): Promise<RecordedCapture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-rec-'));
  const h = await PluginHarness.create(storageLocal, { options: { dir }, with: [{ plugin: g711 }, { plugin: telephoneEvent }, { plugin: cn }, { plugin: g722 }, { plugin: silk }, { plugin: red }, { plugin: rtaudio }], config });
  const res = await h.pcap(file);
  const recorded = await h.stop();
  const out: RecordedCapture = { dir, recordings: h.recorded.recordings, recorded, counters: h.counters() };
  if (res.warning !== undefined) out.warning = res.warning;
  return out;
}
