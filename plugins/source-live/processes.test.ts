/**
 * source-live as a process sees it: nothing left keeping the process alive after stop, the privileges capture
 * needs (setpriv: an unprivileged user with and without CAP_NET_RAW), and interfaces that go down or disappear.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { LiveSource } from './live-source';
import { recordingSink, skipUnlessCapture, waitFor } from './test-support';

const LIVE_SOURCE = path.join(__dirname, 'live-source.js');

/**
 * A child that captures on lo, sends itself `count` datagrams, waits for them, then (mode 'stop') aborts and awaits
 * run() and does nothing more, or (mode 'keep') leaves the capture running. Prints one JSON line.
 */
function childScript(mode: 'stop' | 'keep', count: number): string {
  return `
const { LiveSource } = require(${JSON.stringify(LIVE_SOURCE)});
const dgram = require('node:dgram');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
(async () => {
  const rx = dgram.createSocket('udp4');
  await new Promise((r) => rx.bind(0, '127.0.0.1', r));
  const port = rx.address().port;
  let frames = 0;
  const sink = { frame() { frames++; }, drop() {}, skip() {}, ipPacket() {}, sip() {}, media() {}, writable() { return undefined; } };
  const ac = new AbortController();
  let ready;
  const isReady = new Promise((r) => (ready = r));
  const opts = { interfaces: ['lo'], filter: 'udp dst port ' + port, snaplen: 65535, bufferBytes: 1 << 20, promiscuous: false, statsEverySec: 0.05 };
  const run = new LiveSource(opts).run(sink, ac.signal, { ready });
  const failed = await Promise.race([isReady.then(() => undefined), run.then(() => undefined, (e) => e)]);
  if (failed) { out({ error: failed.code, message: failed.message }); rx.close(); return; }
  for (let i = 0; i < ${count}; i++) rx.send(Buffer.alloc(100, i), port, '127.0.0.1');
  const end = Date.now() + 3000;
  while (frames < ${count} && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  rx.close();
  if (${JSON.stringify(mode)} === 'keep') { out({ capturing: true, frames }); return; }
  const t = Date.now();
  ac.abort();
  const res = await run;
  out({ stopped: true, frames: res.frames, stopMs: Date.now() - t });
})();
`;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Array<Record<string, unknown>>;
  ms: number;
  stderr: string;
}

/** Runs a child (optionally under setpriv), killing it after `killAfterMs`; resolves when it has exited. */
function runChild(script: string, killAfterMs: number, prefix: string[] = []): Promise<ChildResult> {
  return new Promise((resolve) => {
    const argv = [...prefix, process.execPath, '-e', script];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t0 = Date.now();
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      const lines = out
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, lines, ms: Date.now() - t0, stderr });
    });
  });
}

describe('source-live: the process', function () {
  before(function () {
    skipUnlessCapture(this);
  });

  it('after stop, run() resolves and nothing keeps the process alive: it exits by itself', async () => {
    const r = await runChild(childScript('stop', 20), 8000);
    assert.equal(r.signal, null, `child was killed; stderr: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.lines.map((l) => [l['stopped'], l['frames']]), [[true, 20]]);
  });

  it('a worker thread terminated with a capture open closes it cleanly (no crash, no ring left mapped)', async () => {
    // In a child process, so that a crash would fail this test instead of killing the test runner.
    const script = `
const { Worker } = require('node:worker_threads');
const fs = require('node:fs');
const rings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('socket:')).length;
const w = new Worker(\`
  const { InterfaceCapture } = require(\${JSON.stringify(${JSON.stringify(path.join(__dirname, '..', '..', 'core', 'net', 'interface-capture.js'))})});
  InterfaceCapture.open({ interface: 'lo', filter: 'udp port 9', snaplen: 65535, bufferBytes: 1 << 20, promiscuous: false, interfaceId: 0 }, () => {}, () => {});
  require('node:worker_threads').parentPort.postMessage('open');
\`, { eval: true });
w.on('message', async () => {
  const open = rings();
  await w.terminate();
  process.stdout.write(JSON.stringify({ open, after: rings() }) + '\\n');
});
`;
    const r = await runChild(script, 8000);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.lines, [{ open: 1, after: 0 }]);
  });

  it('while capturing, the capture keeps the process alive (the check above is not vacuous)', async () => {
    const r = await runChild(childScript('keep', 5), 2500);
    assert.equal(r.signal, 'SIGKILL', 'still running when killed');
    assert.deepEqual(r.lines, [{ capturing: true, frames: 5 }]);
  });
});

