/**
 * Chat transcripts in the local store: a folder per transcript under the same date layout as the recordings
 * (transcript.json, and transcript.html / transcript.txt when the chat plugin rendered them), catalogued in the
 * same SQLite file, searchable by time and participant, and linked to recordings by Ms-Conversation-ID.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CatalogueEntry, CatalogueQuery, ChatTranscript, TranscriptEntry, TranscriptFiles, TranscriptRenderings } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { DEFAULT_LIST_LIMIT, foldText, parseQueryDate, type Catalogue } from './catalogue';
import { recordingDir, type Layout } from './paths';
import { writeJsonAtomic } from './recover';

export const TRANSCRIPT_JSON = 'transcript.json';

interface Row {
  id: string;
  kind: string;
  call_id: string;
  conversation_id: string | null;
  start: string;
  end: string;
  duration_sec: number;
  messages: number;
  kept_for: string;
  dir: string;
  transcript: string;
  html: string | null;
  text: string | null;
}

let tmpCounter = 0;

function writeTextAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function saveTranscript(cat: Catalogue, root: string, layout: Layout, t: ChatTranscript, r: TranscriptRenderings): TranscriptFiles {
  const startMs = Date.parse(t.start);
  const dir = recordingDir(root, layout, (Number.isFinite(startMs) ? startMs : Date.now()) * 1000, t.callId, t.id);
  fs.mkdirSync(dir, { recursive: true });
  const files: TranscriptFiles = { dir, json: path.join(dir, TRANSCRIPT_JSON) };
  // Written once, at the session's end: durable before it is catalogued.
  writeJsonAtomic(files.json, t, true);
  if (r.html !== undefined) {
    files.html = path.join(dir, 'transcript.html');
    writeTextAtomic(files.html, r.html);
  }
  if (r.text !== undefined) {
    files.text = path.join(dir, 'transcript.txt');
    writeTextAtomic(files.text, r.text);
  }
  cat.tx(() => {
    cat.stmt(
      `INSERT OR REPLACE INTO transcripts (id, kind, call_id, conversation_id, start, "end", duration_sec, messages, kept_for, dir, transcript, html, text)
       VALUES (@id, @kind, @call_id, @conversation_id, @start, @end, @duration_sec, @messages, @kept_for, @dir, @transcript, @html, @text)`,
    ).run({
      id: t.id,
      kind: t.kind,
      call_id: t.callId,
      conversation_id: t.conversationId ?? null,
      start: t.start,
      end: t.end,
      duration_sec: t.durationSec,
      messages: t.messages.length,
      kept_for: t.keptFor.reason === 'licence' ? t.keptFor.user : 'recordAll',
      dir: cat.rel(dir),
      transcript: cat.rel(files.json),
      html: files.html === undefined ? null : cat.rel(files.html),
      text: files.text === undefined ? null : cat.rel(files.text),
    });
    cat.stmt('DELETE FROM transcript_participants WHERE transcript_id = @id').run({ id: t.id });
    const ins = cat.stmt('INSERT INTO transcript_participants (transcript_id, uri, name, role) VALUES (@id, @uri, @name, @role)');
    for (const p of t.participants) ins.run({ id: t.id, uri: p.uri, name: p.name ?? null, role: p.role });
  });
  return files;
}

function participantsOf(cat: Catalogue, id: string): string[] {
  const rows = cat.stmt('SELECT uri FROM transcript_participants WHERE transcript_id = @id ORDER BY id').all({ id }) as Array<{ uri: string }>;
  return rows.map((r) => r.uri);
}

function toEntry(cat: Catalogue, r: Row): TranscriptEntry {
  const e: TranscriptEntry = {
    id: r.id,
    kind: r.kind === 'multiparty' ? 'multiparty' : 'im',
    callId: r.call_id,
    start: r.start,
    end: r.end,
    durationSec: r.duration_sec,
    messages: r.messages,
    participants: participantsOf(cat, r.id),
    keptFor: r.kept_for,
    transcript: cat.abs(r.transcript),
  };
  if (r.conversation_id !== null) e.conversationId = r.conversation_id;
  if (r.html !== null) e.html = cat.abs(r.html);
  if (r.text !== null) e.text = cat.abs(r.text);
  return e;
}

/** Newest first; [from, to) on the first message's time; `user` matches a participant's URI or name, ignoring case. */
export function listTranscripts(cat: Catalogue, q: CatalogueQuery = {}): TranscriptEntry[] {
  if (!cat.hasTable('transcripts')) return []; // a catalogue from before chats were recorded
  const where: string[] = [];
  const limit = q.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new TaplineError(ErrorCodes.USAGE, `invalid limit ${String(limit)}: expected a whole number of at least 1`, { field: 'limit', value: limit });
  const params: Record<string, string | number> = { limit };
  if (q.from !== undefined) {
    where.push('t.start >= @from');
    params.from = parseQueryDate(q.from, 'from');
  }
  if (q.to !== undefined) {
    where.push('t.start < @to');
    params.to = parseQueryDate(q.to, 'to');
  }
  if (params.from !== undefined && params.to !== undefined && String(params.from) > String(params.to)) {
    throw new TaplineError(ErrorCodes.USAGE, `invalid range: from (${q.from}) is after to (${q.to})`, { from: q.from, to: q.to });
  }
  if (q.user !== undefined && q.user !== '') {
    where.push(
      `t.id IN (SELECT p.transcript_id FROM transcript_participants p
                WHERE instr(tl_fold(p.uri), @user) > 0 OR instr(tl_fold(p.name), @user) > 0)`,
    );
    params.user = foldText(q.user);
  }
  const sql = `SELECT t.* FROM transcripts t ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY t.start DESC, t.id DESC LIMIT @limit`;
  return (cat.stmt(sql).all(params) as Row[]).map((r) => toEntry(cat, r));
}

/** Recordings of calls with this Ms-Conversation-ID. */
export function recordingsOfConversation(cat: Catalogue, conversationId: string): CatalogueEntry[] {
  const rows = cat.stmt('SELECT id FROM recordings WHERE conversation_id = @c ORDER BY start').all({ c: conversationId }) as Array<{ id: string }>;
  return rows.map((r) => cat.get(r.id)).filter((e): e is CatalogueEntry => e !== undefined);
}

export function getTranscript(cat: Catalogue, id: string): { entry: TranscriptEntry; transcript: ChatTranscript; linkedRecordings: CatalogueEntry[] } | undefined {
  if (!cat.hasTable('transcripts')) return undefined;
  const row = cat.stmt('SELECT * FROM transcripts WHERE id = @id').get({ id }) as Row | undefined;
  if (row === undefined) return undefined;
  const entry = toEntry(cat, row);
  return { entry, transcript: readTranscript(entry.transcript), linkedRecordings: entry.conversationId === undefined ? [] : recordingsOfConversation(cat, entry.conversationId) };
}

export function readTranscript(file: string): ChatTranscript {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read chat transcript ${file}: ${(e as Error).message}`);
  }
  const t = v as Partial<ChatTranscript> | null;
  if (t === null || typeof t !== 'object' || typeof t.id !== 'string' || !Array.isArray(t.messages) || !Array.isArray(t.participants)) {
    throw new Error(`${file} is not a Tapline chat transcript`);
  }
  return t as ChatTranscript;
}
