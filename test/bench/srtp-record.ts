/**
 * One recording run of the srtp bench: srtp-record-child in its own process (wall time from spawn to exit, CPU
 * time by process.cpuUsage() in the child), then its output checked against the generator: every call recorded,
 * every RTP packet recorded (and, for SRTP, decrypted: the sum of metadata srtp.*.decrypted), no SRTP failure of
 * any kind, the expected codec decoded, no flags, no loss. The output folder is deleted afterwards.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RecordingMetadata } from '../../core/media/metadata';
import { PREFIX, type Expected } from './srtp-captures';
import type { RecordChildMessage } from './srtp-record-child';

/** A recording may differ from the talk time by this much (first/last packet, 20 ms framing). */
const DURATION_TOLERANCE_SEC = 0.5;
/** Stops a recorder that hangs; a healthy run of the bench's captures takes well under a minute. */
const RECORD_TIMEOUT_MS = 300_000;

export interface RecordMode {
  srtp: boolean;
  /** false: the recorder runs with TAPLINE_SRTP_NATIVE=0 (SRTP on the TypeScript path). Default: as built. */
  srtpNative?: boolean;
  /** The rtpmap every direction must have been decoded as, e.g. 'PCMU/8000'. */
  codec: string;
  durationSec: number;
}

export interface RecordRun {
  /** Spawn to exit, s. */
  wallSec: number;
  cpuSec: number;
  recordCpuSec: number;
  recordWallSec: number;
  maxRssKiB: number;
  problems: string[];
  /** Sum of metadata srtp.{caller,callee}.decrypted, and SRTP failures by reason. */
  decrypted: number;
  failed: Record<string, number>;
  /** One line: what was verified, or what failed. */
  text: string;
  /** Which code decrypted SRTP, from summary.json (and why not the native addon). */
  srtpPath: string;
}

interface SummaryDoc {
  sources: Array<{ label: string; frames: number; warning?: string; error?: string }>;
  recordings: Array<{ durationSec?: number; packets: { caller: number; callee: number }; lost: { caller: number; callee: number }; flags: string[] }>;
  unmatchedStreams: unknown[];
  counters: Record<string, number>;
  srtp?: { path: 'native' | 'typescript'; reason?: string };
}

function childFile(): string {
  // .js under dist, .ts under tsx (whose loader the child inherits through execArgv).
  return path.join(__dirname, `srtp-record-child${path.extname(__filename)}`);
}

function runChild(pcap: string, work: string, native: boolean): Promise<{ wallSec: number; msg: RecordChildMessage }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const env = native ? process.env : { ...process.env, TAPLINE_SRTP_NATIVE: '0' };
    const child = fork(childFile(), ['--pcap', pcap, '--out', path.join(work, 'out')], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let msg: RecordChildMessage | undefined;
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), RECORD_TIMEOUT_MS);
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < 4000) stderr += b.toString('utf8');
    });
    child.on('message', (m: RecordChildMessage) => {
      msg = m;
    });
    child.on('error', (e) => {
      msg ??= { kind: 'error', message: `could not start: ${e.message}` };
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ wallSec, msg: msg ?? { kind: 'error', message: `recorder exited (${signal ?? code}) without a result: ${stderr.trim().slice(0, 1000)}` } });
    });
  });
}

function metadataFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name === 'metadata.json')
    .map((e) => path.join(e.parentPath, e.name));
}

