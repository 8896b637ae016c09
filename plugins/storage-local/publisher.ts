/**
 * Shared storage's uploader: the recorder's folder is a spool. A finished recording is uploaded to the bucket (each
 * file, then metadata.json naming where they went), then catalogued in PostgreSQL in one transaction; only then
 * is it marked published here, or taken out of this folder when it is not kept. A failure (the object store or
 * the database down) leaves it pending and retries with exponential backoff; a restart resumes from this
 * catalogue, and an object already uploaded with the same SHA-256 is not sent again. Nothing is deleted to make
 * room: past the spool's limit the recorder says so, loudly, once a minute (log and metric).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Counters, Logger, Metrics } from '../../core/contract';
import { codecNames, flagKeys, type RecordingMetadata } from '../../core/media/metadata';
import type { Catalogue, CatalogueRecord } from './catalogue';
import { deleteRecording, hashFile, objectsOf } from './integrity';
import { PgCatalogue, type SharedRecording } from './pg-catalogue';
import { readMetadata } from './recover';
import { describeStoreError, S3Media, type S3Options } from './s3-media';

export interface SharedOptions {
  postgresUrl: string;
  s3: S3Options;
  /** Keep each recording's local copy once published (default: the folder is only a spool). */
  keepLocal: boolean;
  /** Bytes of unpublished recordings past which the recorder reports loudly (it never deletes to make room). */
  spoolMaxBytes: number;
  /** How long a stopping recorder waits for pending uploads before leaving them for the next start. */
  drainMs: number;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const BATCH = 16;
const IDLE_POLL_MS = 5_000;
const SPOOL_WARN_EVERY_MS = 60_000;

export interface PublisherDeps {
  /** The open local catalogue (the spool's journal). */
  catalogue: () => Catalogue;
  root: string;
  /** Recordings not to take yet (still being sealed). */
  busy: (id: string) => boolean;
  log?: Logger;
  counters?: Counters;
  metrics?: Metrics;
}

/** `a/b` whatever the platform's separator: object keys are POSIX paths. */
function posixRel(root: string, p: string): string {
  return path.relative(root, p).split(path.sep).join('/');
}

export class Publisher {
  readonly s3: S3Media;
  private pg: PgCatalogue | undefined;
  private bucketReady = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private failures = 0;
  private lastError = '';
  private lastSpoolWarn = 0;
  private lastFailureLog = 0;
  private pendingCount = 0;
  private pendingBytes = 0;

