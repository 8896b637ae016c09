/**
 * A hostile peer's side of TCP and UDP, for end-to-end tests of the listeners: connect, send (all at once or
 * dribbled), and watch who closes the connection and when. What the server does is observed from outside only.
 */
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

export interface TcpOutcome {
  /** 'end': the server sent FIN; 'reset': it reset the connection; 'timeout': still open when we gave up. */
  how: 'end' | 'reset' | 'timeout';
  /** From the connection being established to its close (or to giving up). */
  ms: number;
  /** Bytes the server sent back. */
  received: Buffer;
  /** Bytes of `send` written before the connection closed. */
  written: number;
}

export interface TcpExchangeOptions {
  port: number;
  host?: string;
  /** Local address to connect from (127.0.0.x: another peer as far as per-IP limits and allow-lists go). */
  localAddress?: string;
  /** Written in order; with gapMs, each chunk after a pause (a dribble). */
  send?: Array<Buffer | string>;
  gapMs?: number;
  /** Half-close our side after sending. */
  end?: boolean;
  /** How long to wait for the server to close, after the last write. */
  waitMs: number;
}

/** Connects, sends, and reports how and when the server ended the connection. */
export function tcpExchange(o: TcpExchangeOptions): Promise<TcpOutcome> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port: o.port, host: o.host ?? '127.0.0.1', ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}) });
    const received: Buffer[] = [];
    let t0 = 0;
    let how: TcpOutcome['how'] | undefined;
    let written = 0;
    let timer: NodeJS.Timeout | undefined;
    let connected = false;
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      resolve({ how: how ?? 'end', ms: Date.now() - t0, received: Buffer.concat(received), written });
    };
    sock.on('data', (d: Buffer) => received.push(d));
    sock.on('end', () => {
      how ??= 'end';
    });
    sock.on('error', (e: Error) => {
      if (!connected) return reject(e);
      how ??= 'reset';
    });
    sock.on('close', finish);
    sock.on('connect', () => {
      connected = true;
      t0 = Date.now();
      void (async () => {
        for (const chunk of o.send ?? []) {
          if (sock.destroyed || how !== undefined) break;
          if (o.gapMs !== undefined && written > 0) await new Promise((r) => setTimeout(r, o.gapMs));
          if (sock.destroyed || how !== undefined) break;
          sock.write(chunk);
          written += chunk.length;
        }
        if (o.end === true && !sock.destroyed) sock.end();
        if (done) return;
        timer = setTimeout(() => {
          how ??= 'timeout';
          sock.destroy();
        }, o.waitMs);
      })();
    });
  });
}

/** An open connection we hold (a half-open peer, one of a flood), and how it ends. */
export interface HeldConnection {
  socket: net.Socket;
  /** Resolves when the socket closes: how long it was open, ms, and whether the server ended it (not close()). */
  closed: Promise<{ ms: number; byServer: boolean }>;
  /** Closes it from our side. */
  close(): void;
  /** The socket has closed (by either side). */
  isClosed(): boolean;
}

/** Opens a connection and keeps it, sending nothing. Rejects when the connection cannot be made. */
export function holdConnection(port: number, opts: { host?: string; localAddress?: string } = {}): Promise<HeldConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: opts.host ?? '127.0.0.1', ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) });
    let byUs = false;
    let isClosed = false;
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined); // a reset by the server is one way of closing
      const t0 = Date.now();
      const closed = new Promise<{ ms: number; byServer: boolean }>((r) =>
        socket.once('close', () => {
          isClosed = true;
          r({ ms: Date.now() - t0, byServer: !byUs });
        }),
      );
      resolve({
        socket,
        closed,
        isClosed: () => isClosed,
        close: () => {
          byUs = true;
          socket.destroy();
        },
      });
    });
  });
}

/** Sends each datagram from one socket (optionally bound to `from`) and closes it once they are all out. */
export async function sendDatagrams(port: number, datagrams: readonly Buffer[], opts: { host?: string; from?: string } = {}): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port: 0, ...(opts.from !== undefined ? { address: opts.from } : {}) }, () => {
      s.off('error', reject);
      resolve();
    });
  });
  for (const d of datagrams) {
    await new Promise<void>((resolve, reject) => s.send(d, port, opts.host ?? '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  await new Promise<void>((r) => s.close(() => r()));
}

export interface SClientResult {
  /** Exit code of openssl s_client (null: we killed it because the server kept the connection open). */
  code: number | null;
  /** The server closed the connection within the wait (s_client exited by itself). */
  closedByServer: boolean;
  ms: number;
  output: string;
}

/**
 * `openssl s_client` against a TLS port: an independent TLS client. Without `cert` it offers no client
 * certificate. stdin is empty and -ign_eof keeps the session open, so s_client ends only when the server closes.
 */
export function opensslClient(port: number, opts: { ca: string; cert?: string; key?: string; waitMs: number; host?: string }): Promise<SClientResult> {
  const args = ['s_client', '-connect', `${opts.host ?? '127.0.0.1'}:${port}`, '-servername', 'localhost', '-CAfile', opts.ca, '-verify_return_error', '-ign_eof', '-quiet'];
  if (opts.cert !== undefined && opts.key !== undefined) args.push('-cert', opts.cert, '-key', opts.key);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let killed = false;
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGTERM');
    }, opts.waitMs);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: killed ? null : code, closedByServer: !killed, ms: Date.now() - t0, output: out });
    });
  });
}
