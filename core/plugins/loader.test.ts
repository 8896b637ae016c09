import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { loadConfigFile } from '../config/load';
import { prepareConfig } from './loader';
import { Kernel } from '../kernel';
import { ErrorCodes, isTaplineError, type ErrorCode } from '../errors';
import type { ConfigProblem } from '../config/problems';
import { memoryLogger } from '../log';
import { repoRoot } from '../../test/corpus';

const scratchDirs: string[] = [];
after(() => {
  for (const d of scratchDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A scratch project with `tapline` linked into node_modules, as a third party's project would have it. */
function scratchProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-plug-'));
  scratchDirs.push(dir);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(repoRoot, path.join(dir, 'node_modules', 'tapline'), 'dir');
  return dir;
}

function addPackage(dir: string, name: string, indexJs: string): void {
  const pkgDir = path.join(dir, 'node_modules', name);
  fs.mkdirSync(pkgDir, { recursive: true });
  fs.writeFileSync(path.join(pkgDir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js', keywords: ['tapline-plugin'] }));
  fs.writeFileSync(path.join(pkgDir, 'index.js'), indexJs);
}

const codecPlugin = (name: string, encodings: string[], api = 'TAPLINE_API') => `
const { definePlugin, TAPLINE_API, Tokens } = require('tapline');
module.exports = definePlugin({
  name: ${JSON.stringify(name)}, kind: 'codec', api: ${api}, encodings: ${JSON.stringify(encodings)},
  optionsSchema: { type: 'object', additionalProperties: false, properties: { gain: { type: 'number', default: 1 } } },
  register(ctx) {
    const gain = ctx.options.gain;
    ctx.container.register(Tokens.Codec, { useValue: {
      encodings: ${JSON.stringify(encodings)},
      createDecoder: () => ({ sampleRate: 8000, decode: (p) => Int16Array.from(p, (b) => b * gain), close() {} }),
    } });
    return { start() { ctx.log.info('started'); }, stop() { ctx.log.info('stopped'); } };
  },
});`;

/** The problems of a CONFIG_INVALID error as `code: message` lines (each problem keeps the code of its kind). */
function problemLines(e: unknown): string[] {
  assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID), String(e));
  return (e.details.problems as ConfigProblem[]).map((p) => `${p.code ?? 'schema'}: ${p.path}: ${p.found}`);
}

function hasProblem(e: unknown, code: ErrorCode, pattern: RegExp): boolean {
  const lines = problemLines(e);
  assert.ok(lines.some((l) => l.startsWith(`${code}: `) && pattern.test(l)), lines.join('\n'));
  return true;
}

async function prepareIn(dir: string, config: unknown) {
  const file = path.join(dir, 'tapline.config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  return prepareConfig(await loadConfigFile(file));
}

describe('plugin loading', function () {
  this.timeout(20000);
  before(function () {
    if (!fs.existsSync(path.join(repoRoot, 'dist', 'core', 'index.js'))) this.skip();
  });

  it('loads a third-party codec from an npm package exactly like a built-in one, and the core picks it by rtpmap', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-acme-codec', codecPlugin('acme-codec', ['ACME/16000']));
    const prepared = await prepareIn(dir, { plugins: [{ use: 'codec-g711' }, { use: 'tapline-plugin-acme-codec', options: { gain: 2 } }] });
    const { log, records } = memoryLogger();
    const k = await Kernel.create(prepared, { logger: log });
    await k.start();
    assert.equal(k.codecs.pluginFor('acme', 16000), 'acme-codec');
    assert.equal(k.codecs.pluginFor('PCMU', 8000), 'codec-g711');
    const dec = k.codecs.createDecoder({ encoding: 'acme', clockRate: 16000, channels: 1, payloadType: 99 });
    assert.deepEqual(Array.from(dec!.decode(Buffer.from([1, 2, 3]))!), [2, 4, 6]);
    await k.stop();
    await k.stop(); // idempotent
    assert.deepEqual(records.filter((r) => r.fields.plugin === 'acme-codec').map((r) => r.msg), ['started', 'stopped']);
  });

  it('a third party tests its plugin with tapline/testing', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-acme-codec', codecPlugin('acme-codec', ['ACME/16000']));
    const req = createRequire(path.join(dir, 'x.js'));
    const testing = req('tapline/testing') as typeof import('../testing/index');
    const h = await testing.PluginHarness.create(req('tapline-plugin-acme-codec'), { options: { gain: 3 } });
    const dec = h.decoderFor({ encoding: 'ACME', clockRate: 16000, channels: 1, payloadType: 99 });
    assert.deepEqual(Array.from(dec!.decode(Buffer.from([1]))!), [3]);
    await h.stop();
  });

  it('an incompatible API version stops start-up with a clear message', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-future', codecPlugin('future', ['FUT/8000'], '99'));
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'tapline-plugin-future' }] }), (e: unknown) =>
      hasProblem(e, ErrorCodes.PLUGIN_API_VERSION, /\/plugins\/0\/use: plugin "future" \(tapline-plugin-future\) targets plugin API 99, but this Tapline provides API 1/),
    );
  });

  it('two codecs claiming one encoding stop start-up naming both', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-other-g711', codecPlugin('other-g711', ['PCMU/8000']));
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'codec-g711' }, { use: 'tapline-plugin-other-g711' }] }), (e: unknown) =>
      hasProblem(e, ErrorCodes.CODEC_CONFLICT, /\/plugins\/1\/use: codec plugins "codec-g711" and "other-g711" both claim PCMU\/8000/),
    );
  });

  it('a module without a manifest is refused before any of its code runs register()', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-empty', 'module.exports = { name: "x" };');
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'tapline-plugin-empty' }] }), (e: unknown) => hasProblem(e, ErrorCodes.PLUGIN_MANIFEST, /"kind" must be one of/));
  });

  it('a plugin that throws in register is wrapped with the plugin name and hook', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-crash', `module.exports = { name: 'crash', kind: 'sink', api: 1, optionsSchema: {}, register() { const e = new Error('boom'); e.code = 'E_BOOM'; throw e; } };`);
    const prepared = await prepareIn(dir, { plugins: [{ use: 'tapline-plugin-crash' }] });
    await assert.rejects(Kernel.create(prepared, { logger: memoryLogger().log }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.PLUGIN_HOOK));
      assert.match(e.message, /plugin "crash" failed in register: boom/);
      assert.equal(e.details.pluginCode, 'E_BOOM');
      return true;
    });
  });

  it('a start() that never settles times out with a named error', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-hang', `module.exports = { name: 'hang', kind: 'sink', api: 1, optionsSchema: {}, register() { return { start: () => new Promise(() => {}) }; } };`);
    const prepared = await prepareIn(dir, { plugins: [{ use: 'tapline-plugin-hang' }] });
    const k = await Kernel.create(prepared, { logger: memoryLogger().log, hookTimeoutMs: 200 });
    await assert.rejects(k.start(), (e: unknown) => isTaplineError(e, ErrorCodes.PLUGIN_TIMEOUT) && /"hang" did not finish start within 200 ms/.test(e.message));
    await k.stop();
  });

  it('dependsOn orders registration, and a missing dependency is named', async () => {
    const dir = scratchProject();
    const mk = (name: string, deps: string[]) => `module.exports = { name: '${name}', kind: 'sink', api: 1, dependsOn: ${JSON.stringify(deps)}, optionsSchema: {}, register(ctx) { (global.__order ||= []).push(ctx.name); } };`;
    addPackage(dir, 'p-a', mk('a', ['b']));
    addPackage(dir, 'p-b', mk('b', []));
    addPackage(dir, 'p-c', mk('c', ['zzz']));
    const prepared = await prepareIn(dir, { plugins: [{ use: 'p-a' }, { use: 'p-b' }] });
    assert.deepEqual(prepared.plugins.map((p) => p.manifest.name), ['b', 'a']);
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'p-c' }] }), (e: unknown) => {
      assert.match((e as Error).message, /\/plugins\/0\/use: expected plugin "zzz" enabled too \(plugin "c" depends on "zzz"\); found no enabled plugin "zzz"/);
      return hasProblem(e, ErrorCodes.PLUGIN_DEPENDENCY, /no enabled plugin "zzz"/);
    });
  });

  it('a third-party plugin marks its own path options with x-tapline-path; a schema that does not compile is its problem', async () => {
    const dir = scratchProject();
    const tls = (kind: string) =>
      `module.exports = { name: 'tls-${kind}', kind: 'source', api: 1, optionsSchema: { type: 'object', properties: { certFile: { type: 'string', 'x-tapline-path': '${kind}' } } }, register() {} };`;
    addPackage(dir, 'p-tls', tls('file'));
    addPackage(dir, 'p-tls-bad', tls('certificate'));
    fs.writeFileSync(path.join(dir, 'cert.pem'), '');
    await prepareIn(dir, { plugins: [{ use: 'p-tls', options: { certFile: 'cert.pem' } }] });
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'p-tls', options: { certFile: 'key.pem' } }, { use: 'p-tls-bad', options: {} }] }), (e: unknown) => {
      const lines = problemLines(e);
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.equal(lines[0], `schema: /plugins/0/options/certFile: "key.pem" (${path.join(dir, 'key.pem')}: no such file)`);
      assert.match(lines[1] ?? '', /^TAPLINE_ERR_PLUGIN_MANIFEST: \/plugins\/1\/use: plugin tls-certificate: its options schema does not compile: .*x-tapline-path/);
      return true;
    });
  });

  it('a dependency cycle is one problem naming the loop', async () => {
    const dir = scratchProject();
    const mk = (name: string, deps: string[]) => `module.exports = { name: '${name}', kind: 'sink', api: 1, dependsOn: ${JSON.stringify(deps)}, optionsSchema: {}, register() {} };`;
    addPackage(dir, 'p-a', mk('a', ['b']));
    addPackage(dir, 'p-b', mk('b', ['a']));
    addPackage(dir, 'p-c', mk('c', ['c']));
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'p-a' }, { use: 'p-b' }, { use: 'p-c' }] }), (e: unknown) => {
      assert.deepEqual(problemLines(e), [
        `${ErrorCodes.PLUGIN_DEPENDENCY}: /plugins/0/use: plugin dependency cycle: a -> b -> a`,
        `${ErrorCodes.PLUGIN_DEPENDENCY}: /plugins/2/use: plugin dependency cycle: c -> c`,
      ]);
      return true;
    });
  });

  it('every plugin problem comes in the one error: unknown, incompatible, missing and disabled dependencies, each codec conflict', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-future', codecPlugin('future', ['FUT/8000'], '99'));
    addPackage(dir, 'tapline-plugin-other-g711', codecPlugin('other-g711', ['PCMU/8000']));
    addPackage(dir, 'tapline-plugin-other-g722', codecPlugin('other-g722', ['G722/8000']));
    addPackage(dir, 'p-needs', `module.exports = { name: 'needs', kind: 'sink', api: 1, dependsOn: ['storage-local', 'chat'], optionsSchema: {}, register() {} };`);
    const config = {
      log: { level: 'loud' },
      plugins: [
        { use: 'codec-g711' },
        { use: 'codec-g722' },
        { use: 'tapline-plugin-future' },
        { use: 'tapline-plugin-other-g711' },
        { use: 'tapline-plugin-other-g722' },
        { use: 'p-needs' },
        { use: 'chat', enabled: false },
        { use: 'codec-silkk' },
      ],
    };
    await assert.rejects(prepareIn(dir, config), (e: unknown) => {
      const lines = problemLines(e);
      assert.equal(lines.length, 7, lines.join('\n'));
      assert.match(lines[0] ?? '', /^schema: \/log\/level: "loud"$/);
      assert.match(lines[1] ?? '', /PLUGIN_API_VERSION: \/plugins\/2\/use: .*targets plugin API 99/);
      assert.match(lines[2] ?? '', /CODEC_CONFLICT: \/plugins\/3\/use: codec plugins "codec-g711" and "other-g711" both claim PCMU\/8000/);
      assert.match(lines[3] ?? '', /CODEC_CONFLICT: \/plugins\/4\/use: codec plugins "codec-g722" and "other-g722" both claim G722\/8000/);
      assert.match(lines[4] ?? '', /PLUGIN_DEPENDENCY: \/plugins\/5\/use: no enabled plugin "storage-local"/);
      assert.match(lines[5] ?? '', /PLUGIN_DEPENDENCY: \/plugins\/5\/use: no enabled plugin "chat"/);
      assert.match(lines[6] ?? '', /PLUGIN_NOT_FOUND: \/plugins\/7\/use: "codec-silkk"/);
      const problems = (e as { details: { problems: ConfigProblem[] } }).details.problems;
      assert.deepEqual(
        problems.map((p) => p.hint).filter((h) => h !== undefined),
        ['add { "use": "storage-local" } to "plugins"', 'plugins[6] ("chat") has "enabled": false', 'did you mean "codec-silk"?'],
      );
      return true;
    });
  });
});
