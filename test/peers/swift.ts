/**
 * A real OpenStack Swift "all in one" for the S3 tests (Debian 12's Swift 2.30): proxy, account, container and object
 * servers on 127.0.0.1, S3 through the proxy's s3api middleware with tempauth's users, everything (configs, rings,
 * the one device, logs) in one temporary folder. /etc/swift and the system services are never used.
 *
 * What it takes, found by reading Swift 2.30's source and by experiment (swift.test.ts proves it):
 *  - swift.conf (hash prefix/suffix, storage policies, constraints) is read from utils.SWIFT_CONF_FILE, fixed at
 *    /etc/swift/swift.conf: the servers do not take it from `swift_dir` (only rings, memcache.conf and mime.types
 *    are), and no environment variable moves it. Swift's own utils.set_swift_dir() does move it (swift-recon uses
 *    it), so each server runs under a few lines of Python that call it and then run the /usr/bin script. Storage
 *    policies and constraints are read when their modules are first imported, which the server script does after.
 *  - `/usr/bin/python3` by path: a python3 earlier on PATH (pyenv) has no swift package.
 *  - Each server in the foreground as one process (`workers = 0`), `-v` adds a console logger: its log lines and
 *    access log go to stderr, into log/<server>.<n>.log. The syslog handler Swift always adds is pointed at an
 *    unused UDP port here (without /dev/log it would send to localhost:514, with it to the host's syslog).
 *  - Proxy pipeline: catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy
 *    slo dlo versioned_writes proxy-logging proxy-server. s3api must precede tempauth (it checks), and it needs
 *    slo for multipart uploads. tempauth refuses to check an S3 signature without a cache in the request
 *    ("Memcache required"), but a memcached need not run: the cache filter points at an unused port, its client
 *    marks the server error-limited and every lookup misses, so tempauth checks the signature against its user
 *    list each time. Those cache errors are silenced (log_level CRITICAL on that filter only). Swift's auth URL
 *    (/auth/v1.0) answers 503 for the same reason; only S3 is served.
 *  - aws-sdk v3 (3.729+) sends streamed bodies aws-chunked with a trailing CRC32 by default, which s3api 2.30
 *    refuses ("NotImplemented: Transfering payloads in multiple chunks using aws-chunked is not supported"):
 *    s3ClientConfig() asks for checksums only when required. Buffer bodies work either way.
 *  - DeleteObjects (multi-delete) is refused with "InvalidRequest: Missing required header for this request:
 *    Content-MD5": s3api 2.30 requires Content-MD5 and the SDK sends a CRC32 header instead. A client that needs
 *    it against this Swift must add Content-MD5 itself (swift.test.ts shows a build-step middleware doing so).
 *  - Data dir: the object server keeps metadata in user xattrs, so the folder's filesystem must have them
 *    (ext4 /tmp here does; startSwift checks).
 *  - No replicator, updater or auditor runs: one replica needs none, and the object and container servers update
 *    container listings and the account synchronously.
 *
 * Readiness: every server's /healthcheck answers (each pipeline has the filter), then an S3 ListBuckets. The
 * backends are checked first because the proxy error-limits a backend that refused it 10 times (60 s of 503s).
 * stop() sends SIGTERM to all four at once (each exits within 2 s, measured), SIGKILL after 5 s.
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ListBucketsCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { freePortBlock } from './ports';
import { sleep, startProc, type Proc } from './proc';

export interface SwiftS3 {
  /** The proxy: http://127.0.0.1:<port> (path-style S3, and /healthcheck, /info). */
  endpoint: string;
  region: string;
  /** tempauth's `account:user`, which s3api takes as the access key. */
  accessKeyId: string;
  secretAccessKey: string;
  /** Its folder: etc/ (configs, rings, swift.conf), srv/d1 (the device), log/. */
  dir: string;
  /** Stops every server it started; the data stays. */
  stop(): Promise<void>;
  /** Starts them again on the same ports; resolves when S3 answers. */
  start(): Promise<void>;
  /** stop() and remove the folder. */
  destroy(): Promise<void>;
}

const PYTHON = '/usr/bin/python3';
const SERVERS = ['account', 'container', 'object', 'proxy'] as const;
type Server = (typeof SERVERS)[number];
const RINGS = ['account', 'container', 'object'] as const;
const REGION = 'us-east-1';
const ACCOUNT = 'test';
const USER = 'tester';
const KEY = 'testing';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

