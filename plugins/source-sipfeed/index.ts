/** Plugin manifest: the net service's call-control feed on port 8008 (plain SIP or HEPv3 over TCP/TLS). */
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { SipfeedSource, type SourceSipfeedOptions } from './sipfeed-source';
import optionsSchema from './options.schema.json';

export type { SourceSipfeedOptions } from './sipfeed-source';
export { SipfeedSource } from './sipfeed-source';

export const SOURCE_SIPFEED = 'source-sipfeed';

export default definePlugin<SourceSipfeedOptions>({
  name: SOURCE_SIPFEED,
  kind: 'source',
  api: TAPLINE_API,
  description: 'Call-control feed on TCP/TLS 8008 (the Skype for Business net service): plain SIP framed by Content-Length or HEPv3, many feeders, keep-alives',
  optionsSchema,
  register(ctx) {
    const o = ctx.options;
    const file = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.resolve(ctx.configDir, f));
    const tls = { ...o.tls, cert: file(o.tls.cert), key: file(o.tls.key), ca: file(o.tls.ca) };
    const source = new SipfeedSource({ ...o, tls }, { metrics: ctx.metrics, log: ctx.log, name: ctx.name });
    ctx.container.register(Tokens.Source, { useValue: source });
  },
});
