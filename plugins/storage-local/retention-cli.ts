/**
 * `tapline retention` (apply the configured rules now, or --dry-run to list what they would delete),
 * `tapline recordings hold|release ID` (legal hold) and `tapline audit` (what was deleted, held, released, by whom).
 * The first three write to the catalogue (WAL: safe beside a running recorder); audit only reads.
 */
import * as os from 'node:os';
import { CONFIG_OPTION, DIR_OPTION, parseLimit } from './catalogue-options';
import type { CommandSpec } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { printable, resolveRecording, sharedTarget, storagePathsFor } from './recordings-cli';

type CatalogueModule = typeof import('./catalogue');
type RetentionModule = typeof import('./retention');

interface Common {
  config?: string;
  dir?: string;
  json?: boolean;
  /** With shared storage configured: this recorder's spool instead of the shared catalogue. */
  local?: boolean;
}

const LOCAL_OPTION = { flags: '--local', description: "with shared storage configured: this recorder's spool instead of the shared catalogue" } as const;

function actor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (a container): the uid is all there is.
  }
  return `${user}@${os.hostname()}`;
}

export const retentionCommands: readonly CommandSpec[] = [
  {
    name: 'retention',
    description: "Apply storage-local's retention rules now: delete (audio and metadata) every finished recording past its time that is not on legal hold, each deletion in the audit log.",
    options: [
      { flags: '--dry-run', description: 'list what would be deleted (and what a hold keeps); change nothing' },
      { flags: '--at <date>', description: 'with --dry-run: as of DATE instead of now (what will have expired by then)' },
      { flags: '--json', description: 'print the result as JSON' },
      LOCAL_OPTION,
      DIR_OPTION,
      CONFIG_OPTION,
    ],
    run: (_a, o) => retentionCommand(o as Common & { dryRun?: boolean; at?: string }),
  },
  {
    name: 'recordings hold',
    description: 'Put a recording on legal hold: retention never deletes it until it is released (audited).',
    arguments: [{ name: 'id', description: 'recording id, a unique prefix of it, or a Call-ID' }],
    options: [{ flags: '--reason <text>', description: 'why (kept with the hold and in the audit log)', default: 'legal hold' }, LOCAL_OPTION, DIR_OPTION, CONFIG_OPTION],
    run: (a, o) => holdCommand(String(a[0]), true, o as Common & { reason?: string }),
  },
  {
    name: 'recordings release',
    description: 'Take a recording off legal hold (audited); retention applies to it again.',
    arguments: [{ name: 'id', description: 'recording id, a unique prefix of it, or a Call-ID' }],
    options: [{ flags: '--reason <text>', description: 'why (in the audit log)', default: 'hold released' }, LOCAL_OPTION, DIR_OPTION, CONFIG_OPTION],
    run: (a, o) => holdCommand(String(a[0]), false, o as Common & { reason?: string }),
  },
  {
    name: 'audit',
    description: 'The audit log of the catalogue, newest first: deletions by retention, legal holds and releases, with who and why.',
    options: [{ flags: '--limit <n>', description: 'at most N entries', parse: parseLimit, default: 100 }, { flags: '--json', description: 'print the entries as JSON' }, LOCAL_OPTION, DIR_OPTION, CONFIG_OPTION],
    run: (_a, o) => auditCommand(o as Common & { limit?: number }),
  },
];

