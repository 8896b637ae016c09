/** Plugin manifest: HEPv3 (and v2/v1) over UDP, TCP and TLS from proxies, SBCs and capture agents. */
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { HepSource, type SourceHepOptions } from './hep-source';
import optionsSchema from './options.schema.json';

export type { SourceHepOptions } from './hep-source';
export { HepSource } from './hep-source';

export const SOURCE_HEP = 'source-hep';

export default definePlugin<SourceHepOptions>({
  name: SOURCE_HEP,
  kind: 'source',
  api: TAPLINE_API,
  description: 'HEP (v3 over UDP, TCP and TLS; v2/v1 over UDP) from Kamailio, OpenSIPS, FreeSWITCH, heplify: SIP with its capture addresses and time, RTP/RTCP',
  optionsSchema,
  register(ctx) {
    const o = ctx.options;
    const file = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.resolve(ctx.configDir, f));
    const tls = { ...o.tls, cert: file(o.tls.cert), key: file(o.tls.key), ca: file(o.tls.ca) };
    const source = new HepSource({ ...o, tls }, { metrics: ctx.metrics, log: ctx.log, name: ctx.name });
    ctx.container.register(Tokens.Source, { useValue: source });
  },
});
