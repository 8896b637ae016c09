#!/usr/bin/env node
/*
 * Builds the optional native SRTP addon (native/srtp) with node-gyp. Run by `npm install` (the package's install
 * script) and by `npm run build` with --if-stale (rebuild only when the C source is newer than the addon).
 *
 * Offline-safe: when Node's own headers are installed beside it (<prefix>/include/node, as in the Debian/NodeSource
 * and nodejs.org packages) node-gyp is pointed at them instead of downloading. The addon is optional: if it cannot
 * be built this prints why and exits 0, and Tapline decrypts SRTP on its TypeScript path (slower).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const dir = join(__dirname, 'srtp');
const addon = join(dir, 'build', 'Release', 'srtp_native.node');
const sources = ['srtp_native.c', 'binding.gyp'].map((f) => join(dir, f));

function say(msg) {
  process.stderr.write(`tapline: ${msg}\n`);
}

if (process.env.TAPLINE_SRTP_NATIVE === '0') {
  say('native SRTP addon build skipped (TAPLINE_SRTP_NATIVE=0): SRTP uses the TypeScript path');
  process.exit(0);
}
if (process.argv.includes('--if-stale') && existsSync(addon)) {
  const built = statSync(addon).mtimeMs;
  if (sources.every((f) => statSync(f).mtimeMs <= built)) process.exit(0);
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

const gyp = nodeGyp();
if (gyp === undefined) {
  say('native SRTP addon not built: node-gyp not found (it comes with npm); SRTP uses the TypeScript path');
  process.exit(0);
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
  say(`native SRTP addon not built (node-gyp exit ${r.status ?? r.signal}); SRTP uses the TypeScript path. node-gyp said:\n${tail}`);
  process.exit(0);
}
say(`native SRTP addon built: ${addon}`);
