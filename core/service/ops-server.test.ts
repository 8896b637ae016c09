import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Ajv2020 from 'ajv/dist/2020';
import { ErrorCodes, isTaplineError } from '../errors';
import { memoryLogger } from '../log';
import { PromMetrics } from '../metrics';
import opsSchema from '../../schema/defs/ops.json';
import { pathKeyword } from '../config/path-keyword';
import { OPS_DEFAULTS, type OpsOptions } from './ops-options';
import { OpsServer, type Readiness } from './ops-server';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection (agent: false), from `localAddress` when given. */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, localAddress: opts.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A raw TCP client: what it received and when it was closed. */
function rawClient(port: number, host = '127.0.0.1', localAddress?: string): Promise<{ sock: net.Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let data = '';
    const sock = net.connect({ port, host, localAddress });
    const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now() - t0)));
    sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
    sock.on('error', () => undefined); // resets are what some tests expect
    sock.once('connect', () => resolve({ sock, received: () => data, closed }));
    sock.once('error', reject);
  });
}

const TOKEN = 'c0ffee-0123456789abcdef-token';

describe('ops endpoint (/metrics, /healthz, /readyz over real HTTP)', () => {
  const servers: OpsServer[] = [];
  let tmp: string;
  let metrics: PromMetrics;
  let ready: Readiness;
  let mem: ReturnType<typeof memoryLogger>;

  async function start(opts: Partial<OpsOptions> = {}, extra: { readiness?: () => Readiness | Promise<Readiness>; lagWindowMs?: number } = {}): Promise<OpsServer> {
    const s = await OpsServer.listen({ port: 0, ...opts }, { metrics, log: mem.log, readiness: extra.readiness ?? (() => ready), lagWindowMs: extra.lagWindowMs }, tmp);
    servers.push(s);
    return s;
  }

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-ops-'));
    metrics = new PromMetrics();
    ready = { ready: true, reasons: [] };
    mem = memoryLogger('debug');
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('GET /metrics serves the Prometheus text of the service registry, and counts its own requests', async () => {
    metrics.drop('queue', 'full', 'live-eth0', 3);
    const s = await start();
    assert.equal(s.address.host, '127.0.0.1', 'loopback by default');
    const r = await request(`${s.url}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], metrics.contentType);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.match(r.body, /^# TYPE tapline_drops_total counter$/m);
    assert.match(r.body, /^tapline_drops_total\{stage="queue",reason="full",source="live-eth0"\} 3$/m);
    await request(`${s.url}/nope`);
    const again = await request(`${s.url}/metrics?x=1`);
    assert.match(again.body, /^tapline_ops_requests_total\{route="\/metrics",code="200"\} 1$/m, 'the first scrape, counted before this one');
    assert.match(again.body, /^tapline_ops_requests_total\{route="other",code="404"\} 1$/m);
  });

  it('GET /healthz answers 200 with pid, uptime and event-loop lag; a blocked loop shows in the lag', async () => {
    const s = await start({}, { lagWindowMs: 300 });
    const r = await request(`${s.url}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const h = JSON.parse(r.body) as { status: string; pid: number; uptimeSec: number; eventLoopLag: Record<string, number> };
    assert.equal(h.status, 'ok');
    assert.equal(h.pid, process.pid);
    assert.ok(h.uptimeSec >= 0 && h.uptimeSec < 5);
    for (const k of ['windowSec', 'p50Ms', 'p99Ms', 'maxMs', 'currentMaxMs', 'nowMs']) assert.equal(typeof h.eventLoopLag[k], 'number', k);
    const until = Date.now() + 250;
    while (Date.now() < until); // block the event loop for 250 ms
    await sleep(30); // the lag sampler's timer runs once the loop is free again
    const after = JSON.parse((await request(`${s.url}/healthz`)).body) as { eventLoopLag: { maxMs: number; currentMaxMs: number; windowSec: number } };
    assert.equal(after.eventLoopLag.windowSec, 0.3);
    // In the window that just closed or in the one in progress, depending on which timer ran first after the block.
    const seen = Math.max(after.eventLoopLag.maxMs, after.eventLoopLag.currentMaxMs);
    assert.ok(seen >= 200, `a 250 ms block shows as lag (${seen} ms)`);
    assert.ok(h.eventLoopLag.p50Ms! < 50, `an idle loop shows little lag (p50 ${h.eventLoopLag.p50Ms} ms)`);
  });

  it('GET /readyz is 200 only when the service says ready; 503 with the reasons otherwise, on a throw and on a timeout', async () => {
    ready = { ready: false, reasons: ['source hep-udp is not listening', 'storage queue 97% full'] };
    const s = await start();
    const no = await request(`${s.url}/readyz`);
    assert.equal(no.status, 503);
    assert.deepEqual(JSON.parse(no.body), { ready: false, reasons: ['source hep-udp is not listening', 'storage queue 97% full'] });
    ready = { ready: true, reasons: [] };
    const yes = await request(`${s.url}/readyz`);
    assert.equal(yes.status, 200);
    assert.deepEqual(JSON.parse(yes.body), { ready: true, reasons: [] });

    const throwing = await start({}, { readiness: () => { throw new Error('kernel not built'); } });
    const t = await request(`${throwing.url}/readyz`);
    assert.equal(t.status, 503);
    assert.deepEqual(JSON.parse(t.body).reasons, ['the readiness check failed: kernel not built']);

    const hanging = await start({ readinessTimeoutMs: 100 }, { readiness: () => new Promise<Readiness>(() => undefined) });
    const t0 = Date.now();
    const h = await request(`${hanging.url}/readyz`);
    assert.equal(h.status, 503);
    assert.ok(Date.now() - t0 < 1000);
    assert.match(JSON.parse(h.body).reasons[0], /did not answer within 100 ms/);

    const mute = await start({}, { readiness: async () => ({ ready: false, reasons: [] }) });
    assert.deepEqual(JSON.parse((await request(`${mute.url}/readyz`)).body).reasons, ['not ready (no reason given)']);
  });

  it('HEAD answers like GET without a body; other paths are 404, other methods 405, request bodies 413 (connection closed)', async () => {
    const s = await start();
    const head = await request(`${s.url}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(Number(head.headers['content-length']) > 0);
    for (const p of ['/', '/metrics/', '/healthz/x', '/favicon.ico', '/%6detrics']) assert.equal((await request(s.url + p)).status, 404, p);
    const dots = await rawClient(s.address.port);
    dots.sock.write('GET /../metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await dots.closed;
    assert.match(dots.received(), /^HTTP\/1\.1 404 /, 'paths are not normalized into a route');
    const post = await request(`${s.url}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await request(`${s.url}/readyz`, { method: 'DELETE' })).status, 405);
    const body = await request(`${s.url}/metrics`, { method: 'POST', body: 'x'.repeat(1000) });
    assert.equal(body.status, 413);
    assert.equal(body.headers.connection, 'close');
    const chunked = await request(`${s.url}/healthz`, { headers: { 'transfer-encoding': 'chunked' }, body: 'abc' });
    assert.equal(chunked.status, 413);
    assert.match(await metrics.text(), /^tapline_ops_refused_total\{reason="body"\} 2$/m);
  });

  it('with a token, every route needs "Authorization: Bearer <token>" (401 otherwise, whatever the length of the guess)', async () => {
    const s = await start({ token: TOKEN });
    for (const p of ['/metrics', '/healthz', '/readyz', '/nope']) {
      const r = await request(s.url + p);
      assert.equal(r.status, 401, p);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="tapline-ops"');
    }
    const bad = ['Bearer wrong', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${'a'.repeat(5000)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer '];
    for (const a of bad) assert.equal((await request(`${s.url}/healthz`, { headers: { authorization: a } })).status, 401, a.slice(0, 40));
    assert.equal((await request(`${s.url}/healthz`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.equal((await request(`${s.url}/metrics`, { headers: { authorization: `bearer  ${TOKEN}` } })).status, 200, 'scheme case-insensitive');
    assert.match(await metrics.text(), /^tapline_ops_refused_total\{reason="token"\} 11$/m);
  });

  it('reads the token from a file (relative to the config folder, whitespace trimmed) and warns when others can read it', async () => {
    fs.writeFileSync(path.join(tmp, 'ops.token'), `${TOKEN}\n`, { mode: 0o644 });
    const s = await start({ tokenFile: 'ops.token' });
    assert.equal((await request(`${s.url}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.equal((await request(`${s.url}/readyz`)).status, 401);
    assert.ok(mem.records.some((r) => r.level === 'warn' && /ops\.token can be read by other users \(mode 644\)/.test(r.msg)));
    const warnings = mem.records.filter((r) => r.level === 'warn').length;
    fs.chmodSync(path.join(tmp, 'ops.token'), 0o640); // root:tapline 0640 is the intended setup
    s.reload({ port: 0, tokenFile: 'ops.token' }, tmp);
    assert.equal(mem.records.filter((r) => r.level === 'warn').length, warnings, 'group-readable is fine');
    assert.ok(!mem.records.some((r) => JSON.stringify(r).includes(TOKEN)), 'the token is never logged');
  });

  it('refuses options that cannot work: short token, token and tokenFile together, an unreadable token file, a bad CIDR', async () => {
    const bad: Array<[Partial<OpsOptions>, RegExp]> = [
      [{ token: 'short' }, /at least 16/],
      [{ token: TOKEN, tokenFile: 'x' }, /not both/],
      [{ tokenFile: 'missing.token' }, /missing\.token/],
      [{ allow: ['10.0.0.0/40'] }, /10\.0\.0\.0\/40/],
    ];
    for (const [o, msg] of bad) {
      await assert.rejects(start(o), (e: unknown) => isTaplineError(e, ErrorCodes.OPS_CONFIG) && msg.test(e.message), JSON.stringify(o));
    }
  });

  it('the allow-list disconnects other addresses at accept, before any HTTP byte', async () => {
    const s = await start({ host: '127.0.0.1', allow: ['127.0.0.1/32'] });
    assert.equal((await request(`${s.url}/healthz`, { localAddress: '127.0.0.1' })).status, 200);
    await assert.rejects(request(`${s.url}/healthz`, { localAddress: '127.0.0.2' }), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || e.code === 'EPIPE' || /socket hang up/.test(e.message));
    const raw = await rawClient(s.address.port, '127.0.0.1', '127.0.0.3');
    raw.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await raw.closed;
    assert.equal(raw.received(), '', 'not a byte for a refused client');
    assert.match(await metrics.text(), /^tapline_ops_refused_total\{reason="allow-list"\} 2$/m);
  });

  it('on a dual-stack socket, IPv4 clients match IPv4 entries and IPv6 clients IPv6 ones', async () => {
    const s = await start({ host: '::', allow: ['127.0.0.0/8'] });
    const port = s.address.port;
    assert.equal((await request(`http://127.0.0.1:${port}/healthz`)).status, 200);
    await assert.rejects(request(`http://[::1]:${port}/healthz`));
    const both = await start({ host: '::' });
    assert.equal((await request(`http://127.0.0.1:${both.address.port}/healthz`)).status, 200);
    assert.equal((await request(`http://[::1]:${both.address.port}/healthz`)).status, 200, 'the default allows loopback of both families');
  });

  it('reload() swaps the allow-list and token without rebinding, and says when a restart is needed', async () => {
    const s = await start({ allow: ['127.0.0.1/32'] });
    const port = s.address.port;
    await assert.rejects(request(`${s.url}/healthz`, { localAddress: '127.0.0.2' }));
    assert.deepEqual(s.reload({ port: 0, allow: ['127.0.0.0/8'], token: TOKEN }), { restartNeeded: false });
    assert.equal((await request(`${s.url}/healthz`, { localAddress: '127.0.0.2' })).status, 401);
    assert.equal((await request(`${s.url}/healthz`, { localAddress: '127.0.0.2', headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.deepEqual(s.reload({ allow: ['127.0.0.0/8'], port: port + 1 }), { restartNeeded: true });
    assert.equal(s.address.port, port);
    assert.throws(() => s.reload({ allow: ['nonsense'] }), (e: unknown) => isTaplineError(e, ErrorCodes.OPS_CONFIG));
    assert.equal((await request(`${s.url}/healthz`, { localAddress: '127.0.0.2' })).status, 200, 'a failed reload keeps the previous options');
  });

  it('slow clients: headers trickled past headersTimeoutMs get 408 and are disconnected; a silent connection too', async () => {
    const s = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const slow = await rawClient(s.address.port);
    slow.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => slow.sock.writable && slow.sock.write('X-Drip: 1\r\n'), 50);
    const slowMs = await slow.closed;
    clearInterval(drip);
    assert.match(slow.received(), /^HTTP\/1\.1 408 /);
    assert.ok(slowMs >= 250 && slowMs < 1500, `disconnected after ${slowMs} ms`);
    const silent = await rawClient(s.address.port);
    const silentMs = await silent.closed;
    assert.ok(silentMs >= 250 && silentMs < 1500, `silent connection closed after ${silentMs} ms`);
    assert.match(await metrics.text(), /^tapline_ops_refused_total\{reason="timeout"\} 2$/m);
  });

  it('malformed requests get 400 and are disconnected; oversized headers 431', async () => {
    const s = await start();
    const junk = await rawClient(s.address.port);
    junk.sock.write('HELLO THERE\r\n\r\n');
    await junk.closed;
    assert.match(junk.received(), /^HTTP\/1\.1 400 /);
    const big = await rawClient(s.address.port);
    big.sock.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`);
    await big.closed;
    assert.match(big.received(), /^HTTP\/1\.1 431 /);
  });

  it('maxConnections: connections beyond the limit are closed at accept; a slot freed is usable again', async () => {
    const s = await start({ maxConnections: 2 });
    const a = await rawClient(s.address.port);
    const b = await rawClient(s.address.port);
    await sleep(50);
    const c = await rawClient(s.address.port);
    const cMs = await c.closed;
    assert.ok(cMs < 500, `third connection closed after ${cMs} ms`);
    assert.equal(c.received(), '');
    a.sock.destroy();
    await a.closed;
    await sleep(50);
    assert.equal((await request(`${s.url}/healthz`)).status, 200);
    b.sock.destroy();
    assert.match(await metrics.text(), /^tapline_ops_refused_total\{reason="max-connections"\} 1$/m);
  });

  it('close() is prompt with a kept-alive connection open, and idempotent; a taken port is TAPLINE_ERR_OPS_LISTEN', async () => {
    const s = await start({ keepAliveTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(`${s.url}/healthz`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    await assert.rejects(OpsServer.listen({ port: s.address.port }, { metrics, log: mem.log, readiness: () => ready }), (e: unknown) => isTaplineError(e, ErrorCodes.OPS_LISTEN) && /EADDRINUSE/.test(e.message));
    const t0 = Date.now();
    await Promise.all([s.close(), s.close()]);
    assert.ok(Date.now() - t0 < 1000, `closed in ${Date.now() - t0} ms`);
    agent.destroy();
  });

  it('schema/defs/ops.json: its defaults are the code defaults; it rejects what the server would refuse', () => {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true });
    ajv.addKeyword(pathKeyword); // tokenFile is marked as a file the config check looks for
    const validate = ajv.compile(opsSchema);
    const filled: Record<string, unknown> = {};
    assert.ok(validate(filled), JSON.stringify(validate.errors));
    assert.deepEqual(filled, { ...OPS_DEFAULTS });
    assert.ok(validate({ host: '0.0.0.0', port: 9477, allow: ['10.0.0.0/8', '::1'], tokenFile: '/etc/tapline/ops.token' }));
    const bad: unknown[] = [{ port: 70000 }, { allow: [] }, { token: TOKEN, tokenFile: 'f' }, { token: 'short' }, { nope: 1 }, { allow: ['example.com'] }, { maxConnections: 0 }, { headersTimeoutMs: 5 }];
    for (const b of bad) assert.equal(validate(structuredClone(b)), false, JSON.stringify(b));
  });
});
