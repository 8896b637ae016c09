/**
 * The live bench's sender, run as its own process (forked with IPC through LiveSender, the parent's handle): the
 * folded capture (live-tile.ts) replayed as TFWD over UDP, paced by tile time × a speed the parent sets and changes
 * while it runs (1 = the capture's own rate). Every packet is stamped with the wall-clock time it was due, as a sensor stamps
 * what it captures; so at speed 1 the recorder sees the calls' RTP every 20 ms of its own clock. A speed above 1
 * squeezes the calls' time (an overload); to send less at the calls' own pace the parent thins them instead: with
 * `fraction` below 1 only that share of the calls is sent (callSelected()), the others — in progress ones too — not.
 *
 * Parent → child: { cmd: 'load', speed, fraction } (the first one starts sending), { cmd: 'mark', id }, { cmd: 'stop' }.
 * Child → parent: { kind: 'ready' }, { kind: 'mark', id, report }, { kind: 'stopped', report }, { kind: 'error', message }.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { TfwdEncoder } from '../../core/net/tfwd';
import { parseKeyArg } from '../forward-sender';
import { callSelected, TileReplay, type TileSpec } from './live-tile';

export interface LiveSenderConfig {
  pcap: string;
  tile: TileSpec;
  sipPort: number;
  host: string;
  port: number;
  /** `ID:SECRET` as forward-sender's --key. */
  key: string;
  mtu: number;
  sensorId: number;
  /** Calls in the capture (call indexes are 0 .. calls − 1). */
  calls: number;
}

export interface LiveSenderReport {
  /** Wall seconds since sending started. */
  wallSec: number;
  /** Global tile time reached, µs (pass × period + tile time of the last packet sent). */
  g: number;
  pass: number;
  packets: number;
  sipPackets: number;
  datagrams: number;
  /** CPU seconds of this process since sending started (user + system). */
  cpuSec: number;
  sendErrors: number;
  /** How far the sender was behind its schedule at the last burst, ms (it is CPU-bound when this grows). */
  behindMs: number;
}

export type SenderCommand = { cmd: 'load'; speed: number; fraction: number } | { cmd: 'mark'; id: string } | { cmd: 'stop' };
export type SenderMessage =
  | { kind: 'ready' }
  | { kind: 'mark'; id: string; report: LiveSenderReport }
  | { kind: 'stopped'; report: LiveSenderReport }
  | { kind: 'error'; message: string };

const BURST_MS = 2;
/** At most this much schedule per loop turn, so IPC messages are read even when the sender cannot keep up. */
const MAX_TURN_US = 20_000;
const MAX_SEND_QUEUE = 2048;

function nowUs(): number {
  return performance.now() * 1000;
}

