import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigFile } from './load';
import { prepareConfig } from '../plugins/loader';
import { ErrorCodes, isTaplineError, type TaplineError } from '../errors';

const made: string[] = [];
after(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmpdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-cfg-'));
  made.push(dir);
  return dir;
}

describe('config discovery (lilconfig)', () => {
  const cases: Array<[string, string]> = [
    ['tapline.config.json', JSON.stringify({ output: { dir: 'a' } })],
    ['.taplinerc', JSON.stringify({ output: { dir: 'a' } })],
    ['.taplinerc.json', JSON.stringify({ output: { dir: 'a' } })],
    ['tapline.config.js', 'module.exports = { output: { dir: "a" } };'],
    ['tapline.config.cjs', 'module.exports = { output: { dir: "a" } };'],
    ['tapline.config.mjs', 'export default { output: { dir: "a" } };'],
    ['package.json', JSON.stringify({ name: 'x', tapline: { output: { dir: 'a' } } })],
  ];
  for (const [file, content] of cases) {
    it(`finds ${file}, also from a sub-folder`, async () => {
      const dir = tmpdir();
      fs.writeFileSync(path.join(dir, file), content);
      const sub = path.join(dir, 'sub');
      fs.mkdirSync(sub);
      const loaded = await loadConfigFile(undefined, sub);
      assert.equal(loaded.file, path.join(dir, file));
      const prepared = await prepareConfig(loaded);
      assert.equal(prepared.config.output.dir, 'a');
    });
  }

  it('uses built-in defaults when no file exists', async () => {
    const dir = tmpdir();
    const loaded = await loadConfigFile(undefined, dir);
    assert.equal(loaded.file, undefined);
    const prepared = await prepareConfig(loaded);
    assert.equal(prepared.config.output.dir, 'recordings');
    assert.equal(prepared.config.dialogs.idleTimeoutSec, 7200);
    assert.deepEqual(prepared.plugins.map((p) => p.manifest.name), ['codec-g711', 'codec-telephone-event', 'codec-cn', 'codec-g722', 'codec-silk', 'codec-red', 'codec-rtaudio', 'storage-local']);
  });

  it('--config with a missing file is CONFIG_NOT_FOUND', async () => {
    await assert.rejects(loadConfigFile('/nonexistent/tapline.json'), (e: TaplineError) => e.code === ErrorCodes.CONFIG_NOT_FOUND && /nonexistent/.test(e.message));
  });

  it('a file that is not JSON is refused naming the file', async () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'tapline.config.json'), '{ "output": ');
    await assert.rejects(loadConfigFile(undefined, dir), (e: TaplineError) => e.code === ErrorCodes.CONFIG_LOAD && e.message.includes('tapline.config.json'));
  });

  const broken: Array<[string, string, string, RegExp, string]> = [
    ['tapline.config.json', '{\n  "output": {\n    "dir": "rec",\n  }\n}\n', ':3:17: ', /trailing comma before '\}'/, ','],
    ['.taplinerc', '{\n  // where recordings go\n  "output": {}\n}\n', ':2:3: ', /a comment: JSON has no comments/, '/'],
    ['.taplinerc.json', '{ "sip": { "ports": [5060,] } }', ':1:26: ', /trailing comma before '\]'/, ','],
    ['package.json', '{\n  "name": "x",\n  "tapline": { "log": { level: "debug" } }\n}\n', ':3:25: ', /property name without quotes: write "level"/, 'l'],
  ];
  for (const [file, text, where, reason, under] of broken) {
    it(`a syntax error in ${file} names its line and column and shows the line with a caret`, async () => {
      const dir = tmpdir();
      fs.writeFileSync(path.join(dir, file), text);
      await assert.rejects(loadConfigFile(undefined, dir), (e: TaplineError) => {
        assert.equal(e.code, ErrorCodes.CONFIG_LOAD);
        const [first, ...excerpt] = e.message.split('\n');
        assert.ok(first?.startsWith(path.join(dir, file) + where), first);
        assert.match(first ?? '', reason);
        const [, column] = where.slice(1, -2).split(':').map(Number) as [number, number];
        const caret = excerpt[excerpt.length - 1] ?? '';
        const shown = excerpt[excerpt.length - 2] ?? '';
        assert.equal(caret.indexOf('^') - caret.indexOf('|'), column + 1, e.message);
        assert.equal(shown.slice(shown.indexOf('|') + 2)[column - 1], under, 'the caret is under the offending character');
        assert.deepEqual([e.details.line, e.details.column], where.slice(1, -2).split(':').map(Number));
        return true;
      });
    });
  }

  it('a file starting with a byte order mark loads', async () => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'tapline.config.json'), '\uFEFF' + JSON.stringify({ output: { dir: 'bom' } }));
    const prepared = await prepareConfig(await loadConfigFile(undefined, dir));
    assert.equal(prepared.config.output.dir, 'bom');
  });
});

describe('config validation (ajv, JSON Schema 2020-12)', () => {
  async function prepareFrom(obj: unknown): Promise<unknown> {
    const dir = tmpdir();
    const file = path.join(dir, 'tapline.config.json');
    fs.writeFileSync(file, JSON.stringify(obj));
    return prepareConfig(await loadConfigFile(file));
  }

  it('lists every error with file, JSON path, what was expected and what was found', async () => {
    const bad = {
      output: { dir: 5 },
      sip: { ports: [5060, 70000], bogus: true },
      dialogs: { idleTimeoutSec: 'soon' },
      log: { level: 'loud' },
      plugins: [{ use: 'codec-g711', options: { speed: 2 } }, { use: 'no-such-plugin' }],
    };
    await assert.rejects(prepareFrom(bad), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID));
      const m = e.message;
      assert.match(m, /tapline\.config\.json/);
      assert.match(m, /\/output\/dir: expected string; found 5/);
      assert.match(m, /\/sip\/ports\/1: expected .*65535.*; found 70000/);
      assert.match(m, /\/sip\/bogus: expected no property "bogus"/);
      assert.match(m, /\/dialogs\/idleTimeoutSec: expected number; found "soon"/);
      assert.match(m, /\/log\/level: expected one of .*; found "loud"/);
      return true;
    });
  });

  it('validates plugin options against the plugin schema and names the plugin', async () => {
    await assert.rejects(prepareFrom({ plugins: [{ use: 'codec-g711', options: { speed: 2 } }, { use: 'source-pcap', options: {} }] }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID));
      assert.match(e.message, /\/plugins\/0\/options\/speed: expected no property "speed".*\(schema of codec-g711\)/);
      assert.match(e.message, /\/plugins\/1\/options: expected property "files".*\(schema of source-pcap\)/);
      return true;
    });
  });

  it('an unknown plugin is reported at its path', async () => {
    await assert.rejects(prepareFrom({ plugins: [{ use: 'no-such-plugin' }] }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID));
      assert.match(e.message, /\/plugins\/0\/use: expected a built-in plugin folder name.*found "no-such-plugin"/);
      return true;
    });
  });

  it('a config of the wrong type (an array) is refused', async () => {
    await assert.rejects(prepareFrom([1, 2]), (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_INVALID) && /expected object/.test(e.message));
  });

  it('fills defaults and freezes the effective config', async () => {
    const p = (await prepareFrom({ sip: { ports: [5070] } })) as { config: { sip: { ports: number[]; detectOnAnyPort: boolean } } };
    assert.deepEqual(p.config.sip.ports, [5070]);
    assert.equal(p.config.sip.detectOnAnyPort, true);
    assert.ok(Object.isFrozen(p.config.sip));
  });
});
