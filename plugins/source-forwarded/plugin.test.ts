import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { PluginHarness } from '../../core/testing/index';
import { Tokens } from '../../core/tokens';
import forwarded, { ForwardedSource } from './index';
import { resolveOptions, type SourceForwardedOptions } from './options';
import { validatePluginOptions } from '../../core/config/validate';
import optionsSchema from './options.schema.json';

function defaults(options: Record<string, unknown>): SourceForwardedOptions {
  const o = structuredClone(options);
  assert.deepEqual(validatePluginOptions(optionsSchema, o, '/plugins/0/options', 'source-forwarded'), []);
  return o as unknown as SourceForwardedOptions;
}

describe('source-forwarded plugin', () => {
  it('registers one live source with the documented defaults: TFWD on 9070, loopback-only allow-lists, 32 MiB buffers', async () => {
    const h = await PluginHarness.create(forwarded, { options: { keys: { '1': 'a secret of more than 16 bytes' } } });
    try {
      const sources = h.resolveAll(Tokens.Source) as unknown[];
      assert.equal(sources.length, 1);
      const s = sources[0] as ForwardedSource;
      assert.ok(s instanceof ForwardedSource);
      assert.equal(s.live, true);
      assert.equal(s.label, 'tfwd udp 0.0.0.0:9070');
    } finally {
      await h.stop();
    }
    const o = defaults({ keys: { '1': 'a secret of more than 16 bytes' } });
    assert.deepEqual(o.tfwd, { enabled: true, host: '0.0.0.0', port: 9070, allow: ['127.0.0.0/8', '::1'], authenticate: true });
    assert.deepEqual(o.vxlan, { enabled: false, host: '0.0.0.0', port: 4789, allow: ['127.0.0.0/8', '::1'], vnis: [] });
    assert.deepEqual(o.tzsp, { enabled: false, host: '0.0.0.0', port: 37008, allow: ['127.0.0.0/8', '::1'] });
    assert.equal(o.recvBufferBytes, 32 * 1024 * 1024);
  });

  it('refuses to start TFWD without keys unless authentication is explicitly off', async () => {
    await assert.rejects(PluginHarness.create(forwarded, { options: {} }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.FORWARDED_CONFIG));
      assert.match(e.message, /^source-forwarded: options: tfwd needs keys/);
      return true;
    });
    const cfg = resolveOptions(defaults({ tfwd: { authenticate: false } }), '.');
    assert.equal(cfg.authenticate, false);
    // VXLAN alone needs no keys.
    assert.doesNotThrow(() => resolveOptions(defaults({ tfwd: { enabled: false }, vxlan: { enabled: true } }), '.'));
  });

  it('names the bad option: short key, bad key id, bad allow entry, no listener, duplicate key id', () => {
    const bad = (o: Record<string, unknown>, re: RegExp): void => assert.throws(() => resolveOptions(defaults(o), '.'), re);
    bad({ keys: { '1': 'short' } }, /keys: key 1 has 5 bytes; at least 16/);
    bad({ keys: { '1': 'hex:abc' } }, /hex/);
    bad({ tfwd: { allow: ['10.0.0.0/33'] }, keys: { '1': 'x'.repeat(16) } }, /tfwd.allow: '10.0.0.0\/33' is not an IP address or CIDR prefix/);
    bad({ vxlan: { enabled: true, allow: ['not-an-ip'] }, tfwd: { enabled: false } }, /vxlan.allow: 'not-an-ip' is not an IP address/);
    bad({ tfwd: { enabled: false } }, /no listener is enabled/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-keys-'));
    try {
      fs.writeFileSync(path.join(dir, 'keys.json'), JSON.stringify({ '1': 'base64:' + Buffer.alloc(32, 7).toString('base64') }));
      assert.throws(() => resolveOptions(defaults({ keys: { '1': 'y'.repeat(16) }, keyFile: 'keys.json' }), dir), /key id 1 is given twice/);
      const cfg = resolveOptions(defaults({ keyFile: 'keys.json' }), dir);
      assert.deepEqual([...cfg.keys.keys()], [1]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports the schema error for a key id that is not a number', async () => {
    await assert.rejects(PluginHarness.create(forwarded, { options: { keys: { abc: 'a secret of more than 16 bytes' } } }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID));
      return true;
    });
  });
});
