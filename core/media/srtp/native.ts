/**
 * The optional native SRTP hot path (native/srtp/srtp_native.c): HMAC-SHA1 and AES-128-CM of one packet in C,
 * with the OpenSSL built into Node. It does what SrtpContext's TypeScript path does for a packet of a known stream,
 * about three times cheaper (the per-packet work of node:crypto objects and of SHA-1 in JS is gone).
 *
 * It is built by `native/build.js` at `npm install` and `npm run build`. When it is missing (no C compiler, or
 * TAPLINE_SRTP_NATIVE=0) the TypeScript path runs alone; srtpNativeStatus() says which and why.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { outputRing } from './output-ring';

declare const nativeKeysBrand: unique symbol;
/** Session keys of one direction inside the addon (HMAC midstates, AES context, salt). */
export interface NativeKeys {
  readonly [nativeKeysBrand]: true;
}

export interface NativeSrtp {
  createKeys(authKey: Buffer, encKey: Buffer, salt: Buffer): NativeKeys;
  setOutput(buffer: Buffer): void;
  /**
   * Authenticates packet[0, authEnd) || ROC against the packet's last `tagLength` bytes; on success writes the
   * header and the decrypted payload [headerLength, authEnd) at `outOffset` of the output buffer.
   */
  unprotect(keys: NativeKeys, packet: Buffer, authEnd: number, headerLength: number, roc: number, tagLength: number, outOffset: number): boolean;
}

export interface SrtpNativeStatus {
  loaded: boolean;
  /** The addon file, when found. */
  path?: string;
  /** Why it is not in use. */
  reason?: string;
}

export const NATIVE_ADDON = join('native', 'srtp', 'build', 'Release', 'srtp_native.node');

/** The addon in the package root above this file (works from core/ under tsx and from dist/core/). */
function findAddon(): string | undefined {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, NATIVE_ADDON);
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native', 'srtp'))) return undefined;
    if (dirname(dir) === dir) return undefined;
  }
}

function load(): { addon?: NativeSrtp; status: SrtpNativeStatus } {
  if (process.env['TAPLINE_SRTP_NATIVE'] === '0') return { status: { loaded: false, reason: 'disabled by TAPLINE_SRTP_NATIVE=0' } };
  const path = findAddon();
  if (path === undefined) {
    return { status: { loaded: false, reason: `${NATIVE_ADDON} was not built (needs a C compiler at install: node native/build.js)` } };
  }
  try {
    const addon = require(path) as NativeSrtp;
    addon.setOutput(outputRing.buffer);
    return { addon, status: { loaded: true, path } };
  } catch (e) {
    return { status: { loaded: false, path, reason: `cannot load ${path}: ${(e as Error).message}` } };
  }
}

const loaded = load();

/** The addon, or undefined when SRTP runs on the TypeScript path alone. */
export const srtpNative: NativeSrtp | undefined = loaded.addon;

/** Whether the native hot path is in use, and if not why. */
export function srtpNativeStatus(): SrtpNativeStatus {
  return { ...loaded.status };
}
