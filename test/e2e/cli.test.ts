/** The `tapline` command as a user runs it: help, config check/print, record with good and bad input. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, corpusPath, describeCorpus } from '../corpus';

const cli = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

function run(args: string[], cwd = os.tmpdir(), env: NodeJS.ProcessEnv = process.env): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function scratch(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-cli-'));
}

describe('tapline CLI', function () {
  this.timeout(120_000);
  before(function () {
    if (!fs.existsSync(cli)) this.skip(); // built by `npm test`
  });

  for (const cmd of [[], ['record'], ['config'], ['config', 'check'], ['config', 'print'], ['generate'], ['plugins']]) {
    it(`--help for "tapline ${cmd.join(' ')}"`, () => {
      const r = run([...cmd, '--help']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Usage: tapline/);
    });
  }

  it('config check reports every problem with path, expectation and finding, and exits 1', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'tapline.config.json'), JSON.stringify({ output: { dir: 3 }, dialogs: { idleTimeoutSec: -1 } }));
    const r = run(['config', 'check'], dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /TAPLINE_ERR_CONFIG_INVALID/);
    assert.match(r.err, /tapline\.config\.json: 2 problems/);
    assert.match(r.err, /\/output\/dir: expected string; found 3/);
    assert.match(r.err, /\/dialogs\/idleTimeoutSec: expected must be > 0; found -1/);
  });

  it('config check names the line and column of a JSON syntax error and shows it, and exits 1', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'tapline.config.json'), '{\n  "plugins": [\n    { "use": "codec-g711" },\n  ]\n}\n');
    const r = run(['config', 'check'], dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /TAPLINE_ERR_CONFIG_LOAD: cannot load .*tapline\.config\.json: 1 problem/);
    assert.match(r.err, /1\. line 3, column 28: expected valid JSON; found a trailing comma before '\]'/);
    assert.match(r.err, /3 \|     \{ "use": "codec-g711" \},\n +\| {28}\^/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('config print shows the effective config with defaults', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, '.taplinerc'), JSON.stringify({ sip: { ports: [5070] } }));
    const r = run(['config', 'print'], dir);
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(r.out) as { sip: { ports: number[]; maxMessageBytes: number }; output: { dir: string } };
    assert.deepEqual(cfg.sip.ports, [5070]);
    assert.equal(cfg.sip.maxMessageBytes, 1048576);
    assert.equal(cfg.output.dir, 'recordings');
  });

  it('record without any source says what to do', () => {
    const r = run(['record'], scratch());
    assert.equal(r.code, 1);
    assert.match(r.err, /give --pcap FILE/);
  });

  it('record --pcap on a missing file is a usage error naming it', () => {
    const r = run(['record', '--pcap', '/nonexistent.pcap'], scratch());
    assert.equal(r.code, 1);
    assert.match(r.err, /capture file not found: \/nonexistent\.pcap/);
  });

  it('SRTP calls record the same WAVs on the native and the TypeScript path; the summary says which ran', function () {
    const dir = scratch();
    const pcap = path.join(dir, 'lync.pcap');
    assert.equal(run(['generate', '--out', pcap, '--calls', '2', '--duration', '3', '--lync']).code, 0);
    const record = (name: string, env: NodeJS.ProcessEnv): { out: string; summary: { srtp: { path: string; reason?: string }; recordings: Array<{ audio?: string; flags: string[] }> } } => {
      const out = path.join(dir, name);
      const r = run(['record', '--pcap', pcap, '--out', out, '--no-progress'], dir, env);
      assert.equal(r.code, 0, r.err);
      return { out: r.out, summary: JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) };
    };
    const ts = record('ts', { ...process.env, TAPLINE_SRTP_NATIVE: '0' });
    assert.deepEqual(ts.summary.srtp, { path: 'typescript', reason: 'disabled by TAPLINE_SRTP_NATIVE=0' });
    assert.match(ts.out, /note: SRTP is decrypted on the slower TypeScript path: disabled by TAPLINE_SRTP_NATIVE=0/);
    const { TAPLINE_SRTP_NATIVE: _off, ...env } = process.env;
    const nat = record('native', env);
    if (nat.summary.srtp.path !== 'native') {
      assert.ok(process.env['TAPLINE_SRTP_NATIVE'] === '0', `native SRTP addon not used: ${nat.summary.srtp.reason}`);
      this.skip();
    }
    assert.doesNotMatch(nat.out, /TypeScript path/);
    const wavs = (doc: typeof ts.summary): Buffer[] => doc.recordings.map((r) => fs.readFileSync(r.audio as string));
    assert.equal(nat.summary.recordings.length, 2);
    for (const r of [...nat.summary.recordings, ...ts.summary.recordings]) assert.deepEqual(r.flags, [], 'every packet decrypted');
    const [a, b] = [wavs(nat.summary), wavs(ts.summary)];
    a.forEach((w, i) => assert.ok(w.length > 44 + 8000 && w.equals(b[i] as Buffer), `recording ${i}: identical WAV on both paths`));
  });

  describeCorpus('with corpus captures', () => {
    it('records a capture and writes a summary listing its calls', () => {
      const out = scratch();
      const r = run(['record', '--pcap', corpusPath('pcap/ww_MagicJack-_short_call.pcap'), '--out', out, '--no-progress']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /1 call:/);
      assert.match(r.out, /answered/);
      const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { calls: Array<{ disposition: string; durationSec: number }> };
      assert.equal(summary.calls.length, 1);
      assert.equal(summary.calls[0]!.disposition, 'answered');
    });

    it('a truncated capture: what was read before the cut still counts, with a warning', () => {
      const dir = scratch();
      const src = fs.readFileSync(corpusPath('pcap/ww_aaa.pcap'));
      const cut = path.join(dir, 'cut.pcap');
      fs.writeFileSync(cut, src.subarray(0, Math.floor(src.length * 0.6) + 7));
      const r = run(['record', '--pcap', cut, '--out', dir, '--json']);
      assert.equal(r.code, 0, r.err);
      const doc = JSON.parse(r.out) as { sources: Array<{ warning?: string; frames: number }>; calls: unknown[] };
      assert.match(doc.sources[0]!.warning ?? '', /truncated/);
      assert.ok(doc.sources[0]!.frames > 100);
      assert.ok(doc.calls.length >= 1, 'calls before the cut are listed');
    });

    it('an unsupported capture format (Network Monitor) is a clear error, exit 1', () => {
      const dir = scratch();
      const r = run(['record', '--pcap', corpusPath('pcap/ww_c07-sip-r2.cap'), '--out', dir, '--no-progress']);
      assert.equal(r.code, 1);
      assert.match(r.err + r.out, /Network Monitor/);
    });
  });
});
