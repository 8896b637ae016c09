/**
 * SIPREC under load: 100 recording sessions at once from SIPp, each with two labelled PCMU streams of speech for
 * 20 s (the media engine of test/peers/siprec-load.ts), into `tapline serve` with source-siprec, codec-g711 and
 * storage-local. Reported: serve's CPU per session (every thread, /proc/<pid>/stat, from before the first INVITE
 * to the last recording finished), beside the same command's CPU with no session for as long (the idle cost of a
 * running service, as the reference); and whether every session was recorded whole.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BenchNotAvailable, type BenchResult } from './types';
import { procSample } from './live-serve';
import { onPath, sleep } from '../peers/proc';
import { freePortBlock } from '../peers/ports';
import { freeTcpPort, freeUdpPort, startServe } from '../serve-process';
import { makeVoices } from '../voices';
import { checkLoadRecordings, loadScenario, MediaEngine, pcmuFrames, runSippLoad } from '../peers/siprec-load';

const SESSIONS = 100;
const FRAMES = 1000; // 20 s

export async function benchSiprec(): Promise<BenchResult[]> {
  const missing = ['sipp', 'sox', 'bash'].filter((c) => !onPath(c));
  if (missing.length > 0) throw new BenchNotAvailable(`not installed: ${missing.join(', ')}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-bench-siprec-'));
  try {
    const voices = makeVoices(root);
    const engine = new MediaEngine(pcmuFrames(voices.caller, FRAMES), pcmuFrames(voices.callee, FRAMES));
    const control = await engine.start();
    const sipPort = await freeUdpPort();
    const rtp = await freePortBlock(4 * SESSIONS + 20);
    const recordings = path.join(root, 'recordings');
    const serve = await startServe(
      root,
      {
        plugins: [
          { use: 'source-siprec', options: { host: '127.0.0.1', mediaAddress: '127.0.0.1', udp: { port: sipPort }, tcp: { enabled: false }, rtpPorts: { min: rtp, max: rtp + 4 * SESSIONS + 19 }, maxSessions: SESSIONS } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: recordings } },
        ],
      },
      await freeTcpPort(),
    );
    try {
      const pid = serve.pid;
      // The idle reference: the running service with no session, for as long as the sessions will take.
      const i0 = procSample(pid, 0);
      await sleep(FRAMES * 20 + 2000);
      const i1 = procSample(pid, 0);
      const t0 = performance.now();
      const p0 = procSample(pid, 0);
      const r = await runSippLoad(root, loadScenario(control, FRAMES * 20 + 600), `127.0.0.1:${sipPort}`, SESSIONS, 50);
      let check = checkLoadRecordings(recordings, SESSIONS, FRAMES);
      for (let i = 0; i < 200 && check.complete < SESSIONS; i++) {
        await sleep(100);
        check = checkLoadRecordings(recordings, SESSIONS, FRAMES);
      }
      const p1 = procSample(pid, 0);
      const wall = (performance.now() - t0) / 1000;
      const drops = await serve.metricSum('tapline_drops_total');
      engine.stop();
      if (i0 === undefined || i1 === undefined || p0 === undefined || p1 === undefined) throw new Error('serve went away');
      const idle = i1.cpuSec - i0.cpuSec;
      const busy = p1.cpuSec - p0.cpuSec;
      const perSession = busy / SESSIONS;
      const problems = (r.code === 0 ? 0 : 1) + (SESSIONS - check.whole) + (drops > 0 ? 1 : 0);
      const common = `${SESSIONS} sessions opened at 50/s from SIPp, each 2 × ${FRAMES / 50} s of PCMU speech (${engine.sent} RTP packets in all); serve CPU ${busy.toFixed(2)} s over ${wall.toFixed(1)} s (every thread), peak RSS ${(p1.rssBytes / 1048576).toFixed(0)} MiB`;
      return [
        {
          name: `SIPREC: serve CPU per recording session (${FRAMES / 50} s, two streams)`,
          value: Math.round(perSession * 10000) / 10,
          unit: 'CPU-ms',
          reference: { name: `the same serve idle for ${(FRAMES / 50 + 2).toFixed(0)} s, divided alike`, value: Math.round((idle / SESSIONS) * 10000) / 10, unit: 'CPU-ms' },
          ratio: idle > 0 ? Math.round((busy / idle) * 10) / 10 : undefined,
          notes: `${common}; that is ${((perSession / (FRAMES / 50)) * 100).toFixed(2)}% of a core per session, ${Math.floor(1 / (perSession / (FRAMES / 50)))} sessions per core`,
        },
        {
          name: 'SIPREC: correctness problems (sessions not recorded whole, drops, SIPp failures)',
          value: problems,
          unit: 'problems',
          notes: `${check.complete} of ${SESSIONS} recordings complete, ${check.whole} whole (every packet of both channels, none lost), ${check.lost} packets lost; serve drops ${drops}; SIPp exit ${r.code}${check.problems.length > 0 ? `; e.g. ${check.problems.join('; ')}` : ''}`,
        },
      ];
    } finally {
      await serve.stop();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
