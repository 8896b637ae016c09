#!/usr/bin/env node
/** The `tapline` command line. Every command has --help; errors print their code and message, never a stack. */
import 'reflect-metadata';
import { Command, Option } from 'commander';
import { isTaplineError } from '../errors';
import { recordCommand } from './record';
import { configCheckCommand, configPrintCommand } from './config-commands';
import type { GenerateCliOptions } from './generate';
import { pluginsListCommand } from './plugins-command';
import { packageInfo } from '../package-info';


export function buildProgram(): Command {
  const program = new Command('tapline')
    .description('Tapline: records SIP and Skype for Business / Lync calls and chats from captures and live traffic.')
    .version(packageInfo.version)
    .showHelpAfterError('(run with --help for usage)')
    // Set before the subcommands are added so they inherit it: errors and --help come back to main().
    .exitOverride();

  program
    .command('record')
    .description('Record calls from capture files (pcap/pcapng) or the sources in the config; writes recordings and a summary.')
    .option('--pcap <file...>', 'capture file(s) to read (pcap or pcapng); adds or overrides the source-pcap plugin')
    .option('--out <dir>', 'output folder (default: output.dir from the config, "recordings")')
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--no-progress', 'no progress bar')
    .action(recordCommand);

  const config = program.command('config').description('Check or print the configuration.');
  config
    .command('check')
    .description('Validate the config file (and every enabled plugin\'s options) and list every problem.')
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .action(configCheckCommand);
  config
    .command('print')
    .description('Print the effective configuration, defaults filled in, as JSON.')
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .action(configPrintCommand);

  program
    .command('generate')
    .description('Write a pcap of synthetic SIP calls with RTP (for demos, tests and benchmarks), plus a truth JSON beside it.')
    .requiredOption('-o, --out <file>', 'pcap file to write')
    .option('--calls <n>', 'number of calls', '4')
    .option('--concurrency <n>', 'calls in progress at once')
    .option('--duration <sec>', 'seconds of audio per call', '10')
    .addOption(new Option('--codec <name>', 'audio codec').choices(['PCMU', 'PCMA']).default('PCMU'))
    .option('--loss <rate>', 'packet loss rate 0..1', '0')
    .option('--lync', 'Lync-style SIP and SDP (multipart bodies, candidates, crypto lines), media SRTP-encrypted with those keys')
    .option('--clear-media', 'with --lync: leave the RTP unencrypted (the SDP still offers keys: recordings are then flagged "not decrypted")')
    .addOption(new Option('--media-path <path>', 'how the media reaches the capture point (TURN paths: as the Edge sees them)').choices(['direct', 'turn-udp', 'msturn-udp', 'msturn-tcp']).default('direct'))
    .option('--seed <n>', 'random seed', '1')
    // Loaded on use: the generator is not needed to record.
    .action(async (o: GenerateCliOptions) => (require('./generate') as typeof import('./generate')).generateCommand(o));

  program.command('plugins').description('List the built-in plugins.').action(pluginsListCommand);

  // `recordings list|show` (the storage-local catalogue); required here so this block stays self-contained.
  (require('./recordings') as typeof import('./recordings')).addRecordingsCommands(program);
  // `chats list|show` (chat transcripts in the same catalogue).
  (require('../../plugins/storage-local/transcripts-cli') as typeof import('../../plugins/storage-local/transcripts-cli')).addChatsCommands(program);
  // `sdp suppress` (codec suppression for the signalling path, core/sdp/suppress.ts).
  (require('./sdp-command') as typeof import('./sdp-command')).addSdpCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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
