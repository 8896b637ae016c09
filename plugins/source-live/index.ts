/**
 * Plugin manifest: live capture on named network interfaces with libpcap (the recorder's local sniffing,
 * `UseLocalSniffingForLyncAudio`). One source for all the listed interfaces; see README.md for privileges.
 */
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { ErrorCodes } from '../../core/errors';
import { Tokens } from '../../core/tokens';
import { checkFilter } from '../../core/net/interface-capture';
import { LiveSource, type SourceLiveOptions } from './live-source';
import optionsSchema from './options.schema.json';

export type { SourceLiveOptions } from './live-source';
export { LiveSource } from './live-source';
export { InterfaceCapture, captureInterfaces, checkFilter, type CaptureStats, type InterfaceCaptureOptions } from '../../core/net/interface-capture';

export default definePlugin<SourceLiveOptions>({
  name: 'source-live',
  kind: 'source',
  api: TAPLINE_API,
  description: 'live capture on network interfaces (libpcap, BPF filter, kernel drop counts); needs root or CAP_NET_RAW',
  optionsSchema,
  register(ctx) {
    // A bad filter is a configuration error: refuse it now (no privilege needed), not when the service starts.
    const wrong = checkFilter(ctx.options.filter, ctx.options.snaplen);
    if (wrong !== undefined) ctx.error(ErrorCodes.CAPTURE_FILTER, `BPF filter ${JSON.stringify(ctx.options.filter)} refused: ${wrong}`, { filter: ctx.options.filter });
    const source = new LiveSource(ctx.options, { metrics: ctx.metrics, log: ctx.log });
    ctx.container.register(Tokens.Source, { useValue: source });
  },
});
