/**
 * `tapline forward`: the packet forwarder agent (Mediation/Edge servers, agent PCs). Captures on its interfaces,
 * keeps what its recorders asked for (or its static list), and forwards it in TFWD to each deployment's recorder
 * for that call, failing over between up to three recorders (DeploymentRouter, RecorderLink). Capture never
 * waits: a full send queue drops and counts. Metrics on its own ops port.
 */
import type { Logger } from '../../core/contract';
import { InterfaceCapture } from '../../core/net/interface-capture';
import type { RawFrame } from '../../core/net/types';
import { PromMetrics } from '../../core/metrics';
import { OpsServer } from '../../core/service/ops-server';
import { DeploymentRouter } from './deployment-router';
import { addressKeyOf, newEnds, readEnds, type SkipWhy } from './packet-ends';
import { RecorderLink } from './recorder-link';
import { ReplayArena } from './replay-ring';
import type { ResolvedForwarder } from './options';
import { SipCarrier } from './sip-carrier';
import { InterestFilter } from './interest-filter';

/** Data-carrying TURN messages: RFC 5766 Send/Data indications, MS-TURN Send request and Data Indication. */
const TURN_DATA = new Set([0x0016, 0x0017, 0x0004, 0x0115]);

/** A STUN-framed message (RFC 5389 or MS-TURN: first two bits zero, 20-byte header) that carries no media. */
export function isTurnControl(b: Buffer, off: number): boolean {
  if (b.length < off + 20 || (b[off]! & 0xc0) !== 0) return false;
  const type = b.readUInt16BE(off);
  const len = b.readUInt16BE(off + 2);
  return !TURN_DATA.has(type) && off + 20 + len <= b.length;
}

export type FilteredWhy = SkipWhy | 'not-of-interest' | 'not-local';

export interface AgentCounts {
  captured: number;
  /** TURN control messages (atedge) sent to every recorder up. */
  turnControl: number;
  filtered: Record<FilteredWhy, number>;
}

/** The kernel filter: the configured one, minus the agent's own traffic to its recorders (it would be captured too). */
export function captureFilter(cfg: ResolvedForwarder): string {
  const own: string[] = [];
  for (const d of cfg.deployments) {
    for (const r of d.recorders) {
      const ports = [r.port, r.controlPort, r.feedPort].filter((p) => p > 0);
      own.push(`(host ${r.host} and (${ports.map((p) => `port ${p}`).join(' or ')}))`);
    }
  }
  const base = cfg.filter.trim();
  const not = own.length > 0 ? `not (${own.join(' or ')})` : '';
  if (base === '') return not;
  return not === '' ? base : `(${base}) and ${not}`;
}

export class ForwarderAgent {
  readonly counts: AgentCounts = { captured: 0, turnControl: 0, filtered: { 'not-ip': 0, 'not-udp-tcp': 0, fragment: 0, truncated: 0, 'not-of-interest': 0, 'not-local': 0 } };
  readonly routers: DeploymentRouter[];
  readonly links: RecorderLink[] = [];
  readonly arena: ReplayArena;
  private readonly captures: InterfaceCapture[] = [];
  private readonly sip: SipCarrier;
  private readonly sipPorts: ReadonlySet<number>;
  private readonly local: ReadonlySet<number | string> | undefined;
  private readonly turnPorts: ReadonlySet<number> | undefined;
  private readonly metrics = new PromMetrics();
  private ops: OpsServer | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private interestFilter: InterestFilter | undefined;
  private failed: Error | undefined;
  private stopping = false;

  constructor(
    private readonly cfg: ResolvedForwarder,
    private readonly log: Logger,
  ) {
    this.arena = new ReplayArena(cfg.replaySeconds > 0 ? cfg.replayMaxBytes : 0);
    this.routers = cfg.deployments.map((d) => {
      const links = d.recorders.map(
        (r, i) =>
          new RecorderLink(d.id, i, r, d.key, cfg.sensorId, { heartbeatMs: cfg.heartbeatMs, deadAfterMs: cfg.deadAfterMs, reconnectMs: cfg.reconnectMs, queueDatagrams: cfg.queueDatagrams, mtu: cfg.mtu }, {
            // A recorder coming up moves nothing (calls stick); new calls may choose it.
            up: () => undefined,
            down: (l) => router.linkDown(l),
            interest: (l, calls) => router.interest(l, calls),
            call: (l, e) => router.call(l, e),
            end: (l, c) => router.end(l, c),
          }, log),
      );
      const router: DeploymentRouter = new DeploymentRouter(d.id, links, d.staticAddresses, d.staticEndpoints, cfg.replaySeconds * 1e6, this.arena);
      this.links.push(...links);
      return router;
    });
    const sipLinks = this.routers.flatMap((r, i) => (cfg.deployments[i]!.sip ? r.links : []));
    this.sip = new SipCarrier(sipLinks, cfg.sensorId, log);
    this.sipPorts = new Set(cfg.sip.sniff ? cfg.sip.ports : []);
    if (cfg.mode === 'atedge') this.turnPorts = new Set(cfg.turnPorts);
    if (cfg.local !== undefined) {
      const keys = new Set<number | string>();
      for (const a of cfg.local) {
        const k = addressKeyOf(a);
        if (k !== undefined) keys.add(k);
      }
      this.local = keys;
    }
    this.defineMetrics();
  }

