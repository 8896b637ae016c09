/**
 * The srtp bench's captures, in pairs: the same calls with clear RTP (plain RTP/AVP SDP) and with SRTP (RTP/SAVP
 * SDP with each party's SDES key, RTP protected by libsrtp2 through test/bench/srtp-protect.py, not by Tapline).
 * The generator writes the SDES capture with clear RTP and the keys in its truth; the script protects each
 * sender's packets with the key of its own SDP (and MKI 1, as the `|2^31|1:1` line says).
 *
 * Generated into os.tmpdir() once and reused while the scenario, the payloads, the generator's sources and the
 * script stay the same (the G.711 pair is ~570 MB and takes ~30 s to make); written under temporary names and
 * renamed, so an interrupted run never leaves half a pair to reuse.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BenchNotAvailable } from './types';

// Types only: the generator is loaded on use, so a missing one makes this bench "not available".
type GenerateCalls = typeof import('../../plugins/source-generator/generate').generateCalls;
type GeneratorOptions = import('../../plugins/source-generator/scenario').GeneratorOptions;
type CallTruth = import('../../plugins/source-generator/truth').CallTruth;

export const PREFIX = 'tapline-bench-srtp-';

/** What the generator wrote (the same for both files of a pair, except the SRTP file's frame sizes). */
export interface Expected {
  frames: number;
  calls: number;
  answered: number;
  rtpPackets: number;
  /** RTP packets × ptime: seconds of audio the streams carry. */
  audioSec: number;
  captureSec: number;
}

export interface CapturePair {
  clear: string;
  srtp: string;
  expected: Expected;
  /** Set when made in this run (else reused). */
  generatedSec?: number;
  protectSec?: number;
}

/** The repository root (where package.json is), from dist/test/bench or test/bench. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function protectScript(): string {
  return path.join(repoRoot(), 'test', 'bench', 'srtp-protect.py');
}

function loadGenerator(): { generateCalls: GenerateCalls; dir: string } {
  const mod = path.resolve(__dirname, '../../plugins/source-generator/generate');
  let file: string;
  try {
    file = require.resolve(mod);
  } catch {
    throw new BenchNotAvailable(`call generator ${path.relative(process.cwd(), mod)} not found`);
  }
  const m = require(file) as { generateCalls?: unknown };
  if (typeof m.generateCalls !== 'function') throw new BenchNotAvailable(`${path.relative(process.cwd(), file)} does not export generateCalls()`);
  return { generateCalls: m.generateCalls as GenerateCalls, dir: path.dirname(file) };
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Cache key: the scenario (payload bytes included), the generator's sources and the protection script. */
function cacheKey(scenario: GeneratorOptions, genDir: string): string {
  const h = createHash('sha256').update(JSON.stringify({ ...scenario, payloads: undefined }));
  if (scenario.payloads !== undefined) {
    h.update(`${scenario.payloads.encoding}/${scenario.payloads.clockRate}`);
    for (const f of scenario.payloads.frames) h.update(String(f.length)).update(f);
  }
  for (const f of fs.readdirSync(genDir).sort()) {
    if (/\.(js|ts)$/.test(f) && !/\.test\./.test(f)) h.update(f).update(fs.readFileSync(path.join(genDir, f)));
  }
  h.update(fs.readFileSync(protectScript()));
  return h.digest('hex').slice(0, 16);
}

/** Removes this bench's cached files whose key is not in `keep` (other scenarios / sources: hundreds of MB). */
export function pruneCaptures(keep: readonly string[]): void {
  for (const f of fs.readdirSync(os.tmpdir())) {
    if (!f.startsWith(PREFIX) || f.includes('.partial-') || keep.some((k) => f.includes(k))) continue;
    if (/\.(pcap|json)$/.test(f)) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  }
}

