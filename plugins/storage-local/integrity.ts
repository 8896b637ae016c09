/**
 * Proof that recordings are what was recorded: the SHA-256 of each finished file of a recording (its audio and
 * attachments; not metadata.json, which gains links after the call), checked by `tapline verify`; and a manifest
 * per day of what was hashed that day, each naming the hash of the day before, the newest also in the catalogue.
 * Altering a file, a catalogued hash or an old manifest, or deleting a file without a record, shows.
 */
import { createHash, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Catalogue, CatalogueRecord } from './catalogue';

export const MANIFEST_FORMAT = 'tapline-manifest/1';
export const MANIFEST_DIR = 'manifests';
/** Not evidence: rewritten when a finished recording gains a link. */
const NOT_HASHED = new Set(['metadata.json']);
/** Files up to this size are read whole and hashed on libuv's thread pool (WebCrypto); larger ones streamed. */
const ONE_SHOT_MAX = 16 * 1024 * 1024;

export interface ObjectHash {
  name: string;
  bytes: number;
  sha256: string;
}

export async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const st = await fs.promises.stat(file);
  if (st.size <= ONE_SHOT_MAX) {
    // Off the event loop: a live recorder closes dozens of recordings a second.
    const data = await fs.promises.readFile(file);
    const digest = await webcrypto.subtle.digest('SHA-256', data);
    return { bytes: data.length, sha256: Buffer.from(digest).toString('hex') };
  }
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: h.digest('hex') };
}

/** The evidence files of a recording's folder: every regular file but metadata.json and temporary dot-files. */
export async function hashRecordingFiles(dir: string): Promise<ObjectHash[]> {
  let names: fs.Dirent[];
  try {
    names = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: ObjectHash[] = [];
  for (const d of names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!d.isFile() || d.name.startsWith('.') || NOT_HASHED.has(d.name)) continue;
    out.push({ name: d.name, ...(await hashFile(path.join(dir, d.name))) });
  }
  return out;
}

/** Whether this catalogue has the integrity tables (an older one opened read-only may not). */
export function hasIntegrity(cat: Catalogue): boolean {
  return cat.hasTable('objects');
}

export function saveObjects(cat: Catalogue, id: string, objects: readonly ObjectHash[], finished: string): void {
  const ins = cat.stmt('INSERT OR REPLACE INTO objects (recording_id, name, bytes, sha256, finished) VALUES (@id, @name, @bytes, @sha256, @finished)');
  for (const o of objects) ins.run({ id, name: o.name, bytes: o.bytes, sha256: o.sha256, finished });
}

export function objectsOf(cat: Catalogue, id: string): Array<ObjectHash & { finished: string }> {
  return cat.stmt('SELECT name, bytes, sha256, finished FROM objects WHERE recording_id = @id ORDER BY name').all({ id }) as Array<ObjectHash & { finished: string }>;
}

export function setCallKey(cat: Catalogue, id: string, key: string): void {
  cat.stmt('UPDATE recordings SET call_key = @key WHERE id = @id').run({ id, key });
}

/** Finished recordings of the same call (same key) other than `id`; one on legal hold is never replaced. */
export function sameCall(cat: Catalogue, key: string, id: string): CatalogueRecord[] {
  const rows = cat.stmt(`SELECT id FROM recordings WHERE call_key = @key AND id != @id AND status != 'recording' AND id NOT IN (SELECT recording_id FROM holds)`).all({ key, id }) as Array<{ id: string }>;
  return rows.map((r) => cat.record(r.id)).filter((r): r is CatalogueRecord => r !== undefined);
}

/**
 * Takes a recording out of the catalogue, recording each of its hashed files as removed with the reason (so a
 * manifest listing them is explained); `also` runs in the same transaction (an audit row).
 */
export function removeRecording(cat: Catalogue, id: string, reason: string, when: string, also?: () => void): void {
  cat.tx(() => {
    const ins = cat.stmt('INSERT OR REPLACE INTO removals (recording_id, name, sha256, removed, reason) VALUES (@id, @name, @sha256, @removed, @reason)');
    for (const o of objectsOf(cat, id)) ins.run({ id, name: o.name, sha256: o.sha256, removed: when, reason });
    cat.stmt('DELETE FROM recordings WHERE id = @id').run({ id });
    also?.();
  });
}

/** Whether `p` lies below `root` (never delete outside the recordings folder). */
function isInside(root: string, p: string): boolean {
  const r = path.relative(path.resolve(root), path.resolve(p));
  return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
}

/**
 * A recording deleted for good (replaced by a new recording of the same call, or expired): its row first, with
 * the removal on record, then its folder when that lies under `root`. A crash in between leaves files no row lists
 * (found again by recovery's scan), never a row whose audio is gone.
 */
