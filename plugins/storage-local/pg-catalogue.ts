/**
 * The shared catalogue on PostgreSQL (pg through Kysely, a typed query builder): what many recorders publish their
 * finished recordings to and every reader (the CLI, the web app) searches. Each recorder keeps its own SQLite
 * catalogue as the journal of its spool; this one holds what has been uploaded. Versioned, forward-only
 * migrations (Kysely's Migrator and its kysely_migration table) run when a recorder opens it.
 */
import { Kysely, Migrator, PostgresDialect, sql, type ColumnType, type Generated, type Migration, type MigrationProvider } from 'kysely';
import { Pool } from 'pg';
import type { CatalogueEntry, CatalogueQuery, Logger } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { checkLimit, foldText, parseQueryDate } from './catalogue';

export interface RecordingsTable {
  id: string;
  call_id: string;
  call_key: string | null;
  recorder: string;
  start: Date;
  end: Date | null;
  duration_sec: number | null;
  from_uri: string;
  from_name: string | null;
  to_uri: string;
  to_name: string | null;
  disposition: string;
  status: string;
  audio_key: string | null;
  audio_format: string | null;
  metadata_key: string;
  /** jsonb: written as JSON text, read as the object. */
  metadata: ColumnType<unknown, string, string>;
  published: Generated<Date>;
  /** 0004: what the review app filters on (NULL on rows published before it, but direction, backfilled). */
  direction: ColumnType<string | null, string | null | undefined, string | null>;
  codecs: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
  flags: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
}

interface ParticipantsTable {
  recording_id: string;
  uri: string;
  name: string | null;
  role: string;
  /** foldText(uri + ' ' + name): what --user matches, through a trigram index. */
  folded: string;
}

interface ObjectsTable {
  recording_id: string;
  name: string;
  key: string;
  bytes: string | number;
  sha256: string;
}

interface HoldsTable {
  recording_id: string;
  reason: string;
  since: Date;
  by: string;
}

interface AuditTable {
  id: Generated<string>;
  at: Date;
  actor: string;
  action: string;
  recording_id: string;
  detail: string;
}

export interface SharedDb {
  recordings: RecordingsTable;
  participants: ParticipantsTable;
  objects: ObjectsTable;
  holds: HoldsTable;
  audit: AuditTable;
}