function verify(outDir: string, ex: Expected, mode: RecordMode): Pick<RecordRun, 'problems' | 'decrypted' | 'failed' | 'text' | 'srtpPath'> {
  const problems: string[] = [];
  const doc = JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8')) as SummaryDoc;
  const recs = doc.recordings;
  if (recs.length !== ex.answered) problems.push(`${recs.length} recordings, expected ${ex.answered}`);
  let rtp = 0;
  let lost = 0;
  let badDuration = 0;
  const flags = new Set<string>();
  for (const r of recs) {
    rtp += r.packets.caller + r.packets.callee;
    lost += r.lost.caller + r.lost.callee;
    if (r.durationSec === undefined || Math.abs(r.durationSec - mode.durationSec) > DURATION_TOLERANCE_SEC) badDuration++;
    for (const f of r.flags) flags.add(f);
  }
  if (rtp !== ex.rtpPackets) problems.push(`${rtp} RTP packets recorded, the generator wrote ${ex.rtpPackets}`);
  if (lost !== 0) problems.push(`${lost} packets reported lost (the capture has none)`);
  if (badDuration > 0) problems.push(`${badDuration} recordings not within ${DURATION_TOLERANCE_SEC} s of ${mode.durationSec} s`);
  if (flags.size > 0) problems.push(`flags: ${[...flags].slice(0, 3).join(' | ')}`);
  const media = doc.counters['core.media.rtp'] ?? 0;
  if (media !== ex.rtpPackets) problems.push(`core.media.rtp counter ${media}, expected ${ex.rtpPackets}`);
  if (doc.unmatchedStreams.length > 0) problems.push(`${doc.unmatchedStreams.length} RTP streams matched no call`);
  const frames = doc.sources.reduce((a, s) => a + s.frames, 0);
  if (frames !== ex.frames) problems.push(`${frames} frames read, the generator wrote ${ex.frames}`);
  for (const s of doc.sources) if (s.warning !== undefined || s.error !== undefined) problems.push(`source ${s.label}: ${s.error ?? s.warning}`);

  const metas = metadataFiles(outDir).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as RecordingMetadata);
  if (metas.length !== ex.answered) problems.push(`${metas.length} metadata.json files, expected ${ex.answered}`);
  let decrypted = 0;
  let withSrtp = 0;
  let wrongCodec = 0;
  let undecoded = 0;
  const failed: Record<string, number> = {};
  for (const m of metas) {
    for (const d of [m.caller, m.callee]) {
      if (d.codecs.length !== 1 || d.codecs[0] !== mode.codec) wrongCodec++;
      undecoded += d.undecoded;
    }
    if (m.srtp !== undefined) withSrtp++;
    for (const s of [m.srtp?.caller, m.srtp?.callee]) {
      if (s === undefined) continue;
      decrypted += s.decrypted;
      for (const [reason, n] of Object.entries(s.failed)) failed[reason] = (failed[reason] ?? 0) + n;
      failed['srtcp'] = (failed['srtcp'] ?? 0) + s.srtcp.failed;
    }
  }
  if (wrongCodec > 0) problems.push(`${wrongCodec} directions not decoded as exactly ${mode.codec}`);
  if (undecoded > 0) problems.push(`${undecoded} payloads undecoded`);
  const failures = Object.values(failed).reduce((a, b) => a + b, 0);
  const failedText = Object.entries(failed).filter(([, n]) => n > 0).map(([r, n]) => `${n} ${r}`).join(', ');
  if (mode.srtp) {
    if (withSrtp !== metas.length) problems.push(`${metas.length - withSrtp} recordings not treated as SRTP (no srtp metadata)`);
    if (decrypted !== ex.rtpPackets) problems.push(`${decrypted} SRTP packets decrypted (sum of srtp.*.decrypted), the generator wrote ${ex.rtpPackets} RTP packets`);
    if (failures > 0) problems.push(`SRTP failures: ${failedText}`);
  } else if (withSrtp > 0) problems.push(`${withSrtp} recordings of clear calls have srtp metadata`);

  const what = `${recs.length} recordings (${metas.length} metadata.json) of ${ex.answered} calls, ${rtp} RTP packets recorded = the generator's ${ex.rtpPackets}, 0 lost, all ${mode.codec}, no flags`;
  const srtp = mode.srtp ? `; SRTP: ${decrypted} decrypted = every RTP packet, ${failed['auth'] ?? 0} auth failures, no other SRTP failure` : '; clear: no SRTP metadata';
  const path_ = doc.srtp?.path ?? 'unknown';
  if (mode.srtpNative === false && path_ !== 'typescript') problems.push(`TAPLINE_SRTP_NATIVE=0 ignored: SRTP path ${path_}`);
  const srtpPath = path_ === 'native' ? 'native addon' : `${path_}${doc.srtp?.reason !== undefined ? ` (${doc.srtp.reason})` : ''}`;
  const text = problems.length === 0 ? `verified: ${what}${srtp}` : `CORRECTNESS FAILED: ${problems.join('; ')}`;
  return { problems, decrypted, failed, text, srtpPath };
}

/** Records `pcap` in a child process and checks the result; throws only when the recorder itself fails. */
export async function recordAndCheck(pcap: string, ex: Expected, mode: RecordMode): Promise<RecordRun> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}run-`));
  try {
    const { wallSec, msg } = await runChild(pcap, work, mode.srtpNative !== false);
    if (msg.kind === 'error') throw new Error(`record ${path.basename(pcap)}: ${msg.message}`);
    return { wallSec, cpuSec: msg.cpuSec, recordCpuSec: msg.recordCpuSec, recordWallSec: msg.recordWallSec, maxRssKiB: msg.maxRssKiB, ...verify(path.join(work, 'out'), ex, mode) };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
