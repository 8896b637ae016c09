/**
 * Call workers as a user sees them: the same capture recorded with 1, 2 and 3 workers gives byte-identical WAVs and
 * the same facts in every recording's metadata; a bad media.workers is refused by name.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from '../corpus';

const cli = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

function run(args: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

interface Rec {
  callId: string;
  audio?: string;
  packets: { caller: number; callee: number };
  lost: { caller: number; callee: number };
  flags: string[];
  durationSec?: number;
}

describe('call workers (media.workers, record --workers)', function () {
  this.timeout(180_000);
  let dir: string;
  before(function () {
    if (!fs.existsSync(cli)) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-workers-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const kind of ['plain PCMU', 'Lync SRTP'] as const) {
    it(`${kind}: 1, 2 and 3 workers record byte-identical WAVs with the same metadata facts`, () => {
      const pcap = path.join(dir, `${kind.replace(' ', '-')}.pcap`);
      const g = run(['generate', '--out', pcap, '--calls', '12', '--concurrency', '6', '--duration', '3', ...(kind === 'Lync SRTP' ? ['--lync'] : [])], dir);
      assert.equal(g.code, 0, g.err);
      const byWorkers = [1, 2, 3].map((n) => {
        const out = path.join(dir, `${kind}-${n}`);
        const r = run(['record', '--pcap', pcap, '--out', out, '--no-progress', '--workers', String(n)], dir);
        assert.equal(r.code, 0, r.err);
        const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { recordings: Rec[] };
        return new Map(summary.recordings.map((rec) => [rec.callId, rec]));
      });
      const [one, ...others] = byWorkers as [Map<string, Rec>, ...Array<Map<string, Rec>>];
      assert.equal(one.size, 12);
      for (const [i, other] of others.entries()) {
        assert.deepEqual([...other.keys()].sort(), [...one.keys()].sort(), `${i + 2} workers: the same calls`);
        for (const [callId, a] of one) {
          const b = other.get(callId)!;
          assert.ok(a.audio !== undefined && b.audio !== undefined, `${callId}: audio`);
          const wa = fs.readFileSync(a.audio);
          assert.ok(wa.length > 44 + 8000, `${callId}: audio recorded`);
          assert.ok(wa.equals(fs.readFileSync(b.audio)), `${callId}: identical WAV with ${i + 2} workers`);
          assert.deepEqual({ ...b, audio: undefined, id: undefined }, { ...a, audio: undefined, id: undefined }, `${callId}: same packets, losses, flags, duration`);
        }
      }
    });
  }

  it('a bad media.workers is refused, naming the setting', () => {
    fs.writeFileSync(path.join(dir, 'tapline.config.json'), JSON.stringify({ media: { workers: 0 } }));
    const r = run(['config', 'check'], dir);
    fs.rmSync(path.join(dir, 'tapline.config.json'));
    assert.equal(r.code, 1);
    assert.match(r.err, /\/media\/workers/);
  });
});
