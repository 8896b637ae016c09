/**
 * Config → plugins: resolve every 'use', check manifests, validate the whole config (top level and each plugin's
 * options) reporting every problem at once, order by dependsOn, then register each plugin in its own child
 * container, start them with a timeout, and stop them in reverse order.
 */
import type { DependencyContainer } from 'tsyringe';
import { TAPLINE_API, type Logger, type PluginContext, type PluginLifecycle, type PluginManifest } from '../contract';
import type { Metrics } from '../contracts/metrics';
import type { LifecycleBus } from '../contracts/lifecycle';
import type { Clock } from '../contracts/clock';
import { ErrorCodes, TaplineError, type ErrorCode } from '../errors';
import type { CounterSet } from '../counters';
import type { LoadedConfig, PluginEntry, TaplineConfig } from '../config/types';
import { configInvalidError, inDocumentOrder, throwIfProblems, validatePluginOptions, validateTopLevel, type ConfigProblem } from '../config/validate';
import { describeValue } from '../config/schema-problems';
import { checkCodecClaims } from '../codec-registry';
import { importPlugin, listBuiltinPlugins } from './resolve';

export interface ResolvedPlugin {
  /** Index in config.plugins (for error paths). */
  index: number;
  entry: PluginEntry;
  manifest: PluginManifest<unknown>;
  options: Readonly<Record<string, unknown>>;
}

