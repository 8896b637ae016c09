/**
 * The call generator: synthetic SIP calls with RTP, written in capture-time order to a pcap/pcapng file
 * (generateCalls) or handed frame by frame to a callback (generateFrames), with the ground truth of what
 * was written. Calls are planned when they start and dropped when they end, so memory follows concurrency,
 * not the number of calls; RTP frames are built in place in the writer's chunk.
 */
import { PcapngWriter, PcapWriter } from '../../core/net/pcap-writer';
import { LinkType, type RawFrame } from '../../core/net/types';
import { planCall } from './call-plan';
import { emptyDirectionTruth, MediaActor } from './media-stream';
import { deriveSeed, Rng } from './random';
import type { RecordSink } from './rtp-builder';
import { resolveScenario, type GeneratorOptions, type ResolvedScenario } from './scenario';
import { ActorHeap, type Actor } from './scheduler';
import { SipActor, TcpConnection } from './sip-stream';
import { GeneratedTruth, type CallTruth, type Disposition, type TruthTotals } from './truth';
import { mediaSinks } from './media-sinks';

export type { GeneratorOptions } from './scenario';
export { GeneratedTruth } from './truth';

/** Calls are spawned this long before their first frame (a TCP handshake precedes the INVITE by 3 ms). */
const SPAWN_LEAD_US = 10_000;
/** Steps between checks for disk backpressure / abort. */
const CHECK_EVERY = 4096;

export interface GenerateControl {
  /** Stops generating between steps; the truth then covers the calls started so far, as far as they got. */
  signal?: AbortSignal;
  /** Flow control: awaited now and then when it returns a promise (the pipeline's storage is behind). */
  waitWritable?: () => Promise<void> | undefined;
}

/** Write the scenario's calls to outPath (pcapng when it ends in .pcapng, classic pcap otherwise). */
export async function generateCalls(opts: GeneratorOptions, outPath: string, ctl: GenerateControl = {}): Promise<GeneratedTruth> {
  const s = resolveScenario(opts);
  const pcapng = /\.pcapng$/i.test(outPath);
  const w = pcapng
    ? new PcapngWriter(outPath, [{ linkType: LinkType.ETHERNET, name: 'tapline-generator', nanosecond: s.nanosecond }])
    : new PcapWriter(outPath, LinkType.ETHERNET, { nanosecond: s.nanosecond });
  let calls: CallTruth[];
  try {
    calls = await run(s, w, () => (w.needsDrain ? w.drain() : undefined), ctl.signal);
  } finally {
    await w.close();
  }
  return new GeneratedTruth(outPath, pcapng ? 'pcapng' : 'pcap', s, calls, totals(calls, w.frames));
}

/**
 * The same calls as RawFrames (Ethernet), in capture order: for a source plugin that feeds the pipeline
 * directly. Each frame's data is a view into a chunk that is never reused.
 */
export async function generateFrames(opts: GeneratorOptions, onFrame: (f: RawFrame) => void, ctl: GenerateControl = {}): Promise<GeneratedTruth> {
  const s = resolveScenario(opts);
  const sink = new FrameCallbackSink(onFrame);
  // Yield to the event loop now and then so the caller's abort (and its I/O) can run.
  const calls = await run(s, sink, () => ctl.waitWritable?.() ?? new Promise<void>((r) => setImmediate(r)), ctl.signal);
  sink.flush();
  return new GeneratedTruth('', 'frames', s, calls, totals(calls, sink.frames));
}

/** Which calls end how: exact counts from the rates, spread over the calls by a seeded shuffle. */
function dispositions(s: ResolvedScenario): Uint8Array {
  const n = s.calls;
  const codes = new Uint8Array(n); // 0 answered, 1 cancelled, 2 busy, 3 no-bye
  const nCancel = Math.round(n * s.cancelRate);
  const nBusy = Math.min(n - nCancel, Math.round(n * s.failRate));
  const nNoBye = Math.min(n - nCancel - nBusy, Math.round(n * s.noByeRate));
  if (nCancel + nBusy + nNoBye === 0) return codes;
  codes.fill(1, 0, nCancel).fill(2, nCancel, nCancel + nBusy).fill(3, nCancel + nBusy, nCancel + nBusy + nNoBye);
  const rng = new Rng(deriveSeed(s.seed, 0x0d15));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = codes[i] as number;
    codes[i] = codes[j] as number;
    codes[j] = t;
  }
  return codes;
}

const DISPOSITIONS: readonly Disposition[] = ['answered', 'cancelled', 'busy', 'no-bye'];

