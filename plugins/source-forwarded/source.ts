/**
 * The forwarded-media source: UDP listeners for TFWD (Tapline's own forwarders), VXLAN (cloud traffic mirroring)
 * and TZSP (MikroTik and other sniffers). It implements the new Source contract (core/contracts/ingest.ts): TFWD
 * records go to sink.ipPacket() with their sensor's capture time and id, VXLAN and TZSP frames to sink.frame() with
 * their arrival time. Whatever is refused or lost is counted with sink.drop(): datagrams from addresses off a
 * listener's allow-list, malformed or unauthenticated datagrams, other deployments' traffic, the sensors' own
 * capture drops, and the kernel's receive-buffer drops (read from /proc/net/udp).
 *
 * Counts in sink.drop(): packets when the datagram was read and authenticated (filters, sensor drops), else
 * datagrams (their packet count cannot be trusted). Sequence gaps between a sensor and here are *not* drops of
 * their own: they are mostly this host's receive-buffer drops (already counted as 'kernel') or the network's; they
 * go to tapline_forwarded_lost_total{deployment,sensor}, so loss is seen per sensor without counting it twice.
 */
import * as dgram from 'node:dgram';
import { isIP } from 'node:net';
import * as fs from 'node:fs';
import type { Logger } from '../../core/contract';
import type { CaptureNode, DropStage, IngestSink, Source, SourceRunContext, SourceRunResult } from '../../core/contracts/ingest';
import type { CounterMetric, Metrics } from '../../core/contracts/metrics';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { TFWD_AUTH_ERRORS, TfwdDecoder } from '../../core/net/tfwd';
import { LinkType } from '../../core/net/types';
import { arrivalClock } from './arrival-clock';
import type { ForwardedSourceConfig, ListenerConfig, ListenerKind } from './options';
import { SequenceTracker, type SequenceStream } from './sequence';
import { decodeTzsp } from './tzsp';
import { UdpDropCounter } from './udp-drops';
import { decodeVxlan, VXLAN_HEADER_LEN } from './vxlan';

export interface ForwardedSourceDeps {
  log: Logger;
  metrics: Metrics;
  /** Wall clock, µs since the epoch, for VXLAN/TZSP arrival times (tests pass a fixed one). */
  now?: () => number;
  /** /proc, for the kernel drop counters (tests may point elsewhere). */
  procRoot?: string;
}

/** One bound listener as the source sees it. */
export interface BoundListener {
  kind: ListenerKind;
  address: string;
  port: number;
  /** SO_RCVBUF as the kernel reports it (Linux doubles what was asked for, up to 2 × net.core.rmem_max). */
  recvBufferBytes: number;
}

/** Totals since the source started, per listener (the metrics carry the same). */
export interface ListenerTotals {
  datagrams: number;
  packets: number;
  refused: number;
  kernelDrops: number;
}

interface Listener {
  cfg: ListenerConfig;
  socket: dgram.Socket;
  bound: BoundListener;
  drops: UdpDropCounter;
  totals: ListenerTotals;
  /** Not yet added to the metrics. */
  pendingDatagrams: number;
  pendingPackets: number;
}

const LOG_EVERY_MS = 60_000;
/** Distinct (deployment, sensor) label sets at most, beyond which metrics say sensor="other". */
const OTHER = { deployment: 'other', sensor: 'other' } as const;

export class ForwardedSource implements Source {
  readonly name = 'source-forwarded';
  readonly label: string;
  readonly live = true;

  private readonly log: Logger;
  private readonly now: () => number;
  private readonly procRoot: string;
  private readonly decoder: TfwdDecoder;
  private readonly tracker: SequenceTracker;
  private listeners: Listener[] = [];
  private sink: IngestSink | undefined;
  private running = false;
  private frameNo = 0;
  private delivered = 0;
  private tickRun: Promise<void> | undefined;
  private readonly lastLog = new Map<string, number>();
  private readonly labels = new Map<string, { deployment: number; sensor: number }>();
  /** An evicted sensor's last deltas still reach the metrics (bound once: no closure per datagram). */
  private readonly onEvict = (s: SequenceStream): void => this.report(s);

  private readonly m: {
    packetsIn: CounterMetric;
    datagrams: CounterMetric;
    lost: CounterMetric;
    duplicates: CounterMetric;
    reordered: CounterMetric;
    late: CounterMetric;
    restarts: CounterMetric;
    sensorDrops: CounterMetric;
  };

