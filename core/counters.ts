/** Named counters: cheap increments on the hot path, a snapshot for summaries. */
import type { Counters } from './contract';

export class CounterSet implements Counters {
  private readonly values = new Map<string, number>();

  constructor(private readonly prefix = '') {}

  inc(name: string, by = 1): void {
    const key = this.prefix === '' ? name : this.prefix + name;
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(this.prefix + name) ?? 0;
  }

  /** Every counter, unsorted (for code that reads them often: a call worker sends what moved with each batch). */
  entries(): IterableIterator<[string, number]> {
    return this.values.entries();
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** A view writing into this set under "<scope>." names. */
  scoped(scope: string): Counters {
    const parent = this;
    // Counters are bumped per packet: build each full name once, not on every increment.
    const names = new Map<string, string>();
    const full = (n: string): string => {
      let f = names.get(n);
      if (f === undefined) {
        f = `${scope}.${n}`;
        names.set(n, f);
      }
      return f;
    };
    return {
      inc: (n, by) => parent.inc(full(n), by),
      get: (n) => parent.get(full(n)),
      snapshot: () =>
        Object.fromEntries(Object.entries(parent.snapshot()).filter(([k]) => k.startsWith(`${parent.prefix}${scope}.`))),
    };
  }
}
