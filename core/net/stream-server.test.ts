import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { makeTestPki, opensslUnavailable, type TestPki } from '../../test/tls-pki';
import { ErrorCodes, isTaplineError } from '../errors';
import { AllowList, LOOPBACK_ONLY } from './allow-list';
import { DatagramServer } from './datagram-server';
import { StreamServer, type StreamConnection, type StreamHandler, type StreamServerOptions } from './stream-server';

/** A test protocol: messages are lines; a line "ping" is answered "pong", a line "flood" answers 1 MiB. */
class LineHandler implements StreamHandler {
  static all: LineHandler[] = [];
  lines: string[] = [];
  partial = '';
  ended: string[] = [];
  closedWith: string | undefined;
  constructor(readonly conn: StreamConnection) {
    LineHandler.all.push(this);
  }
  get buffered(): number {
    return this.partial.length;
  }
  get messages(): number {
    return this.lines.length;
  }
  data(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('latin1')).split('\n');
    this.partial = parts.pop() as string;
    for (const l of parts) {
      this.lines.push(l);
      if (l === 'ping') this.conn.write('pong\n');
      if (l === 'flood') for (let i = 0; i < 32; i++) this.conn.write(Buffer.alloc(32 * 1024, 120));
      if (l === 'bye') this.conn.close('handler-said-bye');
    }
  }
  end(reason: string): void {
    this.ended.push(reason);
  }
  closed(reason: string): void {
    this.closedWith = reason;
  }
}

interface Harness {
  server: StreamServer;
  port: number;
  drops: string[];
  counts: number[];
  /** onClosed's reasons, in order. */
  closes: string[];
}

const servers: Array<{ stop(): Promise<void> }> = [];
const sockets: net.Socket[] = [];

async function serve(over: Partial<StreamServerOptions> = {}): Promise<Harness> {
  const drops: string[] = [];
  const counts: number[] = [];
  const closes: string[] = [];
  const server = new StreamServer({
    name: 'test',
    host: '127.0.0.1',
    port: 0,
    allow: AllowList.parse(LOOPBACK_ONLY),
    maxConnections: 16,
    maxConnectionsPerIp: 16,
    idleTimeoutMs: 0,
    messageTimeoutMs: 5000,
    maxMessageBytes: 4096,
    keepAliveMs: 1000,
    handler: (c) => new LineHandler(c),
    onDrop: (stage, reason) => drops.push(`${stage}/${reason}`),
    onConnectionCount: (n) => counts.push(n),
    onClosed: (reason) => closes.push(reason),
    ...over,
  });
  servers.push(server);
  const a = await server.start();
  return { server, port: a.port, drops, counts, closes };
}

function connect(port: number, opts: Partial<net.TcpNetConnectOpts> = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, ...opts }, () => resolve(s));
    sockets.push(s);
    s.on('error', reject);
  });
}

/** Resolves when the peer (the server) has closed the socket, with the time it took from `since`. */
function closedBy(s: net.Socket, since = Date.now()): Promise<number> {
  return new Promise((resolve) => {
    s.on('error', () => undefined);
    if (s.destroyed) return resolve(Date.now() - since);
    s.on('close', () => resolve(Date.now() - since));
    s.resume();
  });
}