  constructor(
    private readonly cfg: ForwardedSourceConfig,
    deps: ForwardedSourceDeps,
  ) {
    this.log = deps.log;
    this.now = deps.now ?? arrivalClock();
    this.procRoot = deps.procRoot ?? '/proc';
    this.label = cfg.listeners.map((l) => `${l.kind} udp ${l.host}:${l.port}`).join(', ');
    this.decoder = new TfwdDecoder({ keys: cfg.keys, requireAuth: cfg.authenticate });
    this.tracker = new SequenceTracker({ window: cfg.reorderWindow, maxStreams: cfg.maxSensors });
    const mt = deps.metrics;
    const per = ['deployment', 'sensor'];
    this.m = {
      packetsIn: mt.counter('tapline_packets_in_total', 'Packets (IP packets or frames) handed to the core, by source', ['source']),
      datagrams: mt.counter('tapline_forwarded_datagrams_total', 'UDP datagrams received by the forwarded-media listeners', ['listener']),
      lost: mt.counter('tapline_forwarded_lost_total', 'Packets missing from a TFWD sensor\'s sequence (lost between sensor and recorder)', per),
      duplicates: mt.counter('tapline_forwarded_duplicates_total', 'TFWD packets received twice (dropped)', per),
      reordered: mt.counter('tapline_forwarded_reordered_total', 'TFWD packets that arrived after later ones, within the reorder window', per),
      late: mt.counter('tapline_forwarded_late_total', 'TFWD packets that arrived after their gap was counted lost (delivered)', per),
      restarts: mt.counter('tapline_forwarded_restarts_total', 'TFWD sensor restarts (new boot id or sequence reset)', per),
      sensorDrops: mt.counter('tapline_forwarded_sensor_drops_total', 'Packets a TFWD sensor reports its own capture lost', per),
    };
    mt.gauge('tapline_forwarded_sensors', 'TFWD sensors tracked (bounded by maxSensors)', [], (g) => g.set(this.tracker.size));
    mt.gauge('tapline_forwarded_rcvbuf_bytes', 'Receive buffer (SO_RCVBUF) the kernel gave each listener', ['listener'], (g) => {
      for (const l of this.listeners) g.set(l.bound.recvBufferBytes, { listener: l.cfg.kind });
    });
  }

  /** The listeners as bound (after ctx.ready()): tests bind port 0 and read the port here. */
  bound(): BoundListener[] {
    return this.listeners.map((l) => ({ ...l.bound }));
  }

  totals(): Record<string, ListenerTotals> {
    const out: Record<string, ListenerTotals> = {};
    for (const l of this.listeners) out[l.cfg.kind] = { ...l.totals };
    return out;
  }

  /** Per-sensor sequence accounting (tests, status views). */
  sensors(): SequenceStream[] {
    return [...this.tracker.all()];
  }

  async run(sink: IngestSink, signal: AbortSignal, ctx: SourceRunContext): Promise<SourceRunResult> {
    if (this.running) throw new Error('source-forwarded is already running');
    if (signal.aborted) return { frames: 0 };
    this.running = true;
    this.sink = sink;
    this.listeners = [];
    try {
      try {
        for (const cfg of this.cfg.listeners) this.listeners.push(await this.bind(cfg));
      } catch (e) {
        await this.closeAll();
        const err = e as NodeJS.ErrnoException;
        throw new TaplineError(ErrorCodes.FORWARDED_LISTEN, `source-forwarded cannot listen: ${err.message}`, { code: err.code }, e);
      }
      ctx.ready();
      const timer = setInterval(() => void this.tick(false), this.cfg.statsIntervalMs);
      timer.unref();
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      clearInterval(timer);
      // Last kernel drop counts while the sockets still exist, then close, then settle every open gap.
      await this.tick(false);
      await this.closeAll();
      await this.tick(true);
      return { frames: this.delivered };
    } finally {
      this.running = false;
    }
  }

