/**
 * Plugin manifest: media forwarded to the recorder over UDP — TFWD from Tapline forwarders and collectors, VXLAN
 * from cloud traffic mirroring, TZSP from MikroTik and other sniffers (README.md: wire format, options, security).
 */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { ErrorCodes } from '../../core/errors';
import { Tokens } from '../../core/tokens';
import { resolveOptions, type ForwardedSourceConfig, type SourceForwardedOptions } from './options';
import { ForwardedSource } from './source';
import { ForwarderControlServer } from './control-server';
import optionsSchema from './options.schema.json';

export type { SourceForwardedOptions } from './options';
export { ForwardedSource } from './source';

export default definePlugin<SourceForwardedOptions>({
  name: 'source-forwarded',
  kind: 'source',
  api: TAPLINE_API,
  description: 'forwarded media over UDP: TFWD (batched, sequenced, HMAC-signed), VXLAN, TZSP',
  optionsSchema,
  register(ctx) {
    const cfg = ((): ForwardedSourceConfig => {
      try {
        return resolveOptions(ctx.options, ctx.configDir);
      } catch (e) {
        return ctx.error(ErrorCodes.FORWARDED_CONFIG, `options: ${(e as Error).message}`);
      }
    })();
    // Sockets open in run(), not here: register() must not open sockets.
    const source = new ForwardedSource(cfg, { log: ctx.log, metrics: ctx.metrics });
    ctx.container.register(Tokens.Source, { useValue: source });
    const c = cfg.control;
    if (c === undefined) return;
    const recorderId = ctx.container.isRegistered(Tokens.Config, true) ? ctx.container.resolve(Tokens.Config).policy.recorderId : 1;
    const control = new ForwarderControlServer(
      { ...c, keys: cfg.keys, recorderId, ...(cfg.deployments !== undefined ? { deployments: cfg.deployments } : {}) },
      { log: ctx.log, metrics: ctx.metrics, events: ctx.events },
    );
    return { start: () => control.start(), stop: () => control.stop() };
  },
});
