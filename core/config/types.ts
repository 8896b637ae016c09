/** The effective configuration shape (schema/tapline.schema.json with defaults applied). */
import type { LogLevel } from '../log';
import type { OpsOptions } from '../service/ops-options';

export interface PluginEntry {
  use: string;
  enabled: boolean;
  options: Record<string, unknown>;
}

export interface TaplineConfig {
  plugins: PluginEntry[];
  output: { dir: string; layout: 'stereo' | 'mixed' };
  media: {
    reorderWindowMs: number;
    endLingerSec: number;
    /** Silence on both channels written at most; longer stretches are shortened to it (0: keep every gap). */
    maxSilenceSec: number;
    metadataEverySec: number;
    srtp: SrtpConfig;
    keepUndecoded: boolean;
    /** Call worker threads ('auto': one per core available; 1: everything in the main thread). */
    workers: number | 'auto';
  };
  storage: { queueMaxBytes: number };
  service: { stopTimeoutSec: number; ops: OpsConfig };
  sip: { ports: number[]; detectOnAnyPort: boolean; maxMessageBytes: number };
  dialogs: { idleTimeoutSec: number; setupTimeoutSec: number; sessionExpiresGrace: number };
  capture: { fragmentTimeoutSec: number; tcpFlowIdleSec: number };
  log: { level: LogLevel; format: 'json' | 'text' | null; file: string | null };
  policy: PolicyConfig;
}

/** service.ops: the ops HTTP endpoint (schema/defs/ops.json). */
export type OpsConfig = OpsOptions;

/** policy: what is recorded (schema/tapline.schema.json). */
export interface PolicyConfig {
  recorderId: number;
  recordAllWithoutUsers: boolean;
  disallowedIps: string[];
  disallowedUserAgents: string[];
  allowedCodecs: string[];
  suppressedPayloadTypes: number[];
  recordSipDialogs: boolean;
  logAllSipMessages: string | null;
}

/** Where a configuration came from; `file` is undefined when no file was found and defaults apply. */
export interface LoadedConfig {
  file?: string;
  /** Folder that relative paths and plugin names resolve against. */
  dir: string;
  /** The config as written (before defaults), for error messages. */
  raw: unknown;
}

/** media.srtp: SDES key handling (schema/tapline.schema.json). */
export interface SrtpConfig {
  overlapSec: number;
  keyReset: boolean;
  ignoreKeysOnReplaces: boolean;
  maxRocProbe: number;
}
