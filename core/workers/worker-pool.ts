/**
 * Call workers, main-thread side. Each WorkerShard owns one worker thread and the calls the dispatcher gives it:
 * their events and packets are appended, in order, to a batch (media-batch.ts) that is posted, its buffer
 * transferred, once per turn of the event loop or when full. The worker acknowledges each batch with the output it
 * produced, which goes to the recording desk here.
 *
 * Bounded: what was posted and not yet acknowledged is counted in bytes. Past HIGH_WATER a source that can wait
 * (a capture file) is told to (writable()); past MAX_BEHIND a live source's packets are dropped and counted, with a
 * warning at most once a second, rather than queued without end behind a worker that cannot keep up.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../contract';
import type { RecordingControl, RecordingLink, RecordingStartInfo } from '../media/call-recorder';
import type { Call, Side } from '../dialog/types';
import type { TransportPacket } from '../net/types';
import type { AssociatedRtp, RouteSlot } from '../media/types';
import type { SdpRtpMap } from '../sdp/types';
import type { CounterSet } from '../counters';
import type { PolicyConfig } from '../config/types';
import type { PreparedConfig } from '../plugins/loader';
import type { RecordingDesk } from '../storage/recording-desk';
import type { CallShard } from '../calls/call-shard';
import { recorderOptions } from '../media/recorder-options';
import { rateLimited } from '../log-rate-limit';
import { resolvePluginModule } from '../plugins/resolve';
import { ErrorCodes, TaplineError } from '../errors';
import { BATCH_BYTES, BatchWriter, howCode, REC_RTCP, REC_RTP, RTP_HEADER } from './media-batch';
import type { CallEvent, CallSnapshot, FromWorker, OutputOp, ToWorker, WorkerSetup } from './protocol';

/** Posted and not acknowledged, per worker: a waiting source waits past this. */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 2 * 1024 * 1024;
/** A batch waits at most this long for more records (ms). */
const FLUSH_MS = 4;
/** Past this a live source's packets are dropped (about 2 s of 150k packets/s of G.711 per worker). */
const MAX_BEHIND = 64 * 1024 * 1024;

/** media.workers as a number of threads ('auto': the cores this process may use). */
export function workerCount(setting: number | 'auto' | undefined): number {
  if (setting === undefined || setting === 'auto') return Math.max(1, os.availableParallelism());
  return Math.max(1, Math.floor(setting));
}

/** The first codec plugin a worker could not import by its `use` (handed in as an object by an embedder or test). */
export function codecsNotImportable(prepared: PreparedConfig): string | undefined {
  for (const p of prepared.plugins) {
    if (p.manifest.kind !== 'codec') continue;
    try {
      resolvePluginModule(p.entry.use, prepared.dir);
    } catch {
      return p.manifest.name;
    }
  }
  return undefined;
}

export interface WorkerPoolOptions {
  prepared: PreparedConfig;
  desk: RecordingDesk;
  /** The kernel's counters (workers' counters are added to them under their own names). */
  counters: CounterSet;
  log: Logger;
}

/**
 * Starts `n` call workers; rejects (and stops them all) when the first cannot load its codecs. The others start at
 * their first call: a thread costs ~25 MB before it records anything, and a capture with few calls (or none: junk)
 * need not pay for every core.
 */
export async function startCallWorkers(n: number, opts: WorkerPoolOptions): Promise<WorkerShard[]> {
  const { prepared } = opts;
  const base: Omit<WorkerSetup, 'index'> = {
    configDir: prepared.dir,
    codecs: prepared.plugins.filter((p) => p.manifest.kind === 'codec').map((p) => ({ use: p.entry.use, options: { ...p.options } })),
    recorder: recorderOptions(prepared.config),
    policy: structuredClone(prepared.config.policy),
    stored: opts.desk.stored,
  };
  const shards = Array.from({ length: n }, (_, index) => new WorkerShard({ ...base, index }, opts, index > 0));
  try {
    await Promise.all(shards.map((s) => s.ready));
  } catch (e) {
    await Promise.all(shards.map((s) => s.terminate()));
    throw e;
  }
  return shards;
}

