/**
 * One recorder of one deployment, as the agent sees it: the control connection (keyed hello, the recorder's
 * interest, heartbeats both ways, reconnection), the TFWD sender with its bounded queue, and the SIP feed
 * connection that carries call control as HEPv3. The link is up only while the control connection is
 * authenticated and heard from within deadAfterMs; a recorder without a control port is taken as always up.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Logger } from '../../core/contract';
import {
  encodeControl,
  FORWARD_CONTROL_VERSION,
  helloText,
  LineReader,
  macMatches,
  macOf,
  newNonce,
  parseControl,
  welcomeText,
  type InterestEntry,
} from '../../core/net/forward-control';
import { TfwdEncoder, type TfwdKey } from '../../core/net/tfwd';
import type { RecorderOptions } from './options';

export interface LinkEvents {
  /** The link came up (authenticated); its interest follows as `interest`. */
  up(link: RecorderLink): void;
  /** The link went down: its calls move to the next recorder. */
  down(link: RecorderLink, why: string): void;
  interest(link: RecorderLink, calls: InterestEntry[]): void;
  call(link: RecorderLink, entry: InterestEntry): void;
  end(link: RecorderLink, call: string): void;
}

export interface LinkTimings {
  heartbeatMs: number;
  deadAfterMs: number;
  reconnectMs: number;
  queueDatagrams: number;
  mtu: number;
}

export interface LinkCounts {
  packets: number;
  bytes: number;
  dropped: { queue: number; down: number; feed: number };
  sip: number;
  refusals: number;
}

/** HEP bytes waiting for the feed connection at most (call control is small; a dead feed must not grow memory). */
const FEED_QUEUE_BYTES = 8 << 20;

export class RecorderLink {
  /** 1-based, as users' `recorder` numbers them. */
  readonly number: number;
  up = false;
  /** Wall time (ms) the link last came up: calls that began before it are not moved back to it. */
  upSince = 0;
  /** The recorder's id as its welcome says (policy.recorderId). */
  recorderId = 0;
  readonly counts: LinkCounts = { packets: 0, bytes: 0, dropped: { queue: 0, down: 0, feed: 0 }, sip: 0, refusals: 0 };
  readonly label: string;
  private readonly udp: dgram.Socket;
  private readonly encoder: TfwdEncoder;
  private inFlight = 0;
  private flushScheduled = false;
  private ctl: net.Socket | undefined;
  private lastHeard = 0;
  private timer: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private feed: net.Socket | undefined;
  private feedReady = false;
  private feedQueue: Buffer[] = [];
  private feedQueued = 0;
  private feedRetry: NodeJS.Timeout | undefined;
  private closed = false;
  private closeWhenSent: (() => void) | undefined;

  constructor(
    readonly deployment: number,
    index: number,
    readonly opts: RecorderOptions,
    private readonly key: TfwdKey,
    private readonly sensorId: number,
    private readonly t: LinkTimings,
    private readonly events: LinkEvents,
    private readonly log: Logger,
  ) {
    this.number = index + 1;
    this.label = `deployment ${deployment} recorder ${this.number} (${opts.host})`;
    this.udp = dgram.createSocket(opts.host.includes(':') ? 'udp6' : 'udp4');
    this.udp.on('error', (e) => this.log.warn(`${this.label}: UDP: ${e.message}`));
    this.encoder = new TfwdEncoder({ sensorId, deploymentId: deployment, key, mtu: t.mtu }, (d, n) => this.emit(d, n));
  }

  start(): void {
    if (this.opts.controlPort === 0) {
      // No control connection: always taken as up (static interest only, no failover detection).
      this.up = true;
      this.upSince = Date.now();
      this.events.up(this);
    } else this.connect();
    if (this.opts.feedPort !== 0) this.connectFeed();
    this.timer = setInterval(() => this.beat(), this.t.heartbeatMs);
  }

