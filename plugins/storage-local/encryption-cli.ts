/**
 * `tapline recordings export ID --out FILE`: a recording's audio as a WAV file, decrypted when it is encrypted at
 * rest (with the master keys the config names). `tapline keys rewrap`: every encrypted recording's data key
 * re-wrapped by the current master key, after a rotation (the audio itself is not re-encrypted).
 */
import * as fs from 'node:fs';
import { CONFIG_OPTION, DIR_OPTION } from './catalogue-options';
import type { CommandSpec } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { printable, resolveRecording, storagePathsFor } from './recordings-cli';
import type { StoragePaths } from './index';

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
    description: "Write a recording's audio to a WAV file (decrypted with the configured master keys when it is encrypted at rest).",
    arguments: [{ name: 'id', description: 'recording id, a unique prefix of it, or a Call-ID' }],
    options: [{ flags: '-o, --out <file>', description: 'the WAV file to write', required: true }, DIR_OPTION, CONFIG_OPTION],
    run: (a, o) => exportCommand(String(a[0]), o as unknown as Common & { out: string }),
  },
  {
    name: 'keys rewrap',
    description: 'After a master key rotation: re-wrap every encrypted recording\'s data key with the current key (the old one must still be configured under previousKeyFiles/previousKeyEnvs).',
    options: [CONFIG_OPTION],
    run: (_a, o) => rewrapCommand(o as Common),
  },
];

export async function exportCommand(ref: string, o: Common & { out: string }): Promise<void> {
  const paths = await storagePathsFor(o);
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
  process.stdout.write(`${o.out}: ${id}'s audio, decrypted (${r.channels} channel${r.channels === 1 ? '' : 's'}, ${r.sampleRate} Hz, ${(r.bytes / (r.channels * 2 * r.sampleRate)).toFixed(3)} s)${r.complete ? '' : '; the recording ends early (its writer stopped before closing it)'}\n`);
}

export async function rewrapCommand(o: Common): Promise<void> {
  const paths = await storagePathsFor(o);
  const keys = provider(paths, 'keys rewrap');
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
