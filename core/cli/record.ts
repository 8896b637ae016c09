/** `tapline record`: the recorder service over capture files, with a progress bar and a summary built from its events. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfigFile } from '../config/load';
import { prepareConfig } from '../plugins/loader';
import { RecorderService, type SourceReport } from '../service/recorder-service';
import type { CallSummary } from '../dialog/summary';
import { renderNotRecorded, SipLossCollector, type NotRecorded } from './not-recorded';
import type { RecordingMetadata } from '../media/metadata';
import { ErrorCodes, TaplineError } from '../errors';
import { srtpNativeStatus } from '../media/srtp/native';
import type { Source, SourceProgress } from '../contract';
import topSchema from '../../schema/tapline.schema.json';

const DEFAULT_PLUGINS = topSchema.properties.plugins.default as unknown[];

export interface RecordOptions {
  pcap?: string[];
  out?: string;
  config?: string;
  json?: boolean;
  progress?: boolean;
  /** media.workers from the command line ('auto' or a number; the schema checks it). */
  workers?: string;
  /** Exit with LOST_SIP_EXIT_CODE when any SIP message could not be read (call control lost). */
  failOnLostSip?: boolean;
}

/** `record --fail-on-lost-sip`: the exit code when call control was lost (1 is a source error, 2 a usage error). */
export const LOST_SIP_EXIT_CODE = 3;

/**
 * Sets options of one plugin entry from the command line (--pcap files, --out folder), adding the entry when the
 * config has none; a config without a plugin list starts from the schema's default list.
 */
function withPluginOptions(raw: unknown, use: string, options: Record<string, unknown>, add: 'start' | 'end'): unknown {
  const cfg = (raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { ...(raw as Record<string, unknown>) } : {}) as Record<string, unknown>;
  const plugins = Array.isArray(cfg.plugins) ? [...(cfg.plugins as unknown[])] : structuredClone(DEFAULT_PLUGINS);
  const i = plugins.findIndex((p) => (p as { use?: unknown })?.use === use);
  const prior = i >= 0 ? (plugins[i] as { options?: object }) : undefined;
  const entry = { ...(prior ?? {}), use, options: { ...(prior?.options ?? {}), ...options } };
  if (i >= 0) plugins[i] = entry;
  else if (add === 'start') plugins.unshift(entry);
  else plugins.push(entry);
  cfg.plugins = plugins;
  return cfg;
}

export async function recordCommand(opts: RecordOptions): Promise<void> {
  const loaded = await loadConfigFile(opts.config);
  if (opts.pcap !== undefined) {
    const files = opts.pcap.map((f) => path.resolve(f));
    for (const f of files) if (!fs.existsSync(f)) throw new TaplineError(ErrorCodes.USAGE, `capture file not found: ${f}`, { file: f });
    loaded.raw = withPluginOptions(loaded.raw, 'source-pcap', { files }, 'start');
  }
  // Recordings and the summary go to one folder: --out, else the storage plugin's own dir, else output.dir.
  const rawObj = (loaded.raw ?? {}) as { output?: { dir?: unknown }; plugins?: Array<{ use?: unknown; options?: { dir?: unknown } }> };
  const storageDir = rawObj.plugins?.find((p) => p?.use === 'storage-local')?.options?.dir;
  if (opts.out !== undefined || typeof storageDir !== 'string') {
    const dir = path.resolve(opts.out ?? (typeof rawObj.output?.dir === 'string' ? rawObj.output.dir : 'recordings'));
    loaded.raw = withPluginOptions(loaded.raw, 'storage-local', { dir }, 'end');
  }
  if (opts.workers !== undefined) {
    const raw = (loaded.raw !== null && typeof loaded.raw === 'object' ? loaded.raw : {}) as { media?: Record<string, unknown> };
    const n = /^\d+$/.test(opts.workers) ? Number(opts.workers) : opts.workers;
    loaded.raw = { ...raw, media: { ...(raw.media ?? {}), workers: n } };
  }
  const all = await prepareConfig(loaded);
  // A one-shot recording of files serves no one: the review app (kind 'web') is `serve`'s and `web`'s; an agent (kind 'agent', the forwarder) runs as its own command.
  const prepared = { ...all, plugins: all.plugins.filter((p) => p.manifest.kind !== 'web' && p.manifest.kind !== 'agent') };
  const storageEntry = prepared.plugins.find((p) => p.manifest.name === 'storage-local');
  const outDir = path.resolve(opts.out ?? (typeof storageEntry?.options.dir === 'string' ? path.resolve(prepared.dir, storageEntry.options.dir) : prepared.config.output.dir));

  const showBar = opts.progress !== false && process.stderr.isTTY === true && opts.json !== true;
  const bar = showBar ? new SingleBar({ format: '{label} [{bar}] {percentage}% | {value}/{total} MiB | ETA {eta}s', hideCursor: true }, Presets.shades_classic) : undefined;
  let current: Source | undefined;
  const onProgress = (src: Source, p: SourceProgress): void => {
    if (bar === undefined || p.total === undefined) return;
    const mib = (n: number): number => Math.round(n / 1048576);
    if (current !== src) {
      if (current !== undefined) bar.stop();
      current = src;
      bar.start(Math.max(1, mib(p.total)), mib(p.done), { label: path.basename(src.label) });
    } else bar.update(mib(p.done));
  };
  const service = await RecorderService.create(prepared, { onProgress });
  if (service.kernel.sources.length === 0) {
    await service.stop();
    throw new TaplineError(ErrorCodes.USAGE, 'nothing to record from: give --pcap FILE or enable a source plugin in the config');
  }
  if (service.live) throw new TaplineError(ErrorCodes.USAGE, 'the config enables live sources: `record` reads capture files; run `tapline serve` for live inputs');
  // The summary is built from lifecycle events: the service keeps nothing about finished calls.
  const calls: CallSummary[] = [];
  const recordings: RecordingMetadata[] = [];
  service.events.on('callEnded', (e) => calls.push(e.call));
  service.events.on('recordingFinished', (m) => recordings.push(m));
  const sipLoss = new SipLossCollector(service.kernel.bus);
  fs.mkdirSync(outDir, { recursive: true });

  const onSigint = (): void => void service.stop();
  process.once('SIGINT', onSigint);
  let sources: SourceReport[];
  try {
    await service.start();
    sources = await service.whenSourcesEnd();
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
    // No deadline for a file replay: everything read is written.
    await service.stop(Infinity);
  }
  // In the order the calls started (call workers finish recordings in no fixed order).
  recordings.sort((a, b) => (a.call.start < b.call.start ? -1 : a.call.start > b.call.start ? 1 : a.call.callId < b.call.callId ? -1 : a.call.callId > b.call.callId ? 1 : 0));
  const doc: SummaryDoc = {
    sources: sources.map((s) => ({ label: s.label, frames: s.frames, ...(s.warning !== undefined ? { warning: s.warning } : {}), ...(s.error !== undefined ? { error: s.error } : {}) })),
    calls,
    recordings: recordings.map((r) => ({
      id: r.id,
      callId: r.call.callId,
      ...(r.audio ? { audio: r.audio.file, durationSec: r.audio.durationSec } : {}),
      packets: { caller: r.caller.packets, callee: r.callee.packets },
      lost: { caller: r.caller.lost, callee: r.callee.lost },
      dtmf: r.dtmf.map((d) => d.digit).join(''),
      flags: r.flags,
    })),
    unmatchedStreams: service.kernel.associator.unmatchedStreams(),
    notRecorded: sipLoss.report(service.kernel.counters.snapshot(), service.kernel.associator.unmatchedStreams().length, service.kernel.ingest.outliers),
    counters: service.kernel.counters.snapshot(),
    srtp: srtpPath(),
  };
  const summaryFile = path.join(outDir, 'summary.json');
  fs.writeFileSync(summaryFile, JSON.stringify(doc, null, 2) + '\n');

  if (opts.json === true) process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  else process.stdout.write(renderSummary(doc, summaryFile));
  if (sources.some((s) => s.error !== undefined)) process.exitCode = 1;
  else if (opts.failOnLostSip === true && sipLoss.lost > 0) {
    process.stderr.write(`tapline: ${sipLoss.lost} SIP message(s) could not be read (--fail-on-lost-sip); reasons and examples in ${summaryFile}\n`);
    process.exitCode = LOST_SIP_EXIT_CODE;
  }
}

