/**
 * deploy/systemd/tapline.service: its key settings, systemd's own checks of it (verify, offline security rating),
 * and that the capabilities it grants are enough for libpcap to sniff, measured by running tcpdump with exactly
 * those capabilities as an unprivileged user. Each part skips visibly when what it needs is missing.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../corpus';

const UNIT = path.join(repoRoot, 'deploy', 'systemd', 'tapline.service');
const SYSUSERS = path.join(repoRoot, 'deploy', 'systemd', 'tapline.sysusers');

/** Section → key → values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s !== null) {
      section = new Map();
      out.set(s[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section !== undefined && eq > 0, `a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function skip(ctx: Mocha.Context, why: string): void {
  console.warn(`      [tapline] skipped: ${why}`);
  ctx.skip();
}

/** systemd time span ("15s", "1min 30s", "90") in seconds. */
function seconds(span: string): number {
  let total = 0;
  for (const m of span.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?/g)) {
    const n = Number(m[1]);
    const unit = m[2] ?? 's';
    total += unit === 'ms' ? n / 1000 : unit === 'min' || unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
  }
  return total;
}

describe('systemd unit deploy/systemd/tapline.service', () => {
  const unit = parseUnit(fs.readFileSync(UNIT, 'utf8'));
  const svc = unit.get('Service') ?? new Map<string, string[]>();
  const one = (k: string): string | undefined => {
    const v = svc.get(k);
    assert.ok(v === undefined || v.length === 1, `${k} is set once`);
    return v?.[0];
  };

  it('runs `tapline serve --config /etc/tapline/tapline.config.json` as user tapline with only CAP_NET_RAW', () => {
    assert.match(one('ExecStart') ?? '', /^\/\S+\/tapline serve --config \/etc\/tapline\/tapline\.config\.json$/);
    assert.equal(one('User'), 'tapline');
    assert.equal(one('Group'), 'tapline');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_RAW');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_RAW');
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.match(one('RestrictAddressFamilies') ?? '', /\bAF_PACKET\b/);
  });

  it('is read-only but for the state and log folders, with private /tmp and no home folders', () => {
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(one('ProtectHome'), 'yes');
    assert.equal(one('PrivateTmp'), 'yes');
    const rw = (svc.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/));
    assert.ok(rw.includes('/var/lib/tapline'), `ReadWritePaths: ${rw.join(' ')}`);
    assert.equal(one('WorkingDirectory'), '/var/lib/tapline');
    assert.notEqual(one('MemoryDenyWriteExecute'), 'yes', 'V8 JIT needs W+X pages');
  });

  it('restarts on failure, stops with SIGTERM within a timeout above the 5 s shutdown bound, reloads with SIGHUP', () => {
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('KillSignal'), 'SIGTERM');
    const stop = seconds(one('TimeoutStopSec') ?? '0');
    assert.ok(stop > 5, `TimeoutStopSec ${stop} s > 5 s`);
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.ok(Number(one('LimitNOFILE')) >= 65536);
    assert.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
  });

  it('systemd-analyze verify accepts it (ExecStart pointed at the built CLI)', function () {
    if (!which('systemd-analyze')) return skip(this, 'systemd-analyze is not installed');
    const cli = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-unit-'));
    try {
      // verify checks that the command exists: point it at this checkout's node and CLI instead of /usr/local/bin.
      const text = fs.readFileSync(UNIT, 'utf8').replace(/^ExecStart=\S+\/tapline /m, `ExecStart=${process.execPath} ${cli} `);
      const file = path.join(dir, 'tapline.service');
      fs.writeFileSync(file, text);
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', cwd: dir });
      assert.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', 'no warnings');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('systemd-analyze security rates it below 3 ("OK")', function () {
    if (!which('systemd-analyze')) return skip(this, 'systemd-analyze is not installed');
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for tapline\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    if (m === null) return skip(this, `this systemd-analyze has no offline security rating (${r.stderr.trim().split('\n')[0]})`);
    assert.ok(Number(m[1]) < 3, `exposure ${m[1]}`);
  });

  it('tapline.sysusers creates a system user and group "tapline" with no login shell (systemd-sysusers --root)', function () {
    if (!which('systemd-sysusers')) return skip(this, 'systemd-sysusers is not installed');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-sysusers-'));
    try {
      fs.mkdirSync(path.join(root, 'etc'));
      const r = spawnSync('systemd-sysusers', [`--root=${root}`, SYSUSERS], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const pw = fs.readFileSync(path.join(root, 'etc', 'passwd'), 'utf8').split('\n').find((l) => l.startsWith('tapline:'));
      assert.ok(pw !== undefined, 'a passwd entry');
      const [, , uid, gid, , home, shell] = pw.split(':');
      assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid (${uid})`);
      assert.equal(home, '/var/lib/tapline');
      assert.equal(shell, '/usr/sbin/nologin');
      assert.ok(fs.readFileSync(path.join(root, 'etc', 'group'), 'utf8').includes(`tapline:x:${gid}:`));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  describe('its capabilities are enough for libpcap capture in promiscuous mode (tcpdump as nobody, in a netns)', () => {
    const ns = `tapline-caps-${process.pid}`;
    let tcpdump: ChildProcess | undefined;
    let made = false;

    before(function () {
      const missing = ['ip', 'setpriv', 'tcpdump', 'bash'].filter((c) => !which(c));
      if (process.getuid?.() !== 0) return skip(this, 'needs root (network namespaces, setpriv)');
      if (missing.length > 0) return skip(this, `missing ${missing.join(', ')}`);
      const run = (args: string[]): void => {
        const r = spawnSync('ip', args, { encoding: 'utf8' });
        assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
      };
      run(['netns', 'add', ns]);
      made = true;
      run(['-n', ns, 'link', 'add', 'tv0', 'type', 'veth', 'peer', 'name', 'tv1']);
      run(['-n', ns, 'addr', 'add', '10.99.0.2/24', 'dev', 'tv1']);
      for (const dev of ['lo', 'tv0', 'tv1']) run(['-n', ns, 'link', 'set', dev, 'up']);
    });

    afterEach(() => {
      if (tcpdump !== undefined && tcpdump.exitCode === null) tcpdump.kill('SIGKILL');
      tcpdump = undefined;
    });

    after(() => {
      if (made) spawnSync('ip', ['netns', 'del', ns]);
    });

    /** setpriv arguments giving exactly `caps` (from the unit) to uid/gid nobody. */
    function asNobodyWith(caps: string[]): string[] {
      const set = ['-all', ...caps.map((c) => '+' + c.replace(/^CAP_/, '').toLowerCase())].join(',');
      return ['--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`];
    }

    /** ARP requests out of tv1 (for an address nobody has) arrive on tv0, where tcpdump listens. */
    function sendTraffic(): void {
      spawnSync('ip', ['netns', 'exec', ns, 'bash', '-c', 'for i in 1 2 3; do echo x > /dev/udp/10.99.0.9/9; sleep 0.2; done'], { stdio: 'ignore', timeout: 5000 });
    }

    function promiscuity(): number {
      const r = spawnSync('ip', ['-n', ns, '-d', 'link', 'show', 'tv0'], { encoding: 'utf8' });
      return Number(/promiscuity (\d+)/.exec(r.stdout)?.[1] ?? -1);
    }

    function startTcpdump(caps: string[]): { out: () => string; done: Promise<number | null> } {
      let out = '';
      const p = spawn('ip', ['netns', 'exec', ns, 'setpriv', ...asNobodyWith(caps), 'tcpdump', '-i', 'tv0', '-B', '65536', '-c', '2', '-n', '-l', 'arp'], { stdio: ['ignore', 'pipe', 'pipe'] });
      tcpdump = p;
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
      return { out: () => out, done };
    }

    it('with the unit\'s AmbientCapabilities, tcpdump (64 MiB buffer) captures, and the interface is promiscuous while it runs', async () => {
      const caps = (svc.get('AmbientCapabilities')?.[0] ?? '').split(/\s+/).filter((c) => c !== '');
      const t = startTcpdump(caps);
      let promisc = -1;
      for (let i = 0; i < 50 && !/listening on tv0/.test(t.out()); i++) await sleep(50);
      promisc = promiscuity();
      sendTraffic();
      const code = await Promise.race([t.done, sleep(5000).then(() => 'timeout' as const)]);
      assert.equal(code, 0, t.out());
      assert.match(t.out(), /ARP, Request who-has 10\.99\.0\.9/);
      assert.match(t.out(), /2 packets captured/);
      assert.equal(promisc, 1, 'promiscuous mode was set through the packet socket');
      assert.equal(promiscuity(), 0, 'and released when tcpdump ended');
    });

    it('without capabilities the same capture is refused (the check above is not vacuous)', async () => {
      const t = startTcpdump([]);
      const code = await Promise.race([t.done, sleep(5000).then(() => 'timeout' as const)]);
      assert.notEqual(code, 0);
      assert.match(t.out(), /Operation not permitted|permission/i);
    });
  });
});

