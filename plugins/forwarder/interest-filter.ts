/**
 * The recorders' interest as the capture's kernel filter: `(filter) and not (own traffic) and (host A or host B …
 * or port 5060 …)`, so a busy Mediation server's other traffic is dropped in the kernel before it costs the agent a
 * copy. The agent still checks every packet's exact ends (address and port); this filter only narrows by host.
 *
 * New ends come in often (every call): the filter follows within MIN_INTERVAL_MS, and only when the set of hosts
 * changed. A packet to a host that became of interest less than that ago is dropped by the kernel — at most the
 * first 50 ms of a stream whose SDP the recorder saw only just now. Beyond MAX_HOSTS hosts (a filter is at most
 * 8 KiB) the host clause is left out: the configured filter alone, interest applied per packet as before.
 */
import type { Logger } from '../../core/contract';
import type { InterfaceCapture } from '../../core/net/interface-capture';
import type { DeploymentRouter } from './deployment-router';
import { endText } from './packet-ends';

export const MAX_HOSTS = 256;
const MIN_INTERVAL_MS = 50;

/** An end key's host, as BPF writes it. */
function hostOf(k: number | string, withPort: boolean): string {
  if (typeof k === 'number') return endText(withPort ? Math.floor(k / 65536) : k);
  const m = /^\[([^\]]+)\]/.exec(k);
  return m !== null ? m[1]! : k;
}

export class InterestFilter {
  private current = '';
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  updates = 0;
  failures = 0;

  constructor(
    private readonly base: string,
    private readonly captures: readonly InterfaceCapture[],
    private readonly routers: readonly DeploymentRouter[],
    /** Always let through: SIP and TURN ports, endpoint mode's own addresses. */
    private readonly fixed: { ports: readonly number[]; hosts: readonly string[] },
    private readonly log: Logger,
  ) {
    for (const r of routers) r.onChange = () => this.schedule();
  }

  /** The filter for the interest now. */
  build(): string {
    const hosts = new Set<string>(this.fixed.hosts);
    for (const r of this.routers) {
      const e = r.ends();
      for (const k of e.endpoints) hosts.add(hostOf(k, true));
      for (const k of e.addresses) hosts.add(hostOf(k, false));
      if (hosts.size > MAX_HOSTS) return this.base;
    }
    const terms = [...[...hosts].sort().map((h) => `host ${h}`), ...[...new Set(this.fixed.ports)].map((p) => `port ${p}`)];
    // Nothing of interest yet: nothing but ARP-free silence would do; keep the configured filter (startup only).
    if (terms.length === 0) return this.base;
    return this.base === '' ? terms.join(' or ') : `(${this.base}) and (${terms.join(' or ')})`;
  }

  /** Applies the filter now (at start, and from the timer). */
  apply(): void {
    this.timer = undefined;
    this.last = Date.now();
    const f = this.build();
    if (f === this.current) return;
    try {
      for (const c of this.captures) if (!c.setFilter(f)) return; // an addon without setFilter: per-packet interest only
      this.current = f;
      this.updates++;
    } catch (e) {
      this.failures++;
      this.log.warn(`kernel filter not updated (per-packet interest still applies): ${(e as Error).message}`);
    }
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const r of this.routers) r.onChange = () => undefined;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    // Off the current call stack (the router is in the middle of a change; a capture may be dispatching).
    this.timer = setTimeout(() => this.apply(), Math.max(1, this.last + MIN_INTERVAL_MS - Date.now()));
  }
}
