/**
 * Mocha's spec reporter, plus one plain closing line "N passed, N failed, N skipped" that CI reads
 * whatever the test runner.
 */
import Mocha from 'mocha';

class TaplineReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats;
      if (s === undefined) return;
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}

export = TaplineReporter;