  constructor(
    readonly o: SharedOptions,
    private readonly d: PublisherDeps,
  ) {
    this.s3 = new S3Media(o.s3);
    const m = d.metrics;
    if (m !== undefined) {
      m.gauge('tapline_spool_recordings', 'Finished recordings not yet in shared storage (uploaded and catalogued)', [], (g) => g.set(this.pendingCount));
      m.gauge('tapline_spool_bytes', 'Bytes of finished recordings not yet in shared storage', [], (g) => g.set(this.pendingBytes));
      m.gauge('tapline_spool_over_limit', '1 while the spool holds more than its configured size (nothing is deleted)', [], (g) => g.set(this.pendingBytes > this.o.spoolMaxBytes ? 1 : 0));
      m.gauge('tapline_upload_failing', '1 while uploads to shared storage fail (the object store or the database is unreachable)', [], (g) => g.set(this.failures > 0 ? 1 : 0));
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Recordings this process finished and has not tried to upload yet: nothing of theirs can be in the bucket. */
  private readonly fresh = new Set<string>();

  /** A recording was finished (by this process when `id` is given): look at the spool now. */
  wake(id?: string): void {
    if (id !== undefined) this.fresh.add(id);
    this.wakeUp?.();
  }

  /** Waits up to drainMs for the spool to empty, then stops; returns how many recordings remain pending. */
  async stop(): Promise<number> {
    if (!this.running) {
      await this.release();
      return this.pendingCount;
    }
    const until = Date.now() + this.o.drainMs;
    while (Date.now() < until && this.refreshSpool() > 0) {
      this.wake();
      await new Promise((r) => setTimeout(r, 100));
    }
    this.running = false;
    this.wake();
    await this.loop;
    const left = this.refreshSpool();
    if (left > 0) this.d.log?.warn(`shared storage: ${left} recording(s) (${(this.pendingBytes / 1048576).toFixed(1)} MiB) not yet uploaded stay in ${this.d.root}; they are uploaded at the next start${this.lastError !== '' ? ` (last error: ${this.lastError})` : ''}`);
    await this.release();
    return left;
  }

  private async release(): Promise<void> {
    await this.pg?.close().catch(() => undefined);
    this.pg = undefined;
    this.s3.close();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let batch: string[] = [];
      try {
        batch = this.pendingIds(BATCH);
      } catch (e) {
        this.d.log?.error(`shared storage: reading the spool failed: ${(e as Error).message}`);
      }
      if (batch.length === 0) {
        await this.idle(IDLE_POLL_MS);
        continue;
      }
      for (const id of batch) {
        if (!this.running) break;
        try {
          await this.publishOne(id);
          if (this.failures > 0) this.d.log?.info(`shared storage: uploads resume after ${this.failures} failed attempt(s)`);
          this.failures = 0;
        } catch (e) {
          this.failed(id, e as Error);
          await this.idle(Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.failures - 1, 10)) * (0.75 + Math.random() / 2));
          break;
        }
      }
      this.refreshSpool();
    }
  }

  private failed(id: string, e: Error): void {
    this.failures++;
    this.lastError = describeStoreError(e);
    this.d.counters?.inc('uploadFailures');
    // A broken connection is dropped: the next attempt opens a new one.
    if (/connect|terminat|ECONN|closed|timeout/i.test(this.lastError)) {
      void this.pg?.close().catch(() => undefined);
      this.pg = undefined;
      this.bucketReady = false;
    }
    const now = Date.now();
    if (now - this.lastFailureLog >= 10_000 || this.failures === 1) {
      this.lastFailureLog = now;
      this.d.log?.warn(`shared storage: publishing recording ${id} failed (attempt ${this.failures}); kept in the spool, retrying: ${this.lastError}`, { recording: id });
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    }).then(() => {
      this.wakeUp = undefined;
    });
  }

  /** Finished recordings here that shared storage does not hold yet, oldest first. */
  pendingIds(limit: number): string[] {
    const rows = this.d
      .catalogue()
      .stmt(`SELECT id FROM recordings WHERE status IN ('complete', 'recovered') AND id NOT IN (SELECT recording_id FROM published) ORDER BY start, id LIMIT @limit`)
      .all({ limit: limit + 64 }) as Array<{ id: string }>;
    return rows.map((r) => r.id).filter((id) => !this.d.busy(id)).slice(0, limit);
  }

  /** Counts the spool and reports (once a minute) when it is past its size. Returns the pending recordings. */
  refreshSpool(): number {
    try {
      const r = this.d
        .catalogue()
        .stmt(
          `SELECT count(*) AS n, coalesce((SELECT sum(o.bytes) FROM objects o WHERE o.recording_id IN (SELECT id FROM recordings WHERE status IN ('complete', 'recovered') AND id NOT IN (SELECT recording_id FROM published))), 0) AS bytes
           FROM recordings WHERE status IN ('complete', 'recovered') AND id NOT IN (SELECT recording_id FROM published)`,
        )
        .get({}) as { n: number; bytes: number };
      this.pendingCount = r.n;
      this.pendingBytes = r.bytes;
    } catch {
      return this.pendingCount;
    }
    const now = Date.now();
    if (this.pendingBytes > this.o.spoolMaxBytes && now - this.lastSpoolWarn >= SPOOL_WARN_EVERY_MS) {
      this.lastSpoolWarn = now;
      this.d.counters?.inc('spoolOverLimit');
      this.d.log?.error(
        `shared storage: the spool holds ${(this.pendingBytes / 1048576).toFixed(1)} MiB in ${this.pendingCount} recording(s) not yet uploaded, over its ${(this.o.spoolMaxBytes / 1048576).toFixed(0)} MiB limit; nothing is deleted to make room. Uploads are failing: ${this.lastError || 'no error yet'}`,
        { spoolBytes: this.pendingBytes, recordings: this.pendingCount },
      );
    }
    return this.pendingCount;
  }

  /** Uploads and catalogues one recording; throws (leaving it pending) on any failure. */
  async publishOne(id: string, opts: { keep?: boolean } = {}): Promise<void> {
    const cat = this.d.catalogue();
    const rec = cat.record(id);
    if (rec === undefined) return;
    this.pg ??= await PgCatalogue.open(this.o.postgresUrl, this.d.log);
    if (!this.bucketReady) {
      await this.s3.ensureBucket();
      this.bucketReady = true;
    }
    const relDir = posixRel(this.d.root, rec.dir);
    const objects = objectsOf(cat, id).map((o) => ({ name: o.name, bytes: o.bytes, sha256: o.sha256, key: this.s3.key(`${relDir}/${o.name}`) }));
    let sent = 0;
    // A retry, or a recording from before a restart, asks the bucket what it already holds first.
    const check = !this.fresh.delete(id);
    for (const o of objects) {
      const r = await this.s3.putFile(o.key, path.join(rec.dir, o.name), o.sha256, check);
      if (r.uploaded) sent += r.bytes;
    }
    const meta = readMetadata(rec.metadata);
    const audioObj = meta.audio === undefined ? undefined : objects.find((o) => o.name === path.basename(meta.audio!.file));
    const where = (key: string): string => `s3://${this.o.s3.bucket}/${key}`;
    const shared: RecordingMetadata = audioObj === undefined || meta.audio === undefined ? meta : { ...meta, audio: { ...meta.audio, file: where(audioObj.key) } };
    // metadata.json as shared storage holds it: the audio named by its object.
    const metaKey = this.s3.key(`${relDir}/metadata.json`);
    const metaFile = path.join(rec.dir, '.metadata.shared.json');
    await fs.promises.writeFile(metaFile, JSON.stringify(shared, null, 2));
    try {
      const r = await this.s3.putFile(metaKey, metaFile, (await hashFile(metaFile)).sha256, check);
      if (r.uploaded) sent += r.bytes;
    } finally {
      await fs.promises.rm(metaFile, { force: true });
    }
    const replaced = await this.pg.publish(toShared(rec, shared, cat, objects, audioObj?.key ?? null, metaKey));
    if (replaced.length > 0) {
      await this.s3.deleteKeys(replaced).catch((e: Error) => this.d.log?.warn(`shared storage: deleting the objects of a replaced recording failed: ${e.message}`, { keys: replaced.length }));
    }
    const now = new Date().toISOString();
    const target = where(this.s3.key(relDir));
    if (opts.keep ?? this.o.keepLocal) cat.stmt('INSERT OR REPLACE INTO published (recording_id, at, target) VALUES (@id, @at, @target)').run({ id, at: now, target });
    else {
      await deleteRecording(cat, rec, `uploaded to shared storage: ${target}`, now, this.d.root);
      await removeEmptyParents(path.dirname(rec.dir), this.d.root);
    }
    this.d.counters?.inc('uploaded');
    if (sent > 0) this.d.counters?.inc('uploadedBytes', sent);
  }
}

