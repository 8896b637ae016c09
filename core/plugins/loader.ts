/**
 * Config → plugins: resolve every 'use', check manifests, validate the whole config (top level and each plugin's
 * options) reporting every problem at once, order by dependsOn, then register each plugin in its own child
 * container, start them with a timeout, and stop them in reverse order.
 */
import type { DependencyContainer } from 'tsyringe';
import type { Logger, PluginContext, PluginLifecycle, PluginManifest } from '../contract';
import type { Metrics } from '../contracts/metrics';
import type { LifecycleBus } from '../contracts/lifecycle';
import type { Clock } from '../contracts/clock';
import { ErrorCodes, TaplineError, type ErrorCode } from '../errors';
import type { CounterSet } from '../counters';
import type { LoadedConfig, PluginEntry, TaplineConfig } from '../config/types';
import { configInvalidError, inDocumentOrder, throwIfProblems, validateTopLevel, type ConfigProblem } from '../config/validate';
import { describeValue } from '../config/schema-problems';
import {
  codecConflictProblems,
  dependencyProblems,
  enabledEntries,
  hintMisplacedOptions,
  isPlainObject,
  optionProblems,
  resolveEntry,
  withoutDuplicates,
} from '../config/plugin-problems';

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
    if (isPlainObject(entry.options)) problems.push(...optionProblems(manifest, entry.options, index, loaded.dir));
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
