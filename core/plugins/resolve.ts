/**
 * Turns a config 'use' into a plugin manifest: a folder name under plugins/ (ours), or an npm package name or
 * path resolved from the config file's folder (a third party's plugin loads exactly the same way).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, TaplineError } from '../errors';
import { PLUGIN_KINDS, TAPLINE_API, type PluginManifest } from '../contract';
import { closestPluginName } from '../config/suggest';

/** plugins/ beside core/ (works from the sources under tsx and from dist/ after tsc). */
export const BUILTIN_PLUGIN_DIR = path.resolve(__dirname, '..', '..', 'plugins');

/** Tapline's own package folder (the one holding its package.json), from which its sibling packages resolve. */
const TAPLINE_PACKAGE_DIR = path.resolve(BUILTIN_PLUGIN_DIR, fs.existsSync(path.join(BUILTIN_PLUGIN_DIR, '..', 'package.json')) ? '..' : '../..');

const FOLDER_NAME = /^[a-z0-9][a-z0-9-]*$/;

export function listBuiltinPlugins(): string[] {
  if (!fs.existsSync(BUILTIN_PLUGIN_DIR)) return [];
  return fs
    .readdirSync(BUILTIN_PLUGIN_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && (fs.existsSync(path.join(BUILTIN_PLUGIN_DIR, d.name, 'index.js')) || fs.existsSync(path.join(BUILTIN_PLUGIN_DIR, d.name, 'index.ts'))))
    .map((d) => d.name)
    .sort();
}

/** Absolute module path for a 'use' string, or a PLUGIN_NOT_FOUND error saying where it looked. */
export function resolvePluginModule(use: string, configDir: string): string {
  if (FOLDER_NAME.test(use)) {
    const dir = path.join(BUILTIN_PLUGIN_DIR, use);
    for (const f of ['index.js', 'index.ts']) {
      if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
    }
  }
  // A package beside the config first (the operator's own node_modules), then one installed beside Tapline itself
  // (`npm install tapline @tapline/codec-opus` in one project, or both global): the config may live elsewhere.
  const file = resolveModuleFrom(use, configDir) ?? resolveModuleFrom(use, TAPLINE_PACKAGE_DIR);
  if (file !== undefined) return file;
  const builtins = listBuiltinPlugins();
  const suggestion = closestPluginName(use, builtins);
  throw new TaplineError(
    ErrorCodes.PLUGIN_NOT_FOUND,
    `unknown plugin "${use}": not a built-in plugin (${builtins.join(', ') || 'none'}) and not resolvable as a package or path from ${configDir} or from Tapline's own folder ${TAPLINE_PACKAGE_DIR}` +
      (suggestion === undefined ? '' : `; did you mean "${suggestion}"?`),
    suggestion === undefined ? { use, configDir } : { use, configDir, suggestion },
  );
}

/** Absolute file of an npm package name or a path relative to `fromDir`, as require() from there finds it; undefined if none. */
export function resolveModuleFrom(spec: string, fromDir: string): string | undefined {
  const req = createRequire(path.join(fromDir, '__tapline_config__.js'));
  try {
    return req.resolve(spec);
  } catch {
    return undefined;
  }
}

/** Loads a module file: require() keeps CommonJS synchronous and cached; import() for ES modules. Load errors propagate. */
export async function loadModuleFile(file: string): Promise<unknown> {
  if (file.endsWith('.mjs')) return import(pathToFileURL(file).href);
  try {
    return require(file) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_REQUIRE_ESM') return import(pathToFileURL(file).href);
    throw e;
  }
}

/** Checks the manifest's shape and API version before any of its code runs (fastify's registerPlugin order). */
export function checkManifest(mod: unknown, use: string): PluginManifest<unknown> {
  const candidate = unwrapModule(mod);
  const bad = (why: string): never => {
    throw new TaplineError(ErrorCodes.PLUGIN_MANIFEST, `plugin "${use}" has no valid manifest: ${why}`, { use });
  };
  if (candidate === null || typeof candidate !== 'object') return bad('the module exports no manifest object (export default definePlugin({...}))');
  const m = candidate as Record<string, unknown>;
  if (typeof m.name !== 'string' || m.name === '') bad('"name" must be a non-empty string');
  if (typeof m.kind !== 'string' || !(PLUGIN_KINDS as readonly string[]).includes(m.kind)) {
    bad(`"kind" must be one of ${PLUGIN_KINDS.join(', ')} (found ${JSON.stringify(m.kind)})`);
  }
  if (typeof m.api !== 'number') bad('"api" (the plugin API version it targets) must be a number');
  if (m.api !== TAPLINE_API) {
    throw new TaplineError(
      ErrorCodes.PLUGIN_API_VERSION,
      `plugin "${String(m.name)}" (${use}) targets plugin API ${String(m.api)}, but this Tapline provides API ${TAPLINE_API}`,
      { use, plugin: m.name, api: m.api, expected: TAPLINE_API },
    );
  }
  if (m.optionsSchema === null || typeof m.optionsSchema !== 'object') bad('"optionsSchema" must be a JSON Schema object');
  if (typeof m.register !== 'function') bad('"register" must be a function');
  if (m.dependsOn !== undefined && (!Array.isArray(m.dependsOn) || !m.dependsOn.every((d) => typeof d === 'string'))) {
    bad('"dependsOn" must be an array of plugin names');
  }
  if (m.kind === 'codec') {
    if (!Array.isArray(m.encodings) || m.encodings.length === 0 || !m.encodings.every((e) => typeof e === 'string' && /^[^/\s]+\/\d+$/.test(e))) {
      bad('a codec plugin must declare "encodings" like ["PCMU/8000"]');
    }
  }
  return candidate as PluginManifest<unknown>;
}

function unwrapModule(mod: unknown): unknown {
  if (mod !== null && typeof mod === 'object') {
    const o = mod as Record<string, unknown>;
    if (o.default !== undefined && typeof o.register !== 'function') return unwrapModule(o.default);
    if (o.plugin !== undefined && typeof o.register !== 'function') return o.plugin;
  }
  return mod;
}

export async function importPlugin(use: string, configDir: string): Promise<PluginManifest<unknown>> {
  const file = resolvePluginModule(use, configDir);
  let mod: unknown;
  try {
    mod = await loadModuleFile(file);
  } catch (e) {
    throw new TaplineError(ErrorCodes.PLUGIN_MANIFEST, `plugin "${use}" failed to load from ${file}: ${(e as Error).message}`, { use, file }, e);
  }
  return checkManifest(mod, use);
}
