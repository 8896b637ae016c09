/**
 * The review app's search over the SQLite catalogue: every filter of LibraryQuery as SQL on indexed columns where
 * one exists, keyset (cursor) pagination on (sort value, id) so page 1,000 costs what page 1 does.
 */
import type { LibraryChatRow, LibraryPage, LibraryQuery, LibraryRow } from '../../core/contract';
import { userKey } from '../../core/policy/users';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { foldText, parseQueryDate, type Catalogue, type Params, type RecordingRow } from './catalogue';
import { fromListColumn } from './review-schema';

export const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;
/** Bound parameters an `ids` filter may use (SQLite allows 32,766 in a statement). */
const MAX_IDS = 10_000;

interface Cursor {
  v: string | number;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.v, c.id])).toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number') && typeof v[1] === 'string') return { v: v[0], id: v[1] };
  } catch {
    // fall through to the error below
  }
  throw new TaplineError(ErrorCodes.USAGE, 'invalid cursor: pass the `next` value of the previous page unchanged', { field: 'cursor' });
}

function pageLimit(limit: number | undefined): number {
  const n = limit ?? DEFAULT_PAGE;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PAGE) throw new TaplineError(ErrorCodes.USAGE, `invalid limit ${String(limit)}: expected 1 to ${MAX_PAGE}`, { field: 'limit' });
  return n;
}

/** The participant URIs a user key is stored as ('alice@x' → 'sip:alice@x', 'sips:alice@x', 'alice@x'). */
function uriForms(keys: readonly string[], params: Params, prefix: string): string {
  const names: string[] = [];
  keys.forEach((raw, i) => {
    const key = userKey(raw) ?? raw.toLowerCase();
    const forms = key.includes(':') ? [key] : [`sip:${key}`, `sips:${key}`, key];
    forms.forEach((f, j) => {
      const n = `${prefix}${i}_${j}`;
      params[n] = f;
      names.push(`@${n}`);
    });
  });
  return names.length === 0 ? 'NULL' : names.join(', ');
}

function timeRange(q: Pick<LibraryQuery, 'from' | 'to'>, column: string, where: string[], params: Params): void {
  if (q.from !== undefined) {
    where.push(`${column} >= @from`);
    params.from = parseQueryDate(q.from, 'from');
  }
  if (q.to !== undefined) {
    where.push(`${column} < @to`);
    params.to = parseQueryDate(q.to, 'to');
  }
  if (params.from !== undefined && params.to !== undefined && String(params.from) > String(params.to)) {
    throw new TaplineError(ErrorCodes.USAGE, `invalid range: from (${q.from}) is after to (${q.to})`, { from: q.from, to: q.to });
  }
}

/** The columns a search reads. */
type SearchRow = Pick<RecordingRow, 'id' | 'call_id' | 'start' | 'end' | 'duration_sec' | 'from_uri' | 'from_name' | 'to_uri' | 'to_name' | 'disposition' | 'status'> & { direction: string | null; codecs: string | null; flags: string | null };

export function searchRecordings(cat: Catalogue, q: LibraryQuery): LibraryPage<LibraryRow> {
  const limit = pageLimit(q.limit);
  const where: string[] = [];
  const params: Params = { limit: limit + 1 };
  timeRange(q, 'r.start', where, params);
  if (q.user !== undefined && q.user !== '') where.push(cat.userCondition(q.user, params));
  if (q.party !== undefined && q.party !== '') where.push(cat.partyCondition(q.party, params));
  if (q.participants !== undefined) where.push(`r.id IN (SELECT p.recording_id FROM participants p WHERE p.uri IN (${uriForms(q.participants, params, 'pu')}))`);
  if (q.ids !== undefined) {
    if (q.ids.length > MAX_IDS) throw new TaplineError(ErrorCodes.USAGE, `too many recordings to filter on (${q.ids.length}; at most ${MAX_IDS})`, { field: 'ids' });
    const names = q.ids.map((id, i) => {
      params[`id${i}`] = id;
      return `@id${i}`;
    });
    where.push(names.length === 0 ? '0' : `r.id IN (${names.join(', ')})`);
  }
  if (q.callId !== undefined) {
    where.push('r.call_id = @callId');
    params.callId = q.callId;
  }
  if (q.direction !== undefined) {
    where.push('r.direction = @direction');
    params.direction = q.direction;
  }
  if (q.disposition !== undefined) {
    where.push('r.disposition = @disposition');
    params.disposition = q.disposition;
  }
  if (q.minDurationSec !== undefined) {
    where.push('r.duration_sec >= @minDur');
    params.minDur = q.minDurationSec;
  }
  if (q.maxDurationSec !== undefined) {
    where.push('r.duration_sec <= @maxDur');
    params.maxDur = q.maxDurationSec;
  }
  if (q.codec !== undefined && q.codec !== '') {
    where.push('r.codecs LIKE @codec');
    params.codec = `%,${q.codec.toUpperCase().replace(/[%_,]/g, '')},%`;
  }
  (q.flags ?? []).forEach((f, i) => {
    where.push(`r.flags LIKE @flag${i}`);
    params[`flag${i}`] = `%,${f.replace(/[%_,]/g, '')},%`;
  });
  const byDuration = q.sort === 'duration';
  const col = byDuration ? 'coalesce(r.duration_sec, -1)' : 'r.start';
  const desc = q.order !== 'asc';
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    const op = desc ? '<' : '>';
    where.push(`(${col} ${op} @cv OR (${col} = @cv AND r.id ${op} @cid))`);
    params.cv = c.v;
    params.cid = c.id;
  }
  const dir = desc ? 'DESC' : 'ASC';
  const sql = `SELECT r.id, r.call_id, r.start, r."end", r.duration_sec, r.from_uri, r.from_name, r.to_uri, r.to_name, r.disposition, r.status, r.direction, r.codecs, r.flags
    FROM recordings r ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${col} ${dir}, r.id ${dir} LIMIT @limit`;
  const rows = cat.stmt(sql).all(params) as SearchRow[];
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const parts = participantKeys(cat, page.map((r) => r.id));
  const items = page.map((r) => toLibraryRow(r, parts.get(r.id) ?? []));
  const last = page[page.length - 1];
  return more && last !== undefined ? { items, next: encodeCursor({ v: byDuration ? (last.duration_sec ?? -1) : last.start, id: last.id }) } : { items };
}

