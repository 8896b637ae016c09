/**
 * A TFWD sender for tests and benchmarks: the IP packets of a capture file, batched into TFWD datagrams
 * (core/net/tfwd.ts) and sent over UDP at a target packet rate, paced in bursts (each burst sends what is due by the
 * hrtime clock, then waits ~burstMs), with optional injected loss (datagrams built, sequence numbers spent, not sent).
 *
 * As a module: `loadIpPackets(pcap)` then `sendForwarded({ packets, host, port, rate, ... })` resolves when done.
 * As a command:
 *   node dist/test/forward-sender.js --pcap FILE --to 127.0.0.1:9070 [--rate 300000] [--duration 10 | --repeat N]
 *     [--sensor 1] [--deployment 0] [--seq-start 0] [--key 1:hex:00112233...] [--mtu 1400] [--loss 0.01]
 *     [--all-ip] [--now-timestamps]
 */
import * as dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { readCapture } from '../core/net/capture-reader';
import { PacketDecoder, isSkipReason } from '../core/net/decode';
import { TfwdEncoder, TfwdKey } from '../core/net/tfwd';
import { LinkType, type RawFrame } from '../core/net/types';
import { secretBytes } from '../core/net/tfwd-keys';
import { mulberry32 } from './prng';

/** One IP packet to forward: capture time (µs since the epoch) and its bytes. */
export interface ForwardPacket {
  ts: number;
  data: Buffer;
  /** The capture cut it short (snap length). */
  truncated: boolean;
}

const LINKTYPE_LOOP = 108;

function u16(d: Buffer, o: number): number {
  return ((d[o] as number) << 8) | (d[o + 1] as number);
}

/** The IP packet inside a frame (link layer stripped, Ethernet padding dropped), or undefined when it holds none. */
export function ipPacketOf(frame: RawFrame): { data: Buffer; truncated: boolean } | undefined {
  const d = frame.data;
  let off: number;
  switch (frame.linkType) {
    case LinkType.ETHERNET: {
      if (d.length < 14) return undefined;
      let type = u16(d, 12);
      off = 14;
      while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
        if (d.length < off + 4) return undefined;
        type = u16(d, off + 2);
        off += 4;
      }
      if (type !== 0x0800 && type !== 0x86dd) return undefined;
      break;
    }
    case LinkType.LINUX_SLL:
      if (d.length < 16) return undefined;
      off = 16;
      break;
    case LinkType.LINUX_SLL2:
      if (d.length < 20) return undefined;
      off = 20;
      break;
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
      off = 0;
      break;
    case LinkType.NULL:
    case LINKTYPE_LOOP:
      off = 4;
      break;
    default:
      return undefined;
  }
  if (d.length <= off) return undefined;
  const v = (d[off] as number) >> 4;
  let total: number;
  if (v === 4 && d.length - off >= 4) total = u16(d, off + 2);
  else if (v === 6 && d.length - off >= 6) total = 40 + u16(d, off + 4);
  else return undefined;
  const captured = d.length - off;
  // Ethernet pads short packets to 60 bytes: the IP length says where the packet ends.
  if (total > 0 && total <= captured) return { data: d.subarray(off, off + total), truncated: false };
  return { data: d.subarray(off), truncated: total > captured || frame.origLen > d.length };
}

/** UDP over IPv4 or IPv6, including a fragment of a UDP datagram (the recorder reassembles). */
function isUdpFragment(ip: Buffer): boolean {
  const v = (ip[0] as number) >> 4;
  if (v === 4) return ip[9] === 17;
  // IPv6: a fragment header (44) right after the fixed header, carrying UDP.
  return v === 6 && ip[6] === 44 && ip.length >= 41 && ip[40] === 17;
}

export interface LoadResult {
  packets: ForwardPacket[];
  /** Frames not forwarded: no IP packet in them, or (udpOnly) not UDP. */
  skipped: number;
}

/**
 * Reads a capture's IP packets into memory (views into the file's read chunks, so the whole file stays in memory
 * for as long as the packets do: fine for test and bench captures).
 */
