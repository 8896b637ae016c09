/**
 * `tapline catalogue migrate`: copies a SQLite catalogue and its files into shared storage (the PostgreSQL
 * catalogue and the bucket the config's storage-local `shared` names): each finished recording uploaded and
 * catalogued as a recorder publishes it, the local copy kept and marked published. Idempotent: run it again and
 * what is already there is skipped; objects already in the bucket with the same SHA-256 are not sent again.
 */
import { CONFIG_OPTION } from './catalogue-options';
import type { CommandSpec } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { storagePathsFor, printable } from './recordings-cli';

type CatalogueModule = typeof import('./catalogue');
type PublisherModule = typeof import('./publisher');
type StorageModule = typeof import('./index');

export interface MigrateCommandOptions {
  from?: string;
  config?: string;
  json?: boolean;
}

export const catalogueCommands: readonly CommandSpec[] = [
  {
    name: 'catalogue migrate',
    description: "Copy a SQLite catalogue and its recordings into the shared storage the config names (storage-local 'shared': PostgreSQL and an S3 bucket); local files are kept.",
    options: [
      { flags: '--from <folder>', description: 'recordings folder whose catalogue.sqlite is copied (default: the configured storage-local dir)' },
      { flags: '--json', description: 'print the counts as JSON' },
      CONFIG_OPTION,
    ],
    run: (_args, o) => migrateCommand(o as MigrateCommandOptions),
  },
];

export async function migrateCommand(opts: MigrateCommandOptions): Promise<void> {
  const configured = await storagePathsFor({ ...(opts.config !== undefined ? { config: opts.config } : {}) });
  if (configured.sharedConfig === undefined) throw new TaplineError(ErrorCodes.USAGE, "catalogue migrate: the config's storage-local has no 'shared' storage to copy into");
  const source = opts.from === undefined ? configured : await storagePathsFor({ dir: opts.from });
  const { Catalogue } = require('./catalogue') as CatalogueModule;
  const { Publisher } = require('./publisher') as PublisherModule;
  const { resolveShared } = require('./index') as StorageModule;
  const cat = Catalogue.open(source.catalogue);
  const publisher = new Publisher({ ...resolveShared(configured.sharedConfig), keepLocal: true }, { catalogue: () => cat, root: source.root, busy: () => false });
  const counts = { copied: 0, failed: 0, alreadyShared: 0 };
  const failures: string[] = [];
  try {
    counts.alreadyShared = (cat.stmt('SELECT count(*) AS n FROM published').get({}) as { n: number }).n;
    // Every finished recording not yet published; a failure is reported and skipped (run again to retry it).
    const seen = new Set<string>();
    for (;;) {
      const batch = publisher.pendingIds(64).filter((id) => !seen.has(id));
      if (batch.length === 0) break;
      for (const id of batch) {
        seen.add(id);
        try {
          await publisher.publishOne(id, { keep: true });
          counts.copied++;
        } catch (e) {
          counts.failed++;
          failures.push(`${id}: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    await publisher.stop();
    cat.close();
  }
  if (opts.json === true) process.stdout.write(JSON.stringify({ ...counts, failures }, null, 2) + '\n');
  else {
    for (const f of failures) process.stdout.write(`FAILED  ${printable(f)}\n`);
    process.stdout.write(`${counts.copied} recording(s) copied into shared storage from ${source.root}; ${counts.alreadyShared} already there; ${counts.failed} failed\n`);
  }
  if (counts.failed > 0) process.exitCode = 1;
}