describe('source-live: privileges (setpriv, user nobody)', function () {
  const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  const withNetRaw = [...nobody, '--inh-caps', '+net_raw', '--ambient-caps', '+net_raw'];

  before(function () {
    skipUnlessCapture(this);
    if (process.getuid?.() !== 0) {
      console.warn('source-live: privilege tests skipped: they switch users with setpriv and need root');
      this.skip();
    }
    const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', `require(${JSON.stringify(LIVE_SOURCE)})`], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      console.warn(`source-live: privilege tests skipped: user nobody cannot run ${LIVE_SOURCE} (${probe.error?.message ?? probe.stderr.trim().split('\n')[0]})`);
      this.skip();
    }
  });

  it('an unprivileged user with only CAP_NET_RAW captures', async () => {
    const r = await runChild(childScript('stop', 10), 8000, withNetRaw);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.lines.map((l) => [l['stopped'], l['frames']]), [[true, 10]]);
  });

  it('without CAP_NET_RAW the error says that root or CAP_NET_RAW is needed', async () => {
    const r = await runChild(childScript('stop', 10), 8000, nobody);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.lines.length, 1);
    const line = r.lines[0] as { error: string; message: string };
    assert.equal(line.error, ErrorCodes.CAPTURE_PERMISSION);
    assert.match(line.message, /^capturing on "lo" needs root or CAP_NET_RAW \(libpcap: .*Operation not permitted\)/);
    assert.match(line.message, /AmbientCapabilities=CAP_NET_RAW/);
  });
});

describe('source-live: interfaces that go down or disappear (a veth pair)', function () {
  const a = `tlv${process.pid % 10000}a`;
  const b = `tlv${process.pid % 10000}b`;
  const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });

  before(function () {
    skipUnlessCapture(this);
    const r = ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    if (r.error !== undefined || r.status !== 0) {
      console.warn(`source-live: interface tests skipped: cannot create a veth pair (${r.error?.message ?? r.stderr.trim()})`);
      this.skip();
    }
    ip('link', 'set', a, 'up');
    ip('link', 'set', b, 'up');
  });
  after(() => {
    ip('link', 'del', a); // removes the peer too; harmless when the test already deleted it
  });

  /** Raw Ethernet frames with the local experimental EtherType 0x88b5 into the peer: no IP traffic at all. */
  function sendFrames(n: number): void {
    const py = `import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((${JSON.stringify(b)},0))\nfor i in range(${n}): s.send(b'\\xff'*6+b'\\x02'*6+b'\\x88\\xb5'+bytes([i])*50)`;
    const r = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }

  it('capture goes on when the interface goes down and up again, and run() rejects with CAPTURE_LIVE when it disappears', async function () {
    if (spawnSync('python3', ['-c', 'import socket; socket.AF_PACKET']).status !== 0) {
      console.warn('source-live: skipped: python3 with AF_PACKET is needed to send raw frames');
      this.skip();
    }
    const warnings: string[] = [];
    const log = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {}, child() { return log; } };
    const sink = recordingSink();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const run = new LiveSource({ interfaces: [a], filter: 'ether proto 0x88b5', snaplen: 65535, bufferBytes: 1 << 20, promiscuous: false, statsEverySec: 1 }, { log }).run(sink, new AbortController().signal, { ready });
    const outcome = run.then(
      () => undefined,
      (e: unknown) => e,
    );
    await isReady;
    sendFrames(5);
    await waitFor(() => sink.frames.length >= 5, 3000);
    assert.equal(sink.frames.length, 5);
    ip('link', 'set', a, 'down');
    await waitFor(() => warnings.length > 0, 2000);
    ip('link', 'set', a, 'up');
    ip('link', 'set', b, 'up');
    await waitFor(() => warnings.length > 0, 2000);
    assert.deepEqual(warnings, [`capture on "${a}": the interface went down; capture resumes when it comes back up`]);
    await new Promise((r) => setTimeout(r, 300)); // the link comes up
    sendFrames(5);
    await waitFor(() => sink.frames.length >= 10, 3000);
    assert.equal(sink.frames.length, 10, 'frames after the interface came back');
    ip('link', 'del', a);
    const err = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('run() did not end'), 3000))]);
    assert.ok(isTaplineError(err, ErrorCodes.CAPTURE_LIVE), String(err));
    assert.equal(err.message, `capture on "${a}" failed: The interface disappeared`);
  });
});
