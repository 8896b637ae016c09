/**
 * `tapline recordings export ID --out FILE`: a recording's audio as a WAV file, decrypted when it is encrypted at
 * rest (with the master keys the config names). `tapline keys rewrap`: every encrypted recording's data key
 * re-wrapped by the current master key, after a rotation (the audio itself is not re-encrypted).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CONFIG_OPTION, DIR_OPTION } from './catalogue-options';
import type { CommandSpec } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { printable, resolveRecording, sharedTarget, storagePathsFor } from './recordings-cli';
import type { SharedConfig, StoragePaths } from './index';

type CatalogueModule = typeof import('./catalogue');
type EncModule = typeof import('./encrypted-audio');
type KeysModule = typeof import('./key-provider');

interface Common {
  config?: string;
  dir?: string;
}

function provider(paths: StoragePaths, what: string): import('./key-provider').KeyProvider {
  const { StaticKeyProvider } = require('./key-provider') as KeysModule;
  if (paths.encryption === undefined) throw new TaplineError(ErrorCodes.USAGE, `${what}: no master key; storage-local's "encryption" in the config (-c CONFIG) names it`);
  return StaticKeyProvider.fromSources(paths.encryption.key, paths.encryption.previousKeys ?? []);
}

export const encryptionCommands: readonly CommandSpec[] = [
  {
    name: 'recordings export',
    description: "Write a recording's audio to a file (decrypted with the configured master keys when it is encrypted at rest): a WAV, or the Ogg Opus file of an 'opus' recording.",
    arguments: [{ name: 'id', description: 'recording id, a unique prefix of it, or a Call-ID' }],
    options: [{ flags: '-o, --out <file>', description: 'the file to write', required: true }, { flags: '--local', description: "with shared storage configured: from this recorder's spool" }, DIR_OPTION, CONFIG_OPTION],
    run: (a, o) => exportCommand(String(a[0]), o as unknown as Common & { out: string }),
  },
  {
    name: 'keys rewrap',
    description: 'After a master key rotation: re-wrap every encrypted recording\'s data key with the current key (the old one must still be configured under previousKeyFiles/previousKeyEnvs).',
    options: [CONFIG_OPTION],
    run: (_a, o) => rewrapCommand(o as Common),
  },
];

/** Shared storage: the audio object fetched into a temporary file beside `out`, then exported as a local one. */
async function exportShared(paths: StoragePaths, shared: SharedConfig, ref: string, out: string): Promise<void> {
  const { withSharedStorage } = require('./shared-open') as typeof import('./shared-open');
  const { decryptToWav, ENC_SUFFIX } = require('./encrypted-audio') as EncModule;
  await withSharedStorage(shared, async (cat, s3) => {
    const id = await cat.resolve(ref);
    const got = await cat.get(id);
    const audio = got?.objects.find((x) => x.key === got.entry.audio);
    if (got === undefined || audio === undefined) throw new TaplineError(ErrorCodes.USAGE, `recording ${id} has no audio`);
    const body = await s3.getBuffer(audio.key);
    if ((require('node:crypto') as typeof import('node:crypto')).createHash('sha256').update(body).digest('hex') !== audio.sha256) {
      throw new TaplineError(ErrorCodes.USAGE, `recording ${id}: the audio object's SHA-256 differs from the catalogue's (altered?); not exported`);
    }
    if (!audio.key.endsWith(ENC_SUFFIX)) {
      fs.writeFileSync(out, body);
      process.stdout.write(`${out}: ${id}'s audio from s3://${s3.o.bucket}/${audio.key} (stored in the clear)\n`);
      return;
    }
    const tmp = `${out}.${process.pid}.enc`;
    fs.writeFileSync(tmp, body);
    try {
      const r = decryptToWav(tmp, out, provider(paths, 'recordings export'));
      process.stdout.write(`${out}: ${id}'s audio from s3://${s3.o.bucket}/${audio.key}, decrypted (${r.channels} channel${r.channels === 1 ? '' : 's'}, ${r.sampleRate} Hz)\n`);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  });
}

/** Shared storage: every encrypted audio object fetched, re-wrapped, put back, and its new hash catalogued. */
async function rewrapShared(shared: SharedConfig, keys: import('./key-provider').KeyProvider): Promise<{ moved: number; already: number; failed: string[] }> {
  const { withSharedStorage } = require('./shared-open') as typeof import('./shared-open');
  const { rewrapFile, ENC_SUFFIX } = require('./encrypted-audio') as EncModule;
  const { hashFile } = require('./integrity') as typeof import('./integrity');
  const res = { moved: 0, already: 0, failed: [] as string[] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-rewrap-'));
  try {
    await withSharedStorage(shared, async (cat, s3) => {
      const objects = await cat.db.selectFrom('objects').select(['recording_id', 'name', 'key']).where('key', 'like', `%${ENC_SUFFIX}`).execute();
      for (const o of objects) {
        const tmp = path.join(dir, 'object.enc');
        try {
          fs.writeFileSync(tmp, await s3.getBuffer(o.key));
          if (!rewrapFile(tmp, keys)) {
            res.already++;
            continue;
          }
          const h = await hashFile(tmp);
          await s3.putFile(o.key, tmp, h.sha256, false);
          await cat.updateObject(o.recording_id, o.name, h);
          res.moved++;
        } catch (e) {
          res.failed.push(`s3://${s3.o.bucket}/${o.key}: ${(e as Error).message}`);
        }
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return res;
}

export async function exportCommand(ref: string, o: Common & { out: string; local?: boolean }): Promise<void> {
  const paths = await storagePathsFor(o);
  const shared = sharedTarget(paths, o);
  if (shared !== undefined) {
    await exportShared(paths, shared, ref, o.out);
    return;
  }
  const { Catalogue } = require('./catalogue') as CatalogueModule;
  const cat = Catalogue.open(paths.catalogue, { readonly: true });
  let audio: string | undefined;
  let id: string;
  try {
    const e = resolveRecording(cat, ref);
    audio = e.audio;
    id = e.id;
  } finally {
    cat.close();
  }
  if (audio === undefined) throw new TaplineError(ErrorCodes.USAGE, `recording ${id} has no audio`);
  const { decryptToWav, ENC_SUFFIX } = require('./encrypted-audio') as EncModule;
  if (!audio.endsWith(ENC_SUFFIX)) {
    fs.copyFileSync(audio, o.out);
    process.stdout.write(`${o.out}: ${id}'s audio (stored in the clear)\n`);
    return;
  }
  const r = decryptToWav(audio, o.out, provider(paths, 'recordings export'));
  const what = r.container === 'ogg' ? 'an Ogg Opus file' : `${(r.bytes / (r.channels * 2 * r.sampleRate)).toFixed(3)} s`;
  process.stdout.write(`${o.out}: ${id}'s audio, decrypted (${r.channels} channel${r.channels === 1 ? '' : 's'}, ${r.sampleRate} Hz, ${what})${r.complete ? '' : '; the recording ends early (its writer stopped before closing it)'}\n`);
}

export async function rewrapCommand(o: Common): Promise<void> {
  const paths = await storagePathsFor(o);
  const keys = provider(paths, 'keys rewrap');
  if (paths.sharedConfig !== undefined) {
    // The shared bucket's recordings; then this recorder's spool below (what is not uploaded yet).
    const r = await rewrapShared(paths.sharedConfig, keys);
    for (const f of r.failed) process.stderr.write(`tapline: ${printable(f)}\n`);
    process.stdout.write(`shared storage: ${r.moved} recording${r.moved === 1 ? '' : 's'} re-wrapped with master key ${keys.currentId}, ${r.already} already were, ${r.failed.length} failed\n`);
    if (r.failed.length > 0) process.exitCode = 1;
  }
  const { Catalogue } = require('./catalogue') as CatalogueModule;
  const { rewrapFile, ENC_SUFFIX } = require('./encrypted-audio') as EncModule;
  const cat = Catalogue.open(paths.catalogue, { readonly: true });
  let files: string[];
  try {
    files = (cat.stmt(`SELECT audio FROM recordings WHERE audio IS NOT NULL AND status != 'recording'`).all({}) as Array<{ audio: string }>).map((r) => cat.abs(r.audio)).filter((f) => f.endsWith(ENC_SUFFIX));
  } finally {
    cat.close();
  }
  let moved = 0;
  let already = 0;
  const failed: string[] = [];
  for (const f of files) {
    try {
      if (rewrapFile(f, keys)) moved++;
      else already++;
    } catch (e) {
      failed.push(`${f}: ${(e as Error).message}`);
    }
  }
  for (const f of failed) process.stderr.write(`tapline: ${printable(f)}\n`);
  process.stdout.write(`${moved} recording${moved === 1 ? '' : 's'} re-wrapped with master key ${keys.currentId}, ${already} already were, ${failed.length} failed\n`);
  if (failed.length > 0) process.exitCode = 1;
}
