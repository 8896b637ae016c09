/**
 * A real PostgreSQL server for tests: Debian's binaries, `initdb` into a temporary folder, the server run as a
 * child process on a free loopback port (and a socket in its folder), password authentication (scram-sha-256) for
 * one superuser. As root it runs as the `postgres` system user (the server refuses to run as root). stop() and
 * start() keep the data: the fault tests restart the database mid-run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePortBlock } from './ports';
import { sleep, startProc, type Proc } from './proc';

export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** Debian installs the server outside PATH: /usr/lib/postgresql/<major>/bin. */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const majors = fs.readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
  for (const m of majors) if (fs.existsSync(path.join(root, m, 'bin', 'postgres'))) return path.join(root, m, 'bin');
  return undefined;
}

const isRoot = process.getuid?.() === 0;

export function postgresUnavailable(): string | undefined {
  if (binDir() === undefined) return 'PostgreSQL server binaries not installed (Debian package postgresql)';
  if (isRoot && spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status !== 0) return 'no postgres system user to run the server as';
  return undefined;
}

/** The postgres system user's uid and gid when we are root (the server and initdb refuse root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (!isRoot) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

export async function startPostgres(opts: { fsync?: boolean } = {}): Promise<PostgresServer> {
  const bin = binDir();
  if (bin === undefined) throw new Error(postgresUnavailable());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-pg-'));
  const data = path.join(dir, 'data');
  const user = 'tapline';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(path.join(dir, 'pw'), password);
  if (isRoot) {
    fs.chmodSync(dir, 0o755);
    spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  }
  const as = serverUser();
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', user, '--pwfile', path.join(dir, 'pw'), '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8'], { encoding: 'utf8', ...(as ?? {}) });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr}${init.stdout}`);
  const port = await freePortBlock(1);
  let proc: Proc | undefined;
  let runs = 0;
  const start = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', `fsync=${opts.fsync === false ? 'off' : 'on'}`, '-c', 'max_connections=50'];
    proc = startProc('postgres', path.join(bin, 'postgres'), args, path.join(dir, `server-${runs++}.log`), as ?? {});
    await proc.waitFor(/database system is ready to accept connections/, 30_000, 'PostgreSQL start');
  };
  const stop = async (): Promise<void> => {
    // SIGINT: PostgreSQL's "fast" shutdown (clients disconnected, a clean checkpoint).
    await proc?.stop(15_000, 'SIGINT');
    proc = undefined;
    await sleep(50);
  };
  await start();
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop,
    start,
    destroy: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
