/**
 * source-siprec: the recording server's listeners. SIP over UDP, TCP and TLS (5060/5061 by default) reaches one
 * RecordingServer; who may connect is decided before anything is read: the IP allow-list (loopback only by
 * default), and over TLS optionally a client certificate from the configured CA (mutual TLS).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { DigestAuth, readCredentials, type DigestAlgorithm } from './digest';
import { isIP } from 'node:net';
import type { IngestSink, Source, SourceRunContext, SourceRunResult } from '../../core/contracts/ingest';
import { AllowList } from '../../core/net/allow-list';
import { DatagramServer } from '../../core/net/datagram-server';
import { aborted, countCloses, loadFeedTls, streamLimits, type FeedListenerOptions, type FeedSourceDeps, type FeedTlsFiles } from '../../core/net/feed-common';
import { hostPort } from '../../core/net/hep-feed';
import { StreamServer, type StreamConnection, type StreamHandler } from '../../core/net/stream-server';
import { SipStreamFramer } from '../../core/sip/framing';
import { RecordingServer, type SipTransport } from './recording-server';

export interface SiprecTransportOptions {
  enabled: boolean;
  port: number;
}

export interface SourceSiprecOptions extends Omit<FeedListenerOptions, 'authKey' | 'maxDecompressedBytes' | 'media'> {
  udp: SiprecTransportOptions;
  tcp: SiprecTransportOptions;
  tls: SiprecTransportOptions & FeedTlsFiles;
  /** The address in SDP answers and Contact, bound by the media ports (default: `host`, or the first IPv4 interface). */
  mediaAddress?: string;
  rtpPorts: { min: number; max: number };
  /** SRC media addresses beyond those in their SDP (an SBC that sends from another address). */
  mediaAllow: string[];
  maxSessions: number;
  sessionIdleTimeoutSec: number;
  /** SIP digest authentication of new sessions: the realm and a file of `username:password` lines. */
  digest?: { realm: string; credentialsFile: string; algorithms?: DigestAlgorithm[] };
}