export async function retentionCommand(o: Common & { dryRun?: boolean; at?: string }): Promise<void> {
  const paths = await storagePathsFor(o);
  const { Catalogue, parseQueryDate } = require('./catalogue') as CatalogueModule;
  const { applyRetention } = require('./retention') as RetentionModule;
  if (paths.retention.rules.length === 0) {
    throw new TaplineError(ErrorCodes.USAGE, 'no retention rules: they are storage-local\'s "retention.rules" in the config (-c CONFIG); with none, every recording is kept');
  }
  if (o.at !== undefined && o.dryRun !== true) throw new TaplineError(ErrorCodes.USAGE, '--at is for --dry-run only: deleting is always as of now');
  const now = o.at !== undefined ? new Date(parseQueryDate(o.at, 'at')) : new Date();
  const run = { now, dryRun: o.dryRun === true, actor: `retention (${actor()})` };
  // With shared storage, the rules apply to the shared catalogue and bucket (this recorder's spool holds only
  // what is not uploaded yet); --local applies them to the spool.
  const shared = sharedTarget(paths, o);
  const cat = shared === undefined ? Catalogue.open(paths.catalogue) : undefined;
  try {
    const res =
      shared !== undefined
        ? await (require('./shared-open') as typeof import('./shared-open')).withSharedStorage(shared, (pg, s3) => (require('./shared-retention') as typeof import('./shared-retention')).applySharedRetention(pg, s3, paths.retention.rules, run))
        : await applyRetention(cat as import('./catalogue').Catalogue, paths.retention.rules, { ...run, root: paths.root });
    if (o.json === true) {
      process.stdout.write(JSON.stringify({ dryRun: res.dryRun, expired: res.expired, held: res.held }, null, 2) + '\n');
      return;
    }
    const verb = res.dryRun ? 'would delete' : 'deleted';
    for (const c of res.expired) process.stdout.write(`${verb}  ${c.id}  ${c.start}  ${printable(c.from)} → ${printable(c.to)}  (rule ${c.rule + 1}: ${c.days} days)\n`);
    for (const c of res.held) process.stdout.write(`held    ${c.id}  ${c.start}  ${printable(c.from)} → ${printable(c.to)}  (rule ${c.rule + 1}: ${c.days} days; on hold: ${printable(c.reason)})\n`);
    process.stdout.write(`${res.dryRun ? 'dry run: ' : ''}${res.expired.length} recording${res.expired.length === 1 ? '' : 's'} ${verb}, ${res.held.length} kept on legal hold (as of ${now.toISOString()})\n`);
  } finally {
    cat?.close();
  }
}

export async function holdCommand(ref: string, hold: boolean, o: Common & { reason?: string }): Promise<void> {
  const paths = await storagePathsFor(o);
  const shared = sharedTarget(paths, o);
  if (shared !== undefined) {
    const { withSharedStorage } = require('./shared-open') as typeof import('./shared-open');
    const { setSharedHold } = require('./shared-retention') as typeof import('./shared-retention');
    await withSharedStorage(shared, (pg) => setSharedHold(pg, ref, hold, { ...(o.reason !== undefined ? { reason: o.reason } : {}), actor: actor() }));
    process.stdout.write(`${ref} ${hold ? 'is on legal hold' : 'is no longer on hold'} (shared catalogue)\n`);
    return;
  }
  const { Catalogue } = require('./catalogue') as CatalogueModule;
  const { setHold } = require('./retention') as RetentionModule;
  const cat = Catalogue.open(paths.catalogue);
  try {
    const e = resolveRecording(cat, ref);
    setHold(cat, e.id, hold, { ...(o.reason !== undefined ? { reason: o.reason } : {}), actor: actor() });
    process.stdout.write(`${e.id} ${hold ? 'is on legal hold' : 'is no longer on hold'}\n`);
  } finally {
    cat.close();
  }
}

export async function auditCommand(o: Common & { limit?: number }): Promise<void> {
  const paths = await storagePathsFor(o);
  const shared = sharedTarget(paths, o);
  if (shared !== undefined) {
    const { withSharedStorage } = require('./shared-open') as typeof import('./shared-open');
    const { sharedAudit } = require('./shared-retention') as typeof import('./shared-retention');
    const rows = await withSharedStorage(shared, (pg) => sharedAudit(pg, { limit: o.limit ?? 100 }));
    if (o.json === true) process.stdout.write(JSON.stringify(rows.map((r) => ({ at: r.at, actor: r.actor, action: r.action, recording: r.recordingId, detail: r.detail })), null, 2) + '\n');
    else if (rows.length === 0) process.stdout.write('the audit log is empty\n');
    else for (const r of rows) process.stdout.write(`${r.at}  ${r.action.padEnd(7)}  ${r.recordingId}  ${printable(r.actor)}: ${printable(r.detail)}\n`);
    return;
  }
  const { Catalogue } = require('./catalogue') as CatalogueModule;
  const cat = Catalogue.open(paths.catalogue, { readonly: true });
  try {
    const rows = cat.hasTable('audit')
      ? (cat.stmt('SELECT at, actor, action, recording_id, detail FROM audit ORDER BY id DESC LIMIT @limit').all({ limit: o.limit ?? 100 }) as Array<{ at: string; actor: string; action: string; recording_id: string; detail: string }>)
      : [];
    if (o.json === true) process.stdout.write(JSON.stringify(rows.map((r) => ({ at: r.at, actor: r.actor, action: r.action, recording: r.recording_id, detail: r.detail })), null, 2) + '\n');
    else if (rows.length === 0) process.stdout.write('the audit log is empty\n');
    else for (const r of rows) process.stdout.write(`${r.at}  ${r.action.padEnd(7)}  ${r.recording_id}  ${printable(r.actor)}: ${printable(r.detail)}\n`);
  } finally {
    cat.close();
  }
}
