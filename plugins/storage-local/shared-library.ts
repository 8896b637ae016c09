/**
 * The review app's library when recorders share storage: recordings searched in the PostgreSQL catalogue every
 * recorder publishes to, their files read from the S3-compatible bucket (a plain WAV by range, straight from the
 * bucket; anything to convert fetched once and converted as storage-local's own library does). Chat transcripts
 * are not published: they come from this recorder's folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { sql, type Expression, type Selectable, type SqlBool } from 'kysely';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { AudioEncoderProvider, ChatTranscript, LibraryAudio, LibraryAudioFormat, LibraryChatRow, LibraryPage, LibraryPeaks, LibraryQuery, LibraryRow, RecordingLibrary } from '../../core/contract';
import type { RecordingMetadata } from '../../core/media/metadata';
import { userKey } from '../../core/policy/users';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { foldText, parseQueryDate } from './catalogue';
import { PgCatalogue, type RecordingsTable } from './pg-catalogue';
import { S3Media, type S3Options } from './s3-media';
import { decodeCursor, encodeCursor, MAX_PAGE } from './library-search';
import { bufferAudio, ByteCache, CACHE_BYTES, convertAudio, LocalLibrary, storedFormats, withTempDir } from './library';
import { PEAKS_FILE } from './peaks';
import { ENC_SUFFIX } from './encrypted-audio';
import type { KeyProvider } from './key-provider';

export interface SharedLibraryOptions {
  postgresUrl: string;
  s3: S3Options;
  /** This recorder's folder catalogue (for chat transcripts). */
  local: LocalLibrary;
  keys?: KeyProvider;
  encoders: () => readonly AudioEncoderProvider[];
}

/** The columns a search reads, as PostgreSQL gives them. */
type Row = Pick<Selectable<RecordingsTable>, 'id' | 'call_id' | 'start' | 'end' | 'duration_sec' | 'from_uri' | 'from_name' | 'to_uri' | 'to_name' | 'disposition' | 'status' | 'direction' | 'codecs' | 'flags'>;

const COLUMNS = ['id', 'call_id', 'start', 'end', 'duration_sec', 'from_uri', 'from_name', 'to_uri', 'to_name', 'disposition', 'status', 'direction', 'codecs', 'flags'] as const;

