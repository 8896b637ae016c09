/** What the source-live tests share: whether capture is possible here, a recording IngestSink, UDP on loopback. */
import * as dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { DropStage, IngestSink } from '../../core/contracts/ingest';
import type { RawFrame } from '../../core/net/types';
import { pcapAddon, pcapAddonStatus } from '../../core/net/pcap-addon';

/** Why live capture cannot be tested here (no addon, no privilege), or undefined when it can. */
export function captureUnavailable(): string | undefined {
  const addon = pcapAddon();
  if (addon === undefined) return `native/pcap addon not loaded: ${pcapAddonStatus().reason ?? 'unknown'}`;
  try {
    const h = addon.open('lo', { snaplen: 256, bufferBytes: 65536, promiscuous: false, timeoutMs: 10, budget: 64 }, 'udp port 9', Buffer.alloc(1 << 16), () => undefined);
    addon.close(h);
    return undefined;
  } catch (e) {
    return `cannot capture on lo (${(e as Error).message}); needs root or CAP_NET_RAW`;
  }
}

/** Skips the suite (visibly) when live capture cannot run here. */
export function skipUnlessCapture(ctx: Mocha.Context): void {
  const why = captureUnavailable();
  if (why !== undefined) {
    console.warn(`source-live: skipped: ${why}`);
    ctx.skip();
  }
}

export interface RecordingSink extends IngestSink {
  frames: RawFrame[];
  drops: Array<{ stage: DropStage; reason: string; count: number }>;
  dropped(stage: DropStage): number;
}

/** An IngestSink that keeps what a source hands it. */
export function recordingSink(): RecordingSink {
  const s: RecordingSink = {
    frames: [],
    drops: [],
    frame(f) {
      s.frames.push(f);
    },
    ipPacket() {
      throw new Error('source-live hands frames, not IP packets');
    },
    sip() {
      throw new Error('source-live hands frames, not SIP messages');
    },
    media() {
      throw new Error('source-live hands frames, not media');
    },
    skip() {
      throw new Error('source-live has nothing to skip');
    },
    drop(stage, reason, count = 1) {
      s.drops.push({ stage, reason, count });
    },
    writable() {
      return undefined;
    },
    dropped(stage) {
      return s.drops.filter((d) => d.stage === stage).reduce((n, d) => n + d.count, 0);
    },
  };
  return s;
}

/** Wall-clock time in µs with sub-millisecond precision (the kernel's capture timestamps are on the same clock). */
export function wallUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** A payload that says which datagram it is and when it was sent: u32 seq, f64 send time (µs), then filler. */
export function stampedPayload(seq: number, size: number): Buffer {
  const b = Buffer.alloc(Math.max(12, size), 0x5a);
  b.writeUInt32BE(seq, 0);
  b.writeDoubleBE(wallUs(), 4);
  return b;
}

/** Sends `count` stamped datagrams from one socket to 127.0.0.1:port; resolves with the payloads and the source port. */
export async function sendUdp(port: number, count: number, opts: { size?: number; gapEvery?: number } = {}): Promise<{ payloads: Buffer[]; sport: number }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const payloads: Buffer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const p = stampedPayload(i, opts.size ?? 172);
      payloads.push(p);
      await new Promise<void>((resolve, reject) => sock.send(p, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      // A short pause now and then so that send times spread out (timestamps are compared with them).
      if (opts.gapEvery !== undefined && i % opts.gapEvery === opts.gapEvery - 1) await new Promise((r) => setTimeout(r, 2));
    }
    return { payloads, sport: sock.address().port };
  } finally {
    sock.close();
  }
}

/** A UDP port on 127.0.0.1 that nobody else uses while the returned socket (which never reads) stays bound. */
export async function quietPort(): Promise<{ port: number; close(): void }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { port: sock.address().port, close: () => sock.close() };
}

/** Resolves once `cond` holds, or after `ms` (then the caller's assertions say what was missing). */
export async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}
