/**
 * source-hep fed by a real HEP sender: Kamailio 5.6 siptrace (hep_mode_on) duplicating the SIP it receives to
 * source-hep over UDP (HEPv3 and HEPv2) and over TCP (HEPv3 records on a connection Kamailio keeps open).
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { startSource, type RunningSource } from '../../test/ingest-recorder';
import { freePort, kamailioUnavailable, startKamailio, type Kamailio } from '../../test/peers/kamailio-raw';
import { HepSource, type SourceHepOptions } from './hep-source';

function options(over: Partial<SourceHepOptions>): SourceHepOptions {
  return {
    host: '127.0.0.1',
    udp: { enabled: true, port: 0 },
    tcp: { enabled: true, port: 0 },
    tls: { enabled: false, port: 0, requireClientCert: false },
    allow: ['127.0.0.0/8'],
    maxConnections: 4,
    maxConnectionsPerIp: 4,
    idleTimeoutSec: 30,
    messageTimeoutSec: 5,
    maxMessageBytes: 65535,
    maxDecompressedBytes: 65536,
    keepAliveSec: 30,
    media: true,
    ...over,
  };
}

function message(kport: number, uacPort: number, n: number): string {
  return [
    `MESSAGE sip:bob@127.0.0.1:${kport} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${uacPort};branch=z9hG4bKkam${n}`,
    'Max-Forwards: 70',
    `From: "Åsa Öberg" <sip:asa@example.com>;tag=a${n}`,
    'To: <sip:bob@example.com>',
    `Call-ID: kamailio-interop-${n}@example.com`,
    `CSeq: ${n} MESSAGE`,
    'Content-Type: text/plain;charset=utf-8',
    `Content-Length: ${Buffer.byteLength(`héllo ${n}`)}`,
    '',
    `héllo ${n}`,
  ].join('\r\n');
}

describe('source-hep fed by Kamailio siptrace (a real HEP sender)', function () {
  this.timeout(30_000);
  let why: string | undefined;
  before(() => {
    why = kamailioUnavailable(['siptrace', 'xlog', 'pv']);
    if (why !== undefined) console.warn(`    [tapline] ${why}: Kamailio → source-hep tests skipped`);
  });
  let kam: Kamailio | undefined;
  let running: RunningSource | undefined;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await kam?.stop();
    kam = undefined;
    await running?.stop();
    running = undefined;
  });

  const cases = [
    { name: 'HEPv3 over UDP', transport: 'udp', version: 3 },
    { name: 'HEPv2 over UDP', transport: 'udp', version: 2 },
    { name: 'HEPv3 over TCP', transport: 'tcp', version: 3 },
  ] as const;

  for (const c of cases) {
    it(`${c.name}: every traced message arrives with Kamailio's addresses, time and capture id`, async function () {
      if (why !== undefined) return this.skip();
      const source = new HepSource(options(c.transport === 'udp' ? { tcp: { enabled: false, port: 0 } } : { udp: { enabled: false, port: 0 } }), { metrics: new PromMetrics(), log: memoryLogger().log });
      running = await startSource(source);
      const l = source.listeners();
      const hepPort = (c.transport === 'udp' ? l.udp?.address()?.port : l.tcp?.address()?.port) as number;
      const kport = await freePort();
      kam = await startKamailio(
        [
          `listen=udp:127.0.0.1:${kport}`,
          ...(c.transport === 'tcp' ? ['tcp_children=1', `listen=tcp:127.0.0.1:${kport}`] : ['disable_tcp=yes']),
          'loadmodule "pv.so"',
          'loadmodule "xlog.so"',
          'loadmodule "siptrace.so"',
          `modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:${hepPort}${c.transport === 'tcp' ? ';transport=tcp' : ''}")`,
          'modparam("siptrace", "hep_mode_on", 1)',
          `modparam("siptrace", "hep_version", ${c.version})`,
          'modparam("siptrace", "hep_capture_id", 4242)',
          'modparam("siptrace", "trace_to_database", 0)',
          'modparam("siptrace", "trace_on", 1)',
          'request_route { sip_trace(); exit; }',
        ].join('\n'),
      );
      const uac = await new Promise<dgram.Socket>((resolve) => {
        const s = dgram.createSocket('udp4');
        s.bind(0, '127.0.0.1', () => resolve(s));
      });
      sockets.push(uac);
      const uacPort = uac.address().port;
      const before = Date.now() * 1000;
      const sent = [1, 2, 3, 4, 5].map((n) => message(kport, uacPort, n));
      for (const m of sent) uac.send(m, kport, '127.0.0.1');
      const sink = running.sink;
      await sink.until(() => sink.sips.length === 5, 10_000, 'five traced messages');
      assert.deepEqual(sink.sipTexts().sort(), [...sent].sort(), 'the messages byte for byte');
      for (const s of sink.sips) {
        assert.deepEqual([s.src, s.sport, s.dst, s.dport, s.transport, s.node], ['127.0.0.1', uacPort, '127.0.0.1', kport, 'udp', { id: 4242 }]);
        assert.ok(s.ts >= before - 1000 && s.ts <= Date.now() * 1000 + 1000, 'Kamailio\'s capture time');
        assert.match(s.origin ?? '', new RegExp(`^hep ${c.transport} 127\\.0\\.0\\.1:\\d+$`));
      }
      assert.deepEqual(sink.drops, []);
      if (c.transport === 'tcp') assert.equal(l.tcp?.stats().accepted, 1, 'Kamailio kept one connection for all five');
    });
  }
});
