/**
 * The last seconds of one call's packets, kept so that when its recorder dies the next recorder is sent them
 * again: the dead recorder's last second or so was still in its buffers (a kill -9 loses it), and the death is
 * seen up to deadAfterMs late. The parts on the two recorders then overlap instead of leaving a gap.
 * Bounded by age (replaySeconds of capture time), by count, and by a byte budget shared by all calls.
 */
export interface ReplayBudget {
  bytes: number;
  readonly max: number;
  /** Packets not kept because the budget was spent. */
  refused: number;
}

const MAX_PACKETS = 8192;

export class ReplayRing {
  private ts: number[] = [];
  private pkts: Buffer[] = [];
  private head = 0;

  constructor(
    private readonly keepUs: number,
    private readonly budget: ReplayBudget,
  ) {}

  get size(): number {
    return this.pkts.length - this.head;
  }

  /** Keeps a packet; false when it could not (no replay, or the budget is spent): the caller sends it itself. */
  push(ts: number, pkt: Buffer): boolean {
    if (this.keepUs <= 0) return false;
    this.trim(ts);
    if (this.budget.bytes + pkt.length > this.budget.max || this.size >= MAX_PACKETS) {
      this.budget.refused++;
      return false;
    }
    this.ts.push(ts);
    this.pkts.push(pkt);
    this.budget.bytes += pkt.length;
    return true;
  }

  /** Every packet kept, oldest first. */
  forEach(fn: (ts: number, pkt: Buffer) => void): void {
    for (let i = this.head; i < this.pkts.length; i++) fn(this.ts[i]!, this.pkts[i]!);
  }

  /** Frees everything (the call ended). */
  clear(): void {
    for (let i = this.head; i < this.pkts.length; i++) this.budget.bytes -= this.pkts[i]!.length;
    this.ts = [];
    this.pkts = [];
    this.head = 0;
  }

  private trim(now: number): void {
    const oldest = now - this.keepUs;
    while (this.head < this.pkts.length && this.ts[this.head]! < oldest) {
      this.budget.bytes -= this.pkts[this.head]!.length;
      this.head++;
    }
    // Compact now and then, not per packet.
    if (this.head > 1024 && this.head * 2 > this.pkts.length) {
      this.ts = this.ts.slice(this.head);
      this.pkts = this.pkts.slice(this.head);
      this.head = 0;
    }
  }
}
