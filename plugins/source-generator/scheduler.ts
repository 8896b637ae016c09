/**
 * The event scheduler: a binary min-heap of actors (call spawner, SIP of each call, each RTP direction), keyed
 * by the capture time of the actor's next frame. The loop steps the earliest actor, which writes its frame(s)
 * and moves its time on, so frames come out in capture-time order with one heap fix-up per step.
 */

export interface Actor {
  /** Capture time (µs) of this actor's next frame; Infinity once it is done. */
  time: number;
  /** Tie-breaker for equal times (creation order), so output is deterministic. */
  readonly order: number;
  /** Write the frame(s) due at `time` and advance `time`; never to a value below the old one. */
  step(): void;
}

export class ActorHeap {
  private readonly a: Actor[] = [];

  get size(): number {
    return this.a.length;
  }

  /** The earliest actor (undefined when empty). */
  get top(): Actor | undefined {
    return this.a[0];
  }

  push(x: Actor): void {
    if (x.time === Infinity) return;
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as Actor;
      if (!before(x, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = x;
  }

  /** Re-place the top after its time grew (or drop it when done). */
  fixTop(): void {
    const a = this.a;
    const x = a[0];
    if (x === undefined) return;
    if (x.time === Infinity) {
      const last = a.pop() as Actor;
      if (a.length === 0) return;
      a[0] = last;
      this.siftDown(last);
      return;
    }
    this.siftDown(x);
  }

  private siftDown(x: Actor): void {
    const a = this.a;
    const n = a.length;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && before(a[r] as Actor, a[c] as Actor)) c = r;
      const child = a[c] as Actor;
      if (!before(child, x)) break;
      a[i] = child;
      i = c;
    }
    a[i] = x;
  }
}

function before(x: Actor, y: Actor): boolean {
  return x.time < y.time || (x.time === y.time && x.order < y.order);
}
