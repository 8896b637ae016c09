/**
 * The kernel: a root DI container with the core services, the plugins registered into child containers,
 * and the one-way pipeline source → frame → packet → SIP / media → dialogs. Small on purpose: features are plugins.
 */
import 'reflect-metadata';
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import type { Logger, Source, SourceProgress, RecordingMode } from './contract';
import type { TransportPacket } from './net/types';
import { Tokens } from './tokens';
import { CounterSet } from './counters';
import { CodecRegistry } from './codec-registry';
import { DialogTracker } from './dialog/tracker';
import type { Call } from './dialog/types';
import { PacketBus } from './bus';
import { createLogger } from './log';
import { ErrorCodes, TaplineError } from './errors';
import { PluginHost, type PreparedConfig } from './plugins/loader';
import { Ingest } from './pipeline/ingest';
import { MediaAssociator } from './media/associator';
import { CallRecorder } from './media/call-recorder';
import { WavWriter } from './media/wav';
import { RecordingPolicy } from './policy/recording-policy';
import { SipMessageLog } from './policy/sip-log';
import * as path from 'node:path';
import type { RecordingMetadata } from './media/metadata';
import type { RecordingStore } from './contract';
import { UserDirectory } from './policy/users';
import { EndpointDirectory } from './policy/endpoints';
import { PromMetrics } from './metrics';
import { LifecycleHub } from './lifecycle';
import { CaptureClock } from './clock';

export interface KernelOptions {
  logger?: Logger;
  /** Per-hook timeout for plugin register/start/stop. */
  hookTimeoutMs?: number;
}

export interface SourceReport {
  source: string;
  label: string;
  frames: number;
  warning?: string;
  error?: string;
}

export interface RunSummary {
  sources: SourceReport[];
  /** Calls that ended (in end order). */
  calls: Call[];
  recordings: RecordingMetadata[];
  /** RTP streams no call claimed. */
  unmatched: ReturnType<MediaAssociator['unmatchedStreams']>;
  counters: Record<string, number>;
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
  /** Set once plugins are registered (it needs the storage plugin's store, if any). */
  recorder!: CallRecorder;
  store: RecordingStore | undefined;
  /** The recording mode plugin's, when one is enabled. */
  mode: RecordingMode | undefined;
  /** Who is recorded (set once plugins, and so the mode, are registered). */
  policy!: RecordingPolicy;
  private sipLog: SipMessageLog | undefined;
  readonly host: PluginHost;
  readonly sources: Array<{ plugin: string; source: Source }> = [];
  readonly endedCalls: Call[] = [];
  /** The recorded users and their licences (config `users`, `usersFile`). */
  readonly users: UserDirectory;
  /** The users' endpoint IPs, configured or learned from the signalling. */
  readonly endpoints: EndpointDirectory;
  private stopped = false;
  readonly metrics = new PromMetrics();
  readonly events = new LifecycleHub();
  readonly clock = new CaptureClock();

  private constructor(
    readonly prepared: PreparedConfig,
    opts: KernelOptions,
  ) {
    const cfg = prepared.config;
    this.log = opts.logger ?? createLogger(cfg.log.level);
    // A child of tsyringe's global container, never the global itself: two kernels in one process stay apart.
    this.root = globalContainer.createChildContainer();
    this.dialogs = new DialogTracker(cfg.dialogs);
    this.dialogs.on('callEnd', (c) => this.endedCalls.push(c));
    const core = this.counters.scoped('core');
    this.ingest = new Ingest(cfg, this.bus, this.dialogs, core, (ts) => {
      this.dialogs.tick(ts);
      this.recorder.tick(ts);
    });
    this.associator = new MediaAssociator(this.dialogs, core, { endLingerSec: cfg.media.endLingerSec });
    this.bus.on('media', (p) => this.associator.onMedia(p));
    this.root.register(Tokens.Logger, { useValue: this.log });
    this.root.register(Tokens.Counters, { useValue: this.counters });
    this.root.register(Tokens.Config, { useValue: cfg });
    this.root.register(Tokens.Bus, { useValue: this.bus });
    this.root.register(Tokens.Dialogs, { useValue: this.dialogs });
    this.root.register(Tokens.Codecs, { useValue: this.codecs });
    this.root.register(Tokens.MediaInput, { useValue: { push: (p: TransportPacket) => this.associator.onMedia(p) } });
    this.users = UserDirectory.fromConfig(cfg, prepared.dir);
    this.root.register(Tokens.Users, { useValue: this.users });
    this.endpoints = new EndpointDirectory(this.users, { disallowedIps: cfg.policy.disallowedIps, counters: core });
    for (const p of this.endpoints.problems) this.log.warn(p);
    this.endpoints.attach(this.dialogs, this.bus);
    this.root.register(Tokens.Endpoints, { useValue: this.endpoints });
    this.host = new PluginHost(this.root, this.log, this.counters, prepared.dir, { metrics: this.metrics, events: this.events, clock: this.clock }, opts.hookTimeoutMs);
  }

