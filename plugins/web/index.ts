/** Plugin manifest: the review web app and HTTP API (search, play, chats, live calls, users, audit). */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import type { WebOptions } from './app-context';
import optionsSchema from './options.schema.json';
import { WebService } from './web-service';
import { webCommands } from './web-cli';

export const WEB = 'web';

export const webManifest = definePlugin<WebOptions>({
  name: WEB,
  kind: 'web',
  api: TAPLINE_API,
  description: 'Review web app and HTTP API: search, play and export recordings, read chats, watch live calls; accounts, roles, SSO and an audit log',
  optionsSchema,
  commands: webCommands,
  register(ctx) {
    const service = new WebService(ctx);
    return { start: () => service.start(), stop: () => service.stop() };
  },
});

export default webManifest;
