/**
 * The last seconds of each call's packets, kept so that when its recorder dies the next recorder is sent them
 * again: the dead recorder's last second or so was still in its buffers (a kill -9 loses it), and the death is
 * seen up to deadAfterMs late. The parts on the two recorders then overlap instead of leaving a gap.
 *
 * The bytes live in one arena for all calls, written round and round (ReplayArena): no allocation per packet and
 * nothing for the garbage collector to trace, which held a Buffer per packet for 3 s before (half the agent's CPU
 * per packet in `npm run bench forward`). Each call keeps only where its packets are (ReplayRing, typed arrays).
 * When the arena wraps faster than replaySeconds (more traffic than replayMaxBytes holds), the oldest packets are
 * simply gone: the replay reaches back less far.
 */

/** One circular byte arena; positions are absolute (bytes ever written), so a stale one is told from a live one. */
export class ReplayArena {
  private readonly buf: Buffer;
  private written = 0;
  /** Packets not kept (larger than a sixteenth of the arena, or no arena). */
  refused = 0;

  constructor(readonly size: number) {
    this.buf = Buffer.alloc(Math.max(0, size));
  }

  /** Bytes that hold packets now. */
  get bytes(): number {
    return Math.min(this.written, this.size);
  }

  /** Copies a packet in; its absolute position, or -1 when it cannot be kept. */
  put(pkt: Buffer): number {
    const n = pkt.length;
    if (n === 0 || n > this.size / 16) {
      this.refused++;
      return -1;
    }
    let off = this.written % this.size;
    // A packet is never split over the end: the tail is skipped (and counts as written).
    if (off + n > this.size) {
      this.written += this.size - off;
      off = 0;
    }
    pkt.copy(this.buf, off);
    const at = this.written;
    this.written += n;
    return at;
  }

  /** Whether the packet written at `at` is still there (the arena has not come round over it). */
  holds(at: number): boolean {
    return at >= this.written - this.size;
  }

  /** The packet's bytes, a view valid until the next put(). */
  view(at: number, len: number): Buffer {
    const off = at % this.size;
    return this.buf.subarray(off, off + len);
  }
}

const MIN_CAP = 16;
const MAX_PACKETS = 8192;

export class ReplayRing {
  private ts = new Float64Array(MIN_CAP);
  private at = new Float64Array(MIN_CAP);
  private len = new Uint16Array(MIN_CAP);
  private head = 0;
  private count = 0;

  constructor(
    private readonly keepUs: number,
    private readonly arena: ReplayArena,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Keeps a copy of a packet; false when it could not (no replay, or too large): the caller sends it itself. */
  push(ts: number, pkt: Buffer): boolean {
    if (this.keepUs <= 0 || pkt.length > 0xffff) return false;
    const at = this.arena.put(pkt);
    if (at < 0) return false;
    this.trim(ts);
    if (this.count === this.ts.length) {
      if (this.count < MAX_PACKETS) this.grow();
      else this.drop();
    }
    const i = (this.head + this.count) % this.ts.length;
    this.ts[i] = ts;
    this.at[i] = at;
    this.len[i] = pkt.length;
    this.count++;
    return true;
  }

  /** Every packet still kept, oldest first (views: valid during the call only). */
  forEach(fn: (ts: number, pkt: Buffer) => void): void {
    const cap = this.ts.length;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % cap;
      const at = this.at[i]!;
      if (this.arena.holds(at)) fn(this.ts[i]!, this.arena.view(at, this.len[i]!));
    }
  }

  /** Forgets everything (the call ended); the arena's bytes are reused as it comes round. */
  clear(): void {
    this.head = 0;
    this.count = 0;
    if (this.ts.length > MIN_CAP) {
      this.ts = new Float64Array(MIN_CAP);
      this.at = new Float64Array(MIN_CAP);
      this.len = new Uint16Array(MIN_CAP);
    }
  }

  private drop(): void {
    this.head = (this.head + 1) % this.ts.length;
    this.count--;
  }

  private trim(now: number): void {
    const oldest = now - this.keepUs;
    while (this.count > 0 && (this.ts[this.head]! < oldest || !this.arena.holds(this.at[this.head]!))) this.drop();
  }

  private grow(): void {
    const cap = this.ts.length;
    const ts = new Float64Array(cap * 2);
    const at = new Float64Array(cap * 2);
    const len = new Uint16Array(cap * 2);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % cap;
      ts[k] = this.ts[i]!;
      at[k] = this.at[i]!;
      len[k] = this.len[i]!;
    }
    this.ts = ts;
    this.at = at;
    this.len = len;
    this.head = 0;
  }
}
