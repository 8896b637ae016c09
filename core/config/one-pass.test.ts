import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigFile } from './load';
import { prepareConfig } from '../plugins/loader';
import { ErrorCodes, isTaplineError } from '../errors';
import type { ConfigProblem } from './problems';

describe('every config problem in one pass', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-onepass-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function problemsOf(config: unknown): Promise<{ message: string; problems: ConfigProblem[] }> {
    const file = path.join(dir, 'tapline.config.json');
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    try {
      await prepareConfig(await loadConfigFile(file));
    } catch (e) {
      assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID), String(e));
      return { message: e.message, problems: e.details.problems as ConfigProblem[] };
    }
    return assert.fail('the config was accepted');
  }

  it('lists top-level, plugin option, file, unknown and duplicate plugin problems together, in file order, with fixes', async () => {
    fs.writeFileSync(path.join(dir, 'a.pcap'), '');
    fs.writeFileSync(path.join(dir, 'notes.txt'), '');
    const { message, problems } = await problemsOf({
      media: { reorderWindowMS: 300 },
      log: { level: 'warning' },
      idleTimeoutSec: 60,
      sip: { ports: ['5060'] },
      usersFile: 'users.csv',
      policy: { logAllSipMessages: 'notes.txt/sip.log' },
      plugins: [
        { use: 'codec-g771' },
        { use: 'source-pcap', options: { files: ['a.pcap', 'missing.pcap'] } },
        { use: 'storage-local', options: { dir: 'notes.txt', layuot: 'flat' } },
        { use: 'codec-g711' },
        { use: 'codec-g711', option: {} },
        { use: 'mode-mirroring', gateways: [] },
      ],
    });
    const at = (p: string): string => path.join(dir, p);
    assert.equal(
      message,
      [
        `invalid configuration in ${at('tapline.config.json')}: 13 problems`,
        '   1. /media/reorderWindowMS: expected no property "reorderWindowMS" (not a known setting); found 300; did you mean "reorderWindowMs"?',
        '   2. /log/level: expected one of ["debug","info","warn","error","silent"]; found "warning"; did you mean "warn"?',
        '   3. /idleTimeoutSec: expected no property "idleTimeoutSec" (not a known setting); found 60; "idleTimeoutSec" is a setting of /dialogs; move it there',
        '   4. /sip/ports/0: expected integer; found "5060"; write it as a number, without quotes: 5060',
        `   5. /usersFile: expected an existing, readable file; found "users.csv" (${at('users.csv')}: no such file)`,
        `   6. /policy/logAllSipMessages: expected a file whose folder exists or can be created; found "notes.txt/sip.log" (${at('notes.txt/sip.log')}: ${at('notes.txt')} is a file, not a folder)`,
        '   7. /plugins/0/use: expected a built-in plugin folder name, or a package/path that resolves; found "codec-g771"; did you mean "codec-g711"?',
        `   8. /plugins/1/options/files/1: expected an existing, readable file; found "missing.pcap" (${at('missing.pcap')}: no such file) (schema of source-pcap)`,
        `   9. /plugins/2/options/dir: expected a folder that exists or can be created; found "notes.txt" (${at('notes.txt')}: a file, not a folder) (schema of storage-local)`,
        '  10. /plugins/2/options/layuot: expected no property "layuot" (not a known setting); found "flat"; did you mean "layout"? (schema of storage-local)',
        '  11. /plugins/4/use: expected each plugin enabled once; found plugin "codec-g711" enabled twice (plugins[3] and plugins[4]); remove one, or set "enabled": false on it (plugin codec-g711)',
        '  12. /plugins/4/option: expected no property "option" (not a known setting); found {}; did you mean "options"?',
        '  13. /plugins/5/gateways: expected no property "gateways" (not a known setting); found []; "gateways" is an option of mode-mirroring: move it into "options"',
      ].join('\n'),
    );
    assert.deepEqual(
      problems.map((p) => p.code ?? 'schema'),
      ['schema', 'schema', 'schema', 'schema', 'schema', 'schema', ErrorCodes.PLUGIN_NOT_FOUND, 'schema', 'schema', 'schema', ErrorCodes.PLUGIN_DUPLICATE, 'schema', 'schema'],
    );
    assert.deepEqual(problems[0], {
      path: '/media/reorderWindowMS',
      expected: 'no property "reorderWindowMS" (not a known setting)',
      found: '300',
      hint: 'did you mean "reorderWindowMs"?',
    });
  });

  it('a storage folder that does not exist yet but can be created passes; defaults are checked too', async () => {
    fs.writeFileSync(path.join(dir, 'recordings'), 'a file where the default folder would go');
    const { problems } = await problemsOf({ plugins: [{ use: 'storage-local', options: { catalogue: 'db/new/catalogue.sqlite' } }] });
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.found}`),
      [`/plugins/0/options/dir: "recordings" (${path.join(dir, 'recordings')}: a file, not a folder)`],
    );
  });

  it('a config with every named file present prepares', async () => {
    fs.writeFileSync(path.join(dir, 'users.csv'), 'uri\nsip:alice@contoso.com\n');
    fs.writeFileSync(path.join(dir, 'a.pcap'), '');
    fs.mkdirSync(path.join(dir, 'logs'));
    const file = path.join(dir, 'tapline.config.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        usersFile: 'users.csv',
        policy: { logAllSipMessages: 'logs/sip.log' },
        plugins: [{ use: 'source-pcap', options: { files: ['a.pcap'] } }, { use: 'codec-g711' }, { use: 'storage-local', options: { dir: 'out/rec' } }],
      }),
    );
    const prepared = await prepareConfig(await loadConfigFile(file));
    assert.deepEqual(prepared.plugins.map((p) => p.manifest.name), ['source-pcap', 'codec-g711', 'storage-local']);
    assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'checking a folder does not create it');
  });

  it('plugin options are validated even when the top level has problems, and a disabled plugin is not looked up', async () => {
    const { problems } = await problemsOf({ output: { dir: 1 }, plugins: [{ use: 'codec-g711', options: { speed: 2 } }, { use: 'codec-g771', enabled: false }] });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/output/dir', '/plugins/0/options/speed'],
    );
  });

  it('a string where a list is expected, and quoted booleans, get the JSON that was meant', async () => {
    const { problems } = await problemsOf({ sip: { detectOnAnyPort: 'false' }, plugins: [{ use: 'source-pcap', options: { files: 'a.pcap' } }] });
    assert.deepEqual(
      problems.map((p) => p.hint),
      ['write it without quotes: false', 'write it as a list: ["a.pcap"]'],
    );
  });

  it('an anyOf (a user\'s endpointIp) is one problem naming both forms', async () => {
    const { problems } = await problemsOf({ users: [{ uri: 'sip:alice@contoso.com', endpointIp: '10.0.0' }] });
    assert.deepEqual(
      problems.map((p) => `${p.path}: expected ${p.expected}; found ${p.found}`),
      ['/users/0/endpointIp: expected a valid ipv4 or a valid ipv6; found "10.0.0"'],
    );
  });
});