  /** Adds one IP packet (capture time µs) to the next datagram; false when it was dropped. */
  send(ts: number, ip: Buffer): boolean {
    if (!this.up) {
      this.counts.dropped.down++;
      return false;
    }
    if (this.inFlight >= this.t.queueDatagrams) {
      this.counts.dropped.queue++;
      return false;
    }
    this.encoder.add(ts, ip);
    this.counts.packets++;
    this.counts.bytes += ip.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything one wake-up of the capture delivered goes in as few datagrams as fit.
      setImmediate(() => {
        this.flushScheduled = false;
        this.encoder.flush();
      });
    }
    return true;
  }

  /** TFWD sensor drops (the capture's kernel drops) carried in every header. */
  set sensorDrops(n: number) {
    this.encoder.sensorDrops = n;
  }

  /** One HEPv3 record for the recorder's SIP feed; dropped and counted while the feed is down and its queue full. */
  sendSip(hep: Buffer): void {
    if (this.opts.feedPort === 0) return;
    if (this.feedReady && this.feed !== undefined && this.feed.writableLength < FEED_QUEUE_BYTES) {
      this.feed.write(hep);
      this.counts.sip++;
      return;
    }
    if (this.feedQueued + hep.length > FEED_QUEUE_BYTES) {
      this.counts.dropped.feed++;
      return;
    }
    this.feedQueue.push(hep);
    this.feedQueued += hep.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.encoder.flush();
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.reconnect !== undefined) clearTimeout(this.reconnect);
    if (this.feedRetry !== undefined) clearTimeout(this.feedRetry);
    this.ctl?.destroy();
    this.feed?.end();
    setTimeout(() => this.feed?.destroy(), 500).unref();
    // The last datagrams handed to the socket are sent before it closes (closing at once cancels them).
    if (this.inFlight === 0) this.udp.close();
    else {
      this.closeWhenSent = () => this.udp.close();
      setTimeout(() => {
        const c = this.closeWhenSent;
        this.closeWhenSent = undefined;
        c?.();
      }, 500).unref();
    }
  }

  private emit(d: Buffer, _packets: number): void {
    this.inFlight++;
    this.udp.send(d, this.opts.port, this.opts.host, () => {
      this.inFlight--;
      if (this.inFlight === 0 && this.closeWhenSent !== undefined) {
        const c = this.closeWhenSent;
        this.closeWhenSent = undefined;
        c();
      }
    });
  }

  private connect(): void {
    if (this.closed) return;
    const sock = net.connect({ host: this.opts.host, port: this.opts.controlPort });
    this.ctl = sock;
    // A connect or a hello that is never answered counts as silence too (beat() gives up on it after deadAfterMs).
    this.lastHeard = Date.now();
    sock.setNoDelay(true);
    const nonce = newNonce();
    let authed = false;
    const fail = (why: string): void => {
      if (this.ctl !== sock) return;
      this.ctl = undefined;
      sock.destroy();
      if (authed) this.goDown(why);
      if (!this.closed) this.reconnect = setTimeout(() => this.connect(), this.t.reconnectMs);
    };
    sock.once('connect', () => {
      const time = Date.now();
      sock.write(encodeControl({ t: 'hello', v: FORWARD_CONTROL_VERSION, deployment: this.deployment, sensor: this.sensorId, keyId: this.key.id, time, nonce, mac: macOf(this.key, helloText(this.deployment, this.sensorId, time, nonce)) }));
      this.lastHeard = Date.now();
    });
    const reader = new LineReader((line) => {
      if (this.ctl !== sock) return;
      this.lastHeard = Date.now();
      const m = parseControl(line);
      if (m === undefined) return fail('malformed message from the recorder');
      if (!authed) {
        if (m.t === 'refused') {
          this.counts.refusals++;
          this.log.error(`${this.label} refused this forwarder: ${m.reason}`);
          return fail(`refused: ${m.reason}`);
        }
        if (m.t !== 'welcome' || !macMatches(this.key, welcomeText(this.deployment, this.sensorId, m.recorder, nonce, m.nonce), m.mac)) {
          this.log.error(`${this.label}: the recorder did not prove it holds the deployment's key; not sending to it`);
          return fail('recorder not authenticated');
        }
        authed = true;
        this.recorderId = m.recorder;
        this.up = true;
        this.upSince = Date.now();
        this.log.info(`${this.label} is up (recorder id ${m.recorder})`);
        this.events.up(this);
        return;
      }
      if (m.t === 'interest') this.events.interest(this, m.calls);
      else if (m.t === 'call') this.events.call(this, { call: m.call, endpoints: m.endpoints, rank: m.rank });
      else if (m.t === 'end') this.events.end(this, m.call);
    });
    sock.on('data', (c: Buffer) => {
      if (!reader.push(c)) fail('oversize line from the recorder');
    });
    sock.on('error', (e) => fail(e.message));
    sock.on('close', () => fail('connection closed'));
  }

  private goDown(why: string): void {
    if (!this.up) return;
    this.up = false;
    this.log.warn(`${this.label} is down: ${why}`);
    this.events.down(this, why);
  }

  private beat(): void {
    const now = Date.now();
    this.encoder.heartbeat(now * 1000);
    if (this.opts.controlPort === 0 || this.ctl === undefined) return;
    if (now - this.lastHeard > this.t.deadAfterMs) {
      const s = this.ctl;
      this.ctl = undefined;
      s.destroy();
      this.goDown(`no heartbeat for ${now - this.lastHeard} ms`);
      this.reconnect = setTimeout(() => this.connect(), this.t.reconnectMs);
      return;
    }
    if (this.ctl.writableLength < 1 << 16) this.ctl.write(encodeControl({ t: 'hb' }));
  }

  private connectFeed(): void {
    if (this.closed) return;
    const sock = net.connect({ host: this.opts.host, port: this.opts.feedPort });
    this.feed = sock;
    sock.setNoDelay(true);
    sock.once('connect', () => {
      this.feedReady = true;
      for (const b of this.feedQueue) {
        sock.write(b);
        this.counts.sip++;
      }
      this.feedQueue = [];
      this.feedQueued = 0;
    });
    // The feed sends nothing back that the agent needs.
    sock.on('data', () => undefined);
    const retry = (): void => {
      if (this.feed !== sock) return;
      this.feed = undefined;
      this.feedReady = false;
      sock.destroy();
      if (!this.closed) this.feedRetry = setTimeout(() => this.connectFeed(), this.t.reconnectMs);
    };
    sock.on('error', retry);
    sock.on('close', retry);
  }
}
