/** Plugin manifest: the mirroring recording mode (audio captured at the Mediation Server). */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { ScopeClassifier, type ScopeOptions } from './call-scope';
import { MirroringMode } from './mirroring-mode';
import optionsSchema from './options.schema.json';

export type MirroringOptions = ScopeOptions;

export default definePlugin<MirroringOptions>({
  name: 'mode-mirroring',
  kind: 'mode',
  api: TAPLINE_API,
  description: 'Recording mode: audio mirrored at the Mediation Server; external, conference and queue calls (internal calls are flagged, not heard)',
  optionsSchema,
  register(ctx) {
    const users = ctx.container.resolve(Tokens.Users);
    const mode = new MirroringMode(new ScopeClassifier(users, ctx.options), ctx.counters);
    ctx.container.register(Tokens.Mode, { useValue: mode });
  },
});
