/**
 * Access to the shared corpus (real captures written by others, ../shared/corpus beside the repository, or the
 * folder TAPLINE_CORPUS names). CI always has it; a fresh clone, or Tapline installed from npm, does not: suites
 * that need it skip with a visible message there, and only there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The Tapline repository around this file (a folder with package.json and core/), or undefined when installed from npm. */
function findRepoRoot(start: string): string | undefined {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'core'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

const root = findRepoRoot(__dirname);
/** The repository's root folder (the working tree, not dist/); undefined outside a clone. */
export const repoRootOrUndefined = root;
export const corpusDir = process.env.TAPLINE_CORPUS ?? (root === undefined ? path.resolve('..', 'shared', 'corpus') : path.resolve(root, '..', 'shared', 'corpus'));
export const haveCorpus = fs.existsSync(path.join(corpusDir, 'MANIFEST.tsv'));

/** Absolute path of a corpus file, e.g. corpusPath('pcap/ww_aaa.pcap'). */
export function corpusPath(rel: string): string {
  return path.join(corpusDir, rel);
}

let warned = false;
/** describe() that skips, with a message saying why, when the corpus is absent (without running `fn`); on CI it must be there. */
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

/** The corpus's MANIFEST.tsv: file and description of each capture. */
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
