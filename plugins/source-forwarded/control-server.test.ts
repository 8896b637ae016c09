import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { CallEventInfo, CallMediaInfo } from '../../core/contracts/lifecycle';
import type { CallSummary } from '../../core/dialog/summary';
import { LifecycleHub } from '../../core/lifecycle';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { AllowList } from '../../core/net/allow-list';
import {
  encodeControl,
  FORWARD_CONTROL_VERSION,
  HELLO_SKEW_MS,
  helloText,
  LineReader,
  macMatches,
  macOf,
  MAX_LINE,
  newNonce,
  parseControl,
  welcomeText,
  type ControlMessage,
} from '../../core/net/forward-control';
import { TfwdKey, tfwdKeyring } from '../../core/net/tfwd';
import { sample } from '../../test/prom-text';
import { ForwarderControlServer, type ControlServerConfig } from './control-server';

const KEY = new TfwdKey(5, Buffer.from('control-server-test-secret-00001'));
const OLD_KEY = new TfwdKey(4, Buffer.from('control-server-test-secret-old01'));
const DEPLOYMENT = 7;
const SENSOR = 11;
const RECORDER = 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A raw TCP client of the control protocol: every line it got (parsed), and whether the server closed it. */
class RawPeer {
  readonly msgs: Array<ControlMessage | undefined> = [];
  closed = false;
  closedAt = 0;
  private readonly reader = new LineReader((l) => this.msgs.push(parseControl(l)));

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => this.reader.push(c));
    sock.on('error', () => undefined); // the server may reset us: that is what some tests want
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
    });
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      const p = new RawPeer(sock);
      sock.once('connect', () => resolve(p));
      sock.once('close', () => resolve(p));
    });
  }

  send(m: ControlMessage | string): void {
    if (!this.sock.destroyed) this.sock.write(typeof m === 'string' ? m : encodeControl(m));
  }

  /** A keyed hello; `o` overrides fields (the MAC is made over the final fields unless `o.mac` is given). */
  hello(o: { deployment?: number; sensor?: number; time?: number; keyId?: number; key?: TfwdKey; v?: number; mac?: string } = {}): string {
    const deployment = o.deployment ?? DEPLOYMENT;
    const sensor = o.sensor ?? SENSOR;
    const time = o.time ?? Date.now();
    const key = o.key ?? KEY;
    const nonce = newNonce();
    const mac = o.mac ?? macOf(key, helloText(deployment, sensor, time, nonce));
    this.send({ t: 'hello', v: o.v ?? FORWARD_CONTROL_VERSION, deployment, sensor, keyId: o.keyId ?? key.id, time, nonce, mac });
    return nonce;
  }

  of<T extends ControlMessage['t']>(t: T): Array<Extract<ControlMessage, { t: T }>> {
    return this.msgs.filter((m): m is Extract<ControlMessage, { t: T }> => m !== undefined && m.t === t);
  }

  async next<T extends ControlMessage['t']>(t: T, n = 1): Promise<Extract<ControlMessage, { t: T }>> {
    await until(`${n} '${t}' message(s)`, () => this.of(t).length >= n);
    return this.of(t)[n - 1]!;
  }

  waitClosed(ms = 2000): Promise<void> {
    return until('the server to close the connection', () => this.closed, ms);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

function summary(callId: string): CallSummary {
  return {
    callId,
    from: { uri: 'sip:a@x.com' },
    to: { uri: 'sip:b@x.com' },
    callerAddr: '10.0.0.1:5060',
    calleeAddr: '10.0.0.2:5060',
    transport: 'udp',
    disposition: 'answered',
    start: new Date().toISOString(),
    legs: [],
    sdp: [],
    holds: [],
    refers: [],
    messages: {},
    warnings: [],
  };
}

const media = (key: string, endpoints: string[], rank = 0): CallMediaInfo => ({ key, callId: key, at: new Date().toISOString(), endpoints, role: rank === 0 ? 'recording' : 'backup', rank });
const ended = (key: string): CallEventInfo => ({ key, callId: key, at: new Date().toISOString(), call: summary(key) });

interface Rig {
  server: ForwarderControlServer;
  events: LifecycleHub;
  metrics: PromMetrics;
  logs: ReturnType<typeof memoryLogger>['records'];
  port: number;
}

describe('ForwarderControlServer (the recorder end of the forwarder control protocol)', function () {
  this.timeout(10_000);
  const rigs: Rig[] = [];
  const peers: RawPeer[] = [];

  async function rig(over: Partial<ControlServerConfig> = {}): Promise<Rig> {
    const events = new LifecycleHub();
    const metrics = new PromMetrics();
    const { log, records } = memoryLogger('debug');
    const server = new ForwarderControlServer(
      {
        host: '127.0.0.1',
        port: 0,
        allow: AllowList.parse(['127.0.0.0/8', '::1']),
        keys: tfwdKeyring([KEY, OLD_KEY]),
        deployments: new Set([DEPLOYMENT]),
        recorderId: RECORDER,
        heartbeatMs: 40,
        idleMs: 3000,
        maxConnections: 50,
        ...over,
      },
      { log, metrics, events },
    );
    await server.start();
    const r = { server, events, metrics, logs: records, port: server.port };
    rigs.push(r);
    return r;
  }

  async function peer(r: Rig): Promise<RawPeer> {
    const p = await RawPeer.connect(r.port);
    peers.push(p);
    return p;
  }

  async function refused(r: Rig, reason: string): Promise<number> {
    return sample(await r.metrics.text(), 'tapline_forward_control_refused_total', { reason }) ?? 0;
  }

  async function gauge(r: Rig, name: string): Promise<number | undefined> {
    return sample(await r.metrics.text(), name);
  }

  /** A peer that said hello and got its welcome. */
  async function authed(r: Rig): Promise<{ p: RawPeer; nonce: string }> {
    const p = await peer(r);
    const nonce = p.hello();
    await p.next('welcome');
    return { p, nonce };
  }

  afterEach(async () => {
    for (const p of peers.splice(0)) p.destroy();
    for (const r of rigs.splice(0)) await r.server.stop();
  });

  it('listens on the port it was given (0: any), answers a keyed hello with a welcome whose MAC proves the key, then the interest', async () => {
    const r = await rig();
    assert.ok(r.port > 0);
    r.events.emit('callMedia', media('call-a', ['10.0.0.1:4000', '10.0.0.2:5000']));
    r.events.emit('callMedia', media('call-b', ['[2001:db8::1]:6000'], 1));
    const p = await peer(r);
    const nonce = p.hello();
    const w = await p.next('welcome');
    assert.equal(w.v, FORWARD_CONTROL_VERSION);
    assert.equal(w.recorder, RECORDER);
    assert.match(w.nonce, /^[0-9a-f]{32}$/);
    assert.ok(macMatches(KEY, welcomeText(DEPLOYMENT, SENSOR, RECORDER, nonce, w.nonce), w.mac), 'welcome MAC over the hello nonce');
    assert.ok(!macMatches(KEY, welcomeText(DEPLOYMENT, SENSOR, RECORDER, newNonce(), w.nonce), w.mac));
    const interest = await p.next('interest');
    assert.deepEqual(interest.calls, [
      { call: 'call-a', endpoints: ['10.0.0.1:4000', '10.0.0.2:5000'], rank: 0 },
      { call: 'call-b', endpoints: ['[2001:db8::1]:6000'], rank: 1 },
    ]);
    // welcome first, then the interest, and nothing refused
    assert.deepEqual(p.msgs.slice(0, 2).map((m) => m?.t), ['welcome', 'interest']);
    assert.equal(p.of('refused').length, 0);
    assert.equal(await gauge(r, 'tapline_forward_control_connections'), 1);
    assert.equal(await gauge(r, 'tapline_forward_interest_calls'), 2);
    assert.ok(r.logs.some((l) => l.level === 'info' && l.msg.includes(`deployment ${DEPLOYMENT}, sensor ${SENSOR}`)));
  });

  it('accepts any key of the keyring (rotation), and every deployment when none is configured', async () => {
    const r = await rig({ deployments: undefined });
    const p = await peer(r);
    const nonce = p.hello({ key: OLD_KEY, deployment: 99 });
    const w = await p.next('welcome');
    assert.ok(macMatches(OLD_KEY, welcomeText(99, SENSOR, RECORDER, nonce, w.nonce), w.mac), 'answered with the key the hello used');
  });

  it('a hello time within the skew is accepted', async () => {
    const r = await rig();
    const p = await peer(r);
    p.hello({ time: Date.now() - HELLO_SKEW_MS + 2000 });
    await p.next('welcome');
  });

  it('lifecycle callMedia / callEnded become call / end lines to authenticated forwarders, in order', async () => {
    const r = await rig();
    const { p } = await authed(r);
    await p.next('interest');
    const waiting = await peer(r); // connected, no hello yet: told nothing
    r.events.emit('callMedia', media('k1', ['10.0.0.1:4000']));
    r.events.emit('callMedia', media('k2', ['10.0.0.3:4002'], 2));
    r.events.emit('callEnded', ended('not-announced')); // not of interest: no line
    r.events.emit('callMedia', media('k1', ['10.0.0.1:4000', '10.0.0.9:7000'])); // an SDP changed it
    r.events.emit('callEnded', ended('k2'));
    r.events.emit('callEnded', ended('k2')); // twice: one end line
    await p.next('end');
    await sleep(50);
    const after = p.msgs.slice(2);
    assert.deepEqual(after.filter((m) => m?.t !== 'hb'), [
      { t: 'call', call: 'k1', endpoints: ['10.0.0.1:4000'], rank: 0 },
      { t: 'call', call: 'k2', endpoints: ['10.0.0.3:4002'], rank: 2 },
      { t: 'call', call: 'k1', endpoints: ['10.0.0.1:4000', '10.0.0.9:7000'], rank: 0 },
      { t: 'end', call: 'k2' },
    ]);
    assert.equal(waiting.msgs.length, 0, 'a peer without hello hears nothing');
    assert.equal(await gauge(r, 'tapline_forward_interest_calls'), 1);
    // A forwarder connecting now gets the interest whole, as changed.
    waiting.hello();
    const i = await waiting.next('interest');
    assert.deepEqual(i.calls, [{ call: 'k1', endpoints: ['10.0.0.1:4000', '10.0.0.9:7000'], rank: 0 }]);
    assert.deepEqual(waiting.msgs.filter((m) => m?.t === 'call' || m?.t === 'end'), []);
  });

  it('sends heartbeats every heartbeatMs to authenticated forwarders only', async () => {
    const r = await rig({ heartbeatMs: 30 });
    const silent = await peer(r);
    const { p } = await authed(r);
    const t0 = Date.now();
    await p.next('hb', 5);
    const took = Date.now() - t0;
    assert.ok(took < 30 * 5 + 200, `5 heartbeats took ${took} ms`);
    assert.equal(silent.msgs.length, 0);
  });

  it('keeps a forwarder that heartbeats; drops one silent for idleMs (counted idle), authenticated or not', async () => {
    const r = await rig({ heartbeatMs: 25, idleMs: 150 });
    const { p: talker } = await authed(r);
    const { p: quiet } = await authed(r);
    const mute = await peer(r); // never says hello (idle comes before the 5 s hello timeout)
    const beat = setInterval(() => talker.send({ t: 'hb' }), 30);
    try {
      await quiet.waitClosed();
      await mute.waitClosed();
      await sleep(300);
      assert.equal(talker.closed, false, 'a forwarder that heartbeats stays');
    } finally {
      clearInterval(beat);
    }
    assert.equal(await refused(r, 'idle'), 2);
    assert.equal(await gauge(r, 'tapline_forward_control_connections'), 1);
  });

  type Case = { name: string; reason: string; tell?: RegExp; act: (p: RawPeer) => void };
  const cases: Case[] = [
    { name: 'a bad MAC', reason: 'bad-mac', tell: /^bad mac$/, act: (p) => p.hello({ mac: '0'.repeat(64) }) },
    { name: 'a MAC made with another secret under the same key id', reason: 'bad-mac', tell: /^bad mac$/, act: (p) => p.hello({ key: new TfwdKey(KEY.id, Buffer.from('not-the-deployment-secret-000001')) }) },
    { name: 'a MAC over other fields (deployment changed after signing)', reason: 'bad-mac', tell: /^bad mac$/, act: (p) => {
      const time = Date.now();
      const nonce = newNonce();
      p.send({ t: 'hello', v: 1, deployment: DEPLOYMENT, sensor: SENSOR, keyId: KEY.id, time, nonce, mac: macOf(KEY, helloText(DEPLOYMENT, SENSOR + 1, time, nonce)) });
    } },
    { name: 'an unknown key id', reason: 'unknown-key-id', tell: /unknown key id 99/, act: (p) => p.hello({ keyId: 99 }) },
    { name: 'a stale hello (replayed)', reason: 'stale-hello', tell: /too far/, act: (p) => p.hello({ time: Date.now() - HELLO_SKEW_MS - 5000 }) },
    { name: 'a hello from the future', reason: 'stale-hello', tell: /too far/, act: (p) => p.hello({ time: Date.now() + HELLO_SKEW_MS + 5000 }) },
    { name: 'another deployment', reason: 'other-deployment', tell: /deployment 8 is not/, act: (p) => p.hello({ deployment: 8 }) },
    { name: 'another protocol version', reason: 'version', tell: /version 2 not supported/, act: (p) => p.hello({ v: 2 }) },
    { name: 'a garbage line', reason: 'malformed', tell: /malformed/, act: (p) => p.send('GET / HTTP/1.1\r\n') },
    { name: 'a well-formed message that is not a hello', reason: 'no-hello', tell: /hello expected/, act: (p) => p.send({ t: 'hb' }) },
    { name: 'a line over 1 MiB', reason: 'oversize', act: (p) => p.send(Buffer.alloc(MAX_LINE + 1, 0x61).toString('latin1')) },
  ];

  for (const c of cases) {
    it(`closes and counts (${c.reason}): ${c.name}`, async () => {
      const r = await rig();
      r.events.emit('callMedia', media('secret-call', ['10.0.0.1:4000']));
      const p = await peer(r);
      c.act(p);
      await p.waitClosed();
      const got = p.msgs.filter((m) => m?.t !== 'hb');
      if (c.tell !== undefined) {
        assert.equal(got.length, 1, JSON.stringify(got));
        const m = got[0];
        assert.ok(m?.t === 'refused', JSON.stringify(m));
        assert.match(m.reason, c.tell);
      } else assert.deepEqual(got, [], 'closed without a word');
      assert.equal(await refused(r, c.reason), 1);
      assert.equal(await gauge(r, 'tapline_forward_control_connections'), 0);
      // The server still serves well-behaved forwarders.
      const ok = await authed(r);
      assert.deepEqual((await ok.p.next('interest')).calls.map((x) => x.call), ['secret-call']);
    });
  }

  it('an authenticated forwarder that sends garbage is closed and counted malformed', async () => {
    const r = await rig();
    const { p } = await authed(r);
    p.send({ t: 'hb' });
    p.send({ t: 'hello', v: 1, deployment: 1, sensor: 1, keyId: 1, time: 1, nonce: 'n', mac: 'm' }); // ignored once ready
    await sleep(50);
    assert.equal(p.closed, false);
    p.send('{"t":"hb"\n');
    await p.waitClosed();
    assert.equal(await refused(r, 'malformed'), 1);
  });

  it('an address outside the allow-list is closed before a byte is read (counted not-allowed)', async () => {
    const r = await rig({ allow: AllowList.parse(['10.0.0.0/8']) });
    const p = await peer(r);
    p.hello();
    await p.waitClosed();
    assert.deepEqual(p.msgs, []);
    assert.equal(await refused(r, 'not-allowed'), 1);
  });

  it('a connection that never says hello is closed after the hello timeout (counted hello-timeout)', async () => {
    // The timeout is a fixed 5 s in the server: shortened here by handing its 5000 ms timer a shorter delay.
    const r = await rig({ idleMs: 60_000 });
    const realSetTimeout = globalThis.setTimeout;
    const patched = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => realSetTimeout(fn, ms === 5000 ? 150 : ms, ...args)) as unknown as typeof setTimeout;
    globalThis.setTimeout = patched;
    let p: RawPeer;
    try {
      p = await peer(r);
      await sleep(30); // the accept callback (which arms the hello timer) has run
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    const t0 = Date.now();
    await p.waitClosed(1500);
    assert.ok(Date.now() - t0 < 1000);
    assert.deepEqual(p.msgs, []);
    assert.equal(await refused(r, 'hello-timeout'), 1);
  });

  it('stop() closes every forwarder and stops listening; lifecycle events are no longer heard', async () => {
    const r = await rig();
    const { p } = await authed(r);
    await r.server.stop();
    rigs.splice(rigs.indexOf(r), 1);
    await p.waitClosed();
    r.events.emit('callMedia', media('late', ['10.0.0.1:1']));
    assert.equal(r.events.hasListeners('callMedia'), false);
    const again = await RawPeer.connect(r.port);
    await again.waitClosed();
    assert.deepEqual(again.msgs, []);
  });
});
