/**
 * A call worker thread: one call recorder for the shard of calls the main thread gives it. It loads the config's
 * codec plugins itself (decoders are per-call state and never cross threads), keeps a replica of each of its calls
 * (the main thread's snapshots, SDPs sent once), replays each batch's events and packets in order, and answers
 * every batch with the recordings' output it produced. Nothing it receives is trusted to be well formed: a bad
 * record is logged and counted, and the worker goes on.
 */
import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { container as globalContainer } from 'tsyringe';
import type { AudioFormat, Logger } from '../contract';
import type { Call } from '../dialog/types';
import type { TransportPacket } from '../net/types';
import type { AssociatedRtp, RouteSlot } from '../media/types';
import type { RecordingMetadata } from '../media/metadata';
import type { RecordingPort } from '../media/recording-port';
import type { SdpRtpMap } from '../sdp/types';
import type { PolicyConfig } from '../config/types';
import type { LogLevel } from '../log';
import { CallRecorder } from '../media/call-recorder';
import { lowerThisThread, WORKER_NICE } from './thread-priority';
import { parseRtp } from '../media/rtp';
import { CodecRegistry } from '../codec-registry';
import { CounterSet } from '../counters';
import { Contributions, Points } from '../contributions';
import { PluginHost, type ResolvedPlugin } from '../plugins/loader';
import { importPlugin } from '../plugins/resolve';
import { PromMetrics } from '../metrics';
import { LifecycleHub } from '../lifecycle';
import { ServiceClock } from '../clock';
import { codecPolicyFlags } from '../policy/recording-policy';
import { howOf, readBatch, REC_RTCP, REC_RTP, type MediaRecord } from './media-batch';
import type { CallEvent, FromWorker, OutputOp, ToWorker, WorkerSetup } from './protocol';

const port = parentPort;
if (port === null) throw new Error('call-worker.ts runs as a worker thread');
const setup = workerData as WorkerSetup;

function post(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

/** Log lines go to the main thread's logger (one pino destination). */
function workerLogger(bindings: Record<string, unknown> = {}): Logger {
  const line =
    (level: LogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void =>
      post({ t: 'log', level, msg, fields: { ...bindings, ...fields } });
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), child: (b) => workerLogger({ ...bindings, ...b }) };
}

/** The recorder's output, gathered per batch and sent with its acknowledgement (audio buffers transferred). */
class WorkerPort implements RecordingPort {
  ops: OutputOp[] = [];
  transfer: ArrayBuffer[] = [];
  constructor(
    readonly stored: boolean,
    private readonly onClose: (id: string) => void,
  ) {}
  openAudio(id: string, format: AudioFormat): void {
    this.ops.push({ o: 'openAudio', id, format });
  }
  audio(id: string, at: number, pcm: Int16Array): void {
    // The recorder gives up a full gathering buffer (its own ArrayBuffer): moved, not copied.
    const own = pcm.byteOffset === 0 && pcm.byteLength === pcm.buffer.byteLength && pcm.buffer instanceof ArrayBuffer;
    const chunk = own ? pcm : pcm.slice();
    this.transfer.push(chunk.buffer as ArrayBuffer);
    this.ops.push({ o: 'audio', id, at, pcm: chunk });
  }
  attachment(id: string, name: string, data: Buffer, mode: 'append' | 'replace'): void {
    this.ops.push({ o: 'attachment', id, name, data: new Uint8Array(data), mode });
  }
  update(meta: RecordingMetadata): void {
    this.ops.push({ o: 'update', meta });
  }
  close(meta: RecordingMetadata, frames: number): void {
    this.ops.push({ o: 'close', meta, frames });
    this.onClose(meta.id);
  }
  take(): { ops: OutputOp[]; transfer: ArrayBuffer[] } {
    const r = { ops: this.ops, transfer: this.transfer };
    this.ops = [];
    this.transfer = [];
    return r;
  }
}

