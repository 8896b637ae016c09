/**
 * The live bench's capture (live-bench.ts): generated once into os.tmpdir() (0.8 GB) and kept with what the bench
 * needs to know of it: where it folds (live-tile.ts) and, per call, its times, RTP packets and SSRCs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadGenerator } from './recording-bench';
import { scanTile, type TileSpec } from './live-tile';

type GeneratorOptions = import('../../plugins/source-generator/scenario').GeneratorOptions;

/**
 * 1,535 calls overlap from INVITE to BYE (0.4 s ringing + 20 s talk), i.e. 1,505 talking: 2 × 50 RTP packets/s each.
 * 1,730 calls spaced 13.29 ms apart make the 22.99 s period, longer than a call (20.41 s) plus 2.5 s.
 */
export const SCENARIO = { calls: 1730, concurrency: 1535, durationSec: 20, ringMs: 400, codec: 'PCMU', seed: 11 } as const satisfies GeneratorOptions;
export const SIP_PORT = 5060;
/** Capture files, and the bench's work folders, in os.tmpdir() start with this. */
export const LIVE_PREFIX = 'tapline-bench-live-';
/** A call instance must end this long before the next instance of the same call starts (same addresses and ports). */
const MIN_GAP_US = 2_000_000;
/** Bumped when what is kept beside the cached capture (LiveCapture) changes. */
const CAPTURE_FORMAT = 2;

export interface CallTruth {
  /** Call-ID without its first INSTANCE_DIGITS characters (what a rewritten Call-ID keeps). */
  suffix: string;
  /** INVITE and last frame, µs from the tile origin (the first call's INVITE). */
  start: number;
  end: number;
  caller: number;
  callee: number;
  /** The generated SSRCs of each direction (each instance carries instanceSsrc() of them). */
  callerSsrcs: number[];
  calleeSsrcs: number[];
}

export interface LiveCapture {
  file: string;
  tile: TileSpec;
  frames: number;
  rtpPackets: number;
  sipMessages: number;
  calls: CallTruth[];
  /** Longest call, first to last frame, µs. */
  maxCallUs: number;
  generatedSec?: number;
}

async function generateLive(file: string): Promise<Omit<LiveCapture, 'file' | 'generatedSec'>> {
  const truth = await loadGenerator().generateCalls({ ...SCENARIO }, file);
  const first = truth.calls[0];
  if (first === undefined) throw new Error('the generator wrote no call');
  const t0 = first.start;
  const spacing = (SCENARIO.ringMs * 1000 + SCENARIO.durationSec * 1e6) / SCENARIO.concurrency;
  const periodUs = Math.round(SCENARIO.calls * spacing);
  const calls: CallTruth[] = [];
  let maxCallUs = 0;
  for (const c of truth.calls) {
    if (c.disposition !== 'answered') throw new Error(`call ${c.index} is ${c.disposition}: the live bench wants answered calls only`);
    calls[c.index] = {
      suffix: c.callId.slice(6),
      start: c.start - t0,
      end: c.end - t0,
      caller: c.media.caller?.packetsWritten ?? 0,
      callee: c.media.callee?.packetsWritten ?? 0,
      callerSsrcs: c.media.caller?.ssrcs ?? [],
      calleeSsrcs: c.media.callee?.ssrcs ?? [],
    };
    maxCallUs = Math.max(maxCallUs, c.end - c.start);
  }
  if (maxCallUs + MIN_GAP_US > periodUs) throw new Error(`calls last ${maxCallUs} µs: too long for the ${periodUs} µs period`);
  const scan = scanTile(file, t0, periodUs);
  if (scan.records !== truth.totals.frames) throw new Error(`scanned ${scan.records} records, the generator wrote ${truth.totals.frames}`);
  return {
    tile: { t0, periodUs, layer1Offset: scan.layer1Offset },
    frames: truth.totals.frames,
    rtpPackets: truth.totals.rtpPackets,
    sipMessages: truth.totals.sipMessages,
    calls,
    maxCallUs,
  };
}

/** Generated once into os.tmpdir() and reused while the scenario and the generator's and tile's sources stay the same. */
export async function liveCapture(): Promise<LiveCapture> {
  const gen = loadGenerator();
  const h = createHash('sha256').update(JSON.stringify(SCENARIO));
  const dir = path.dirname(gen.file);
  for (const f of fs.readdirSync(dir).sort()) if (/\.(js|ts)$/.test(f) && !f.endsWith('.test.js')) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  h.update(`format ${CAPTURE_FORMAT}`);
  const base = `${LIVE_PREFIX}${h.digest('hex').slice(0, 16)}`;
  const file = path.join(os.tmpdir(), `${base}.pcap`);
  const meta = path.join(os.tmpdir(), `${base}.json`);
  if (fs.existsSync(file) && fs.existsSync(meta)) return { file, ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as Omit<LiveCapture, 'file'>) };
  for (const f of fs.readdirSync(os.tmpdir())) {
    if (f.startsWith(LIVE_PREFIX) && /\.(pcap|json)$/.test(f) && !f.includes('.partial-')) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  }
  const tmp = path.join(os.tmpdir(), `${base}.partial-${process.pid}.pcap`);
  const t0 = performance.now();
  try {
    const cap = await generateLive(tmp);
    fs.writeFileSync(meta, JSON.stringify(cap));
    fs.renameSync(tmp, file);
    return { file, ...cap, generatedSec: (performance.now() - t0) / 1000 };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
