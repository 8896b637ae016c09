/** Plugin manifest: recordings on local disk, a folder per call by date, and a SQLite catalogue to query them. */
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import type { Layout } from './paths';
import type { RetentionOptions } from './retention';
import type { AudioStorageOptions, EncryptionOptions } from './store';
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { KeySource } from './key-provider';
import { LocalStore } from './store';
import optionsSchema from './options.schema.json';
import { recordingsCommands } from './recordings-cli';
import { chatsCommands } from './transcripts-cli';
import { verifyCommands } from './verify-cli';
import { retentionCommands } from './retention-cli';
import { encryptionCommands } from './encryption-cli';

export const STORAGE_LOCAL = 'storage-local';

export interface StorageLocalOptions {
  dir: string;
  layout: Layout;
  catalogue?: string;
  retention?: RetentionOptions;
  encryption?: { keyFile?: string; keyEnv?: string; previousKeyFiles?: string[]; previousKeyEnvs?: string[] };
  audio?: AudioStorageOptions;
}

export interface StoragePaths {
  root: string;
  catalogue: string;
  layout: Layout;
  retention: RetentionOptions;
  /** Master key sources, paths absolute (absent: audio in the clear). */
  encryption?: EncryptionOptions;
  audio?: AudioStorageOptions;
}

/** Absolute paths from (schema-defaulted) options; shared with the `recordings` CLI so both find the same files. */
export function resolveStoragePaths(o: StorageLocalOptions, configDir: string): StoragePaths {
  const root = path.resolve(configDir, o.dir);
  return {
    root,
    catalogue: o.catalogue === undefined ? path.join(root, 'catalogue.sqlite') : path.resolve(configDir, o.catalogue),
    layout: o.layout,
    retention: { rules: o.retention?.rules ?? [], auto: o.retention?.auto ?? true },
    ...(o.encryption !== undefined ? { encryption: encryptionSources(o.encryption, configDir) } : {}),
    ...(o.audio !== undefined ? { audio: o.audio } : {}),
  };
}

function encryptionSources(e: NonNullable<StorageLocalOptions['encryption']>, configDir: string): EncryptionOptions {
  const key: KeySource = e.keyFile !== undefined ? { file: path.resolve(configDir, e.keyFile) } : { env: e.keyEnv as string };
  const previousKeys: KeySource[] = [...(e.previousKeyFiles ?? []).map((f) => ({ file: path.resolve(configDir, f) })), ...(e.previousKeyEnvs ?? []).map((v) => ({ env: v }))];
  return { key, previousKeys };
}

export const storageLocalManifest = definePlugin<StorageLocalOptions>({
  name: STORAGE_LOCAL,
  kind: 'storage',
  api: TAPLINE_API,
  description: 'Recordings and chat transcripts on local disk (YYYY/MM/DD folders, audio.wav + metadata.json, transcript.json) with a SQLite catalogue',
  optionsSchema,
  commands: [...recordingsCommands, ...chatsCommands, ...verifyCommands, ...retentionCommands, ...encryptionCommands],
  register(ctx) {
    const store = new LocalStore({
      ...resolveStoragePaths(ctx.options, ctx.configDir),
      log: ctx.log,
      counters: ctx.counters,
      // Codec plugins' encoders (shared once contributed): resolved when a recording needs one.
      encoders: () => (ctx.container.isRegistered(Tokens.AudioEncoder, true) ? ctx.container.resolveAll(Tokens.AudioEncoder) : []),
    });
    ctx.container.register(Tokens.Storage, { useValue: store });
    ctx.container.register(Tokens.Transcripts, { useValue: store });
    // Files are opened in start(), not register() (the plugin contract); recover() is the core's to call.
    return {
      start: () => {
        if (ctx.options.audio?.format === 'opus') {
          // A config asking for Opus without a plugin that encodes it is refused; a missing library only warns
          // (each recording is then kept as WAV and says so).
          const enc = store.opusEncoder();
          if ('missing' in enc) {
            if (!(store.opts.encoders?.() ?? []).some((p) => p.format === 'opus')) throw new TaplineError(ErrorCodes.CONFIG_INVALID, `storage-local: audio.format 'opus': ${enc.missing}`, { format: 'opus' });
            ctx.log.warn(`storage-local: Ogg Opus archives are not possible here (${enc.missing}); recordings are kept as WAV`);
          }
        }
        store.openCatalogue();
      },
      stop: () => store.closeCatalogue(),
    };
  },
});

export default storageLocalManifest;
export { LocalStore } from './store';
