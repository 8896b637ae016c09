import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { CallMediaInfo } from '../../core/contracts/lifecycle';
import { LifecycleHub } from '../../core/lifecycle';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { AllowList } from '../../core/net/allow-list';
import { encodeControl, LineReader, macOf, newNonce, parseControl, welcomeText, type ControlMessage, type InterestEntry } from '../../core/net/forward-control';
import { ipv4, udp } from '../../core/net/packet-builder';
import { decodeTfwd, TfwdKey, tfwdKeyring, type TfwdRecord, type TfwdHeader } from '../../core/net/tfwd';
import { ForwarderControlServer } from '../source-forwarded/control-server';
import type { RecorderOptions } from './options';
import { RecorderLink, type LinkEvents, type LinkTimings } from './recorder-link';

const KEY = new TfwdKey(6, Buffer.from('recorder-link-test-secret-000001'));
const DEPLOYMENT = 21;
const SENSOR = 77;
const RECORDER_ID = 2;
const T: LinkTimings = { heartbeatMs: 40, deadAfterMs: 250, reconnectMs: 60, queueDatagrams: 64, mtu: 1400 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

type Ev =
  | { e: 'up'; at: number }
  | { e: 'down'; at: number; why: string }
  | { e: 'interest'; at: number; calls: InterestEntry[] }
  | { e: 'call'; at: number; entry: InterestEntry }
  | { e: 'end'; at: number; call: string };

/** Every event a link reported, with its wall time. */
class Recorded implements LinkEvents {
  readonly evs: Ev[] = [];
  up(): void {
    this.evs.push({ e: 'up', at: Date.now() });
  }
  down(_l: RecorderLink, why: string): void {
    this.evs.push({ e: 'down', at: Date.now(), why });
  }
  interest(_l: RecorderLink, calls: InterestEntry[]): void {
    this.evs.push({ e: 'interest', at: Date.now(), calls });
  }
  call(_l: RecorderLink, entry: InterestEntry): void {
    this.evs.push({ e: 'call', at: Date.now(), entry });
  }
  end(_l: RecorderLink, call: string): void {
    this.evs.push({ e: 'end', at: Date.now(), call });
  }
  of<K extends Ev['e']>(e: K): Array<Extract<Ev, { e: K }>> {
    return this.evs.filter((x): x is Extract<Ev, { e: K }> => x.e === e);
  }
}

const media = (key: string, endpoints: string[], rank = 0): CallMediaInfo => ({ key, callId: key, at: new Date().toISOString(), endpoints, role: rank === 0 ? 'recording' : 'backup', rank });

/** A real recorder-side control listener. */
async function controlServer(port = 0, events = new LifecycleHub()): Promise<{ server: ForwarderControlServer; events: LifecycleHub }> {
  const server = new ForwarderControlServer(
    { host: '127.0.0.1', port, allow: AllowList.parse(['127.0.0.0/8']), keys: tfwdKeyring([KEY]), deployments: new Set([DEPLOYMENT]), recorderId: RECORDER_ID, heartbeatMs: T.heartbeatMs, idleMs: 2000, maxConnections: 10 },
    { log: memoryLogger('debug').log, metrics: new PromMetrics(), events },
  );
  await server.start();
  return { server, events };
}

/** A fault-injecting recorder: answers the hello properly (or with a bad MAC, or not at all), then says nothing. */
class SilentRecorder {
  readonly server: net.Server;
  readonly socks: net.Socket[] = [];
  readonly hellos: Array<Extract<ControlMessage, { t: 'hello' }>> = [];
  /** Heartbeats the forwarder sent, with their wall time. */
  readonly hbs: number[] = [];
  /** When the last line was written to the forwarder. */
  lastSent = 0;

  constructor(private readonly answer: 'welcome' | 'bad-mac' | 'nothing') {
    this.server = net.createServer((sock) => this.accept(sock));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(sock: net.Socket): void {
    this.socks.push(sock);
    sock.on('error', () => undefined);
    const reader = new LineReader((line) => {
      const m = parseControl(line);
      if (m?.t === 'hb') this.hbs.push(Date.now());
      if (m?.t !== 'hello') return;
      this.hellos.push(m);
      if (this.answer === 'nothing') return;
      const nonce = newNonce();
      const key = this.answer === 'welcome' ? KEY : new TfwdKey(KEY.id, Buffer.from('an-impostor-without-the-key-0001'));
      sock.write(encodeControl({ t: 'welcome', v: 1, recorder: 3, nonce, mac: macOf(key, welcomeText(m.deployment, m.sensor, 3, m.nonce, nonce)) }));
      sock.write(encodeControl({ t: 'interest', calls: [{ call: 'c-silent', endpoints: ['10.1.1.1:4000'], rank: 1 }] }));
      this.lastSent = Date.now();
    });
    sock.on('data', (c: Buffer) => reader.push(c));
  }

  async close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A UDP socket standing in for the recorder's TFWD listener. */
async function udpSink(): Promise<{ sock: dgram.Socket; port: number; got: Buffer[] }> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { sock, port: sock.address().port, got };
}

function decodeAll(got: Buffer[]): Array<{ header: TfwdHeader; records: TfwdRecord[] }> {
  return got.map((d) => {
    const r = decodeTfwd(d, { keys: tfwdKeyring([KEY]) });
    if (!r.ok) assert.fail(`datagram refused: ${r.error}`);
    return { header: r.header, records: r.records };
  });
}

const rtp = (i: number, size = 160): Buffer => ipv4(17, udp(40000, 50000, Buffer.alloc(size, i & 0xff)), { src: '10.0.0.1', dst: '10.0.0.2', id: i });

describe('RecorderLink (the forwarder end of one recorder)', function () {
  this.timeout(10_000);
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  function link(opts: Partial<RecorderOptions>, ev: Recorded, t: Partial<LinkTimings> = {}, key = KEY): { l: RecorderLink; logs: ReturnType<typeof memoryLogger>['records'] } {
    const { log, records } = memoryLogger('debug');
    const l = new RecorderLink(DEPLOYMENT, 1, { host: '127.0.0.1', port: 9, controlPort: 0, feedPort: 0, ...opts }, key, SENSOR, { ...T, ...t }, ev, log);
    cleanup.push(() => l.close());
    return { l, logs: records };
  }

  it('comes up against the real control listener, learns the recorder id, and receives the interest and its changes', async () => {
    const { server, events } = await controlServer();
    cleanup.push(() => server.stop());
    events.emit('callMedia', media('k1', ['10.0.0.1:4000'], 0));
    const ev = new Recorded();
    const { l, logs } = link({ controlPort: server.port }, ev);
    assert.equal(l.number, 2);
    assert.equal(l.up, false);
    const t0 = Date.now();
    l.start();
    await until('up', () => l.up);
    assert.ok(l.upSince >= t0 && l.upSince <= Date.now());
    assert.equal(l.recorderId, RECORDER_ID);
    await until('interest', () => ev.of('interest').length === 1);
    assert.deepEqual(ev.of('interest')[0]!.calls, [{ call: 'k1', endpoints: ['10.0.0.1:4000'], rank: 0 }]);
    assert.deepEqual(ev.evs.map((e) => e.e), ['up', 'interest'], 'up before its interest');
    events.emit('callMedia', media('k2', ['10.0.0.5:4100'], 1));
    events.emit('callEnded', { key: 'k1', callId: 'k1', at: new Date().toISOString(), call: { callId: 'k1', from: { uri: 'a' }, to: { uri: 'b' }, callerAddr: '', calleeAddr: '', transport: 'udp', disposition: 'answered', start: '', legs: [], sdp: [], holds: [], refers: [], messages: {}, warnings: [] } });
    await until('end', () => ev.of('end').length === 1);
    assert.deepEqual(ev.of('call').map((c) => c.entry), [{ call: 'k2', endpoints: ['10.0.0.5:4100'], rank: 1 }]);
    assert.deepEqual(ev.of('end').map((c) => c.call), ['k1']);
    assert.ok(logs.some((r) => r.level === 'info' && /is up \(recorder id 2\)/.test(r.msg)));
    assert.match(l.label, /deployment 21 recorder 2 \(127\.0\.0\.1\)/);
  });

  it('goes down within deadAfterMs when the recorder stops (FIN), and comes back up when it returns on the same port', async () => {
    let { server, events } = await controlServer();
    const port = server.port;
    cleanup.push(() => server.stop());
    const ev = new Recorded();
    const { l } = link({ controlPort: port }, ev);
    l.start();
    await until('up', () => l.up);
    await sleep(100); // a few heartbeats both ways
    assert.equal(l.up, true, 'heartbeats keep it up');
    const stopped = Date.now();
    await server.stop();
    await until('down', () => ev.of('down').length === 1, T.deadAfterMs + 500);
    const down = ev.of('down')[0]!;
    assert.ok(down.at - stopped <= T.deadAfterMs, `down after ${down.at - stopped} ms`);
    assert.equal(l.up, false);
    assert.equal(l.send(Date.now() * 1000, rtp(1)), false, 'nothing is sent to a recorder that is down');
    assert.equal(l.counts.dropped.down, 1);
    await sleep(T.reconnectMs * 3); // it keeps trying while the port is closed
    assert.equal(ev.of('up').length, 1);
    ({ server, events } = await controlServer(port, events));
    const back = Date.now();
    events.emit('callMedia', media('k9', ['10.0.0.9:9000']));
    await until('up again', () => ev.of('up').length === 2);
    assert.ok(Date.now() - back < T.reconnectMs + 500);
    await until('interest again', () => ev.of('interest').length === 2);
    assert.deepEqual(ev.of('interest')[1]!.calls.map((c) => c.call), ['k9']);
    assert.ok(l.upSince >= back);
  });

  it('a recorder that completes the handshake and then goes silent is dead within deadAfterMs + one heartbeat; the link reconnects', async () => {
    const silent = new SilentRecorder('welcome');
    const port = await silent.listen();
    cleanup.push(() => silent.close());
    const ev = new Recorded();
    const { l, logs } = link({ controlPort: port }, ev);
    l.start();
    await until('up', () => l.up);
    assert.equal(l.recorderId, 3);
    await until('interest', () => ev.of('interest').length === 1);
    await until('down', () => ev.of('down').length === 1, T.deadAfterMs + T.heartbeatMs + 1000);
    const heardLast = silent.lastSent;
    const down = ev.of('down')[0]!;
    const after = down.at - heardLast;
    assert.ok(after > T.deadAfterMs, `down ${after} ms after the last line: not before deadAfterMs`);
    assert.ok(after <= T.deadAfterMs + T.heartbeatMs + 40, `down ${after} ms after the last line (deadAfterMs ${T.deadAfterMs} + heartbeat ${T.heartbeatMs})`);
    assert.match(down.why, /no heartbeat for \d+ ms/);
    assert.ok(logs.some((r) => r.level === 'warn' && r.msg.includes('is down')));
    // The forwarder heartbeated the recorder meanwhile.
    assert.ok(silent.hbs.length >= Math.floor(T.deadAfterMs / T.heartbeatMs) - 2, `${silent.hbs.length} heartbeats`);
    // …and reconnects (this recorder answers every hello, so the link comes up again).
    await until('second hello', () => silent.hellos.length === 2, T.reconnectMs + 1000);
    await until('up again', () => ev.of('up').length === 2);
    assert.equal(silent.hellos[1]!.deployment, DEPLOYMENT);
    assert.equal(silent.hellos[1]!.sensor, SENSOR);
    assert.equal(silent.hellos[1]!.keyId, KEY.id);
    assert.notEqual(silent.hellos[0]!.nonce, silent.hellos[1]!.nonce, 'a fresh nonce per hello');
  });

  it('a recorder whose welcome does not prove the key is never taken as up (and is retried)', async () => {
    const impostor = new SilentRecorder('bad-mac');
    const port = await impostor.listen();
    cleanup.push(() => impostor.close());
    const ev = new Recorded();
    const { l, logs } = link({ controlPort: port }, ev);
    l.start();
    await until('two hellos', () => impostor.hellos.length >= 2);
    assert.equal(l.up, false);
    assert.deepEqual(ev.evs, []);
    assert.ok(logs.some((r) => r.level === 'error' && r.msg.includes('did not prove')));
  });

  it('refused by the recorder (a key it does not know): counted, logged, never up', async () => {
    const { server } = await controlServer();
    cleanup.push(() => server.stop());
    const ev = new Recorded();
    const { l, logs } = link({ controlPort: server.port }, ev, {}, new TfwdKey(9, Buffer.from('a-key-the-recorder-does-not-have')));
    l.start();
    await until('refusals', () => l.counts.refusals >= 2);
    assert.equal(l.up, false);
    assert.deepEqual(ev.evs, []);
    assert.ok(logs.some((r) => r.level === 'error' && r.msg.includes('refused this forwarder: unknown key id 9')));
  });

  it('sends TFWD datagrams that the recorder decodes: signed, with the deployment, sensor and key ids, the packets and their times', async () => {
    const { server } = await controlServer();
    cleanup.push(() => server.stop());
    const sink = await udpSink();
    cleanup.push(() => sink.sock.close());
    const ev = new Recorded();
    const { l } = link({ controlPort: server.port, port: sink.port }, ev, { heartbeatMs: 1000 });
    l.start();
    await until('up', () => l.up);
    l.sensorDrops = 42;
    const ts0 = Date.now() * 1000;
    const pkts = [rtp(1), rtp(2), rtp(3, 900), rtp(4)];
    pkts.forEach((p, i) => assert.ok(l.send(ts0 + i * 20_000, p)));
    assert.equal(l.counts.packets, 4);
    assert.equal(l.counts.bytes, pkts.reduce((n, p) => n + p.length, 0));
    await until('datagrams', () => decodeAll(sink.got).reduce((n, d) => n + d.records.length, 0) === 4);
    const ds = decodeAll(sink.got).filter((d) => d.records.length > 0);
    assert.ok(ds.length >= 2, 'split under the 1400-byte MTU');
    for (const d of ds) {
      assert.equal(d.header.deploymentId, DEPLOYMENT);
      assert.equal(d.header.sensorId, SENSOR);
      assert.equal(d.header.keyId, KEY.id);
      assert.equal(d.header.authenticated, true);
      assert.equal(d.header.sensorDrops, 42);
    }
    const recs = ds.flatMap((d) => d.records);
    assert.deepEqual(recs.map((r) => r.data), pkts);
    assert.deepEqual(recs.map((r) => r.ts), pkts.map((_p, i) => ts0 + i * 20_000));
    // Sequence numbers count packets: each datagram starts where the one before ended.
    let seq = 0;
    for (const d of ds) {
      assert.equal(d.header.seq, seq);
      seq += d.records.length;
    }
    // A datagram signed with another key is not one the recorder would accept.
    assert.equal(decodeTfwd(sink.got[0]!, { keys: tfwdKeyring([new TfwdKey(KEY.id, Buffer.from('some-other-secret-of-32-bytes-00'))]) }).ok, false);
  });

  it('heartbeat datagrams (no packets) carry the sequence to the recorder every heartbeatMs', async () => {
    const sink = await udpSink();
    cleanup.push(() => sink.sock.close());
    const ev = new Recorded();
    const { l } = link({ port: sink.port }, ev, { heartbeatMs: 30 }); // no control port: always up
    l.start();
    assert.equal(l.up, true);
    assert.equal(ev.of('up').length, 1);
    l.send(Date.now() * 1000, rtp(1));
    await until('heartbeats', () => decodeAll(sink.got).filter((d) => d.records.length === 0).length >= 3);
    const hb = decodeAll(sink.got).filter((d) => d.records.length === 0);
    assert.ok(hb.every((d) => d.header.count === 0 && d.header.seq === 1 && d.header.deploymentId === DEPLOYMENT));
  });

  it('the send queue is bounded: past queueDatagrams in flight, packets are dropped and counted, never queued', async () => {
    const sink = await udpSink();
    cleanup.push(() => sink.sock.close());
    const ev = new Recorded();
    const { l } = link({ port: sink.port }, ev, { queueDatagrams: 3, heartbeatMs: 5000 });
    l.start();
    const N = 50;
    let accepted = 0;
    // Each packet fills most of a datagram: every add() sends the previous one, all in this one tick.
    for (let i = 0; i < N; i++) if (l.send(Date.now() * 1000, rtp(i, 1000))) accepted++;
    assert.ok(l.counts.dropped.queue > 0, 'some dropped');
    assert.ok(accepted <= 3 + 1, `${accepted} accepted with 3 datagrams in flight`);
    assert.equal(accepted + l.counts.dropped.queue, N);
    assert.equal(l.counts.packets, accepted);
    await until('the accepted packets', () => decodeAll(sink.got).reduce((n, d) => n + d.records.length, 0) === accepted);
    // Once the datagrams left, sending works again.
    await sleep(20);
    assert.ok(l.send(Date.now() * 1000, rtp(99)));
  });

  it("carries SIP to the recorder's feed port: queued while it connects, then sent in order", async () => {
    const got: Buffer[] = [];
    const feed = net.createServer((s) => s.on('data', (c: Buffer) => got.push(c)));
    await new Promise<void>((r) => feed.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => feed.close(() => r())));
    const ev = new Recorded();
    const { l } = link({ feedPort: (feed.address() as net.AddressInfo).port }, ev);
    l.start();
    l.sendSip(Buffer.from('HEP3-one|'));
    l.sendSip(Buffer.from('HEP3-two|'));
    await until('feed bytes', () => Buffer.concat(got).toString() === 'HEP3-one|HEP3-two|');
    l.sendSip(Buffer.from('HEP3-three|'));
    await until('more feed bytes', () => Buffer.concat(got).toString() === 'HEP3-one|HEP3-two|HEP3-three|');
    assert.equal(l.counts.sip, 3);
  });

  it('close() stops reconnecting and heartbeating', async () => {
    const silent = new SilentRecorder('welcome');
    const port = await silent.listen();
    cleanup.push(() => silent.close());
    const ev = new Recorded();
    const { l } = link({ controlPort: port }, ev);
    l.start();
    await until('up', () => l.up);
    l.close();
    const hellos = silent.hellos.length;
    const hbs = silent.hbs.length;
    await sleep(T.deadAfterMs + T.reconnectMs * 2);
    assert.equal(silent.hellos.length, hellos);
    assert.ok(silent.hbs.length <= hbs + 1);
  });
  describe('regressions (found by these tests, fixed)', () => {
    it('a recorder that accepts the connection but never answers the hello is given up after deadAfterMs and tried again', async () => {
      // beat() checks silence only while the link is up; before the welcome nothing times the connection out.
      const mute = new SilentRecorder('nothing');
      const port = await mute.listen();
      cleanup.push(() => mute.close());
      const ev = new Recorded();
      const { l } = link({ controlPort: port }, ev);
      l.start();
      await until('first hello', () => mute.hellos.length === 1);
      await sleep(T.deadAfterMs + T.heartbeatMs + T.reconnectMs + 150);
      assert.ok(mute.hellos.length >= 2, `${mute.hellos.length} hello(s) in ${T.deadAfterMs + T.heartbeatMs + T.reconnectMs + 150} ms: the unanswered connection was not given up`);
    });
  });
});
