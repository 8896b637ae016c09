/**
 * The kernel: a root DI container with the core services, the plugins registered into child containers and what
 * they contribute (contributions.ts), and the one-way pipeline sources → ingest → SIP / media → dialogs →
 * associator → call recorder → sink queue → storage. It keeps state only for calls in progress: finished calls and
 * recordings leave as lifecycle events. RecorderService (core/service/) runs it: sources, clock, stop, reload.
 */
import 'reflect-metadata';
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import type { CallControl, Logger, RecordingMode, RecordingSink, Source } from './contract';
import type { TransportPacket } from './net/types';
import { Tokens } from './tokens';
import { CounterSet } from './counters';
import { CodecRegistry } from './codec-registry';
import { DialogTracker } from './dialog/tracker';
import { PacketBus } from './bus';
import { createLogger } from './log';
import { PluginHost, type PreparedConfig } from './plugins/loader';
import { Ingest } from './pipeline/ingest';
import { MediaAssociator } from './media/associator';
import { CallRecorder } from './media/call-recorder';
import { recorderOptions } from './media/recorder-options';
import { CallDispatch } from './calls/call-dispatch';
import { LocalShard, type CallShard } from './calls/call-shard';
import { RecordingDesk } from './storage/recording-desk';
import { codecsNotImportable, startCallWorkers, workerCount } from './workers/worker-pool';
import { RecordingPolicy } from './policy/recording-policy';
import { SipMessageLog } from './policy/sip-log';
import * as path from 'node:path';
import { UserDirectory } from './policy/users';
import { EndpointDirectory } from './policy/endpoints';
import { PromMetrics } from './metrics';
import { bridgeCallEvents, LifecycleHub } from './lifecycle';
import { ServiceClock } from './clock';
import { Contributions, Points } from './contributions';
import { SinkQueue } from './storage/sink-queue';
import type { TaplineConfig } from './config/types';
import { attachLifecycleMetrics, registerServiceMetrics, type ServiceMetrics } from './service/service-metrics';
import { exportCounters } from './service/counter-metrics';

export interface KernelOptions {
  logger?: Logger;
  /** Per-hook timeout for plugin register/start/stop. */
  hookTimeoutMs?: number;
  /** Shared with the ops endpoint; a fresh registry by default. */
  metrics?: PromMetrics;
  /** The service logger's count of lines it had to drop (tapline_log_dropped_lines_total). */
  logDroppedLines?: () => number;
}

export class Kernel {
  readonly root: DependencyContainer;
  readonly counters = new CounterSet();
  readonly log: Logger;
  readonly codecs = new CodecRegistry();
  readonly bus = new PacketBus();
  readonly dialogs: DialogTracker;
  readonly ingest: Ingest;
  readonly associator: MediaAssociator;
  readonly metrics: PromMetrics;
  readonly events = new LifecycleHub();
  readonly clock = new ServiceClock();
  readonly contributions: Contributions;
  /** Metrics the service sets by hand (sources up, feed connections, storage latency). */
  serviceMetrics!: ServiceMetrics;
  /** Dispatch by call to the shards (set once plugins are registered: it needs the storage plugin's sink). */
  calls!: CallDispatch;
  /** Where every recording's output meets the storage queue. */
  desk!: RecordingDesk;
  /** In front of the storage plugin's sink, when one is enabled. */
  queue: SinkQueue | undefined;
  /** The recording mode plugin's, when one is enabled. */
  mode: RecordingMode | undefined;
  /** Who is recorded (set once plugins, and so the mode, are registered). */
  policy!: RecordingPolicy;
  private sipLog: SipMessageLog | undefined;
  readonly host: PluginHost;
  /** The recorded users and their licences (config `users`, `usersFile`). */
  readonly users: UserDirectory;
  /** The users' endpoint IPs, configured or learned from the signalling. */
  readonly endpoints: EndpointDirectory;
  private stopped = false;

