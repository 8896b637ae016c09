#!/usr/bin/env node
/** The `tapline` command line. Every command has --help; errors print their code and message, never a stack. */
import 'reflect-metadata';
import { Command, Option } from 'commander';
import type { PluginManifest } from '../contract';
import { isTaplineError } from '../errors';
import { recordCommand } from './record';
import { addConfigCommands } from './config-commands';
import { pluginsListCommand } from './plugins-command';
import { packageInfo } from '../package-info';
import { addPluginCommands, manifestsWithCommands } from './plugin-commands';
import { loadConfigFile } from '../config/load';


/** The core's own commands; everything else comes from plugins (manifest.commands). */
export const CORE_COMMANDS = ['record', 'serve', 'config', 'plugins', 'sdp'] as const;

/**
 * The program with the core's commands and the given plugins' commands. buildProgram() with no argument loads
 * every built-in plugin's commands (synchronously; third-party ones need main(), which reads the config first).
 */
export function buildProgram(pluginManifests?: ReadonlyArray<PluginManifest<unknown>>): Command {
  const program = new Command('tapline')
    .description('Tapline: records SIP and Skype for Business / Lync calls and chats from captures and live traffic.')
    .version(packageInfo.version)
    .showHelpAfterError('(run with --help for usage)')
    // Set before the subcommands are added so they inherit it: errors and --help come back to main().
    .exitOverride()
    // Options belong to the command they follow: `web -c x` is web's, `web account add -c x` the subcommand's.
    .enablePositionalOptions();

  program
    .command('record')
    .description('Record calls from capture files (pcap/pcapng) or the sources in the config; writes recordings and a summary.')
    .option('--pcap <file...>', 'capture file(s) to read (pcap or pcapng); adds or overrides the source-pcap plugin')
    .option('--out <dir>', 'output folder (default: output.dir from the config, "recordings")')
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--no-progress', 'no progress bar')
    .option('--workers <n>', 'call worker threads (a number, or "auto": one per core); overrides media.workers')
    .option('--fail-on-lost-sip', 'exit with code 3 when any SIP message could not be read (call control lost; reasons in the summary)')
    .action(recordCommand);

  addConfigCommands(program);

  program
    .command('serve')
    .description('Run the recorder as a service over the live sources in the config (SIP feed, HEP, forwarded media, local sniffing).')
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .addOption(new Option('--log-format <format>', 'log lines as JSON (for journald / log shippers) or text').choices(['json', 'text']).default('json'))
    // Loaded on use: `record` and the catalogue commands need none of the service's parts.
    .action(async (o: import('./serve').ServeOptions) => (require('./serve') as typeof import('./serve')).serveCommand(o));

  program.command('plugins').description('List the built-in plugins.').action(pluginsListCommand);

  // `sdp suppress` (codec suppression for the signalling path, core/sdp/suppress.ts).
  (require('./sdp-command') as typeof import('./sdp-command')).addSdpCommands(program);
  addPluginCommands(program, pluginManifests ?? builtinManifestsSync());
  return program;
}

/** Every built-in plugin's manifest that declares commands. */
function builtinManifestsSync(): Array<PluginManifest<unknown>> {
  const { checkManifest, listBuiltinPlugins, resolvePluginModule } = require('../plugins/resolve') as typeof import('../plugins/resolve');
  const out: Array<PluginManifest<unknown>> = [];
  for (const name of listBuiltinPlugins()) {
    try {
      const m = checkManifest(require(resolvePluginModule(name, process.cwd())), name);
      if (m.commands !== undefined && m.commands.length > 0) out.push(m);
    } catch {
      // a plugin that does not load adds no command (`tapline plugins` says why)
    }
  }
  return out;
}

/** The plugins a config names, when a config is found (a broken config names none: its own commands report it). */
async function configuredUses(argv: string[]): Promise<{ uses: string[]; dir: string }> {
  const i = argv.findIndex((a) => a === '-c' || a === '--config');
  const explicit = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  try {
    const loaded = await loadConfigFile(explicit);
    const plugins = (loaded.raw as { plugins?: Array<{ use?: unknown }> } | null)?.plugins;
    return { uses: Array.isArray(plugins) ? plugins.map((p) => p?.use).filter((u): u is string => typeof u === 'string') : [], dir: loaded.dir };
  } catch {
    return { uses: [], dir: process.cwd() };
  }
}

export async function main(argv: string[]): Promise<number> {
  // The core's commands need no plugin commands (record and serve start faster); anything else might be one.
  const first = argv[2];
  const core = first !== undefined && (CORE_COMMANDS as readonly string[]).includes(first);
  let manifests: Array<PluginManifest<unknown>> = [];
  if (!core) {
    const { uses, dir } = await configuredUses(argv);
    manifests = await manifestsWithCommands(uses, dir);
  }
  const program = buildProgram(manifests);
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : (err.exitCode ?? 2);
    }
    if (isTaplineError(e)) {
      process.stderr.write(`tapline: ${e.code}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`tapline: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`tapline: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
