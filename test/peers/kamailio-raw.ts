/**
 * Kamailio (Debian's kamailio 5.6) as an independent HEP peer: its siptrace module is a real HEP sender (v3 and
 * v2, UDP and TCP) and its sipcapture module a real HEP decoder whose $hep(...) pseudo-variables show what it read.
 *
 * Found by trying, for 5.6.3:
 *  - sipcapture crashes in mod_init without a database binding: db_text with an empty folder is enough.
 *  - `nonsip_hook` runs event_route[sipcapture:request] with the HEP packet: $hep(version), $hep(0x001)…$hep(0x011)
 *    are readable there (0x012 VLAN and 0x013 node name are not: they print as 4294967295); $hep(0x00f) is the
 *    payload exactly as received.
 *  - siptrace has no auth-key parameter; `hep_version 2` sends a 12-byte little-endian time header.
 *  - event_route[core:worker-one-init] runs once the first worker is up: the readiness signal.
 *  - siptrace over TCP (duplicate_uri ...;transport=tcp) needs a TCP listen socket of its own, else nothing is sent.
 * Each instance gets its own folder (config, runtime dir, db_text dir, log), removed by stop().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const READY = 'TAPLINE-KAMAILIO-READY';

/** Why Kamailio cannot be used here, or undefined. */
export function kamailioUnavailable(modules: readonly string[]): string | undefined {
  const r = spawnSync('kamailio', ['-v'], { stdio: 'ignore' });
  if (r.error !== undefined || r.status !== 0) return 'kamailio not installed (Debian package: kamailio)';
  const missing = modules.filter((m) => !fs.existsSync(path.join(MODULES, `${m}.so`)));
  return missing.length > 0 ? `kamailio modules missing in ${MODULES}: ${missing.join(', ')}` : undefined;
}

/** A free port (TCP and UDP both free at the time of asking). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
      s.on('error', reject);
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}

export interface Kamailio {
  dir: string;
  /** Everything Kamailio logged so far (stderr), as bytes decoded latin1 (payloads are logged as raw bytes). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts `kamailio` with the given routing part of a config (global parameters, modules and routes; the
 * readiness route and module path are added) and resolves once its first worker runs.
 */
export async function startKamailio(cfgBody: string, timeoutMs = 10_000): Promise<Kamailio> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-kamailio-'));
  fs.mkdirSync(path.join(dir, 'db'));
  const cfg = [
    '#!KAMAILIO',
    'debug=2',
    'log_stderror=yes',
    'children=1',
    `mpath="${MODULES}/"`,
    cfgBody.replaceAll('@DIR@', dir),
    'event_route[core:worker-one-init] {',
    `  xlog("L_ALERT", "${READY}\\n");`,
    '}',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'kamailio.cfg'), cfg);
  const chunks: Buffer[] = [];
  const child: ChildProcess = spawn('kamailio', ['-f', path.join(dir, 'kamailio.cfg'), '-E', '-DD', '-Y', dir, '-w', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => chunks.push(d));
  child.stderr?.on('data', (d: Buffer) => chunks.push(d));
  const log = (): string => Buffer.concat(chunks).toString('latin1');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null) child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(kill);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const t0 = Date.now();
  while (!log().includes(READY)) {
    if (child.exitCode !== null || Date.now() - t0 > timeoutMs) {
      const out = log();
      await stop();
      throw new Error(`kamailio did not start (${child.exitCode !== null ? `exit ${child.exitCode}` : 'timeout'}):\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { dir, log, stop };
}
