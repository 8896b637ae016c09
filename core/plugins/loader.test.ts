import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { loadConfigFile } from '../config/load';
import { prepareConfig } from './loader';
import { Kernel } from '../kernel';
import { ErrorCodes, isTaplineError } from '../errors';
import { memoryLogger } from '../log';
import { repoRoot } from '../../test/corpus';

/** A scratch project with `tapline` linked into node_modules, as a third party's project would have it. */
function scratchProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-plug-'));
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
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'tapline-plugin-future' }] }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.PLUGIN_API_VERSION));
      assert.match(e.message, /targets plugin API 99, but this Tapline provides API 1/);
      return true;
    });
  });

  it('two codecs claiming one encoding stop start-up naming both', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-other-g711', codecPlugin('other-g711', ['PCMU/8000']));
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'codec-g711' }, { use: 'tapline-plugin-other-g711' }] }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CODEC_CONFLICT));
      assert.match(e.message, /"codec-g711" and "other-g711" both claim PCMU\/8000/);
      return true;
    });
  });

  it('a module without a manifest is refused before any of its code runs register()', async () => {
    const dir = scratchProject();
    addPackage(dir, 'tapline-plugin-empty', 'module.exports = { name: "x" };');
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'tapline-plugin-empty' }] }), (e: unknown) => isTaplineError(e, ErrorCodes.PLUGIN_MANIFEST) && /"kind" must be one of/.test(e.message));
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
    await assert.rejects(prepareIn(dir, { plugins: [{ use: 'p-c' }] }), (e: unknown) => isTaplineError(e, ErrorCodes.PLUGIN_DEPENDENCY) && /depends on "zzz"/.test(e.message));
  });
});
