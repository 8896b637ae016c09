/** `tapline recordings list|show`, run in-process (always) and as the built command (when dist/ is built). */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../test/corpus';
import type { CatalogueEntry } from '../../core/contract';
import type { Command } from 'commander';
import { buildProgram } from '../../core/cli/main';
import { isTaplineError } from '../../core/errors';
import { formatDuration, printable } from './recordings-cli';
import { LocalStore } from './store';
import { crashedWav, metadataFor, start, tmpDir, us, begin } from './test-fixtures';

interface Run {
  code: number;
  out: string;
  err: string;
}

/**
 * Exit codes as main() maps them. main() sets exitOverride on the program only, after buildProgram: subcommands
 * would still call process.exit on --help or a bad option, so here every command gets it.
 */
async function runProgram(argv: string[]): Promise<number> {
  const program = buildProgram();
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : (err.exitCode ?? 2);
    }
    if (isTaplineError(e)) {
      process.stderr.write(`tapline: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Runs the CLI in this process, capturing what it writes; restores process.exitCode (mocha's own). */
async function tapline(...args: string[]): Promise<Run> {
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  const saved = process.exitCode;
  const res = { code: -1, out: '', err: '' };
  const capture = (key: 'out' | 'err') =>
    ((chunk: string | Uint8Array): boolean => {
      res[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture('out');
  process.stderr.write = capture('err');
  process.exitCode = undefined;
  try {
    res.code = await runProgram(['node', 'tapline', ...args]);
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
    process.exitCode = saved;
  }
  return res;
}

describe('storage-local: tapline recordings list / show', () => {
  const tmp = tmpDir('cli');
  const config = path.join(tmp, 'tapline.config.json');
  const root = path.join(tmp, 'rec');
  const ids: string[] = [];
  let noMeta = '';

  before(async () => {
    fs.writeFileSync(config, JSON.stringify({ plugins: [{ use: 'codec-g711' }, { use: 'storage-local', options: { dir: 'rec' } }] }));
    const store = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
    const calls: Array<[string, string, string]> = [
      ['2026-05-01T08:00:00Z', 'sip:alice@example.com', 'sip:bob@example.com'],
      ['2026-05-02T09:30:00Z', 'sip:carol@example.com', 'sip:\u001b[2Jevil\u202E@example.com'],
      ['2026-05-03T10:00:00Z', 'sip:alice@example.com', 'sip:dave@example.com'],
    ];
    for (const [iso, from, to] of calls) {
      const info = start({ start: us(iso), from, to });
      ids.push(info.id);
      const files = (await begin(store, info));
      crashedWav(files.audio, 8000 * 75, 2, 8000);
      const meta = metadataFor(info, files.audio, { dtmf: [{ digit: '5', at: 1.25, durationMs: 120, side: 'caller' }] }, { end: iso, durationSec: 75 });
      if (meta.audio) meta.audio.durationSec = 75;
      await store.close(meta);
    }
    const lost = start({ start: us('2026-04-01T00:00:00Z') });
    noMeta = lost.id;
    (await begin(store, lost)); // never updated: no metadata.json
    store.closeCatalogue();
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('list prints a table newest first: start, duration, disposition, from → to, id', async () => {
    const r = await tapline('recordings', 'list', '-c', config);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.match(lines[0] ?? '', /^START\s+DURATION\s+DISPOSITION\s+FROM → TO\s+ID$/);
    assert.ok(lines[1]?.endsWith(ids[2] ?? '?'));
    assert.ok(lines[2]?.endsWith(ids[1] ?? '?'));
    assert.ok(lines[3]?.endsWith(ids[0] ?? '?'));
    assert.ok(lines[4]?.endsWith(noMeta));
    assert.match(lines[1] ?? '', /1:15\s+answered\s+sip:alice@example\.com → sip:dave@example\.com/);
    assert.match(lines[4] ?? '', /\(recording\)/);
    assert.equal(lines[5], '4 recordings');
    // A hostile URI cannot drive the terminal.
    assert.doesNotMatch(r.out, /[\u001b\u202e]/);
    assert.match(lines[2] ?? '', /\\u\{1b\}\[2Jevil\\u\{202e\}/);
  });

  it('list filters: --from/--to/--user/--limit, and --json', async () => {
    const r = await tapline('recordings', 'list', '-c', config, '--user', 'ALICE@', '--from', '2026-05-01T00:00Z', '--to', '2026-05-03T09:00Z', '--json');
    assert.equal(r.code, 0, r.err);
    const entries = JSON.parse(r.out) as CatalogueEntry[];
    assert.deepEqual(entries.map((e) => e.id), [ids[0]]);
    assert.equal(entries[0]?.durationSec, 75);
    assert.equal(entries[0]?.audio, path.join(path.dirname(entries[0]?.metadata ?? ''), 'audio.wav'));
    const limited = JSON.parse((await tapline('recordings', 'list', '-c', config, '--limit', '1', '--json')).out) as CatalogueEntry[];
    assert.deepEqual(limited.map((e) => e.id), [ids[2]]);
    const none = await tapline('recordings', 'list', '-c', config, '--user', 'nobody');
    assert.equal(none.out, 'no recordings match\n');
    const viaDir = JSON.parse((await tapline('recordings', 'list', '--dir', root, '--json')).out) as CatalogueEntry[];
    assert.equal(viaDir.length, 4);
  });

  it('list: bad dates and limits exit non-zero with a clear message', async () => {
    const bad = await tapline('recordings', 'list', '-c', config, '--from', '2026-02-30');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /TAPLINE_ERR_USAGE: invalid from "2026-02-30": day 30 does not exist/);
    const range = await tapline('recordings', 'list', '-c', config, '--from', '2026-06-01', '--to', '2026-05-01');
    assert.equal(range.code, 1);
    assert.match(range.err, /is after to/);
    const limit = await tapline('recordings', 'list', '-c', config, '--limit', 'ten');
    assert.notEqual(limit.code, 0);
    assert.match(limit.err, /--limit.*expected a whole number/);
  });

  it('show prints the metadata and where the audio is; --json gives { entry, metadata }', async () => {
    const r = await tapline('recordings', 'show', ids[0] ?? '', '-c', config);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^Recording\\s+${ids[0]}$`, 'm'));
    assert.match(r.out, /^From\s+"Alice Liddell" <sip:alice@example\.com>$/m);
    assert.match(r.out, /^Audio\s+\S+audio\.wav \(stereo, caller left, 8000 Hz, 75 s\)$/m);
    assert.match(r.out, /^Metadata\s+\S+metadata\.json$/m);
    assert.match(r.out, /^DTMF\s+5@1\.3s$/m);
    const j = await tapline('recordings', 'show', ids[1] ?? '', '--json', '-c', config);
    assert.equal(j.code, 0, j.err);
    const doc = JSON.parse(j.out) as { entry: CatalogueEntry; metadata: { id: string; call: { to: { uri: string } } } };
    assert.equal(doc.entry.id, ids[1]);
    assert.equal(doc.metadata.id, ids[1]);
    assert.equal(doc.metadata.call.to.uri, 'sip:\u001b[2Jevil\u202E@example.com'); // JSON keeps the exact value
  });

  it('show: unknown id exits 1 with a clear message; missing metadata prints the entry and exits 1', async () => {
    const r = await tapline('recordings', 'show', 'no-such-recording', '-c', config);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /TAPLINE_ERR_USAGE: no recording with id, id prefix or Call-ID "no-such-recording" in the catalogue .*catalogue\.sqlite/);
    const m = await tapline('recordings', 'show', noMeta, '-c', config);
    assert.equal(m.code, 1);
    assert.match(m.out, new RegExp(`^Recording\\s+${noMeta}$`, 'm'));
    assert.match(m.err, /cannot read recording metadata/);
  });

  it('no storage-local in the config: its defaults (recordings/ beside the config); none there yet is a clear error', async () => {
    const dir = path.join(tmp, 'other');
    fs.mkdirSync(dir);
    const cfg = path.join(dir, 'tapline.config.json');
    fs.writeFileSync(cfg, JSON.stringify({ plugins: [{ use: 'codec-g711' }] }));
    const r = await tapline('recordings', 'list', '-c', cfg);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`no recordings catalogue at ${path.join(dir, 'recordings', 'catalogue.sqlite').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(fs.existsSync(path.join(dir, 'recordings')), false); // read-only: nothing created
  });

  it('--help for both', async () => {
    for (const cmd of ['list', 'show']) {
      const r = await tapline('recordings', cmd, '--help');
      assert.equal(r.code, 0);
      assert.match(r.out, new RegExp(`Usage: tapline recordings ${cmd}`));
      assert.match(r.out, /--json/);
    }
    const r = await tapline('recordings', '--help');
    assert.match(r.out, /list/);
    assert.match(r.out, /show/);
  });

  it('helpers: durations and terminal-safe text', async () => {
    assert.equal(formatDuration(undefined), '-');
    assert.equal(formatDuration(5.4), '0:05');
    assert.equal(formatDuration(75), '1:15');
    assert.equal(formatDuration(3725), '1:02:05');
    assert.equal(printable('a\u0007b\u009bc\u2066d'), 'a\\u{7}b\\u{9b}c\\u{2066}d');
  });

  it('the built command (dist/) lists and shows', function () {
    const repo = repoRoot;
    const cli = path.join(repo, 'dist', 'core', 'cli', 'main.js');
    const built = [cli, path.join(repo, 'dist', 'plugins', 'storage-local', 'recordings-cli.js'), path.join(repo, 'dist', 'plugins', 'storage-local', 'catalogue.js')];
    if (!built.every((f) => fs.existsSync(f))) {
      console.log('      (skipped: dist/ has no recordings command yet; run `npm run build` first)');
      this.skip();
    }
    const run = (...args: string[]): Run => {
      const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
      return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
    };
    const list = run('recordings', 'list', '--json');
    assert.equal(list.code, 0, list.err);
    assert.equal((JSON.parse(list.out) as CatalogueEntry[]).length, 4);
    const show = run('recordings', 'show', ids[2] ?? '');
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /audio\.wav/);
    const missing = run('recordings', 'show', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no recording with id, id prefix or Call-ID "nope"/);
  });
});
