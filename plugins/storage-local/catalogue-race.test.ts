/**
 * Several recorders started at once on a new output folder: each creates or opens the one catalogue, and every one
 * records. Before, the schema version was read outside the creating transaction, so a recorder that read 0 while
 * another created the tables failed with "table recordings already exists" and recorded nothing (2 of 13).
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../../test/corpus';
import { Catalogue } from './catalogue';

const CLI = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');
const RECORDERS = 8;
const CALLS = 2;

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('storage-local: recorders started together on a new folder', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-race-'));
    for (let i = 0; i < RECORDERS; i++) {
      const r = spawnSync(process.execPath, [CLI, 'generate', '--out', path.join(dir, `in-${i}.pcap`), '--calls', String(CALLS), '--duration', '2', '--seed', String(i + 1)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('13 processes opening one new catalogue at the same millisecond: every one opens it, the schema is made once', async () => {
    const file = path.join(dir, 'together', 'catalogue.sqlite');
    const mod = path.join(repoRoot, 'dist', 'plugins', 'storage-local', 'catalogue.js');
    // Each child spins until the same instant, then opens: the widest overlap processes on one machine can have.
    const at = Date.now() + 1500;
    const script = `const { Catalogue } = require(${JSON.stringify(mod)}); while (Date.now() < ${at}); Catalogue.open(${JSON.stringify(file)}).close();`;
    const runs = await Promise.all(
      Array.from(
        { length: 13 },
        () =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
            let stderr = '';
            p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
            p.on('close', (code) => resolve({ code, stderr }));
          }),
      ),
    );
    runs.forEach((r, i) => assert.equal(r.code, 0, `process ${i}: ${r.stderr.trim().split("\n").filter((l) => /Error|error:/.test(l)).slice(0, 2).join(" | ")}`));
    const cat = Catalogue.open(file, { readonly: true });
    assert.equal(cat.list({}).length, 0);
    cat.close();
  });

  for (let round = 1; round <= 2; round++) {
    it(`round ${round}: ${RECORDERS} recorders at once on a new folder all record, and the catalogue holds every recording`, async () => {
      const out = path.join(dir, `out-${round}`);
      const runs = await Promise.all(Array.from({ length: RECORDERS }, (_, i) => run(['record', '--pcap', path.join(dir, `in-${i}.pcap`), '--out', out, '--no-progress', '--workers', '1'])));
      runs.forEach((r, i) => assert.equal(r.code, 0, `recorder ${i} exited ${r.code}: ${r.stderr.trim().slice(-600)}`));
      const cat = Catalogue.open(path.join(out, 'catalogue.sqlite'), { readonly: true });
      try {
        const rows = cat.list({ limit: 1000 });
        assert.equal(rows.length, RECORDERS * CALLS, 'no row lost');
        assert.equal(new Set(rows.map((r) => r.callId)).size, RECORDERS * CALLS);
        assert.ok(rows.every((r) => r.status === 'complete'), rows.map((r) => r.status).join(','));
      } finally {
        cat.close();
      }
    });
  }
});
