/**
 * `tapline recordings list|show`: read the storage-local catalogue directly (read-only, no kernel), so it works
 * while a recorder is running. The catalogue module (a native SQLite binding) is loaded only when these run.
 */
import * as fs from 'node:fs';
import { CONFIG_OPTION, DIR_OPTION, listOptions, type CatalogueListOptions } from './catalogue-options';
import type { CatalogueEntry, CommandSpec } from '../../core/contract';
import type { RecordingMetadata } from '../../core/media/metadata';
import { loadConfigFile } from '../../core/config/load';
import { prepareConfig } from '../../core/plugins/loader';
import { throwIfProblems, validatePluginOptions } from '../../core/config/validate';
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { SharedConfig, StorageLocalOptions, StoragePaths } from './index';
import type { Catalogue } from './catalogue';

export type RecordingsListOptions = CatalogueListOptions & { local?: boolean };

export interface RecordingsShowOptions {
  json?: boolean;
  config?: string;
  dir?: string;
  local?: boolean;
}

type StorageModule = typeof import('./index');
type CatalogueModule = typeof import('./catalogue');
type RecoverModule = typeof import('./recover');


/** `recordings list` and `recordings show`, contributed to the CLI by storage-local's manifest. */
export const recordingsCommands: readonly CommandSpec[] = [
  {
    name: 'recordings list',
    description: 'List recordings in the storage-local catalogue (read-only), newest first. Dates without a zone are local time.',
    options: [...listOptions('recordings', 'calls that started'), { flags: '--local', description: "with shared storage configured: list this recorder's spool (recordings not yet uploaded) instead of the shared catalogue" }],
    run: (_args, o) => recordingsListCommand(o as RecordingsListOptions),
  },
  {
    name: 'recordings show',
    description: "Print one recording's metadata and where its audio is.",
    arguments: [{ name: 'id', description: 'recording id (as printed by `recordings list`), a unique prefix of it (4+ characters), or a Call-ID' }],
    options: [{ flags: '--json', description: 'print { entry, metadata } as JSON' }, { flags: '--local', description: "with shared storage configured: from this recorder's spool" }, DIR_OPTION, CONFIG_OPTION],
    run: (args, o) => recordingsShowCommand(String(args[0]), o as RecordingsShowOptions),
  },
];

/**
 * Where storage-local keeps its catalogue: under --dir when given (like `record --out`), else as the config's
 * storage-local options say (its defaults when the config does not enable it).
 */
export async function storagePathsFor(opts: { config?: string; dir?: string }): Promise<StoragePaths> {
  const storage = require('./index') as StorageModule;
  if (opts.dir !== undefined) return storage.resolveStoragePaths({ dir: opts.dir, layout: 'date' }, process.cwd());
  const loaded = await loadConfigFile(opts.config);
  const prepared = await prepareConfig(loaded);
  const entry = prepared.plugins.find((p) => p.manifest.name === storage.STORAGE_LOCAL);
  let options: unknown = entry?.options;
  if (options === undefined) {
    options = {};
    throwIfProblems(loaded.file, validatePluginOptions(storage.storageLocalManifest.optionsSchema, options, '/(storage-local defaults)', storage.STORAGE_LOCAL));
  }
  return storage.resolveStoragePaths(options as StorageLocalOptions, prepared.dir);
}

/**
 * The shared storage a catalogue command acts on: the configured one, unless --local or --dir point it at this
 * recorder's folder (its spool).
 */
export function sharedTarget(paths: StoragePaths, opts: { local?: boolean; dir?: string }): SharedConfig | undefined {
  return opts.local === true || opts.dir !== undefined ? undefined : paths.sharedConfig;
}

function openCatalogue(paths: StoragePaths): Catalogue {
  const { Catalogue } = require('./catalogue') as CatalogueModule;
  return Catalogue.open(paths.catalogue, { readonly: true });
}

