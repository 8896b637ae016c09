/**
 * Shared storage on real servers started here: the PostgreSQL catalogue at 1,000,000 recordings (inserts per
 * second through the recorder's publish path, one transaction per recording, and batched like the SQLite bench;
 * then search latency — newest page, a day, a participant substring, a user within a time range — the substring
 * beside the same query with its trigram index turned off, the reference in the same run), and upload throughput
 * to OpenStack Swift's S3 API: the publisher's upload (PUT or multipart, streamed from the file) beside a plain
 * SDK PutObject of the same bytes, and a resumed spool (each object asked for first).
 * Run alone: node dist/test/bench/run.js shared
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { sql } from 'kysely';
import { PgCatalogue, type SharedRecording } from '../../plugins/storage-local/pg-catalogue';
import { foldText } from '../../plugins/storage-local/catalogue';
import { S3Media } from '../../plugins/storage-local/s3-media';
import { startPostgres, postgresUnavailable } from '../peers/postgres';
import { startSwift, swiftUnavailable } from '../peers/swift';
import { BenchNotAvailable, type BenchResult } from './types';
import { median, p95 } from './latency';

const ROWS = 1_000_000;
const PUBLISHED = 5_000;
const BATCH = 1_000;
const USERS = 5_000;
const QUERIES = 25;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const T0 = Date.UTC(2025, 0, 1);

function recording(i: number): SharedRecording {
  const agent = `sip:agent${String(i % USERS).padStart(4, '0')}@contoso.com`;
  const customer = `sip:+1555${String((i * 7919) % 10_000_000).padStart(7, '0')}@pstn.example`;
  const start = new Date(T0 + i * 30_000).toISOString();
  const dir = `2025/01/01/rec-${i}`;
  return {
    id: `rec-${i}`,
    callId: `${i}-call@pbx.example`,
    callKey: `key-${i}`,
    recorder: `${1 + (i % 2)}@bench`,
    start,
    end: new Date(T0 + i * 30_000 + 60_000).toISOString(),
    durationSec: 60,
    fromUri: customer,
    fromName: null,
    toUri: agent,
    toName: `Agent ${i % USERS}`,
    disposition: 'answered',
    status: 'complete',
    audioKey: `${dir}/audio.wav`,
    audioFormat: 'wav',
    metadataKey: `${dir}/metadata.json`,
    metadata: { id: `rec-${i}` },
    direction: 'inbound',
    codecs: ['PCMU'],
    flags: [],
    participants: [
      { uri: customer, role: 'caller' },
      { uri: agent, name: `Agent ${i % USERS}`, role: 'callee' },
    ],
    objects: [{ name: 'audio.wav', key: `${dir}/audio.wav`, bytes: 960_044, sha256: 'ab'.repeat(32) }],
  };
}

async function benchPostgres(): Promise<BenchResult[]> {
  const server = await startPostgres();
  try {
    const cat = await PgCatalogue.open(server.url, undefined, { max: 2 });
    // The recorder's path: one transaction per recording (row, participants, objects, replacement check).
    let t = performance.now();
    for (let i = 0; i < PUBLISHED; i++) await cat.publish(recording(i));
    const publishRate = PUBLISHED / ((performance.now() - t) / 1000);
    // The rest batched, BATCH recordings a transaction, as the SQLite bench inserts.
    t = performance.now();
    for (let b = PUBLISHED; b < ROWS; b += BATCH) {
      const rs = Array.from({ length: Math.min(BATCH, ROWS - b) }, (_, k) => recording(b + k));
      await cat.db.transaction().execute(async (tx) => {
        await tx
          .insertInto('recordings')
          .values(rs.map((r) => ({ id: r.id, call_id: r.callId, call_key: r.callKey, recorder: r.recorder, start: new Date(r.start), end: new Date(r.end!), duration_sec: r.durationSec, from_uri: r.fromUri, from_name: r.fromName, to_uri: r.toUri, to_name: r.toName, disposition: r.disposition, status: r.status, audio_key: r.audioKey, audio_format: r.audioFormat, metadata_key: r.metadataKey, metadata: JSON.stringify(r.metadata) })))
          .execute();
        await tx
          .insertInto('participants')
          .values(rs.flatMap((r) => r.participants.map((p) => ({ recording_id: r.id, uri: p.uri, name: p.name ?? null, role: p.role, folded: foldText(`${p.uri} ${p.name ?? ''}`) }))))
          .execute();
        await tx
          .insertInto('objects')
          .values(rs.flatMap((r) => r.objects.map((o) => ({ recording_id: r.id, name: o.name, key: o.key, bytes: o.bytes, sha256: o.sha256 }))))
          .execute();
      });
    }
    const batchSec = (performance.now() - t) / 1000;
    const batchRate = (ROWS - PUBLISHED) / batchSec;
    await sql`ANALYZE`.execute(cat.db);
    const size = Number((await sql<{ s: string }>`SELECT pg_database_size(current_database()) AS s`.execute(cat.db)).rows[0]?.s ?? 0);
    const newest: number[] = [];
    const day: number[] = [];
    const user: number[] = [];
    const userRange: number[] = [];
    let found = 0;
    for (let q = 0; q < QUERIES; q++) {
      newest.push(await timed(() => cat.list({ limit: 100 })));
      const from = new Date(T0 + ((q * 37) % 300) * 86_400_000);
      day.push(await timed(() => cat.list({ from: from.toISOString(), to: new Date(from.getTime() + 86_400_000).toISOString(), limit: 100 })));
      const who = `agent${String((q * 197) % USERS).padStart(4, '0')}`;
      user.push(await timed(async () => (found += (await cat.list({ user: who, limit: 100 })).length)));
      const week = new Date(T0 + ((q * 53) % 280) * 86_400_000);
      userRange.push(await timed(() => cat.list({ user: who, from: week.toISOString(), to: new Date(week.getTime() + 7 * 86_400_000).toISOString(), limit: 100 })));
    }
    // The reference: the same substring search without its trigram index (the planner made to scan).
    const scan: number[] = [];
    for (let q = 0; q < 3; q++) {
      const who = `agent${String((q * 197) % USERS).padStart(4, '0')}`;
      scan.push(
        await timed(() =>
          cat.db.transaction().execute(async (tx) => {
            await sql`SET LOCAL enable_bitmapscan = off`.execute(tx);
            await sql`SET LOCAL enable_indexscan = off`.execute(tx);
            await sql`SELECT r.id FROM recordings r WHERE r.id IN (SELECT recording_id FROM participants WHERE folded LIKE ${`%${foldText(who)}%`}) ORDER BY r.start DESC, r.id DESC LIMIT 100`.execute(tx);
          }),
        ),
      );
    }
    await cat.close();
    const userMs = median(user);
    const scanMs = median(scan);
    return [
      { name: 'catalogue (PostgreSQL): recordings published per second', value: Math.round(publishRate), unit: 'rows/s', notes: `${PUBLISHED.toLocaleString('en-US')} recordings through PgCatalogue.publish (one transaction each: row, 2 participants, 1 object, replacement check), fsync on` },
      {
        name: 'catalogue (PostgreSQL): recordings inserted per second, batched',
        value: Math.round(batchRate),
        unit: 'rows/s',
        notes: `${(ROWS - PUBLISHED).toLocaleString('en-US')} recordings, ${BATCH.toLocaleString('en-US')} per transaction (multi-row INSERTs), trigram index kept; ${batchSec.toFixed(1)} s; database ${(size / 1048576).toFixed(0)} MiB`,
      },
      { name: 'catalogue (PostgreSQL): newest 100 of 1M, median latency', value: Math.round(median(newest) * 100) / 100, unit: 'ms', notes: `p95 ${p95(newest).toFixed(2)} ms over ${QUERIES} queries` },
      { name: 'catalogue (PostgreSQL): one day of 1M (--from/--to), median latency', value: Math.round(median(day) * 100) / 100, unit: 'ms', notes: `p95 ${p95(day).toFixed(2)} ms over ${QUERIES} queries` },
      {
        name: 'catalogue (PostgreSQL): participant substring of 1M (--user), median latency',
        value: Math.round(userMs * 100) / 100,
        unit: 'ms',
        reference: { name: 'the same query with its trigram index off (a scan)', value: Math.round(scanMs * 10) / 10, unit: 'ms' },
        ratio: Math.round((userMs / scanMs) * 10000) / 10000,
        notes: `p95 ${p95(user).toFixed(2)} ms over ${QUERIES} users (${USERS} agents, 200 calls each; ${found} rows returned); the scan: median of 3`,
      },
      { name: 'catalogue (PostgreSQL): user within a week of 1M, p95 latency', value: Math.round(p95(userRange) * 100) / 100, unit: 'ms', notes: `median ${median(userRange).toFixed(2)} ms over ${QUERIES} queries` },
    ];
  } finally {
    await server.destroy();
  }
}

async function benchUpload(): Promise<BenchResult[]> {
  const swift = await startSwift();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-bench-upload-'));
  try {
    const files = 48;
    const size = 1 << 20; // a minute of 8 kHz stereo PCM is 1.9 MB; a 1 MiB object is a typical short call
    const paths: string[] = [];
    for (let i = 0; i < files; i++) {
      const f = path.join(dir, `f${i}.wav`);
      fs.writeFileSync(f, randomBytes(size));
      paths.push(f);
    }
    const big = path.join(dir, 'big.wav');
    fs.writeFileSync(big, randomBytes(64 << 20));
    const s3 = new S3Media({ endpoint: swift.endpoint, region: 'us-east-1', bucket: 'tapline-bench', prefix: '', accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey, forcePathStyle: true, partSize: 8 << 20 });
    await s3.ensureBucket();
    // Reference first: the SDK's PutObject of the same bytes (no hash check).
    let t = performance.now();
    for (let i = 0; i < files; i++) await s3.client.send(new PutObjectCommand({ Bucket: 'tapline-bench', Key: `ref/f${i}.wav`, Body: fs.readFileSync(paths[i]!) }));
    const refSec = (performance.now() - t) / 1000;
    t = performance.now();
    for (let i = 0; i < files; i++) await s3.putFile(`ours/f${i}.wav`, paths[i]!, `${i}`.padStart(64, '0'), false);
    const oursSec = (performance.now() - t) / 1000;
    // A resumed upload asks first (HEAD), then sends what is missing: half of them here.
    t = performance.now();
    for (let i = 0; i < files; i++) await s3.putFile(i % 2 === 0 ? `ours/f${i}.wav` : `resumed/f${i}.wav`, paths[i]!, `${i}`.padStart(64, '0'));
    const resumedSec = (performance.now() - t) / 1000;
    t = performance.now();
    await s3.putFile('ours/big.wav', big, 'f'.repeat(64));
    const bigSec = (performance.now() - t) / 1000;
    s3.close();
    const mb = (files * size) / 1e6;
    return [
      {
        name: 'upload to S3 (Swift s3api): 1 MiB recordings, MB/s',
        value: Math.round((mb / oursSec) * 10) / 10,
        unit: 'MB/s',
        reference: { name: 'SDK PutObject of the same bytes', value: Math.round((mb / refSec) * 10) / 10, unit: 'MB/s' },
        ratio: Math.round((refSec / oursSec) * 1000) / 1000,
        notes: `${files} objects one after another, streamed from their files, ${((oursSec * 1000) / files).toFixed(1)} ms each; the reference (from memory) ${((refSec * 1000) / files).toFixed(1)} ms`,
      },
      {
        name: 'upload to S3 (Swift s3api): resuming a spool, 1 MiB recordings, ms each',
        value: Math.round(((resumedSec * 1000) / files) * 10) / 10,
        unit: 'ms',
        notes: `${files} objects, half already in the bucket: each asked for first (HEAD with its SHA-256), the other half sent`,
      },
      { name: 'upload to S3 (Swift s3api): one 64 MiB recording in 8 MiB parts, MB/s', value: Math.round(((64 * 1048576) / 1e6 / bigSec) * 10) / 10, unit: 'MB/s', notes: `multipart through @aws-sdk/lib-storage, 2 parts in flight; ${bigSec.toFixed(2)} s` },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await swift.destroy();
  }
}

export async function benchShared(): Promise<BenchResult[]> {
  const why = postgresUnavailable() ?? swiftUnavailable();
  if (why !== undefined) throw new BenchNotAvailable(why);
  return [...(await benchPostgres()), ...(await benchUpload())];
}
