/**
 * The per-plugin test harness (`tapline/testing`): boots a real kernel with just the plugin under test (plus
 * any helpers it names), lets a test feed it frames, transport packets, SIP text or capture files, and records
 * everything the pipeline and the plugin emitted so the test can assert on it.
 */
import 'reflect-metadata';
import type { InjectionToken } from 'tsyringe';
import type { Codec, Decoder, IngestSink, PluginManifest, StreamInfo } from '../contract';
import type { RecordingMetadata } from '../media/metadata';
import type { RawFrame, TransportPacket } from '../net/types';
import type { SipMessage } from '../sip/types';
import type { Call, SipMeta } from '../dialog/types';
import type { TaplineConfig } from '../config/types';
import type { TaplineError } from '../errors';
import { Kernel } from '../kernel';
import { memoryLogger, type LogRecord } from '../log';
import { orderByDependencies, type PreparedConfig, type ResolvedPlugin } from '../plugins/loader';
import { throwIfProblems, validatePluginOptions, validateTopLevel } from '../config/validate';
import { checkManifest, resolvePluginModule } from '../plugins/resolve';
import { checkCodecClaims } from '../codec-registry';
import { readCapture } from '../net/capture-reader';
import { Tokens } from '../tokens';

export interface HarnessOptions {
  /** Options for the plugin under test (validated against its schema, defaults applied). */
  options?: Record<string, unknown>;
  /**
   * Other plugins to load alongside (e.g. a codec), with their options: a manifest, or a name as a config's `use`
   * gives it (a built-in plugin such as 'storage-local', or an installed package such as '@tapline/codec-opus').
   */
  with?: Array<{ plugin: PluginManifest<unknown> | string | unknown; options?: Record<string, unknown> }>;
  /** Top-level config overrides (dialog timers, SIP ports...). */
  config?: Record<string, unknown>;
  /** Start plugins right away (default true). */
  start?: boolean;
}

export interface UdpInput {
  src?: string;
  sport?: number;
  dst?: string;
  dport?: number;
  /** Capture time, µs since the epoch; defaults to a clock advancing 20 ms per packet. */
  ts?: number;
  payload: Buffer | string;
  proto?: 'udp' | 'tcp';
  /**
   * TCP only: the segment's sequence number. By default each direction of a connection continues where its last
   * segment ended, so consecutive packet() calls form one byte stream (give `seq` to test gaps or retransmissions).
   */
  seq?: number;
}

/** What the pipeline emitted while the test fed it. */
export interface Recorded {
  sip: Array<{ msg: SipMessage; meta: SipMeta }>;
  sipErrors: Array<{ err: TaplineError; meta: SipMeta }>;
  media: TransportPacket[];
  callsStarted: Call[];
  callsEnded: Call[];
  callUpdates: Array<{ call: Call; what: string }>;
  /** Final metadata of every recording finished (lifecycle event recordingFinished), in finish order. */
  recordings: RecordingMetadata[];
  logs: LogRecord[];
}

/**
 * A validated config from plugin manifests (objects, not names) and top-level settings, as prepareConfig() makes
 * from a file: for booting a Kernel or a RecorderService in a test.
 */
export function prepareForTest(plugins: ReadonlyArray<{ plugin: PluginManifest<unknown> | unknown; options?: Record<string, unknown> }>, config: Record<string, unknown> = {}, dir = process.cwd()): PreparedConfig {
  const cfg: Record<string, unknown> = { ...structuredClone(config), plugins: [] };
  const problems = validateTopLevel(cfg);
  const resolved: ResolvedPlugin[] = plugins.map((e, index) => {
    const manifest = typeof e.plugin === 'string' ? loadPluginSync(e.plugin, dir) : checkManifest(e.plugin, `test entry ${index}`);
    const options = structuredClone(e.options ?? {});
    problems.push(...validatePluginOptions(manifest.optionsSchema, options, `/plugins/${index}/options`, manifest.name));
    return { index, entry: { use: manifest.name, enabled: true, options }, manifest, options };
  });
  throwIfProblems('(test harness)', problems);
  checkCodecClaims(resolved.map((r) => r.manifest));
  return { dir, config: cfg as unknown as TaplineConfig, plugins: orderByDependencies(resolved) };
}

/** A plugin named as a config names it, loaded synchronously (CommonJS plugins: every built-in one is). */
function loadPluginSync(use: string, dir: string): PluginManifest<unknown> {
  const file = resolvePluginModule(use, dir);
  return checkManifest(require(file) as unknown, use);
}

export class PluginHarness {
  readonly recorded: Recorded;
  private clock = Date.UTC(2026, 0, 1) * 1000;
  private frameNo = 0;
  /** Next TCP sequence number per direction (src:sport>dst:dport). */
  private readonly tcpNext = new Map<string, number>();

  private constructor(
    readonly kernel: Kernel,
    logs: LogRecord[],
  ) {
    this.recorded = { sip: [], sipErrors: [], media: [], callsStarted: [], callsEnded: [], callUpdates: [], recordings: [], logs };
    const r = this.recorded;
    kernel.bus.on('sip', (msg, meta) => r.sip.push({ msg, meta }));
    kernel.bus.on('sipError', (err, meta) => r.sipErrors.push({ err, meta }));
    kernel.bus.on('media', (p) => r.media.push(p));
    kernel.dialogs.on('callStart', (c) => r.callsStarted.push(c));
    kernel.dialogs.on('callEnd', (c) => r.callsEnded.push(c));
    kernel.dialogs.on('callUpdate', (call, what) => r.callUpdates.push({ call, what }));
    kernel.events.on('recordingFinished', (m) => r.recordings.push(m));
  }

