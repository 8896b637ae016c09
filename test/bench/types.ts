/** What every bench in test/bench returns; test/bench/run.ts prints these and writes them to out/bench/results.json. */

export interface BenchResult {
  name: string;
  value: number;
  /** 'msg/s', 'frames/s', 's', 'MB', ... */
  unit: string;
  /** The same measurement by an established tool, taken in the same run on the same input. */
  reference?: { name: string; value: number; unit: string };
  /** value / reference.value (ours over the reference). */
  ratio?: number;
  notes?: string;
}

/** A bench that cannot run here (a module or an input it needs is missing): printed as "not available", not a failure. */
export class BenchNotAvailable extends Error {
  override readonly name = 'BenchNotAvailable';
}
