/**
 * A UDP listener for feeds (HEP over UDP) restricted by the same allow-list as the stream listener. UDP holds no
 * per-peer state, so the bounds are the datagram size and the kernel's receive buffer; datagrams from peers
 * outside the allow-list are dropped (stage 'auth') before anything reads them.
 */
import * as dgram from 'node:dgram';
import { isIP, type AddressInfo } from 'node:net';
import type { Logger } from '../contract';
import type { DropStage } from '../contracts/ingest';
import { ErrorCodes, TaplineError } from '../errors';
import type { AllowList } from './allow-list';
import { unmapIpv4 } from './ip-parse';
import { rateLimited } from '../log-rate-limit';

export interface DatagramPeer {
  address: string;
  port: number;
}

export interface DatagramServerOptions {
  name: string;
  host: string;
  port: number;
  allow: AllowList;
  /** Larger datagrams are dropped ('limit', 'datagram-too-large'). Default 65535. */
  maxDatagramBytes?: number;
  /** SO_RCVBUF for bursts (the kernel may cap it at net.core.rmem_max). */
  receiveBufferBytes?: number;
  onMessage(msg: Buffer, peer: DatagramPeer): void;
  onDrop(stage: DropStage, reason: string): void;
  log?: Logger;
}

export interface DatagramServerStats {
  received: number;
  refused: Record<string, number>;
}

export class DatagramServer {
  private socket: dgram.Socket | undefined;
  private received = 0;
  private readonly refused: Record<string, number> = {};
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: DatagramServerOptions) {
  }

  address(): AddressInfo | undefined {
    try {
      return this.socket?.address();
    } catch {
      return undefined;
    }
  }

  stats(): DatagramServerStats {
    return { received: this.received, refused: { ...this.refused } };
  }

  async start(): Promise<AddressInfo> {
    if (this.socket !== undefined) throw new Error(`${this.opts.name}: already started`);
    const type = isIP(this.opts.host) === 6 ? 'udp6' : 'udp4';
    const s = dgram.createSocket({ type, ...(this.opts.receiveBufferBytes !== undefined ? { recvBufferSize: this.opts.receiveBufferBytes } : {}) });
    this.socket = s;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.socket = undefined;
        s.close();
        reject(new TaplineError(ErrorCodes.LISTENER_BIND, `${this.opts.name}: cannot bind ${this.opts.host}:${this.opts.port}: ${e.code ?? e.message}`, { host: this.opts.host, port: this.opts.port }, e));
      };
      s.once('error', onError);
      s.bind({ address: this.opts.host, port: this.opts.port }, () => {
        s.off('error', onError);
        s.on('error', (e) => this.opts.log?.error(`${this.opts.name}: socket error`, { error: e.message }));
        resolve();
      });
    });
    const max = this.opts.maxDatagramBytes ?? 65535;
    s.on('message', (msg, rinfo) => {
      const address = unmapIpv4(rinfo.address);
      if (!this.opts.allow.allows(address)) return this.refuse('auth', 'ip-not-allowed', address);
      if (msg.length > max) return this.refuse('limit', 'datagram-too-large', address);
      this.received++;
      this.opts.onMessage(msg, { address, port: rinfo.port });
    });
    return s.address();
  }

  /** Sends a datagram from the listening socket (a reply: a SIP response goes back from the port the request reached). */
  send(data: Buffer, peer: DatagramPeer): void {
    const s = this.socket;
    if (s === undefined || this.stopping !== undefined) return;
    s.send(data, peer.port, peer.address, (e) => {
      if (e !== null && e !== undefined) this.warnFlood('send-failed', `${this.opts.name}: a reply could not be sent`, { peer: peer.address, error: e.message });
    });
  }

  private refuse(stage: DropStage, reason: string, peer: string): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    this.opts.onDrop(stage, reason);
    this.warnFlood(reason, `${this.opts.name}: dropped a datagram`, { reason, peer });
  }

  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      const s = this.socket;
      if (s === undefined) return resolve();
      s.close(() => resolve());
    });
    return this.stopping;
  }

  /** A peer's misbehaviour, at most one line per reason every 10 s (the rest are counted in the next line). */
  private warnFlood(reason: string, msg: string, fields: Record<string, unknown>): void {
    const log = this.opts.log;
    if (log !== undefined) rateLimited(log, `${this.opts.name}:${reason}`, { intervalMs: 10_000 }).warn(msg, fields);
  }
}