  /** Opens the captures, the links and the ops port; throws a TaplineError when a capture cannot open. */
  async start(): Promise<void> {
    for (const l of this.links) l.start();
    if (this.cfg.sip.hep.enabled) {
      const port = await this.sip.listen(this.cfg.sip.hep.host, this.cfg.sip.hep.port, this.cfg.hepAllow);
      this.log.info(`receiving HEPv3 on udp ${this.cfg.sip.hep.host}:${port}`);
    }
    const filter = captureFilter(this.cfg);
    this.cfg.interfaces.forEach((name, i) => {
      const cap = InterfaceCapture.open(
        // Frames as views of the capture's batch: the agent copies what it keeps (replay arena, TFWD batch) itself.
        { interface: name, filter, snaplen: this.cfg.snaplen, bufferBytes: this.cfg.bufferBytes, promiscuous: this.cfg.promiscuous, interfaceId: i, copyFrames: false },
        (f) => this.onFrame(f),
        (err) => {
          this.failed = err;
          this.log.error(err.message);
        },
        (w) => this.log.warn(w),
      );
      this.captures.push(cap);
      this.log.info(`capturing on ${name} (${this.cfg.mode} mode), filter: ${filter || '(none)'}`);
    });
    if (this.cfg.interestFilter) {
      const ports = [...(this.cfg.sip.sniff ? this.cfg.sip.ports : []), ...(this.cfg.mode === 'atedge' ? this.cfg.turnPorts : [])];
      const hosts = this.cfg.local !== undefined ? [...this.cfg.local] : [];
      // Endpoint mode: this PC's own addresses are the whole of it; elsewhere the hosts the recorders named.
      this.interestFilter = new InterestFilter(filter, this.captures, this.cfg.local !== undefined ? [] : this.routers, { ports, hosts }, this.log);
      this.interestFilter.apply();
    }
    this.statsTimer = setInterval(() => {
      const drops = this.kernelDrops();
      for (const l of this.links) l.sensorDrops = drops;
    }, 1000);
    if (this.cfg.ops.enabled) {
      this.ops = await OpsServer.listen(
        { enabled: true, host: this.cfg.ops.host, port: this.cfg.ops.port, allow: this.cfg.ops.allow, ...(this.cfg.ops.tokenFile !== undefined ? { tokenFile: this.cfg.ops.tokenFile } : {}) },
        { metrics: this.metrics, readiness: () => this.readiness(), log: this.log },
        this.cfg.configDir,
      );
    }
  }

  /** A capture that failed after opening (the interface went away). */
  get failure(): Error | undefined {
    return this.failed;
  }

  get opsPort(): number | undefined {
    return this.ops?.address?.port;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    this.interestFilter?.close();
    for (const c of this.captures) c.close();
    this.sip.close();
    for (const l of this.links) l.close();
    await this.ops?.close();
  }

  /** Totals for the exit line and tests. */
  summary(): Record<string, unknown> {
    return {
      captured: this.counts.captured,
      turnControl: this.counts.turnControl,
      filtered: this.counts.filtered,
      kernelDrops: this.kernelDrops(),
      kernelFilterUpdates: this.interestFilter?.updates ?? 0,
      deployments: this.routers.map((r) => ({
        id: r.id,
        ...r.counts,
        recorders: r.links.map((l) => ({ number: l.number, up: l.up, packets: l.counts.packets, dropped: l.counts.dropped, sip: l.counts.sip })),
      })),
      sip: this.sip.counts,
      replayRefused: this.arena.refused,
    };
  }