  private constructor(
    readonly prepared: PreparedConfig,
    opts: KernelOptions,
  ) {
    const cfg = prepared.config;
    this.log = opts.logger ?? createLogger(cfg.log.level);
    this.metrics = opts.metrics ?? new PromMetrics();
    // A child of tsyringe's global container, never the global itself: two kernels in one process stay apart.
    this.root = globalContainer.createChildContainer();
    this.contributions = new Contributions(this.root);
    this.dialogs = new DialogTracker(cfg.dialogs);
    bridgeCallEvents(this.dialogs, this.events);
    const core = this.counters.scoped('core');
    this.ingest = new Ingest(cfg, this.bus, this.dialogs, core, {
      observeTime: (ts) => this.clock.observe(ts),
      captureClock: () => this.clock.mode === 'capture',
      // Which call the frame belonged to is not known here: every call in progress says it happened meanwhile.
      onTimeOutlier: (text) => {
        for (const c of this.dialogs.active()) if (c.warnings.length < 50) c.warnings.push(`capture-time jump ignored: ${text}`);
      },
      writable: () => this.queue?.writable() ?? this.calls?.writable(),
      metrics: this.metrics,
    });
    this.metrics.beforeScrape(() => this.ingest.flushDrops());
    this.associator = new MediaAssociator(this.dialogs, core, { endLingerSec: cfg.media.endLingerSec, holdEarlyMedia: () => this.clock.mode === 'capture' });
    this.bus.on('media', (p) => this.associator.onMedia(p));
    this.root.register(Tokens.Logger, { useValue: this.log });
    this.root.register(Tokens.Counters, { useValue: this.counters });
    this.root.register(Tokens.Config, { useValue: cfg });
    this.root.register(Tokens.Bus, { useValue: this.bus });
    this.root.register(Tokens.Dialogs, { useValue: this.dialogs });
    this.root.register(Tokens.Codecs, { useValue: this.codecs });
    this.root.register(Tokens.Metrics, { useValue: this.metrics });
    this.root.register(Tokens.Events, { useValue: this.events });
    this.root.register(Tokens.Clock, { useValue: this.clock });
    this.root.register(Tokens.MediaInput, { useValue: { push: (p: TransportPacket) => this.associator.onMedia(p) } });
    this.users = UserDirectory.fromConfig(cfg, prepared.dir);
    this.root.register(Tokens.Users, { useValue: this.users });
    this.endpoints = new EndpointDirectory(this.users, { disallowedIps: cfg.policy.disallowedIps, counters: core });
    for (const p of this.endpoints.problems) this.log.warn(p);
    this.endpoints.attach(this.dialogs, this.bus);
    this.root.register(Tokens.Endpoints, { useValue: this.endpoints });
    // Calls are dispatched once plugins are registered (create()); the control reaches them then.
    this.root.register(Tokens.CallControl, { useValue: { control: (key, action, by) => this.calls.control(key, action, by, this.clock.now()) } satisfies CallControl });
    this.host = new PluginHost(this.root, this.log, this.counters, prepared.dir, { metrics: this.metrics, events: this.events, clock: this.clock }, opts.hookTimeoutMs);
    this.clock.onTick((now) => this.tick(now));
  }

