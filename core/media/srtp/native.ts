/**
 * The optional native SRTP hot path (native/srtp/srtp_native.c): HMAC-SHA1 and AES-128-CM of one packet in C,
 * with the OpenSSL built into Node. It does what SrtpContext's TypeScript path does for a packet of a known stream:
 * ~0.3 µs against ~1 µs for the crypto alone, ~1.2 µs against ~2 µs of SRTP overhead per packet end to end
 * (`npm run bench srtp`), because the per-packet work of node:crypto objects and of SHA-1 in JS is gone.
 *
 * It is built by `native/build.js` at `npm install` and `npm run build`. When it is missing (no C compiler, or
 * TAPLINE_SRTP_NATIVE=0) the TypeScript path runs alone; srtpNativeStatus() says which and why.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeIv } from './cipher';
import { outputRing } from './output-ring';

declare const nativeKeysBrand: unique symbol;
/** Session keys of one direction inside the addon (HMAC midstates, AES context, salt). */
export interface NativeKeys {
  readonly [nativeKeysBrand]: true;
}

declare const nativeHmacKeyBrand: unique symbol;
/** An HMAC-SHA256 key inside the addon (its inner and outer midstates). */
export interface NativeHmacKey {
  readonly [nativeHmacKeyBrand]: true;
}

export interface NativeSrtp {
  createKeys(authKey: Buffer, encKey: Buffer, salt: Buffer): NativeKeys;
  /** HMAC-SHA256 midstates of a key (TFWD datagrams). */
  hmac256Key(secret: Buffer): NativeHmacKey;
  /** HMAC-SHA256 of buf[0, end) truncated to tagLength: verify compares with buf[end, end + tagLength) in constant time; else writes it there. */
  hmac256Tag(key: NativeHmacKey, buf: Buffer, end: number, tagLength: number, verify: boolean): boolean;
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

/**
 * One packet protected with node:crypto (HMAC-SHA1, AES-128-CTR), ROC 1, a payload past the addon's 1 KiB
 * keystream chunk: the addon must open it to the same bytes and refuse it with one tag bit flipped. An addon built
 * against other OpenSSL headers than the running Node's would fail here, not on every packet of a recording.
 */
export function nativeSelfTest(addon: NativeSrtp): string | undefined {
  const authKey = Buffer.from(Array.from({ length: 20 }, (_, i) => (i * 37 + 11) & 0xff));
  const encKey = Buffer.from(Array.from({ length: 16 }, (_, i) => (i * 53 + 7) & 0xff));
  const salt = Buffer.from(Array.from({ length: 14 }, (_, i) => (i * 91 + 3) & 0xff));
  const roc = 1;
  const plain = Buffer.alloc(12 + 1100);
  plain[0] = 0x80;
  plain.writeUInt16BE(0xfff0, 2);
  plain.writeUInt32BE(0x12345678, 4);
  plain.writeUInt32BE(0xdeadbeef, 8);
  for (let i = 12; i < plain.length; i++) plain[i] = (i * 31) & 0xff;
  const iv = Buffer.alloc(16);
  writeIv(iv, salt, 0xdeadbeef, roc * 0x10000 + 0xfff0);
  const c = createCipheriv('aes-128-ctr', encKey, iv);
  const body = Buffer.concat([plain.subarray(0, 12), c.update(plain.subarray(12)), c.final()]);
  const rocBytes = Buffer.alloc(4);
  rocBytes.writeUInt32BE(roc);
  const tag = createHmac('sha1', authKey).update(body).update(rocBytes).digest().subarray(0, 10);
  const packet = Buffer.concat([body, tag]);
  const keys = addon.createKeys(authKey, encKey, salt);
  if (!addon.unprotect(keys, packet, body.length, 12, roc, 10, 0)) return 'a correctly protected packet did not authenticate';
  if (!outputRing.buffer.subarray(0, body.length).equals(plain)) return 'a packet decrypted to the wrong bytes';
  packet[packet.length - 1] ^= 1;
  if (addon.unprotect(keys, packet, body.length, 12, roc, 10, 0)) return 'a packet with a damaged tag authenticated';
  return undefined;
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
    const wrong = nativeSelfTest(addon);
    if (wrong !== undefined) return { status: { loaded: false, path, reason: `${path} failed its self-test (${wrong}); rebuild it with node native/build.js` } };
    return { addon, status: { loaded: true, path } };
  } catch (e) {
    return { status: { loaded: false, path, reason: `cannot load ${path}: ${(e as Error).message}` } };
  }
}

const loaded = load();

/** The addon, or undefined when SRTP runs on the TypeScript path alone. */
export const srtpNative: NativeSrtp | undefined = loaded.addon;

/** The addon's HMAC-SHA256 against node:crypto's, for a short key and one longer than the hash block. */
function hmacSelfTest(addon: NativeSrtp): string | undefined {
  if (typeof addon.hmac256Key !== 'function' || typeof addon.hmac256Tag !== 'function') return 'built before HMAC-SHA256 was added';
  for (const keyLen of [32, 100]) {
    const secret = Buffer.from(Array.from({ length: keyLen }, (_, i) => (i * 29 + 5) & 0xff));
    const data = Buffer.from(Array.from({ length: 1500 + 16 }, (_, i) => (i * 13 + 1) & 0xff));
    const want = createHmac('sha256', secret).update(data.subarray(0, 1500)).digest().subarray(0, 16);
    const key = addon.hmac256Key(secret);
    addon.hmac256Tag(key, data, 1500, 16, false);
    if (!data.subarray(1500).equals(want)) return `a ${keyLen}-byte key gave another tag than node:crypto`;
    if (!addon.hmac256Tag(key, data, 1500, 16, true)) return 'its own tag did not verify';
    data[3] ^= 1;
    if (addon.hmac256Tag(key, data, 1500, 16, true)) return 'a changed datagram verified';
  }
  return undefined;
}

/** The addon when its HMAC-SHA256 is there and agrees with node:crypto (TFWD), else undefined. */
export const hmac256Native: Pick<NativeSrtp, 'hmac256Key' | 'hmac256Tag'> | undefined =
  loaded.addon !== undefined && hmacSelfTest(loaded.addon) === undefined ? loaded.addon : undefined;

/** Whether the native hot path is in use, and if not why. */
export function srtpNativeStatus(): SrtpNativeStatus {
  return { ...loaded.status };
}
