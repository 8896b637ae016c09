/**
 * Commands plugins contribute (manifest.commands) become subcommands: `recordings list` from storage-local,
 * `generate` from source-generator. The core names no plugin: it asks every built-in plugin and every plugin the
 * config names (a third party's package) for its commands, and turns each declarative spec into a commander command.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CommandSpec, PluginManifest } from '../contract';
import { isTaplineError } from '../errors';
import { checkManifest, listBuiltinPlugins, resolvePluginModule } from '../plugins/resolve';

/** Built-in plugins' manifests, and those of plugins a config names, best effort (a broken plugin adds no command). */
export async function manifestsWithCommands(configUses: readonly string[] = [], configDir = process.cwd()): Promise<Array<PluginManifest<unknown>>> {
  const out: Array<PluginManifest<unknown>> = [];
  const seen = new Set<string>();
  for (const use of [...listBuiltinPlugins(), ...configUses]) {
    try {
      const file = resolvePluginModule(use, configDir);
      if (seen.has(file)) continue;
      seen.add(file);
      const m = checkManifest(require(file), use);
      if (m.commands !== undefined && m.commands.length > 0) out.push(m);
    } catch {
      // `tapline plugins` and `config check` report plugins that do not load; the CLI itself still works.
    }
  }
  return out;
}

function groupFor(program: Command, words: readonly string[], plugin: string): Command {
  let parent = program;
  for (const w of words) {
    let next = parent.commands.find((c) => c.name() === w);
    if (next === undefined) {
      next = parent.command(w).description(`(${plugin})`);
    }
    // A command that is also a group (`web` and `web account add`): options after a subcommand are the
    // subcommand's, so `-c` reaches `web account add` rather than `web`.
    next.enablePositionalOptions();
    parent = next;
  }
  return parent;
}

/** Adds one plugin command to the program; throws when its name collides with an existing command. */
export function addCommand(program: Command, spec: CommandSpec, plugin: string): void {
  const words = spec.name.trim().split(/\s+/);
  const leaf = words[words.length - 1];
  if (leaf === undefined || leaf === '') throw new Error(`plugin ${plugin}: a command needs a name`);
  const parent = groupFor(program, words.slice(0, -1), plugin);
  if (parent.commands.some((c) => c.name() === leaf)) throw new Error(`plugin ${plugin}: command "${spec.name}" already exists`);
  const cmd = parent.command(leaf).description(spec.description);
  if (spec.help !== undefined) cmd.addHelpText('after', `\n${spec.help}`);
  for (const a of spec.arguments ?? []) {
    const variadic = a.name.endsWith('...');
    const name = variadic ? a.name.slice(0, -3) : a.name;
    const required = a.required !== false;
    cmd.argument(required ? `<${name}${variadic ? '...' : ''}>` : `[${name}${variadic ? '...' : ''}]`, a.description);
  }
  for (const o of spec.options ?? []) {
    const opt = new Option(o.flags, o.description);
    if (o.choices !== undefined) opt.choices([...o.choices]);
    if (o.required === true) opt.makeOptionMandatory();
    const parse = o.parse;
    if (parse !== undefined) {
      opt.argParser((v: string) => {
        try {
          return parse(v);
        } catch (e) {
          throw new InvalidArgumentError(isTaplineError(e) ? e.message : (e as Error).message);
        }
      });
    }
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
  }
  const nArgs = (spec.arguments ?? []).length;
  cmd.action(async (...params: unknown[]) => {
    const args = params.slice(0, nArgs) as Array<string | string[] | undefined>;
    const options = params[nArgs] as Record<string, unknown>;
    await spec.run(args, options);
  });
}

export function addPluginCommands(program: Command, manifests: ReadonlyArray<PluginManifest<unknown>>): void {
  for (const m of manifests) for (const spec of m.commands ?? []) addCommand(program, spec, m.name);
}