export async function deleteRecording(cat: Catalogue, rec: CatalogueRecord, reason: string, when: string, root: string, also?: () => void): Promise<void> {
  removeRecording(cat, rec.id, reason, when, also);
  if (isInside(root, rec.dir)) await fs.promises.rm(rec.dir, { recursive: true, force: true });
}

interface ManifestObject {
  recording: string;
  name: string;
  bytes: number;
  sha256: string;
  finished: string;
}

/** The first line of a manifest (JSON Lines: this header, then one object per line). */
export interface ManifestHeader {
  format: string;
  day: string;
  previous: { day: string; sha256: string } | null;
}

/** Rows read per query: a day can hold millions of files; the event loop gets a turn between pages. */
const PAGE = 1000;

function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Writes the manifest of every day before `today` (UTC, YYYY-MM-DD) that has hashed files and none yet, oldest
 * first, each chained to the one before. Streamed page by page (JSON Lines): memory does not grow with the day's
 * files and capture keeps its turns. Returns the days written.
 */
export async function writeDueManifests(cat: Catalogue, root: string, today: string): Promise<string[]> {
  if (!hasIntegrity(cat)) return [];
  const last = cat.stmt('SELECT day, sha256 FROM manifests ORDER BY day DESC LIMIT 1').get({}) as { day: string; sha256: string } | undefined;
  const days = (
    cat.stmt(`SELECT DISTINCT substr(finished, 1, 10) AS day FROM objects WHERE finished < @today AND (@last IS NULL OR finished >= @after) ORDER BY day`).all({
      today,
      last: last?.day ?? null,
      after: last === undefined ? '' : nextDay(last.day),
    }) as Array<{ day: string }>
  ).map((r) => r.day);
  if (days.length === 0) return [];
  const dir = path.join(root, MANIFEST_DIR);
  await fs.promises.mkdir(dir, { recursive: true });
  let previous = last === undefined ? null : { day: last.day, sha256: last.sha256 };
  const page = cat.stmt(
    `SELECT recording_id, name, bytes, sha256, finished FROM objects WHERE finished >= @day AND finished < @next AND (finished, recording_id, name) > (@f, @r, @n)
     ORDER BY finished, recording_id, name LIMIT ${PAGE}`,
  );
  for (const day of days) {
    const file = path.join(dir, `${day}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    const fh = await fs.promises.open(tmp, 'w');
    const h = createHash('sha256');
    let count = 0;
    try {
      const write = async (text: string): Promise<void> => {
        const b = Buffer.from(text);
        h.update(b);
        await fh.write(b);
      };
      const header: ManifestHeader = { format: MANIFEST_FORMAT, day, previous };
      await write(JSON.stringify(header) + '\n');
      let after = { f: '', r: '', n: '' };
      for (;;) {
        if (!cat.isOpen) throw new Error('the catalogue was closed');
        const rows = page.all({ day, next: nextDay(day), ...after }) as Array<{ recording_id: string; name: string; bytes: number; sha256: string; finished: string }>;
        if (rows.length === 0) break;
        await write(rows.map((o) => JSON.stringify({ recording: o.recording_id, name: o.name, bytes: o.bytes, sha256: o.sha256, finished: o.finished } satisfies ManifestObject) + '\n').join(''));
        count += rows.length;
        const l = rows[rows.length - 1]!;
        after = { f: l.finished, r: l.recording_id, n: l.name };
        await turn();
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
    const sha256 = h.digest('hex');
    cat.stmt('INSERT INTO manifests (day, sha256, objects, written) VALUES (@day, @sha256, @objects, @written)').run({ day, sha256, objects: count, written: new Date().toISOString() });
    previous = { day, sha256 };
  }
  return days;
}

export interface VerifyOptions {
  /** ISO bounds on the recordings' start, as `recordings list` takes them. */
  from?: string;
  to?: string;
}

export interface VerifyReport {
  recordings: number;
  files: number;
  bytes: number;
  /** Finished recordings with audio and no hashes (catalogued before hashing existed). */
  notHashed: number;
  manifests: number;
  problems: string[];
}

/** Re-hashes every hashed file (of recordings in range) and walks the manifest chain. */
export async function verifyCatalogue(cat: Catalogue, root: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const report: VerifyReport = { recordings: 0, files: 0, bytes: 0, notHashed: 0, manifests: 0, problems: [] };
  if (!hasIntegrity(cat)) {
    report.problems.push(`the catalogue ${cat.file} predates file hashes (schema version < 3): open it once with a recorder of this version`);
    return report;
  }
  const where = [`status != 'recording'`];
  const params: Record<string, string> = {};
  if (opts.from !== undefined) {
    where.push('start >= @from');
    params.from = opts.from;
  }
  if (opts.to !== undefined) {
    where.push('start < @to');
    params.to = opts.to;
  }
  const recs = cat.stmt(`SELECT id, dir, audio FROM recordings WHERE ${where.join(' AND ')} ORDER BY start, id`).all(params) as Array<{ id: string; dir: string; audio: string | null }>;
  for (const r of recs) {
    report.recordings++;
    const objects = objectsOf(cat, r.id);
    if (objects.length === 0) {
      if (r.audio !== null) report.notHashed++;
      continue;
    }
    const dir = cat.abs(r.dir);
    for (const o of objects) {
      report.files++;
      const file = path.join(dir, o.name);
      let got: { bytes: number; sha256: string };
      try {
        got = await hashFile(file);
      } catch (e) {
        report.problems.push(`${r.id}: ${o.name} is missing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ${file}`);
        continue;
      }
      report.bytes += got.bytes;
      if (got.sha256 !== o.sha256) {
        report.problems.push(`${r.id}: ${o.name} was altered: ${got.bytes} bytes with SHA-256 ${got.sha256}, catalogued ${o.bytes} bytes with ${o.sha256} (hashed ${o.finished}): ${file}`);
      }
    }
  }
  await verifyManifests(cat, root, report);
  return report;
}

async function verifyManifests(cat: Catalogue, root: string, report: VerifyReport): Promise<void> {
  const rows = cat.stmt('SELECT day, sha256, objects FROM manifests ORDER BY day').all({}) as Array<{ day: string; sha256: string; objects: number }>;
  const dir = path.join(root, MANIFEST_DIR);
  const known = new Set(rows.map((r) => `${r.day}.json`));
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f));
  } catch {
    // No manifest written yet.
  }
  for (const f of files) if (!known.has(f)) report.problems.push(`manifest ${f} is not in the catalogue (added by hand, or the catalogue lost its record)`);
  const hashOf = cat.stmt('SELECT sha256 FROM objects WHERE recording_id = @id AND name = @name');
  const removedOf = cat.stmt('SELECT sha256 FROM removals WHERE recording_id = @id AND name = @name');
  let previous: { day: string; sha256: string } | null = null;
  for (const row of rows) {
    report.manifests++;
    const file = path.join(dir, `${row.day}.json`);
    const h = createHash('sha256');
    let header: ManifestHeader | undefined;
    let listed = 0;
    try {
      const input = fs.createReadStream(file);
      input.on('data', (b) => h.update(b as Buffer));
      for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
        if (line === '') continue;
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch (e) {
          report.problems.push(`manifest ${row.day}: a line is not JSON (${(e as Error).message})`);
          continue;
        }
        if (header === undefined) {
          header = v as ManifestHeader;
          continue;
        }
        listed++;
        const o = v as ManifestObject;
        const cur = hashOf.get({ id: o.recording, name: o.name }) as { sha256: string } | undefined;
        if (cur !== undefined) {
          if (cur.sha256 !== o.sha256) report.problems.push(`${o.recording}: ${o.name}: the catalogue's hash ${cur.sha256} differs from manifest ${row.day}'s ${o.sha256} (the catalogue was altered)`);
          continue;
        }
        const gone = removedOf.get({ id: o.recording, name: o.name }) as { sha256: string } | undefined;
        if (gone === undefined || gone.sha256 !== o.sha256) report.problems.push(`${o.recording}: ${o.name}, listed in manifest ${row.day}, is gone from the catalogue with no record of its removal`);
      }
    } catch (e) {
      report.problems.push(`manifest ${row.day} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ${file}`);
      previous = row;
      continue;
    }
    const sha = h.digest('hex');
    if (sha !== row.sha256) report.problems.push(`manifest ${row.day} was altered: SHA-256 ${sha}, catalogued ${row.sha256}: ${file}`);
    if (listed !== row.objects) report.problems.push(`manifest ${row.day} lists ${listed} files, the catalogue says it listed ${row.objects}`);
    const want = previous === null ? null : { day: previous.day, sha256: previous.sha256 };
    if (JSON.stringify(header?.previous ?? null) !== JSON.stringify(want) || header?.format !== MANIFEST_FORMAT) {
      report.problems.push(`manifest ${row.day}: the chain is broken: it names ${JSON.stringify(header?.previous ?? null)} as the day before, the catalogue ${JSON.stringify(want)}`);
    }
    previous = { day: row.day, sha256: row.sha256 };
  }
}
