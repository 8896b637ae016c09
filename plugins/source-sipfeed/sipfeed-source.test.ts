import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { connectTcp, eventually, IngestRecorder, startSource, whenClosed, type RunningSource } from '../../test/ingest-recorder';
import { makeTestPki, opensslUnavailable, type TestPki } from '../../test/tls-pki';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { encodeHep3 } from '../../core/net/hep-encode';
import { PluginHarness } from '../../core/testing';
import { Tokens } from '../../core/tokens';
import { detect } from './feed-connection';
import plugin, { SipfeedSource, type SourceSipfeedOptions } from './index';

const CALLER = { ip: '192.0.2.10', port: 49152 };
const CALLEE = { ip: '192.0.2.20', port: 5061 };
const RURI = `sip:bob@${CALLEE.ip}:${CALLEE.port};transport=tls`;

function sdp(ip: string, port: number): string {
  return ['v=0', `o=- 1 1 IN IP4 ${ip}`, 's=session', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
}

function msg(start: string, o: { callId: string; cseq: string; toTag?: string; contact?: string; body?: string; branch?: string }): string {
  const body = o.body ?? '';
  return [
    start,
    `Via: SIP/2.0/TLS ${CALLER.ip}:${CALLER.port};branch=z9hG4bK${o.branch ?? o.cseq.replace(' ', '')}`,
    `From: "Jürgen Müller" <sip:juergen@contoso.com>;tag=f1;epid=01010101`,
    `To: <sip:bob@contoso.com>${o.toTag !== undefined ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq}`,
    ...(o.contact !== undefined ? [`Contact: ${o.contact}`] : []),
    ...(body !== '' ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

function call(callId: string): { invite: string; ok: string; ack: string; bye: string; byeOk: string } {
  const callerContact = `<sip:juergen@${CALLER.ip}:${CALLER.port};transport=tls>`;
  const calleeContact = `<sip:bob@${CALLEE.ip}:${CALLEE.port};transport=tls>`;
  return {
    invite: msg(`INVITE ${RURI} SIP/2.0`, { callId, cseq: '1 INVITE', contact: callerContact, body: sdp(CALLER.ip, 20000) }),
    ok: msg('SIP/2.0 200 OK', { callId, cseq: '1 INVITE', toTag: 't9', contact: calleeContact, body: sdp(CALLEE.ip, 30000) }),
    ack: msg(`ACK ${RURI} SIP/2.0`, { callId, cseq: '1 ACK', toTag: 't9', branch: 'ack1' }),
    bye: msg(`BYE ${RURI} SIP/2.0`, { callId, cseq: '2 BYE', toTag: 't9' }),
    byeOk: msg('SIP/2.0 200 OK', { callId, cseq: '2 BYE', toTag: 't9', contact: calleeContact }),
  };
}

function options(over: Partial<SourceSipfeedOptions> = {}): SourceSipfeedOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    tls: { enabled: false, requireClientCert: false },
    allow: ['127.0.0.0/8', '::1/128'],
    maxConnections: 16,
    maxConnectionsPerIp: 16,
    idleTimeoutSec: 30,
    messageTimeoutSec: 5,
    maxMessageBytes: 65536,
    maxDecompressedBytes: 65536,
    keepAliveSec: 30,
    pong: true,
    media: true,
    ...over,
  };
}

const sockets: net.Socket[] = [];

const connect = (port: number, host = '127.0.0.1'): Promise<net.Socket> => connectTcp(port, sockets, host);
const closed = whenClosed;

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 15));