/** In order; applied ones are never edited (a change is a new migration). */
const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_recordings': {
    up: async (db) => {
      await sql`CREATE TABLE recordings (
        id text PRIMARY KEY,
        call_id text NOT NULL,
        call_key text,
        recorder text NOT NULL,
        start timestamptz NOT NULL,
        "end" timestamptz,
        duration_sec double precision,
        from_uri text NOT NULL,
        from_name text,
        to_uri text NOT NULL,
        to_name text,
        disposition text NOT NULL,
        status text NOT NULL,
        audio_key text,
        audio_format text,
        metadata_key text NOT NULL,
        metadata jsonb NOT NULL,
        published timestamptz NOT NULL DEFAULT now()
      )`.execute(db);
      await sql`CREATE INDEX recordings_start ON recordings (start DESC, id DESC)`.execute(db);
      await sql`CREATE INDEX recordings_call_key ON recordings (call_key)`.execute(db);
      await sql`CREATE TABLE participants (
        recording_id text NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        uri text NOT NULL,
        name text,
        role text NOT NULL,
        folded text NOT NULL
      )`.execute(db);
      await sql`CREATE INDEX participants_recording ON participants (recording_id)`.execute(db);
      await sql`CREATE TABLE objects (
        recording_id text NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        name text NOT NULL,
        key text NOT NULL,
        bytes bigint NOT NULL,
        sha256 text NOT NULL,
        PRIMARY KEY (recording_id, name)
      )`.execute(db);
    },
  },
  // Substring search by user (URI or name) from a trigram index, as the SQLite catalogue's FTS5 trigram table does.
  // pg_trgm ships with PostgreSQL (contrib); creating it needs the privilege to (or a DBA who did it first).
  '0002_participant_trigrams': {
    up: async (db) => {
      await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
      await sql`CREATE INDEX participants_folded ON participants USING gin (folded gin_trgm_ops)`.execute(db);
    },
  },
  // Legal holds and the audit log of deletions, holds and releases (retention on shared storage).
  '0003_retention': {
    up: async (db) => {
      await sql`CREATE TABLE holds (
        recording_id text PRIMARY KEY REFERENCES recordings(id) ON DELETE RESTRICT,
        reason text NOT NULL,
        since timestamptz NOT NULL,
        by text NOT NULL
      )`.execute(db);
      await sql`CREATE TABLE audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        recording_id text NOT NULL,
        detail text NOT NULL
      )`.execute(db);
      await sql`CREATE INDEX audit_at ON audit (at)`.execute(db);
    },
  },
  // The review app's filters: direction, codecs and flag keys (core/media/metadata codecNames, flagKeys).
  '0004_review': {
    up: async (db) => {
      await sql`ALTER TABLE recordings ADD COLUMN direction text, ADD COLUMN codecs text[], ADD COLUMN flags text[]`.execute(db);
      await sql`UPDATE recordings SET direction = metadata->>'direction'`.execute(db);
      await sql`CREATE INDEX recordings_duration ON recordings (duration_sec)`.execute(db);
      await sql`CREATE INDEX participants_uri ON participants (uri)`.execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(MIGRATIONS) };

/** What a recorder publishes: the row, its participants, its objects' keys and hashes. */
export interface SharedRecording {
  id: string;
  callId: string;
  callKey: string | null;
  recorder: string;
  start: string;
  end: string | null;
  durationSec: number | null;
  fromUri: string;
  fromName: string | null;
  toUri: string;
  toName: string | null;
  disposition: string;
  status: string;
  audioKey: string | null;
  audioFormat: string | null;
  metadataKey: string;
  metadata: unknown;
  direction: string | null;
  codecs: string[];
  flags: string[];
  participants: Array<{ uri: string; name?: string; role: string }>;
  objects: Array<{ name: string; key: string; bytes: number; sha256: string }>;
}

export interface SharedEntry extends CatalogueEntry {
  recorder: string;
  audioFormat?: string;
}

export class PgCatalogue {
  private constructor(readonly db: Kysely<SharedDb>) {}

  /**
   * Connects and brings the schema up to date. The pool's idle-client errors (the server restarted) are logged,
   * never thrown: the next query reconnects.
   */
  static async open(url: string, log?: Logger, o: { migrate?: boolean; max?: number } = {}): Promise<PgCatalogue> {
    const pool = new Pool({ connectionString: url, max: o.max ?? 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
    pool.on('error', (e) => log?.warn(`shared catalogue: a PostgreSQL connection failed: ${e.message}`));
    const db = new Kysely<SharedDb>({ dialect: new PostgresDialect({ pool }) });
    const cat = new PgCatalogue(db);
    if (o.migrate !== false) {
      try {
        await cat.migrate();
      } catch (e) {
        await cat.close();
        throw e;
      }
    }
    return cat;
  }

  async migrate(): Promise<string[]> {
    const { error, results } = await new Migrator({ db: this.db, provider }).migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new TaplineError(ErrorCodes.USAGE, `shared catalogue: migration ${failed ?? ''} failed: ${(error as Error).message}`, { migration: failed });
    }
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  /**
   * Publishes a recording in one transaction: its row, participants and objects replace any earlier publication
   * of the same id (a retry after a lost reply); rows of the same call recorded again (same call key and
   * recorder) are taken out. Returns their object keys, for the caller to delete once this has committed.
   */
  async publish(r: SharedRecording): Promise<string[]> {
    return this.db.transaction().execute(async (tx) => {
      // A held recording is never replaced (nor deleted by anything but a release and retention).
      const replaced =
        r.callKey === null
          ? []
          : await tx
              .selectFrom('recordings')
              .select('id')
              .where('call_key', '=', r.callKey)
              .where('recorder', '=', r.recorder)
              .where('id', '!=', r.id)
              .where('id', 'not in', (eb) => eb.selectFrom('holds').select('recording_id'))
              .execute();
      const oldIds = replaced.map((x) => x.id);
      const oldKeys = oldIds.length === 0 ? [] : (await tx.selectFrom('objects').select('key').where('recording_id', 'in', oldIds).execute()).map((x) => x.key);
      if (oldIds.length > 0) await tx.deleteFrom('recordings').where('id', 'in', oldIds).execute();
      const row = {
        call_id: r.callId,
        call_key: r.callKey,
        recorder: r.recorder,
        start: new Date(r.start),
        end: r.end === null ? null : new Date(r.end),
        duration_sec: r.durationSec,
        from_uri: r.fromUri,
        from_name: r.fromName,
        to_uri: r.toUri,
        to_name: r.toName,
        disposition: r.disposition,
        status: r.status,
        audio_key: r.audioKey,
        audio_format: r.audioFormat,
        metadata_key: r.metadataKey,
        metadata: JSON.stringify(r.metadata),
        direction: r.direction,
        codecs: r.codecs,
        flags: r.flags,
      };
      // Published again (a retry after a lost reply): the row updated in place, its lists replaced.
      await tx
        .insertInto('recordings')
        .values({ id: r.id, ...row })
        .onConflict((oc) => oc.column('id').doUpdateSet(row))
        .execute();
      await tx.deleteFrom('participants').where('recording_id', '=', r.id).execute();
      await tx.deleteFrom('objects').where('recording_id', '=', r.id).execute();
      if (r.participants.length > 0) {
        await tx
          .insertInto('participants')
          .values(r.participants.map((p) => ({ recording_id: r.id, uri: p.uri, name: p.name ?? null, role: p.role, folded: foldText(`${p.uri} ${p.name ?? ''}`) })))
          .execute();
      }
      if (r.objects.length > 0) {
        await tx
          .insertInto('objects')
          .values(r.objects.map((o) => ({ recording_id: r.id, name: o.name, key: o.key, bytes: o.bytes, sha256: o.sha256 })))
          .execute();
      }
      return oldKeys;
    });
  }

  /** Newest first; `user` matches a participant's URI or name as a substring, any case (a trigram index). */
  async list(q: CatalogueQuery & { recorder?: string } = {}): Promise<SharedEntry[]> {
    let query = this.db.selectFrom('recordings').selectAll().orderBy('start', 'desc').orderBy('id', 'desc').limit(checkLimit(q.limit));
    const from = q.from !== undefined ? parseQueryDate(q.from, 'from') : undefined;
    const to = q.to !== undefined ? parseQueryDate(q.to, 'to') : undefined;
    if (from !== undefined && to !== undefined && from > to) throw new TaplineError(ErrorCodes.USAGE, `invalid range: from (${q.from}) is after to (${q.to})`, { from: q.from, to: q.to });
    if (from !== undefined) query = query.where('start', '>=', new Date(from));
    if (to !== undefined) query = query.where('start', '<', new Date(to));
    if (q.recorder !== undefined) query = query.where('recorder', '=', q.recorder);
    if (q.user !== undefined && q.user !== '') {
      const pattern = `%${foldText(q.user).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where('id', 'in', (eb) => eb.selectFrom('participants').select('recording_id').where('folded', 'like', pattern));
    }
    return (await query.execute()).map(toEntry);
  }

  async get(id: string): Promise<{ entry: SharedEntry; metadata: unknown; objects: Array<{ name: string; key: string; bytes: number; sha256: string }> } | undefined> {
    const row = await this.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    const objects = await this.db.selectFrom('objects').select(['name', 'key', 'bytes', 'sha256']).where('recording_id', '=', id).orderBy('name').execute();
    return { entry: toEntry(row), metadata: row.metadata, objects: objects.map((o) => ({ ...o, bytes: Number(o.bytes) })) };
  }

  /** A recording by id, a unique id prefix (4+ characters) or a Call-ID (the newest recording of that call). */
  async resolve(ref: string): Promise<string> {
    if ((await this.db.selectFrom('recordings').select('id').where('id', '=', ref).executeTakeFirst()) !== undefined) return ref;
    if (ref.length >= 4) {
      const byPrefix = await this.db.selectFrom('recordings').select('id').where('id', 'like', `${ref.replace(/[\\%_]/g, (c) => `\\${c}`)}%`).limit(2).execute();
      if (byPrefix.length > 1) throw new TaplineError(ErrorCodes.USAGE, `"${ref}" matches more than one recording in the shared catalogue: give more of the id`, { ref });
      if (byPrefix.length === 1) return byPrefix[0]!.id;
    }
    const byCall = await this.db.selectFrom('recordings').select('id').where('call_id', '=', ref).orderBy('start', 'desc').limit(1).executeTakeFirst();
    if (byCall !== undefined) return byCall.id;
    throw new TaplineError(ErrorCodes.USAGE, `no recording "${ref}" in the shared catalogue (an id, a unique prefix of one, or a Call-ID)`, { ref });
  }

  /** A re-wrapped object's new hash and size (a key rotation rewrites its header). */
  async updateObject(recordingId: string, name: string, o: { bytes: number; sha256: string }): Promise<void> {
    await this.db.updateTable('objects').set({ bytes: o.bytes, sha256: o.sha256 }).where('recording_id', '=', recordingId).where('name', '=', name).execute();
  }

  async count(): Promise<number> {
    const r = await this.db.selectFrom('recordings').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

function toEntry(r: { id: string; call_id: string; start: Date; end: Date | null; duration_sec: number | null; from_uri: string; to_uri: string; disposition: string; status: string; metadata_key: string; recorder: string; audio_key: string | null; audio_format: string | null }): SharedEntry {
  const e: SharedEntry = {
    id: r.id,
    callId: r.call_id,
    start: r.start.toISOString(),
    from: r.from_uri,
    to: r.to_uri,
    disposition: r.disposition,
    status: r.status,
    metadata: r.metadata_key,
    recorder: r.recorder,
  };
  if (r.end !== null) e.end = r.end.toISOString();
  if (r.duration_sec !== null) e.durationSec = r.duration_sec;
  if (r.audio_key !== null) e.audio = r.audio_key;
  if (r.audio_format !== null) e.audioFormat = r.audio_format;
  return e;
}
