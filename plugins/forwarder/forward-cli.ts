/**
 * `tapline forward`: runs the agent with the config's forwarder options until SIGINT/SIGTERM, then prints what it
 * did as one JSON line. `--check` validates the config and opens nothing.
 */
import type { CommandSpec } from '../../core/contract';
import { loadConfigFile } from '../../core/config/load';
import { prepareConfig } from '../../core/plugins/loader';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { createServiceLogger, type LogFormat } from '../../core/log';
import { resolveForwarder, type ForwarderOptions, type ResolvedForwarder } from './options';

async function forwarderConfig(config: string | undefined): Promise<ResolvedForwarder> {
  const loaded = await loadConfigFile(config);
  const prepared = await prepareConfig(loaded);
  const entry = prepared.plugins.find((p) => p.manifest.name === 'forwarder');
  if (entry === undefined) throw new TaplineError(ErrorCodes.USAGE, 'the config does not enable the forwarder plugin: add { "use": "forwarder", "options": { … } } to its plugins', {});
  try {
    return resolveForwarder(entry.options as unknown as ForwarderOptions, prepared.dir);
  } catch (e) {
    throw new TaplineError(ErrorCodes.FORWARD_CONFIG, `forwarder options: ${(e as Error).message}`, {}, e);
  }
}

export const forwardCommands: readonly CommandSpec[] = [
  {
    name: 'forward',
    description: "Run the packet forwarder agent: capture on this host's interfaces and forward the media of recorded calls to the recorders (the forwarder plugin's options)",
    options: [
      { flags: '-c, --config <file>', description: 'config file (default: searched from the current folder)' },
      { flags: '--check', description: 'check the config and exit' },
      { flags: '--log-format <format>', description: 'json or text', choices: ['json', 'text'], default: 'json' },
      { flags: '--log-level <level>', description: 'debug, info, warn or error', choices: ['debug', 'info', 'warn', 'error'], default: 'info' },
    ],
    run: async (_a, o) => {
      const cfg = await forwarderConfig(o.config as string | undefined);
      if (o.check === true) {
        // The interfaces must exist here (libpcap's list; nothing is opened, so no privilege is needed).
        const { captureInterfaces } = require('../../core/net/interface-capture') as typeof import('../../core/net/interface-capture');
        const known = captureInterfaces();
        const missing = cfg.interfaces.filter((i) => known.length > 0 && !known.includes(i));
        if (missing.length > 0) throw new TaplineError(ErrorCodes.CAPTURE_NO_INTERFACE, `interface ${missing.map((m) => `"${m}"`).join(', ')} not found; interfaces here: ${known.join(', ')}`, { interfaces: known });
        process.stdout.write(`forwarder config is valid: ${cfg.mode} mode on ${cfg.interfaces.join(', ')}, ${cfg.deployments.length} deployment(s), ${cfg.deployments.reduce((n, d) => n + d.recorders.length, 0)} recorder(s)\n`);
        return;
      }
      const log = createServiceLogger({ format: o.logFormat as LogFormat, level: o.logLevel as 'info', bindings: { service: 'tapline-forward' } });
      const { ForwarderAgent } = require('./agent') as typeof import('./agent');
      const agent = new ForwarderAgent(cfg, log);
      try {
        await agent.start();
      } catch (e) {
        await agent.stop();
        throw e;
      }
      log.info('forwarder running', { ops: agent.opsPort });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await agent.stop();
      log.info('forwarder stopped', agent.summary());
      process.stdout.write(`${JSON.stringify(agent.summary())}\n`);
      log.flush();
    },
  },
];