interface CallSlot {
  slot: number;
  /** Its recording is finished (or its worker died): routes that hold it are stale. */
  closed: boolean;
  id: string;
  sdpSent: number;
  flows: Map<string, number>;
  maps: Map<SdpRtpMap, number>;
}

/** A stream's routing in this shard (kept in its RouteSlot). */
interface StreamSlot {
  c: CallSlot;
  flow: number;
  /** The last rtpmap seen on the stream, and its id. */
  map: SdpRtpMap | undefined;
  mapId: number;
}

export class WorkerShard implements CallShard {
  readonly ready: Promise<void>;
  /** Undefined until the first call when started lazily. */
  private worker: Worker | undefined;
  private readonly w = new BatchWriter();
  private events: CallEvent[] = [];
  private seq = 0;
  /** Bytes posted and not yet acknowledged. */
  private behind = 0;
  private readonly calls = new Map<string, CallSlot>();
  /** Calls changed since their last snapshot. */
  private readonly dirty = new Map<string, { call: Call; c: CallSlot }>();
  private readonly keyOfId = new Map<string, string>();
  private nextSlot = 1;
  private waiters: Array<() => void> = [];
  private closed: Promise<void> | undefined;
  private onClosed: (() => void) | undefined;
  private exited = false;
  private dead = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly dropWarn;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly flushNow = (): void => {
    this.flushTimer = undefined;
    this.flush();
  };

  constructor(
    private readonly setup: WorkerSetup,
    private readonly opts: WorkerPoolOptions,
    lazy = false,
  ) {
    this.dropWarn = rateLimited(opts.log, `call-worker-${setup.index}-behind`);
    if (lazy) {
      this.ready = Promise.resolve();
      this.exited = true;
      return;
    }
    const w = this.spawn();
    this.worker = w;
    this.ready = this.whenReady(w);
  }

  /** A lazily started worker's thread, at its first call. One that then fails to start is handled as a death. */
  private startLazily(): void {
    if (this.worker !== undefined || this.closed !== undefined) return;
    const w = this.spawn();
    this.worker = w;
    this.exited = false;
    this.whenReady(w).catch((e: Error) => {
      if (w === this.worker) this.died(e);
    });
  }

  /** A worker thread, its events bound to it (a dead one's late events cannot touch its replacement). */
  private spawn(): Worker {
    const file = path.join(__dirname, `call-worker${path.extname(__filename)}`);
    const w = new Worker(file, { workerData: this.setup, name: `tapline-calls-${this.setup.index}` });
    // The kernel closes its workers when it stops; one left behind (a kernel never stopped) does not hold the process.
    w.unref();
    w.on('exit', (code) => {
      if (w !== this.worker) return;
      this.exited = true;
      if (this.onClosed !== undefined) this.onClosed();
      else if (code !== 0) this.died(new Error(`exited with code ${code}`));
    });
    return w;
  }

  private whenReady(w: Worker): Promise<void> {
    const index = this.setup.index;
    return new Promise((resolve, reject) => {
      const fail = (e: Error): void => reject(new TaplineError(ErrorCodes.WORKER_START, `call worker ${index} could not start: ${e.message}`, { worker: index }, e));
      w.once('error', fail);
      w.on('message', (m: FromWorker) => {
        if (w !== this.worker) return;
        if (m.t === 'ready') {
          w.off('error', fail);
          w.on('error', (e) => {
            if (w === this.worker) this.died(e);
          });
          resolve();
        } else if (m.t === 'failed') fail(new Error(m.message));
        else this.onMessage(m);
      });
    });
  }