  /** Boots a kernel with `plugin` (a manifest or a module exporting one). Throws config errors like start-up does. */
  static async create(plugin: PluginManifest<unknown> | unknown, opts: HarnessOptions = {}): Promise<PluginHarness> {
    const entries = [...(plugin === undefined ? [] : [{ plugin, options: opts.options ?? {} }]), ...(opts.with ?? [])];
    const prepared = prepareForTest(entries, opts.config);
    const { log, records } = memoryLogger('debug');
    const kernel = await Kernel.create(prepared, { logger: log, hookTimeoutMs: 5000 });
    const h = new PluginHarness(kernel, records);
    if (opts.start !== false) {
      try {
        await kernel.start();
      } catch (e) {
        // A start that failed (a plugin's start() threw) leaves nothing running behind the error.
        await kernel.stop().catch(() => undefined);
        throw e;
      }
    }
    return h;
  }

  /** A kernel with no plugin under test (only `opts.with`): for testing the core pipeline itself. */
  static core(opts: HarnessOptions = {}): Promise<PluginHarness> {
    return PluginHarness.create(undefined, opts);
  }

  /** Resolve a service the plugin registered (or a core one) from the kernel. */
  resolveAll<T>(token: InjectionToken<T>): T[] {
    const out: T[] = [];
    for (const hp of this.kernel.host.hosted) {
      if (hp.container.isRegistered(token, false)) out.push(...hp.container.resolveAll<T>(token));
    }
    return out;
  }

  /** The codecs the loaded plugins contributed. */
  codecs(): Codec[] {
    return this.resolveAll<Codec>(Tokens.Codec);
  }

  /** A decoder from the kernel's codec registry, as the core would pick it for this rtpmap. */
  decoderFor(stream: StreamInfo): Decoder | undefined {
    return this.kernel.codecs.createDecoder(stream);
  }

  frame(frame: Omit<RawFrame, 'frameNo' | 'origLen' | 'interfaceId'> & Partial<RawFrame>): void {
    this.frameNo++;
    this.kernel.ingest.frame({ frameNo: this.frameNo, interfaceId: 0, origLen: frame.data.length, ...frame });
  }

  /** Feeds one UDP (or TCP) payload as if decoded from a frame. */
  packet(p: UdpInput): void {
    this.clock = p.ts ?? this.clock + 20_000;
    this.frameNo++;
    const payload = typeof p.payload === 'string' ? Buffer.from(p.payload, 'utf8') : p.payload;
    const pkt: TransportPacket = {
      ts: this.clock,
      frameNo: this.frameNo,
      proto: p.proto ?? 'udp',
      ipVersion: (p.src ?? '').includes(':') ? 6 : 4,
      src: p.src ?? '10.0.0.1',
      sport: p.sport ?? 5060,
      dst: p.dst ?? '10.0.0.2',
      dport: p.dport ?? 5060,
      payload,
    };
    if (pkt.proto === 'tcp') {
      const flow = `${pkt.src}:${pkt.sport}>${pkt.dst}:${pkt.dport}`;
      const seq = (p.seq ?? this.tcpNext.get(flow) ?? 1000) >>> 0;
      this.tcpNext.set(flow, (seq + payload.length) >>> 0);
      pkt.tcp = { seq, ack: 0, flags: 0x18 };
    }
    this.kernel.ingest.packet(pkt);
  }

  /** Feeds SIP text (LF line ends are turned into CRLF) as one UDP datagram. */
  sip(text: string, p: Omit<UdpInput, 'payload'> = {}): void {
    const wire = text.includes('\r\n') ? text : text.replace(/\n/g, '\r\n');
    this.packet({ ...p, payload: wire });
  }

  /** The ingest as a source named `label` sees it: hand in SIP arrivals, media, IP packets, frames, drops. */
  source(label = 'harness'): IngestSink {
    return this.kernel.ingest.forSource('harness', label);
  }

  /** Feeds every frame of a capture file (waiting for storage as the file source does). */
  async pcap(file: string): Promise<{ frames: number; warning?: string }> {
    const sink = this.source(file);
    const res = await readCapture(file, (f) => sink.frame(f), { onSkip: (r, d) => sink.skip(r, d), waitWritable: () => sink.writable() });
    this.kernel.ingest.endCapture();
    const out: { frames: number; warning?: string } = { frames: res.frames };
    if (res.warning !== undefined) out.warning = res.warning;
    return out;
  }

  counters(): Record<string, number> {
    return this.kernel.counters.snapshot();
  }

  /** Ends the input: closes open calls, stops plugins (idempotent). */
  async stop(): Promise<Recorded> {
    await this.kernel.stop();
    return this.recorded;
  }
}

export { Kernel } from '../kernel';
export { CollectingIngest } from './collecting-ingest';
export { TAPLINE_API, definePlugin } from '../contract';
export { bestLag, channelOf, pcmCorrelation } from './pcm';
export { corpusDir, corpusPath, describeCorpus, haveCorpus, readManifest, type ManifestRow } from './corpus';
export { rtpPacket, RtpStream, tone, type RtpFields } from './rtp';
export { mulberry32 } from './prng';
export { readWavFile, type WavAudio } from './wav-file';
export type { PluginManifest, PluginContext, Codec, Decoder, DelayedAudio, RtpFrameInfo, Source, StreamInfo } from '../contract';
export type { RecordingMetadata } from '../media/metadata';
