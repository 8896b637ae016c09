/**
 * HEP feed throughput: decoding a HEPv3 record holding a ~1 KB INVITE, framing records on a stream, and source-hep
 * end to end over loopback TCP and UDP into a sink that only counts.
 * Run alone: npx tsx test/bench/hep-bench.ts
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { memoryLogger } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { decodeHep } from '../../core/net/hep';
import { encodeHep3 } from '../../core/net/hep-encode';
import { HepStreamReader } from '../../core/net/hep-stream';
import { HepSource } from '../../plugins/source-hep/hep-source';
import { IngestRecorder, startSource } from '../ingest-recorder';
import type { BenchResult } from './types';

export type { BenchResult };

const INVITE = [
  'INVITE sip:bob@contoso.com SIP/2.0',
  'Via: SIP/2.0/TLS 10.20.30.41:50123;branch=z9hG4bK3f0c1a;ms-received-port=50123;ms-received-cid=1F00',
  'Max-Forwards: 70',
  'From: "Jürgen Müller" <sip:juergen@contoso.com>;tag=8a2f9c;epid=01020304ab',
  'To: <sip:bob@contoso.com>',
  'Call-ID: 5b0c2e1d7f9a4c3b8e6d1a2f3c4b5a69',
  'CSeq: 1 INVITE',
  'Contact: <sip:juergen@contoso.com;opaque=user:epid:AbCdEfGhIjKlMnOp;gruu>',
  'User-Agent: UCCAPI/16.0.4417.1000 OC/16.0.4417.1000 (Skype for Business)',
  'Ms-Conversation-ID: AdTKbwC5ZbC2d1Y3Qx2Kq0y1b2c3d4e5f6g7',
  'Supported: ms-dialog-route-set-update, timer, histinfo, ms-safe-transfer, ms-sender, ms-early-media',
  'Content-Type: application/sdp',
  'Content-Length: 420',
  '',
  'v=0\r\no=- 0 0 IN IP4 10.20.30.41\r\ns=session\r\nc=IN IP4 10.20.30.41\r\nt=0 0\r\nm=audio 50020 RTP/SAVP 104 9 0 8 101\r\na=ice-ufrag:lMRF\r\na=ice-pwd:oeNM9Rf6IT4BtUaOKa60ivx2\r\na=candidate:1 1 UDP 2130706431 10.20.30.41 50020 typ host\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:3t+Jui/n92LdQz7Ng0hZCkw1RYyxLQpHkzGFiw5p|2^31|1:1\r\na=rtpmap:104 SILK/16000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n'.padEnd(420, ' '),
].join('\r\n');

function record(i: number): Buffer {
  return encodeHep3({ src: '10.20.30.41', sport: 50123, dst: '10.20.30.1', dport: 5061, ipProto: 6, ts: 1_767_225_600_000_000 + i, captureId: 2001, nodeName: 'fe01', payload: INVITE });
}

function rate(n: number, ns: bigint): number {
  return Math.round(n / (Number(ns) / 1e9));
}

export async function benchHep(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const rec = record(1);

  const N = 300_000;
  for (let i = 0; i < 20_000; i++) decodeHep(rec);
  let t0 = process.hrtime.bigint();
  let ok = 0;
  for (let i = 0; i < N; i++) if (decodeHep(rec).ok) ok++;
  out.push({ name: `decodeHep, HEPv3 record of ${rec.length} bytes (Lync INVITE)`, value: rate(ok, process.hrtime.bigint() - t0), unit: 'records/s' });

  const stream = Buffer.concat(Array.from({ length: 2000 }, (_, i) => record(i)));
  const reader = new HepStreamReader();
  t0 = process.hrtime.bigint();
  let framed = 0;
  for (let round = 0; round < 50; round++) for (let off = 0; off < stream.length; off += 1460) framed += reader.push(stream.subarray(off, off + 1460)).results.length;
  out.push({ name: 'HepStreamReader, records split into 1460-byte segments', value: rate(framed, process.hrtime.bigint() - t0), unit: 'records/s' });

  // End to end over loopback: the sink only counts (no kernel behind it).
  class CountingSink extends IngestRecorder {
    count = 0;
    last = 0n;
    override sip(): void {
      this.count++;
      this.last = process.hrtime.bigint();
    }
  }
  const source = new HepSource(
    { host: '127.0.0.1', udp: { enabled: true, port: 0 }, tcp: { enabled: true, port: 0 }, tls: { enabled: false, port: 0, requireClientCert: false }, allow: ['127.0.0.0/8'], maxConnections: 8, maxConnectionsPerIp: 8, idleTimeoutSec: 30, messageTimeoutSec: 10, maxMessageBytes: 65535, maxDecompressedBytes: 65536, keepAliveSec: 30, media: true, udpReceiveBufferBytes: 4 * 1024 * 1024 },
    { metrics: new PromMetrics(), log: memoryLogger('warn').log },
  );
  const sink = new CountingSink();
  const running = await startSource(source, sink);
  try {
    const tcpPort = source.listeners().tcp!.address()!.port;
    const M = 200_000;
    const burst = Buffer.concat(Array.from({ length: 1000 }, (_, i) => record(i)));
    const sock = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(tcpPort, '127.0.0.1', () => resolve(s));
    });
    t0 = process.hrtime.bigint();
    for (let i = 0; i < M / 1000; i++) if (!sock.write(burst)) await new Promise((r) => sock.once('drain', r));
    while (sink.count < M) await new Promise((r) => setImmediate(r));
    out.push({ name: 'source-hep over loopback TCP, end to end into the sink', value: rate(M, process.hrtime.bigint() - t0), unit: 'msg/s' });
    sock.destroy();

    const udpPort = source.listeners().udp!.address()!.port;
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
    const before = sink.count;
    const U = 50_000;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < U; i++) {
      u.send(rec, udpPort, '127.0.0.1');
      if (i % 32 === 31) await new Promise((r) => setImmediate(r));
    }
    const deadline = Date.now() + 2000;
    while (sink.count - before < U && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const got = sink.count - before;
    out.push({ name: 'source-hep over loopback UDP, end to end into the sink (sender in the same process)', value: rate(got, sink.last - t0), unit: 'msg/s', notes: `${got}/${U} datagrams arrived${got < U ? ' (the kernel drops what overflows the receive buffer)' : ''}` });
    u.close();
  } finally {
    await running.stop();
  }
  return out;
}

if (require.main === module) {
  benchHep().then(
    (r) => console.table(r),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
