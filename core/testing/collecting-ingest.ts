/** An IngestSink that keeps what a source hands in, for testing a source on its own (no kernel). */
import type { DropStage, IngestSink, IpArrival, MediaArrival, SipArrival } from '../contract';
import type { RawFrame } from '../net/types';

export class CollectingIngest implements IngestSink {
  readonly frames: RawFrame[] = [];
  readonly ipPackets: IpArrival[] = [];
  readonly sips: SipArrival[] = [];
  readonly medias: MediaArrival[] = [];
  readonly skips: string[] = [];
  readonly drops: Array<{ stage: DropStage; reason: string; count: number }> = [];
  /** Set to a promise to make sources that wait (files) wait. */
  wait: Promise<void> | undefined;

  frame(f: RawFrame): void {
    // Capture buffers may be views into reused memory: keep copies.
    this.frames.push({ ...f, data: Buffer.from(f.data) });
  }

  ipPacket(p: IpArrival): void {
    this.ipPackets.push({ ...p, data: Buffer.from(p.data) });
  }

  sip(s: SipArrival): void {
    this.sips.push({ ...s, data: Buffer.from(s.data) });
  }

  media(m: MediaArrival): void {
    this.medias.push({ ...m, payload: Buffer.from(m.payload) });
  }

  skip(reason: string, detail?: string): void {
    this.skips.push(`${reason}: ${detail ?? ''}`);
  }

  drop(stage: DropStage, reason: string, count = 1): void {
    this.drops.push({ stage, reason, count });
  }

  writable(): Promise<void> | undefined {
    return this.wait;
  }

  /** Drops by 'stage/reason', in the order first seen. */
  dropCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const d of this.drops) out.set(`${d.stage}/${d.reason}`, (out.get(`${d.stage}/${d.reason}`) ?? 0) + d.count);
    return out;
  }

  /** Drops counted for a stage (and reason). */
  dropped(stage: DropStage, reason?: string): number {
    return this.drops.filter((d) => d.stage === stage && (reason === undefined || d.reason === reason)).reduce((n, d) => n + d.count, 0);
  }
}