/** The date folders a spooled recording leaves empty (up to, not including, the root); a busy one stays. */
async function removeEmptyParents(dir: string, root: string): Promise<void> {
  for (let d = dir; d.startsWith(root + path.sep) && d !== root; d = path.dirname(d)) {
    try {
      await fs.promises.rmdir(d);
    } catch {
      return;
    }
  }
}

function toShared(rec: CatalogueRecord, meta: RecordingMetadata, cat: Catalogue, objects: Array<{ name: string; key: string; bytes: number; sha256: string }>, audioKey: string | null, metadataKey: string): SharedRecording {
  const callKey = (cat.stmt('SELECT call_key FROM recordings WHERE id = @id').get({ id: rec.id }) as { call_key: string | null } | undefined)?.call_key ?? null;
  return {
    id: rec.id,
    callId: rec.callId,
    callKey,
    // The recorder (policy.recorderId) on its host: two hosts configured alike still publish apart.
    recorder: `${meta.recorder ?? 1}@${os.hostname()}`,
    start: rec.start,
    end: rec.end ?? null,
    durationSec: rec.durationSec ?? null,
    fromUri: rec.from,
    fromName: meta.call.from?.displayName ?? null,
    toUri: rec.to,
    toName: meta.call.to?.displayName ?? null,
    disposition: rec.disposition,
    status: rec.status,
    audioKey,
    audioFormat: meta.audio?.format ?? null,
    metadataKey,
    metadata: meta,
    direction: meta.direction,
    codecs: codecNames(meta),
    flags: flagKeys(meta),
    participants: cat.participants(rec.id),
    objects,
  };
}