export async function loadIpPackets(file: string, opts: { udpOnly?: boolean } = {}): Promise<LoadResult> {
  const udpOnly = opts.udpOnly ?? true;
  const decoder = new PacketDecoder();
  const packets: ForwardPacket[] = [];
  let skipped = 0;
  await readCapture(file, (f) => {
    const ip = ipPacketOf(f);
    if (ip === undefined) {
      skipped++;
      return;
    }
    if (udpOnly) {
      const r = decoder.decode(f);
      const udp = isSkipReason(r) ? r === 'fragment-pending' && isUdpFragment(ip.data) : r.proto === 'udp';
      if (!udp) {
        skipped++;
        return;
      }
    }
    packets.push({ ts: f.ts, data: ip.data, truncated: ip.truncated });
  });
  return { packets, skipped };
}

export interface SendOptions {
  packets: readonly ForwardPacket[];
  host: string;
  port: number;
  /** Packets per second; 0 sends as fast as the socket takes them. */
  rate?: number;
  /** Passes over `packets` (default 1); ignored when durationSec is set. */
  repeat?: number;
  /** Keep sending (looping over `packets`) for this long. */
  durationSec?: number;
  sensorId?: number;
  deploymentId?: number;
  bootId?: number;
  seqStart?: number;
  key?: TfwdKey;
  mtu?: number;
  /** Time between bursts, ms (default 2). */
  burstMs?: number;
  /** 'capture' (default): the packets' own times (shifted by the capture's span on each further pass); 'send': now. */
  timestamps?: 'capture' | 'send';
  /** Injected loss: this fraction of datagrams is built (sequence spent) but not sent, chosen by a seeded PRNG. */
  lossRatio?: number;
  /** Injected loss: every Nth datagram (N, 2N, ...) is not sent. */
  lossEvery?: number;
  lossSeed?: number;
  /** Local address to send from (tests of allow-lists send from 127.0.0.2). */
  bindAddress?: string;
  /** Send a heartbeat (no packets, the next sequence number) at the end; default true. */
  finalHeartbeat?: boolean;
  /** Cumulative capture drops to report in the header. */
  sensorDrops?: number;
  signal?: AbortSignal;
}

export interface SendResult {
  /** Packets encoded (sent + lost to injected loss). */
  packets: number;
  /** Datagrams built, the final heartbeat included. */
  datagrams: number;
  bytes: number;
  /** Injected loss. */
  droppedDatagrams: number;
  droppedPackets: number;
  /** Packets in datagrams actually handed to the socket. */
  sentPackets: number;
  sendErrors: number;
  elapsedSec: number;
  /** packets / elapsedSec. */
  packetsPerSec: number;
  /** CPU time the process used while sending (user + system, the kernel's UDP send path included). */
  cpuSec: number;
  /** Sequence number the next packet would have had. */
  nextSeq: number;
}

const prng = mulberry32;

