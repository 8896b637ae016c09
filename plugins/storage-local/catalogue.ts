/**
 * The catalogue: one SQLite file (WAL, prepared statements) listing every recording, queryable by date and by
 * participant. Paths are stored relative to the catalogue's folder so recordings and catalogue can move together.
 * PRAGMA user_version holds the schema version; migrations run in order on a writable open.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { CatalogueEntry, CatalogueQuery } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { wellFormed } from './paths';
import { TRANSCRIPTS_MIGRATION } from './transcripts-schema';
import { IDENTITY_MIGRATION } from './identity-schema';
import { RETENTION_MIGRATION } from './retention';
import { MIN_INDEXED_CHARS, SEARCH_MIGRATION, substringQuery } from './search-schema';
import { SPOOL_MIGRATION } from './spool-schema';
import { REVIEW_MIGRATION, listColumn } from './review-schema';
import { codecNames, flagKeys } from '../../core/media/metadata';
import type { RecordingMetadata, RecordingStatus } from '../../core/media/metadata';

export const SCHEMA_VERSION = 7;

/** How long opening waits for other processes' locks (also better-sqlite3's busy timeout below). */
const LOCK_WAIT_MS = 5000;

/** Runs fn again while SQLite says another connection holds the lock it needs, up to LOCK_WAIT_MS. */
function whileBusy<T>(fn: () => T): T {
  const until = Date.now() + LOCK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() > until) throw e;
      Atomics.wait(pause, 0, 0, 10 + Math.floor(Math.random() * 20));
    }
  }
}
export const DEFAULT_LIST_LIMIT = 100;

/** Each entry upgrades the schema from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE recordings (
     id TEXT PRIMARY KEY,
     call_id TEXT NOT NULL,
     start TEXT NOT NULL,               -- ISO 8601 UTC, 'YYYY-MM-DDTHH:MM:SS.sssZ' (sorts as text)
     "end" TEXT,
     duration_sec REAL,
     from_uri TEXT NOT NULL,
     from_name TEXT,
     to_uri TEXT NOT NULL,
     to_name TEXT,
     disposition TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'recovered')),
     dir TEXT NOT NULL,
     audio TEXT,
     metadata TEXT NOT NULL,
     owner TEXT                         -- host|boot-id|pid of the writer, so recovery leaves live writers alone
   );
   CREATE INDEX recordings_start ON recordings(start);
   CREATE INDEX recordings_call_id ON recordings(call_id);
   CREATE INDEX recordings_unfinished ON recordings(status) WHERE status = 'recording';
   CREATE TABLE participants (
     id INTEGER PRIMARY KEY,
     recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
     uri TEXT NOT NULL,
     name TEXT,
     role TEXT NOT NULL
   );
   CREATE INDEX participants_uri ON participants(uri);
   CREATE INDEX participants_recording ON participants(recording_id);`,
  // 2: chat transcripts, and the calls' Ms-Conversation-ID that links a chat to its calls.
  TRANSCRIPTS_MIGRATION,
  // 3: a call's identity (re-recording replaces), file hashes, removals and daily manifests.
  IDENTITY_MIGRATION,
  // 4: legal holds and the audit log (retention).
  RETENTION_MIGRATION,
  // 5: participant substring search from a trigram index.
  SEARCH_MIGRATION,
  // 6: what the shared storage already holds (the folder as a spool).
  SPOOL_MIGRATION,
  // 7: direction, codecs and flags for the review app's search.
  REVIEW_MIGRATION,
];

export interface Participant {
  uri: string;
  name?: string;
  /** 'caller', 'callee', 'transfer-target'. */
  role: string;
}

/** Who took part, for --user search: caller, callee and anyone the call was transferred to. */
export function participantsOf(meta: RecordingMetadata): Participant[] {
  const side = (p: { uri: string; displayName?: string }, role: string): Participant =>
    p.displayName !== undefined && p.displayName !== '' ? { uri: p.uri, name: p.displayName, role } : { uri: p.uri, role };
  return [side(meta.call.from, 'caller'), side(meta.call.to, 'callee'), ...meta.call.refers.map((r) => ({ uri: r.referTo, role: 'transfer-target' }))];
}

