/**
 * source-sipfeed: the call-control feed of the Skype for Business "net service" (a trusted application on each
 * Front End that keeps a persistent TCP connection to port 8008 of up to three recorders), and of anything else
 * that sends SIP or HEPv3 over a stream. Many feeders at once; each connection's protocol is detected from its
 * first bytes (see feed-connection.ts). TCP or TLS (optionally with client certificates), behind an allow-list.
 */
import type { IngestSink, Source, SourceRunContext, SourceRunResult } from '../../core/contracts/ingest';
import { AllowList } from '../../core/net/allow-list';
import { aborted, countCloses, loadFeedTls, streamLimits, type FeedListenerOptions, type FeedSourceDeps, type FeedTlsFiles } from '../../core/net/feed-common';
import { HEP3_MAX_BYTES } from '../../core/net/hep';
import { HepFeed, hostPort } from '../../core/net/hep-feed';
import { StreamServer } from '../../core/net/stream-server';
import { SipFeedConnection } from './feed-connection';

export interface SourceSipfeedOptions extends FeedListenerOptions {
  port: number;
  /** TLS instead of plain TCP on `port`. */
  tls: { enabled: boolean } & FeedTlsFiles;
  /** Answer CRLFCRLF keep-alive pings with a CRLF pong. */
  pong: boolean;
}

export class SipfeedSource implements Source {
  readonly name: string;
  readonly live = true;
  private server: StreamServer | undefined;
  private readonly connections = new Set<SipFeedConnection>();

  constructor(
    private readonly options: SourceSipfeedOptions,
    private readonly deps: FeedSourceDeps,
  ) {
    this.name = deps.name ?? 'source-sipfeed';
    AllowList.parse(options.allow);
  }

  get label(): string {
    return `sipfeed ${this.options.tls.enabled ? 'tls' : 'tcp'} ${hostPort(this.options.host, this.options.port)}`;
  }

  /** The running listener (stats, bound address), while run() runs. */
  listener(): StreamServer | undefined {
    return this.server;
  }

  /** Open feeder connections and what each was detected to speak. */
  feeders(): Array<'detect' | 'sip' | 'hep' | 'closed'> {
    return [...this.connections].map((c) => c.protocol);
  }

  async run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult> {
    const o = this.options;
    const source = this.name;
    const packetsIn = this.deps.metrics.counter('tapline_packets_in_total', 'Packets, datagrams or messages a source received', ['source']);
    const gauge = this.deps.metrics.gauge('tapline_feed_connections', 'Open feed connections (TCP and TLS)', ['source']);
    const onPacket = (): void => packetsIn.inc({ source });
    const hepFeed = new HepFeed(sink, {
      ...(o.authKey !== undefined && o.authKey !== '' ? { authKey: Buffer.from(o.authKey, 'utf8') } : {}),
      maxRecordBytes: Math.min(o.maxMessageBytes, HEP3_MAX_BYTES),
      maxDecompressedBytes: o.maxDecompressedBytes,
      media: o.media,
      originPrefix: 'sipfeed-hep',
      onPacket,
    });
    const sipCount = { delivered: 0 };
    const server = new StreamServer({
      name: `${source} ${o.tls.enabled ? 'tls' : 'tcp'}`,
      ...streamLimits(o),
      port: o.port,
      ...(o.tls.enabled ? { tls: loadFeedTls(o.tls, source) } : {}),
      allow: AllowList.parse(o.allow),
      handler: (conn) => {
        const c = new SipFeedConnection(conn, sink, hepFeed, { maxMessageBytes: o.maxMessageBytes, pong: o.pong, onPacket }, sipCount);
        this.connections.add(c);
        return {
          data: (chunk) => c.data(chunk),
          get buffered() {
            return c.buffered;
          },
          get messages() {
            return c.messages;
          },
          end: (reason) => c.end(reason),
          closed: () => this.connections.delete(c),
        };
      },
      onDrop: (stage, reason) => sink.drop(stage, reason),
      onConnectionCount: (n) => gauge.set(n, { source }),
      onClosed: countCloses(this.deps.metrics, source),
      log: this.deps.log,
    });
    await server.start();
    this.server = server;
    gauge.set(0, { source });
    this.deps.log.info(`${source} listening`, { address: server.address() });
    ctx.ready();
    await aborted(signal);
    await server.stop();
    this.server = undefined;
    return { frames: sipCount.delivered + hepFeed.delivered };
  }
}