  /** Registers every plugin (manifests were checked by prepareConfig) and collects what they contribute. */
  static async create(prepared: PreparedConfig, opts: KernelOptions = {}): Promise<Kernel> {
    const k = new Kernel(prepared, opts);
    await k.host.registerAll(prepared.plugins, (h) => k.contributions.collect(h.ctx.name, h.container));
    for (const c of k.contributions.all(Points.Codec)) k.codecs.add(c.value, c.plugin);
    k.mode = k.contributions.one(Points.Mode);
    const sink = k.contributions.one(Points.Storage);
    const cfg = prepared.config;
    k.serviceMetrics = registerServiceMetrics(k.metrics, {
      sourcePackets: () => k.ingest.tallies(),
      ...(sink !== undefined ? { storageQueue: () => ({ depth: k.queue?.depth ?? 0, bytes: k.queue?.queuedBytes ?? 0, capacityBytes: k.queue?.capacityBytes ?? 0 }) } : {}),
      ...(opts.logDroppedLines !== undefined ? { logDroppedLines: opts.logDroppedLines } : {}),
      callWorkers: () => (k.calls === undefined ? [] : k.calls.threadStats()),
    });
    exportCounters(k.metrics, k.counters);
    attachLifecycleMetrics(k.metrics, k.events);
    if (sink !== undefined) {
      k.queue = new SinkQueue(sink, {
        maxBytes: cfg.storage.queueMaxBytes,
        log: k.log.child({ stage: 'storage-queue' }),
        counters: k.counters.scoped('core'),
        metrics: k.metrics,
        writeSeconds: k.serviceMetrics.storageWriteSeconds,
        onError: (id, op, err) => k.calls.storageFailed(id, op, err),
      });
    }
    k.policy = new RecordingPolicy(k.users, cfg.policy, k.mode);
    const policy = k.policy;
    k.ingest.sipFilter = (msg) => policy.ignoresSip(msg);
    if (cfg.policy.logAllSipMessages !== null) k.sipLog = new SipMessageLog(path.resolve(prepared.dir, cfg.policy.logAllSipMessages));
    const sipLog = k.sipLog;
    if (sipLog !== undefined) k.ingest.sipTap = (msg, meta) => sipLog.write(msg, meta);
    k.desk = new RecordingDesk(k.queue, { mode: k.mode, events: k.events, onFinished: (id) => k.calls.finished(id) });
    let n = workerCount(cfg.media.workers);
    const inProcess = n > 1 ? codecsNotImportable(prepared) : undefined;
    if (inProcess !== undefined) {
      k.log.info(`media.workers: codec plugin "${inProcess}" was handed in as an object, not a module a worker can import; calls run in the main thread`);
      n = 1;
    }
    let shards: CallShard[];
    if (n <= 1) {
      const recorder = new CallRecorder(k.codecs, k.desk, k.counters.scoped('core'), {
        ...recorderOptions(cfg),
        codecFlags: (e, p) => policy.codecFlags(e, p),
        lookupCall: (key) => k.dialogs.get(key),
      });
      shards = [new LocalShard(recorder)];
    } else {
      shards = await startCallWorkers(n, {
        prepared,
        desk: k.desk,
        counters: k.counters,
        log: k.log.child({ stage: 'call-worker' }),
      });
    }
    k.calls = new CallDispatch(shards, k.desk, k.policy, k.counters.scoped('core'), k.log, { recordSipDialogs: cfg.policy.recordSipDialogs, deploymentNow: () => k.ingest.currentNode?.deployment }, k.events);
    if (k.mode?.associate !== undefined) k.associator.fallback = k.mode.associate.bind(k.mode);
    k.calls.attach(k.dialogs, k.associator);
    return k;
  }

  /** The sources plugins contributed. */
  get sources(): ReadonlyArray<{ plugin: string; source: Source }> {
    return this.contributions.all(Points.Source).map((c) => ({ plugin: c.plugin, source: c.value }));
  }

  /** The storage plugin's sink, when one is enabled. */
  get sink(): RecordingSink | undefined {
    return this.queue?.sink;
  }

  get config(): TaplineConfig {
    return this.prepared.config;
  }

  /** Starts plugins (register() ran in create()), then has storage repair what an unclean stop left. */
  async start(): Promise<void> {
    await this.host.startAll();
    if (this.queue !== undefined) {
      try {
        const recovered = await this.queue.sink.recover();
        if (recovered.length > 0) this.log.warn(`repaired and catalogued ${recovered.length} recording(s) left unfinished by an unclean shutdown`, { ids: recovered });
      } catch (e) {
        this.log.error(`storage could not recover unfinished recordings: ${(e as Error).message}`);
      }
    }
    this.clock.start();
  }

  /** Timers of every stage, on the clock's tick (capture time or wall clock). */
  private tick(now: number): void {
    this.dialogs.tick(now);
    this.calls.tick(now);
    this.associator.tick(now);
  }

  /**
   * Closes every open call (finishing and cataloguing its recording), drains the storage queue (at most
   * `drainTimeoutMs`), and stops plugins in reverse order. Idempotent. False when storage did not finish in time.
   */
  async stop(drainTimeoutMs = Infinity): Promise<boolean> {
    if (this.stopped) return true;
    this.stopped = true;
    this.clock.stop();
    this.ingest.flush();
    this.dialogs.closeAll(Math.max(this.ingest.lastTs, this.clock.now()));
    this.associator.flush();
    const t0 = Date.now();
    await this.calls.close(drainTimeoutMs);
    drainTimeoutMs = Math.max(50, drainTimeoutMs - (Date.now() - t0));
    this.ingest.flushDrops();
    let drained = true;
    if (this.queue !== undefined) {
      drained = await this.queue.drain(drainTimeoutMs);
      if (!drained) this.log.error(`storage did not finish within ${drainTimeoutMs} ms: ${this.queue.depth} operation(s) still pending`);
      try {
        await this.queue.sink.shutdown?.();
      } catch (e) {
        this.log.error(`storage shutdown failed: ${(e as Error).message}`);
      }
    }
    this.sipLog?.close();
    const errors = await this.host.stopAll();
    this.root.dispose?.();
    if (errors.length > 0) this.log.warn(`${errors.length} plugin(s) failed to stop cleanly`);
    return drained;
  }
}