/** The catalogue fields a metadata.json determines; `audio` is the audio file, if there is one. */
export function updateFromMetadata(meta: RecordingMetadata, audio: string | undefined): RecordingUpdate {
  // The recording's length when there is audio, else the call's.
  const durationSec = meta.audio?.durationSec ?? meta.call.durationSec;
  return {
    status: meta.status,
    disposition: meta.call.disposition,
    fromUri: meta.call.from.uri,
    toUri: meta.call.to.uri,
    participants: participantsOf(meta),
    ...(meta.call.from.displayName !== undefined ? { fromName: meta.call.from.displayName } : {}),
    ...(meta.call.to.displayName !== undefined ? { toName: meta.call.to.displayName } : {}),
    ...(meta.call.end !== undefined ? { end: meta.call.end } : {}),
    ...(durationSec !== undefined ? { durationSec } : {}),
    ...(meta.call.conversationId !== undefined ? { conversationId: meta.call.conversationId } : {}),
    ...(audio !== undefined ? { audio } : {}),
    direction: meta.direction,
    codecs: codecNames(meta),
    flags: flagKeys(meta),
  };
}

export interface NewRecording {
  id: string;
  callId: string;
  /** ISO date-time (UTC). */
  start: string;
  fromUri: string;
  fromName?: string;
  toUri: string;
  toName?: string;
  disposition: string;
  status: RecordingStatus;
  end?: string;
  durationSec?: number;
  /** Absolute paths. */
  dir: string;
  audio?: string;
  metadata: string;
  owner?: string;
  participants: Participant[];
  conversationId?: string;
}

export interface RecordingUpdate {
  status: RecordingStatus;
  end?: string;
  durationSec?: number;
  disposition: string;
  fromUri: string;
  fromName?: string;
  toUri: string;
  toName?: string;
  /** undefined: no audio file (e.g. no media was seen). */
  audio?: string;
  /** Replaces the participant list when given. */
  participants?: Participant[];
  /** Ms-Conversation-ID: links the call to chats of the same conversation. */
  conversationId?: string;
  direction?: string;
  /** Encoding names and flag keys (core/media/metadata codecNames, flagKeys). */
  codecs?: readonly string[];
  flags?: readonly string[];
}

/** A row as the store and recovery need it: entry plus absolute folder and writer. */
export interface CatalogueRecord extends CatalogueEntry {
  dir: string;
  owner?: string;
}

/** A `recordings` row as SQLite gives it (schema version 7 adds direction, codecs and flags). */
export interface RecordingRow {
  id: string;
  call_id: string;
  start: string;
  end: string | null;
  duration_sec: number | null;
  from_uri: string;
  from_name: string | null;
  to_uri: string;
  to_name: string | null;
  disposition: string;
  status: string;
  dir: string;
  audio: string | null;
  metadata: string;
  owner: string | null;
  direction?: string | null;
  codecs?: string | null;
  flags?: string | null;
}

type Row = RecordingRow;

export type Params = Record<string, string | number | null>;

function wellFormedParams(p: Params): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(p)) out[k] = typeof v === 'string' ? wellFormed(v) : v;
  return out;
}

