/**
 * A stand-in collector for the tests of the peers: a UDP socket and a TCP listener on one port that keep what
 * arrives (bounded), so a test can see what Kamailio's siptrace sends before `tapline serve` takes its place.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { sleep } from './proc';

export interface Datagram {
  from: string;
  at: number;
  data: Buffer;
}

export interface TcpStream {
  from: string;
  /** Everything the peer sent on this connection, in order. */
  data: Buffer;
  closed: boolean;
}

export interface Collector {
  readonly port: number;
  readonly datagrams: Datagram[];
  readonly streams: TcpStream[];
  /** Resolves once `ok()` is true (checked every 50 ms); rejects after timeoutMs with `what`. */
  until(ok: () => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

/** What one collector keeps at most; past it, arrivals are dropped (a runaway sender cannot fill the memory). */
const MAX_BYTES = 16 * 1024 * 1024;

export async function startCollector(o: { port: number; host?: string; udp?: boolean; tcp?: boolean }): Promise<Collector> {
  const host = o.host ?? '127.0.0.1';
  const datagrams: Datagram[] = [];
  const streams: TcpStream[] = [];
  let bytes = 0;
  const room = (n: number): boolean => {
    if (bytes + n > MAX_BYTES) return false;
    bytes += n;
    return true;
  };
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  if (o.udp ?? true) {
    const s = dgram.createSocket('udp4');
    s.on('message', (data, r) => {
      if (room(data.length)) datagrams.push({ from: `${r.address}:${r.port}`, at: Date.now(), data });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(o.port, host, () => resolve());
    });
    udp = s;
  }
  if (o.tcp ?? true) {
    const srv = net.createServer((c) => {
      const st: TcpStream = { from: `${c.remoteAddress}:${c.remotePort}`, data: Buffer.alloc(0), closed: false };
      streams.push(st);
      sockets.add(c);
      c.on('data', (d) => {
        if (room(d.length)) st.data = Buffer.concat([st.data, d]);
      });
      c.on('error', () => undefined);
      c.on('close', () => {
        st.closed = true;
        sockets.delete(c);
      });
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(o.port, host, () => resolve());
    });
    tcp = srv;
  }
  return {
    port: o.port,
    datagrams,
    streams,
    async until(ok, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`collector on ${host}:${o.port}: ${what} not within ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    async close() {
      for (const c of sockets) c.destroy();
      await Promise.all([
        udp === undefined ? undefined : new Promise<void>((resolve) => udp.close(() => resolve())),
        tcp === undefined ? undefined : new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
