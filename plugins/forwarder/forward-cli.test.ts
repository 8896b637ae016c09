import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.join(__dirname, '..', '..', 'core', 'cli', 'main.js');

describe('tapline forward --check', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-forward-cli-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const check = (options: Record<string, unknown>): { code: number | null; out: string } => {
    const file = path.join(dir, 'forward.json');
    fs.writeFileSync(file, JSON.stringify({ plugins: [{ use: 'forwarder', options }] }));
    const r = spawnSync(process.execPath, [CLI, 'forward', '-c', file, '--check'], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  const deployments = [{ id: 1, keys: { '1': 'hex:00112233445566778899aabbccddeeff' }, recorders: [{ host: '192.0.2.1' }, { host: '192.0.2.2' }] }];

  it('says what a valid config runs', () => {
    const r = check({ mode: 'atedge', interfaces: ['lo'], deployments });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /atedge mode on lo, 1 deployment\(s\), 2 recorder\(s\)/);
  });

  it('refuses a short key, a missing interface and a misspelt option, naming each', () => {
    let r = check({ interfaces: ['lo'], deployments: [{ ...deployments[0], keys: { '1': 'short' } }] });
    assert.equal(r.code, 1);
    assert.match(r.out, /TAPLINE_ERR_FORWARD_CONFIG: .*deployments\[0\]\.keys: key 1 has 5 bytes/);
    r = check({ interfaces: ['nope0'], deployments });
    assert.equal(r.code, 1);
    assert.match(r.out, /TAPLINE_ERR_CAPTURE_NO_INTERFACE: interface "nope0" not found; interfaces here: .*\blo\b/);
    r = check({ interfacez: ['lo'], deployments });
    assert.equal(r.code, 1);
    assert.match(r.out, /did you mean "interfaces"/);
  });

  it('refuses four recorders in a deployment and an endpoint agent with no address', () => {
    let r = check({ interfaces: ['lo'], deployments: [{ ...deployments[0], recorders: [1, 2, 3, 4].map((i) => ({ host: `192.0.2.${i}` })) }] });
    assert.equal(r.code, 1);
    assert.match(r.out, /recorders/);
    r = check({ mode: 'endpoint', interfaces: ['lo'], localAddresses: ['not-an-ip'], deployments });
    assert.equal(r.code, 1);
    assert.match(r.out, /localAddresses: "not-an-ip" is not an address/);
  });
});
