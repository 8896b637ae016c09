/**
 * The interface a licensed third-party RTAudio decoder implements, and its loader. No open RTAudio decoder exists
 * (lync-protocols.md §5), so Tapline ships none: a site with a licence writes a small module around its decoder
 * and names it in codec-rtaudio's "decoder" option. It is resolved like a plugin (core/plugins/resolve.ts): an npm
 * package name, or a path relative to the config file's folder; CommonJS or ES module.
 */
import { ErrorCodes, type ErrorCode, loadModuleFile, resolveModuleFrom, type Decoder, type StreamInfo } from '../../core/plugin-api';

/** What the decoder module exports (named exports, or a default export holding them). */
export interface RtaudioDecoderModule {
  /**
   * One decoder per RTP stream. `stream.encoding` is 'x-msrta', `stream.clockRate` 8000 or 16000, `stream.fmtp`
   * e.g. 'bitrate=29000'. The payload given to decode() is decrypted (SRTP removed) and unwrapped (RED removed);
   * decode() returns 16-bit mono PCM at the decoder's sampleRate, or null when a payload carries no audio.
   */
  createDecoder(stream: StreamInfo): Decoder;
  /** Called once at start-up with codec-rtaudio's "decoderOptions" (a licence file, a key): throw or reject to refuse. */
  init?(options: Readonly<Record<string, unknown>>, info: { configDir: string }): void | Promise<void>;
  /** Shown in the log when the module is loaded. */
  readonly name?: string;
  readonly version?: string;
}

/** ctx.error's shape: throws a TaplineError attributed to the plugin. */
export type Fail = (code: ErrorCode, message: string, details?: Record<string, unknown>) => never;

function asDecoderModule(mod: unknown): RtaudioDecoderModule | undefined {
  for (const m of [mod, (mod as { default?: unknown } | null)?.default]) {
    if ((typeof m === 'object' || typeof m === 'function') && m !== null && typeof (m as { createDecoder?: unknown }).createDecoder === 'function') {
      return m as RtaudioDecoderModule;
    }
  }
  return undefined;
}

/** Resolves, loads and checks the decoder module named by `spec`; `fail` (ctx.error) for anything missing or wrong. */
export async function loadRtaudioDecoder(spec: string, configDir: string, fail: Fail): Promise<RtaudioDecoderModule> {
  const details = { decoder: spec, configDir };
  const file = resolveModuleFrom(spec, configDir);
  if (file === undefined) {
    return fail(ErrorCodes.PLUGIN_NOT_FOUND, `RTAudio decoder "${spec}" (option "decoder") not found: not an installed package nor a path from ${configDir}`, details);
  }
  let mod: unknown;
  try {
    mod = await loadModuleFile(file);
  } catch (e) {
    return fail(ErrorCodes.PLUGIN_MANIFEST, `RTAudio decoder "${spec}" failed to load from ${file}: ${(e as Error).message}`, { ...details, file });
  }
  const m = asDecoderModule(mod);
  if (m === undefined) {
    return fail(ErrorCodes.PLUGIN_MANIFEST, `RTAudio decoder "${spec}" (${file}) does not export createDecoder(stream) (see RtaudioDecoderModule in codec-rtaudio)`, { ...details, file });
  }
  if (m.init !== undefined && typeof m.init !== 'function') {
    return fail(ErrorCodes.PLUGIN_MANIFEST, `RTAudio decoder "${spec}" (${file}) exports "init" that is not a function`, { ...details, file });
  }
  return m;
}

/** Why `d` is not a usable Decoder, or undefined when it is. Checked per stream: a module's bug must not reach the recorder. */
export function decoderShapeProblem(d: unknown): string | undefined {
  if (d === null || typeof d !== 'object') return `createDecoder() returned ${d === null ? 'null' : typeof d}, not a decoder object`;
  const o = d as Partial<Record<keyof Decoder, unknown>>;
  if (typeof o.decode !== 'function') return 'its decoder has no decode() function';
  if (typeof o.close !== 'function') return 'its decoder has no close() function';
  if (typeof o.sampleRate !== 'number' || !Number.isInteger(o.sampleRate) || o.sampleRate <= 0) return `its decoder's sampleRate ${String(o.sampleRate)} is not a positive integer`;
  return undefined;
}
