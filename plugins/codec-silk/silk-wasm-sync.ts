/**
 * A synchronous SILK container decoder on top of silk-wasm (MIT, idranme/silk-wasm, which compiles Skype's
 * SILK SDK 1.0.9 with Emscripten).
 *
 * silk-wasm's public decode() is async only because it instantiates a fresh Emscripten module on every call
 * (`await Module()`); the decoding itself, the embind function `silk_decode(container, rate, callback)`, runs
 * synchronously and calls back before returning. silk-wasm does not export the module factory, so we evaluate
 * its CommonJS bundle once as its own module (same file name, so it finds silk.wasm next to it) with one line
 * appended that exports the factory, instantiate it once (the only await, done in the plugin's register()),
 * and from then on call `silk_decode` synchronously: that is what lets Decoder.decode() stay synchronous.
 *
 * The factory is looked up by its bundle-local name; the package is pinned (package.json) and a different
 * bundle fails here with a message naming the version found, before any audio is decoded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import NodeModule = require('node:module');

/** What the Emscripten module exposes (embind). */
interface SilkEmscriptenModule {
  silk_decode(data: Uint8Array, sampleRate: number, cb: (out: Uint8Array) => void): number;
  silk_encode(data: Uint8Array, sampleRate: number, cb: (out: Uint8Array) => void): number;
}

type Factory = () => Promise<SilkEmscriptenModule>;

/** The parts of node:module's Module class a loader uses (internal but stable since Node 0.x). */
interface CompilableModule {
  filename: string;
  paths: string[];
  exports: Record<string, unknown>;
  _compile(content: string, filename: string): void;
}
interface ModuleClass {
  new (id: string, parent?: unknown): CompilableModule;
  _nodeModulePaths(dir: string): string[];
}

/** The silk-wasm version this loader was written against (package.json pins it). */
export const SILK_WASM_VERSION = '3.7.1';
/** Instantiation normally takes ~50 ms; give up rather than hang register(). */
const LOAD_TIMEOUT_MS = 20_000;

export interface SilkWasm {
  /** The silk-wasm version loaded. */
  readonly version: string;
  /**
   * Decodes a whole `\x02#!SILK_V3` container to 16-bit mono PCM at `sampleRate`, synchronously.
   * Returns undefined when silk-wasm reports failure (bad header).
   */
  decodeContainer(container: Uint8Array, sampleRate: number): Int16Array | undefined;
}

function packageInfo(): { dir: string; main: string; version: string } {
  const pkgJson = require.resolve('silk-wasm/package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version?: string; main?: string };
  const dir = path.dirname(pkgJson);
  return { dir, main: path.join(dir, pkg.main ?? 'lib/index.cjs'), version: pkg.version ?? 'unknown' };
}

function loadFactory(): { factory: Factory; version: string } {
  const { main, version } = packageInfo();
  const src = fs.readFileSync(main, 'utf8');
  if (!/\bsilk_default\s*=\s*Module\b/.test(src) || !src.includes('silk_decode')) {
    throw new Error(`codec-silk: silk-wasm ${version} at ${main} is not the bundle this plugin was written for (${SILK_WASM_VERSION}): its Emscripten factory was not found`);
  }
  const Mod = NodeModule as unknown as ModuleClass;
  const m = new Mod(main, module);
  m.filename = main;
  m.paths = Mod._nodeModulePaths(path.dirname(main));
  m._compile(`${src}\n;module.exports.__taplineSilkFactory = silk_default;\n`, main);
  const factory = m.exports.__taplineSilkFactory;
  if (typeof factory !== 'function') throw new Error(`codec-silk: silk-wasm ${version}: the Emscripten factory is not a function`);
  return { factory: factory as Factory, version };
}

/**
 * Awaits `p` with a ref'd timer running: an idle event loop can leave silk-wasm's instantiation promise
 * unsettled (seen as an occasional hang, cf. nodejs/node#54918); a live timer avoided it in every run.
 */
export async function withKeepAlive<T>(p: Promise<T>, timeoutMs = LOAD_TIMEOUT_MS, what = 'silk-wasm'): Promise<T> {
  const keep = setInterval(() => undefined, 50);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`codec-silk: ${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearInterval(keep);
    if (timer !== undefined) clearTimeout(timer);
  }
}

class SilkWasmSync implements SilkWasm {
  private instance: SilkEmscriptenModule | undefined;
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly factory: Factory,
    readonly version: string,
    instance: SilkEmscriptenModule,
  ) {
    this.instance = instance;
  }

  decodeContainer(container: Uint8Array, sampleRate: number): Int16Array | undefined {
    const inst = this.instance;
    if (inst === undefined) {
      this.reload();
      throw new Error('SILK decoder is being re-instantiated after a WebAssembly trap');
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    let ok: number;
    try {
      ok = inst.silk_decode(container, sampleRate, (out) => {
        if (out.length === 0) return;
        chunks.push(out.slice()); // a view into WebAssembly memory: copy before the next call
        total += out.length;
      });
    } catch (e) {
      // A trap leaves the module's stack pointer and heap in an unknown state: never use it again.
      this.instance = undefined;
      this.reload();
      throw e;
    }
    if (ok === 0) return undefined;
    const pcm = new Int16Array(total >> 1);
    const bytes = new Uint8Array(pcm.buffer);
    let o = 0;
    for (const c of chunks) {
      bytes.set(c.subarray(0, Math.min(c.length, bytes.length - o)), o);
      o += c.length;
    }
    return pcm;
  }

  private reload(): void {
    this.reloading ??= withKeepAlive(this.factory())
      .then((inst) => {
        this.instance = inst;
      })
      .catch(() => undefined)
      .finally(() => {
        this.reloading = undefined;
      });
  }
}

let loading: Promise<SilkWasm> | undefined;

/** Loads and instantiates silk-wasm once per process (the instance is shared: calls are synchronous). */
export function loadSilkWasm(): Promise<SilkWasm> {
  loading ??= (async () => {
    const { factory, version } = loadFactory();
    const instance = await withKeepAlive(factory());
    return new SilkWasmSync(factory, version, instance);
  })();
  loading.catch(() => {
    loading = undefined; // let a later attempt retry
  });
  return loading;
}
