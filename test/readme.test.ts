/**
 * The README keeps its word: every config it shows for a topology passes `config check` against the real plugins
 * (the files it names created beside it, as an operator would), and every `npx tapline …` command it shows is a
 * command of the built CLI with the options as written.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './corpus';
import { loadConfigFile } from '../core/config/load';
import { prepareConfig } from '../core/plugins/loader';
import { resolveForwarder, type ForwarderOptions } from '../plugins/forwarder/options';

const README = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const CLI = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

/** The JSON blocks marked `<!-- tapline-config: NAME -->`. */
function configs(): Array<{ name: string; json: string }> {
  const out: Array<{ name: string; json: string }> = [];
  for (const m of README.matchAll(/<!-- tapline-config: ([\w-]+) -->\s*```json\n([\s\S]*?)```/g)) out.push({ name: m[1]!, json: m[2]! });
  return out;
}

/** Relative files a config names (certificates, key files, users file, token file), created with plausible content. */
function createNamedFiles(dir: string, cfg: unknown): void {
  const files = new Map<string, string>([
    ['users.csv', 'uri,name,call,chat,recorder,endpointIp\nsip:agent7@contoso.com,Agent 7,true,true,1,0.0.0.0\n'],
    ['forwarder-keys.json', JSON.stringify({ '1': `hex:${'ab'.repeat(32)}` })],
    ['ops.token', 'a'.repeat(40) + '\n'],
  ]);
  const visit = (v: unknown): void => {
    if (typeof v === 'string' && /^[\w./-]+\.(pem|key|csv|json|token)$/.test(v) && !path.isAbsolute(v)) {
      const file = path.join(dir, v);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, files.get(path.basename(v)) ?? '-----BEGIN PLACEHOLDER-----\n');
      fs.chmodSync(file, 0o600);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(cfg);
}

describe('README', () => {
  const found = configs();

  it('shows a config for each topology (SfB feed + forwarded RTP, HEP + local sniffing, at-edge, endpoint)', () => {
    assert.deepEqual(found.map((c) => c.name), ['sfb-mirroring', 'hep-sniffing', 'atedge', 'endpoint', 'siprec', 'ha-recorder', 'forwarder-agent']);
  });

  for (const c of found) {
    it(`the "${c.name}" config passes config check against the real plugins`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-readme-'));
      try {
        const parsed = JSON.parse(c.json) as unknown;
        createNamedFiles(dir, parsed);
        const file = path.join(dir, 'recorder.json');
        fs.writeFileSync(file, c.json);
        const prepared = await prepareConfig(await loadConfigFile(file));
        if (c.name === 'forwarder-agent') {
          // The agent's config: its options resolve (keys read, addresses parsed) as `tapline forward --check` does.
          const entry = prepared.plugins.find((p) => p.manifest.name === 'forwarder');
          assert.ok(entry !== undefined, 'it enables the forwarder');
          resolveForwarder(entry.options as unknown as ForwarderOptions, prepared.dir);
          return;
        }
        assert.ok(prepared.plugins.some((p) => p.manifest.kind === 'source'), 'it has an input');
        assert.ok(prepared.plugins.some((p) => p.manifest.kind === 'storage'), 'it stores recordings');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  const commands = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l.startsWith('npx tapline ')),
  );

  it('shows npx tapline commands', () => {
    assert.ok(commands.length >= 10, `${commands.length} commands`);
  });

  (fs.existsSync(CLI) ? it : it.skip)('every npx tapline command is a command of the built CLI, with options it knows', function () {
    this.timeout(120_000);
    for (const line of commands) {
      const words = line.split(/\s+/).slice(2);
      // The command is the leading words that are not options or arguments (lower-case names only).
      const cmd: string[] = [];
      for (const w of words) {
        if (!/^[a-z][a-z-]*$/.test(w) || cmd.length >= 2) break;
        cmd.push(w);
      }
      const help = spawnSync(process.execPath, [CLI, ...cmd, '--help'], { encoding: 'utf8', cwd: repoRoot });
      assert.equal(help.status, 0, `${line}: ${help.stderr}`);
      // A group (`recordings`) lists its subcommands; a leaf shows its usage.
      const leaf = cmd.length === 0 || /^Usage: tapline/m.test(help.stdout);
      assert.ok(leaf, line);
      for (const opt of words.filter((w) => /^--?[a-z]/.test(w))) {
        if (opt === '--help') continue;
        assert.ok(help.stdout.includes(opt), `${line}: ${opt} is not an option of "tapline ${cmd.join(' ')}"\n${help.stdout}`);
      }
    }
  });
});
