/**
 * The web app's own state in SQLite (web.sqlite in the plugin's `dir`): accounts, sessions, API tokens, tags,
 * notes, saved searches and the audit log. Kept apart from the recordings' catalogue, which the app only reads.
 * Secrets are stored as hashes only (session ids and tokens as SHA-256, passwords as scrypt).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { ErrorCodes, TaplineError } from '../../core/errors';

export const ROLES = ['admin', 'supervisor', 'agent', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export interface Account {
  username: string;
  name?: string;
  role: Role;
  /** The SIP URIs (user keys) that are this person: an agent sees recordings these took part in. */
  uris: string[];
  teams: string[];
  oidcSubject?: string;
  disabled: boolean;
}

const SCHEMA_VERSION = 1;
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE accounts (
     username TEXT PRIMARY KEY,
     name TEXT,
     role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent', 'auditor')),
     uris TEXT NOT NULL DEFAULT '[]',
     teams TEXT NOT NULL DEFAULT '[]',
     password TEXT,                     -- scrypt$N$r$p$salt$hash, NULL: single sign-on only
     oidc_subject TEXT UNIQUE,
     disabled INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL
   );
   CREATE TABLE sessions (
     id_hash TEXT PRIMARY KEY,          -- SHA-256 of the cookie value
     username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
     csrf TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at INTEGER NOT NULL        -- ms since the epoch, moved on each use
   );
   CREATE INDEX sessions_user ON sessions(username);
   CREATE TABLE tokens (
     id INTEGER PRIMARY KEY,
     username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
     name TEXT NOT NULL,
     token_hash TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     last_used TEXT
   );
   CREATE TABLE tags (
     recording_id TEXT NOT NULL,
     tag TEXT NOT NULL,
     PRIMARY KEY (recording_id, tag)
   );
   CREATE INDEX tags_tag ON tags(tag);
   CREATE TABLE notes (
     id INTEGER PRIMARY KEY,
     recording_id TEXT NOT NULL,
     author TEXT NOT NULL,
     at TEXT NOT NULL,
     text TEXT NOT NULL
   );
   CREATE INDEX notes_recording ON notes(recording_id);
   CREATE TABLE searches (
     id INTEGER PRIMARY KEY,
     username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
     name TEXT NOT NULL,
     query TEXT NOT NULL
   );
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT,
     detail TEXT,
     ip TEXT,
     hash TEXT NOT NULL                 -- SHA-256 of the previous entry's hash and this entry: an edit breaks the chain
   );
   CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
];

