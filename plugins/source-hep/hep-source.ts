/**
 * source-hep: HEPv3 (and HEPv2/v1 over UDP) from proxies, SBCs and capture agents — Kamailio siptrace, OpenSIPS
 * proto_hep, FreeSWITCH, heplify — over UDP, TCP and TLS. SIP keeps the addresses and capture time the sender
 * captured it with; the capture id and node name travel as the arrival's node; RTP and raw RTCP go to media.
 * Every listening port is restricted by an allow-list (loopback only by default) and, for TLS, optionally by
 * client certificates; an auth key (chunk 14) can be required on top.
 */
import type { IngestSink, Source, SourceRunContext, SourceRunResult } from '../../core/contracts/ingest';
import { AllowList } from '../../core/net/allow-list';
import { DatagramServer } from '../../core/net/datagram-server';
import { aborted, countCloses, loadFeedTls, streamLimits, type FeedListenerOptions, type FeedSourceDeps, type FeedTlsFiles } from '../../core/net/feed-common';
import { HEP3_MAX_BYTES } from '../../core/net/hep';
import { HepFeed, hostPort } from '../../core/net/hep-feed';
import { StreamServer } from '../../core/net/stream-server';

export interface HepTransportOptions {
  enabled: boolean;
  port: number;
}

export interface SourceHepOptions extends FeedListenerOptions {
  udp: HepTransportOptions;
  tcp: HepTransportOptions;
  tls: HepTransportOptions & FeedTlsFiles;
  /** SO_RCVBUF of the UDP socket, for bursts. */
  udpReceiveBufferBytes?: number;
}

export interface HepListeners {
  udp?: DatagramServer;
  tcp?: StreamServer;
  tls?: StreamServer;
}

export class HepSource implements Source {
  readonly name: string;
  readonly live = true;
  private current: HepListeners = {};

  constructor(
    private readonly options: SourceHepOptions,
    private readonly deps: FeedSourceDeps,
  ) {
    this.name = deps.name ?? 'source-hep';
    AllowList.parse(options.allow); // a bad CIDR is a config error now, not when the service starts
  }

  get label(): string {
    const o = this.options;
    const parts = [o.udp.enabled ? `udp ${hostPort(o.host, o.udp.port)}` : '', o.tcp.enabled ? `tcp ${hostPort(o.host, o.tcp.port)}` : '', o.tls.enabled ? `tls ${hostPort(o.host, o.tls.port)}` : ''];
    return `hep ${parts.filter((p) => p !== '').join(', ')}`;
  }

  /** The running listeners (their stats and bound addresses), while run() runs. */
  listeners(): HepListeners {
    return { ...this.current };
  }

  async run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult> {
    const o = this.options;
    const source = this.name;
    const allow = AllowList.parse(o.allow);
    const packetsIn = this.deps.metrics.counter('tapline_packets_in_total', 'Packets, datagrams or messages a source received', ['source']);
    const gauge = this.deps.metrics.gauge('tapline_feed_connections', 'Open feed connections (TCP and TLS)', ['source']);
    const feed = new HepFeed(sink, {
      ...(o.authKey !== undefined && o.authKey !== '' ? { authKey: Buffer.from(o.authKey, 'utf8') } : {}),
      maxRecordBytes: Math.min(o.maxMessageBytes, HEP3_MAX_BYTES),
      maxDecompressedBytes: o.maxDecompressedBytes,
      media: o.media,
      originPrefix: 'hep',
      onPacket: () => packetsIn.inc({ source }),
    });
    const onDrop = (stage: Parameters<IngestSink['drop']>[0], reason: string): void => sink.drop(stage, reason);
    const onClosed = countCloses(this.deps.metrics, source);
    const streams: StreamServer[] = [];
    const connections = (): void => gauge.set(streams.reduce((n, s) => n + s.connectionCount, 0), { source });
    const streamServer = (transport: 'tcp' | 'tls', port: number): StreamServer => {
      const s = new StreamServer({
        name: `${source} ${transport}`,
        ...streamLimits(o),
        port,
        ...(transport === 'tls' ? { tls: loadFeedTls(o.tls, source) } : {}),
        allow,
        handler: (conn) => feed.stream(conn),
        onDrop,
        onConnectionCount: connections,
        onClosed,
        log: this.deps.log,
      });
      streams.push(s);
      return s;
    };
    const l: HepListeners = {};
    if (o.udp.enabled) {
      l.udp = new DatagramServer({
        name: `${source} udp`,
        host: o.host,
        port: o.udp.port,
        allow,
        maxDatagramBytes: o.maxMessageBytes,
        ...(o.udpReceiveBufferBytes !== undefined ? { receiveBufferBytes: o.udpReceiveBufferBytes } : {}),
        onMessage: (msg, peer) => feed.datagram(msg, peer),
        onDrop,
        log: this.deps.log,
      });
    }
    if (o.tcp.enabled) l.tcp = streamServer('tcp', o.tcp.port);
    if (o.tls.enabled) l.tls = streamServer('tls', o.tls.port);
    const all = [l.udp, l.tcp, l.tls].filter((s): s is DatagramServer | StreamServer => s !== undefined);
    try {
      for (const s of all) await s.start();
    } catch (e) {
      await Promise.all(all.map((s) => s.stop()));
      throw e;
    }
    this.current = l;
    connections();
    this.deps.log.info(`${source} listening`, { udp: l.udp?.address()?.port, tcp: l.tcp?.address()?.port, tls: l.tls?.address()?.port });
    ctx.ready();
    await aborted(signal);
    await Promise.all(all.map((s) => s.stop()));
    connections();
    this.current = {};
    return { frames: feed.delivered };
  }
}
