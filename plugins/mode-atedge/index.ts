/** Plugin manifest: the at-edge recording mode (audio captured at the Edge Server, unwrapped from TURN). */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { AtEdgeMode, type AtEdgeOptions } from './atedge-mode';
import optionsSchema from './options.schema.json';

export type { AtEdgeOptions } from './atedge-mode';

export default definePlugin<AtEdgeOptions>({
  name: 'mode-atedge',
  kind: 'mode',
  api: TAPLINE_API,
  description: 'Recording mode: audio captured at the Edge Server; media unwrapped from TURN / MS-TURN (UDP and TCP 443), early media the Edge missed reported',
  optionsSchema,
  register(ctx) {
    const c = ctx.container;
    const mode = new AtEdgeMode(ctx.options, { input: c.resolve(Tokens.MediaInput), dialogs: c.resolve(Tokens.Dialogs), counters: ctx.counters, log: ctx.log });
    const bus = c.resolve(Tokens.Bus);
    // Subscribed at registration: 'tcpData' is only emitted while someone listens, from the first frame on.
    const off = [bus.on('media', (p) => mode.onMedia(p)), bus.on('tcpData', (chunk) => mode.onTcpData(chunk))];
    c.register(Tokens.Mode, { useValue: mode });
    return {
      stop() {
        for (const f of off.splice(0)) f();
      },
    };
  },
});
