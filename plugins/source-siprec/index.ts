/** Plugin manifest: a SIPREC recording server (RFC 7866 protocol, RFC 7865 metadata) over UDP, TCP and TLS. */
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { Tokens } from '../../core/tokens';
import { SiprecSource, type SourceSiprecOptions } from './siprec-source';
import optionsSchema from './options.schema.json';

export type { SourceSiprecOptions } from './siprec-source';
export { SiprecSource } from './siprec-source';

export const SOURCE_SIPREC = 'source-siprec';

export default definePlugin<SourceSiprecOptions>({
  name: SOURCE_SIPREC,
  kind: 'source',
  api: TAPLINE_API,
  description: 'SIPREC recording server (RFC 7866, RFC 7865 metadata): SBCs and proxies open recording sessions and fork the media to it',
  optionsSchema,
  register(ctx) {
    const o = ctx.options;
    if (o.rtpPorts.max <= o.rtpPorts.min) {
      throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${SOURCE_SIPREC}: rtpPorts.max (${o.rtpPorts.max}) must be above rtpPorts.min (${o.rtpPorts.min})`);
    }
    const file = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.resolve(ctx.configDir, f));
    const tls = { ...o.tls, cert: file(o.tls.cert), key: file(o.tls.key), ca: file(o.tls.ca) };
    const digest = o.digest === undefined ? undefined : { ...o.digest, credentialsFile: path.resolve(ctx.configDir, o.digest.credentialsFile) };
    const source = new SiprecSource({ ...o, tls, ...(digest !== undefined ? { digest } : {}) }, { metrics: ctx.metrics, log: ctx.log, name: ctx.name });
    ctx.container.register(Tokens.Source, { useValue: source });
  },
});