interface SummaryDoc {
  sources: Array<{ label: string; frames: number; warning?: string; error?: string }>;
  calls: CallSummary[];
  recordings: Array<{ id: string; callId: string; audio?: string; durationSec?: number; packets: object; lost: object; dtmf: string; flags: string[] }>;
  unmatchedStreams: unknown[];
  /** What was not recorded, and why (reasons with examples). */
  notRecorded: NotRecorded;
  counters: Record<string, number>;
  /** Which code decrypted SRTP: the native addon (native/srtp) or the slower TypeScript path, and why. */
  srtp: { path: 'native' | 'typescript'; reason?: string };
}

function srtpPath(): SummaryDoc['srtp'] {
  const st = srtpNativeStatus();
  return st.loaded ? { path: 'native' } : { path: 'typescript', ...(st.reason !== undefined ? { reason: st.reason } : {}) };
}

function renderSummary(doc: SummaryDoc, file: string): string {
  const lines: string[] = [];
  for (const s of doc.sources) {
    lines.push(`${s.label}: ${s.frames} frames${s.warning ? ` (warning: ${s.warning})` : ''}${s.error ? ` (ERROR: ${s.error})` : ''}`);
  }
  lines.push(`${doc.calls.length} call${doc.calls.length === 1 ? '' : 's'}:`);
  for (const c of doc.calls) {
    const dur = c.durationSec !== undefined ? `${c.durationSec.toFixed(1)}s` : '?';
    lines.push(`  ${c.start}  ${c.disposition.padEnd(10)} ${dur.padStart(8)}  ${c.from.uri} -> ${c.to.uri}  (${c.callId})`);
    for (const r of doc.recordings.filter((x) => x.callId === c.callId)) {
      if (r.audio !== undefined) lines.push(`      audio ${r.durationSec?.toFixed(2)}s: ${r.audio}${r.dtmf ? `  DTMF ${r.dtmf}` : ''}`);
      for (const f of r.flags) lines.push(`      note: ${f}`);
    }
  }
  lines.push(...renderNotRecorded(doc.notRecorded));
  const k = doc.counters;
  const pick = (n: string): number => k[n] ?? 0;
  lines.push(
    `SIP messages: ${pick('core.sip.messages')}, SIP errors: ${pick('core.sip.errors')}, media packets: ${pick('core.media.packets')}, skipped frames: ${pick('core.frames.skipped')}`,
  );
  if (doc.srtp.path === 'typescript') lines.push(`note: SRTP is decrypted on the slower TypeScript path: ${doc.srtp.reason ?? 'native addon not loaded'}`);
  lines.push(`summary written to ${file}`);
  return lines.join('\n') + '\n';
}
