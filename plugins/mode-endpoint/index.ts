/** Plugin manifest: the endpoint recording mode (audio captured on the agents' PCs). */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { ActiveCalls } from './active-calls';
import { EndpointMode, type EndpointModeOptions } from './endpoint-mode';
import optionsSchema from './options.schema.json';

export type EndpointOptions = EndpointModeOptions;

export default definePlugin<EndpointOptions>({
  name: 'mode-endpoint',
  kind: 'mode',
  api: TAPLINE_API,
  description: "Recording mode: audio captured on the agents' PCs; everything to and from a user's endpoint IP is that user's",
  optionsSchema,
  register(ctx) {
    const c = ctx.container;
    const dialogs = c.resolve(Tokens.Dialogs);
    const active = new ActiveCalls(c.resolve(Tokens.Users), dialogs);
    const mode = new EndpointMode(c.resolve(Tokens.Endpoints), active, ctx.counters, ctx.options, dialogs);
    ctx.container.register(Tokens.Mode, { useValue: mode });
  },
});