  private readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.failed !== undefined) reasons.push(this.failed.message);
    for (const r of this.routers) if (!r.links.some((l) => l.up)) reasons.push(`deployment ${r.id}: no recorder is up`);
    return { ready: reasons.length === 0, reasons };
  }

  private kernelDrops(): number {
    let n = 0;
    for (const c of this.captures) {
      try {
        n += c.stats().dropped;
      } catch {
        // a closed capture keeps its last totals
      }
    }
    return n;
  }

  private readonly ends = newEnds();

  private onFrame(f: RawFrame): void {
    this.counts.captured++;
    const e = this.ends;
    const why = readEnds(f.linkType, f.data, e);
    if (why !== undefined) {
      this.counts.filtered[why]++;
      return;
    }
    if (this.local !== undefined && !this.local.has(e.srcAddr) && !this.local.has(e.dstAddr)) {
      this.counts.filtered['not-local']++;
      return;
    }
    if (this.sipPorts.size > 0 && e.proto === 17 && (this.sipPorts.has(e.dport) || this.sipPorts.has(e.sport))) {
      this.sip.sniffed(f.ts, e, f.data);
      return;
    }
    // A view of the capture's batch, valid during this call only: the replay arena and the TFWD batch copy it.
    const ip = f.data.subarray(e.ipOff);
    let matched = false;
    for (const r of this.routers) {
      const slot = r.match(e);
      if (slot === undefined) continue;
      matched = true;
      r.route(slot, f.ts, ip);
    }
    if (matched) return;
    // At the Edge, a client's allocation (Allocate, its relayed address; ICE checks naming MS-TURN sessions) is made
    // before any call's SDP names it: TURN control on the TURN ports goes to every recorder up, media never does.
    if (this.turnPorts !== undefined && e.payloadOff > 0 && (this.turnPorts.has(e.dport) || this.turnPorts.has(e.sport)) && isTurnControl(f.data, e.payloadOff)) {
      this.counts.turnControl++;
      for (const r of this.routers) r.broadcast(f.ts, ip);
      return;
    }
    this.counts.filtered['not-of-interest']++;
  }

  private defineMetrics(): void {
    const m = this.metrics;
    type Report = (total: number, labels?: Record<string, string | number>) => void;
    // The hot path keeps plain numbers; each counter reads its totals at scrape time.
    const counter = (name: string, help: string, labels: readonly string[], read: (report: Report) => void): void => m.collectedCounter(name, help, labels, read);
    const perLink = (read: (l: RecorderLink, report: Report, lab: { deployment: number; recorder: number }) => void) => (report: Report) => {
      for (const r of this.routers) for (const l of r.links) read(l, report, { deployment: r.id, recorder: l.number });
    };
    counter('tapline_forward_captured_total', 'Packets the agent captured (after the kernel filter)', [], (report) => report(this.counts.captured));
    counter('tapline_forward_filtered_total', 'Captured packets not forwarded because they are of no interest, by reason', ['reason'], (report) => {
      for (const [why, n] of Object.entries(this.counts.filtered)) report(n, { reason: why });
    });
    counter('tapline_forward_packets_total', 'IP packets forwarded, by deployment and recorder (1-3)', ['deployment', 'recorder'], perLink((l, report, lab) => report(l.counts.packets, lab)));
    counter('tapline_forward_bytes_total', 'Bytes of IP packets forwarded', ['deployment', 'recorder'], perLink((l, report, lab) => report(l.counts.bytes, lab)));
    counter(
      'tapline_forward_dropped_total',
      'Packets of interest not forwarded, by reason (queue: the send queue was full; recorder-down; no-recorder: none up; sip-feed: call control while a feed was down)',
      ['deployment', 'recorder', 'reason'],
      (report) => {
        for (const r of this.routers) report(r.counts.noRecorder, { deployment: r.id, recorder: 'none', reason: 'no-recorder' });
        perLink((l, rep, lab) => {
          rep(l.counts.dropped.queue, { ...lab, reason: 'queue' });
          rep(l.counts.dropped.down, { ...lab, reason: 'recorder-down' });
          rep(l.counts.dropped.feed, { ...lab, reason: 'sip-feed' });
        })(report);
      },
    );
    counter('tapline_forward_failovers_total', 'Calls moved to another recorder because theirs went down', ['deployment'], (report) => {
      for (const r of this.routers) report(r.counts.failovers, { deployment: r.id });
    });
    counter('tapline_forward_replayed_total', 'Packets sent again to the recorder a call moved to', ['deployment'], (report) => {
      for (const r of this.routers) report(r.counts.replayed, { deployment: r.id });
    });
    counter('tapline_forward_sip_total', 'Call control messages carried to recorders, by how they came (sniffed, hep)', ['how'], (report) => {
      report(this.sip.counts.sniffed, { how: 'sniffed' });
      report(this.sip.counts.relayed, { how: 'hep' });
    });
    counter('tapline_forward_sip_refused_total', 'HEP datagrams refused (not-allowed, malformed)', ['reason'], (report) => {
      report(this.sip.counts.refused.notAllowed, { reason: 'not-allowed' });
      report(this.sip.counts.refused.malformed, { reason: 'malformed' });
    });
    counter('tapline_forward_kernel_drops_total', 'Packets the kernel dropped because the capture buffer was full', [], (report) => report(this.kernelDrops()));
    counter('tapline_forward_turn_control_total', 'TURN control messages (atedge: Allocate and the like) sent to every recorder up', [], (report) => report(this.counts.turnControl));
    m.gauge('tapline_forward_recorder_up', 'Whether each recorder is up (its control connection authenticated and heard from)', ['deployment', 'recorder'], (g) => {
      for (const r of this.routers) for (const l of r.links) g.set(l.up ? 1 : 0, { deployment: r.id, recorder: l.number });
    });
    m.gauge('tapline_forward_interest_calls', 'Calls (and static entries) whose packets are of interest, by deployment', ['deployment'], (g) => {
      for (const r of this.routers) g.set(r.interestCalls, { deployment: r.id });
    });
    m.gauge('tapline_forward_replay_bytes', 'Memory held for replay after a failover, all calls', [], (g) => g.set(this.arena.bytes));
  }
}
