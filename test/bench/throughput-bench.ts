/**
 * Throughput on every core (call workers): the record command on generated captures of 200 and 2,000 concurrent
 * 60 s PCMU calls, with one call worker (everything in the main thread) and with two, beside `tshark -q -z
 * rtp,streams` on the same file (which only analyses: no decode, no files). Measured in the same run:
 * - RTP packets per CPU-second (user + system time of the whole process) with one worker, over tshark's;
 * - the wall-clock speed-up of two workers over one;
 * - that the recordings are byte-identical whatever the number of workers (every WAV hashed, by Call-ID);
 * - memory per active call (peak RSS minus that of the same command on a tiny capture, over the calls).
 * Each configuration runs twice and the faster run is reported. Each capture is generated into os.tmpdir() and
 * deleted with the recordings afterwards.
 *
 * Run alone: node dist/test/bench/throughput-bench.js (after npx tsc -p tsconfig.json)
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BenchNotAvailable, type BenchResult } from './types';
import { cliMain, loadGenerator, runCommand, type CommandRun, type SummaryDoc } from './recording-bench';

const PREFIX = 'tapline-bench-throughput-';
const KiB = 1024;

interface Scenario {
  calls: number;
  durationSec: number;
}

const SCENARIOS: Scenario[] = [
  { calls: 200, durationSec: 60 },
  { calls: 2000, durationSec: 60 },
];
const TINY: Scenario = { calls: 2, durationSec: 2 };
/** Runs of each recording; the fastest is reported. */
const RUNS = 2;

function cpu(r: CommandRun): number {
  return (r.userSec ?? NaN) + (r.sysSec ?? NaN);
}

async function generate(s: Scenario, file: string): Promise<{ rtpPackets: number }> {
  const { generateCalls } = loadGenerator();
  const truth = await generateCalls({ calls: s.calls, concurrency: s.calls, durationSec: s.durationSec, codec: 'PCMU', seed: 1 }, file);
  return { rtpPackets: truth.totals.rtpPackets };
}

interface Recorded {
  run: CommandRun;
  doc: SummaryDoc;
  /** Call-ID → sha256 of its WAV. */
  wavs: Map<string, string>;
}

async function record(pcap: string, work: string, workers: number): Promise<Recorded> {
  const out = path.join(work, `out-${workers}`);
  const run = await runCommand(process.execPath, [cliMain(), 'record', '--pcap', pcap, '--out', out, '--no-progress', '--json', '--workers', String(workers)], { cwd: work, keep: true });
  if (run.code !== 0) throw new Error(`record --workers ${workers} exited with ${run.signal ?? run.code}: ${run.stderr.trim().slice(0, 800)}`);
  const doc = JSON.parse(run.stdout) as SummaryDoc;
  const wavs = new Map<string, string>();
  for (const r of doc.recordings) {
    if (r.audio === undefined) continue;
    const file = path.isAbsolute(r.audio) ? r.audio : path.join(out, r.audio);
    wavs.set(r.callId, createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
  }
  fs.rmSync(out, { recursive: true, force: true });
  return { run, doc, wavs };
}

function differing(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, h] of a) if (b.get(k) !== h) out.push(k);
  for (const k of b.keys()) if (!a.has(k)) out.push(k);
  return out;
}

