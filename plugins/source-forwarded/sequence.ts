/**
 * Loss accounting per forwarding sensor, from TFWD sequence numbers (which count packets: a datagram of n packets
 * starting at seq covers seq .. seq+n-1, mod 2^32).
 *
 * Each (deployment, sensor) stream keeps a bitmap of the last `window` sequence numbers. A gap is not counted as
 * lost when it appears but when it is *settled*: when it leaves the window, or when it is still open at the second
 * sweep after it appeared (sweeps run about once a second). Until then a late datagram may fill it (counted as
 * reordered). So reordering within the window and within a sweep interval costs nothing, and every packet is
 * counted exactly once: received, lost, or (arriving after it was settled as lost) late.
 *
 * Restarts: a new boot id, or (for forwarders that send boot id 0) a sequence that falls behind the whole window
 * to a small number, starts the stream afresh; what was open in the old one is settled and the jump is not loss.
 * A forward jump larger than `maxGap` is treated the same way (a forwarder that does not start at 0).
 *
 * Streams are kept in LRU order and bounded (`maxStreams`); the least recently heard is settled and dropped.
 */

export interface StreamStats {
  /** Packets the sequence numbers say were sent (received + lost, once settled). */
  expected: number;
  received: number;
  /** Settled gaps. */
  lost: number;
  duplicates: number;
  /** Packets that filled a gap before it was settled. */
  reordered: number;
  /** Packets that arrived after their gap was settled as lost (or behind the window): delivered, also counted in lost. */
  late: number;
  restarts: number;
}

const STAT_KEYS = ['expected', 'received', 'lost', 'duplicates', 'reordered', 'late', 'restarts'] as const;

function zeroStats(): StreamStats {
  return { expected: 0, received: 0, lost: 0, duplicates: 0, reordered: 0, late: 0, restarts: 0 };
}

export type SequenceVerdict =
  /** In order (possibly after a gap). */
  | 'ok'
  /** Some of its packets filled earlier gaps. */
  | 'reordered'
  /** Every packet of it was already received: drop it. */
  | 'duplicate'
  /** Every packet of it was already settled as lost or is behind the window. */
  | 'late'
  /** First datagram of a new stream or of a restarted one. */
  | 'start'
  | 'restart'
  /** A datagram of the boot before the current one, arriving after the restart: delivered, not tracked. */
  | 'stale-boot';

export interface SequenceOptions {
  /** Sequence numbers kept per stream for reordering and duplicates (rounded up to a multiple of 32); default 8192. */
  window?: number;
  /** Streams tracked at once; default 1024. */
  maxStreams?: number;
  /** A forward jump larger than this many packets is a resync, not loss; default 2^24 (~2 min at 150k packets/s). */
  maxGap?: number;
  /** With boot id 0, a jump back behind the window to a sequence below this is a restart; default 65536. */
  restartBelow?: number;
}

/** One sensor's stream. */
export class SequenceStream {
  readonly stats: StreamStats = zeroStats();
  /** Stats as last handed out by takeDeltas(). */
  private readonly reported: StreamStats = zeroStats();
  bootId = 0;
  /** Boot id before the last restart (its stragglers are 'stale-boot'). */
  prevBootId = -1;
  /** Last sensorDrops value seen from the sensor, -1 before the first. */
  sensorDrops = -1;

  private readonly bits: Uint32Array;
  private readonly size: number;
  private started = false;
  /** Extended (unwrapped) sequence: one past the highest seen. */
  private high = 0;
  /** Positions below this are accounted for (received, lost, or before the stream began). */
  private settled = 0;
  /** `high` at the last sweep: gaps below it are settled at the next one. */
  private mark = 0;

  constructor(
    readonly key: string,
    readonly sensorId: number,
    readonly deploymentId: number,
    window: number,
  ) {
    this.size = Math.max(32, Math.ceil(window / 32) * 32);
    this.bits = new Uint32Array(this.size / 32);
  }

  /** Extended sequence of a raw u32 sequence number, taken as the nearest to `high`. */
  private extend(seq: number): number {
    return this.high + ((seq - this.high) | 0);
  }