/** libsrtp2 (srtp-protect.py) over `input`: each flow's RTP protected with its sender's key. */
async function protect(python: string, input: string, output: string, calls: readonly CallTruth[]): Promise<number> {
  const flows: Array<{ src: string; key: string; mki: string }> = [];
  for (const c of calls) {
    for (const dir of ['caller', 'callee'] as const) {
      const d = c.media[dir];
      const k = c.srtp?.[dir];
      if (d === undefined) continue;
      if (k === undefined) throw new Error(`generator truth of call ${c.callId} has no SDES key for the ${dir}`);
      flows.push({ src: `${d.src.ip}:${d.src.port}`, key: Buffer.from(k.keySalt, 'base64').toString('hex'), mki: k.mki ?? '' });
    }
  }
  const keysFile = `${output}.keys.json`;
  fs.writeFileSync(keysFile, JSON.stringify({ flows }));
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(python, [protectScript(), input, output, keysFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    if (code !== 0) throw new Error(`srtp-protect.py exited with ${code}: ${stderr.trim().slice(0, 1000)}`);
    return (JSON.parse(stdout) as { protected: number }).protected;
  } finally {
    fs.rmSync(keysFile, { force: true });
  }
}

function expectedOf(calls: readonly CallTruth[], frames: number, rtpPackets: number, ptimeMs: number): Expected {
  let first = Infinity;
  let last = -Infinity;
  for (const c of calls) {
    first = Math.min(first, c.start);
    last = Math.max(last, c.end);
  }
  return {
    frames,
    calls: calls.length,
    answered: calls.filter((c) => c.disposition === 'answered' || c.disposition === 'no-bye').length,
    rtpPackets,
    audioSec: (rtpPackets * ptimeMs) / 1000,
    captureSec: Math.max(0, last - first) / 1e6,
  };
}

/** The clear/SRTP pair of `scenario` (its `srtp` is set here), made or reused. */
export async function capturePair(name: string, scenario: GeneratorOptions, python: string): Promise<CapturePair & { key: string }> {
  const gen = loadGenerator();
  const key = cacheKey(scenario, gen.dir);
  const base = path.join(os.tmpdir(), `${PREFIX}${name}-${key}`);
  const files = { clear: `${base}-clear.pcap`, srtp: `${base}-srtp.pcap`, expected: `${base}.expected.json` };
  if (fs.existsSync(files.clear) && fs.existsSync(files.srtp) && fs.existsSync(files.expected)) {
    return { key, clear: files.clear, srtp: files.srtp, expected: JSON.parse(fs.readFileSync(files.expected, 'utf8')) as Expected };
  }
  const partial = (f: string): string => f.replace(/\.pcap$/, `.partial-${process.pid}.pcap`);
  const tmp = { clear: partial(files.clear), sdes: partial(`${base}-sdes.pcap`), srtp: partial(files.srtp) };
  try {
    const t0 = process.hrtime.bigint();
    const clear = await gen.generateCalls({ ...scenario, srtp: false }, tmp.clear);
    const sdes = await gen.generateCalls({ ...scenario, srtp: true }, tmp.sdes);
    const generatedSec = seconds(t0);
    if (sdes.totals.rtpPackets !== clear.totals.rtpPackets || sdes.totals.frames !== clear.totals.frames) {
      throw new Error(`the SDES capture differs from the clear one: ${sdes.totals.rtpPackets} vs ${clear.totals.rtpPackets} RTP packets`);
    }
    const t1 = process.hrtime.bigint();
    const n = await protect(python, tmp.sdes, tmp.srtp, sdes.calls);
    const protectSec = seconds(t1);
    if (n !== sdes.totals.rtpPackets) throw new Error(`srtp-protect.py protected ${n} packets, the generator wrote ${sdes.totals.rtpPackets} RTP packets`);
    const expected = expectedOf(clear.calls, clear.totals.frames, clear.totals.rtpPackets, clear.scenario.ptimeMs);
    fs.writeFileSync(files.expected, JSON.stringify(expected));
    fs.renameSync(tmp.clear, files.clear);
    fs.renameSync(tmp.srtp, files.srtp);
    return { key, clear: files.clear, srtp: files.srtp, expected, generatedSec, protectSec };
  } finally {
    for (const f of Object.values(tmp)) fs.rmSync(f, { force: true });
  }
}
