/** Named counters: cheap increments on the hot path, a snapshot for summaries. */
import type { Counters } from './contract';

export class CounterSet implements Counters {
  private readonly values = new Map<string, number>();

  constructor(private readonly prefix = '') {}

  inc(name: string, by = 1): void {
    const key = this.prefix + name;
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(this.prefix + name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** A view writing into this set under "<scope>." names. */
  scoped(scope: string): Counters {
    const parent = this;
    return {
      inc: (n, by) => parent.inc(`${scope}.${n}`, by),
      get: (n) => parent.get(`${scope}.${n}`),
      snapshot: () =>
        Object.fromEntries(Object.entries(parent.snapshot()).filter(([k]) => k.startsWith(`${parent.prefix}${scope}.`))),
    };
  }
}
