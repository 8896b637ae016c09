/**
 * Problems of the set of plugins a config enables, found while prepareConfig resolves them, all collected rather
 * than thrown one at a time: unknown or broken plugins, options put beside "use", duplicates, missing or cyclic
 * dependsOn, and codecs claiming the same encoding.
 */
import { ErrorCodes, TaplineError } from '../errors';
import { TAPLINE_API, type PluginManifest } from '../contract';
import type { PluginEntry } from './types';
import type { ResolvedPlugin } from '../plugins/loader';
import type { ConfigProblem } from './problems';
import { validatePluginOptions } from './validate';
import { checkCodecClaims } from '../codec-registry';
import { importPlugin, listBuiltinPlugins } from '../plugins/resolve';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Plugin entries worth resolving even when the top level has problems: objects with a 'use' string, not disabled. */
export function enabledEntries(data: object): Array<{ index: number; entry: PluginEntry }> {
  const list = (data as { plugins?: unknown }).plugins;
  if (!Array.isArray(list)) return [];
  const out: Array<{ index: number; entry: PluginEntry }> = [];
  list.forEach((entry: unknown, index) => {
    if (!isPlainObject(entry) || typeof entry.use !== 'string' || entry.use === '' || entry.enabled === false) return;
    out.push({ index, entry: entry as unknown as PluginEntry });
  });
  return out;
}

/** The plugin's manifest, or undefined with the reason added to `problems` (unknown name, broken or incompatible plugin). */
export async function resolveEntry(use: string, index: number, configDir: string, problems: ConfigProblem[]): Promise<PluginManifest<unknown> | undefined> {
  try {
    return await importPlugin(use, configDir);
  } catch (e) {
    if (!(e instanceof TaplineError)) throw e;
    const path = `/plugins/${index}/use`;
    if (e.code === ErrorCodes.PLUGIN_NOT_FOUND) {
      const problem: ConfigProblem = { path, expected: 'a built-in plugin folder name, or a package/path that resolves', found: JSON.stringify(use), code: e.code };
      if (typeof e.details.suggestion === 'string') problem.hint = `did you mean "${e.details.suggestion}"?`;
      problems.push(problem);
    } else {
      // A manifest that is missing, malformed or built for another plugin API: the plugin, not the config, is at fault.
      problems.push({ path, expected: `a plugin that loads (a valid manifest for plugin API ${TAPLINE_API})`, found: e.message, code: e.code });
    }
    return undefined;
  }
}

/** A plugin's options against its schema (defaults written in, paths checked from `configDir`); a schema that does not compile is a problem too. */
export function optionProblems(manifest: PluginManifest<unknown>, options: Record<string, unknown>, index: number, configDir: string): ConfigProblem[] {
  try {
    return validatePluginOptions(manifest.optionsSchema, options, `/plugins/${index}/options`, manifest.name, configDir);
  } catch (e) {
    if (!(e instanceof TaplineError)) throw e;
    return [{ path: `/plugins/${index}/use`, expected: 'a plugin whose options schema compiles', found: e.message, plugin: manifest.name, code: e.code }];
  }
}

/** `{ "use": "source-pcap", "files": [...] }`: the option is known, it only belongs under "options". */
export function hintMisplacedOptions(problems: ConfigProblem[], index: number, manifest: PluginManifest<unknown>): void {
  const props = (manifest.optionsSchema as { properties?: unknown }).properties;
  if (!isPlainObject(props)) return;
  const prefix = `/plugins/${index}/`;
  for (const p of problems) {
    if (!p.path.startsWith(prefix) || !p.expected.startsWith('no property ')) continue;
    const key = p.path.slice(prefix.length);
    if (!key.includes('/') && Object.prototype.hasOwnProperty.call(props, key)) p.hint = `"${key}" is an option of ${manifest.name}: move it into "options"`;
  }
}