export function recordingRow(cat: Catalogue, id: string): LibraryRow | undefined {
  const r = cat.stmt('SELECT r.id, r.call_id, r.start, r."end", r.duration_sec, r.from_uri, r.from_name, r.to_uri, r.to_name, r.disposition, r.status, r.direction, r.codecs, r.flags FROM recordings r WHERE r.id = @id').get({ id }) as SearchRow | undefined;
  return r === undefined ? undefined : toLibraryRow(r, participantKeys(cat, [id]).get(id) ?? []);
}

function participantKeys(cat: Catalogue, ids: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (ids.length === 0) return out;
  const params: Params = {};
  const names = ids.map((id, i) => {
    params[`i${i}`] = id;
    return `@i${i}`;
  });
  const rows = cat.stmt(`SELECT recording_id, uri FROM participants WHERE recording_id IN (${names.join(', ')}) ORDER BY id`).all(params) as Array<{ recording_id: string; uri: string }>;
  for (const r of rows) {
    const key = userKey(r.uri);
    if (key === undefined) continue;
    const list = out.get(r.recording_id) ?? [];
    if (!list.includes(key)) list.push(key);
    out.set(r.recording_id, list);
  }
  return out;
}

function toLibraryRow(r: SearchRow, participants: string[]): LibraryRow {
  const row: LibraryRow = {
    id: r.id,
    callId: r.call_id,
    start: r.start,
    from: r.from_uri,
    to: r.to_uri,
    disposition: r.disposition,
    status: r.status,
    codecs: fromListColumn(r.codecs),
    flags: fromListColumn(r.flags),
    participants,
  };
  if (r.end !== null) row.end = r.end;
  if (r.duration_sec !== null) row.durationSec = r.duration_sec;
  if (r.from_name !== null) row.fromName = r.from_name;
  if (r.to_name !== null) row.toName = r.to_name;
  if (r.direction !== null) row.direction = r.direction;
  return row;
}

interface ChatSearchRow {
  id: string;
  start: string;
  end: string;
  messages: number;
}

export function searchChats(cat: Catalogue, q: Pick<LibraryQuery, 'from' | 'to' | 'user' | 'participants' | 'limit' | 'cursor'>): LibraryPage<LibraryChatRow> {
  if (!cat.hasTable('transcripts')) return { items: [] };
  const limit = pageLimit(q.limit);
  const where: string[] = [];
  const params: Params = { limit: limit + 1 };
  timeRange(q, 't.start', where, params);
  if (q.user !== undefined && q.user !== '') {
    where.push('t.id IN (SELECT p.transcript_id FROM transcript_participants p WHERE instr(tl_fold(p.uri), @user) > 0 OR instr(tl_fold(p.name), @user) > 0)');
    params.user = foldText(q.user);
  }
  if (q.participants !== undefined) where.push(`t.id IN (SELECT p.transcript_id FROM transcript_participants p WHERE p.uri IN (${uriForms(q.participants, params, 'pu')}))`);
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    where.push('(t.start < @cv OR (t.start = @cv AND t.id < @cid))');
    params.cv = c.v;
    params.cid = c.id;
  }
  const rows = cat.stmt(`SELECT t.id, t.start, t."end", t.messages FROM transcripts t ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY t.start DESC, t.id DESC LIMIT @limit`).all(params) as ChatSearchRow[];
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const items = page.map((r) => chatRow(cat, r));
  const last = page[page.length - 1];
  return more && last !== undefined ? { items, next: encodeCursor({ v: last.start, id: last.id }) } : { items };
}

export function chatRowById(cat: Catalogue, id: string): LibraryChatRow | undefined {
  if (!cat.hasTable('transcripts')) return undefined;
  const r = cat.stmt('SELECT t.id, t.start, t."end", t.messages FROM transcripts t WHERE t.id = @id').get({ id }) as ChatSearchRow | undefined;
  return r === undefined ? undefined : chatRow(cat, r);
}

function chatRow(cat: Catalogue, r: ChatSearchRow): LibraryChatRow {
  const parts = cat.stmt('SELECT uri FROM transcript_participants WHERE transcript_id = @id ORDER BY id').all({ id: r.id }) as Array<{ uri: string }>;
  return { id: r.id, start: r.start, end: r.end, messages: r.messages, participants: [...new Set(parts.map((p) => userKey(p.uri) ?? p.uri))] };
}
