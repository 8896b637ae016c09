/**
 * Access to ../shared/corpus (real captures written by others). CI always has it; a user's fresh clone
 * does not, so suites that need it skip with a visible message there, and only there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'core'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the Tapline repository root above ${start}`);
    dir = up;
  }
}

export const repoRoot = findRepoRoot(__dirname);
export const corpusDir = process.env.TAPLINE_CORPUS ?? path.resolve(repoRoot, '..', 'shared', 'corpus');
export const haveCorpus = fs.existsSync(path.join(corpusDir, 'MANIFEST.tsv'));

/** Absolute path of a corpus file, e.g. corpusPath('pcap/ww_aaa.pcap'). */
export function corpusPath(rel: string): string {
  return path.join(corpusDir, rel);
}

let warned = false;
/** describe() that skips, with a message saying why, when ../shared/corpus is absent (without running `fn`). */
export function describeCorpus(title: string, fn: (this: Mocha.Suite) => void): void {
  if (haveCorpus) {
    describe(title, fn);
    return;
  }
  if (!warned && process.env.CI) {
    throw new Error(`CI must have the shared corpus at ${corpusDir}`);
  }
  if (!warned) {
    warned = true;
    console.warn(`\n  [tapline] ../shared/corpus not found at ${corpusDir}: corpus tests are skipped (expected in a fresh clone only).\n`);
  }
  // The suite's own body is not run: it may read corpus files while defining its tests.
  describe.skip(`${title} (skipped: no ../shared/corpus)`, () => {
    it(`needs ${corpusDir}`, () => undefined);
  });
}

export interface ManifestRow {
  file: string;
  description: string;
}

export function readManifest(): ManifestRow[] {
  const text = fs.readFileSync(path.join(corpusDir, 'MANIFEST.tsv'), 'utf8');
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const cols = l.split('\t');
      return { file: cols[0] ?? '', description: cols[6] ?? '' };
    });
}
