import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { connectTcp, eventually, IngestRecorder, startSource, whenClosed, type RunningSource } from '../../test/ingest-recorder';
import { makeTestPki, opensslUnavailable, type TestPki } from '../../test/tls-pki';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { HepChunk, HepProtoType } from '../../core/net/hep';
import { encodeHep3, encodeHepV2, type HepEncodeInput } from '../../core/net/hep-encode';
import { PluginHarness } from '../../core/testing';
import { Tokens } from '../../core/tokens';
import plugin, { HepSource, type SourceHepOptions } from './index';

const TS = 1_767_225_600_250_000; // 2026-01-01T00:00:00.25Z

function invite(n: number, callId = `call-${n}@example.com`): string {
  return [
    `INVITE sip:bob@example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${n}`,
    `From: "Renée Ångström ${n}" <sip:renee@example.com>;tag=${n}`,
    `To: <sip:bob@example.com>`,
    `Call-ID: ${callId}`,
    `CSeq: ${n} INVITE`,
    `Content-Length: 0`,
    '',
    '',
  ].join('\r\n');
}

function hep(n: number, over: Partial<HepEncodeInput> = {}): Buffer {
  return encodeHep3({ src: '192.0.2.10', sport: 5060, dst: '198.51.100.20', dport: 5062, ts: TS + n, captureId: 2001, nodeName: 'kamailio-edge-1', payload: invite(n), ...over });
}

function options(over: Partial<SourceHepOptions> = {}): SourceHepOptions {
  return {
    host: '127.0.0.1',
    udp: { enabled: true, port: 0 },
    tcp: { enabled: true, port: 0 },
    tls: { enabled: false, port: 0, requireClientCert: false },
    allow: ['127.0.0.0/8', '::1/128'],
    maxConnections: 16,
    maxConnectionsPerIp: 16,
    idleTimeoutSec: 30,
    messageTimeoutSec: 5,
    maxMessageBytes: 65535,
    maxDecompressedBytes: 65536,
    keepAliveSec: 30,
    media: true,
    ...over,
  };
}

const open: Array<{ close?: () => void; destroy?: () => void }> = [];

function udpSend(port: number, msg: Buffer, host = '127.0.0.1', from?: string): void {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  open.push(s);
  s.bind({ port: 0, ...(from !== undefined ? { address: from } : {}) }, () => s.send(msg, port, host));
}

/** Many datagrams from one socket, in batches so the receiver (same event loop) keeps up with the kernel buffer. */
async function udpBurst(port: number, n: number, make: (i: number) => Buffer): Promise<void> {
  const s = dgram.createSocket('udp4');
  open.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < n; i++) {
    s.send(make(i), port, '127.0.0.1');
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 2));
  }
}

const tcp = (port: number, host = '127.0.0.1'): Promise<net.Socket> => connectTcp(port, open as Array<{ destroy(): void }>, host);
const closed = whenClosed;

