import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkPath } from './path-keyword';
import { compilePluginSchema, validatePluginOptions } from './validate';
import { ErrorCodes, isTaplineError } from '../errors';

describe('x-tapline-path: files and folders named in the config', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-path-'));
    fs.writeFileSync(path.join(dir, 'users.csv'), 'uri\nsip:a@b\n');
    fs.mkdirSync(path.join(dir, 'logs'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('file: must exist, be a file and be readable', () => {
    assert.equal(checkPath('file', path.join(dir, 'users.csv')), undefined);
    assert.equal(checkPath('file', path.join(dir, 'nope.csv')), 'no such file');
    assert.equal(checkPath('file', path.join(dir, 'logs')), 'a folder, not a file');
  });

  it('dir: must exist and be a folder', () => {
    assert.equal(checkPath('dir', path.join(dir, 'logs')), undefined);
    assert.equal(checkPath('dir', path.join(dir, 'nope')), 'no such folder');
    assert.equal(checkPath('dir', path.join(dir, 'users.csv')), 'a file, not a folder');
  });

  it('creatable-dir: an existing folder, or one whose nearest existing parent is a folder', () => {
    assert.equal(checkPath('creatable-dir', path.join(dir, 'logs')), undefined);
    assert.equal(checkPath('creatable-dir', path.join(dir, 'new', 'deeper')), undefined);
    assert.equal(checkPath('creatable-dir', path.join(dir, 'users.csv')), 'a file, not a folder');
    assert.equal(checkPath('creatable-dir', path.join(dir, 'users.csv', 'rec')), `${path.join(dir, 'users.csv')} is a file, so the folder cannot be created`);
  });

  it('parent-dir: a file to write in an existing folder; creatable-parent-dir: its folder may be created', () => {
    assert.equal(checkPath('parent-dir', path.join(dir, 'logs', 'sip.log')), undefined);
    assert.equal(checkPath('parent-dir', path.join(dir, 'logs')), 'a folder, not a file');
    assert.equal(checkPath('parent-dir', path.join(dir, 'nolog', 'sip.log')), `its folder ${path.join(dir, 'nolog')} does not exist`);
    assert.equal(checkPath('creatable-parent-dir', path.join(dir, 'db', 'cat.sqlite')), undefined);
    assert.equal(checkPath('creatable-parent-dir', path.join(dir, 'users.csv', 'cat.sqlite')), `${path.join(dir, 'users.csv')} is a file, not a folder`);
  });

  it('a file that is not readable is refused (checked as an unprivileged user)', function () {
    if (process.getuid?.() !== 0) {
      console.warn('      (skipped: needs root to run the check as user nobody)');
      this.skip();
    }
    const secret = path.join(dir, 'secret.csv');
    fs.writeFileSync(secret, 'uri\n', { mode: 0o600 });
    fs.chmodSync(dir, 0o755);
    const moduleFile = path.join(__dirname, 'path-keyword.js');
    const r = spawnSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(moduleFile)}).checkPath('file', ${JSON.stringify(secret)})))`], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      console.warn(`      (skipped: user nobody cannot run the compiled module: ${r.stderr.split('\n')[0]})`);
      this.skip();
    }
    assert.equal(r.stdout, 'not readable (permission denied)');
  });

  it('any plugin marks its path options; they resolve from the config folder, after defaults, in the same pass as the rest', () => {
    const schema = {
      type: 'object',
      additionalProperties: false,
      properties: {
        certFile: { type: 'string', 'x-tapline-path': 'file' },
        caFiles: { type: 'array', items: { type: 'string', 'x-tapline-path': 'file' } },
        spool: { type: 'string', default: 'users.csv', 'x-tapline-path': 'creatable-dir' },
        port: { type: 'integer' },
      },
    };
    const options: Record<string, unknown> = { certFile: 'tls/cert.pem', caFiles: ['users.csv', 'ca.pem'], port: 'x' };
    const problems = validatePluginOptions(schema, options, '/plugins/2/options', 'source-tls', dir);
    assert.equal(options.spool, 'users.csv', 'the default was written in');
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.expected}; ${p.found}`),
      [
        `/plugins/2/options/certFile: an existing, readable file; "tls/cert.pem" (${path.join(dir, 'tls/cert.pem')}: no such file)`,
        `/plugins/2/options/caFiles/1: an existing, readable file; "ca.pem" (${path.join(dir, 'ca.pem')}: no such file)`,
        `/plugins/2/options/spool: a folder that exists or can be created; "users.csv" (${path.join(dir, 'users.csv')}: a file, not a folder)`,
        '/plugins/2/options/port: integer; "x"',
      ],
    );
    assert.ok(problems.every((p) => p.plugin === 'source-tls'));
  });

  it('without a base folder nothing is checked on disk (the test harness validates options that way)', () => {
    const schema = { type: 'object', properties: { f: { type: 'string', 'x-tapline-path': 'file' } } };
    assert.deepEqual(validatePluginOptions(schema, { f: '/nonexistent/x' }, '/o', 'p'), []);
  });

  it('says that "~" is not expanded', () => {
    const schema = { type: 'object', properties: { f: { type: 'string', 'x-tapline-path': 'file' } } };
    const [p] = validatePluginOptions(schema, { f: '~/users.csv' }, '', 'p', dir);
    assert.match(p?.found ?? '', /"~" is not expanded: write the full path/);
  });

  it('inside anyOf it counts as one alternative, like any keyword', () => {
    const schema = { type: 'object', properties: { src: { anyOf: [{ type: 'string', 'x-tapline-path': 'file' }, { type: 'string', pattern: '^udp://' }] } } };
    assert.deepEqual(validatePluginOptions(schema, { src: 'udp://0.0.0.0:9060' }, '', 'p', dir), []);
    const [p, more] = validatePluginOptions(schema, { src: 'capture.pcap' }, '', 'p', dir);
    assert.equal(more, undefined, 'one problem for the anyOf, not one per branch');
    assert.equal(p?.expected, 'an existing, readable file or must match pattern "^udp://"');
  });

  it('a schema with an unknown path kind does not compile (a plugin bug, named)', () => {
    assert.throws(
      () => compilePluginSchema({ type: 'object', properties: { f: { type: 'string', 'x-tapline-path': 'fil' } } }, 'bad-plugin'),
      (e: unknown) => isTaplineError(e, ErrorCodes.PLUGIN_MANIFEST) && /bad-plugin: its options schema does not compile/.test(e.message),
    );
  });
});