/** One entry per plugin name; every later duplicate is a problem. */
export function withoutDuplicates(resolved: readonly ResolvedPlugin[], problems: ConfigProblem[]): ResolvedPlugin[] {
  const first = new Map<string, ResolvedPlugin>();
  for (const p of resolved) {
    const prior = first.get(p.manifest.name);
    if (prior === undefined) {
      first.set(p.manifest.name, p);
      continue;
    }
    problems.push({
      path: `/plugins/${p.index}/use`,
      expected: 'each plugin enabled once',
      found: `plugin "${p.manifest.name}" enabled twice (plugins[${prior.index}] and plugins[${p.index}])`,
      hint: 'remove one, or set "enabled": false on it',
      plugin: p.manifest.name,
      code: ErrorCodes.PLUGIN_DUPLICATE,
    });
  }
  return [...first.values()];
}

/** Missing dependencies and cycles, every one (orderByDependencies stops at the first). */
export function dependencyProblems(plugins: readonly ResolvedPlugin[], data: object, unresolvedUses: ReadonlySet<string> = new Set()): ConfigProblem[] {
  const byName = new Map(plugins.map((p) => [p.manifest.name, p]));
  const rawList = (data as { plugins?: unknown }).plugins;
  const entries: unknown[] = Array.isArray(rawList) ? rawList : [];
  const builtins = listBuiltinPlugins();
  const out: ConfigProblem[] = [];
  for (const p of plugins) {
    for (const dep of p.manifest.dependsOn ?? []) {
      if (byName.has(dep) || unresolvedUses.has(dep)) continue; // an unresolved one is already reported where it is named
      const disabled = entries.findIndex((e) => isPlainObject(e) && e.use === dep && e.enabled === false);
      const problem: ConfigProblem = {
        path: `/plugins/${p.index}/use`,
        expected: `plugin "${dep}" enabled too (plugin "${p.manifest.name}" depends on "${dep}")`,
        found: `no enabled plugin "${dep}"`,
        plugin: p.manifest.name,
        code: ErrorCodes.PLUGIN_DEPENDENCY,
      };
      if (disabled >= 0) problem.hint = `plugins[${disabled}] ("${dep}") has "enabled": false`;
      else if (builtins.includes(dep)) problem.hint = `add { "use": "${dep}" } to "plugins"`;
      out.push(problem);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: ResolvedPlugin, chain: readonly ResolvedPlugin[]): void => {
    state.set(p.manifest.name, 'visiting');
    for (const dep of p.manifest.dependsOn ?? []) {
      const d = byName.get(dep);
      if (d === undefined) continue;
      if (state.get(dep) === 'visiting') {
        const loop = [...chain.slice(chain.indexOf(d)), p, d].map((x) => x.manifest.name);
        out.push({
          path: `/plugins/${d.index}/use`,
          expected: 'plugins whose dependsOn has no cycle',
          found: `plugin dependency cycle: ${loop.join(' -> ')}`,
          plugin: d.manifest.name,
          code: ErrorCodes.PLUGIN_DEPENDENCY,
        });
      } else if (state.get(dep) === undefined) {
        visit(d, [...chain, p]);
      }
    }
    state.set(p.manifest.name, 'done');
  };
  for (const p of plugins) if (state.get(p.manifest.name) === undefined) visit(p, []);
  return out;
}

/** Every pair of codec plugins claiming one encoding (checkCodecClaims names one pair per call). */
export function codecConflictProblems(plugins: readonly ResolvedPlugin[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  let rest = [...plugins];
  for (let guard = plugins.length; guard > 0; guard--) {
    try {
      checkCodecClaims(rest.map((p) => p.manifest));
      break;
    } catch (e) {
      if (!(e instanceof TaplineError) || e.code !== ErrorCodes.CODEC_CONFLICT) throw e;
      const names = e.details.plugins as [string, string];
      const later = rest.find((p) => p.manifest.name === names[1]);
      if (later === undefined) throw e;
      out.push({ path: `/plugins/${later.index}/use`, expected: 'one codec plugin per encoding', found: e.message, plugin: later.manifest.name, code: e.code });
      rest = rest.filter((p) => p !== later);
    }
  }
  return out;
}
