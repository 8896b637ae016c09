/**
 * The SQLite catalogue at 1,000,000 recordings: inserts per second (each recording with its two participants, in
 * transactions of 10,000, as a recorder's store writes them: through Catalogue.insert), then search latency —
 * the newest page, a day's range, and a participant substring — the last beside the folding scan it replaced
 * (the previous path, on the same catalogue in the same run). PostgreSQL: shared-storage-bench.ts.
 * Run alone: node dist/test/bench/run.js catalogue
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Catalogue, foldText } from '../../plugins/storage-local/catalogue';
import type { BenchResult } from './types';
import { median, p95 } from './latency';

const ROWS = 1_000_000;
const BATCH = 10_000;
const USERS = 5_000;
const QUERIES = 25;

function timed(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

export async function benchCatalogue(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-bench-catalogue-'));
  try {
    const cat = Catalogue.open(path.join(dir, 'catalogue.sqlite'));
    const t0 = Date.UTC(2025, 0, 1);
    const started = performance.now();
    for (let b = 0; b < ROWS; b += BATCH) {
      cat.tx(() => {
        for (let i = b; i < b + BATCH; i++) {
          const agent = `sip:agent${String(i % USERS).padStart(4, '0')}@contoso.com`;
          const customer = `sip:+1555${String((i * 7919) % 10_000_000).padStart(7, '0')}@pstn.example`;
          cat.insert({
            id: `rec-${i}`,
            callId: `${i}-call@pbx.example`,
            start: new Date(t0 + i * 30_000).toISOString(),
            fromUri: customer,
            toUri: agent,
            toName: `Agent ${i % USERS}`,
            disposition: 'answered',
            status: 'complete',
            durationSec: 60,
            dir: path.join(dir, 'r', String(i)),
            audio: path.join(dir, 'r', String(i), 'audio.wav'),
            metadata: path.join(dir, 'r', String(i), 'metadata.json'),
            participants: [
              { uri: customer, role: 'caller' },
              { uri: agent, name: `Agent ${i % USERS}`, role: 'callee' },
            ],
          });
        }
      });
    }
    const insertSec = (performance.now() - started) / 1000;
    const size = fs.statSync(path.join(dir, 'catalogue.sqlite')).size + (fs.existsSync(path.join(dir, 'catalogue.sqlite-wal')) ? fs.statSync(path.join(dir, 'catalogue.sqlite-wal')).size : 0);
    const newest: number[] = [];
    const day: number[] = [];
    const user: number[] = [];
    let found = 0;
    for (let q = 0; q < QUERIES; q++) {
      newest.push(timed(() => cat.list({ limit: 100 })));
      const from = new Date(t0 + ((q * 37) % 300) * 86_400_000);
      day.push(timed(() => cat.list({ from: from.toISOString(), to: new Date(from.getTime() + 86_400_000).toISOString(), limit: 100 })));
      const who = `agent${String((q * 197) % USERS).padStart(4, '0')}`;
      user.push(timed(() => (found += cat.list({ user: who, limit: 100 }).length)));
    }
    // The previous path: fold every participant in JavaScript and look for the text (a few runs: it is slow).
    const scanSql = `SELECT r.* FROM recordings r WHERE r.id IN (SELECT p.recording_id FROM participants p WHERE instr(tl_fold(p.uri), @user) > 0 OR instr(tl_fold(p.name), @user) > 0) ORDER BY r.start DESC, r.id DESC LIMIT 100`;
    const scan: number[] = [];
    for (let q = 0; q < 3; q++) scan.push(timed(() => cat.stmt(scanSql).all({ user: foldText(`agent${String((q * 197) % USERS).padStart(4, '0')}`) })));
    cat.close();
    const userMs = median(user);
    const scanMs = median(scan);
    return [
      {
        name: 'catalogue (SQLite): recordings inserted per second',
        value: Math.round(ROWS / insertSec),
        unit: 'rows/s',
        notes: `${ROWS.toLocaleString('en-US')} recordings with 2 participants each through Catalogue.insert, ${BATCH.toLocaleString('en-US')} per transaction, WAL + synchronous=NORMAL, participant index kept by triggers; ${insertSec.toFixed(1)} s; ${(size / 1048576).toFixed(0)} MiB on disk`,
      },
      { name: 'catalogue (SQLite): newest 100 of 1M, median latency', value: Math.round(median(newest) * 100) / 100, unit: 'ms', notes: `p95 ${p95(newest).toFixed(2)} ms over ${QUERIES} queries` },
      { name: 'catalogue (SQLite): one day of 1M (--from/--to), median latency', value: Math.round(median(day) * 100) / 100, unit: 'ms', notes: `p95 ${p95(day).toFixed(2)} ms over ${QUERIES} queries` },
      {
        name: 'catalogue (SQLite): participant substring of 1M (--user), median latency',
        value: Math.round(userMs * 100) / 100,
        unit: 'ms',
        reference: { name: 'the folding scan it replaced, same catalogue', value: Math.round(scanMs * 10) / 10, unit: 'ms' },
        ratio: Math.round((userMs / scanMs) * 10000) / 10000,
        notes: `p95 ${p95(user).toFixed(2)} ms over ${QUERIES} users (${USERS} agents, 200 calls each; ${found} rows returned); the scan: median of 3`,
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