  /**
   * A replacement for a worker that died, after a pause that doubles with each death (1 s up to a minute): a
   * service that runs for months does not stay a thread short, and a worker that keeps dying does not spin.
   */
  private scheduleRestart(): void {
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(6, this.restarts));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closed !== undefined) return;
      this.restarts++;
      const w = this.spawn();
      this.worker = w;
      this.exited = false;
      this.whenReady(w).then(
        () => {
          if (w !== this.worker || this.closed !== undefined) return;
          this.dead = false;
          this.opts.counters.inc('core.workers.restarted');
          this.opts.log.warn(`call worker ${this.setup.index} restarted; it takes new calls again`, { worker: this.setup.index });
        },
        (e: Error) => {
          this.opts.log.error(`call worker ${this.setup.index} could not be restarted: ${e.message}`, { worker: this.setup.index });
          this.exited = true;
          void w.terminate();
          this.scheduleRestart();
        },
      );
    }, delay);
    this.restartTimer.unref();
  }

  get thread(): { index: number; behind: number } {
    return { index: this.setup.index, behind: this.behind };
  }

  start(call: Call, info: RecordingStartInfo, replaced: Call | undefined): void {
    if (this.worker === undefined) this.startLazily();
    const c: CallSlot = { slot: this.nextSlot++, closed: false, id: info.start.id, sdpSent: 0, flows: new Map(), maps: new Map() };
    this.calls.set(call.key, c);
    this.keyOfId.set(info.start.id, call.key);
    this.snapshot(call, c);
    this.event({ k: 'start', slot: c.slot, info, ...(replaced !== undefined ? { replaced: structuredClone(replaced) } : {}) });
  }

  /**
   * The call changed: its snapshot is sent once something of the call's follows (a packet, an event) or the clock
   * ticks (metadata is made only then), so the several changes one SIP message makes travel as one.
   */
  updated(call: Call): void {
    const c = this.calls.get(call.key);
    if (c !== undefined) this.dirty.set(call.key, { call, c });
  }

  answered(call: Call, modeFlag: string | undefined | null): void {
    const c = this.calls.get(call.key);
    if (c === undefined) return;
    this.snapshot(call, c);
    this.event({ k: 'answered', slot: c.slot, modeFlag });
  }

  link(callKey: string, link: RecordingLink): void {
    this.event({ k: 'link', key: callKey, link });
  }

  control(callKey: string, c: RecordingControl): void {
    this.event({ k: 'control', key: callKey, c });
  }

  ended(call: Call): void {
    const c = this.calls.get(call.key);
    if (c === undefined) return;
    this.snapshot(call, c);
    this.event({ k: 'ended', slot: c.slot });
  }

  sipMessage(call: Call, text: string): void {
    const c = this.calls.get(call.key);
    if (c === undefined) return;
    this.sync(call.key);
    this.event({ k: 'sip', slot: c.slot, text });
  }

  rtp(a: AssociatedRtp, route: RouteSlot): void {
    // The stream's call slot and flow id, kept in its route: found once per stream, not once per packet.
    let r = route.value as StreamSlot | undefined;
    if (r === undefined || r.c.closed) {
      const c = this.calls.get(a.call.key);
      if (c === undefined) return;
      r = { c, flow: c.flows.get(a.flow) ?? this.defineFlow(c, a.flow, a.pkt), map: undefined, mapId: 0 };
      route.value = r;
    }
    if (this.tooFarBehind()) return;
    if (this.dirty.size > 0) this.sync(a.call.key);
    const c = r.c;
    let mapId = 0;
    if (a.rtpmap !== undefined) {
      if (a.rtpmap !== r.map) {
        r.map = a.rtpmap;
        r.mapId = c.maps.get(a.rtpmap) ?? this.defineMap(c, a.rtpmap);
      }
      mapId = r.mapId;
    }
    this.media(REC_RTP, c.slot, a.sender, howCode(a.how), r.flow, mapId, a.pkt.ts, a.pkt.payload);
  }

  rtcp(x: { call: Call; sender: Side; pkt: TransportPacket }): void {
    const c = this.calls.get(x.call.key);
    if (c === undefined || this.tooFarBehind()) return;
    if (this.dirty.size > 0) this.sync(x.call.key);
    this.media(REC_RTCP, c.slot, x.sender, 0, 0, 0, x.pkt.ts, x.pkt.payload);
  }

  tick(now: number): void {
    if (this.calls.size === 0 && this.w.len === 0) return;
    this.syncAll();
    this.event({ k: 'tick', now });
  }

  storageFailed(id: string, op: string, message: string): void {
    this.event({ k: 'storageFailed', id, op, message });
  }

  /** A promise while this worker is more than HIGH_WATER behind (for sources that can wait). */
  writable(): Promise<void> | undefined {
    if (this.behind <= HIGH_WATER) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Finishes this worker's recordings; one that does not answer within `timeoutMs` is stopped (and said so). */
  close(timeoutMs = Infinity): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
      if (this.worker === undefined || this.exited || this.dead) {
        void this.worker?.terminate();
        return resolve();
      }
      let timer: NodeJS.Timeout | undefined;
      this.onClosed = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.opts.log.error(`call worker ${this.setup.index} did not finish its ${this.keyOfId.size} recording(s) within ${timeoutMs} ms: stopped`, { worker: this.setup.index });
          void this.worker?.terminate();
        }, timeoutMs);
      }
      this.syncAll();
      this.flush();
      this.post({ t: 'close' });
    });
    return this.closed;
  }

  /** New policy settings (SIGHUP): codec flags follow them. */
  reconfigure(policy: PolicyConfig): void {
    // A worker not started yet starts with the new settings.
    this.setup.policy = structuredClone(policy);
    this.flush();
    this.post({ t: 'policy', policy: structuredClone(policy) });
  }

  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }

  /** The pending snapshot of this call, if any, before something of it. */
  private sync(key: string): void {
    const d = this.dirty.get(key);
    if (d === undefined) return;
    this.dirty.delete(key);
    this.snapshot(d.call, d.c);
  }

  private syncAll(): void {
    for (const d of this.dirty.values()) this.snapshot(d.call, d.c);
    this.dirty.clear();
  }

  private snapshot(call: Call, c: CallSlot): void {
    this.dirty.delete(call.key);
    const { sdp, ...rest } = call;
    // Cloned now: the tracker goes on changing the call before the batch is posted.
    const snap: CallSnapshot = structuredClone(rest);
    this.event({ k: 'call', slot: c.slot, call: snap, sdpFrom: c.sdpSent, sdp: sdp.length > c.sdpSent ? structuredClone(sdp.slice(c.sdpSent)) : [] });
    c.sdpSent = sdp.length;
  }

  private defineFlow(c: CallSlot, flow: string, pkt: TransportPacket): number {
    const id = c.flows.size + 1;
    c.flows.set(flow, id);
    this.event({ k: 'flow', slot: c.slot, id, flow, src: pkt.src, sport: pkt.sport, dst: pkt.dst, dport: pkt.dport });
    return id;
  }

  private defineMap(c: CallSlot, map: SdpRtpMap): number {
    const id = c.maps.size + 1;
    c.maps.set(map, id);
    this.event({ k: 'rtpmap', slot: c.slot, id, map: structuredClone(map) });
    return id;
  }

  private tooFarBehind(): boolean {
    if (this.behind <= MAX_BEHIND) return false;
    this.opts.counters.inc('core.media.workerBehind');
    this.dropWarn.warn(`call worker ${this.setup.index} is ${this.behind} bytes behind: media dropped (the decoding threads cannot keep up with the input)`);
    return true;
  }

  private media(kind: number, slot: number, sender: Side, how: number, flow: number, map: number, ts: number, payload: Buffer): void {
    const n = RTP_HEADER + payload.length;
    if (!this.w.fits(n)) this.flush();
    if (!this.w.fits(n)) return; // larger than a batch: not a UDP datagram
    this.w.media(kind, slot, sender, how, flow, map, ts, payload);
    this.schedule();
  }

  private event(e: CallEvent): void {
    if (!this.w.fits(1)) this.flush();
    this.events.push(e);
    this.w.event();
    this.schedule();
  }

  /**
   * A batch goes when it is full or FLUSH_MS after its first record, not at every turn of the event loop: a live
   * source that keeps up wakes the loop for every datagram or two, and a post per turn (each one a structured clone
   * and a wake-up of the worker) took a sixth of the main thread at 150,000 packets/s.
   */
  private schedule(): void {
    if (this.flushTimer !== undefined) return;
    this.flushTimer = setTimeout(this.flushNow, FLUSH_MS);
  }

  private flush(): void {
    if (this.w.len === 0) return;
    const buf = this.w.buf;
    const len = this.w.len;
    this.post({ t: 'batch', seq: ++this.seq, buf, len, events: this.events }, [buf]);
    this.behind += len;
    this.events = [];
    // A fresh buffer each batch: the worker's decoders may keep views of the packets of the last one.
    this.w.reset(new ArrayBuffer(BATCH_BYTES));
  }

  private post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.exited) this.worker?.postMessage(m, transfer);
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'ack') {
      this.behind -= m.bytes;
      for (const op of m.ops) this.output(op);
      if (m.counters !== undefined) for (const [name, n] of Object.entries(m.counters)) this.opts.counters.inc(name, n);
      if (this.behind <= LOW_WATER && this.waiters.length > 0) {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    } else if (m.t === 'log') {
      this.opts.log[m.level === 'silent' ? 'debug' : m.level](m.msg, { worker: this.setup.index, ...m.fields });
    } else if (m.t === 'closed') {
      void this.worker?.terminate();
    }
  }

  private output(op: OutputOp): void {
    const desk = this.opts.desk;
    switch (op.o) {
      case 'openAudio':
        return desk.openAudio(op.id, op.format);
      case 'audio':
        return desk.audio(op.id, op.at, op.pcm);
      case 'attachment':
        return desk.attachment(op.id, op.name, Buffer.from(op.data.buffer, op.data.byteOffset, op.data.byteLength), op.mode);
      case 'update':
        return desk.update(op.meta);
      case 'close': {
        const key = this.keyOfId.get(op.meta.id);
        if (key !== undefined) {
          this.keyOfId.delete(op.meta.id);
          const c = this.calls.get(key);
          if (c !== undefined) c.closed = true;
          this.calls.delete(key);
          this.dirty.delete(key);
        }
        return desk.close(op.meta, op.frames);
      }
    }
  }

  get failed(): boolean {
    return this.dead;
  }

  /**
   * A worker that dies takes its calls' recordings with it: said loudly, and the service goes on with the other
   * workers (the dispatcher gives this one no new call until its replacement is ready). Their catalogue entries
   * stay 'recording', with the audio written so far, for storage's recovery to repair at the next start.
   */
  private died(e: Error): void {
    if (this.dead || this.onClosed !== undefined) return;
    this.dead = true;
    const ids = [...this.keyOfId.keys()];
    this.opts.log.error(`call worker ${this.setup.index} failed: ${e.message}; its ${ids.length} recording(s) in progress are lost`, { worker: this.setup.index, recordings: ids });
    this.opts.counters.inc('core.workers.failed');
    this.exited = true;
    for (const c of this.calls.values()) c.closed = true;
    this.calls.clear();
    this.dirty.clear();
    this.keyOfId.clear();
    for (const id of ids) this.opts.desk.abandon(id);
    for (const f of this.waiters) f();
    this.waiters = [];
    this.behind = 0;
    // What was being gathered for it is gone with its calls.
    this.events = [];
    this.w.reset(new ArrayBuffer(BATCH_BYTES));
    this.scheduleRestart();
  }
}
