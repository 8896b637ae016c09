/**
 * Forwarded media (TFWD): the decoder's and encoder's packets/s on one core (in memory), the sender's achieved
 * rate (test/forward-sender.ts as a separate process, paced to 300k packets/s and unpaced), and source-forwarded
 * receiving over loopback from that sender at 150k packets/s: delivered, lost, and its thread's busy fraction.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as dgram from 'node:dgram';
import { PcapWriter } from '../../core/net/pcap-writer';
import { TfwdDecoder, TfwdEncoder, TfwdKey, tfwdKeyring } from '../../core/net/tfwd';
import { PromMetrics } from '../../core/metrics';
import { createLogger } from '../../core/log';
import type { DropStage, IngestSink, IpArrival } from '../../core/contracts/ingest';
import { udpFrames } from '../../plugins/source-generator/net-frames';
import { ForwardedSource } from '../../plugins/source-forwarded/source';
import { AllowList } from '../../core/net/allow-list';
import { loadIpPackets, type ForwardPacket } from '../forward-sender';
import type { BenchResult } from './types';

const SECRET_HEX = '5461706c696e652062656e6368206b6579202d2033322062797465732e2e2e21';
const KEY = new TfwdKey(1, Buffer.from(SECRET_HEX, 'hex'));
const PAYLOAD = 172; // RTP header + 20 ms of G.711
const RUNS = 5;

/** 20,000 RTP packets (160 streams at 50 packets/s), Ethernet/IPv4/UDP. */
async function writeCapture(file: string): Promise<void> {
  const w = new PcapWriter(file, 1, { snaplen: 65535 });
  let t = 1_700_000_000 * 1e6;
  for (let k = 0; k < 20_000; k++) {
    t += 125;
    const rtp = Buffer.alloc(PAYLOAD, 0xd5);
    rtp.writeUInt16BE(0x8008, 0);
    rtp.writeUInt16BE(Math.floor(k / 160) & 0xffff, 2);
    rtp.writeUInt32BE(0xbeef0000 + (k % 160), 8);
    w.write(t, udpFrames(`10.0.${k % 160}.1`, 20000 + 2 * (k % 160), '10.1.0.1', 30000, rtp, k & 0xffff)[0]!);
    if (w.needsDrain) await w.drain();
  }
  await w.close();
}

function encodeAll(packets: readonly ForwardPacket[], mtu: number, key: TfwdKey | undefined): Buffer[] {
  const out: Buffer[] = [];
  const enc = new TfwdEncoder({ sensorId: 1, mtu, ...(key !== undefined ? { key } : {}) }, (d) => out.push(d));
  for (const p of packets) enc.add(p.ts, p.data);
  enc.flush();
  return out;
}

/**
 * Best of RUNS, in packets per CPU-second of this process (user + system): the machine may be shared, and CPU time
 * is what one core can do whatever else runs beside it.
 */
function cpuSeconds(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** decode() + next() + a view per packet, as the source does. */
function timeDecode(datagrams: readonly Buffer[], auth: boolean): number {
  const dec = new TfwdDecoder({ keys: tfwdKeyring([KEY]), requireAuth: auth });
  let best = 0;
  let sink = 0;
  for (let r = 0; r < RUNS; r++) {
    let n = 0;
    const t0 = process.cpuUsage();
    for (const d of datagrams) {
      if (dec.decode(d) !== null) throw new Error('bench datagram refused');
      while (dec.next()) {
        sink += d.subarray(dec.recordOffset, dec.recordOffset + dec.recordLength).length;
        n++;
      }
    }
    best = Math.max(best, n / cpuSeconds(t0));
  }
  if (sink === 0) throw new Error('nothing decoded');
  return best;
}

function timeEncode(packets: readonly ForwardPacket[], mtu: number): number {
  let best = 0;
  for (let r = 0; r < RUNS; r++) {
    let bytes = 0;
    const enc = new TfwdEncoder({ sensorId: 1, mtu, key: KEY }, (d) => (bytes += d.length));
    const t0 = process.cpuUsage();
    for (const p of packets) enc.add(p.ts, p.data);
    enc.flush();
    best = Math.max(best, packets.length / cpuSeconds(t0));
  }
  return best;
}

interface SenderReport {
  packets: number;
  sentPackets: number;
  datagrams: number;
  elapsedSec: number;
  packetsPerSec: number;
  cpuSec: number;
}

/** Runs test/forward-sender.ts as its own process; resolves with its JSON report. */
function runSender(args: string[]): Promise<SenderReport> {
  const file = require.resolve('../forward-sender');
  return new Promise((resolve, reject) => {
    const child = fork(file, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: process.execArgv.filter((a) => a !== '--expose-gc') });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`forward-sender exited with ${code}`));
      else resolve(JSON.parse(out) as SenderReport);
    });
  });
}

/** A UDP socket that reads and discards, so the sender is measured alone. */
async function discardSocket(): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  let n = 0;
  s.on('message', () => n++);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { port: s.address().port, received: () => n, close: () => new Promise<void>((r) => s.close(() => r())) };
}

class CountingSink implements IngestSink {
  packets = 0;
  bytes = 0;
  readonly drops = new Map<string, number>();
  frame(): void {
    this.packets++;
  }
  ipPacket(p: IpArrival): void {
    this.packets++;
    this.bytes += p.data.length;
  }
  sip(): void {}
  media(): void {}
  skip(): void {}
  drop(stage: DropStage, reason: string, count = 1): void {
    this.drops.set(`${stage}/${reason}`, (this.drops.get(`${stage}/${reason}`) ?? 0) + count);
  }
  writable(): undefined {
    return undefined;
  }
}