export async function benchThroughput(): Promise<BenchResult[]> {
  const main = cliMain();
  void main;
  const tshark = fs.existsSync('/usr/bin/tshark') ? '/usr/bin/tshark' : undefined;
  if (tshark === undefined) throw new BenchNotAvailable('tshark not installed (the reference)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
  const results: BenchResult[] = [];
  try {
    const tinyPcap = path.join(work, 'tiny.pcap');
    await generate(TINY, tinyPcap);
    const empty = await record(tinyPcap, work, 1);
    const emptyRss = empty.run.peakRss ?? NaN;
    for (const s of SCENARIOS) {
      const pcap = path.join(work, `calls-${s.calls}.pcap`);
      const t0 = Date.now();
      const { rtpPackets } = await generate(s, pcap);
      const genSec = (Date.now() - t0) / 1000;
      const ts = await runCommand(tshark, ['-n', '-q', '-r', pcap, '-z', 'rtp,streams']);
      if (ts.code !== 0) throw new Error(`tshark exited with ${ts.code}: ${ts.stderr.slice(0, 300)}`);
      // Each recorded RUNS times, the fastest kept (shared machines are noisy); every run's WAVs compared.
      const ones: Recorded[] = [];
      const twos: Recorded[] = [];
      for (let i = 0; i < RUNS; i++) {
        ones.push(await record(pcap, work, 1));
        twos.push(await record(pcap, work, 2));
      }
      const fastest = (rs: Recorded[]): Recorded => rs.reduce((a, b) => (b.run.sec < a.run.sec ? b : a));
      const one = fastest(ones);
      const two = fastest(twos);
      const diff = [...new Set([...ones, ...twos].flatMap((r) => differing(ones[0]!.wavs, r.wavs)))];
      fs.rmSync(pcap, { force: true });
      const tag = `${s.calls} calls`;
      const pps1 = rtpPackets / cpu(one.run);
      const ppsT = rtpPackets / cpu(ts);
      const recorded = (d: SummaryDoc): number => d.recordings.reduce((n, r) => n + r.packets.caller + r.packets.callee, 0);
      results.push({
        name: `throughput (${tag}): RTP packets per CPU-second, 1 worker`,
        value: Math.round(pps1),
        unit: 'packets/s',
        reference: { name: 'tshark -q -z rtp,streams, same file', value: Math.round(ppsT), unit: 'packets/s' },
        ratio: pps1 / ppsT,
        notes: `${rtpPackets} RTP packets (capture generated in ${genSec.toFixed(1)} s); record --workers 1: ${cpu(one.run).toFixed(2)} CPU-s, ${one.run.sec.toFixed(2)} s wall, ${recorded(one.doc)} packets in ${one.doc.recordings.length} recordings; tshark: ${cpu(ts).toFixed(2)} CPU-s, ${ts.sec.toFixed(2)} s wall`,
      });
      results.push({
        name: `throughput (${tag}): packets per CPU-second over tshark's, 1 worker`,
        value: pps1 / ppsT,
        unit: '× tshark',
        notes: `${Math.round(pps1)} vs ${Math.round(ppsT)} RTP packets per CPU-second`,
      });
      results.push({
        name: `throughput (${tag}): wall-clock speed-up, 2 workers over 1`,
        value: one.run.sec / two.run.sec,
        unit: '×',
        notes: `record --workers 2: ${two.run.sec.toFixed(2)} s wall, ${cpu(two.run).toFixed(2)} CPU-s (${(rtpPackets / two.run.sec).toFixed(0)} packets/s of wall time), ${recorded(two.doc)} packets in ${two.doc.recordings.length} recordings; --workers 1: ${one.run.sec.toFixed(2)} s wall on ${os.availableParallelism()} cores`,
      });
      results.push({
        name: `throughput (${tag}): recordings that differ between 1 and 2 workers`,
        value: diff.length,
        unit: 'recordings',
        notes: `${one.wavs.size} WAVs with 1 worker, ${two.wavs.size} with 2, ${RUNS} runs each, compared by SHA-256 per Call-ID${diff.length > 0 ? `; differ: ${diff.slice(0, 5).join(', ')}` : ''}`,
      });
      results.push({
        name: `throughput (${tag}): memory per active call, 1 worker`,
        value: ((one.run.peakRss ?? NaN) - emptyRss) / s.calls / KiB,
        unit: 'KiB/call',
        notes: `peak RSS ${((one.run.peakRss ?? NaN) / 1048576).toFixed(0)} MiB (${one.run.rssMethod ?? '?'}) minus ${(emptyRss / 1048576).toFixed(0)} MiB on a 2-call capture, over ${s.calls} concurrent calls; with 2 workers: ${(((two.run.peakRss ?? NaN) - emptyRss) / s.calls / KiB).toFixed(1)} KiB/call (each worker thread has its own heap)`,
      });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return results;
}

if (require.main === module) {
  benchThroughput().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
