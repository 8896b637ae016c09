/** The fuzz harness itself: the mutator is deterministic and bounded; the runner finds, sorts and saves findings. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_MAX_SIZE, Mutator } from './mutate';
import { fuzz } from './run';
import type { FuzzTarget } from './targets';

class BadInput extends Error {
  override readonly name = 'BadInput';
}

describe('fuzz harness', () => {
  it('the mutator is deterministic per seed, bounded in size, and varies its output', () => {
    const seed = Buffer.from('INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n');
    const run = (s: number): string[] => {
      const m = new Mutator(s);
      const out: string[] = [];
      let cur: Buffer = seed;
      for (let i = 0; i < 400; i++) {
        cur = m.mutate(i % 7 === 0 ? seed : cur, { text: i % 2 === 0, dictionary: [Buffer.from('tag=')] }, seed);
        assert.ok(cur.length <= DEFAULT_MAX_SIZE, `output of ${cur.length} bytes`);
        out.push(cur.toString('base64'));
      }
      return out;
    };
    const a = run(7);
    assert.deepEqual(run(7), a);
    assert.notDeepEqual(run(8), a);
    assert.ok(new Set(a).size > 350, `only ${new Set(a).size} distinct outputs of 400`);
    const small = new Mutator(1);
    for (let i = 0; i < 200; i++) assert.ok(small.mutate(seed, { text: true, maxSize: 100 }).length <= 100);
  });

  it('finds crashes (minimised, saved with hex, base64 and stack), ignores expected errors, flags slow inputs as hangs', async function () {
    this.timeout(30_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-harness-'));
    const crashy: FuzzTarget = {
      name: 'crashy',
      seeds: () => [Buffer.from('hello world, a seed of some length')],
      run(b) {
        if (b.includes(0x7e)) throw new BadInput('tilde'); // the documented answer to bad input
        if (b.length > 3 && b[3] === 0xff) {
          const o: { x?: { y: number } } = {};
          return String(o.x!.y); // a TypeError: a crash
        }
        return `len${Math.min(b.length, 3)}`;
      },
      expected: (e) => e instanceof BadInput,
    };
    const slow: FuzzTarget = {
      name: 'slow',
      seeds: () => [Buffer.from('abc')],
      run(b) {
        if (b.length > 40) {
          const until = Date.now() + 60;
          while (Date.now() < until) Math.sqrt(Date.now());
        }
      },
      expected: () => false,
    };
    const r = await fuzz({ targets: [crashy], seed: 3, iterations: 3000, seconds: 20, hangMs: 50, findingsDir: dir, keepPerSignature: 1 });
    assert.equal(r.perTarget.crashy?.inputs, 3000);
    const crash = r.findings.find((f) => f.kind === 'crash');
    assert.ok(crash !== undefined, 'the TypeError is found');
    assert.equal(crash.target, 'crashy');
    assert.match(crash.error, /^TypeError: /);
    assert.equal(crash.input.length, 4, `minimised to the 4 bytes that matter, got ${crash.input.toString('hex')}`);
    assert.equal(crash.input[3], 0xff);
    assert.ok(r.crashes >= 1);
    assert.ok(r.findings.every((f) => !/BadInput/.test(f.error)), 'expected errors are not findings');
    const rs = await fuzz({ targets: [slow], seed: 3, iterations: 60, seconds: 20, hangMs: 50, findingsDir: dir, keepPerSignature: 1 });
    const hang = rs.findings.find((f) => f.kind === 'hang');
    assert.ok(hang !== undefined && hang.target === 'slow', 'the slow input is a hang');
    assert.match(hang.error, /took \d+ ms \(limit 50 ms\)/);
    const text = fs.readFileSync(crash.file ?? '', 'utf8');
    assert.match(text, new RegExp(`hex: ${crash.input.toString('hex')}`));
    assert.match(text, new RegExp(`base64: ${crash.input.toString('base64').replace(/[+/]/g, '\\$&')}`));
    assert.match(text, /stack:\nTypeError/);
    assert.ok(fs.existsSync((crash.file ?? '').replace(/\.txt$/, '.bin')));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