describe('source-hep: HEP over UDP, TCP and TLS into the IngestSink', function () {
  this.timeout(30_000);
  let running: RunningSource | undefined;
  let source: HepSource;
  let metrics: PromMetrics;

  async function start(over: Partial<SourceHepOptions> = {}): Promise<{ sink: IngestRecorder; udp: number; tcp: number; tls: number }> {
    metrics = new PromMetrics();
    source = new HepSource(options(over), { metrics, log: memoryLogger('debug').log });
    running = await startSource(source);
    const l = source.listeners();
    return { sink: running.sink, udp: l.udp?.address()?.port ?? 0, tcp: l.tcp?.address()?.port ?? 0, tls: l.tls?.address()?.port ?? 0 };
  }

  afterEach(async () => {
    for (const s of open.splice(0)) (s.destroy ?? s.close)?.call(s);
    await running?.stop();
    running = undefined;
  });

  it('delivers SIP from HEPv3 over UDP with the sender\'s addresses, capture time, capture id and node name, bytes as sent', async () => {
    const { sink, udp } = await start();
    udpSend(udp, hep(1));
    await sink.until(() => sink.sips.length === 1);
    const s = sink.sips[0]!;
    assert.deepEqual({ ...s, data: s.data.toString('utf8') }, {
      ts: TS + 1,
      src: '192.0.2.10',
      sport: 5060,
      dst: '198.51.100.20',
      dport: 5062,
      transport: 'udp',
      data: invite(1),
      node: { id: 2001, name: 'kamailio-edge-1' },
      origin: `hep udp 127.0.0.1:${(s.origin ?? '').split(':').pop()}`,
    });
    assert.match(s.origin ?? '', /^hep udp 127\.0\.0\.1:\d+$/);
  });

  it('delivers HEPv2 and HEPv1 over UDP (v1 has no time: arrival time), IPv6 captured addresses, TCP and SCTP transports', async () => {
    const { sink, udp } = await start();
    const before = Date.now() * 1000;
    udpSend(udp, encodeHepV2({ src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060, ts: TS, captureId: 7, payload: invite(2) }, 2));
    udpSend(udp, encodeHepV2({ src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060, payload: invite(3) }, 1));
    udpSend(udp, hep(4, { src: '2001:db8::10', dst: '2001:db8:0:0:1::20', ipProto: 6 }));
    udpSend(udp, hep(5, { ipProto: 132 }));
    await sink.until(() => sink.sips.length === 4);
    const byText = (n: number) => sink.sips.find((s) => s.data.toString('utf8') === invite(n))!;
    assert.deepEqual([byText(2).ts, byText(2).node], [TS, { id: 7 }]);
    assert.ok(byText(3).ts >= before && byText(3).ts <= Date.now() * 1000, 'HEPv1: arrival time');
    assert.deepEqual([byText(4).src, byText(4).dst, byText(4).transport], ['2001:db8::10', '2001:db8::1:0:0:20', 'tcp']);
    assert.equal(byText(5).transport, 'sctp');
  });

  it('listens on IPv6 (::1) for UDP and TCP', async function () {
    const ok = await new Promise<boolean>((r) => {
      const t = net.createServer().once('error', () => r(false)).listen(0, '::1', () => t.close(() => r(true)));
    });
    if (!ok) {
      console.warn('    [tapline] no IPv6 loopback here: source-hep IPv6 test skipped');
      return this.skip();
    }
    const { sink, udp, tcp: tcpPort } = await start({ host: '::1' });
    udpSend(udp, hep(1), '::1');
    const c = await tcp(tcpPort, '::1');
    c.write(hep(2));
    await sink.until(() => sink.sips.length === 2);
    assert.deepEqual(sink.sips.map((s) => s.origin?.replace(/\d+$/, 'P')).sort(), ['hep tcp [::1]:P', 'hep udp [::1]:P']);
  });

  it('frames HEPv3 records over TCP: several in one segment, one split byte by byte, in order', async () => {
    const { sink, tcp: port } = await start();
    const c = await tcp(port);
    c.write(Buffer.concat([hep(1), hep(2), hep(3)]));
    const split = hep(4);
    for (let i = 0; i < split.length; i++) {
      c.write(split.subarray(i, i + 1));
      if (i % 40 === 0) await new Promise((r) => setImmediate(r));
    }
    c.write(hep(5));
    await sink.until(() => sink.sips.length === 5);
    assert.deepEqual(sink.sipTexts(), [1, 2, 3, 4, 5].map((n) => invite(n)));
    assert.ok(sink.sips.every((s) => s.transport === 'udp' && /^hep tcp 127\.0\.0\.1:\d+$/.test(s.origin ?? '')));
    const text = await metrics.registry.metrics();
    assert.match(text, /tapline_packets_in_total\{source="source-hep"\} 5/);
    assert.match(text, /tapline_feed_connections\{source="source-hep"\} 1/);
  });

  it('hands RTP and raw RTCP carried in HEP to media; counts JSON reports and logs as drops', async () => {
    const { sink, udp } = await start();
    const rtp = Buffer.concat([Buffer.from([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(160, 0xff)]);
    const rtcp = Buffer.from([0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef, ...Buffer.alloc(20)]);
    udpSend(udp, hep(0, { protoType: HepProtoType.RTP, payload: rtp, sport: 20000, dport: 30000 }));
    udpSend(udp, hep(0, { protoType: HepProtoType.RTCP, payload: rtcp, sport: 20001, dport: 30001 }));
    udpSend(udp, hep(0, { protoType: HepProtoType.RTCP, payload: '{"type":200,"ssrc":1}' }));
    udpSend(udp, hep(0, { protoType: HepProtoType.LOG, payload: 'a log line' }));
    udpSend(udp, hep(0, { payload: '', keepAliveTimer: 5 })); // a heartbeat: received, nothing lost
    await sink.until(() => sink.medias.length === 2 && sink.drops.length === 2);
    await eventually(async () => /tapline_packets_in_total\{source="source-hep"\} 5/.test(await metrics.registry.metrics()));
    const m = sink.medias.find((x) => x.sport === 20000)!;
    assert.deepEqual({ ...m, payload: m.payload.equals(rtp) }, { ts: TS, proto: 'udp', src: '192.0.2.10', sport: 20000, dst: '198.51.100.20', dport: 30000, payload: true, node: { id: 2001, name: 'kamailio-edge-1' } });
    assert.deepEqual(sink.drops.sort(), ['parse/hep-type-log', 'parse/hep-type-rtcp-json']);
  });

  describe('auth key (chunk 14)', () => {
    it('UDP: the right key is delivered; a wrong or missing key, and HEPv2 (which has none), are dropped at stage auth', async () => {
      const { sink, udp } = await start({ authKey: 'töp-secret' });
      udpSend(udp, hep(1, { authKey: 'töp-secret' }));
      udpSend(udp, hep(2, { authKey: 'töp-secreT' }));
      udpSend(udp, hep(3, { authKey: 'töp' }));
      udpSend(udp, hep(4));
      udpSend(udp, encodeHepV2({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload: invite(5) }));
      await sink.until(() => sink.sips.length + sink.drops.length === 5);
      assert.deepEqual(sink.sipTexts(), [invite(1)]);
      assert.deepEqual([sink.dropped('auth/hep-auth-key-wrong'), sink.dropped('auth/hep-auth-key-missing')], [2, 2]);
    });

    it('TCP: a connection sending a wrong key is dropped and closed; one with the right key keeps going', async () => {
      const { sink, tcp: port } = await start({ authKey: 'k' });
      const good = await tcp(port);
      good.write(Buffer.concat([hep(1, { authKey: 'k' }), hep(2, { authKey: 'k' })]));
      const bad = await tcp(port);
      bad.write(Buffer.concat([hep(3, { authKey: 'x' }), hep(4, { authKey: 'k' })]));
      await closed(bad);
      const none = await tcp(port);
      none.write(hep(5));
      await closed(none);
      await sink.until(() => sink.sips.length === 2);
      assert.deepEqual(sink.sipTexts(), [invite(1), invite(2)]);
      assert.deepEqual(sink.drops, ['auth/hep-auth-key-wrong', 'auth/hep-auth-key-missing']);
      assert.equal(source.listeners().tcp?.stats().closed['auth-failed'], 2);
      assert.equal(good.destroyed, false);
    });
  });

  describe('garbage, truncated and oversize HEP', () => {
    it('UDP: each is counted (parse or limit) and the next good packet still gets through', async () => {
      const { sink, udp } = await start({ maxMessageBytes: 2000, maxDecompressedBytes: 4096 });
      const good = hep(1);
      udpSend(udp, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));
      udpSend(udp, good.subarray(0, good.length - 10));
      udpSend(udp, hep(2, { payload: 'x'.repeat(3000) }));
      udpSend(udp, hep(3, { payload: Buffer.alloc(100_000, 65), compress: true }));
      udpSend(udp, hep(4, { extraChunks: [{ vendor: 0, type: HepChunk.IPV4_SRC, value: Buffer.alloc(3) }] }));
      udpSend(udp, good);
      await sink.until(() => sink.sips.length === 1 && sink.drops.length === 5);
      assert.deepEqual(sink.drops.sort(), ['limit/datagram-too-large', 'limit/hep-oversize', 'parse/hep-bad-chunk-length', 'parse/hep-bad-magic', 'parse/hep-truncated']);
    });

    it('TCP: garbage closes the connection at once; an oversize record header closes it before the body arrives; a cut record is counted when the peer closes', async () => {
      const { sink, tcp: port } = await start({ maxMessageBytes: 4000 });
      const g = await tcp(port);
      g.write(Buffer.concat([hep(1), Buffer.from('this is not HEP at all'), hep(2)]));
      await closed(g);
      const big = await tcp(port);
      big.write(hep(3, { payload: 'y'.repeat(5000) }).subarray(0, 6));
      await closed(big);
      const cut = await tcp(port);
      cut.end(hep(4).subarray(0, 50));
      await closed(cut);
      await sink.until(() => sink.drops.length === 3);
      assert.deepEqual(sink.sipTexts(), [invite(1)]);
      assert.deepEqual(sink.drops, ['parse/hep-bad-magic', 'limit/hep-oversize', 'parse/hep-truncated']);
      const st = source.listeners().tcp!.stats();
      assert.deepEqual([st.closed['parse-error'], st.closed['message-too-large'], st.closed['peer-closed'], st.connections, st.bufferedBytes], [1, 1, 1, 0, 0]);
    });

    it('TCP: a half-open record and a slow-loris drip are closed at the message timeout; a silent connection at the idle timeout', async () => {
      const { sink, tcp: port } = await start({ messageTimeoutSec: 0.4, idleTimeoutSec: 0.6 });
      const half = await tcp(port);
      half.write(hep(1).subarray(0, 30));
      const drip = await tcp(port);
      const rec = hep(2);
      let i = 0;
      const timer = setInterval(() => drip.writable && i < rec.length - 1 && drip.write(rec.subarray(i, ++i)), 40);
      const silent = await tcp(port);
      try {
        const [a, b, c] = await Promise.all([closed(half), closed(drip), closed(silent)]);
        assert.ok(a >= 300 && a < 1500 && b >= 300 && b < 1500, `message timeouts after ${a} and ${b} ms`);
        assert.ok(c >= 500 && c < 2000, `idle timeout after ${c} ms`);
      } finally {
        clearInterval(timer);
      }
      assert.deepEqual(sink.drops, ['limit/message-timeout', 'limit/message-timeout']);
      assert.deepEqual(source.listeners().tcp!.stats().closed, { 'message-timeout': 2, 'idle-timeout': 1 });
      // The silent connection lost nothing (no drop), and still shows in the metrics.
      const counted = [/tapline_feed_connections_closed_total\{source="source-hep",reason="idle-timeout"\} 1\n/, /tapline_feed_connections_closed_total\{source="source-hep",reason="message-timeout"\} 2\n/];
      await eventually(async () => {
        const text = await metrics.registry.metrics();
        return counted.every((re) => re.test(text));
      }, 3000, 'the closes counted');
    });

    it('a flood beyond the limits is refused and counted, and what is held stays bounded (connections, bytes)', async () => {
      const { sink, tcp: port, udp } = await start({ maxConnections: 8, maxConnectionsPerIp: 8, maxMessageBytes: 8192, messageTimeoutSec: 10 });
      // 40 connections each announce a big record and send part of it; 5000 garbage datagrams.
      const socks = await Promise.all(Array.from({ length: 40 }, () => tcp(port).catch(() => undefined)));
      const partial = hep(1, { payload: 'z'.repeat(8000) });
      for (const s of socks) if (s !== undefined && !s.destroyed) s.write(partial.subarray(0, 7000));
      await udpBurst(udp, 5000, (i) => Buffer.from(`junk ${i}`));
      const tcpl = source.listeners().tcp!;
      await sink.until(() => sink.dropped('limit/too-many-connections') === 32 && sink.dropped('parse/hep-bad-magic') >= 2500, 15_000, 'the flood to be counted');
      // (Loopback UDP itself drops some of a burst when the receive buffer fills: only what was read can be counted.)
      assert.equal(source.listeners().udp!.stats().received, sink.dropped('parse/hep-bad-magic'), 'every datagram read was counted, none kept');
      await new Promise((r) => setTimeout(r, 200));
      const st = tcpl.stats();
      assert.equal(st.connections, 8);
      assert.ok(st.bufferedBytes <= 8 * 7000, `held ${st.bufferedBytes} bytes`);
      assert.equal(sink.sips.length, 0);
      for (const s of open.splice(0)) (s.destroy ?? s.close)?.call(s);
      await eventually(() => tcpl.stats().connections === 0);
      assert.equal(tcpl.stats().bufferedBytes, 0);
      assert.equal(sink.dropped('parse/hep-truncated'), 8, 'the 8 partial records are counted when their senders leave');
    });
  });

  describe('TLS', () => {
    let pki: TestPki | undefined;
    before(function () {
      const why = opensslUnavailable();
      if (why !== undefined) {
        console.warn(`    [tapline] ${why}: source-hep TLS tests skipped`);
        return this.skip();
      }
      pki = makeTestPki();
    });
    after(() => pki?.cleanup());

    function tlsConnect(port: number, withCert: 'mine' | 'other' | 'none'): Promise<tls.TLSSocket> {
      const p = pki!;
      const cert = withCert === 'mine' ? { cert: fs.readFileSync(p.clientCert), key: fs.readFileSync(p.clientKey) } : withCert === 'other' ? { cert: fs.readFileSync(p.otherClientCert), key: fs.readFileSync(p.otherClientKey) } : {};
      return new Promise((resolve, reject) => {
        const s = tls.connect({ port, host: '127.0.0.1', ca: fs.readFileSync(p.ca), servername: 'localhost', ...cert }, () => resolve(s));
        open.push(s);
        s.on('error', reject);
      });
    }

    it('delivers HEP over mutual TLS and refuses senders without a valid client certificate (drop stage auth)', async () => {
      const p = pki!;
      const { sink, tls: port } = await start({ udp: { enabled: false, port: 0 }, tcp: { enabled: false, port: 0 }, tls: { enabled: true, port: 0, cert: p.serverCert, key: p.serverKey, ca: p.ca, requireClientCert: true } });
      const good = await tlsConnect(port, 'mine');
      good.write(Buffer.concat([hep(1), hep(2)]));
      for (const who of ['none', 'other'] as const) {
        const s = await tlsConnect(port, who).catch(() => undefined);
        s?.write(hep(9));
        if (s !== undefined) await closed(s);
      }
      await sink.until(() => sink.sips.length === 2 && sink.drops.length === 2);
      assert.deepEqual(sink.sipTexts(), [invite(1), invite(2)]);
      const s = sink.sips[0]!;
      assert.deepEqual([s.src, s.sport, s.dst, s.dport, s.ts, s.node], ['192.0.2.10', 5060, '198.51.100.20', 5062, TS + 1, { id: 2001, name: 'kamailio-edge-1' }]);
      assert.match(s.origin ?? '', /^hep tls 127\.0\.0\.1:\d+$/);
      assert.deepEqual(sink.drops, ['auth/client-certificate-missing', 'auth/client-certificate-invalid']);
    });

    it('TLS: garbage, an oversize record, a truncated record and a slow record are each closed and counted', async () => {
      const p = pki!;
      const { sink, tls: port } = await start({ tcp: { enabled: false, port: 0 }, tls: { enabled: true, port: 0, cert: p.serverCert, key: p.serverKey, requireClientCert: false }, messageTimeoutSec: 0.4, maxMessageBytes: 4000 });
      const g = await tlsConnect(port, 'none');
      g.write('GET / HTTP/1.1\r\n\r\n');
      const big = await tlsConnect(port, 'none');
      big.write(hep(2, { payload: 'y'.repeat(5000) }));
      const slow = await tlsConnect(port, 'none');
      slow.write(hep(1).subarray(0, 20));
      await Promise.all([closed(g), closed(big), closed(slow)]);
      const cut = await tlsConnect(port, 'none');
      cut.end(hep(3).subarray(0, 40));
      await closed(cut);
      await sink.until(() => sink.drops.length === 4);
      assert.deepEqual(sink.drops.sort(), ['limit/hep-oversize', 'limit/message-timeout', 'parse/hep-bad-magic', 'parse/hep-truncated']);
      assert.deepEqual(source.listeners().tls!.stats().connections, 0);
    });
  });

  it('names a missing certificate file and a port in use, leaving nothing listening', async () => {
    const bad = new HepSource(options({ tls: { enabled: true, port: 0, cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem', requireClientCert: false } }), { metrics: new PromMetrics(), log: memoryLogger().log });
    await assert.rejects(startSource(bad), (e: unknown) => isTaplineError(e, ErrorCodes.LISTENER_CONFIG) && /\/nonexistent\/cert\.pem/.test(e.message));
    const { tcp: taken } = await start({ udp: { enabled: false, port: 0 } });
    const free = await new Promise<number>((r) => {
      const u = dgram.createSocket('udp4');
      u.bind(0, '127.0.0.1', () => {
        const port = u.address().port;
        u.close(() => r(port));
      });
    });
    const clash = new HepSource(options({ udp: { enabled: true, port: free }, tcp: { enabled: true, port: taken } }), { metrics: new PromMetrics(), log: memoryLogger().log });
    await assert.rejects(startSource(clash), (e: unknown) => isTaplineError(e, ErrorCodes.LISTENER_BIND) && /EADDRINUSE/.test(e.message));
    // The UDP listener it had started is closed again: the port can be bound.
    await new Promise<void>((resolve, reject) => {
      const u = dgram.createSocket('udp4');
      u.once('error', reject);
      u.bind(free, '127.0.0.1', () => u.close(() => resolve()));
    });
  });

  it('stops: listeners close, run() resolves with what it delivered, the gauge returns to 0', async () => {
    const { sink, udp, tcp: port } = await start();
    udpSend(udp, hep(1));
    const c = await tcp(port);
    c.write(hep(2));
    await sink.until(() => sink.sips.length === 2);
    const r = await running!.stop();
    running = undefined;
    assert.deepEqual(r, { frames: 2 });
    await assert.rejects(tcp(port), /ECONNREFUSED/);
    assert.match(await metrics.registry.metrics(), /tapline_feed_connections\{source="source-hep"\} 0/);
  });

  it('is a plugin: schema defaults (UDP and TCP on 9060, loopback only), a bad CIDR or TLS without files refused', async () => {
    const h = await PluginHarness.create(plugin, { options: {} });
    try {
      const [src] = h.resolveAll(Tokens.Source) as unknown as HepSource[];
      assert.ok(src instanceof HepSource);
      assert.equal(src.label, 'hep udp 0.0.0.0:9060, tcp 0.0.0.0:9060');
      assert.equal(src.live, true);
    } finally {
      await h.stop();
    }
    await assert.rejects(PluginHarness.create(plugin, { options: { allow: ['10.0.0.0/99'] } }), /10\.0\.0\.0\/99/);
    await assert.rejects(PluginHarness.create(plugin, { options: { tls: { enabled: true } } }), /cert/);
    await assert.rejects(PluginHarness.create(plugin, { options: { tls: { enabled: true, cert: 'a', key: 'b', requireClientCert: true } } }), /ca/);
  });

  it('inflates compressed SIP (chunk 16) and delivers it byte for byte', async () => {
    const { sink, udp } = await start();
    udpSend(udp, hep(1, { compress: true }));
    await sink.until(() => sink.sips.length === 1);
    assert.deepEqual(sink.sipTexts(), [invite(1)]);
  });
});
