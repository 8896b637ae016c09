/**
 * `tapline verify`: every hashed file of the catalogue (or of recordings started in a time range) hashed again
 * and compared with the catalogue, and the chain of daily manifests walked. Exit status 1 when anything differs,
 * so a cron job or a monitoring check can alert on it. Read-only: safe while recorders run.
 */
import { CONFIG_OPTION, DIR_OPTION } from './catalogue-options';
import type { CommandSpec } from '../../core/contract';
import { storagePathsFor, printable, sharedTarget } from './recordings-cli';
import type { SharedConfig } from './index';

type CatalogueModule = typeof import('./catalogue');
type IntegrityModule = typeof import('./integrity');

export interface VerifyCommandOptions {
  from?: string;
  to?: string;
  json?: boolean;
  config?: string;
  dir?: string;
  local?: boolean;
}

export const verifyCommands: readonly CommandSpec[] = [
  {
    name: 'verify',
    description: 'Check recordings against the SHA-256 hashes taken when they finished, and the chain of daily manifests; exit 1 if anything was altered or deleted.',
    options: [
      { flags: '--from <date>', description: 'only recordings that started at or after DATE (the manifests are always checked)' },
      { flags: '--to <date>', description: 'only recordings that started before DATE' },
      { flags: '--json', description: 'print the report as JSON' },
      { flags: '--local', description: "with shared storage configured: verify this recorder's spool instead of the shared bucket" },
      DIR_OPTION,
      CONFIG_OPTION,
    ],
    run: (_args, o) => verifyCommand(o as VerifyCommandOptions),
  },
];

export async function verifyCommand(opts: VerifyCommandOptions): Promise<void> {
  const paths = await storagePathsFor(opts);
  const { Catalogue, parseQueryDate } = require('./catalogue') as CatalogueModule;
  const { verifyCatalogue } = require('./integrity') as IntegrityModule;
  const range = {
    ...(opts.from !== undefined ? { from: parseQueryDate(opts.from, 'from') } : {}),
    ...(opts.to !== undefined ? { to: parseQueryDate(opts.to, 'to') } : {}),
  };
  const shared = sharedTarget(paths, opts);
  if (shared !== undefined) {
    await verifySharedCommand(shared, range, opts.json === true);
    return;
  }
  const cat = Catalogue.open(paths.catalogue, { readonly: true });
  let report;
  try {
    report = await verifyCatalogue(cat, paths.root, range);
  } finally {
    cat.close();
  }
  if (opts.json === true) {
    process.stdout.write(JSON.stringify({ ok: report.problems.length === 0, ...report }, null, 2) + '\n');
  } else {
    for (const p of report.problems) process.stdout.write(`ALTERED  ${printable(p)}\n`);
    const mib = (report.bytes / 1048576).toFixed(1);
    process.stdout.write(
      `${report.problems.length === 0 ? 'OK' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`}: ` +
        `${report.files} file${report.files === 1 ? '' : 's'} (${mib} MiB) of ${report.recordings} recording${report.recordings === 1 ? '' : 's'} checked, ` +
        `${report.manifests} daily manifest${report.manifests === 1 ? '' : 's'} chained` +
        (report.notHashed > 0 ? `; ${report.notHashed} recording${report.notHashed === 1 ? '' : 's'} catalogued before hashing existed (not checked)` : '') +
        '\n',
    );
  }
  if (report.problems.length > 0) process.exitCode = 1;
}

/** Every object of the shared catalogue (PostgreSQL) fetched from the bucket and hashed again. */
async function verifySharedCommand(shared: SharedConfig, range: { from?: string; to?: string }, json: boolean): Promise<void> {
  const { withSharedStorage } = require('./shared-open') as typeof import('./shared-open');
  const { verifyShared } = require('./shared-verify') as typeof import('./shared-verify');
  const { report, bucket } = await withSharedStorage(shared, async (cat, s3, b) => ({ report: await verifyShared(cat, s3, range), bucket: b }));
  if (json) process.stdout.write(JSON.stringify({ ok: report.problems.length === 0, ...report }, null, 2) + '\n');
  else {
    for (const p of report.problems) process.stdout.write(`ALTERED  ${printable(p)}\n`);
    process.stdout.write(
      `${report.problems.length === 0 ? 'OK' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`}: ${report.files} object${report.files === 1 ? '' : 's'} (${(report.bytes / 1048576).toFixed(1)} MiB) of ${report.recordings} recording${report.recordings === 1 ? '' : 's'} in s3://${bucket} checked against the shared catalogue\n`,
    );
  }
  if (report.problems.length > 0) process.exitCode = 1;
}
