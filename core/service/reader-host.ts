/**
 * The plugins of a config without the recorder: for a process that reads what a recorder keeps (`tapline web` over
 * a catalogue) while the recorder itself runs elsewhere. Every enabled plugin but the sources is registered (so
 * the storage plugin contributes its library, codec plugins their encoders), and only the plugins named are
 * started: a reader never opens capture, never recovers or publishes the recorder's files.
 */
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import type { Logger } from '../contract';
import { Tokens } from '../tokens';
import { Contributions } from '../contributions';
import { LifecycleHub } from '../lifecycle';
import { ServiceClock } from '../clock';
import { CounterSet } from '../counters';
import { PromMetrics } from '../metrics';
import { createLogger } from '../log';
import { PluginHost } from '../plugins/loader';
import type { PreparedConfig } from '../plugins/loader';
import { UserDirectory } from '../policy/users';
import { EndpointDirectory } from '../policy/endpoints';

export interface ReaderHostOptions {
  /** The plugins whose start()/stop() run (by name). */
  start: readonly string[];
  logger?: Logger;
}

export class ReaderHost {
  readonly root: DependencyContainer;
  readonly contributions: Contributions;
  readonly log: Logger;
  readonly metrics = new PromMetrics();
  readonly events = new LifecycleHub();
  private readonly host: PluginHost;
  private readonly started: string[] = [];

  private constructor(
    readonly prepared: PreparedConfig,
    private readonly opts: ReaderHostOptions,
  ) {
    const cfg = prepared.config;
    this.log = opts.logger ?? createLogger(cfg.log.level);
    this.root = globalContainer.createChildContainer();
    this.contributions = new Contributions(this.root);
    const clock = new ServiceClock();
    const counters = new CounterSet();
    const users = UserDirectory.fromConfig(cfg, prepared.dir);
    this.root.register(Tokens.Logger, { useValue: this.log });
    this.root.register(Tokens.Counters, { useValue: counters });
    this.root.register(Tokens.Config, { useValue: cfg });
    this.root.register(Tokens.Metrics, { useValue: this.metrics });
    this.root.register(Tokens.Events, { useValue: this.events });
    this.root.register(Tokens.Clock, { useValue: clock });
    this.root.register(Tokens.Users, { useValue: users });
    this.root.register(Tokens.Endpoints, { useValue: new EndpointDirectory(users, { disallowedIps: cfg.policy.disallowedIps, counters: counters.scoped('core') }) });
    this.host = new PluginHost(this.root, this.log, counters, prepared.dir, { metrics: this.metrics, events: this.events, clock });
  }

  static async create(prepared: PreparedConfig, opts: ReaderHostOptions): Promise<ReaderHost> {
    const h = new ReaderHost(prepared, opts);
    const plugins = prepared.plugins.filter((p) => p.manifest.kind !== 'source' || opts.start.includes(p.manifest.name));
    await h.host.registerAll(plugins, (p) => h.contributions.collect(p.ctx.name, p.container));
    return h;
  }

  /** Starts the named plugins, in config order. */
  async start(): Promise<void> {
    for (const p of this.host.hosted) {
      if (!this.opts.start.includes(p.ctx.name) || p.lifecycle.start === undefined) continue;
      await p.lifecycle.start();
      this.started.push(p.ctx.name);
    }
  }

  /** Idempotent: stops what start() started, in reverse order. */
  async stop(): Promise<void> {
    for (const p of [...this.host.hosted].reverse()) {
      const i = this.started.indexOf(p.ctx.name);
      if (i < 0) continue;
      this.started.splice(i, 1);
      await p.lifecycle.stop?.();
    }
  }
}