/** Case- and width-insensitive key for --user matching (SQLite's LIKE/lower fold ASCII only). */
export function foldText(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A query bound as an ISO UTC string. Dates and date-times without a zone are the local time of the machine
 * running the query (what someone typing `--from 2026-03-01` means); 'Z' or '+01:00' are taken as written.
 */
export function parseQueryDate(value: string, field: string): string {
  const m = DATE_RE.exec(value.trim());
  const bad = (why: string): never => {
    throw new TaplineError(
      ErrorCodes.USAGE,
      `invalid ${field} "${value}": ${why}; expected a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM[:SS[.fff]] with an optional Z or ±HH:MM`,
      { field, value },
    );
  };
  if (m === null) return bad('not a date or date-time');
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const num = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const [Y, M, D, H, MI, S] = num;
  const ms = Number((frac + '000').slice(0, 3));
  if (M < 1 || M > 12) return bad(`month ${M} does not exist`);
  const daysInMonth = new Date(Date.UTC(Y, M, 0)).getUTCDate();
  if (D < 1 || D > daysInMonth) return bad(`day ${D} does not exist in ${y}-${mo}`);
  if (H > 23 || MI > 59 || S > 59) return bad('time out of range');
  let t: number;
  if (zone === undefined) {
    const local = new Date(Y, M - 1, D, H, MI, S, ms);
    local.setFullYear(Y); // years 0-99 would otherwise be read as 1900-1999
    t = local.getTime();
  } else {
    let offsetMin = 0;
    if (zone.toUpperCase() !== 'Z') {
      const z = zone.replace(':', '');
      const oh = Number(z.slice(1, 3));
      const om = Number(z.slice(3, 5));
      if (oh > 23 || om > 59) return bad('zone offset out of range');
      offsetMin = (z[0] === '-' ? -1 : 1) * (oh * 60 + om);
    }
    const utc = new Date(0);
    utc.setUTCFullYear(Y, M - 1, D);
    utc.setUTCHours(H, MI, S, ms);
    t = utc.getTime() - offsetMin * 60_000;
  }
  if (!Number.isFinite(t)) return bad('out of range');
  return new Date(t).toISOString();
}

export function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new TaplineError(ErrorCodes.USAGE, `invalid limit ${String(limit)}: expected a whole number of at least 1`, { field: 'limit', value: limit });
  }
  return limit;
}

export interface OpenOptions {
  /** Open an existing catalogue for reading only (the CLI): no schema changes, no WAL switch. */
  readonly?: boolean;
}

/** Grouped writes waiting for their shared commit (Catalogue.grouped). */
interface WriteGroup {
  waiters: Array<{ done: () => void; fail: (e: Error) => void }>;
}

export class Catalogue {
  private readonly stmts = new Map<string, Database.Statement<Params[], unknown>>();
  /** Folder relative paths are resolved against. */
  readonly base: string;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {
    this.base = path.dirname(file);
  }