interface Replica {
  call: Call;
  id: string | undefined;
  /**
   * Flow id (1, 2, …) → the flow's key, one packet object reused for its packets, and the recorder's route slot
   * for it (where it keeps the flow's recording and stream: no lookups by call key and SSRC per packet).
   */
  flows: Array<{ flow: string; pkt: TransportPacket; route: RouteSlot } | undefined>;
  maps: Map<number, SdpRtpMap>;
}

const EMPTY = Buffer.alloc(0);
/** The worker's recorder is the last stage: nothing routes on from it. */
const NO_ROUTE = { value: undefined };

/** Replaced calls a Replaces INVITE brought (for its SRTP keys), the newest few. */
const MAX_REPLACED = 64;

async function main(): Promise<void> {
  const log = workerLogger({ worker: setup.index });
  const priority = lowerThisThread(WORKER_NICE);
  if ('error' in priority) log.debug(`call worker ${setup.index}: priority left as it was (${priority.error})`);
  const counters = new CounterSet();
  const codecs = new CodecRegistry();
  const root = globalContainer.createChildContainer();
  const contributions = new Contributions(root);
  const host = new PluginHost(root, log, counters, setup.configDir, { metrics: new PromMetrics(), events: new LifecycleHub(), clock: new ServiceClock() });
  const plugins: ResolvedPlugin[] = [];
  for (const [index, c] of setup.codecs.entries()) {
    const manifest = await importPlugin(c.use, setup.configDir);
    plugins.push({ index, entry: { use: c.use, enabled: true, options: c.options }, manifest, options: c.options });
  }
  await host.registerAll(plugins, (h) => contributions.collect(h.ctx.name, h.container));
  for (const c of contributions.all(Points.Codec)) codecs.add(c.value, c.plugin);

  let policy: PolicyConfig = setup.policy;
  const replicas = new Map<number, Replica>();
  const byKey = new Map<string, Call>();
  const slotOfId = new Map<string, number>();
  const replaced = new Map<string, Call>();
  const outPort = new WorkerPort(setup.stored, (id) => {
    const slot = slotOfId.get(id);
    if (slot === undefined) return;
    slotOfId.delete(id);
    const r = replicas.get(slot);
    replicas.delete(slot);
    if (r !== undefined && byKey.get(r.call.key) === r.call) byKey.delete(r.call.key);
  });
  const core = counters.scoped('core');
  const recorder = new CallRecorder(codecs, outPort, core, {
    ...setup.recorder,
    codecFlags: (e, p) => codecPolicyFlags(policy, e, p),
    lookupCall: (key) => byKey.get(key) ?? replaced.get(key),
  });

  const sent = new Map<string, number>();
  const counterDeltas = (): Record<string, number> | undefined => {
    let out: Record<string, number> | undefined;
    for (const [k, v] of counters.entries()) {
      const d = v - (sent.get(k) ?? 0);
      if (d === 0) continue;
      (out ??= {})[k] = d;
      sent.set(k, v);
    }
    return out;
  };

  const onEvent = (ev: CallEvent): void => {
    switch (ev.k) {
      case 'call': {
        const r = replicas.get(ev.slot);
        if (r === undefined) {
          const call = { ...ev.call, sdp: ev.sdp } as Call;
          replicas.set(ev.slot, { call, id: undefined, flows: [], maps: new Map() });
          byKey.set(call.key, call);
        } else {
          Object.assign(r.call, ev.call);
          for (const s of ev.sdp) r.call.sdp.push(s);
        }
        return;
      }
      case 'start': {
        const r = replicas.get(ev.slot);
        if (r === undefined) return core.inc('workers.badEvents');
        r.id = ev.info.start.id;
        slotOfId.set(r.id, ev.slot);
        if (ev.replaced !== undefined) {
          replaced.set(ev.replaced.key, ev.replaced);
          if (replaced.size > MAX_REPLACED) replaced.delete(replaced.keys().next().value as string);
        }
        return recorder.start(r.call, ev.info);
      }
      case 'answered':
        return withCall(ev.slot, (c) => recorder.answered(c, ev.modeFlag));
      case 'link':
        return recorder.addLink(ev.key, ev.link);
      case 'control':
        return recorder.control(ev.key, ev.c);
      case 'ended':
        return withCall(ev.slot, (c) => recorder.ended(c));
      case 'sip':
        return withCall(ev.slot, (c) => recorder.sipMessage(c, ev.text));
      case 'flow': {
        const r = replicas.get(ev.slot);
        const pkt: TransportPacket = { ts: 0, frameNo: 0, proto: 'udp', ipVersion: ev.src.includes(':') ? 6 : 4, src: ev.src, sport: ev.sport, dst: ev.dst, dport: ev.dport, payload: EMPTY };
        if (r !== undefined) r.flows[ev.id] = { flow: ev.flow, pkt, route: { value: undefined } };
        return;
      }
      case 'rtpmap':
        replicas.get(ev.slot)?.maps.set(ev.id, ev.map);
        return;
      case 'tick':
        return recorder.tick(ev.now);
      case 'storageFailed':
        return recorder.storageFailed(ev.id, ev.op, ev.message);
    }
  };
  const withCall = (slot: number, f: (c: Call) => void): void => {
    const r = replicas.get(slot);
    if (r === undefined) core.inc('workers.badEvents');
    else f(r.call);
  };

  const onMedia = (m: MediaRecord): void => {
    const r = replicas.get(m.slot);
    if (r === undefined) {
      core.inc('media.afterRecording');
      return;
    }
    if (m.kind === REC_RTCP) {
      // SRTCP is authenticated and counted: only the packet and its time are read.
      recorder.onRtcp({ call: r.call, sender: m.sender, pkt: { ts: m.ts, frameNo: 0, proto: 'udp', ipVersion: 4, src: '', sport: 0, dst: '', dport: 0, payload: m.payload } });
      return;
    }
    if (m.kind !== REC_RTP) return void core.inc('workers.badRecords');
    const f = r.flows[m.flow];
    const rtp = parseRtp(m.payload, true);
    if (f === undefined || rtp === undefined) return void core.inc('workers.badRecords');
    const pkt = f.pkt;
    // One packet object per flow, its time and payload set per packet (the recorder copies what it keeps).
    pkt.ts = m.ts;
    pkt.payload = m.payload;
    const map = m.rtpmap === 0 ? undefined : r.maps.get(m.rtpmap);
    const a: AssociatedRtp = { call: r.call, sender: m.sender, flow: f.flow, how: howOf(m.how), rtp, pkt, route: NO_ROUTE };
    if (map !== undefined) a.rtpmap = map;
    recorder.onRtp(a, f.route);
    // Not kept past the packet: a view left here would pin its whole batch buffer while the flow lives.
    pkt.payload = EMPTY;
  };

  const badBatch = (e: unknown): void => {
    core.inc('workers.badBatches');
    log.error(`call worker ${setup.index}: a batch could not be read: ${(e as Error).message}`);
  };

  port!.on('message', (m: ToWorker) => {
    if (m.t === 'batch') {
      let i = 0;
      try {
        readBatch(m.buf, m.len, onMedia, () => {
          const ev = m.events[i++];
          if (ev !== undefined) onEvent(ev);
        });
      } catch (e) {
        badBatch(e);
      }
      const out = outPort.take();
      const counts = counterDeltas();
      post({ t: 'ack', seq: m.seq, bytes: m.len, ops: out.ops, ...(counts !== undefined ? { counters: counts } : {}) }, out.transfer);
    } else if (m.t === 'policy') {
      policy = m.policy;
    } else if (m.t === 'close') {
      recorder.close();
      const out = outPort.take();
      const counts = counterDeltas();
      post({ t: 'ack', seq: -1, bytes: 0, ops: out.ops, ...(counts !== undefined ? { counters: counts } : {}) }, out.transfer);
      post({ t: 'closed' });
    }
  });
  post({ t: 'ready' });
}

main().catch((e: unknown) => post({ t: 'failed', message: (e as Error)?.message ?? String(e) }));