async function receiveFromSender(pcap: string, rate: number, seconds: number, mtu: number): Promise<BenchResult[]> {
  const source = new ForwardedSource(
    {
      listeners: [{ kind: 'tfwd', host: '127.0.0.1', port: 0, allow: AllowList.parse(['127.0.0.0/8']) }],
      keys: tfwdKeyring([KEY]),
      authenticate: true,
      recvBufferBytes: 32 << 20,
      maxSensors: 16,
      reorderWindow: 8192,
      statsIntervalMs: 500,
    },
    { log: createLogger('warn'), metrics: new PromMetrics() },
  );
  const sink = new CountingSink();
  const ac = new AbortController();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const run = source.run(sink, ac.signal, { ready });
  await isReady;
  const port = source.bound()[0]!.port;
  const elu0 = performance.eventLoopUtilization();
  const rep = await runSender(['--pcap', pcap, '--to', `127.0.0.1:${port}`, '--rate', String(rate), '--duration', String(seconds), '--mtu', String(mtu), '--key', `1:hex:${SECRET_HEX}`]);
  await new Promise((r) => setTimeout(r, 600)); // drain, and one stats tick for the kernel drop counter
  const elu = performance.eventLoopUtilization(elu0);
  ac.abort();
  await run;
  const lost = source.sensors()[0]?.stats.lost ?? 0;
  const kernel = sink.drops.get('kernel/udp-rcvbuf') ?? 0;
  const perSec = sink.packets / rep.elapsedSec;
  const notes = `MTU ${mtu}, HMAC; sender sent ${rep.sentPackets} in ${rep.elapsedSec.toFixed(2)} s; lost ${lost} (kernel drops ${kernel} datagrams); receiving thread busy ${(elu.utilization * 100).toFixed(0)}%`;
  return [
    { name: `source-forwarded: packets/s received at ${rate / 1000}k/s (MTU ${mtu})`, value: Math.round(perSec), unit: 'packets/s', notes },
    { name: `source-forwarded: packets lost at ${rate / 1000}k/s (MTU ${mtu})`, value: lost, unit: 'packets', notes },
    {
      name: `source-forwarded: capacity of one thread, extrapolated (MTU ${mtu})`,
      value: Math.round(perSec / Math.max(elu.utilization, 1e-6)),
      unit: 'packets/s',
      notes: 'received packets/s ÷ the receiving event loop\'s busy fraction (the source with a sink that only counts: the recorder behind it will cost more)',
    },
  ];
}

export async function benchForwarded(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-fwd-bench-'));
  const results: BenchResult[] = [];
  const load = os.loadavg()[0]!.toFixed(1);
  try {
    const pcap = path.join(dir, 'rtp.pcap');
    await writeCapture(pcap);
    const { packets } = await loadIpPackets(pcap);
    // 300k packets in memory: the capture 15 times over.
    const many: ForwardPacket[] = [];
    for (let r = 0; r < 15; r++) for (const p of packets) many.push({ ts: p.ts + r * 3e6, data: p.data, truncated: false });
    for (const mtu of [1400, 8900]) {
      const signed = encodeAll(many, mtu, KEY);
      const plain = encodeAll(many, mtu, undefined);
      const per = (many.length / signed.length).toFixed(1);
      const notes = `${per} packets per datagram; packets per CPU-second of one thread`;
      results.push({ name: `TFWD decode, MTU ${mtu}, HMAC-SHA256`, value: Math.round(timeDecode(signed, true)), unit: 'packets/s', notes });
      results.push({ name: `TFWD decode, MTU ${mtu}, no auth`, value: Math.round(timeDecode(plain, false)), unit: 'packets/s', notes });
      results.push({ name: `TFWD encode, MTU ${mtu}, HMAC-SHA256`, value: Math.round(timeEncode(many, mtu)), unit: 'packets/s', notes });
    }

    const discard = await discardSocket();
    try {
      const runs = [
        { rate: 300_000, mtu: 1400 },
        { rate: 0, mtu: 1400 },
        { rate: 300_000, mtu: 8900 },
      ];
      for (const { rate, mtu } of runs) {
        const rep = await runSender(['--pcap', pcap, '--to', `127.0.0.1:${discard.port}`, '--rate', String(rate), '--duration', '3', '--mtu', String(mtu), '--key', `1:hex:${SECRET_HEX}`]);
        results.push({
          name: rate > 0 ? `forward-sender: packets/s paced to 300k/s (MTU ${mtu}, HMAC)` : `forward-sender: packets/s unpaced (MTU ${mtu}, HMAC)`,
          value: Math.round(rep.packetsPerSec),
          unit: 'packets/s',
          notes: `${rep.packets} packets in ${rep.datagrams} datagrams in ${rep.elapsedSec.toFixed(2)} s, one process; ${Math.round(rep.packets / rep.cpuSec)} packets per CPU-second`,
        });
      }
    } finally {
      await discard.close();
    }
    results.push(...(await receiveFromSender(pcap, 150_000, 3, 1400)));
    results.push(...(await receiveFromSender(pcap, 300_000, 3, 8900)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // Wall-clock rates depend on what else the machine runs: say how loaded it was.
  for (const r of results) r.notes = `${r.notes ?? ''}; load average ${load} on ${os.cpus().length} CPUs`;
  return results;
}

if (require.main === module) {
  benchForwarded().then(
    (r) => {
      for (const x of r) process.stdout.write(`${x.name}: ${x.value} ${x.unit}${x.notes !== undefined ? `  (${x.notes})` : ''}\n`);
    },
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