interface AccountRow {
  username: string;
  name: string | null;
  role: Role;
  uris: string;
  teams: string;
  password: string | null;
  oidc_subject: string | null;
  disabled: number;
}

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target?: string;
  detail?: unknown;
  ip?: string;
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class WebState {
  private constructor(readonly db: Database.Database) {}

  static open(dir: string): WebState {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'web.sqlite');
    let db: Database.Database;
    try {
      db = new Database(file);
      fs.chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      const v = Number(db.pragma('user_version', { simple: true }));
      if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this Tapline understands (${SCHEMA_VERSION})`);
      db.transaction(() => {
        for (let i = v; i < SCHEMA_VERSION; i++) db.exec(MIGRATIONS[i] as string);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    } catch (e) {
      throw new TaplineError(ErrorCodes.CONFIG_INVALID, `web: cannot open its database ${file}: ${(e as Error).message}`, { file }, e);
    }
    return new WebState(db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // --- accounts

  private static account(r: AccountRow): Account {
    return {
      username: r.username,
      ...(r.name !== null ? { name: r.name } : {}),
      role: r.role,
      uris: JSON.parse(r.uris) as string[],
      teams: JSON.parse(r.teams) as string[],
      ...(r.oidc_subject !== null ? { oidcSubject: r.oidc_subject } : {}),
      disabled: r.disabled !== 0,
    };
  }

  accounts(): Account[] {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY username').all() as AccountRow[]).map((r) => WebState.account(r));
  }

  account(username: string): Account | undefined {
    const r = this.db.prepare('SELECT * FROM accounts WHERE username = ?').get(username) as AccountRow | undefined;
    return r === undefined ? undefined : WebState.account(r);
  }

  accountBySubject(sub: string): Account | undefined {
    const r = this.db.prepare('SELECT * FROM accounts WHERE oidc_subject = ?').get(sub) as AccountRow | undefined;
    return r === undefined ? undefined : WebState.account(r);
  }

  passwordHash(username: string): string | undefined {
    const r = this.db.prepare('SELECT password FROM accounts WHERE username = ? AND disabled = 0').get(username) as { password: string | null } | undefined;
    return r?.password ?? undefined;
  }

  /** Creates or replaces the account's fields; `password` undefined keeps the current one. */
  saveAccount(a: Account, password?: string): void {
    this.db
      .prepare(
        `INSERT INTO accounts (username, name, role, uris, teams, password, oidc_subject, disabled, created_at)
         VALUES (@username, @name, @role, @uris, @teams, @password, @sub, @disabled, @now)
         ON CONFLICT(username) DO UPDATE SET name = @name, role = @role, uris = @uris, teams = @teams,
           password = coalesce(@password, password), oidc_subject = @sub, disabled = @disabled`,
      )
      .run({ username: a.username, name: a.name ?? null, role: a.role, uris: JSON.stringify(a.uris), teams: JSON.stringify(a.teams), password: password ?? null, sub: a.oidcSubject ?? null, disabled: a.disabled ? 1 : 0, now: new Date().toISOString() });
    // A changed role or disabled account must not keep sessions made under the old rights.
    this.db.prepare('DELETE FROM sessions WHERE username = ?').run(a.username);
  }

  deleteAccount(username: string): boolean {
    return this.db.prepare('DELETE FROM accounts WHERE username = ?').run(username).changes > 0;
  }

  // --- sessions and tokens

  createSession(idHash: string, username: string, csrf: string, expiresAt: number): void {
    this.db.prepare('INSERT INTO sessions (id_hash, username, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(idHash, username, csrf, new Date().toISOString(), expiresAt);
    // Bounded: expired sessions go when anyone logs in.
    this.db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(Date.now());
  }

  session(idHash: string): { username: string; csrf: string; expiresAt: number } | undefined {
    const r = this.db.prepare('SELECT username, csrf, expires_at FROM sessions WHERE id_hash = ?').get(idHash) as { username: string; csrf: string; expires_at: number } | undefined;
    return r === undefined ? undefined : { username: r.username, csrf: r.csrf, expiresAt: r.expires_at };
  }

  touchSession(idHash: string, expiresAt: number): void {
    this.db.prepare('UPDATE sessions SET expires_at = ? WHERE id_hash = ?').run(expiresAt, idHash);
  }

  deleteSession(idHash: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(idHash);
  }

  createToken(username: string, name: string, tokenHash: string): number {
    return Number(this.db.prepare('INSERT INTO tokens (username, name, token_hash, created_at) VALUES (?, ?, ?, ?)').run(username, name, tokenHash, new Date().toISOString()).lastInsertRowid);
  }

  tokenUser(tokenHash: string): string | undefined {
    const r = this.db.prepare('SELECT username FROM tokens WHERE token_hash = ?').get(tokenHash) as { username: string } | undefined;
    if (r !== undefined) this.db.prepare('UPDATE tokens SET last_used = ? WHERE token_hash = ?').run(new Date().toISOString(), tokenHash);
    return r?.username;
  }

  // --- tags, notes, saved searches

  tags(recordingId: string): string[] {
    return (this.db.prepare('SELECT tag FROM tags WHERE recording_id = ? ORDER BY tag').all(recordingId) as Array<{ tag: string }>).map((r) => r.tag);
  }

  /** Tags of a page of recordings, in one query. */
  tagsOf(ids: readonly string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    if (ids.length === 0) return out;
    const rows = this.db.prepare(`SELECT recording_id, tag FROM tags WHERE recording_id IN (${ids.map(() => '?').join(', ')}) ORDER BY tag`).all(...ids) as Array<{ recording_id: string; tag: string }>;
    for (const r of rows) out.set(r.recording_id, [...(out.get(r.recording_id) ?? []), r.tag]);
    return out;
  }

  setTags(recordingId: string, tags: readonly string[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM tags WHERE recording_id = ?').run(recordingId);
      const ins = this.db.prepare('INSERT OR IGNORE INTO tags (recording_id, tag) VALUES (?, ?)');
      for (const t of tags) ins.run(recordingId, t);
    })();
  }

  /** Recordings carrying a tag (at most `max`). */
  tagged(tag: string, max: number): string[] {
    return (this.db.prepare('SELECT recording_id FROM tags WHERE tag = ? LIMIT ?').all(tag, max) as Array<{ recording_id: string }>).map((r) => r.recording_id);
  }

  notes(recordingId: string): Array<{ id: number; author: string; at: string; text: string }> {
    return this.db.prepare('SELECT id, author, at, text FROM notes WHERE recording_id = ? ORDER BY id').all(recordingId) as Array<{ id: number; author: string; at: string; text: string }>;
  }

  addNote(recordingId: string, author: string, text: string): { id: number; author: string; at: string; text: string } {
    const at = new Date().toISOString();
    const id = Number(this.db.prepare('INSERT INTO notes (recording_id, author, at, text) VALUES (?, ?, ?, ?)').run(recordingId, author, at, text).lastInsertRowid);
    return { id, author, at, text };
  }

  searches(username: string): Array<{ id: number; name: string; query: Record<string, unknown> }> {
    return (this.db.prepare('SELECT id, name, query FROM searches WHERE username = ? ORDER BY name').all(username) as Array<{ id: number; name: string; query: string }>).map((r) => ({ id: r.id, name: r.name, query: JSON.parse(r.query) as Record<string, unknown> }));
  }

  saveSearch(username: string, name: string, query: Record<string, unknown>): number {
    return Number(this.db.prepare('INSERT INTO searches (username, name, query) VALUES (?, ?, ?)').run(username, name, JSON.stringify(query)).lastInsertRowid);
  }

  deleteSearch(username: string, id: number): boolean {
    return this.db.prepare('DELETE FROM searches WHERE id = ? AND username = ?').run(id, username).changes > 0;
  }

  // --- audit log

  audit(e: Omit<AuditEntry, 'seq' | 'at'>): AuditEntry {
    return this.db.transaction(() => {
      const prev = this.db.prepare('SELECT hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { hash: string } | undefined;
      const at = new Date().toISOString();
      const detail = e.detail === undefined ? null : JSON.stringify(e.detail);
      const hash = sha256(JSON.stringify([prev?.hash ?? '', at, e.actor, e.action, e.target ?? null, detail, e.ip ?? null]));
      const seq = Number(this.db.prepare('INSERT INTO audit (at, actor, action, target, detail, ip, hash) VALUES (?, ?, ?, ?, ?, ?, ?)').run(at, e.actor, e.action, e.target ?? null, detail, e.ip ?? null, hash).lastInsertRowid);
      return { seq, at, ...e };
    })();
  }

  auditPage(limit: number, before?: number): { items: AuditEntry[]; next?: number } {
    const rows = this.db.prepare('SELECT seq, at, actor, action, target, detail, ip FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?').all(before ?? Number.MAX_SAFE_INTEGER, limit + 1) as Array<{ seq: number; at: string; actor: string; action: string; target: string | null; detail: string | null; ip: string | null }>;
    const items = rows.slice(0, limit).map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, action: r.action, ...(r.target !== null ? { target: r.target } : {}), ...(r.detail !== null ? { detail: JSON.parse(r.detail) as unknown } : {}), ...(r.ip !== null ? { ip: r.ip } : {}) }));
    const last = items[items.length - 1];
    return rows.length > limit && last !== undefined ? { items, next: last.seq } : { items };
  }

  /** Recomputes the hash chain: the first entry that does not match (edited outside the app), or undefined. */
  verifyAudit(): number | undefined {
    let prev = '';
    for (const r of this.db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as IterableIterator<{ seq: number; at: string; actor: string; action: string; target: string | null; detail: string | null; ip: string | null; hash: string }>) {
      const h = sha256(JSON.stringify([prev, r.at, r.actor, r.action, r.target, r.detail, r.ip]));
      if (h !== r.hash) return r.seq;
      prev = r.hash;
    }
    return undefined;
  }
}