function like(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class SharedLibrary implements RecordingLibrary {
  private cat: PgCatalogue | undefined;
  private s3: S3Media | undefined;
  private readonly cache = new ByteCache(CACHE_BYTES);

  constructor(private readonly o: SharedLibraryOptions) {}

  private async pg(): Promise<PgCatalogue> {
    // Opened without migrating: a reader never changes the schema (recorders and `catalogue migrate` do).
    this.cat ??= await PgCatalogue.open(this.o.postgresUrl, undefined, { migrate: false, max: 4 });
    return this.cat;
  }

  private bucket(): S3Media {
    this.s3 ??= new S3Media(this.o.s3);
    return this.s3;
  }

  async search(q: LibraryQuery): Promise<LibraryPage<LibraryRow>> {
    const limit = q.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new TaplineError(ErrorCodes.USAGE, `invalid limit ${String(q.limit)}: expected 1 to ${MAX_PAGE}`, { field: 'limit' });
    const db = (await this.pg()).db;
    const from = q.from !== undefined ? parseQueryDate(q.from, 'from') : undefined;
    const to = q.to !== undefined ? parseQueryDate(q.to, 'to') : undefined;
    if (from !== undefined && to !== undefined && from > to) throw new TaplineError(ErrorCodes.USAGE, `invalid range: from (${q.from}) is after to (${q.to})`, { from: q.from, to: q.to });
    const byDuration = q.sort === 'duration';
    const desc = q.order !== 'asc';
    let query = db.selectFrom('recordings').select([...COLUMNS]);
    if (from !== undefined) query = query.where('start', '>=', new Date(from));
    if (to !== undefined) query = query.where('start', '<', new Date(to));
    if (q.user !== undefined && q.user !== '') {
      const pattern = like(foldText(q.user));
      query = query.where('id', 'in', (eb) => eb.selectFrom('participants').select('recording_id').where('folded', 'like', pattern));
    }
    if (q.party !== undefined && q.party !== '') {
      const pattern = like(q.party);
      query = query.where((eb) => eb.or([eb('from_uri', 'ilike', pattern), eb('to_uri', 'ilike', pattern)]));
    }
    if (q.participants !== undefined) {
      const forms = q.participants.flatMap((p) => {
        const k = userKey(p) ?? p.toLowerCase();
        return k.includes(':') ? [k] : [`sip:${k}`, `sips:${k}`, k];
      });
      query = forms.length === 0 ? query.where(sql<SqlBool>`false`) : query.where('id', 'in', (eb) => eb.selectFrom('participants').select('recording_id').where('uri', 'in', forms));
    }
    if (q.ids !== undefined) query = q.ids.length === 0 ? query.where(sql<SqlBool>`false`) : query.where('id', 'in', [...q.ids]);
    if (q.callId !== undefined) query = query.where('call_id', '=', q.callId);
    if (q.direction !== undefined) query = query.where('direction', '=', q.direction);
    if (q.disposition !== undefined) query = query.where('disposition', '=', q.disposition);
    if (q.minDurationSec !== undefined) query = query.where('duration_sec', '>=', q.minDurationSec);
    if (q.maxDurationSec !== undefined) query = query.where('duration_sec', '<=', q.maxDurationSec);
    if (q.codec !== undefined && q.codec !== '') query = query.where(sql<SqlBool>`codecs @> ARRAY[${q.codec.toUpperCase()}]::text[]`);
    for (const f of q.flags ?? []) query = query.where(sql<SqlBool>`flags @> ARRAY[${f}]::text[]`);
    const sortCol: Expression<unknown> = byDuration ? sql`coalesce(duration_sec, -1)` : sql`start`;
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor);
      const v = byDuration ? Number(c.v) : new Date(String(c.v));
      query = desc ? query.where(sql<SqlBool>`(${sortCol}, id) < (${v}, ${c.id})`) : query.where(sql<SqlBool>`(${sortCol}, id) > (${v}, ${c.id})`);
    }
    const dir = desc ? sql`DESC` : sql`ASC`;
    const rows = (await query.orderBy(sql`${sortCol} ${dir}`).orderBy(sql`id ${dir}`).limit(limit + 1).execute()) as Row[];
    const page = rows.slice(0, limit);
    const parts = await this.participantKeys(page.map((r) => r.id));
    const items = page.map((r) => toLibraryRow(r, parts.get(r.id) ?? []));
    const last = page[page.length - 1];
    return rows.length > limit && last !== undefined ? { items, next: encodeCursor({ v: byDuration ? (last.duration_sec ?? -1) : last.start.toISOString(), id: last.id }) } : { items };
  }

  private async participantKeys(ids: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (ids.length === 0) return out;
    const rows = await (await this.pg()).db.selectFrom('participants').select(['recording_id', 'uri']).where('recording_id', 'in', [...ids]).execute();
    for (const r of rows) {
      const k = userKey(r.uri);
      if (k === undefined) continue;
      const list = out.get(r.recording_id) ?? [];
      if (!list.includes(k)) list.push(k);
      out.set(r.recording_id, list);
    }
    return out;
  }

  async get(id: string): Promise<{ row: LibraryRow; metadata: RecordingMetadata } | undefined> {
    const db = (await this.pg()).db;
    const r = await db.selectFrom('recordings').select([...COLUMNS, 'metadata']).where('id', '=', id).executeTakeFirst();
    if (r === undefined) return undefined;
    return { row: toLibraryRow(r as Row, (await this.participantKeys([id])).get(id) ?? []), metadata: r.metadata as RecordingMetadata };
  }

  async row(id: string): Promise<LibraryRow | undefined> {
    const r = await (await this.pg()).db.selectFrom('recordings').select([...COLUMNS]).where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toLibraryRow(r as Row, (await this.participantKeys([id])).get(id) ?? []);
  }

  private async object(id: string, name: string): Promise<{ key: string; bytes: number } | undefined> {
    const r = await (await this.pg()).db.selectFrom('objects').select(['key', 'bytes']).where('recording_id', '=', id).where('name', '=', name).executeTakeFirst();
    return r === undefined ? undefined : { key: r.key, bytes: Number(r.bytes) };
  }

  private async audioObject(id: string): Promise<{ key: string; bytes: number; name: string; format: string | null } | undefined> {
    const db = (await this.pg()).db;
    const r = await db.selectFrom('recordings').select(['audio_key', 'audio_format']).where('id', '=', id).executeTakeFirst();
    if (r?.audio_key === null || r?.audio_key === undefined) return undefined;
    const o = await db.selectFrom('objects').select(['name', 'key', 'bytes']).where('recording_id', '=', id).where('key', '=', r.audio_key).executeTakeFirst();
    return o === undefined ? undefined : { key: o.key, bytes: Number(o.bytes), name: o.name, format: r.audio_format };
  }

  async audio(id: string, format: LibraryAudioFormat): Promise<LibraryAudio | undefined> {
    const obj = await this.audioObject(id);
    if (obj === undefined) return undefined;
    const encrypted = obj.name.endsWith(ENC_SUFFIX);
    const ogg = obj.name.startsWith('audio.opus');
    const contentType = format === 'wav' ? 'audio/wav' : 'audio/ogg';
    // As stored: read by range from the bucket, nothing downloaded ahead.
    if (!encrypted && ((format === 'ogg' && ogg) || (format === 'wav' && obj.format === 'wav'))) return { contentType, size: obj.bytes, read: (start, end) => this.rangeStream(obj.key, start, end) };
    if (ogg && format === 'wav') return undefined;
    const cacheKey = `${id}:${format}`;
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return bufferAudio(cached, contentType);
    const made = await withTempDir(async (tmp) => {
      const file = path.join(tmp, obj.name);
      await fs.promises.writeFile(file, await this.bucket().getBuffer(obj.key));
      return convertAudio(file, { encrypted, ogg }, format, this.o);
    });
    if (made === undefined) return undefined;
    this.cache.set(cacheKey, made);
    return bufferAudio(made, contentType);
  }

  async formats(id: string): Promise<Record<LibraryAudioFormat, boolean>> {
    const obj = await this.audioObject(id);
    return obj === undefined ? { wav: false, ogg: false } : storedFormats(obj.name, this.o);
  }

  private rangeStream(key: string, start: number, end: number): Readable {
    const s3 = this.bucket();
    // The body is fetched when the stream is first read; an error ends the stream with it.
    return Readable.from(
      (async function* () {
        const r = await s3.client.send(new GetObjectCommand({ Bucket: s3.o.bucket, Key: key, Range: `bytes=${start}-${end}` }));
        for await (const chunk of r.Body as AsyncIterable<Uint8Array>) yield Buffer.from(chunk);
      })(),
    );
  }

  async peaks(id: string): Promise<LibraryPeaks | undefined> {
    const b = await this.attachment(id, PEAKS_FILE);
    return b === undefined ? undefined : (JSON.parse(b.toString('utf8')) as LibraryPeaks);
  }

  async attachment(id: string, name: string): Promise<Buffer | undefined> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) return undefined;
    const o = await this.object(id, name);
    return o === undefined ? undefined : this.bucket().getBuffer(o.key);
  }

  chats(q: Pick<LibraryQuery, 'from' | 'to' | 'user' | 'participants' | 'limit' | 'cursor'>): Promise<LibraryPage<LibraryChatRow>> {
    return this.o.local.chats(q);
  }

  chat(id: string): Promise<{ row: LibraryChatRow; transcript: ChatTranscript } | undefined> {
    return this.o.local.chat(id);
  }

  async close(): Promise<void> {
    await this.o.local.close();
    await this.cat?.close();
    this.cat = undefined;
    this.s3?.close();
    this.s3 = undefined;
  }
}

function toLibraryRow(r: Row, participants: string[]): LibraryRow {
  const row: LibraryRow = {
    id: r.id,
    callId: r.call_id,
    start: r.start.toISOString(),
    from: r.from_uri,
    to: r.to_uri,
    disposition: r.disposition,
    status: r.status,
    codecs: r.codecs ?? [],
    flags: r.flags ?? [],
    participants,
  };
  if (r.end !== null) row.end = r.end.toISOString();
  if (r.duration_sec !== null) row.durationSec = r.duration_sec;
  if (r.from_name !== null) row.fromName = r.from_name;
  if (r.to_name !== null) row.toName = r.to_name;
  if (r.direction !== null) row.direction = r.direction;
  return row;
}
