import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { addConfigCommands, checkConfig, renderCheckReport, type ConfigCheckReport } from './config-commands';
import { ErrorCodes } from '../errors';

describe('tapline config check', () => {
  let dir: string;
  let savedExitCode: typeof process.exitCode;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-check-'));
    savedExitCode = process.exitCode;
    process.exitCode = undefined;
  });
  afterEach(() => {
    process.exitCode = savedExitCode;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, text: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  /** Runs `config <args>` through commander as main.ts would, capturing stdout and stderr. */
  async function run(args: string[]): Promise<{ out: string; err: string; code: number }> {
    let out = '';
    let err = '';
    const program = new Command('tapline').exitOverride();
    addConfigCommands(program, { out: (t) => (out += t), err: (t) => (err += t) });
    await program.parseAsync(['config', ...args], { from: 'user' });
    return { out, err, code: Number(process.exitCode ?? 0) };
  }

  it('prints every problem as a numbered list on stderr and exits 1', async () => {
    const file = write('tapline.config.json', JSON.stringify({ media: { reorderWindowMS: 300 }, log: { level: 'warning' }, plugins: [{ use: 'codec-g771' }] }));
    const r = await run(['check', '--config', file]);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.equal(
      r.err,
      [
        `tapline: ${ErrorCodes.CONFIG_INVALID}: invalid configuration in ${file}: 3 problems`,
        '  1. /media/reorderWindowMS: expected no property "reorderWindowMS" (not a known setting); found 300; did you mean "reorderWindowMs"?',
        '  2. /log/level: expected one of ["debug","info","warn","error","silent"]; found "warning"; did you mean "warn"?',
        '  3. /plugins/0/use: expected a built-in plugin folder name, or a package/path that resolves; found "codec-g771"; did you mean "codec-g711"?',
        '',
      ].join('\n'),
    );
  });

  it('--json prints the structured list on stdout (and still exits 1)', async () => {
    const file = write('tapline.config.json', JSON.stringify({ sip: { ports: ['5060'] }, plugins: [{ use: 'codec-g711' }, { use: 'codec-g711' }] }));
    const r = await run(['check', '--json', '--config', file]);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out) as ConfigCheckReport;
    assert.equal(report.ok, false);
    assert.equal(report.file, file);
    assert.deepEqual(report.plugins, []);
    assert.deepEqual(report.problems[0], {
      path: '/sip/ports/0',
      expected: 'integer',
      found: '"5060"',
      hint: 'write it as a number, without quotes: 5060',
      code: ErrorCodes.CONFIG_INVALID,
      message: '/sip/ports/0: expected integer; found "5060"; write it as a number, without quotes: 5060',
    });
    assert.equal(report.problems[1]?.code, ErrorCodes.PLUGIN_DUPLICATE);
    assert.equal(report.problems[1]?.plugin, 'codec-g711');
    assert.equal(report.problems.length, 2);
  });

  it('a JSON syntax error is one problem with its line, column and the line shown under it', async () => {
    const file = write('tapline.config.json', '{\n  "output": {\n    "dir": "rec",\n  }\n}\n');
    const report = await checkConfig({ config: file });
    assert.equal(report.ok, false);
    assert.equal(report.file, file);
    const [p] = report.problems;
    assert.equal(p?.code, ErrorCodes.CONFIG_LOAD);
    assert.deepEqual([p?.line, p?.column], [3, 17]);
    assert.equal(p?.message, "line 3, column 17: expected valid JSON; found a trailing comma before '}': JSON allows none (remove it)");
    assert.equal(
      renderCheckReport(report),
      [
        `tapline: ${ErrorCodes.CONFIG_LOAD}: cannot load ${file}: 1 problem`,
        "  1. line 3, column 17: expected valid JSON; found a trailing comma before '}': JSON allows none (remove it)",
        '     2 |   "output": {',
        '     3 |     "dir": "rec",',
        '       |                 ^',
        '',
      ].join('\n'),
    );
  });

  it('a --config file that does not exist is a problem, not a crash', async () => {
    const r = await run(['check', '--json', '--config', path.join(dir, 'nope.json')]);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out) as ConfigCheckReport;
    assert.equal(report.problems[0]?.code, ErrorCodes.CONFIG_NOT_FOUND);
  });

  it('a clean config prints OK and the plugins in start order, exit code untouched', async () => {
    const file = write('tapline.config.json', JSON.stringify({ plugins: [{ use: 'codec-g711' }, { use: 'storage-local', options: { dir: 'rec' } }] }));
    const text = await run(['check', '--config', file]);
    assert.equal(text.code, 0);
    assert.equal(text.out, `config OK: ${file}\nplugins: codec-g711 (codec), storage-local (storage)\n`);
    const json = JSON.parse((await run(['check', '--json', '--config', file])).out) as ConfigCheckReport;
    assert.deepEqual(json, { ok: true, file, problems: [], plugins: [{ name: 'codec-g711', kind: 'codec' }, { name: 'storage-local', kind: 'storage' }] });
  });
});