  private has(p: number): boolean {
    const i = p % this.size;
    return ((this.bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }

  private set(p: number): void {
    const i = p % this.size;
    this.bits[i >>> 5] = (this.bits[i >>> 5] as number) | (1 << (i & 31));
  }

  private clear(p: number): void {
    const i = p % this.size;
    this.bits[i >>> 5] = (this.bits[i >>> 5] as number) & ~(1 << (i & 31));
  }

  private lose(n: number): void {
    this.stats.lost += n;
  }

  /** Counts every unreceived position in [settled, upTo) as lost. They stay unmarked: a copy arriving later is counted late. */
  settle(upTo: number): void {
    const to = Math.min(upTo, this.high);
    let lost = 0;
    for (let p = Math.max(this.settled, this.high - this.size); p < to; p++) if (!this.has(p)) lost++;
    if (to > this.settled) this.settled = to;
    this.lose(lost);
  }

  /** Settles everything (restart, eviction, shutdown). */
  settleAll(): void {
    this.settle(this.high);
  }

  /** Sweep: settles the gaps that were already open at the previous sweep. */
  sweep(): void {
    this.settle(this.mark);
    this.mark = this.high;
  }

  /** Starts at raw sequence `seq`; returns its extended position (offset by 2^32 so positions never go negative). */
  private begin(bootId: number, seq: number): number {
    const start = 4294967296 + seq;
    this.bootId = bootId;
    this.started = true;
    this.high = start;
    this.settled = start;
    this.mark = start;
    // Positions before the stream began count as received so they are never settled as lost.
    this.bits.fill(0xffffffff);
    return start;
  }

  /** Moves `high` up to `to`: positions leaving the window are settled, entering ones start empty. */
  private advance(to: number): void {
    const from = this.high;
    const n = to - from;
    if (n <= 0) return;
    if (n >= this.size) {
      this.settle(from);
      // Positions that enter and leave at once were never received.
      const skipped = to - this.size - Math.max(from, this.settled);
      if (skipped > 0) this.lose(skipped);
      this.bits.fill(0);
      this.settled = Math.max(this.settled, to - this.size);
    } else {
      for (let p = from; p < to; p++) {
        const old = p - this.size;
        if (old >= this.settled && !this.has(old)) this.lose(1);
        this.clear(p);
      }
      if (to - this.size > this.settled) this.settled = to - this.size;
    }
    this.stats.expected += n;
    this.high = to;
  }

  /** Accounts one datagram of `count` packets whose first has sequence `seq` (count 0: a heartbeat at `seq`). */
  accept(bootId: number, seq: number, count: number, opts: Required<SequenceOptions>): SequenceVerdict {
    if (!this.started) {
      this.take(this.begin(bootId, seq), count);
      return 'start';
    }
    if (bootId !== this.bootId) {
      if (bootId === this.prevBootId) return 'stale-boot';
      return this.restart(bootId, seq, count);
    }
    const s = this.extend(seq);
    if (s - this.high > opts.maxGap) return this.restart(bootId, seq, count);
    if (s + count <= this.high - this.size && bootId === 0 && seq < opts.restartBelow) return this.restart(bootId, seq, count);
    return this.take(s, count);
  }

  private restart(bootId: number, seq: number, count: number): SequenceVerdict {
    this.settleAll();
    this.prevBootId = this.bootId;
    this.stats.restarts++;
    this.take(this.begin(bootId, seq), count);
    return 'restart';
  }

  private take(s: number, count: number): SequenceVerdict {
    const oldHigh = this.high;
    const end = s + count;
    this.advance(end);
    if (count === 0) return 'ok';
    let dup = 0;
    let late = 0;
    let reordered = 0;
    const floor = this.high - this.size;
    for (let p = s; p < end; p++) {
      if (p < floor) {
        late++;
        continue;
      }
      if (this.has(p)) {
        dup++;
        continue;
      }
      this.set(p);
      if (p < this.settled) late++;
      else if (p < oldHigh) reordered++;
    }
    const st = this.stats;
    st.duplicates += dup;
    st.late += late;
    st.reordered += reordered;
    st.received += count - dup;
    if (dup === count) return 'duplicate';
    if (late + dup === count && late > 0) return 'late';
    return reordered > 0 ? 'reordered' : 'ok';
  }

  /** What changed since the previous call (for counter metrics). */
  takeDeltas(): StreamStats {
    const d = { ...this.stats };
    const r = this.reported;
    for (const k of STAT_KEYS) {
      d[k] -= r[k];
      r[k] = this.stats[k];
    }
    return d;
  }
}

/** The streams of every sensor heard from, bounded and in LRU order. */
export class SequenceTracker {
  readonly opts: Required<SequenceOptions>;
  /** Streams dropped to stay within maxStreams. */
  evicted = 0;
  private readonly streams = new Map<string, SequenceStream>();
  private last: SequenceStream | undefined;

  constructor(opts: SequenceOptions = {}) {
    this.opts = {
      window: opts.window ?? 8192,
      maxStreams: opts.maxStreams ?? 1024,
      maxGap: opts.maxGap ?? 1 << 24,
      restartBelow: opts.restartBelow ?? 65536,
    };
  }

  get size(): number {
    return this.streams.size;
  }

  /**
   * The stream of (deployment, sensor), created if new. An evicted stream is settled and handed to `onEvict`
   * first, so its last losses are still reported.
   */
  stream(deploymentId: number, sensorId: number, onEvict?: (s: SequenceStream) => void): SequenceStream {
    const last = this.last;
    if (last !== undefined && last.sensorId === sensorId && last.deploymentId === deploymentId) return last;
    const key = `${deploymentId}/${sensorId}`;
    let s = this.streams.get(key);
    if (s !== undefined) {
      // Re-insert: Map order is the LRU order.
      this.streams.delete(key);
    } else {
      s = new SequenceStream(key, sensorId, deploymentId, this.opts.window);
      if (this.streams.size >= this.opts.maxStreams) {
        const oldest = this.streams.values().next().value as SequenceStream;
        this.streams.delete(oldest.key);
        oldest.settleAll();
        this.evicted++;
        onEvict?.(oldest);
      }
    }
    this.streams.set(key, s);
    this.last = s;
    return s;
  }

  accept(stream: SequenceStream, bootId: number, seq: number, count: number): SequenceVerdict {
    return stream.accept(bootId, seq, count, this.opts);
  }

  /** Settles gaps open since the previous sweep, in every stream. */
  sweep(): void {
    for (const s of this.streams.values()) s.sweep();
  }

  settleAll(): void {
    for (const s of this.streams.values()) s.settleAll();
  }

  all(): IterableIterator<SequenceStream> {
    return this.streams.values();
  }
}
