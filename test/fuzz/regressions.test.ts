/**
 * Every fuzz finding (test/fuzz/known-findings.ts) replayed against its target from its committed input
 * (test/fuzz/regressions/<target>-<n>.bin): no exception outside the target's documented ones, and, for inputs that
 * once hung, a time bound far below what the bug took. Open bugs are skipped with the reason, until fixed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot } from '../corpus';
import { KNOWN_FINDINGS } from './known-findings';
import { targetByName } from './targets';

const DIR = path.join(repoRoot, 'test', 'fuzz', 'regressions');

describe('fuzz regressions (test/fuzz/regressions)', () => {
  it('every committed input is listed in known-findings.ts, and every listed one is committed', () => {
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.bin')).sort();
    assert.deepEqual(files, KNOWN_FINDINGS.map((k) => k.file).sort());
    for (const k of KNOWN_FINDINGS) {
      assert.ok(targetByName(k.target) !== undefined, `${k.file}: no target ${k.target}`);
      assert.match(k.file, new RegExp(`^${k.target}-\\d+\\.bin$`), `${k.file} is named after its target`);
    }
  });

  for (const k of KNOWN_FINDINGS) {
    const title = `${k.file} (${k.target}, ${k.kind}): ${k.what}`;
    const body = function (this: Mocha.Context): void {
      this.timeout(60_000);
      const t = targetByName(k.target);
      assert.ok(t !== undefined);
      const input = fs.readFileSync(path.join(DIR, k.file));
      const t0 = performance.now();
      try {
        t.run(input);
      } catch (e) {
        if (!t.expected(e)) throw e;
      }
      const ms = performance.now() - t0;
      if (k.maxMs !== undefined) assert.ok(ms <= k.maxMs, `${k.file} took ${ms.toFixed(0)} ms (bound ${k.maxMs} ms)`);
    };
    if (k.open !== undefined) it.skip(`${title} — OPEN: ${k.open}`, body);
    else it(title, body);
  }
});
