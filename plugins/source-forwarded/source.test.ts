import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { buildPcap } from '../../core/net/capture-writer';
import { ethernet, ipv6, udp } from '../../core/net/packet-builder';
import { TfwdEncoder, TfwdKey } from '../../core/net/tfwd';
import { LinkType } from '../../core/net/types';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { loadIpPackets, sendForwarded, type ForwardPacket } from '../../test/forward-sender';
import { haveTshark, tsharkFields, epochToUs } from '../../test/tshark';
import { udpFrames } from '../source-generator/net-frames';
import { metricValue, sendDatagrams, startSource, waitFor, type Running } from './test-support';
import { encodeTzsp, tzspOriginalLength } from './tzsp';

const SECRET = 'hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const KEY = new TfwdKey(3, Buffer.from(SECRET.slice(4), 'hex'));
const WRONG = new TfwdKey(3, Buffer.from('ffeeddccbbaa99887766554433221100', 'hex'));
const T0 = 1_760_000_000_000_000;

/** A capture of RTP over IPv4 and IPv6 (Ethernet), written to a temporary pcap. */
function writeCapture(dir: string, n: number): string {
  const frames = [];
  for (let i = 0; i < n; i++) {
    const rtp = Buffer.alloc(172, i & 0xff);
    rtp.writeUInt16BE(0x8000, 0);
    rtp.writeUInt16BE(i & 0xffff, 2);
    const data =
      i % 5 === 4
        ? ethernet(0x86dd, ipv6(17, udp(30000, 40000, rtp), { src: '2001:db8::10', dst: '2001:db8::20' }))
        : udpFrames(`10.0.0.${1 + (i % 7)}`, 20000 + (i % 7) * 2, '10.9.0.1', 30000, rtp, i & 0xffff)[0]!;
    frames.push({ ts: T0 + i * 125 + (i % 3), data });
  }
  // Non-UDP frames the sender leaves out: an ARP and an IPv4 TCP segment.
  frames.push({ ts: T0 + n * 125, data: ethernet(0x0806, Buffer.alloc(28)) });
  const file = path.join(dir, 'rtp.pcap');
  fs.writeFileSync(file, buildPcap(frames, { linkType: LinkType.ETHERNET }));
  return file;
}

function tfwdOptions(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { keys: { '3': SECRET }, statsIntervalMs: 100, ...extra };
}