const MAX_SEND_QUEUE = 2048;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sends `packets` as TFWD to host:port; resolves once every datagram has been handed to the kernel. */
export async function sendForwarded(opts: SendOptions): Promise<SendResult> {
  const list = opts.packets;
  if (list.length === 0) throw new RangeError('nothing to send');
  const rate = opts.rate ?? 0;
  const burstMs = opts.burstMs ?? 2;
  const stampNow = opts.timestamps === 'send';
  const type = opts.host.includes(':') ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type, sendBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, opts.bindAddress, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A connected socket skips the address lookup per send.
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(opts.port, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  let sendErrors = 0;
  socket.on('error', () => sendErrors++);

  const random = prng(opts.lossSeed ?? 1);
  let droppedDatagrams = 0;
  let droppedPackets = 0;
  let sentPackets = 0;
  let datagramNo = 0;
  const enc = new TfwdEncoder(
    {
      sensorId: opts.sensorId ?? 1,
      deploymentId: opts.deploymentId ?? 0,
      ...(opts.bootId !== undefined ? { bootId: opts.bootId } : {}),
      seqStart: opts.seqStart ?? 0,
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
    },
    (dgramBuf, n) => {
      datagramNo++;
      // Heartbeats (n = 0) are never withheld: the last one is how the receiver sees loss at the end.
      const lose = n > 0 && ((opts.lossEvery !== undefined && datagramNo % opts.lossEvery === 0) || (opts.lossRatio !== undefined && random() < opts.lossRatio));
      if (lose) {
        droppedDatagrams++;
        droppedPackets += n;
        return;
      }
      sentPackets += n;
      // No callback: node then tries the send at once (uv_udp_try_send) instead of queueing a request per datagram.
      socket.send(dgramBuf);
    },
  );
  enc.sensorDrops = opts.sensorDrops ?? 0;

  const span = (list[list.length - 1] as ForwardPacket).ts - (list[0] as ForwardPacket).ts + 20_000;
  const passes = opts.durationSec !== undefined ? Infinity : (opts.repeat ?? 1);
  const endAt = opts.durationSec !== undefined ? performance.now() + opts.durationSec * 1000 : Infinity;
  const total = passes * list.length;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let sent = 0;
  let idx = 0;
  let pass = 0;
  for (;;) {
    if (opts.signal?.aborted === true) break;
    const now = performance.now();
    if (now >= endAt || sent >= total) break;
    // What is due by now; unpaced, one chunk at a time so the event loop can flush the socket.
    const due = rate > 0 ? Math.min(total, Math.floor(((now - t0) / 1000) * rate)) : Math.min(total, sent + 4096);
    const tsNow = stampNow ? Date.now() * 1000 : 0;
    while (sent < due) {
      const p = list[idx] as ForwardPacket;
      enc.add(stampNow ? tsNow : p.ts + pass * span, p.data, p.truncated);
      sent++;
      if (++idx === list.length) {
        idx = 0;
        pass++;
      }
    }
    enc.flush();
    if (socket.getSendQueueCount() > MAX_SEND_QUEUE) {
      while (socket.getSendQueueCount() > MAX_SEND_QUEUE / 2) await new Promise<void>((r) => setImmediate(r));
    } else if (rate > 0) {
      await sleep(burstMs);
    } else {
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  enc.flush();
  // A heartbeat at the end tells the receiver where the sequence stopped (loss in the last datagrams shows).
  if (opts.finalHeartbeat !== false) enc.heartbeat(stampNow ? Date.now() * 1000 : ((list[idx] as ForwardPacket).ts + pass * span));
  while (socket.getSendQueueCount() > 0) await new Promise<void>((r) => setImmediate(r));
  const elapsedSec = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await new Promise<void>((r) => socket.close(() => r()));
  return {
    packets: enc.stats.packets,
    datagrams: enc.stats.datagrams,
    bytes: enc.stats.bytes,
    droppedDatagrams,
    droppedPackets,
    sentPackets,
    sendErrors,
    elapsedSec,
    packetsPerSec: enc.stats.packets / elapsedSec,
    cpuSec: (cpu.user + cpu.system) / 1e6,
    nextSeq: enc.seq,
  };
}

/** `--key 1:hex:0011...` → a TfwdKey. */
export function parseKeyArg(arg: string): TfwdKey {
  const colon = arg.indexOf(':');
  if (colon <= 0) throw new RangeError(`--key wants ID:SECRET, got "${arg}"`);
  return new TfwdKey(Number(arg.slice(0, colon)), secretBytes(arg.slice(colon + 1)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pcap: { type: 'string' },
      to: { type: 'string', default: '127.0.0.1:9070' },
      rate: { type: 'string', default: '0' },
      duration: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      sensor: { type: 'string', default: '1' },
      deployment: { type: 'string', default: '0' },
      'seq-start': { type: 'string', default: '0' },
      key: { type: 'string' },
      mtu: { type: 'string', default: '1400' },
      loss: { type: 'string' },
      'all-ip': { type: 'boolean', default: false },
      'now-timestamps': { type: 'boolean', default: false },
    },
  });
  if (values.pcap === undefined) throw new Error('--pcap FILE is required');
  const to = values.to as string;
  const colon = to.lastIndexOf(':');
  const host = to.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(to.slice(colon + 1));
  const { packets, skipped } = await loadIpPackets(values.pcap, { udpOnly: !values['all-ip'] });
  const res = await sendForwarded({
    packets,
    host,
    port,
    rate: Number(values.rate),
    ...(values.duration !== undefined ? { durationSec: Number(values.duration) } : { repeat: Number(values.repeat) }),
    sensorId: Number(values.sensor),
    deploymentId: Number(values.deployment),
    seqStart: Number(values['seq-start']),
    mtu: Number(values.mtu),
    ...(values.key !== undefined ? { key: parseKeyArg(values.key) } : {}),
    ...(values.loss !== undefined ? { lossRatio: Number(values.loss) } : {}),
    timestamps: values['now-timestamps'] ? 'send' : 'capture',
  });
  process.stdout.write(JSON.stringify({ loaded: packets.length, skipped, ...res }, null, 2) + '\n');
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`forward-sender: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