async function run(s: ResolvedScenario, out: RecordSink, backpressure: () => Promise<void> | undefined, signal?: AbortSignal): Promise<CallTruth[]> {
  const calls: CallTruth[] = [];
  const heap = new ActorHeap();
  const disp = dispositions(s);
  const spacing = (s.ringMs * 1000 + s.durationSec * 1e6) / s.concurrency;
  const callStart = (i: number): number => s.startTime + Math.round(i * spacing);
  let order = 0;
  let shared: TcpConnection | undefined;
  if (s.sipTransport === 'tcp' && s.tcpShared) {
    const rng = new Rng(deriveSeed(s.seed, 0x7c9));
    shared = new TcpConnection({ ip: s.addresses.sharedClient, port: 50000 }, { ip: s.addresses.sipServer, port: s.addresses.sipPort }, rng.u32(), rng.u32());
    shared.open(out, s.startTime - 2 * SPAWN_LEAD_US);
  }

  const spawn = (i: number): void => {
    const plan = planCall(s, i, DISPOSITIONS[disp[i] as number] ?? 'answered', callStart(i));
    const truth = plan.truth;
    calls.push(truth);
    // Only a TURN path takes an order number, so a direct path's frames keep their order.
    const sinks = mediaSinks(s, plan, out, plan.edge === undefined ? -1 : order++, (lastT) => {
      if (lastT > truth.end) truth.end = lastT;
      done();
    });
    let remaining = plan.streams.length + 1 + (sinks.edge === undefined ? 0 : 1);
    const done = (): void => {
      if (--remaining > 0) return;
      for (const d of [truth.media.caller, truth.media.callee]) if (d !== undefined && d.lastTime > truth.end) truth.end = d.lastTime;
    };
    if (sinks.edge !== undefined) heap.push(sinks.edge);
    const isn = new Rng(deriveSeed(s.seed, i, 6));
    const tcp = s.sipTransport !== 'tcp' ? undefined : (shared ?? new TcpConnection(plan.id.sipClient, plan.id.server, isn.u32(), isn.u32()));
    heap.push(new SipActor(plan.events, { client: plan.id.sipClient, server: plan.id.server, mtu: s.mtu, tcp, tcpSegmentSize: s.tcpSegmentSize }, out, order++, done));
    for (const sp of plan.streams) {
      const dt = emptyDirectionTruth(sp);
      truth.media[sp.dir] = dt;
      heap.push(new MediaActor(sp, s, out, order++, dt, done, sinks.of(sp.dir)));
    }
  };

  const spawner: Actor = {
    time: s.calls > 0 ? callStart(0) - SPAWN_LEAD_US : Infinity,
    order: -1,
    step(): void {
      spawn(next);
      next++;
      this.time = next < s.calls ? Math.max(this.time, callStart(next) - SPAWN_LEAD_US) : Infinity;
    },
  };
  let next = 0;
  heap.push(spawner);

  let lastT = s.startTime;
  let steps = 0;
  for (;;) {
    const top = heap.top;
    if (top === undefined) break;
    lastT = top.time;
    top.step();
    heap.fixTop();
    if (++steps % CHECK_EVERY === 0) {
      if (signal?.aborted === true) break;
      const wait = backpressure();
      if (wait !== undefined) await wait;
    }
  }
  if (shared !== undefined) {
    shared.fin(out, lastT + 50_000, true);
    shared.fin(out, lastT + 51_000, false);
    shared.ack(out, lastT + 52_000, true);
  }
  return calls;
}

function totals(calls: readonly CallTruth[], frames: number): TruthTotals {
  let rtpPackets = 0;
  let rtpLost = 0;
  let sipMessages = 0;
  const sipByLabel: Record<string, number> = {};
  for (const c of calls) {
    for (const d of [c.media.caller, c.media.callee]) {
      if (d === undefined) continue;
      rtpPackets += d.packetsWritten;
      rtpLost += d.packetsLost;
    }
    for (const m of c.sip) {
      sipMessages++;
      sipByLabel[m.label] = (sipByLabel[m.label] ?? 0) + 1;
    }
  }
  return { frames, rtpPackets, rtpLost, sipMessages, otherFrames: frames - rtpPackets - sipMessages, sipByLabel };
}

/** A RecordSink that hands each finished record to a callback as a RawFrame. */
class FrameCallbackSink implements RecordSink {
  frames = 0;
  private chunk = Buffer.allocUnsafe(1 << 20);
  private pos = 0;
  private pending: { ts: number; off: number; len: number } | null = null;

  constructor(private readonly onFrame: (f: RawFrame) => void) {}

  get buf(): Buffer {
    return this.chunk;
  }

  beginRecord(tsMicros: number, len: number): number {
    this.flush();
    if (this.pos + len > this.chunk.length) {
      this.chunk = Buffer.allocUnsafe(Math.max(1 << 20, len)); // never reuse: delivered frames keep views
      this.pos = 0;
    }
    const off = this.pos;
    this.pos += len;
    this.pending = { ts: tsMicros, off, len };
    return off;
  }

  write(tsMicros: number, frame: Buffer): void {
    frame.copy(this.chunk, this.beginRecord(tsMicros, frame.length));
  }

  /** Deliver the last record (its bytes are complete once the writer moved on). */
  flush(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    this.frames++;
    const data = this.chunk.subarray(p.off, p.off + p.len);
    this.onFrame({ ts: p.ts, linkType: LinkType.ETHERNET, data, origLen: p.len, interfaceId: 0, frameNo: this.frames });
  }
}