const bin = (s: Server): string => `/usr/bin/swift-${s}-server`;

/** Why Swift cannot run here, or undefined when it can. */
export function swiftUnavailable(): string | undefined {
  const need = [...SERVERS.map(bin), '/usr/bin/swift-ring-builder', PYTHON];
  const missing = need.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) return `not installed: ${missing.join(', ')} (Debian packages swift, swift-proxy, swift-account, swift-container, swift-object)`;
  if (process.getuid?.() !== 0) return 'needs root (the servers run with user = root)';
  return undefined;
}

/** The S3 client settings that work against this Swift (see the checksum notes above). */
export function s3ClientConfig(s: SwiftS3): S3ClientConfig {
  return {
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

interface Ports {
  proxy: number;
  account: number;
  container: number;
  object: number;
  /** Nothing listens here: the cache filter's memcached and the syslog handler's UDP target. */
  unused: number;
}

/** Runs a Swift script with swift.conf taken from `swift_dir` (argv: swift_dir, script, its arguments). */
const LAUNCHER = [
  'import runpy, sys',
  'from swift.common.utils import set_swift_dir',
  'set_swift_dir(sys.argv[1])',
  'sys.argv = sys.argv[2:]',
  "runpy.run_path(sys.argv[0], run_name='__main__')",
].join('\n');

function ini(sections: Record<string, Record<string, string | number>>): string {
  return Object.entries(sections)
    .map(([name, kv]) => [`[${name}]`, ...Object.entries(kv).map(([k, v]) => `${k} = ${v}`), ''].join('\n'))
    .join('\n');
}

function common(dir: string, ports: Ports, server: Server): Record<string, string | number> {
  return {
    bind_ip: '127.0.0.1',
    bind_port: ports[server],
    workers: 0,
    user: 'root',
    swift_dir: path.join(dir, 'etc'),
    log_name: `${server}-server`,
    log_udp_host: '127.0.0.1',
    log_udp_port: ports.unused,
  };
}

function backendConfig(dir: string, ports: Ports, server: Exclude<Server, 'proxy'>): string {
  return ini({
    DEFAULT: { ...common(dir, ports, server), devices: path.join(dir, 'srv'), mount_check: 'false' },
    'pipeline:main': { pipeline: `healthcheck ${server}-server` },
    [`app:${server}-server`]: { use: `egg:swift#${server}` },
    'filter:healthcheck': { use: 'egg:swift#healthcheck' },
  });
}

const PROXY_PIPELINE =
  'catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server';

function proxyConfig(dir: string, ports: Ports): string {
  const filters = ['catch_errors', 'gatekeeper', 'healthcheck', 'listing_formats', 'copy', 'slo', 'dlo', 'versioned_writes'];
  return ini({
    DEFAULT: common(dir, ports, 'proxy'),
    'pipeline:main': { pipeline: PROXY_PIPELINE },
    'app:proxy-server': { use: 'egg:swift#proxy', allow_account_management: 'true', account_autocreate: 'true' },
    'filter:proxy-logging': { use: 'egg:swift#proxy_logging' },
    'filter:cache': { use: 'egg:swift#memcache', memcache_servers: `127.0.0.1:${ports.unused}`, log_level: 'CRITICAL' },
    'filter:s3api': { use: 'egg:swift#s3api', location: REGION },
    'filter:tempauth': { use: 'egg:swift#tempauth', [`user_${ACCOUNT}_${USER}`]: `${KEY} .admin` },
    ...Object.fromEntries(filters.map((f) => [`filter:${f}`, { use: `egg:swift#${f}` }])),
  });
}

const run = promisify(execFile);

/** One ring per server type, part power 8, one replica, the one device d1 on that server's port. */
async function buildRings(etc: string, ports: Ports): Promise<void> {
  await Promise.all(
    RINGS.map(async (r) => {
      const builder = path.join(etc, `${r}.builder`);
      for (const args of [['create', '8', '1', '1'], ['add', `r1z1-127.0.0.1:${ports[r]}/d1`, '1'], ['rebalance']]) {
        try {
          await run('/usr/bin/swift-ring-builder', [builder, ...args], { encoding: 'utf8' });
        } catch (e) {
          const x = e as { stdout?: string; stderr?: string; message: string };
          throw new Error(`swift-ring-builder ${r} ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
        }
      }
    }),
  );
}

async function healthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthcheck`, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

/**
 * Writes the configs and rings into `opts.dir` (or a new temporary folder), starts the four servers and resolves
 * when S3 answers. Data already in the folder's srv/ is kept and served (the rings map every partition to d1).
 */
export async function startSwift(opts: { dir?: string } = {}): Promise<SwiftS3> {
  const why = swiftUnavailable();
  if (why !== undefined) throw new Error(`startSwift: ${why}`);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-swift-')) : path.resolve(opts.dir);
  const etc = path.join(dir, 'etc');
  const device = path.join(dir, 'srv', 'd1');
  for (const d of [etc, device, path.join(dir, 'log')]) fs.mkdirSync(d, { recursive: true });

  // Swift keeps object metadata in user xattrs; without them every PUT fails deep in the object server.
  const xattr = spawnSync(PYTHON, ['-c', 'import os, sys; os.setxattr(sys.argv[1], "user.tapline", b"1"); os.removexattr(sys.argv[1], "user.tapline")', device], { encoding: 'utf8' });
  if (xattr.status !== 0) {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`startSwift: the filesystem of ${dir} has no user xattrs, which Swift needs; pass a dir on ext4/xfs (${xattr.stderr.trim()})`);
  }

  const base = await freePortBlock(5);
  const ports: Ports = { proxy: base, account: base + 1, container: base + 2, object: base + 3, unused: base + 4 };
  const endpoint = `http://127.0.0.1:${ports.proxy}`;
  const s3: SwiftS3 = {
    endpoint,
    region: REGION,
    accessKeyId: `${ACCOUNT}:${USER}`,
    secretAccessKey: KEY,
    dir,
    stop: async () => {
      const ps = procs;
      procs = [];
      await Promise.all(ps.map((p) => p.stop(STOP_GRACE_MS, 'SIGTERM')));
    },
    start: () => start(),
    destroy: async () => {
      await s3.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  fs.writeFileSync(
    path.join(etc, 'swift.conf'),
    ini({
      'swift-hash': { swift_hash_path_suffix: 'tapline-test', swift_hash_path_prefix: 'tapline-test' },
      // Named so a test can see (GET /info) that this file, not /etc/swift/swift.conf, was read.
      'storage-policy:0': { name: 'tapline-test', default: 'yes' },
    }),
  );
  for (const s of RINGS) fs.writeFileSync(path.join(etc, `${s}-server.conf`), backendConfig(dir, ports, s));
  fs.writeFileSync(path.join(etc, 'proxy-server.conf'), proxyConfig(dir, ports));

  let procs: Proc[] = [];
  let runs = 0;
  const logs = (): string => procs.map((p) => `--- ${p.name}:\n${p.tail(20)}`).join('\n');

  async function waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const check = (what: string): void => {
      const dead = procs.find((p) => p.exited);
      if (dead !== undefined) throw new Error(`swift: ${dead.name} exited while waiting for ${what}; logs:\n${logs()}`);
      if (Date.now() > deadline) throw new Error(`swift: no ${what} within ${READY_TIMEOUT_MS} ms; logs:\n${logs()}`);
    };
    for (const s of SERVERS) {
      while (!(await healthy(ports[s]))) {
        check(`${s}-server /healthcheck`);
        await sleep(100);
      }
    }
    const client = new S3Client({ ...s3ClientConfig(s3), maxAttempts: 1 });
    try {
      for (;;) {
        try {
          await client.send(new ListBucketsCommand({}));
          return;
        } catch (e) {
          check(`S3 answer (last: ${(e as Error).name}: ${(e as Error).message})`);
          await sleep(200);
        }
      }
    } finally {
      client.destroy();
    }
  }

  async function start(): Promise<void> {
    if (procs.length > 0) return;
    const n = runs++;
    procs = SERVERS.map((s) =>
      startProc(`${s}-server`, PYTHON, ['-c', LAUNCHER, etc, bin(s), path.join(etc, `${s}-server.conf`), '-v'], path.join(dir, 'log', `${s}-server.${n}.log`), {
        cwd: dir,
        group: true,
      }),
    );
    try {
      await waitReady();
    } catch (e) {
      await s3.stop();
      throw e;
    }
  }

  try {
    await buildRings(etc, ports);
    await start();
  } catch (e) {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return s3;
}