/** Control characters, bidi overrides and the like from SIP headers must not drive the terminal. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, (c) => `\\u{${c.codePointAt(0)?.toString(16) ?? '?'}}`);
}

function localTime(iso: string | undefined): string {
  if (iso === undefined) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return printable(iso);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatDuration(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec)) return '-';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

function clip(s: string, max: number): string {
  const cps = [...s];
  return cps.length <= max ? s : cps.slice(0, max - 1).join('') + '…';
}

function renderTable(entries: CatalogueEntry[]): string {
  if (entries.length === 0) return 'no recordings match\n';
  const rows = entries.map((e) => [
    localTime(e.start),
    formatDuration(e.durationSec),
    printable(e.disposition || '-') + (e.status === 'complete' ? '' : ` (${e.status})`),
    clip(`${printable(e.from)} → ${printable(e.to)}`, 72),
    e.id,
  ]);
  const head = ['START', 'DURATION', 'DISPOSITION', 'FROM → TO', 'ID'];
  const widths = head.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : i === 1 ? c.padStart(widths[i] ?? 0) : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - [...c].length))))
      .join('  ');
  return [line(head), ...rows.map(line)].join('\n') + `\n${entries.length} recording${entries.length === 1 ? '' : 's'}\n`;
}

export async function recordingsListCommand(opts: RecordingsListOptions): Promise<void> {
  const paths = await storagePathsFor(opts);
  const q = {
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    limit: opts.limit ?? 100,
  };
  const shared = sharedTarget(paths, opts);
  if (shared !== undefined) {
    // Every recorder's recordings: the shared catalogue (PostgreSQL), not this recorder's spool.
    const { sharedPostgresUrl } = require('./index') as StorageModule;
    const { PgCatalogue } = require('./pg-catalogue') as typeof import('./pg-catalogue');
    const pg = await PgCatalogue.open(sharedPostgresUrl(shared), undefined, { migrate: false, max: 1 });
    try {
      const entries = await pg.list(q);
      process.stdout.write(opts.json === true ? JSON.stringify(entries, null, 2) + '\n' : renderTable(entries));
    } finally {
      await pg.close();
    }
    return;
  }
  const cat = openCatalogue(paths);
  try {
    const entries = cat.list(q);
    process.stdout.write(opts.json === true ? JSON.stringify(entries, null, 2) + '\n' : renderTable(entries));
  } finally {
    cat.close();
  }
}

/** What the catalogue keeps about a recording besides its row: its legal hold and its files' hashes. */
interface Custody {
  hold?: { reason: string; since: string; by: string };
  files: Array<{ name: string; bytes: number; sha256: string }>;
}

function custodyOf(cat: Catalogue, id: string): Custody {
  const out: Custody = { files: [] };
  if (cat.hasTable('holds')) {
    const h = cat.stmt('SELECT reason, since, by FROM holds WHERE recording_id = @id').get({ id }) as Custody['hold'] | undefined;
    if (h !== undefined) out.hold = h;
  }
  if (cat.hasTable('objects')) out.files = cat.stmt('SELECT name, bytes, sha256 FROM objects WHERE recording_id = @id ORDER BY name').all({ id }) as Custody['files'];
  return out;
}