  /** Registers every plugin (manifests were checked by prepareConfig) and collects what they contribute. */
  static async create(prepared: PreparedConfig, opts: KernelOptions = {}): Promise<Kernel> {
    const k = new Kernel(prepared, opts);
    await k.host.registerAll(prepared.plugins, (h) => {
      const c = h.container;
      if (c.isRegistered(Tokens.Codec, false)) for (const codec of c.resolveAll(Tokens.Codec)) k.codecs.add(codec, h.ctx.name);
      if (c.isRegistered(Tokens.Source, false)) for (const source of c.resolveAll(Tokens.Source)) k.sources.push({ plugin: h.ctx.name, source });
      if (c.isRegistered(Tokens.Storage, false)) {
        if (k.store !== undefined) throw new TaplineError(ErrorCodes.PLUGIN_DUPLICATE, `two storage plugins are enabled (the second is "${h.ctx.name}"); enable one`);
        k.store = c.resolve(Tokens.Storage);
      }
      if (c.isRegistered(Tokens.Mode, false)) {
        if (k.mode !== undefined) throw new TaplineError(ErrorCodes.PLUGIN_DUPLICATE, `two recording modes are enabled ("${k.mode.name}" and the one of "${h.ctx.name}"); enable one`);
        k.mode = c.resolve(Tokens.Mode);
      }
      if (c.isRegistered(Tokens.Transcripts, false)) {
        if (k.root.isRegistered(Tokens.Transcripts, false)) throw new TaplineError(ErrorCodes.PLUGIN_DUPLICATE, `two plugins keep chat transcripts (the second is "${h.ctx.name}"); enable one`);
        // Into the root, so the chat plugin (in a sibling container) resolves it from start() on.
        k.root.register(Tokens.Transcripts, { useValue: c.resolve(Tokens.Transcripts) });
      }
    });
    const cfg = prepared.config;
    k.policy = new RecordingPolicy(k.users, cfg.policy, k.mode);
    const policy = k.policy;
    k.ingest.sipFilter = (msg) => policy.ignoresSip(msg);
    if (cfg.policy.logAllSipMessages !== null) k.sipLog = new SipMessageLog(path.resolve(prepared.dir, cfg.policy.logAllSipMessages));
    const sipLog = k.sipLog;
    if (sipLog !== undefined) k.ingest.sipTap = (msg, meta) => sipLog.write(msg, meta);
    k.recorder = new CallRecorder(k.dialogs, k.codecs, k.store, k.counters.scoped('core'), k.log, {
      layout: cfg.output.layout,
      endLingerSec: cfg.media.endLingerSec,
      reorderWindowMs: cfg.media.reorderWindowMs,
      metadataEverySec: cfg.media.metadataEverySec,
      srtp: cfg.media.srtp,
      keepUndecoded: cfg.media.keepUndecoded,
      backgroundWrites: cfg.media.backgroundWrites,
      policy: k.policy,
    });
    if (k.mode?.associate !== undefined) k.associator.fallback = k.mode.associate.bind(k.mode);
    k.associator.on('rtp', (a) => k.recorder.onRtp(a));
    k.associator.on('rtcp', (x) => k.recorder.onRtcp(x));
    return k;
  }

  async start(): Promise<void> {
    await this.host.startAll();
    if (this.store !== undefined) {
      const recovered = this.store.recover();
      if (recovered.length > 0) this.log.warn(`repaired and catalogued ${recovered.length} recording(s) left unfinished by an unclean shutdown`, { ids: recovered });
    }
  }

  /**
   * Runs every source to its end (file sources) in turn. A source that fails is reported, and what it
   * delivered before failing still counts; the others still run.
   */
  async runSources(onProgress?: (source: Source, p: SourceProgress) => void, signal?: AbortSignal): Promise<SourceReport[]> {
    const reports: SourceReport[] = [];
    const ac = new AbortController();
    const abort = (): void => ac.abort();
    signal?.addEventListener('abort', abort);
    try {
      for (const { source } of this.sources) {
        const report: SourceReport = { source: source.name, label: source.label, frames: 0 };
        this.ingest.beginCapture(source.label);
        try {
          const res = await source.run(this.ingest, ac.signal, onProgress === undefined ? undefined : (p) => onProgress(source, p));
          report.frames = res.frames;
          if (res.warning !== undefined) {
            report.warning = res.warning;
            this.log.warn(`${source.label}: ${res.warning}`);
          }
        } catch (e) {
          report.error = (e as Error).message;
          this.log.error(`${source.label}: ${report.error}`, { code: (e as { code?: string }).code });
        }
        this.ingest.endCapture();
        reports.push(report);
        if (ac.signal.aborted) break;
      }
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    return reports;
  }

  /** Closes every open call and stops plugins in reverse order. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ingest.flush();
    this.dialogs.closeAll(this.ingest.lastTs);
    this.associator.flush();
    this.recorder.close();
    // WAV data still on its way to the disk lands before storage plugins stop (and before anyone reads it).
    await WavWriter.settled();
    this.sipLog?.close();
    const errors = await this.host.stopAll();
    this.root.dispose?.();
    if (errors.length > 0) this.log.warn(`${errors.length} plugin(s) failed to stop cleanly`);
  }

  summary(sources: SourceReport[]): RunSummary {
    return { sources, calls: this.endedCalls, recordings: this.recorder.finished, unmatched: this.associator.unmatchedStreams(), counters: this.counters.snapshot() };
  }
}