describe('source-sipfeed: the net service feed on 8008 (plain SIP or HEP, detected per connection)', function () {
  this.timeout(30_000);
  let running: RunningSource | undefined;
  let source: SipfeedSource;
  let metrics: PromMetrics;

  async function start(over: Partial<SourceSipfeedOptions> = {}): Promise<{ sink: IngestRecorder; port: number }> {
    metrics = new PromMetrics();
    source = new SipfeedSource(options(over), { metrics, log: memoryLogger('debug').log });
    running = await startSource(source);
    return { sink: running.sink, port: source.listener()!.address()!.port };
  }

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await running?.stop();
    running = undefined;
  });

  it('frames plain SIP by Content-Length: several in one segment, one split across segments; addresses from the messages, arrival time', async () => {
    const { sink, port } = await start();
    const c = call('feed-1@contoso.com');
    const s = await connect(port);
    const before = Date.now() * 1000;
    s.write(c.invite + c.ok);
    const ack = Buffer.from(c.ack, 'utf8');
    for (let i = 0; i < ack.length; i += 17) {
      s.write(ack.subarray(i, i + 17));
      await tick();
    }
    await sink.until(() => sink.sips.length === 3);
    assert.deepEqual(sink.sipTexts(), [c.invite, c.ok, c.ack]);
    const [inv, ok] = sink.sips;
    assert.deepEqual([inv!.src, inv!.sport, inv!.dst, inv!.dport, inv!.transport], [CALLER.ip, CALLER.port, CALLEE.ip, CALLEE.port, 'tls']);
    assert.deepEqual([ok!.src, ok!.sport, ok!.dst, ok!.dport], [CALLEE.ip, CALLEE.port, CALLER.ip, CALLER.port]);
    assert.ok(sink.sips.every((x) => x.ts >= before && x.ts <= Date.now() * 1000), 'arrival (wall clock) time');
    assert.match(inv!.origin ?? '', /^sipfeed tcp 127\.0\.0\.1:\d+$/);
    assert.deepEqual(source.feeders(), ['sip']);
    assert.match(await metrics.registry.metrics(), /tapline_packets_in_total\{source="source-sipfeed"\} 3/);
  });

  it('answers each CRLFCRLF ping with a CRLF pong (RFC 5626 §4.4.1), before, between and split across messages', async () => {
    const { sink, port } = await start();
    const c = call('ka@contoso.com');
    const s = await connect(port);
    let pongs = '';
    s.on('data', (d: Buffer) => (pongs += d.toString('latin1')));
    s.write('\r\n\r\n');
    await eventually(() => pongs.length === 2);
    s.write(c.invite + '\r\n\r\n' + c.ok + '\r\n');
    await tick();
    s.write('\r\n');
    await tick();
    s.write('\r\n\r\n' + c.ack);
    await sink.until(() => sink.sips.length === 3);
    await eventually(() => pongs.length === 8);
    assert.equal(pongs, '\r\n\r\n\r\n\r\n', 'four pings, four pongs, nothing else');
    assert.deepEqual(sink.drops, []);
  });

  it('a feeder that reconnects mid-call loses nothing: INVITE/200/ACK on one connection, BYE/200 on the next, and the core sees one complete call', async () => {
    const { sink, port } = await start();
    const c = call('reconnect@contoso.com');
    const first = await connect(port);
    first.end(c.invite + c.ok + c.ack);
    await closed(first);
    const second = await connect(port);
    second.write(c.bye + c.byeOk);
    await sink.until(() => sink.sips.length === 5);
    assert.deepEqual(sink.sipTexts(), [c.invite, c.ok, c.ack, c.bye, c.byeOk]);
    assert.notEqual(sink.sips[0]!.origin, sink.sips[3]!.origin, 'two connections');
    // What the source handed in is enough for the core's dialog tracker to follow the call across the reconnect.
    const h = await PluginHarness.core();
    for (const a of sink.sips) h.packet({ src: a.src, sport: a.sport, dst: a.dst, dport: a.dport, ts: a.ts, payload: a.data });
    const r = await h.stop();
    assert.equal(r.callsEnded.length, 1);
    const ended = r.callsEnded[0]!;
    assert.deepEqual([ended.callId, ended.disposition, ended.endReason, ended.endedBy, ended.caller.displayName], ['reconnect@contoso.com', 'answered', 'bye', 'caller', 'Jürgen Müller']);
    assert.deepEqual([ended.callerAddr, ended.calleeAddr], [{ ip: CALLER.ip, port: CALLER.port }, { ip: CALLEE.ip, port: CALLEE.port }]);
  });

  it('carries HEPv3 on a connection that starts with "HEP3": original addresses and capture time kept', async () => {
    const { sink, port } = await start();
    const c = call('hep@contoso.com');
    const s = await connect(port);
    const rec = encodeHep3({ src: '10.1.1.1', sport: 5070, dst: '10.2.2.2', dport: 5080, ts: 1_767_225_600_000_001, ipProto: 6, captureId: 3, nodeName: 'fe01', payload: c.invite });
    s.write(rec.subarray(0, 2)); // "HE": not yet enough to tell
    await tick();
    s.write(Buffer.concat([rec.subarray(2), encodeHep3({ src: '10.2.2.2', sport: 5080, dst: '10.1.1.1', dport: 5070, ts: 1_767_225_600_000_002, ipProto: 6, payload: c.ok })]));
    await sink.until(() => sink.sips.length === 2);
    const [a, b] = sink.sips;
    assert.deepEqual([a!.src, a!.sport, a!.dst, a!.dport, a!.ts, a!.transport, a!.node], ['10.1.1.1', 5070, '10.2.2.2', 5080, 1_767_225_600_000_001, 'tcp', { id: 3, name: 'fe01' }]);
    assert.equal(b!.data.toString('utf8'), c.ok);
    assert.match(a!.origin ?? '', /^sipfeed-hep tcp 127\.0\.0\.1:\d+$/);
    assert.deepEqual(source.feeders(), ['hep']);
  });

  it('serves many feeders at once, each with its own protocol', async () => {
    const { sink, port } = await start();
    const conns = await Promise.all(Array.from({ length: 6 }, () => connect(port)));
    for (let round = 0; round < 5; round++) {
      for (const [i, s] of conns.entries()) {
        const c = call(`many-${i}-${round}@contoso.com`);
        if (i % 2 === 0) s.write(c.invite);
        else s.write(encodeHep3({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, ts: 1_767_225_600_000_000 + round, payload: c.invite }));
      }
      await tick();
    }
    await sink.until(() => sink.sips.length === 30);
    assert.deepEqual(source.feeders().sort(), ['hep', 'hep', 'hep', 'sip', 'sip', 'sip']);
    for (let i = 0; i < 6; i++) {
      const mine = sink.sips.filter((x) => x.data.toString('utf8').includes(`many-${i}-`)).map((x) => x.data.toString('utf8').match(/many-\d-(\d)/)![1]);
      assert.deepEqual(mine, ['0', '1', '2', '3', '4'], `feeder ${i} in order`);
    }
    assert.match(await metrics.registry.metrics(), /tapline_feed_connections\{source="source-sipfeed"\} 6/);
  });

  it('refuses what is neither SIP nor HEP (a TLS ClientHello, binary, HTTP) and closes the connection', async () => {
    const { sink, port } = await start();
    const hello = Buffer.from('160301020001000100fc0303', 'hex');
    for (const junk of [hello, Buffer.from([0, 1, 2, 3, 0xff]), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]) {
      const s = await connect(port);
      s.write(junk);
      await closed(s);
    }
    await sink.until(() => sink.drops.length === 3);
    assert.deepEqual(sink.drops, ['parse/feed-not-sip-or-hep', 'parse/feed-not-sip-or-hep', 'parse/feed-not-sip-or-hep']);
    assert.deepEqual(source.listener()!.stats().closed, { 'parse-error': 3 });
    const counted = /tapline_feed_connections_closed_total\{source="source-sipfeed",reason="parse-error"\} 3\n/;
    await eventually(async () => counted.test(await metrics.registry.metrics()), 3000, 'the closes counted');
  });

  it('closes a feeder that connects and says nothing at the idle timeout; the close is counted though nothing was lost', async () => {
    const { sink, port } = await start({ idleTimeoutSec: 0.3 });
    const s = await connect(port);
    const t0 = Date.now();
    await closed(s);
    assert.ok(Date.now() - t0 >= 250, 'not before the idle timeout');
    const counted = /tapline_feed_connections_closed_total\{source="source-sipfeed",reason="idle-timeout"\} 1\n/;
    await eventually(async () => counted.test(await metrics.registry.metrics()), 3000, 'the close counted');
    assert.deepEqual(sink.drops, []);
  });

  it('detects the protocol from as few bytes as it takes', () => {
    assert.deepEqual(
      ['', 'H', 'HEP', 'HEP3', 'HEX3\n', '\r\n', 'INV', 'INVITE sip:a@b SIP/2.0\r\n', 'SIP/2.0 200 OK\r\n', 'SIP/2.0 2OO OK\r\n', 'hello world\n', '\x16\x03'].map((t) => detect(Buffer.from(t, 'latin1'))),
      ['wait', 'wait', 'wait', 'hep', 'other', 'sip', 'wait', 'sip', 'sip', 'other', 'other', 'other'],
    );
  });

  it('closes a feeder whose message exceeds maxMessageBytes, or whose message stalls (half-open), and counts both', async () => {
    const { sink, port } = await start({ maxMessageBytes: 2048, messageTimeoutSec: 0.4 });
    const big = await connect(port);
    big.write(msg(`INVITE ${RURI} SIP/2.0`, { callId: 'big', cseq: '1 INVITE', body: 'x'.repeat(5000) }));
    const stalled = await connect(port);
    stalled.write(call('stall').invite.slice(0, 120));
    const [, took] = await Promise.all([closed(big), closed(stalled)]);
    assert.ok(took >= 300 && took < 1500, `stalled message closed after ${took} ms`);
    assert.deepEqual(sink.drops.sort(), ['limit/message-timeout', 'limit/sip-message-too-large']);
  });

  it('keeps what a flood of junk connections can make it hold bounded', async () => {
    const { sink, port } = await start({ maxConnections: 5, maxMessageBytes: 4096, messageTimeoutSec: 10 });
    // Five feeders start header sections that never end; twenty more are refused.
    const held = await Promise.all(Array.from({ length: 5 }, () => connect(port)));
    for (const s of held) s.write(`INVITE ${RURI} SIP/2.0\r\n` + 'X-Pad: y\r\n'.repeat(100));
    await eventually(() => source.listener()!.stats().bufferedBytes >= 5 * 1000, 5000, 'five partial messages held');
    const extra = await Promise.all(Array.from({ length: 20 }, () => connect(port).catch(() => undefined)));
    for (const s of extra) if (s !== undefined) await closed(s);
    await sink.until(() => sink.dropped('limit/too-many-connections') === 20);
    let st = source.listener()!.stats();
    assert.equal(st.connections, 5);
    assert.ok(st.bufferedBytes <= 5 * 4096, `held ${st.bufferedBytes} bytes`);
    // The header sections keep growing: each connection is closed at maxMessageBytes, and nothing is held after.
    for (const s of held) s.write('X-Pad: y\r\n'.repeat(400));
    await Promise.all(held.map((s) => closed(s)));
    await eventually(() => source.listener()!.stats().connections === 0);
    st = source.listener()!.stats();
    assert.deepEqual([st.accepted, st.refused['too-many-connections'], st.closed['message-too-large'], st.bufferedBytes], [5, 20, 5, 0]);
    assert.equal(sink.dropped('limit/sip-message-too-large'), 5);
  });

  describe('TLS and mutual TLS', () => {
    let pki: TestPki | undefined;
    before(function () {
      const why = opensslUnavailable();
      if (why !== undefined) {
        console.warn(`    [tapline] ${why}: source-sipfeed TLS tests skipped`);
        return this.skip();
      }
      pki = makeTestPki();
    });
    after(() => pki?.cleanup());

    async function mtls(): Promise<{ sink: IngestRecorder; port: number }> {
      const p = pki!;
      return start({ tls: { enabled: true, cert: p.serverCert, key: p.serverKey, ca: p.ca, requireClientCert: true } });
    }

    function tlsConnect(port: number, cert: 'mine' | 'other' | 'none'): Promise<tls.TLSSocket | undefined> {
      const p = pki!;
      const c = cert === 'mine' ? { cert: fs.readFileSync(p.clientCert), key: fs.readFileSync(p.clientKey) } : cert === 'other' ? { cert: fs.readFileSync(p.otherClientCert), key: fs.readFileSync(p.otherClientKey) } : {};
      return new Promise((resolve) => {
        const s = tls.connect({ port, host: '127.0.0.1', ca: fs.readFileSync(p.ca), servername: 'localhost', ...c }, () => resolve(s));
        sockets.push(s);
        s.on('error', () => resolve(undefined));
      });
    }

    it('a feeder with a certificate from the trusted CA is served (plain SIP with pings over TLS); one without, or from another CA, is refused', async () => {
      const { sink, port } = await mtls();
      const c = call('tls@contoso.com');
      const good = await tlsConnect(port, 'mine');
      let pong = '';
      good!.on('data', (d: Buffer) => (pong += d.toString()));
      good!.write('\r\n\r\n' + c.invite);
      for (const who of ['none', 'other'] as const) {
        const s = await tlsConnect(port, who);
        if (s !== undefined) {
          s.write(c.bye);
          await closed(s);
        }
      }
      await sink.until(() => sink.sips.length === 1 && sink.drops.length === 2);
      assert.equal(pong, '\r\n');
      assert.deepEqual(sink.sipTexts(), [c.invite]);
      assert.match(sink.sips[0]!.origin ?? '', /^sipfeed tls /);
      assert.deepEqual(sink.drops, ['auth/client-certificate-missing', 'auth/client-certificate-invalid']);
      assert.deepEqual(source.listener()!.stats().refused, { 'client-certificate-missing': 1, 'client-certificate-invalid': 1 });
    });

    it('openssl s_client as the feeder: SIP it sends over mutual TLS arrives', async () => {
      const p = pki!;
      const { sink, port } = await mtls();
      const c = call('s-client@contoso.com');
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', p.ca, '-cert', p.clientCert, '-key', p.clientKey, '-verify_return_error', '-brief', '-nocommands'], { stdio: ['pipe', 'ignore', 'ignore'] });
      try {
        child.stdin.write(c.invite + c.ok);
        await sink.until(() => sink.sips.length === 2, 10_000, 'what s_client sent');
      } finally {
        child.stdin.end();
        child.kill();
      }
      assert.deepEqual(sink.sipTexts(), [c.invite, c.ok]);
    });
  });

  it('is a plugin: port 8008 by default, loopback only, TCP keep-alive and pongs on', async () => {
    const h = await PluginHarness.create(plugin, { options: {} });
    try {
      const [src] = h.resolveAll(Tokens.Source) as unknown as SipfeedSource[];
      assert.ok(src instanceof SipfeedSource);
      assert.equal(src.label, 'sipfeed tcp 0.0.0.0:8008');
      assert.equal(src.live, true);
    } finally {
      await h.stop();
    }
    await assert.rejects(PluginHarness.create(plugin, { options: { tls: { enabled: true, cert: 'c.pem', key: 'k.pem', requireClientCert: true } } }), /ca/);
  });
});