async function runSender(cfg: LiveSenderConfig, send: (m: SenderMessage) => void, commands: AsyncIterable<SenderCommand>): Promise<void> {
  // Each instance on RTP ports of its own: the generated ports span 2 × the calls.
  const replay = new TileReplay(cfg.pcap, cfg.tile, { sipPort: cfg.sipPort, portStep: 2 * cfg.calls });
  const socket = dgram.createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(cfg.port, cfg.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  let sendErrors = 0;
  socket.on('error', () => sendErrors++);
  send({ kind: 'ready' });
  let sipPackets = 0;
  const enc = new TfwdEncoder({ sensorId: cfg.sensorId, mtu: cfg.mtu, key: parseKeyArg(cfg.key) }, (d) => socket.send(d));
  const epochOffsetUs = performance.timeOrigin * 1000;

  // Schedule: tile time g is due at wall time wallBase + (g − gBase) / speed.
  let speed = 0;
  let fraction = 1;
  // Per call: the instance whose packets are being decided on, and whether they are sent.
  const decided = new Int32Array(cfg.calls).fill(-1);
  const sending = new Uint8Array(cfg.calls);
  let wallBase = 0;
  let gBase = 0;
  let started = false;
  let stopping = false;
  let behindMs = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  replay.next();

  const report = (): LiveSenderReport => {
    const c = process.cpuUsage(cpu0);
    return {
      wallSec: started ? (nowUs() - t0) / 1e6 : 0,
      g: replay.g,
      pass: replay.pass,
      packets: enc.stats.packets + enc.pending,
      sipPackets,
      datagrams: enc.stats.datagrams,
      cpuSec: (c.user + c.system) / 1e6,
      sendErrors,
      behindMs,
    };
  };
  const tileNow = (t: number): number => gBase + (t - wallBase) * speed;

  const loop = (async (): Promise<void> => {
    while (!stopping) {
      if (!started || speed <= 0) {
        await new Promise((r) => setTimeout(r, BURST_MS));
        continue;
      }
      const t = nowUs();
      const due = Math.min(tileNow(t), replay.g + MAX_TURN_US * speed);
      const floorTs = epochOffsetUs + t - 2000;
      while (replay.g <= due) {
        const i = replay.call;
        if (i >= cfg.calls) throw new Error(`a packet of call ${i}, beyond the ${cfg.calls} calls of the capture`);
        if (decided[i] !== replay.instance) {
          decided[i] = replay.instance;
          sending[i] = callSelected(i, fraction) ? 1 : 0;
        }
        if (sending[i] === 1) {
          const sched = epochOffsetUs + wallBase + (replay.g - gBase) / speed;
          enc.add(sched > floorTs ? sched : floorTs, replay.packet);
          if (replay.sip) sipPackets++;
        }
        replay.next();
      }
      enc.flush();
      behindMs = Math.max(0, (tileNow(nowUs()) - replay.g) / speed / 1000);
      if (socket.getSendQueueCount() > MAX_SEND_QUEUE) {
        while (socket.getSendQueueCount() > MAX_SEND_QUEUE / 2) await new Promise<void>((r) => setImmediate(r));
      } else if (behindMs > BURST_MS) {
        await new Promise<void>((r) => setImmediate(r));
      } else {
        await new Promise((r) => setTimeout(r, BURST_MS));
      }
    }
  })();

  for await (const c of commands) {
    if (c.cmd === 'load') {
      const t = nowUs();
      if (!started) {
        started = true;
        t0 = t;
        cpu0 = process.cpuUsage();
        gBase = replay.g;
      } else {
        gBase = tileNow(t);
      }
      wallBase = t;
      speed = c.speed;
      if (c.fraction !== fraction) {
        fraction = c.fraction;
        // Calls in progress that are no longer among the fraction stop here.
        for (let i = 0; i < cfg.calls; i++) if (!callSelected(i, fraction)) sending[i] = 0;
      }
    } else if (c.cmd === 'mark') {
      send({ kind: 'mark', id: c.id, report: report() });
    } else {
      stopping = true;
      await loop;
      enc.flush();
      // The next sequence number, so the recorder counts loss in the last datagrams too.
      enc.heartbeat(epochOffsetUs + nowUs());
      while (socket.getSendQueueCount() > 0) await new Promise<void>((r) => setImmediate(r));
      const r = report();
      await new Promise<void>((res) => socket.close(() => res()));
      replay.close();
      send({ kind: 'stopped', report: r });
      return;
    }
  }
  // The parent went away without a stop: stop sending, at once.
  stopping = true;
  await loop;
  socket.close();
  replay.close();
}

/** The parent's handle on a sender process: starts it, changes its load, asks where it is, stops it. */
export class LiveSender {
  private readonly waiting = new Map<string, (r: LiveSenderReport) => void>();
  private marks = 0;
  private stopped: ((r: LiveSenderReport) => void) | undefined;
  private failure: string | undefined;
  private readonly ready: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    child.on('message', (m: SenderMessage) => {
      if (m.kind === 'ready') onReady();
      else if (m.kind === 'mark') this.waiting.get(m.id)?.(m.report);
      else if (m.kind === 'stopped') this.stopped?.(m.report);
      else {
        this.failure = m.message;
        onFail(new Error(`live sender: ${m.message}`));
      }
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) onFail(new Error(`live sender exited with ${code}${this.failure === undefined ? '' : `: ${this.failure}`}`));
    });
  }

  static async start(cfg: LiveSenderConfig): Promise<LiveSender> {
    const child = fork(__filename, [JSON.stringify(cfg)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: process.execArgv.filter((a) => a !== '--expose-gc'),
    });
    const s = new LiveSender(child);
    await s.ready;
    return s;
  }

  private send(c: SenderCommand): void {
    if (this.failure !== undefined) throw new Error(`live sender failed: ${this.failure}`);
    this.child.send(c);
  }

  load(speed: number, fraction = 1): void {
    this.send({ cmd: 'load', speed, fraction });
  }

  mark(): Promise<LiveSenderReport & { at: number }> {
    const id = String(++this.marks);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('live sender did not answer within 10 s')), 10_000);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve({ ...r, at: performance.now() / 1000 });
      });
      this.send({ cmd: 'mark', id });
    });
  }

  stop(): Promise<LiveSenderReport & { at: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('live sender did not stop within 30 s')), 30_000);
      this.stopped = (r) => {
        clearTimeout(timer);
        resolve({ ...r, at: performance.now() / 1000 });
      };
      this.send({ cmd: 'stop' });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** The parent's messages as an async iterable. */
function ipcCommands(): AsyncIterable<SenderCommand> {
  const queue: SenderCommand[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  process.on('message', (m: SenderCommand) => {
    queue.push(m);
    wake?.();
  });
  process.on('disconnect', () => {
    closed = true;
    wake?.();
  });
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const c = queue.shift();
        if (c !== undefined) {
          yield c;
          continue;
        }
        if (closed) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    },
  };
}

if (require.main === module) {
  const send = (m: SenderMessage): void => {
    process.send?.(m);
  };
  const arg = process.argv[2];
  if (arg === undefined || process.send === undefined) {
    process.stderr.write('live-sender: run by live-bench.ts (fork with IPC and a JSON config argument)\n');
    process.exit(2);
  }
  const cfg = JSON.parse(arg) as LiveSenderConfig;
  const cmds = ipcCommands();
  runSender(cfg, send, cmds).then(
    () => process.disconnect?.(),
    (e: unknown) => {
      send({ kind: 'error', message: (e as Error).stack ?? String(e) });
      process.exitCode = 1;
      process.disconnect?.();
    },
  );
}
