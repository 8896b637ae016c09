/**
 * Options of the ops endpoint (`service.ops` in the config; schema/defs/ops.json holds the JSON Schema with the same
 * defaults), and their resolution into what the server uses: the allow-list parsed, the token read and hashed.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes, TaplineError } from '../errors';
import { AllowList } from '../net/allow-list';

export interface OpsOptions {
  enabled: boolean;
  /** Listen address; 127.0.0.1 by default. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** CIDRs (or single addresses) allowed to connect. */
  allow: string[];
  /** Bearer token required on every request (prefer tokenFile). */
  token: string | null;
  /** File holding the token, relative to the config folder. */
  tokenFile: string | null;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  readinessTimeoutMs: number;
}

/** The defaults (the same as schema/defs/ops.json; a test keeps the two equal). */
export const OPS_DEFAULTS: Readonly<OpsOptions> = Object.freeze({
  enabled: true,
  host: '127.0.0.1',
  port: 9477,
  allow: ['127.0.0.0/8', '::1/128'],
  token: null,
  tokenFile: null,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10000,
  keepAliveTimeoutMs: 2000,
  maxConnections: 16,
  readinessTimeoutMs: 2000,
});

/** The options as the server uses them. */
export interface ResolvedOpsOptions extends Omit<OpsOptions, 'allow' | 'token' | 'tokenFile'> {
  allow: AllowList;
  /** SHA-256 of the token (compared in constant time against the hash of what a client sends), or undefined. */
  tokenHash: Buffer | undefined;
  /** Where the token came from, for logs ('config', a file path), never the token. */
  tokenSource: string | undefined;
  /** Non-fatal findings worth a log line (a token file others can read). */
  warnings: string[];
}

/** Tokens shorter than this are refused: a guessable token is worse than none because it looks like protection. */
export const MIN_TOKEN_LENGTH = 16;

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Applies the defaults, parses the allow-list and reads the token. `configDir` resolves a relative tokenFile.
 * Throws TAPLINE_ERR_OPS_CONFIG for options that cannot work.
 */
export function resolveOpsOptions(opts: Partial<OpsOptions> = {}, configDir = process.cwd()): ResolvedOpsOptions {
  const o: OpsOptions = { ...OPS_DEFAULTS, ...stripUndefined(opts), allow: [...(opts.allow ?? OPS_DEFAULTS.allow)] };
  const warnings: string[] = [];
  if (o.token !== null && o.tokenFile !== null) {
    throw new TaplineError(ErrorCodes.OPS_CONFIG, 'service.ops: set token or tokenFile, not both', {});
  }
  let token: string | undefined;
  let tokenSource: string | undefined;
  if (o.token !== null) {
    token = o.token;
    tokenSource = 'config';
  } else if (o.tokenFile !== null) {
    const file = path.resolve(configDir, o.tokenFile);
    let text: string;
    let mode: number;
    try {
      text = fs.readFileSync(file, 'utf8');
      mode = fs.statSync(file).mode;
    } catch (e) {
      throw new TaplineError(ErrorCodes.OPS_CONFIG, `service.ops.tokenFile: cannot read ${file}: ${(e as Error).message}`, { file }, e);
    }
    token = text.trim();
    tokenSource = file;
    // Group access is how the service user reads a root-owned secret (root:tapline 0640); others must not.
    if ((mode & 0o007) !== 0) warnings.push(`the ops token file ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod o-rwx it`);
  }
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new TaplineError(ErrorCodes.OPS_CONFIG, `service.ops: the token from ${tokenSource} has ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`, { tokenSource });
  }
  const { allow, token: _t, tokenFile: _f, ...rest } = o;
  // Node times out a kept-alive socket waiting for its next request as a slow client (408) when keep-alive lasts
  // as long as the headers timeout: keep it shorter, so idle scraper connections just close.
  if (rest.keepAliveTimeoutMs >= rest.headersTimeoutMs) {
    warnings.push(`service.ops.keepAliveTimeoutMs (${rest.keepAliveTimeoutMs}) must be below headersTimeoutMs (${rest.headersTimeoutMs}): using ${Math.floor(rest.headersTimeoutMs / 2)}`);
    rest.keepAliveTimeoutMs = Math.floor(rest.headersTimeoutMs / 2);
  }
  return {
    ...rest,
    allow: AllowList.parse(allow, { where: 'service.ops.allow', code: ErrorCodes.OPS_CONFIG, nonEmpty: true }),
    tokenHash: token === undefined ? undefined : hashToken(token),
    tokenSource,
    warnings,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