function renderShow(entry: CatalogueEntry, meta: RecordingMetadata | undefined, custody: Custody = { files: [] }): string {
  const out: Array<[string, string]> = [];
  const add = (k: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') out.push([k, v]);
  };
  const party = (uri: string, name?: string): string => (name ? `"${printable(name)}" <${printable(uri)}>` : printable(uri));
  add('Recording', entry.id);
  add('Status', entry.status);
  add('Call-ID', printable(entry.callId));
  add('Start', `${localTime(entry.start)} (${entry.start})`);
  if (entry.end !== undefined) add('End', `${localTime(entry.end)} (${entry.end})`);
  add('Duration', entry.durationSec === undefined ? undefined : `${formatDuration(entry.durationSec)} (${entry.durationSec} s)`);
  add('Disposition', printable(entry.disposition));
  add('From', meta ? party(meta.call.from.uri, meta.call.from.displayName) : printable(entry.from));
  add('To', meta ? party(meta.call.to.uri, meta.call.to.displayName) : printable(entry.to));
  if (meta !== undefined) {
    add('Direction', meta.direction);
    if (meta.call.endReason !== undefined) add('End reason', printable(meta.call.endReason));
  }
  const audio = meta?.audio?.file ?? entry.audio;
  if (audio !== undefined) {
    const a = meta?.audio;
    const fmt = a ? ` (${a.channels === 2 ? 'stereo, caller left' : 'mono'}, ${a.sampleRate} Hz, ${a.durationSec} s)` : '';
    add('Audio', `${audio}${fmt}${fs.existsSync(audio) ? '' : ' [file missing]'}`);
  } else add('Audio', 'none (no audio was recorded)');
  add('Metadata', entry.metadata);
  if (meta !== undefined) {
    for (const [label, s] of [['Caller RTP', meta.caller], ['Callee RTP', meta.callee]] as const) {
      add(label, `${s.packets}/${s.expected} packets, ${s.lost} lost, ${s.late} late${s.codecs.length > 0 ? `, ${s.codecs.join(' ')}` : ''}${s.undecoded > 0 ? `, ${s.undecoded} undecoded` : ''}`);
    }
    if (meta.dtmf.length > 0) add('DTMF', meta.dtmf.map((d) => `${printable(d.digit)}@${d.at.toFixed(1)}s`).join(' '));
    for (const f of meta.flags) add('Flag', printable(f));
  }
  if (meta?.audio?.format !== undefined && meta.audio.format !== 'wav') add('Stored as', meta.audio.format);
  if (custody.hold !== undefined) add('Legal hold', `${printable(custody.hold.reason)} (since ${custody.hold.since}, by ${printable(custody.hold.by)})`);
  for (const f of custody.files) add('SHA-256', `${f.sha256}  ${f.name} (${f.bytes} bytes)`);
  const w = Math.max(...out.map(([k]) => k.length));
  return out.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

/** The recording `ref` names (id, unique id prefix, or Call-ID), or a usage error saying none does. */
export function resolveRecording(cat: Catalogue, ref: string): CatalogueEntry {
  const e = cat.resolve(ref);
  if (e === undefined) throw new TaplineError(ErrorCodes.USAGE, `no recording with id, id prefix or Call-ID "${printable(ref)}" in the catalogue ${cat.file}`, { id: ref, catalogue: cat.file });
  return e;
}

export async function recordingsShowCommand(id: string, opts: RecordingsShowOptions): Promise<void> {
  const paths = await storagePathsFor(opts);
  const shared = sharedTarget(paths, opts);
  if (shared !== undefined) {
    // The shared catalogue: its row, the metadata as published, its objects with their hashes, any hold.
    const { withSharedStorage } = require('./shared-open') as typeof import('./shared-open');
    const shown = await withSharedStorage(shared, async (pg) => {
      const rid = await pg.resolve(id);
      const got = (await pg.get(rid))!;
      const hold = await pg.db.selectFrom('holds').select(['reason', 'since', 'by']).where('recording_id', '=', rid).executeTakeFirst();
      const custody: Custody = { files: got.objects.map((o) => ({ name: o.name, bytes: o.bytes, sha256: o.sha256 })), ...(hold !== undefined ? { hold: { reason: hold.reason, since: hold.since.toISOString(), by: hold.by } } : {}) };
      return { entry: got.entry, meta: got.metadata as RecordingMetadata, custody, objects: got.objects };
    });
    if (opts.json === true) process.stdout.write(JSON.stringify({ entry: shown.entry, metadata: shown.meta, ...shown.custody, objects: shown.objects }, null, 2) + '\n');
    else process.stdout.write(renderShow(shown.entry, shown.meta, shown.custody));
    return;
  }
  const cat = openCatalogue(paths);
  let entry: CatalogueEntry;
  let custody: Custody;
  try {
    entry = resolveRecording(cat, id);
    custody = custodyOf(cat, entry.id);
  } finally {
    cat.close();
  }
  const { readMetadata } = require('./recover') as RecoverModule;
  let meta: RecordingMetadata | undefined;
  let problem: string | undefined;
  try {
    meta = readMetadata(entry.metadata);
  } catch (e) {
    problem = (e as Error).message;
  }
  if (opts.json === true) process.stdout.write(JSON.stringify({ entry, metadata: meta ?? null, ...custody, ...(problem ? { error: problem } : {}) }, null, 2) + '\n');
  else process.stdout.write(renderShow(entry, meta, custody));
  if (problem !== undefined) {
    // The catalogue entry is still worth printing; the exit status says the recording is incomplete.
    process.stderr.write(`tapline: ${printable(problem)}\n`);
    process.exitCode = 1;
  }
}
