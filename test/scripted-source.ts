/**
 * A live source for tests that a test drives by hand: it hands SIP and media arrivals to the ingest as a network
 * source would (wall-clock times), becomes ready when told, and ends when the service stops it.
 */
import type { IngestSink, Source, SourceRunContext, SourceRunResult } from '../core/contract';
import { definePlugin, TAPLINE_API, type PluginManifest } from '../core/contract';
import { Tokens } from '../core/tokens';

export class ScriptedLiveSource implements Source {
  readonly name = 'scripted';
  readonly live = true;
  sink: IngestSink | undefined;
  private ctx: SourceRunContext | undefined;
  handedIn = 0;

  constructor(
    readonly label = 'scripted live source',
    private readonly readyAtOnce = true,
  ) {}

  run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult> {
    this.sink = sink;
    this.ctx = ctx;
    if (this.readyAtOnce) ctx.ready();
    return new Promise((resolve) => {
      const done = (): void => resolve({ frames: this.handedIn });
      if (signal.aborted) done();
      else signal.addEventListener('abort', done, { once: true });
    });
  }

  ready(): void {
    this.ctx?.ready();
  }

  /** SIP text (LF or CRLF) between two addresses, stamped now unless `ts` is given. */
  sip(text: string, from: { ip: string; port: number }, to: { ip: string; port: number }, ts = Date.now() * 1000): void {
    const data = Buffer.from(text.includes('\r\n') ? text : text.replace(/\n/g, '\r\n'));
    this.handedIn++;
    this.sink?.sip({ ts, src: from.ip, sport: from.port, dst: to.ip, dport: to.port, transport: 'udp', data });
  }

  media(payload: Buffer, from: { ip: string; port: number }, to: { ip: string; port: number }, ts = Date.now() * 1000): void {
    this.handedIn++;
    this.sink?.media({ ts, proto: 'udp', src: from.ip, sport: from.port, dst: to.ip, dport: to.port, payload });
  }
}

/** A plugin contributing a given source (a test's ScriptedLiveSource). */
export function sourcePlugin(source: Source, name = 'test-scripted-source'): PluginManifest<unknown> {
  return definePlugin({
    name,
    kind: 'source',
    api: TAPLINE_API,
    optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
    register(ctx) {
      ctx.container.register(Tokens.Source, { useValue: source });
    },
  });
}
