/**
 * Plugin manifest: the packet forwarder agent, run as its own process by `tapline forward` (README.md). It has
 * nothing to do inside `tapline serve` or `record`: register() leaves them alone.
 */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import type { ForwarderOptions } from './options';
import optionsSchema from './options.schema.json';
import { forwardCommands } from './forward-cli';

export default definePlugin<ForwarderOptions>({
  name: 'forwarder',
  kind: 'agent',
  api: TAPLINE_API,
  description: 'packet forwarder agent (`tapline forward`): captures media of interest on Mediation/Edge servers and agent PCs and forwards it in TFWD to up to three recorders per deployment, with failover',
  optionsSchema,
  commands: forwardCommands,
  register() {
    return {};
  },
});