async function until(test: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('feed listeners: hardened TCP/TLS stream server and UDP datagram server', function () {
  this.timeout(30_000);
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    LineHandler.all = [];
  });

  it('hands admitted connections to a handler and answers through it', async () => {
    const h = await serve();
    const c = await connect(h.port);
    const got = new Promise<string>((r) => c.once('data', (d) => r(d.toString())));
    c.write('hello\npi');
    c.write('ng\n');
    assert.equal(await got, 'pong\n');
    assert.deepEqual(LineHandler.all[0]?.lines, ['hello', 'ping']);
    assert.equal(LineHandler.all[0]?.conn.remoteAddress, '127.0.0.1');
    assert.deepEqual(h.server.stats(), { connections: 1, peers: 1, accepted: 1, refused: {}, closed: {}, bufferedBytes: 0 });
  });

  it('refuses peers outside the allow-list before reading a byte (drop stage auth)', async () => {
    const h = await serve({ allow: AllowList.parse(['127.0.0.1/32']) });
    const c = await connect(h.port, { localAddress: '127.0.0.2' });
    c.write('hello\n');
    await closedBy(c);
    await until(() => h.drops.length === 1);
    assert.deepEqual(h.drops, ['auth/ip-not-allowed']);
    assert.deepEqual(h.server.stats().refused, { 'ip-not-allowed': 1 });
    assert.equal(LineHandler.all.length, 0, 'no handler was created');
  });

  it('limits connections in total and per IP; a flood of 300 connects is refused and counted, never held', async () => {
    const h = await serve({ maxConnections: 10, maxConnectionsPerIp: 4 });
    const kept = [...(await Promise.all([1, 2, 3, 4].map(() => connect(h.port)))), ...(await Promise.all([1, 2, 3, 4].map(() => connect(h.port, { localAddress: '127.0.0.2' }))))];
    await until(() => h.server.stats().connections === 8);
    const perIp = await connect(h.port);
    await closedBy(perIp);
    assert.equal(h.server.stats().refused['too-many-connections-per-ip'], 1);
    const flood = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => connect(h.port, { localAddress: `127.0.1.${1 + (i % 200)}` })));
    let maxSeen = 0;
    await until(() => {
      const s = h.server.stats();
      maxSeen = Math.max(maxSeen, s.connections);
      return s.accepted + Object.values(s.refused).reduce((a, b) => a + b, 0) === 8 + 1 + 300;
    }, 15_000, 'every connect to be accepted or refused');
    const s = h.server.stats();
    assert.equal(s.connections, 10);
    assert.ok(maxSeen <= 10 && Math.max(...h.counts) <= 10, `never more than 10 open (saw ${maxSeen})`);
    assert.equal(s.accepted, 10);
    assert.equal(s.refused['too-many-connections'], 300 - 2);
    assert.equal(h.drops.filter((d) => d === 'limit/too-many-connections').length, 298);
    assert.equal(flood.filter((f) => f.status === 'fulfilled').length, 300, 'the kernel completes the handshakes; the server closes them at once');
    for (const k of kept) k.destroy();
    for (const f of flood) if (f.status === 'fulfilled') f.value.destroy();
    await until(() => h.server.stats().connections === 0 && h.server.stats().peers === 0, 5000, 'the tables to empty');
  });

  it('closes an idle connection on time and counts it', async () => {
    const h = await serve({ idleTimeoutMs: 300 });
    const c = await connect(h.port);
    const took = await closedBy(c);
    assert.ok(took >= 250 && took < 1500, `closed after ${took} ms`);
    assert.deepEqual(h.server.stats().closed, { 'idle-timeout': 1 });
    assert.deepEqual(h.drops, [], 'nothing was lost');
    await until(() => h.closes.length === 1);
    assert.deepEqual(h.closes, ['idle-timeout'], 'the close is reported with its reason (a metric counts it)');
  });

  it('closes a half-open message and a slow-loris drip at the message timeout, not later (drop stage limit)', async () => {
    const h = await serve({ messageTimeoutMs: 400, idleTimeoutMs: 5000 });
    const half = await connect(h.port);
    half.write('started but never fin');
    const drip = await connect(h.port);
    const t0 = Date.now();
    const dripping = setInterval(() => drip.writable && drip.write('x'), 50);
    try {
      const [a, b] = await Promise.all([closedBy(half, t0), closedBy(drip, t0)]);
      for (const took of [a, b]) assert.ok(took >= 350 && took < 1500, `closed after ${took} ms`);
    } finally {
      clearInterval(dripping);
    }
    assert.deepEqual(h.server.stats().closed, { 'message-timeout': 2 });
    assert.deepEqual(h.drops, ['limit/message-timeout', 'limit/message-timeout']);
  });

  it('keeps a steady feeder whose messages each complete in time, even with partial messages between reads', async () => {
    // Each message takes ~300 ms (< the 700 ms timeout); the connection lives 8 × 300 ms, far past one timeout.
    const h = await serve({ messageTimeoutMs: 700 });
    const c = await connect(h.port);
    for (let i = 0; i < 8; i++) {
      c.write(`msg${i}-first-half `);
      await sleep(150);
      c.write(`second-half\nnext-`);
      await sleep(150);
      c.write('x\n');
    }
    await until(() => LineHandler.all[0]?.lines.length === 16);
    assert.equal(h.server.stats().connections, 1);
    assert.deepEqual(h.server.stats().closed, {});
  });

  it('closes a connection whose message grows past maxMessageBytes', async () => {
    const h = await serve({ maxMessageBytes: 1000 });
    const c = await connect(h.port);
    c.write('y'.repeat(2000));
    await closedBy(c);
    assert.deepEqual(h.server.stats().closed, { 'message-too-large': 1 });
    assert.deepEqual(h.drops, ['limit/message-too-large']);
  });

  it('closes a peer that does not read what it is sent (bounded write backlog)', async () => {
    const h = await serve({ maxWriteBacklogBytes: 64 * 1024 });
    const c = await connect(h.port);
    c.pause();
    for (let i = 0; i < 20; i++) c.write('flood\n');
    await until(() => h.server.stats().closed['write-backlog'] === 1, 5000, 'write-backlog close');
    assert.deepEqual(h.drops, ['limit/write-backlog']);
  });

  it('a handler closes its own connection with its own reason; the server forgets it', async () => {
    const h = await serve();
    const c = await connect(h.port);
    c.write('bye\n');
    await closedBy(c);
    await until(() => h.server.stats().connections === 0);
    assert.deepEqual(h.server.stats().closed, { 'handler-said-bye': 1 });
    assert.equal(LineHandler.all[0]?.closedWith, 'handler-said-bye');
    assert.deepEqual(h.closes, ['handler-said-bye']);
  });

  it('stop() ends every connection (handlers report what is left), destroys peers that linger, and resolves', async () => {
    const h = await serve({ closeGraceMs: 300 });
    const polite = await connect(h.port);
    polite.on('end', () => polite.end());
    const stubborn = await connect(h.port, { allowHalfOpen: true });
    stubborn.on('error', () => undefined);
    polite.write('half a mess');
    await until(() => LineHandler.all.length === 2 && LineHandler.all[0]!.partial.length > 0);
    const t0 = Date.now();
    await h.server.stop();
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual(LineHandler.all.map((x) => x.ended), [['stopped'], ['stopped']]);
    assert.deepEqual(h.server.stats(), { connections: 0, peers: 0, accepted: 2, refused: {}, closed: { stopped: 2 }, bufferedBytes: 0 });
    await assert.rejects(connect(h.port), /ECONNREFUSED/);
  });

  it('a peer that half-closes has its incomplete message reported to the handler', async () => {
    const h = await serve();
    const c = await connect(h.port);
    c.end('complete\nincomplete');
    await closedBy(c);
    await until(() => h.server.stats().connections === 0);
    assert.deepEqual(LineHandler.all[0]?.ended, ['peer-closed']);
    assert.deepEqual(h.server.stats().closed, { 'peer-closed': 1 });
  });

  it('listens on IPv6 and dual stack; IPv4 peers of a dual-stack socket are matched as IPv4', async function () {
    const h6 = await serve({ host: '::1' }).catch(() => undefined);
    if (h6 === undefined) {
      console.warn('    [tapline] no IPv6 loopback here: IPv6 listener test skipped');
      this.skip();
    }
    const c6 = await connect(h6.port, { host: '::1' });
    await until(() => LineHandler.all.length === 1);
    assert.equal(LineHandler.all[0]?.conn.remoteAddress, '::1');
    c6.destroy();
    const dual = await serve({ host: '::', allow: AllowList.parse(['127.0.0.1/32']) });
    const c4 = await connect(dual.port, { host: '127.0.0.1' });
    await until(() => LineHandler.all.length === 2);
    assert.equal(LineHandler.all[1]?.conn.remoteAddress, '127.0.0.1');
    const refused = await connect(dual.port, { host: '::1' });
    await closedBy(refused);
    assert.deepEqual(dual.drops, ['auth/ip-not-allowed']);
    c4.destroy();
  });

  it('names a port it cannot bind and an unusable TLS configuration', async () => {
    const h = await serve();
    await assert.rejects(serve({ port: h.port }), (e: unknown) => isTaplineError(e, ErrorCodes.LISTENER_BIND) && /EADDRINUSE/.test(e.message));
    assert.throws(() => new StreamServer({ ...({} as StreamServerOptions), name: 'x', tls: { cert: 'c', key: 'k', requestClientCert: true } }), (e: unknown) => isTaplineError(e, ErrorCodes.LISTENER_CONFIG));
    await assert.rejects(serve({ tls: { cert: 'not a certificate', key: 'nor a key' } }), (e: unknown) => isTaplineError(e, ErrorCodes.LISTENER_CONFIG));
  });

  describe('TLS and mutual TLS', () => {
    let pki: TestPki | undefined;
    before(function () {
      const why = opensslUnavailable();
      if (why !== undefined) {
        console.warn(`    [tapline] ${why}: TLS listener tests skipped`);
        this.skip();
      }
      pki = makeTestPki();
    });
    after(() => pki?.cleanup());
    const read = (f: string): Buffer => fs.readFileSync(f);

    function tlsConnect(port: number, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
      return new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: read(pki!.ca), servername: 'localhost', ...opts }, () => resolve(s));
        sockets.push(s);
        s.on('error', reject);
      });
    }

    async function mtls(): Promise<Harness> {
      return serve({ tls: { cert: read(pki!.serverCert), key: read(pki!.serverKey), ca: read(pki!.ca), requestClientCert: true } });
    }

    it('serves TLS: bytes reach the handler decrypted', async () => {
      const h = await serve({ tls: { cert: read(pki!.serverCert), key: read(pki!.serverKey) } });
      const c = await tlsConnect(h.port);
      const got = new Promise<string>((r) => c.once('data', (d) => r(d.toString())));
      c.write('ping\n');
      assert.equal(await got, 'pong\n');
      assert.equal(LineHandler.all[0]?.conn.transport, 'tls');
    });

    it('mutual TLS: a client certificate from the trusted CA is admitted and named', async () => {
      const h = await mtls();
      const c = await tlsConnect(h.port, { cert: read(pki!.clientCert), key: read(pki!.clientKey) });
      c.write('hello\n');
      await until(() => LineHandler.all[0]?.lines.length === 1);
      assert.equal(LineHandler.all[0]?.conn.peerName, 'fe01.contoso.com');
      assert.deepEqual(h.drops, []);
    });

    it('mutual TLS: no client certificate, or one from another CA, is refused and counted (drop stage auth)', async () => {
      const h = await mtls();
      for (const opts of [{}, { cert: read(pki!.otherClientCert), key: read(pki!.otherClientKey) }]) {
        // TLS 1.3 completes the client's side first; the server then refuses before reading anything.
        const c = await tlsConnect(h.port, opts).catch(() => undefined);
        if (c !== undefined) {
          c.write('hello\n');
          await closedBy(c);
        }
      }
      await until(() => h.drops.length === 2);
      assert.deepEqual(h.drops, ['auth/client-certificate-missing', 'auth/client-certificate-invalid']);
      assert.deepEqual(h.server.stats().refused, { 'client-certificate-missing': 1, 'client-certificate-invalid': 1 });
      assert.equal(LineHandler.all.length, 0, 'no handler saw a byte');
      await until(() => h.server.stats().connections === 0);
      assert.deepEqual(h.closes, [], 'refusals are drops, not closes of admitted connections');
    });

    it('refuses plain text on the TLS port, and a handshake that never completes, on time', async () => {
      const h = await serve({ tls: { cert: read(pki!.serverCert), key: read(pki!.serverKey) }, handshakeTimeoutMs: 300 });
      const plain = await connect(h.port);
      plain.write('INVITE sip:bob@x SIP/2.0\r\n\r\n');
      await closedBy(plain);
      const silent = await connect(h.port);
      const took = await closedBy(silent);
      assert.ok(took >= 250 && took < 1500, `closed after ${took} ms`);
      assert.deepEqual(h.server.stats().refused, { 'tls-handshake-failed': 1, 'tls-handshake-timeout': 1 });
      assert.deepEqual(h.drops, ['auth/tls-handshake-failed', 'limit/tls-handshake-timeout']);
    });

    it('openssl s_client, an independent TLS client, gets through mutual TLS with its certificate and not without', async () => {
      const h = await mtls();
      const run = (args: string[]): Promise<string> =>
        new Promise((resolve) => {
          const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${h.port}`, '-CAfile', pki!.ca, '-verify_return_error', '-brief', '-nocommands', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
          let out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (out += d.toString()));
          p.stdin.write('ping\n');
          const kill = setTimeout(() => p.kill('SIGKILL'), 5000);
          p.on('close', () => {
            clearTimeout(kill);
            resolve(out);
          });
          setTimeout(() => p.stdin.end(), 700);
        });
      const ok = await run(['-cert', pki!.clientCert, '-key', pki!.clientKey]);
      assert.match(ok, /pong/);
      assert.deepEqual(LineHandler.all[0]?.lines, ['ping']);
      await run([]);
      await until(() => h.drops.length === 1);
      assert.deepEqual(h.drops, ['auth/client-certificate-missing']);
    });
  });

  describe('UDP', () => {
    const sockets4: dgram.Socket[] = [];
    afterEach(() => {
      for (const s of sockets4.splice(0)) s.close();
    });

    async function udp(over: { host?: string; allow?: string[]; max?: number } = {}): Promise<{ server: DatagramServer; port: number; got: string[]; drops: string[] }> {
      const got: string[] = [];
      const drops: string[] = [];
      const server = new DatagramServer({
        name: 'test udp',
        host: over.host ?? '127.0.0.1',
        port: 0,
        allow: AllowList.parse(over.allow ?? LOOPBACK_ONLY),
        ...(over.max !== undefined ? { maxDatagramBytes: over.max } : {}),
        onMessage: (m, peer) => got.push(`${peer.address} ${m.toString()}`),
        onDrop: (stage, reason) => drops.push(`${stage}/${reason}`),
      });
      const a = await server.start();
      servers.push(server);
      return { server, port: a.port, got, drops };
    }

    function send(port: number, msg: string | Buffer, from = '127.0.0.1', to = '127.0.0.1'): void {
      const s = dgram.createSocket(to.includes(':') ? 'udp6' : 'udp4');
      sockets4.push(s);
      s.bind({ address: from, port: 0 }, () => s.send(msg, port, to));
    }

    it('delivers datagrams from allowed peers; drops others (auth) and oversized ones (limit)', async () => {
      const u = await udp({ allow: ['127.0.0.1/32'], max: 100 });
      send(u.port, 'hello');
      send(u.port, 'intruder', '127.0.0.2');
      send(u.port, Buffer.alloc(200, 65));
      await until(() => u.got.length + u.drops.length === 3);
      assert.deepEqual(u.got, ['127.0.0.1 hello']);
      assert.deepEqual(u.drops.sort(), ['auth/ip-not-allowed', 'limit/datagram-too-large']);
      assert.deepEqual(u.server.stats(), { received: 1, refused: { 'ip-not-allowed': 1, 'datagram-too-large': 1 } });
    });

    it('listens on IPv6', async function () {
      const u = await udp({ host: '::1' }).catch(() => undefined);
      if (u === undefined) {
        console.warn('    [tapline] no IPv6 loopback here: IPv6 UDP test skipped');
        return this.skip();
      }
      send(u.port, 'six', '::1', '::1');
      await until(() => u.got.length === 1);
      assert.deepEqual(u.got, ['::1 six']);
    });
  });
});