  /** Opens (and, writable, creates or migrates) the catalogue at `file`. */
  static open(file: string, opts: OpenOptions = {}): Catalogue {
    const abs = path.resolve(file);
    const readonly = opts.readonly === true;
    if (readonly && !fs.existsSync(abs)) {
      throw new TaplineError(ErrorCodes.USAGE, `no recordings catalogue at ${abs} (nothing recorded there yet, or another --config / storage-local "catalogue" option is meant)`, {
        file: abs,
      });
    }
    if (!readonly) fs.mkdirSync(path.dirname(abs), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(abs, { readonly, fileMustExist: readonly, timeout: LOCK_WAIT_MS });
      // Before any migration: schema 5's index and triggers fold text with it.
      db.function('tl_fold', { deterministic: true }, (s: unknown) => (typeof s === 'string' ? foldText(s) : ''));
    } catch (e) {
      throw new TaplineError(ErrorCodes.USAGE, `cannot open the recordings catalogue ${abs}: ${(e as Error).message}`, { file: abs }, e);
    }
    try {
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version > SCHEMA_VERSION) {
        throw new TaplineError(ErrorCodes.USAGE, `catalogue ${abs} has schema version ${version}, newer than this Tapline understands (${SCHEMA_VERSION}); upgrade Tapline`, {
          file: abs,
          version,
        });
      }
      if (readonly) {
        if (version === 0) throw new TaplineError(ErrorCodes.USAGE, `${abs} is not a Tapline recordings catalogue (no schema)`, { file: abs });
      } else {
        // WAL: readers (the CLI) never block the recorder; NORMAL sync is crash-safe in WAL mode.
        // Switching a new file to WAL takes an exclusive lock, and SQLite answers BUSY at once (no busy handler) while
        // another recorder opening it holds one: retried for the same 5 s as any other lock wait.
        whileBusy(() => db.pragma('journal_mode = WAL'));
        db.pragma('synchronous = NORMAL');
        // The version is read again under the write lock (IMMEDIATE): recorders started together on a new folder
        // all saw version 0 above, and all but the first must find the schema made, not make it again.
        whileBusy(() => db.transaction(() => {
          const current = Number(db.pragma('user_version', { simple: true }));
          if (current > SCHEMA_VERSION) {
            throw new TaplineError(ErrorCodes.USAGE, `catalogue ${abs} has schema version ${current}, newer than this Tapline understands (${SCHEMA_VERSION}); upgrade Tapline`, {
              file: abs,
              version: current,
            });
          }
          for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
          if (current < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate());
      }
      db.pragma('foreign_keys = ON');
    } catch (e) {
      db.close();
      if (e instanceof TaplineError) throw e;
      throw new TaplineError(ErrorCodes.USAGE, `${abs} is not a usable recordings catalogue: ${(e as Error).message}`, { file: abs }, e);
    }
    return new Catalogue(db, abs);
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    // Grouped writes not yet committed are committed first.
    if (this.group !== undefined) this.commitGroup(this.group);
    if (this.db.open) this.db.close();
  }

  /** Prepared once per SQL text; string parameters made well-formed (SQLite would store broken UTF-8). Also used by transcripts.ts. */
  stmt(sql: string): { run(p: Params): Database.RunResult; get(p: Params): unknown; all(p: Params): unknown[] } {
    let st = this.stmts.get(sql);
    if (st === undefined) {
      st = this.db.prepare<Params[], unknown>(sql);
      this.stmts.set(sql, st);
    }
    const s = st;
    return { run: (p) => s.run(wellFormedParams(p)), get: (p) => s.get(wellFormedParams(p)), all: (p) => s.all(wellFormedParams(p)) };
  }

  /** Catalogue-relative form of a path (also for transcripts.ts). */
  rel(p: string): string {
    const r = path.relative(this.base, p);
    // Outside the catalogue's folder (a custom "catalogue" location): keep it absolute.
    return r === '' || r === '..' || r.startsWith('..' + path.sep) || path.isAbsolute(r) ? path.resolve(p) : r;
  }

  abs(p: string): string {
    return path.resolve(this.base, p);
  }

  /** Runs fn in one transaction. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** The write transaction this turn of the event loop's grouped writes share, and who waits for its commit. */
  private group: WriteGroup | undefined;

  /**
   * Runs `fn` in a write transaction shared with the other grouped writes made before the event loop turns (group
   * commit), and resolves once that transaction is committed; rejects if the commit fails (then none of the group's
   * writes were kept). A commit writes the WAL (~0.3 ms of system calls here); a recording made four of them, and
   * serve at 75 calls a second spent a tenth of its main thread committing. `fn` failing undoes only its own part (a
   * savepoint). Other writes made meanwhile join the group; readers on other connections see the group's writes at
   * its commit, a turn of the loop later.
   */
  grouped<T>(fn: () => T): Promise<T> {
    let g = this.group;
    let result: T;
    try {
      // Called inside someone's transaction: part of it (a savepoint), committed with it.
      if (g === undefined && this.db.inTransaction) return Promise.resolve(this.db.transaction(fn)());
      if (g === undefined) {
        this.db.exec('BEGIN IMMEDIATE'); // waits for another recorder's write lock like any transaction
        const fresh: WriteGroup = { waiters: [] };
        this.group = g = fresh;
        setImmediate(() => this.commitGroup(fresh));
      }
      result = this.db.transaction(fn)();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const waiters = g.waiters;
    return new Promise<T>((resolve, reject) => waiters.push({ done: () => resolve(result), fail: reject }));
  }

  private commitGroup(g: WriteGroup): void {
    if (this.group !== g) return;
    this.group = undefined;
    try {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.open && this.db.inTransaction) this.db.exec('ROLLBACK');
      const err = e instanceof Error ? e : new Error(String(e));
      for (const w of g.waiters) w.fail(err);
      return;
    }
    for (const w of g.waiters) w.done();
  }

  /** True when the table exists (a read-only open of an older catalogue may lack the newer ones). */
  hasTable(name: string): boolean {
    return this.stmt(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = @name`).get({ name }) !== undefined;
  }

  insert(r: NewRecording): void {
    this.db.transaction(() => {
      this.stmt(
        `INSERT INTO recordings (id, call_id, start, "end", duration_sec, from_uri, from_name, to_uri, to_name, disposition, status, dir, audio, metadata, owner, conversation_id)
         VALUES (@id, @call_id, @start, @end, @duration_sec, @from_uri, @from_name, @to_uri, @to_name, @disposition, @status, @dir, @audio, @metadata, @owner, @conversation_id)`,
      ).run({
        id: r.id,
        call_id: r.callId,
        start: r.start,
        end: r.end ?? null,
        duration_sec: r.durationSec ?? null,
        from_uri: r.fromUri,
        from_name: r.fromName ?? null,
        to_uri: r.toUri,
        to_name: r.toName ?? null,
        disposition: r.disposition,
        status: r.status,
        dir: this.rel(r.dir),
        audio: r.audio === undefined ? null : this.rel(r.audio),
        metadata: this.rel(r.metadata),
        owner: r.owner ?? null,
        conversation_id: r.conversationId ?? null,
      });
      this.setParticipants(r.id, r.participants, true);
    })();
  }

  /** Returns false when no such recording is catalogued. */
  update(id: string, u: RecordingUpdate): boolean {
    return this.db.transaction(() => {
      const res = this.stmt(
        `UPDATE recordings SET status = @status, "end" = @end, duration_sec = @duration_sec, disposition = @disposition,
           from_uri = @from_uri, from_name = @from_name, to_uri = @to_uri, to_name = @to_name, audio = @audio,
           conversation_id = coalesce(@conversation_id, conversation_id),
           direction = coalesce(@direction, direction), codecs = coalesce(@codecs, codecs), flags = coalesce(@flags, flags)
         WHERE id = @id`,
      ).run({
        id,
        status: u.status,
        end: u.end ?? null,
        duration_sec: u.durationSec ?? null,
        disposition: u.disposition,
        from_uri: u.fromUri,
        from_name: u.fromName ?? null,
        to_uri: u.toUri,
        to_name: u.toName ?? null,
        audio: u.audio === undefined ? null : this.rel(u.audio),
        conversation_id: u.conversationId ?? null,
        direction: u.direction ?? null,
        codecs: u.codecs === undefined ? null : listColumn(u.codecs),
        flags: u.flags === undefined ? null : listColumn(u.flags),
      });
      if (res.changes === 0) return false;
      if (u.participants !== undefined) this.setParticipants(id, u.participants);
      return true;
    })();
  }

  /** `fresh`: a row just inserted, with no participants yet (nothing to compare). */
  private setParticipants(id: string, list: Participant[], fresh = false): void {
    const seen = new Set<string>();
    const rows: Participant[] = [];
    for (const p of list) {
      const key = `${p.role}\u0000${p.uri}\u0000${p.name ?? ''}`;
      if (seen.has(key) || (p.uri === '' && (p.name ?? '') === '')) continue;
      seen.add(key);
      rows.push(p);
    }
    // Unchanged (every metadata refresh of a running call): no rewrite, and no churn in the search index.
    if (!fresh) {
      const current = this.participants(id);
      if (current.length === rows.length && current.every((c, i) => c.uri === rows[i]?.uri && c.role === rows[i]?.role && (c.name ?? '') === (rows[i]?.name ?? ''))) return;
      this.stmt('DELETE FROM participants WHERE recording_id = @id').run({ id });
    }
    const ins = this.stmt('INSERT INTO participants (recording_id, uri, name, role) VALUES (@id, @uri, @name, @role)');
    for (const p of rows) ins.run({ id, uri: p.uri, name: p.name ?? null, role: p.role });
  }

  participants(id: string): Participant[] {
    const rows = this.stmt('SELECT uri, name, role FROM participants WHERE recording_id = @id ORDER BY id').all({ id }) as Array<{ uri: string; name: string | null; role: string }>;
    return rows.map((r) => (r.name === null ? { uri: r.uri, role: r.role } : { uri: r.uri, name: r.name, role: r.role }));
  }

  private toRecord(r: Row): CatalogueRecord {
    const e: CatalogueRecord = {
      id: r.id,
      callId: r.call_id,
      start: r.start,
      from: r.from_uri,
      to: r.to_uri,
      disposition: r.disposition,
      status: r.status,
      metadata: this.abs(r.metadata),
      dir: this.abs(r.dir),
    };
    if (r.end !== null) e.end = r.end;
    if (r.duration_sec !== null) e.durationSec = r.duration_sec;
    if (r.audio !== null) e.audio = this.abs(r.audio);
    if (r.owner !== null) e.owner = r.owner;
    return e;
  }

  /** The public entry (no folder or writer fields). */
  static entry(r: CatalogueRecord): CatalogueEntry {
    const { dir: _dir, owner: _owner, ...entry } = r;
    return entry;
  }

  record(id: string): CatalogueRecord | undefined {
    const row = this.stmt('SELECT * FROM recordings WHERE id = @id').get({ id }) as Row | undefined;
    return row === undefined ? undefined : this.toRecord(row);
  }

  get(id: string): CatalogueEntry | undefined {
    const r = this.record(id);
    return r === undefined ? undefined : Catalogue.entry(r);
  }

  /**
   * A recording by its id, a unique prefix of it (4 characters or more), or a Call-ID only one recording has.
   * More than one match is a usage error listing them (newest first): a prefix too short, a call recorded in parts.
   */
  resolve(ref: string): CatalogueEntry | undefined {
    const exact = this.get(ref);
    if (exact !== undefined) return exact;
    const pick = (rows: Row[], what: string): CatalogueEntry | undefined => {
      if (rows.length === 1) return Catalogue.entry(this.toRecord(rows[0] as Row));
      if (rows.length === 0) return undefined;
      const list = rows.slice(0, 10).map((r) => `${r.id} (${r.start}, ${r.from_uri} → ${r.to_uri})`);
      throw new TaplineError(ErrorCodes.USAGE, `${what} matches ${rows.length > 10 ? 'more than 10' : rows.length} recordings: ${list.join('; ')}; give a longer id`, { ref, matches: rows.length });
    };
    if (ref.length >= 4) {
      const byPrefix = pick(this.stmt('SELECT * FROM recordings WHERE substr(id, 1, length(@ref)) = @ref ORDER BY start DESC, id DESC LIMIT 11').all({ ref }) as Row[], `id prefix "${ref}"`);
      if (byPrefix !== undefined) return byPrefix;
    }
    return pick(this.stmt('SELECT * FROM recordings WHERE call_id = @ref ORDER BY start DESC, id DESC LIMIT 11').all({ ref }) as Row[], `Call-ID "${ref}"`);
  }

  /** Recordings whose writer never finished them. */
  unfinished(): CatalogueRecord[] {
    return (this.stmt(`SELECT * FROM recordings WHERE status = 'recording' ORDER BY start`).all({}) as Row[]).map((r) => this.toRecord(r));
  }

  /** Absolute folders of every catalogued recording (recovery skips these when scanning the tree). */
  dirs(): Set<string> {
    const rows = this.stmt('SELECT dir FROM recordings').all({}) as Array<{ dir: string }>;
    return new Set(rows.map((r) => this.abs(r.dir)));
  }

  /**
   * The SQL condition on recordings `r` for a participant URI or name containing `user` (ignoring case and width),
   * its parameters added to `params`: from the trigram index when the text is long enough for it. Text with an '@'
   * ('alice@contoso.com') asks the index for the part before the domain only and checks the whole text on the rows
   * it finds: the domain's trigrams are in nearly every row, and the index reads each trigram's whole list (110 ms
   * for 'user1234@bench.test' at a million recordings, 25 ms for 'user1234@').
   */
  userCondition(user: string, params: Params): string {
    const folded = foldText(user);
    const indexed = [...folded].length >= MIN_INDEXED_CHARS && this.hasTable('participants_fts');
    if (!indexed) {
      params.user = folded;
      return `r.id IN (SELECT p.recording_id FROM participants p WHERE instr(tl_fold(p.uri), @user) > 0 OR instr(tl_fold(p.name), @user) > 0)`;
    }
    const at = folded.indexOf('@');
    const local = at < 0 ? '' : folded.slice(0, at + 1).replace(/^(?:sips?|tel):/, '');
    if ([...local].length >= MIN_INDEXED_CHARS && local !== folded) {
      params.user = substringQuery(local);
      params.userText = folded;
      return `r.id IN (SELECT p.recording_id FROM participants p WHERE p.id IN (SELECT rowid FROM participants_fts WHERE participants_fts MATCH @user AND (instr(uri, @userText) > 0 OR instr(name, @userText) > 0)))`;
    }
    params.user = substringQuery(folded);
    return `r.id IN (SELECT p.recording_id FROM participants p WHERE p.id IN (SELECT rowid FROM participants_fts WHERE participants_fts MATCH @user))`;
  }

  /**
   * The condition for the caller's or callee's URI containing `party` (a phone number): candidates from the
   * participants' trigram index (their caller and callee rows hold those URIs), confirmed on the row itself.
   */
  partyCondition(party: string, params: Params): string {
    const folded = foldText(party);
    params.party = folded;
    const exact = '(instr(tl_fold(r.from_uri), @party) > 0 OR instr(tl_fold(r.to_uri), @party) > 0)';
    if ([...folded].length < MIN_INDEXED_CHARS || !this.hasTable('participants_fts')) return exact;
    params.partyQuery = substringQuery(folded);
    return `r.id IN (SELECT p.recording_id FROM participants p WHERE p.role IN ('caller', 'callee') AND p.id IN (SELECT rowid FROM participants_fts WHERE participants_fts MATCH @partyQuery AND instr(uri, @party) > 0)) AND ${exact}`;
  }

  /** Newest first; [from, to) on the start time; `user` matches a participant's URI or name, ignoring case. */
  list(q: CatalogueQuery = {}): CatalogueEntry[] {
    const where: string[] = [];
    const params: Params = { limit: checkLimit(q.limit) };
    if (q.from !== undefined) {
      where.push('r.start >= @from');
      params.from = parseQueryDate(q.from, 'from');
    }
    if (q.to !== undefined) {
      where.push('r.start < @to');
      params.to = parseQueryDate(q.to, 'to');
    }
    if (params.from !== undefined && params.to !== undefined && String(params.from) > String(params.to)) {
      throw new TaplineError(ErrorCodes.USAGE, `invalid range: from (${q.from}) is after to (${q.to})`, { from: q.from, to: q.to });
    }
    if (q.user !== undefined && q.user !== '') where.push(this.userCondition(q.user, params));
    // One prepared statement per filter combination (at most 12), cached.
    const sql = `SELECT r.* FROM recordings r ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY r.start DESC, r.id DESC LIMIT @limit`;
    return (this.stmt(sql).all(params) as Row[]).map((r) => Catalogue.entry(this.toRecord(r)));
  }
}
