/** Plugin manifest: recordings on local disk, a folder per call by date, and a SQLite catalogue to query them. */
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import type { Layout } from './paths';
import type { RetentionOptions } from './retention';
import type { AudioStorageOptions, EncryptionOptions } from './store';
import type { SharedOptions } from './publisher';
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { KeySource } from './key-provider';
import { LocalStore } from './store';
import optionsSchema from './options.schema.json';
import { recordingsCommands } from './recordings-cli';
import { chatsCommands } from './transcripts-cli';
import { verifyCommands } from './verify-cli';
import { retentionCommands } from './retention-cli';
import { encryptionCommands } from './encryption-cli';
import { catalogueCommands } from './catalogue-cli';
import { LocalLibrary, localLibraryProvider } from './library';
import { StaticKeyProvider } from './key-provider';
import type { AudioEncoderProvider } from '../../core/contract';

/** The shared library, loaded when a shared catalogue is opened: it brings the PostgreSQL and S3 clients. */
function sharedLibrary(): typeof import('./shared-library').SharedLibrary {
  return (require('./shared-library') as typeof import('./shared-library')).SharedLibrary;
}

export const STORAGE_LOCAL = 'storage-local';

export interface StorageLocalOptions {
  dir: string;
  layout: Layout;
  catalogue?: string;
  retention?: RetentionOptions;
  encryption?: { keyFile?: string; keyEnv?: string; previousKeyFiles?: string[]; previousKeyEnvs?: string[] };
  audio?: AudioStorageOptions;
  shared?: SharedConfig;
}

/** The `shared` option as configured (secrets named, not given). */
export interface SharedConfig {
  postgres: { url?: string; urlEnv?: string };
  s3: { endpoint?: string; region: string; bucket: string; prefix: string; accessKeyIdEnv: string; secretAccessKeyEnv: string; forcePathStyle: boolean; partSizeMiB: number };
  keepLocal: boolean;
  spoolMaxMiB: number;
  drainSec: number;
}

function fromEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new TaplineError(ErrorCodes.CONFIG_INVALID, `storage-local shared: ${what} is read from the environment variable ${name}, which is not set`, { env: name });
  return v;
}

/** The shared catalogue's URL (readers need only this). */
export function sharedPostgresUrl(c: SharedConfig, env: NodeJS.ProcessEnv = process.env): string {
  return c.postgres.url ?? fromEnv(env, c.postgres.urlEnv as string, 'the PostgreSQL URL');
}

/** The shared-storage settings with their secrets read from the environment; a missing one is a config error. */
export function resolveShared(c: SharedConfig, env: NodeJS.ProcessEnv = process.env): SharedOptions {
  const need = (name: string, what: string): string => fromEnv(env, name, what);
  return {
    postgresUrl: sharedPostgresUrl(c, env),
    s3: {
      ...(c.s3.endpoint !== undefined ? { endpoint: c.s3.endpoint } : {}),
      region: c.s3.region,
      bucket: c.s3.bucket,
      prefix: c.s3.prefix,
      accessKeyId: need(c.s3.accessKeyIdEnv, 'the S3 access key id'),
      secretAccessKey: need(c.s3.secretAccessKeyEnv, 'the S3 secret access key'),
      forcePathStyle: c.s3.forcePathStyle,
      partSize: c.s3.partSizeMiB * 1024 * 1024,
    },
    keepLocal: c.keepLocal,
    spoolMaxBytes: c.spoolMaxMiB * 1024 * 1024,
    drainMs: c.drainSec * 1000,
  };
}

export interface StoragePaths {
  root: string;
  catalogue: string;
  layout: Layout;
  retention: RetentionOptions;
  /** Master key sources, paths absolute (absent: audio in the clear). */
  encryption?: EncryptionOptions;
  audio?: AudioStorageOptions;
  /** Shared storage as configured (its secrets are read from the environment when it is used). */
  sharedConfig?: SharedConfig;
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
    ...(o.shared !== undefined ? { sharedConfig: o.shared } : {}),
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
  commands: [...recordingsCommands, ...chatsCommands, ...verifyCommands, ...retentionCommands, ...encryptionCommands, ...catalogueCommands],
  register(ctx) {
    const paths = resolveStoragePaths(ctx.options, ctx.configDir);
    const shared = ctx.options.shared !== undefined ? resolveShared(ctx.options.shared) : undefined;
    const encoders = (): AudioEncoderProvider[] => (ctx.container.isRegistered(Tokens.AudioEncoder, true) ? ctx.container.resolveAll(Tokens.AudioEncoder) : []);
    const store = new LocalStore({
      ...paths,
      log: ctx.log,
      counters: ctx.counters,
      // Codec plugins' encoders (shared once contributed): resolved when a recording needs one.
      encoders,
      ...(shared !== undefined ? { shared } : {}),
      metrics: ctx.metrics,
    });
    ctx.container.register(Tokens.Storage, { useValue: store });
    ctx.container.register(Tokens.Transcripts, { useValue: store });
    // The review app reads this folder's catalogue through the library (read-only; opened when first used).
    const keys = paths.encryption === undefined ? undefined : StaticKeyProvider.fromSources(paths.encryption.key, paths.encryption.previousKeys ?? []);
    const local = { catalogue: paths.catalogue, encoders, ...(keys !== undefined ? { keys } : {}) };
    // With shared storage, what the app searches and plays is what every recorder published (chats stay here).
    ctx.container.register(Tokens.Library, {
      useValue:
        shared === undefined
          ? localLibraryProvider(local)
          : { describe: `${shared.s3.bucket} + PostgreSQL`, open: async () => new (sharedLibrary())({ postgresUrl: shared.postgresUrl, s3: shared.s3, local: new LocalLibrary(local), encoders, ...(keys !== undefined ? { keys } : {}) }) },
    });
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
        store.startPublishing();
      },
      stop: () => store.closeCatalogue(),
    };
  },
});

export default storageLocalManifest;
export { LocalStore } from './store';
