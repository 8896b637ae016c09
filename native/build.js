#!/usr/bin/env node
/*
 * Builds the optional native addons with node-gyp. Run by `npm install` (the package's install script) and by
 * `npm run build` with --if-stale (rebuild an addon only when its C source is newer than the built addon):
 *   native/srtp  SRTP decryption on Node's own OpenSSL (TAPLINE_SRTP_NATIVE=0 skips it; the TypeScript path runs)
 *   native/pcap  live capture on libpcap for plugins/source-live (needs libpcap-dev; TAPLINE_PCAP_NATIVE=0 skips it;
 *                without it source-live refuses to start and says why, everything else works)
 *
 * Offline-safe: when Node's own headers are installed beside it (<prefix>/include/node, as in the Debian/NodeSource
 * and nodejs.org packages) node-gyp is pointed at them instead of downloading. Each addon is optional: if it cannot
 * be built this prints why and goes on, and the script exits 0.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const ADDONS = [
  { dir: 'srtp', target: 'srtp_native', env: 'TAPLINE_SRTP_NATIVE', what: 'native SRTP addon', without: 'SRTP uses the TypeScript path' },
  { dir: 'pcap', target: 'pcap_native', env: 'TAPLINE_PCAP_NATIVE', what: 'native libpcap addon', without: 'live capture (source-live) is unavailable' },
];

function say(msg) {
  process.stderr.write(`tapline: ${msg}\n`);
}

/** node-gyp: the one npm passes to install scripts, else the one bundled with npm next to this node. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    resolve(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c !== undefined && c !== '' && existsSync(c));
}

function build(a) {
  const dir = join(__dirname, a.dir);
  const addon = join(dir, 'build', 'Release', `${a.target}.node`);
  const sources = [`${a.target}.c`, 'binding.gyp'].map((f) => join(dir, f));
  if (process.env[a.env] === '0') {
    say(`${a.what} build skipped (${a.env}=0): ${a.without}`);
    return;
  }
  if (process.argv.includes('--if-stale') && existsSync(addon)) {
    const built = statSync(addon).mtimeMs;
    if (sources.every((f) => statSync(f).mtimeMs <= built)) return;
  }
  const gyp = nodeGyp();
  if (gyp === undefined) {
    say(`${a.what} not built: node-gyp not found (it comes with npm); ${a.without}`);
    return;
  }
  const args = [gyp, 'rebuild', `--directory=${dir}`];
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(addon)) {
    // The compiler's own complaint, not node-gyp's stack trace.
    const lines = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n');
    const errors = lines.filter((l) => /error|not found|No such file/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node|not ok)/.test(l));
    const tail = (errors.length > 0 ? errors.slice(0, 6) : lines.slice(-8)).join('\n');
    const hint = a.dir === 'pcap' && /pcap\.h/.test(tail) ? ' (install libpcap-dev)' : '';
    say(`${a.what} not built (node-gyp exit ${r.status ?? r.signal})${hint}; ${a.without}. node-gyp said:\n${tail}`);
    return;
  }
  say(`${a.what} built: ${addon}`);
}

for (const a of ADDONS) build(a);
