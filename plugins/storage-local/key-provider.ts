/**
 * Where the master keys that wrap recordings' data keys come from. A provider wraps a fresh data key with its
 * current master key and unwraps with whichever key wrapped it (named by id), so after a rotation recordings
 * wrapped by the previous key still open, and `tapline keys rewrap` moves them to the new one. This file's
 * provider reads keys from files or environment variables; a KMS is another implementation of the interface.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { ErrorCodes, TaplineError } from '../../core/errors';

export interface KeyProvider {
  /** Id of the key new recordings are wrapped with. */
  readonly currentId: string;
  wrap(dataKey: Buffer): { keyId: string; wrapped: Buffer };
  /** Throws a TaplineError naming the key id when this provider does not hold that key. */
  unwrap(keyId: string, wrapped: Buffer): Buffer;
}

/** A key as configured: a file holding it, or an environment variable (64 hex characters or base64 of 32 bytes). */
export type KeySource = { file: string } | { env: string };

function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  const k = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (k.length !== 32) throw new TaplineError(ErrorCodes.USAGE, `${where}: a master key is 32 bytes, as 64 hex characters or base64 (found ${k.length} bytes)`);
  return k;
}

export function readKey(src: KeySource): Buffer {
  if ('env' in src) {
    const v = process.env[src.env];
    if (v === undefined || v === '') throw new TaplineError(ErrorCodes.USAGE, `the master key's environment variable ${src.env} is not set`);
    return parseKey(v, `environment variable ${src.env}`);
  }
  let text: string;
  try {
    text = fs.readFileSync(src.file, 'utf8');
  } catch (e) {
    throw new TaplineError(ErrorCodes.USAGE, `cannot read the master key file ${src.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseKey(text, src.file);
}

/** A key's id: the start of a hash of it (names the key without revealing it). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('tapline master key id').update(key).digest('hex').slice(0, 16);
}

const WRAP_AAD = Buffer.from('tapline data key');

/** Master keys in memory: the first is current, the others only unwrap (rotation). AES-256-GCM key wrapping. */
export class StaticKeyProvider implements KeyProvider {
  private readonly keys = new Map<string, Buffer>();
  readonly currentId: string;

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    this.currentId = keyId(current);
    this.keys.set(this.currentId, current);
    for (const k of previous) this.keys.set(keyId(k), k);
  }

  static fromSources(current: KeySource, previous: readonly KeySource[] = []): StaticKeyProvider {
    return new StaticKeyProvider(readKey(current), previous.map(readKey));
  }

  wrap(dataKey: Buffer): { keyId: string; wrapped: Buffer } {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.keys.get(this.currentId) as Buffer, iv);
    c.setAAD(WRAP_AAD);
    const body = Buffer.concat([c.update(dataKey), c.final()]);
    return { keyId: this.currentId, wrapped: Buffer.concat([iv, body, c.getAuthTag()]) };
  }

  unwrap(id: string, wrapped: Buffer): Buffer {
    const key = this.keys.get(id);
    if (key === undefined) throw new TaplineError(ErrorCodes.USAGE, `the recording's data key is wrapped by master key ${id}, which is not configured (known: ${[...this.keys.keys()].join(', ')})`, { keyId: id });
    if (wrapped.length < 12 + 16) throw new TaplineError(ErrorCodes.USAGE, `a wrapped data key of ${wrapped.length} bytes is too short`);
    const d = createDecipheriv('aes-256-gcm', key, wrapped.subarray(0, 12));
    d.setAAD(WRAP_AAD);
    d.setAuthTag(wrapped.subarray(wrapped.length - 16));
    try {
      return Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);
    } catch {
      throw new TaplineError(ErrorCodes.USAGE, `the data key wrapped by master key ${id} does not unwrap: the key or the file was altered`, { keyId: id });
    }
  }
}