  private bind(cfg: ListenerConfig): Promise<Listener> {
    const type = isIP(cfg.host) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, recvBufferSize: this.cfg.recvBufferBytes });
    return new Promise<Listener>((resolve, reject) => {
      const fail = (e: Error): void => {
        socket.close();
        reject(e);
      };
      socket.once('error', fail);
      socket.bind(cfg.port, cfg.host, () => {
        socket.off('error', fail);
        socket.on('error', (e) => this.log.warn('source-forwarded socket error', { listener: cfg.kind, error: e.message }));
        const addr = socket.address();
        const rcvbuf = socket.getRecvBufferSize();
        const l: Listener = {
          cfg,
          socket,
          bound: { kind: cfg.kind, address: addr.address, port: addr.port, recvBufferBytes: rcvbuf },
          drops: new UdpDropCounter(addr.port, this.procRoot),
          totals: { datagrams: 0, packets: 0, refused: 0, kernelDrops: 0 },
          pendingDatagrams: 0,
          pendingPackets: 0,
        };
        this.logBufferSize(l);
        const handler =
          cfg.kind === 'tfwd' ? this.onTfwd.bind(this, l) : cfg.kind === 'vxlan' ? this.onVxlan.bind(this, l) : this.onTzsp.bind(this, l);
        socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
          try {
            handler(msg, rinfo);
          } catch (e) {
            // The sink promises not to throw; if it does anyway, one datagram is lost, not the process.
            this.refuse(l, 'parse', 'internal-error', 1, rinfo.address);
            this.logLimited('internal-error', 'source-forwarded: handling a datagram failed', { error: (e as Error).message });
          }
        });
        resolve(l);
      });
    });
  }

  private logBufferSize(l: Listener): void {
    const asked = this.cfg.recvBufferBytes;
    const got = l.bound.recvBufferBytes;
    const fields: Record<string, unknown> = { listener: l.cfg.kind, address: `${l.bound.address}:${l.bound.port}`, requested: asked, effective: got };
    // Linux reports twice the usable size it granted (half is bookkeeping) and caps the request at net.core.rmem_max.
    if (got < asked) {
      let rmemMax: number | undefined;
      try {
        rmemMax = Number(fs.readFileSync(`${this.procRoot}/sys/net/core/rmem_max`, 'utf8').trim());
      } catch {
        // Not Linux.
      }
      this.log.warn('source-forwarded: receive buffer smaller than requested; raise net.core.rmem_max (sysctl) to get it', { ...fields, rmemMax });
    } else {
      this.log.info('source-forwarded listening', fields);
    }
  }

  private async closeAll(): Promise<void> {
    const ls = this.listeners;
    await Promise.all(
      ls.map(
        (l) =>
          new Promise<void>((resolve) => {
            try {
              l.socket.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          }),
      ),
    );
  }

  private refuse(l: Listener, stage: DropStage, reason: string, count: number, from: string): void {
    l.totals.refused++;
    if (count > 0) this.sink?.drop(stage, reason, count);
    this.logLimited(reason, 'source-forwarded refused a datagram', { listener: l.cfg.kind, reason, from });
  }

  /** At most one log line per reason a minute: a flood of junk must not become a flood of logs. */
  private logLimited(key: string, msg: string, fields: Record<string, unknown>): void {
    const t = Date.now();
    const last = this.lastLog.get(key);
    if (last !== undefined && t - last < LOG_EVERY_MS) return;
    this.lastLog.set(key, t);
    this.log.warn(msg, fields);
  }

  private onTfwd(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    l.totals.datagrams++;
    l.pendingDatagrams++;
    if (!l.cfg.allow.allows(rinfo.address)) return this.refuse(l, 'auth', 'tfwd-not-allowed', 1, rinfo.address);
    const dec = this.decoder;
    const err = dec.decode(msg);
    if (err !== null) return this.refuse(l, TFWD_AUTH_ERRORS.has(err) ? 'auth' : 'parse', `tfwd-${err}`, 1, rinfo.address);
    const h = dec.header;
    const cfg = this.cfg;
    if (cfg.deployments !== undefined && !cfg.deployments.has(h.deploymentId)) return this.refuse(l, 'auth', 'tfwd-other-deployment', h.count, rinfo.address);
    if (cfg.sensors !== undefined && !cfg.sensors.has(h.sensorId)) return this.refuse(l, 'auth', 'tfwd-other-sensor', h.count, rinfo.address);

    const stream = this.tracker.stream(h.deploymentId, h.sensorId, this.onEvict);
    const verdict = this.tracker.accept(stream, h.bootId, h.seq, h.count);
    this.sensorDrops(stream, verdict, h.sensorDrops);
    if (verdict === 'duplicate' || h.count === 0) return;

    const node: CaptureNode = { id: h.sensorId, deployment: h.deploymentId };
    const sink = this.sink as IngestSink;
    while (dec.next()) {
      const off = dec.recordOffset;
      sink.ipPacket({ ts: dec.recordTs, data: msg.subarray(off, off + dec.recordLength), node });
    }
    l.totals.packets += h.count;
    l.pendingPackets += h.count;
    this.delivered += h.count;
  }

  /** A sensor reports its capture drops as a running total: the increase is what it lost since we last heard. */
  private sensorDrops(stream: SequenceStream, verdict: string, total: number): void {
    let delta = 0;
    if (verdict === 'start' || stream.sensorDrops < 0) {
      // First sighting: drops before it were the business of whoever listened then.
      stream.sensorDrops = total;
    } else if (verdict === 'restart') {
      delta = total;
      stream.sensorDrops = total;
    } else if (verdict !== 'stale-boot') {
      const d = (total - stream.sensorDrops) >>> 0;
      // Only a forward move (mod 2^32); an older datagram arriving late carries a smaller total.
      if (d > 0 && d < 0x80000000) {
        delta = d;
        stream.sensorDrops = total;
      }
    }
    if (delta > 0) {
      this.sink?.drop('kernel', 'sensor-capture', delta);
      this.m.sensorDrops.inc(this.labelsOf(stream), delta);
    }
  }

  private onVxlan(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    l.totals.datagrams++;
    l.pendingDatagrams++;
    if (!l.cfg.allow.allows(rinfo.address)) return this.refuse(l, 'auth', 'vxlan-not-allowed', 1, rinfo.address);
    const r = decodeVxlan(msg, this.cfg.vnis);
    if (!r.ok) return this.refuse(l, r.error === 'vni-filtered' ? 'auth' : 'parse', `vxlan-${r.error}`, 1, rinfo.address);
    const data = msg.subarray(VXLAN_HEADER_LEN);
    this.deliverFrame(l, data, data.length);
  }

  private onTzsp(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    l.totals.datagrams++;
    l.pendingDatagrams++;
    if (!l.cfg.allow.allows(rinfo.address)) return this.refuse(l, 'auth', 'tzsp-not-allowed', 1, rinfo.address);
    const r = decodeTzsp(msg);
    if (!r.ok) {
      // Keepalives and port openers carry no packet by design: nothing is lost.
      if (r.error === 'no-packet') return;
      return this.refuse(l, 'parse', `tzsp-${r.error}`, 1, rinfo.address);
    }
    const data = msg.subarray(r.frameOffset);
    this.deliverFrame(l, data, r.origLen !== undefined && r.origLen > data.length ? r.origLen : data.length);
  }

  private deliverFrame(l: Listener, data: Buffer, origLen: number): void {
    (this.sink as IngestSink).frame({ ts: this.now(), linkType: LinkType.ETHERNET, data, origLen, interfaceId: 0, frameNo: ++this.frameNo });
    l.totals.packets++;
    l.pendingPackets++;
    this.delivered++;
  }

  /** Bounded metric labels: past maxSensors distinct sensors, the rest share sensor="other". */
  private labelsOf(s: SequenceStream): { deployment: number | string; sensor: number | string } {
    const known = this.labels.get(s.key);
    if (known !== undefined) return known;
    if (this.labels.size >= this.cfg.maxSensors) return OTHER;
    const l = { deployment: s.deploymentId, sensor: s.sensorId };
    this.labels.set(s.key, l);
    return l;
  }

  private report(s: SequenceStream): void {
    const d = s.takeDeltas();
    const labels = this.labelsOf(s);
    if (d.lost > 0) this.m.lost.inc(labels, d.lost);
    if (d.duplicates > 0) this.m.duplicates.inc(labels, d.duplicates);
    if (d.reordered > 0) this.m.reordered.inc(labels, d.reordered);
    if (d.late > 0) this.m.late.inc(labels, d.late);
    if (d.restarts > 0) this.m.restarts.inc(labels, d.restarts);
  }

  /** Periodic bookkeeping: kernel drops, sequence sweeps, metrics. One at a time; `final` settles every gap. */
  private tick(final: boolean): Promise<void> {
    const run = (this.tickRun ?? Promise.resolve()).then(() => this.doTick(final));
    this.tickRun = run.catch((e: unknown) => this.log.warn('source-forwarded: stats update failed', { error: (e as Error).message }));
    return this.tickRun;
  }

  private async doTick(final: boolean): Promise<void> {
    if (!final) {
      for (const l of this.listeners) {
        const d = await l.drops.take();
        if (d > 0) {
          l.totals.kernelDrops += d;
          this.sink?.drop('kernel', 'udp-rcvbuf', d);
          this.logLimited(`kernel-${l.cfg.kind}`, 'source-forwarded: the kernel dropped datagrams (receive buffer full)', {
            listener: l.cfg.kind,
            drops: d,
            recvBufferBytes: l.bound.recvBufferBytes,
          });
        }
      }
    }
    if (final) this.tracker.settleAll();
    else this.tracker.sweep();
    for (const s of this.tracker.all()) this.report(s);
    for (const l of this.listeners) {
      if (l.pendingDatagrams > 0) this.m.datagrams.inc({ listener: l.cfg.kind }, l.pendingDatagrams);
      if (l.pendingPackets > 0) this.m.packetsIn.inc({ source: l.cfg.kind }, l.pendingPackets);
      l.pendingDatagrams = 0;
      l.pendingPackets = 0;
    }
  }
}