export interface PreparedConfig {
  file?: string;
  dir: string;
  config: TaplineConfig;
  plugins: ResolvedPlugin[];
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

/**
 * Validates the config and resolves its plugins; throws one CONFIG_INVALID listing every problem found in one pass:
 * the top level, every resolvable plugin's options, files the config names, unknown, broken and duplicate plugins,
 * dependsOn and codec claims. `details.problems` carries the list (ConfigProblem[], each with its own code).
 */
export async function prepareConfig(loaded: LoadedConfig): Promise<PreparedConfig> {
  const data: unknown = loaded.raw === undefined || loaded.raw === null ? {} : structuredClone(loaded.raw);
  const problems: ConfigProblem[] = validateTopLevel(data, loaded.dir);
  if (!isPlainObject(data)) {
    if (problems.length === 0) problems.push({ path: '', expected: 'object', found: describeValue(data) });
    throw configInvalidError(loaded.file, problems);
  }
  const resolved: ResolvedPlugin[] = [];
  const unresolvedUses = new Set<string>();
  for (const { index, entry } of enabledEntries(data)) {
    const manifest = await resolveEntry(entry.use, index, loaded.dir, problems);
    if (manifest === undefined) {
      unresolvedUses.add(entry.use);
      continue;
    }
    hintMisplacedOptions(problems, index, manifest);
    if (isPlainObject(entry.options)) {
      try {
        problems.push(...validatePluginOptions(manifest.optionsSchema, entry.options, `/plugins/${index}/options`, manifest.name, loaded.dir));
      } catch (e) {
        if (!(e instanceof TaplineError)) throw e;
        problems.push({ path: `/plugins/${index}/use`, expected: 'a plugin whose options schema compiles', found: e.message, plugin: manifest.name, code: e.code });
      }
    }
    resolved.push({ index, entry, manifest, options: entry.options });
  }
  const unique = withoutDuplicates(resolved, problems);
  problems.push(...dependencyProblems(unique, data, unresolvedUses));
  problems.push(...codecConflictProblems(unique));
  throwIfProblems(loaded.file, inDocumentOrder(problems, loaded.raw));

  const config = data as unknown as TaplineConfig;
  const prepared: PreparedConfig = { dir: loaded.dir, config: deepFreeze(config), plugins: orderByDependencies(resolved) };
  if (loaded.file !== undefined) prepared.file = loaded.file;
  return prepared;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Plugin entries worth resolving even when the top level has problems: objects with a 'use' string, not disabled. */
function enabledEntries(data: object): Array<{ index: number; entry: PluginEntry }> {
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
async function resolveEntry(use: string, index: number, configDir: string, problems: ConfigProblem[]): Promise<PluginManifest<unknown> | undefined> {
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

/** `{ "use": "source-pcap", "files": [...] }`: the option is known, it only belongs under "options". */
function hintMisplacedOptions(problems: ConfigProblem[], index: number, manifest: PluginManifest<unknown>): void {
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
function withoutDuplicates(resolved: readonly ResolvedPlugin[], problems: ConfigProblem[]): ResolvedPlugin[] {
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
function codecConflictProblems(plugins: readonly ResolvedPlugin[]): ConfigProblem[] {
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

/** Topological order by dependsOn, stable with respect to config order. */
export function orderByDependencies(plugins: ResolvedPlugin[]): ResolvedPlugin[] {
  const byName = new Map(plugins.map((p) => [p.manifest.name, p]));
  const out: ResolvedPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: ResolvedPlugin, chain: string[]): void => {
    const name = p.manifest.name;
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw new TaplineError(ErrorCodes.PLUGIN_DEPENDENCY, `plugin dependency cycle: ${[...chain, name].join(' -> ')}`, { chain });
    }
    state.set(name, 'visiting');
    for (const dep of p.manifest.dependsOn ?? []) {
      const d = byName.get(dep);
      if (d === undefined) {
        throw new TaplineError(ErrorCodes.PLUGIN_DEPENDENCY, `plugin "${name}" depends on "${dep}", which is not enabled in the config`, { plugin: name, dependency: dep });
      }
      visit(d, [...chain, name]);
    }
    state.set(name, 'done');
    out.push(p);
  };
  for (const p of plugins) visit(p, []);
  return out;
}

export interface HostedPlugin {
  resolved: ResolvedPlugin;
  ctx: PluginContext<unknown>;
  container: DependencyContainer;
  lifecycle: PluginLifecycle;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, plugin: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TaplineError(ErrorCodes.PLUGIN_TIMEOUT, `plugin "${plugin}" did not finish ${what} within ${ms} ms`, { plugin, hook: what })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function wrapHookError(e: unknown, plugin: string, hook: string): TaplineError {
  if (e instanceof TaplineError) return e;
  const err = e as Error & { code?: unknown };
  return new TaplineError(ErrorCodes.PLUGIN_HOOK, `plugin "${plugin}" failed in ${hook}: ${err?.message ?? String(e)}`, { plugin, hook, pluginCode: err?.code }, e);
}

/** Services every plugin context carries. */
export interface HostServices {
  metrics: Metrics;
  events: LifecycleBus;
  clock: Clock;
}

/** Runs plugins' register/start/stop with per-plugin contexts and child containers. */
export class PluginHost {
  readonly hosted: HostedPlugin[] = [];
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly root: DependencyContainer,
    private readonly log: Logger,
    private readonly counters: CounterSet,
    private readonly configDir: string,
    private readonly services: HostServices,
    private readonly hookTimeoutMs = 10_000,
  ) {}

  async registerAll(plugins: ResolvedPlugin[], onRegistered?: (h: HostedPlugin) => void): Promise<void> {
    for (const resolved of plugins) {
      const { manifest } = resolved;
      const container = this.root.createChildContainer();
      const ctx: PluginContext<unknown> = {
        name: manifest.name,
        kind: manifest.kind,
        options: resolved.options,
        container,
        log: this.log.child({ plugin: manifest.name }),
        counters: this.counters.scoped(manifest.name),
        signal: this.abort.signal,
        configDir: this.configDir,
        metrics: this.services.metrics,
        events: this.services.events,
        clock: this.services.clock,
        error: (code: ErrorCode, message: string, details?: Record<string, unknown>): never => {
          throw new TaplineError(code, `${manifest.name}: ${message}`, { plugin: manifest.name, ...details });
        },
      };
      let lifecycle: PluginLifecycle;
      try {
        lifecycle = (await withTimeout(Promise.resolve(manifest.register(ctx)), this.hookTimeoutMs, 'register', manifest.name)) ?? {};
      } catch (e) {
        throw wrapHookError(e, manifest.name, 'register');
      }
      const h: HostedPlugin = { resolved, ctx, container, lifecycle };
      this.hosted.push(h);
      onRegistered?.(h);
    }
  }

  async startAll(): Promise<void> {
    for (const h of this.hosted) {
      if (h.lifecycle.start === undefined) continue;
      try {
        await withTimeout(Promise.resolve(h.lifecycle.start()), this.hookTimeoutMs, 'start', h.ctx.name);
      } catch (e) {
        throw wrapHookError(e, h.ctx.name, 'start');
      }
    }
  }

  /** Idempotent; stops in reverse order, every plugin gets its stop() even if an earlier one failed. */
  async stopAll(): Promise<Error[]> {
    if (this.stopped) return [];
    this.stopped = true;
    this.abort.abort();
    const errors: Error[] = [];
    for (const h of [...this.hosted].reverse()) {
      if (h.lifecycle.stop === undefined) continue;
      try {
        await withTimeout(Promise.resolve(h.lifecycle.stop()), this.hookTimeoutMs, 'stop', h.ctx.name);
      } catch (e) {
        const err = wrapHookError(e, h.ctx.name, 'stop');
        this.log.error(err.message, { plugin: h.ctx.name });
        errors.push(err);
      }
    }
    return errors;
  }
}