describe('source-forwarded on real sockets', function () {
  this.timeout(60_000);
  let dir: string;
  let running: Running | undefined;
  let packets: ForwardPacket[];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-fwd-'));
    packets = (await loadIpPackets(writeCapture(dir, 3000))).packets;
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('delivers every TFWD packet from forward-sender with its capture time, bytes and sensor', async () => {
    assert.equal(packets.length, 3000, 'the sender keeps the UDP packets (ARP left out)');
    running = await startSource(tfwdOptions());
    const res = await sendForwarded({ packets, host: '127.0.0.1', port: running.port('tfwd'), rate: 50_000, sensorId: 17, deploymentId: 4, key: KEY });
    const { sink, metrics } = running;
    await waitFor(() => sink.ipPackets.length >= 3000, 10_000, 'all packets');
    assert.equal(res.packets, 3000);
    assert.ok(res.datagrams < 3000 / 5, `batched: ${res.datagrams} datagrams`);
    assert.equal(sink.ipPackets.length, 3000);
    sink.ipPackets.forEach((p, i) => {
      assert.equal(p.ts, packets[i]!.ts, `packet ${i} time`);
      assert.deepEqual(p.data, packets[i]!.data, `packet ${i} bytes`);
      assert.deepEqual(p.node, { id: 17, deployment: 4 });
    });
    assert.deepEqual([...sink.dropCounts()], []);
    const r = await running.stop();
    running = undefined;
    assert.equal(r.frames, 3000);
    assert.equal(await metricValue(metrics, 'tapline_forwarded_lost_total'), 0);
    assert.equal(await metricValue(metrics, 'tapline_packets_in_total', { source: 'tfwd' }), 3000);
  });

  it('counts injected loss per sensor from the sequence numbers (tapline_forwarded_lost_total)', async () => {
    running = await startSource(tfwdOptions());
    const res = await sendForwarded({ packets, host: '127.0.0.1', port: running.port('tfwd'), rate: 50_000, sensorId: 21, key: KEY, lossEvery: 7 });
    assert.ok(res.droppedPackets > 0);
    await waitFor(() => running!.sink.ipPackets.length >= res.sentPackets, 10_000, 'the packets not lost');
    const { metrics, sink, source } = running;
    await running.stop();
    running = undefined;
    assert.equal(sink.ipPackets.length, res.sentPackets);
    const lost = await metricValue(metrics, 'tapline_forwarded_lost_total', { sensor: 21 });
    assert.equal(lost, res.droppedPackets, 'every packet the sender withheld is counted lost, no more');
    assert.equal(source.sensors()[0]!.stats.lost, res.droppedPackets);
    assert.equal(await metricValue(metrics, 'tapline_packets_in_total', { source: 'tfwd' }), res.sentPackets);
  });

  it('drops and counts datagrams with a wrong key, an unknown key id, or no tag', async () => {
    running = await startSource(tfwdOptions());
    const port = running.port('tfwd');
    const some = packets.slice(0, 200);
    const wrong = await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 1, key: WRONG });
    const unknown = await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 1, key: new TfwdKey(9, Buffer.alloc(32, 1)) });
    const plain = await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 1 });
    const { sink } = running;
    const total = wrong.datagrams + unknown.datagrams + plain.datagrams;
    await waitFor(() => running!.source.totals().tfwd!.refused >= total, 5000, 'refusals');
    assert.equal(sink.dropped('auth', 'tfwd-bad-hmac'), wrong.datagrams);
    assert.equal(sink.dropped('auth', 'tfwd-unknown-key-id'), unknown.datagrams);
    assert.equal(sink.dropped('auth', 'tfwd-unauthenticated'), plain.datagrams);
    assert.equal(sink.ipPackets.length, 0);
    assert.equal(running.source.sensors().length, 0, 'refused datagrams create no sensor state');
    // The refusals are logged, but at most once a minute per reason.
    assert.equal(running.logs.filter((l) => l.fields.reason === 'tfwd-bad-hmac').length, 1);
  });

  it('drops and counts datagrams from an address not on the allow-list', async () => {
    running = await startSource(tfwdOptions({ tfwd: { allow: ['127.0.0.1/32'] } }));
    const port = running.port('tfwd');
    const some = packets.slice(0, 100);
    const outsider = await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 1, key: KEY, bindAddress: '127.0.0.2' });
    await waitFor(() => running!.sink.dropped('auth', 'tfwd-not-allowed') >= outsider.datagrams, 5000, 'refusals');
    assert.equal(running.sink.ipPackets.length, 0);
    await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 1, key: KEY, bindAddress: '127.0.0.1' });
    await waitFor(() => running!.sink.ipPackets.length >= 100, 5000, 'the listed sender');
    assert.equal(running.sink.dropped('auth', 'tfwd-not-allowed'), outsider.datagrams);
  });

  it('ignores other deployments and sensors when filtered, counting their packets', async () => {
    running = await startSource(tfwdOptions({ deployments: [4], sensors: [17] }));
    const port = running.port('tfwd');
    const some = packets.slice(0, 300);
    await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 17, deploymentId: 5, key: KEY });
    await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 18, deploymentId: 4, key: KEY });
    await sendForwarded({ packets: some, host: '127.0.0.1', port, sensorId: 17, deploymentId: 4, key: KEY });
    await waitFor(() => running!.sink.ipPackets.length >= 300, 5000, 'the accepted sensor');
    assert.equal(running.sink.dropped('auth', 'tfwd-other-deployment'), 300);
    assert.equal(running.sink.dropped('auth', 'tfwd-other-sensor'), 300);
  });

  it('accepts unsigned TFWD when authentication is explicitly off (allow-list only)', async () => {
    running = await startSource({ tfwd: { authenticate: false }, statsIntervalMs: 100 });
    await sendForwarded({ packets: packets.slice(0, 50), host: '127.0.0.1', port: running.port('tfwd'), sensorId: 2 });
    await waitFor(() => running!.sink.ipPackets.length >= 50, 5000, 'packets');
  });

  it('fails to start with TAPLINE_ERR_FORWARDED_LISTEN when a port is taken, closing what it had bound', async () => {
    const first = await startSource(tfwdOptions());
    try {
      const taken = first.port('tfwd');
      await assert.rejects(startSource(tfwdOptions({ vxlan: { enabled: true }, tzsp: { enabled: true, port: taken } })), (e: unknown) => {
        assert.ok(isTaplineError(e, ErrorCodes.FORWARDED_LISTEN));
        assert.match(e.message, /EADDRINUSE/);
        return true;
      });
    } finally {
      await first.stop();
    }
  });

  it('listens on IPv6 too', async () => {
    running = await startSource(tfwdOptions({ tfwd: { host: '::1' } }));
    await sendForwarded({ packets: packets.slice(0, 50), host: '::1', port: running.port('tfwd'), sensorId: 2, key: KEY });
    await waitFor(() => running!.sink.ipPackets.length >= 50, 5000, 'packets over IPv6');
  });

  it('reports increases of the sensor\'s own capture drops (kernel/sensor-capture)', async () => {
    running = await startSource(tfwdOptions());
    const port = running.port('tfwd');
    const out: Buffer[] = [];
    const enc = new TfwdEncoder({ sensorId: 5, key: KEY }, (d) => out.push(d));
    enc.sensorDrops = 40; // before the recorder first heard of it: not counted again
    enc.add(T0, packets[0]!.data);
    enc.flush();
    enc.sensorDrops = 47;
    enc.add(T0 + 1, packets[1]!.data);
    enc.flush();
    enc.sensorDrops = 50;
    enc.heartbeat(T0 + 2);
    await sendDatagrams(out, port);
    await waitFor(() => running!.source.totals().tfwd!.datagrams >= 3, 5000, 'datagrams');
    assert.equal(running.sink.dropped('kernel', 'sensor-capture'), 10);
    assert.equal(await metricValue(running.metrics, 'tapline_forwarded_sensor_drops_total', { sensor: 5 }), 10);
  });

  it('reads the kernel\'s receive-buffer drops from /proc/net/udp and reports them (kernel/udp-rcvbuf)', async function () {
    if (!fs.existsSync('/proc/net/udp')) {
      console.warn('    [tapline] no /proc/net/udp: kernel drop counting not testable here');
      this.skip();
    }
    running = await startSource(tfwdOptions({ recvBufferBytes: 4096 }));
    const port = running.port('tfwd');
    // 2000 datagrams of one packet each, sent by a worker thread while this thread is blocked and reads nothing.
    const dgrams: Buffer[] = [];
    const enc = new TfwdEncoder({ sensorId: 8, key: KEY, mtu: 300 }, (d) => dgrams.push(d));
    for (let i = 0; i < 2000; i++) {
      enc.add(T0 + i, packets[i]!.data);
      enc.flush();
    }
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const s = require('node:dgram').createSocket('udp4');
       let left = workerData.dgrams.length;
       for (const d of workerData.dgrams) s.send(Buffer.from(d), workerData.port, '127.0.0.1', () => {
         if (--left === 0) { Atomics.store(workerData.flag, 0, 1); Atomics.notify(workerData.flag, 0); s.close(); }
       });`,
      { eval: true, workerData: { dgrams, port, flag } },
    );
    try {
      Atomics.wait(flag, 0, 0, 20_000);
    } finally {
      await worker.terminate();
    }
    assert.equal(flag[0], 1, 'the worker sent everything');
    const { sink, source } = running;
    await waitFor(() => sink.ipPackets.length + sink.dropped('kernel', 'udp-rcvbuf') >= 2000, 5000, 'packets and drops adding up');
    const kernel = sink.dropped('kernel', 'udp-rcvbuf');
    assert.ok(kernel > 0, 'a 4 KiB buffer overflows');
    assert.equal(sink.ipPackets.length + kernel, 2000, 'every datagram was delivered or counted as a kernel drop');
    assert.equal(source.totals().tfwd!.kernelDrops, kernel);
    const bound = source.bound()[0]!;
    assert.ok(bound.recvBufferBytes < 64 * 1024, `effective SO_RCVBUF ${bound.recvBufferBytes} read back`);
    // The same loss, seen by the sensor's sequence numbers once a heartbeat says where the sequence is.
    const hb: Buffer[] = [];
    new TfwdEncoder({ sensorId: 8, key: KEY, bootId: enc.bootId, seqStart: enc.seq }, (d) => hb.push(d)).heartbeat(T0 + 5000);
    await sendDatagrams(hb, port);
    await waitFor(() => source.totals().tfwd!.datagrams > sink.ipPackets.length, 5000, 'the heartbeat');
    await running.stop();
    running = undefined;
    assert.equal(source.sensors()[0]!.stats.lost, kernel);
  });

  it('decodes TZSP from a sniffer: Ethernet frames stamped with their arrival time, keepalives ignored', async () => {
    let now = T0;
    running = await startSource({ tfwd: { enabled: false }, tzsp: { enabled: true }, statsIntervalMs: 100 }, { now: () => (now += 10) });
    const inner = udpFrames('10.5.0.1', 7078, '10.5.0.2', 9078, Buffer.alloc(160, 0xd5), 9)[0]!;
    const keepalive = Buffer.from([1, 4, 0, 1]);
    const bad = Buffer.from([1, 0, 0, 1, 60, 250]);
    await sendDatagrams([encodeTzsp(inner), keepalive, encodeTzsp(inner, { tags: [tzspOriginalLength(1500)] }), bad], running.port('tzsp'));
    await waitFor(() => running!.source.totals().tzsp!.datagrams >= 4, 5000, 'datagrams');
    const f = running.sink.frames;
    assert.equal(f.length, 2);
    assert.deepEqual(f[0]!.data, inner);
    assert.equal(f[0]!.linkType, LinkType.ETHERNET);
    assert.deepEqual(
      f.map((x) => [x.ts, x.origLen, x.frameNo]),
      [
        [T0 + 10, inner.length, 1],
        [T0 + 20, 1500, 2],
      ],
    );
    assert.deepEqual([...running.sink.dropCounts()], [['parse/tzsp-bad-tag', 1]]);
  });

  it('keeps memory bounded under a flood of junk and of unknown sensors', async () => {
    running = await startSource({ tfwd: { authenticate: false }, maxSensors: 64, statsIntervalMs: 100 });
    const port = running.port('tfwd');
    const flood = async (round: number): Promise<void> => {
      const junk: Buffer[] = [];
      for (let i = 0; i < 10_000; i++) junk.push(Buffer.from(`junk ${round} ${i} `.repeat(1 + (i % 20))));
      const sensors: Buffer[] = [];
      for (let i = 0; i < 5000; i++) {
        const enc = new TfwdEncoder({ sensorId: round * 100_000 + i, deploymentId: i % 3 }, (d) => sensors.push(d));
        enc.add(T0 + i, packets[i % packets.length]!.data);
        enc.flush();
      }
      await sendDatagrams([...junk, ...sensors], port);
    };
    const gc = exposeGc();
    await flood(1);
    const t = (): number => running!.source.totals().tfwd!.datagrams + running!.source.totals().tfwd!.kernelDrops;
    await waitFor(() => t() >= 15_000, 10_000, 'first flood');
    gc?.();
    const heap1 = process.memoryUsage().heapUsed;
    await flood(2);
    await waitFor(() => t() >= 30_000, 10_000, 'second flood');
    await new Promise((r) => setTimeout(r, 250)); // a stats tick: metrics written
    gc?.();
    const heap2 = process.memoryUsage().heapUsed;
    const { source, sink, metrics } = running;
    assert.ok(source.sensors().length <= 64, `${source.sensors().length} sensors tracked`);
    const text = await metrics.text();
    const series = text.split('\n').filter((l) => l.startsWith('tapline_forwarded_late_total{') || l.startsWith('tapline_forwarded_restarts_total{')).length;
    assert.ok(series <= 2 * 65, `${series} per-sensor series`);
    assert.ok(sink.dropped('parse', 'tfwd-bad-magic') > 0);
    if (gc !== undefined) assert.ok(heap2 - heap1 < 8 * 1024 * 1024, `heap grew ${((heap2 - heap1) / 1e6).toFixed(1)} MB over the second flood`);
  });
});

/** global.gc, made available without --expose-gc (V8 flag set at run time, then fetched from a fresh context). */
function exposeGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

describeCorpus('source-forwarded with a real capture (tshark as reference)', () => {
  it('delivers the UDP packets of ww_sip-rtp-g711.pcap with the times and ports tshark reads', async function () {
    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: corpus cross-check skipped');
      this.skip();
    }
    const file = corpusPath('pcap/ww_sip-rtp-g711.pcap');
    const { packets } = await loadIpPackets(file);
    const want = tsharkFields(file, ['frame.time_epoch', 'udp.srcport', 'udp.dstport'], ['-Y', 'udp && !icmp']);
    assert.equal(packets.length, want.length);
    const r = await startSource(tfwdOptions());
    try {
      await sendForwarded({ packets, host: '127.0.0.1', port: r.port('tfwd'), rate: 100_000, sensorId: 99, key: KEY, mtu: 8900 });
      await waitFor(() => r.sink.ipPackets.length >= want.length, 10_000, 'all packets');
      r.sink.ipPackets.forEach((p, i) => {
        const [ts, sport, dport] = want[i]!;
        assert.equal(p.ts, epochToUs(ts!), `packet ${i} time`);
        const ihl = ((p.data[0] as number) & 15) * 4;
        assert.equal(`${p.data.readUInt16BE(ihl)}/${p.data.readUInt16BE(ihl + 2)}`, `${sport}/${dport}`, `packet ${i} ports`);
      });
    } finally {
      await r.stop();
    }
  });
});
