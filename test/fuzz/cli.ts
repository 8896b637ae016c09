/**
 * Fuzz the parsers of untrusted bytes from the command line (`npm run fuzz -- --minutes 30`):
 *
 *   node dist/test/fuzz/cli.js [--minutes N | --seconds N | --iterations N] [--seed N] [--target NAME[,NAME]]
 *                              [--findings DIR] [--hang-ms N] [--max-heap-mib N]
 *   node dist/test/fuzz/cli.js --replay FILE.bin --target NAME     (run one saved input, print what happens)
 *   node dist/test/fuzz/cli.js --list
 *
 * Progress every 10 s (inputs/s per target), then a summary: inputs per target, total, crashes, hangs, peak heap.
 * Exit code 1 on any finding, 2 on a usage error. Ctrl-C stops the run and still prints the summary.
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { FuzzTarget } from './targets';

// Stacks of findings in TypeScript lines: the project's modules are loaded (dynamically, below) after this.
process.setSourceMapsEnabled(true);

type TargetsModule = typeof import('./targets');

interface Args {
  seconds?: number;
  iterations?: number;
  seed: number;
  targets?: FuzzTarget[];
  findings?: string;
  hangMs?: number;
  maxHeapMib?: number;
  replay?: string;
  list: boolean;
}

function usage(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\nusage: node dist/test/fuzz/cli.js [--minutes N|--seconds N|--iterations N] [--seed N] [--target NAME[,NAME]] [--findings DIR] [--hang-ms N] [--max-heap-mib N] | --replay FILE --target NAME | --list\n`);
  process.exit(2);
}

function num(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < 0) usage(`${flag} needs a non-negative number`);
  return n;
}

function parseArgs(argv: string[], targetByName: TargetsModule['targetByName']): Args {
  const a: Args = { seed: Date.now() >>> 0, list: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i] as string;
    const v = argv[i + 1];
    switch (f) {
      case '--minutes':
        a.seconds = num(f, v) * 60;
        i++;
        break;
      case '--seconds':
        a.seconds = num(f, v);
        i++;
        break;
      case '--iterations':
        a.iterations = Math.floor(num(f, v));
        i++;
        break;
      case '--seed':
        a.seed = Math.floor(num(f, v)) >>> 0;
        i++;
        break;
      case '--target': {
        if (v === undefined) usage('--target needs a name');
        const ts = v.split(',').map((n) => targetByName(n.trim()) ?? usage(`no target '${n}' (--list shows them)`));
        a.targets = [...(a.targets ?? []), ...ts];
        i++;
        break;
      }
      case '--findings':
        if (v === undefined) usage('--findings needs a folder');
        a.findings = v;
        i++;
        break;
      case '--hang-ms':
        a.hangMs = num(f, v);
        i++;
        break;
      case '--max-heap-mib':
        a.maxHeapMib = num(f, v);
        i++;
        break;
      case '--replay':
        if (v === undefined) usage('--replay needs a file');
        a.replay = v;
        i++;
        break;
      case '--list':
        a.list = true;
        break;
      case '--help':
      case '-h':
        usage('help');
        break;
      default:
        usage(`unknown argument '${f}'`);
    }
  }
  return a;
}

function replay(file: string, t: FuzzTarget, shortHex: (b: Buffer) => string, profile: (t: FuzzTarget, b: Buffer) => { where: string; detail: string }): number {
  const input = fs.readFileSync(file);
  process.stdout.write(`replaying ${file} (${input.length} bytes, ${shortHex(input)}) on ${t.name}\n`);
  const t0 = performance.now();
  try {
    const out = t.run(input);
    const ms = performance.now() - t0;
    process.stdout.write(`returned ${JSON.stringify(out)} in ${ms.toFixed(1)} ms\n`);
    if (ms > 1000) {
      const p = profile(t, input);
      process.stdout.write(`SLOW (> 1000 ms): time spent in ${p.where} [${p.detail}]\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    const ms = (performance.now() - t0).toFixed(1);
    if (t.expected(e)) {
      process.stdout.write(`expected error after ${ms} ms: ${(e as Error).message}\n`);
      return 0;
    }
    process.stdout.write(`CRASH after ${ms} ms: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

async function main(): Promise<number> {
  // Required here, not imported at the top: they must load after setSourceMapsEnabled.
  const { allTargets, targetByName } = require('./targets') as TargetsModule;
  const { formatFinding, formatReport, fuzz, profileSlowInput } = require('./run') as typeof import('./run');
  const { shortHex } = require('./mutate') as typeof import('./mutate');
  const { corpusNote } = require('./seeds') as typeof import('./seeds');
  const a = parseArgs(process.argv.slice(2), targetByName);
  if (a.list) {
    for (const t of allTargets()) process.stdout.write(`${t.name}\n`);
    return 0;
  }
  if (a.replay !== undefined) {
    const t = a.targets?.[0] ?? usage('--replay needs --target NAME');
    return replay(a.replay, t, (b) => shortHex(b), profileSlowInput);
  }
  if (a.seconds === undefined && a.iterations === undefined) a.seconds = 60;
  const ac = new AbortController();
  process.once('SIGINT', () => {
    process.stdout.write('\ninterrupted: finishing the summary\n');
    ac.abort();
  });
  const targets = a.targets ?? allTargets();
  process.stdout.write(
    `fuzzing ${targets.length} targets (${targets.map((t) => t.name).join(', ')}) with seed ${a.seed}` +
      `${a.seconds !== undefined ? ` for ${a.seconds} s` : ''}${a.iterations !== undefined ? ` up to ${a.iterations} inputs` : ''}; ${corpusNote()}\n`,
  );
  const report = await fuzz({
    targets,
    seed: a.seed,
    ...(a.seconds !== undefined ? { seconds: a.seconds } : {}),
    ...(a.iterations !== undefined ? { iterations: a.iterations } : {}),
    ...(a.findings !== undefined ? { findingsDir: a.findings } : {}),
    ...(a.hangMs !== undefined ? { hangMs: a.hangMs } : {}),
    ...(a.maxHeapMib !== undefined ? { maxHeapBytes: a.maxHeapMib * 2 ** 20 } : {}),
    signal: ac.signal,
    watchdogSec: 60,
    progressEverySec: 10,
    onProgress: (p) => {
      const wall = Object.values(p.rates)[0]?.wall ?? 0;
      const parsers = Object.entries(p.rates)
        .map(([n, r]) => `${n} ${r.parser >= 1000 ? `${(r.parser / 1000).toFixed(0)}k` : r.parser.toFixed(0)}`)
        .join(', ');
      process.stdout.write(
        `[${p.elapsedSec.toFixed(0)} s] ${p.total} inputs (${p.rate.toFixed(0)}/s, ${wall.toFixed(0)}/s per target), crashes ${p.crashes}, hangs ${p.hangs}, heap ${(p.heapUsedBytes / 2 ** 20).toFixed(0)} MiB\n` +
          `        parser inputs/s (time in run()): ${parsers}\n`,
      );
    },
    onFinding: (f) => process.stdout.write(`FINDING ${formatFinding(f)}\n`),
  });
  process.stdout.write(`\n${formatReport(report)}\n`);
  return report.crashes + report.hangs + report.memory > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`fuzz: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  },
);