describe('systemd unit deploy/systemd/tapline-forward.service (the forwarder agent)', () => {
  const FWD = path.join(repoRoot, 'deploy', 'systemd', 'tapline-forward.service');
  const svc = parseUnit(fs.readFileSync(FWD, 'utf8')).get('Service') ?? new Map<string, string[]>();
  const one = (k: string): string | undefined => svc.get(k)?.[0];

  it('runs `tapline forward --config /etc/tapline/forward.config.json` as user tapline with only CAP_NET_RAW, read-only, restarted at once', () => {
    assert.match(one('ExecStart') ?? '', /^\/\S+\/tapline forward --config \/etc\/tapline\/forward\.config\.json$/);
    assert.equal(one('User'), 'tapline');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_RAW');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_RAW');
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(svc.get('ReadWritePaths'), undefined, 'it writes nothing');
    assert.equal(one('Restart'), 'always');
  });

  it('systemd-analyze verify accepts it, and rates its exposure below 3', function () {
    if (!which('systemd-analyze')) return skip(this, 'systemd-analyze is not installed');
    const cli = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-unit-'));
    try {
      const file = path.join(dir, 'tapline-forward.service');
      fs.writeFileSync(file, fs.readFileSync(FWD, 'utf8').replace(/^ExecStart=\S+\/tapline /m, `ExecStart=${process.execPath} ${cli} `));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', cwd: dir });
      assert.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', 'no warnings');
      const s = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', file], { encoding: 'utf8' });
      const m = /Overall exposure level for tapline-forward\.service: (\d+(?:\.\d+)?)/.exec(s.stdout);
      if (m !== null) assert.ok(Number(m[1]) < 3, `exposure ${m[1]}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
