/**
 * A short fuzz run as part of the test command: every parser of untrusted bytes (test/fuzz/targets.ts) gets
 * mutated inputs from a fixed seed, with built-in seeds (so it runs in a fresh clone) plus the shared corpus when
 * it is there. No crash, no hang (> 1 s for one input), heap bounded, every target exercised. Findings of bugs
 * still open (known-findings.ts) are listed as pending instead of failing; anything else fails with its input.
 *
 * Longer runs: `node dist/test/fuzz/cli.js --minutes 30` (see cli.ts).
 */
import * as assert from 'node:assert/strict';
import { haveCorpus } from '../corpus';
import { openFindingFor } from './known-findings';
import { formatFinding, formatReport, fuzz, type Finding } from './run';
import { allTargets } from './targets';

/** Fixed: the same inputs on every run, so a failure reproduces (`cli.js --seed 20240607 --iterations ...`). */
const SEED = 20240607;
const ITERATIONS = 300_000;
const MIN_TOTAL = 50_000;
const MIN_PER_TARGET = 1_500;
/** Wall-clock guard for a slow or loaded machine (the run takes ~30-35 s on 2 cores). */
const SECONDS = 100;
const MAX_HEAP = 512 * 1024 * 1024;

describe(`fuzz: short run over every parser of untrusted bytes (${haveCorpus ? 'built-in + corpus seeds' : 'built-in seeds only'})`, function () {
  this.timeout((SECONDS + 60) * 1000);

  it(`>= ${MIN_TOTAL} inputs: no crash, no hang, bounded heap, every target run`, async () => {
    const report = await fuzz({ seed: SEED, iterations: ITERATIONS, seconds: SECONDS, hangMs: 1000, maxHeapBytes: MAX_HEAP });
    const pending: Finding[] = [];
    const unexpected: Finding[] = [];
    for (const f of report.findings) (openFindingFor(f.signature) !== undefined ? pending : unexpected).push(f);
    const summary = formatReport(report);
    console.log(
      `      ${report.total} inputs over ${Object.keys(report.perTarget).length} targets in ${report.seconds.toFixed(1)} s; ` +
        `heap peak ${(report.heapPeakBytes / 2 ** 20).toFixed(0)} MiB, rss peak ${(report.rssPeakBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    if (pending.length > 0) {
      console.log(`      pending (open bugs, see test/fuzz/known-findings.ts):\n${pending.map((f) => `        ${formatFinding(f)}`).join('\n')}`);
    }
    const detail = unexpected
      .slice(0, 3)
      .map((f) => `${formatFinding(f)}\n  signature ${f.signature}\n  input (base64, first 4 KiB): ${f.input.subarray(0, 4096).toString('base64')}\n  ${f.stack ?? ''}`)
      .join('\n');
    assert.equal(unexpected.length, 0, `${unexpected.length} new finding(s):\n${detail}\n\n${summary}`);
    assert.equal(report.memory, 0, summary);
    assert.ok(report.heapPeakBytes < MAX_HEAP, `heap peaked at ${report.heapPeakBytes} bytes\n${summary}`);
    assert.ok(report.total >= MIN_TOTAL, `only ${report.total} inputs in ${report.seconds.toFixed(0)} s\n${summary}`);
    for (const t of allTargets()) {
      const s = report.perTarget[t.name];
      assert.ok(s !== undefined && s.inputs >= MIN_PER_TARGET, `${t.name} ran ${s?.inputs ?? 0} inputs (< ${MIN_PER_TARGET})\n${summary}`);
    }
  });
});
