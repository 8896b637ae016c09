/**
 * The codec packages ship the way a third party's plugin does: `npm pack` each one, install the tarball into a
 * scratch project beside an installed Tapline (this checkout, installed as a directory dependency), name it in that
 * project's config, and record the corpus capture there with Tapline's own CLI. The package is compiled at install
 * (node-gyp, against Debian's libbcg729 / libopus) as a user's install would.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { corpusPath, describeCorpus, repoRoot } from '../corpus';
import { readWavFile } from '../../core/testing/wav-file';

interface Shipped {
  dir: string;
  name: string;
  capture: string;
  encoding: RegExp;
}

const SHIPPED: Shipped[] = [
  { dir: 'packages/codec-g729', name: '@tapline/codec-g729', capture: 'pcap/ww_sip-rtp-g729a.pcap', encoding: /G729/i },
  { dir: 'packages/codec-opus', name: '@tapline/codec-opus', capture: 'pcap/ww_sip-rtp-opus.pcap', encoding: /opus/i },
];

function run(cmd: string, args: string[], cwd: string, timeoutMs = 240_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${(r.stderr ?? '').slice(-3000)}\n${(r.stdout ?? '').slice(-2000)}`);
  return r.stdout;
}

interface Summary {
  recordings: Array<{ callId: string; audio?: string; durationSec?: number; flags: string[]; packets: Record<string, number> }>;
}

describeCorpus('packages: each codec package, packed and installed beside Tapline, records its corpus capture', function () {
  this.timeout(600_000);
  let scratch = '';
  const tarballs = new Map<string, string>();

  before(function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-pkg-'));
    const packed = path.join(scratch, 'packed');
    fs.mkdirSync(packed);
    for (const s of SHIPPED) {
      const out = run('npm', ['pack', '--json', '--pack-destination', packed], path.join(repoRoot, s.dir));
      const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const files = info[0]?.files.map((f) => f.path) ?? [];
      assert.ok(files.includes('dist/index.js') && files.includes('binding.gyp') && files.includes('README.md'), `${s.name} tarball holds ${files.join(', ')}`);
      assert.ok(!files.some((f) => f.startsWith('build/') || f.startsWith('src/')), `${s.name} ships no build output or sources besides C: ${files.join(', ')}`);
      tarballs.set(s.name, path.join(packed, info[0]?.filename as string));
    }
    const app = path.join(scratch, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'recorder-site', version: '1.0.0', private: true }, null, 2));
    // Tapline as the site installed it (this checkout, already built), then the packed plugins from their tarballs.
    run('npm', ['install', '--offline', '--no-package-lock', repoRoot, ...tarballs.values()], app);
  });

  after(() => {
    if (scratch !== '') fs.rmSync(scratch, { recursive: true, force: true });
  });

  for (const s of SHIPPED) {
    it(`${s.name}: installed from its tarball (compiled there), named in the site's config, records ${path.basename(s.capture)}`, () => {
      const app = path.join(scratch, 'app');
      const installed = path.join(app, 'node_modules', ...s.name.split('/'));
      assert.ok(!fs.lstatSync(installed).isSymbolicLink(), 'a real copy from the tarball, not the workspace link');
      const addon = fs.readdirSync(path.join(installed, 'build', 'Release')).filter((f) => f.endsWith('.node'));
      assert.equal(addon.length, 1, 'its native decoder was compiled at install');
      const cfg = path.join(app, `${s.name.replace(/\W/g, '-')}.json`);
      const out = path.join(app, `out-${path.basename(s.dir)}`);
      fs.writeFileSync(
        cfg,
        JSON.stringify({ plugins: [{ use: 'source-pcap', options: { files: [corpusPath(s.capture)] } }, { use: 'codec-g711' }, { use: s.name }, { use: 'storage-local', options: { dir: out } }] }, null, 2),
      );
      const cli = path.join(app, 'node_modules', 'tapline', 'dist', 'core', 'cli', 'main.js');
      const doc = JSON.parse(run(process.execPath, [cli, 'record', '--config', cfg, '--json', '--no-progress'], app)) as Summary;
      assert.equal(doc.recordings.length, 1, JSON.stringify(doc.recordings));
      const rec = doc.recordings[0]!;
      assert.ok(!rec.flags.some((f) => /not decoded|no decoder|failed to decode/i.test(f)), `flags: ${rec.flags.join('; ')}`);
      assert.ok(rec.audio !== undefined, 'it has audio');
      const wav = readWavFile(path.isAbsolute(rec.audio) ? rec.audio : path.join(out, rec.audio));
      let energy = 0;
      for (const v of wav.samples) energy += v * v;
      assert.ok(energy / wav.samples.length > 1000, `the recording holds sound (mean square ${(energy / wav.samples.length).toFixed(0)})`);
      assert.ok((rec.durationSec ?? 0) > 7, `duration ${rec.durationSec} s (the capture's RTP spans about 8.5 s)`);
    });
  }
});