/** The address to advertise when the listeners bind every interface. */
function defaultMediaAddress(host: string): string {
  if (host !== '0.0.0.0' && host !== '::' && isIP(host) !== 0) return host;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** SIP over one TCP or TLS connection: framed by Content-Length; CRLF keep-alives answered. */
class SipConnection implements StreamHandler {
  private readonly framer: SipStreamFramer;
  private count = 0;
  constructor(
    private readonly conn: StreamConnection,
    private readonly server: RecordingServer,
    private readonly sink: IngestSink,
    maxMessageBytes: number,
    private readonly counted: () => void,
  ) {
    this.framer = new SipStreamFramer({ maxBuffer: maxMessageBytes, lenient: true, onKeepAlive: () => conn.write('\r\n') });
  }
  get buffered(): number {
    return this.framer.buffered;
  }
  get messages(): number {
    return this.count;
  }
  data(chunk: Buffer): void {
    const t: SipTransport = {
      kind: this.conn.transport,
      peer: { address: this.conn.remoteAddress, port: this.conn.remotePort },
      localPort: this.conn.localPort,
      send: (d) => this.conn.write(d),
    };
    for (const item of this.framer.pushFrames(chunk)) {
      if (!Buffer.isBuffer(item)) {
        const reason = String(item.details['reason'] ?? 'framing');
        this.sink.drop(reason === 'stream-oversized' ? 'limit' : 'parse', `siprec-${reason}`);
        if (reason === 'stream-oversized') return this.conn.close('message-too-large');
        continue;
      }
      this.count++;
      this.counted();
      this.server.onMessage(item, t);
    }
  }
}

export class SiprecSource implements Source {
  readonly name: string;
  readonly live = true;
  private server: RecordingServer | undefined;

  constructor(
    private readonly options: SourceSiprecOptions,
    private readonly deps: FeedSourceDeps,
  ) {
    this.name = deps.name ?? 'source-siprec';
    // Bad CIDRs and an unreadable credentials file are config errors now, not when the service starts.
    AllowList.parse(options.allow);
    AllowList.parse(options.mediaAllow, { where: 'mediaAllow' });
    const d = options.digest;
    if (d !== undefined) {
      let text: string;
      try {
        text = fs.readFileSync(d.credentialsFile, 'utf8');
      } catch (e) {
        throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${this.name}: cannot read digest.credentialsFile ${d.credentialsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        this.digest = new DigestAuth(d.realm, readCredentials(text, d.credentialsFile), d.algorithms);
      } catch (e) {
        throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${this.name}: ${(e as Error).message}`);
      }
    }
  }

  private readonly digest: DigestAuth | undefined;

  get label(): string {
    const o = this.options;
    const parts = [o.udp.enabled ? `udp ${hostPort(o.host, o.udp.port)}` : '', o.tcp.enabled ? `tcp ${hostPort(o.host, o.tcp.port)}` : '', o.tls.enabled ? `tls ${hostPort(o.host, o.tls.port)}` : ''];
    return `siprec ${parts.filter((p) => p !== '').join(', ')}`;
  }

  /** Recording sessions open now (tests, metrics). */
  get sessions(): number {
    return this.server?.activeSessions ?? 0;
  }

  async run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult> {
    const o = this.options;
    const source = this.name;
    const allow = AllowList.parse(o.allow);
    const metrics = this.deps.metrics;
    const packetsIn = metrics.counter('tapline_packets_in_total', 'Packets, datagrams or messages a source received', ['source']);
    const sessions = metrics.counter('tapline_siprec_sessions_total', 'SIPREC recording sessions by outcome (accepted, refused-<status>, cancelled, ended-bye, ended-idle, ended-stopped)', ['result']);
    const server = new RecordingServer(
      {
        mediaAddress: o.mediaAddress ?? defaultMediaAddress(o.host),
        rtpPortMin: o.rtpPorts.min,
        rtpPortMax: o.rtpPorts.max,
        allow: AllowList.parse(o.mediaAllow, { where: 'mediaAllow' }),
        maxSessions: o.maxSessions,
        idleTimeoutSec: o.sessionIdleTimeoutSec,
        lingerMs: 2000,
        ...(this.digest !== undefined ? { digest: this.digest } : {}),
      },
      { sink, log: this.deps.log, sessions, source },
    );
    this.server = server;
    metrics.gauge('tapline_siprec_sessions', 'SIPREC recording sessions open', [], (g) => g.set(server.activeSessions));
    const onDrop = (stage: Parameters<IngestSink['drop']>[0], reason: string): void => sink.drop(stage, reason);
    const gauge = metrics.gauge('tapline_feed_connections', 'Open feed connections (TCP and TLS)', ['source']);
    const streams: StreamServer[] = [];
    const connections = (): void => gauge.set(streams.reduce((n, s) => n + s.connectionCount, 0), { source });
    const onClosed = countCloses(metrics, source);
    const streamServer = (transport: 'tcp' | 'tls', port: number): StreamServer => {
      const s = new StreamServer({
        name: `${source} ${transport}`,
        ...streamLimits({ ...o, authKey: undefined, maxDecompressedBytes: 0, media: false } as FeedListenerOptions),
        port,
        ...(transport === 'tls' ? { tls: loadFeedTls(o.tls, source) } : {}),
        allow,
        handler: (conn) => new SipConnection(conn, server, sink, o.maxMessageBytes, () => packetsIn.inc({ source })),
        onDrop,
        onConnectionCount: connections,
        onClosed,
        log: this.deps.log,
      });
      streams.push(s);
      return s;
    };
    let udp: DatagramServer | undefined;
    if (o.udp.enabled) {
      const u: DatagramServer = new DatagramServer({
        name: `${source} udp`,
        host: o.host,
        port: o.udp.port,
        allow,
        maxDatagramBytes: o.maxMessageBytes,
        onMessage: (msg, peer) => {
          packetsIn.inc({ source });
          server.onMessage(msg, { kind: 'udp', peer, localPort: u.address()?.port ?? o.udp.port, send: (d) => u.send(d, peer) });
        },
        onDrop,
        log: this.deps.log,
      });
      udp = u;
    }
    const tcp = o.tcp.enabled ? streamServer('tcp', o.tcp.port) : undefined;
    const tls = o.tls.enabled ? streamServer('tls', o.tls.port) : undefined;
    const all = [udp, tcp, tls].filter((s): s is DatagramServer | StreamServer => s !== undefined);
    try {
      for (const s of all) await s.start();
    } catch (e) {
      server.stop();
      await Promise.all(all.map((s) => s.stop()));
      throw e;
    }
    this.listening = { udp: udp?.address()?.port, tcp: tcp?.address()?.port, tls: tls?.address()?.port };
    this.deps.log.info(`${source} listening`, { ...this.listening, media: `${o.rtpPorts.min}-${o.rtpPorts.max}` });
    ctx.ready();
    await aborted(signal);
    server.stop();
    await Promise.all(all.map((s) => s.stop()));
    connections();
    this.server = undefined;
    return { frames: 0 };
  }

  /** The ports bound (0 in the config picks a free one: tests read them here). */
  listening: { udp?: number | undefined; tcp?: number | undefined; tls?: number | undefined } = {};
}
