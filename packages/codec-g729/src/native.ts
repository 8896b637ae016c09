/**
 * Loading the native addon (native/g729_native.c on libbcg729). It is optional: when it was not built (no
 * libbcg729-dev or no C compiler at install time), cannot be loaded (libbcg729.so.0 missing at run time), or is
 * switched off with TAPLINE_G729_NATIVE=0, the load result says why and the codec flags G.729 calls as not decoded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Samples in one G.729 frame: 10 ms at 8 kHz. */
export const G729_FRAME_SAMPLES = 80;
/** Bytes of one G.729 / G.729A speech frame (80 bits). */
export const G729_FRAME_BYTES = 10;
/** Bytes of one G.729 Annex B SID (silence insertion descriptor) frame. */
export const G729_SID_BYTES = 2;
/** The environment variable that, set to 0, keeps the addon from loading (tests; or to rule the addon out). */
export const G729_NATIVE_ENV = 'TAPLINE_G729_NATIVE';

/** One bcg729 decoder channel. `out`/`outOffset`: where to write the 80 samples (default: a new Int16Array). */
export interface NativeG729Decoder {
  /** One 10-byte speech frame → 80 samples. */
  decode(frame: Uint8Array, out?: Int16Array, outOffset?: number): Int16Array;
  /** One 2-byte Annex B SID frame → 80 samples of comfort noise. */
  decodeSid(frame: Uint8Array, out?: Int16Array, outOffset?: number): Int16Array;
  /** A lost frame (bcg729 frame erasure) → 80 samples of concealment (comfort noise when the last frame was a SID). */
  conceal(out?: Int16Array, outOffset?: number): Int16Array;
  /** Frees the native state; idempotent. Later calls throw. */
  close(): void;
  readonly closed: boolean;
}

/** One bcg729 encoder channel (used by the tests to make G.729 and G.729B calls). */
export interface NativeG729Encoder {
  /** 80 samples → a 10-byte speech frame, a 2-byte SID frame, or 0 bytes (DTX: nothing is sent). */
  encode(samples: Int16Array): Buffer;
  close(): void;
  readonly closed: boolean;
}

export interface G729Native {
  Decoder: new () => NativeG729Decoder;
  /** vad: G.729 Annex B voice activity detection and discontinuous transmission. */
  Encoder: new (vad: boolean) => NativeG729Encoder;
  readonly bcg729Version: string;
}

export type NativeLoad = { ok: true; native: G729Native; file: string } | { ok: false; reason: string };

/** Where node-gyp puts the addon, relative to dist/ (and src/ under a TypeScript runner). */
export function defaultAddonFiles(): string[] {
  const root = path.resolve(__dirname, '..');
  return [path.join(root, 'build', 'Release', 'g729_native.node'), path.join(root, 'build', 'Debug', 'g729_native.node')];
}

function isNative(m: unknown): m is G729Native {
  if (m === null || typeof m !== 'object') return false;
  const o = m as Record<string, unknown>;
  return typeof o.Decoder === 'function' && typeof o.Encoder === 'function';
}

/** Loads the addon (never throws): from `files` (default: the package's build folder), unless disabled by env. */
export function loadG729Native(opts: { env?: NodeJS.ProcessEnv; files?: readonly string[] } = {}): NativeLoad {
  const env = opts.env ?? process.env;
  if (env[G729_NATIVE_ENV] === '0') return { ok: false, reason: `disabled by ${G729_NATIVE_ENV}=0` };
  const files = opts.files ?? defaultAddonFiles();
  const file = files.find((f) => fs.existsSync(f));
  if (file === undefined) {
    return {
      ok: false,
      reason: `native addon not built (${files[0] ?? 'g729_native.node'} not found; building it needs libbcg729-dev, a C compiler and node-gyp: reinstall @tapline/codec-g729)`,
    };
  }
  try {
    const m: unknown = require(file);
    if (!isNative(m)) return { ok: false, reason: `${file} is not the G.729 addon (no Decoder/Encoder classes)` };
    return { ok: true, native: m, file };
  } catch (e) {
    const msg = ((e as Error)?.message ?? String(e)).split('\n')[0] ?? '';
    return { ok: false, reason: `cannot load ${file}: ${msg}${/libbcg729/.test(msg) ? ' (install libbcg729-0)' : ''}` };
  }
}

let cached: NativeLoad | undefined;

/** The process's addon, loaded once (TAPLINE_G729_NATIVE is read at that first load). */
export function g729Native(): NativeLoad {
  cached ??= loadG729Native();
  return cached;
}
