/**
 * Every temporary file of a test run goes into one folder of its own, removed when the run ends: tests (and the
 * recorders, peers and tools they start, which inherit TMPDIR) call os.tmpdir() as usual. A run that is killed
 * leaves one folder, not hundreds; two runs at once never touch each other's files.
 * Loaded by mocha before the tests (.mocharc.json "require").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const parent = os.tmpdir();
const runDir = fs.mkdtempSync(path.join(parent, 'tapline-test-run-'));
// Traversable like /tmp itself: some tests run a check as an unprivileged user on a file of theirs in here.
fs.chmodSync(runDir, 0o755);
process.env['TMPDIR'] = runDir;

export const mochaHooks = {
  afterAll(): void {
    process.env['TMPDIR'] = parent;
    fs.rmSync(runDir, { recursive: true, force: true });
  },
};
