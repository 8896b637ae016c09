/** Recordings: search, one recording with its timeline, audio by range, peaks, SIP, tags, notes and zip export. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as yazl from 'yazl';
import type { LibraryQuery, LibraryRow } from '../../core/contract';
import { ErrorCodes, TaplineError } from '../../core/errors';
import { audit, deny, ERROR_SCHEMA, who, type AppContext } from './app-context';
import { inScope, mayReadRecordings, scopeOf } from './access';
import { parseRange } from './range';
import { timelineEvents } from './recording-events';

interface SearchQuery {
  from?: string;
  to?: string;
  user?: string;
  party?: string;
  callId?: string;
  direction?: string;
  disposition?: string;
  minDuration?: number;
  maxDuration?: number;
  codec?: string;
  flag?: string[];
  tag?: string;
  sort?: 'start' | 'duration';
  order?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
}

const TEXT = { type: 'string', maxLength: 200 } as const;
const SEARCH_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'string', description: 'ISO date-time: calls that started at or after it' },
    to: { type: 'string', description: 'ISO date-time: calls that started before it' },
    user: { ...TEXT, description: "substring of a participant's URI or name" },
    party: { ...TEXT, description: "substring of the caller's or callee's URI (a number)" },
    callId: { type: 'string', maxLength: 500, description: "a call's Call-ID, exactly: every recording of that call (the parts a failover left on several recorders)" },
    direction: { type: 'string', enum: ['inbound', 'outbound', 'internal', 'unknown'] },
    disposition: TEXT,
    minDuration: { type: 'number', minimum: 0 },
    maxDuration: { type: 'number', minimum: 0 },
    codec: TEXT,
    flag: { type: 'array', items: TEXT, maxItems: 10 },
    tag: TEXT,
    sort: { type: 'string', enum: ['start', 'duration'], default: 'start' },
    order: { type: 'string', enum: ['desc', 'asc'], default: 'desc' },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    cursor: { type: 'string', maxLength: 500 },
  },
} as const;

export const ROW_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    callId: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    durationSec: { type: 'number' },
    from: { type: 'string' },
    fromName: { type: 'string' },
    to: { type: 'string' },
    toName: { type: 'string' },
    direction: { type: 'string' },
    disposition: { type: 'string' },
    status: { type: 'string' },
    codecs: { type: 'array', items: { type: 'string' } },
    flags: { type: 'array', items: { type: 'string' } },
    tags: { type: 'array', items: { type: 'string' } },
  },
} as const;

const NOTE_SCHEMA = { type: 'object', properties: { id: { type: 'integer' }, author: { type: 'string' }, at: { type: 'string' }, text: { type: 'string' } } } as const;
const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } as const;
/** Tags a recording may carry, and their shape. */
const MAX_TAGS = 20;
/** A tag filter narrows to at most this many recordings. */
const MAX_TAGGED = 10_000;
const MAX_EXPORT = 200;

function publicRow(r: LibraryRow, tags: string[]): Record<string, unknown> {
  const { participants: _p, ...rest } = r;
  return { ...rest, tags };
}

/** The recording when this account may see it (else undefined: answered 404 as if absent). */
async function visible(ctx: AppContext, req: FastifyRequest, id: string): Promise<LibraryRow | undefined> {
  const a = who(req);
  if (!mayReadRecordings(a)) return undefined;
  const row = await ctx.library.row(id);
  return row === undefined || !inScope(scopeOf(a, ctx.state), row.participants) ? undefined : row;
}

function forbiddenRole(reply: FastifyReply): FastifyReply {
  return deny(reply, 403, 'this role does not give access to recordings');
}

export function recordingRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: SearchQuery }>(
    '/api/recordings',
    { schema: { tags: ['recordings'], summary: 'Search recordings (newest first by default; cursor pagination)', querystring: SEARCH_QUERY, response: { 200: { type: 'object', properties: { items: { type: 'array', items: ROW_SCHEMA }, next: { type: 'string' } } }, 400: ERROR_SCHEMA, 403: ERROR_SCHEMA } } },
    async (req, reply) => {
      const a = who(req);
      if (!mayReadRecordings(a)) return forbiddenRole(reply);
      const q = req.query;
      const scope = scopeOf(a, ctx.state);
      const query: LibraryQuery = {
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        ...(q.user !== undefined && q.user !== '' ? { user: q.user } : {}),
        ...(q.party !== undefined && q.party !== '' ? { party: q.party } : {}),
        ...(q.callId !== undefined && q.callId !== '' ? { callId: q.callId } : {}),
        ...(q.direction !== undefined ? { direction: q.direction } : {}),
        ...(q.disposition !== undefined && q.disposition !== '' ? { disposition: q.disposition } : {}),
        ...(q.minDuration !== undefined ? { minDurationSec: q.minDuration } : {}),
        ...(q.maxDuration !== undefined ? { maxDurationSec: q.maxDuration } : {}),
        ...(q.codec !== undefined && q.codec !== '' ? { codec: q.codec } : {}),
        ...(q.flag !== undefined && q.flag.length > 0 ? { flags: q.flag } : {}),
        ...(q.tag !== undefined && q.tag !== '' ? { ids: ctx.state.tagged(q.tag, MAX_TAGGED) } : {}),
        ...(scope !== 'all' ? { participants: scope } : {}),
        ...(q.sort !== undefined ? { sort: q.sort } : {}),
        ...(q.order !== undefined ? { order: q.order } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      };
      const page = await ctx.library.search(query);
      const tags = ctx.state.tagsOf(page.items.map((r) => r.id));
      return { items: page.items.map((r) => publicRow(r, tags.get(r.id) ?? [])), ...(page.next !== undefined ? { next: page.next } : {}) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/recordings/:id',
    {
      schema: {
        tags: ['recordings'],
        summary: 'One recording: its row, metadata, timeline events, notes, and which audio forms exist',
        params: ID_PARAMS,
        response: {
          200: {
            type: 'object',
            properties: {
              recording: ROW_SCHEMA,
              metadata: { type: 'object', additionalProperties: true },
              events: { type: 'array', items: { type: 'object', properties: { atSec: { type: 'number' }, kind: { type: 'string' }, label: { type: 'string' } } } },
              sip: { type: 'boolean' },
              notes: { type: 'array', items: NOTE_SCHEMA },
              audio: { type: 'object', properties: { wav: { type: 'boolean' }, ogg: { type: 'boolean' } } },
              parts: { type: 'array', items: ROW_SCHEMA, description: 'Every recording of the same call (same Call-ID) this account may see, in start order: the parts a recorder failover split it into (this one included)' },
            },
          },
          404: ERROR_SCHEMA,
        },
      },
    },
    async (req, reply) => {
      if (!mayReadRecordings(who(req))) return forbiddenRole(reply);
      const r = await ctx.library.get(req.params.id);
      if (r === undefined || !inScope(scopeOf(who(req), ctx.state), r.row.participants)) return deny(reply, 404, 'no such recording');
      const scope = scopeOf(who(req), ctx.state);
      const [audio, sip, same] = await Promise.all([ctx.library.formats(r.row.id), ctx.library.attachment(r.row.id, 'sip.txt'), ctx.library.search({ callId: r.row.callId, sort: 'start', order: 'asc', limit: 20 })]);
      // Parts that start together (a failover replay reaching back to the call's start) in the order they end.
      const parts = same.items
        .filter((x) => inScope(scope, x.participants))
        .sort((x, y) => x.start.localeCompare(y.start) || (x.end ?? '~').localeCompare(y.end ?? '~'))
        .map((x) => publicRow(x, []));
      audit(ctx, req, 'view', r.row.id);
      return { recording: publicRow(r.row, ctx.state.tags(r.row.id)), metadata: r.metadata, events: timelineEvents(r.metadata), sip: sip !== undefined, notes: ctx.state.notes(r.row.id), audio, parts };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { format: 'wav' | 'ogg'; download?: '0' | '1' | 'true' | 'false' } }>(
    '/api/recordings/:id/audio',
    {
      schema: {
        tags: ['recordings'],
        summary: 'The audio, with HTTP Range: WAV (16-bit PCM) or Ogg Opus; download=1 for a file',
        params: ID_PARAMS,
        querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['wav', 'ogg'], default: 'wav' }, download: { type: 'string', enum: ['0', '1', 'true', 'false'], description: '1: as a file to save (Content-Disposition: attachment)' } } },
        response: { 404: ERROR_SCHEMA, 416: ERROR_SCHEMA },
      },
    },
    async (req, reply) => {
      const row = await visible(ctx, req, req.params.id);
      if (row === undefined) return mayReadRecordings(who(req)) ? deny(reply, 404, 'no such recording') : forbiddenRole(reply);
      const a = await ctx.library.audio(row.id, req.query.format);
      if (a === undefined) return deny(reply, 404, `recording ${row.id} has no audio available as ${req.query.format}`);
      const download = req.query.download === '1' || req.query.download === 'true';
      const range = parseRange(req.headers.range, a.size);
      reply.header('accept-ranges', 'bytes').header('cache-control', 'private, no-store');
      if (range.kind === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${a.size}`).send({ error: `range not satisfiable: the audio is ${a.size} bytes`, code: 'RANGE_NOT_SATISFIABLE' });
      reply.header('content-type', a.contentType);
      if (download) reply.header('content-disposition', `attachment; filename="${row.id}.${req.query.format === 'wav' ? 'wav' : 'opus'}"`);
      // A player asks again for every seek: one audit entry per play or download, not per range.
      if (download || range.kind === 'all' || (range.kind === 'part' && range.start === 0)) audit(ctx, req, download ? 'download' : 'play', row.id, { format: req.query.format });
      if (range.kind === 'all') return reply.header('content-length', String(a.size)).send(a.read(0, a.size - 1));
      return reply
        .code(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${a.size}`)
        .header('content-length', String(range.end - range.start + 1))
        .send(a.read(range.start, range.end));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/recordings/:id/peaks',
    { schema: { tags: ['recordings'], summary: 'Waveform peaks per channel (0..1), computed when the recording finished', params: ID_PARAMS, response: { 200: { type: 'object', properties: { peaksPerSec: { type: 'number' }, durationSec: { type: 'number' }, channels: { type: 'array', items: { type: 'array', items: { type: 'number' } } } } }, 404: ERROR_SCHEMA } } },
    async (req, reply) => {
      const row = await visible(ctx, req, req.params.id);
      if (row === undefined) return deny(reply, 404, 'no such recording');
      const p = await ctx.library.peaks(row.id);
      return p ?? deny(reply, 404, `recording ${row.id} has no waveform`);
    },
  );

  app.get<{ Params: { id: string } }>('/api/recordings/:id/sip', { schema: { tags: ['recordings'], summary: "The call's SIP dialog as recorded (text)", params: ID_PARAMS } }, async (req, reply) => {
    const row = await visible(ctx, req, req.params.id);
    if (row === undefined) return deny(reply, 404, 'no such recording');
    const sip = await ctx.library.attachment(row.id, 'sip.txt');
    if (sip === undefined) return deny(reply, 404, `recording ${row.id} kept no SIP dialog`);
    audit(ctx, req, 'view-sip', row.id);
    return reply.header('content-type', 'text/plain; charset=utf-8').send(sip);
  });

  app.put<{ Params: { id: string }; Body: { tags: string[] } }>(
    '/api/recordings/:id/tags',
    { schema: { tags: ['recordings'], summary: "Replace a recording's tags", params: ID_PARAMS, body: { type: 'object', required: ['tags'], additionalProperties: false, properties: { tags: { type: 'array', maxItems: MAX_TAGS, items: { type: 'string', minLength: 1, maxLength: 40, pattern: '^[^,]+$' } } } }, response: { 200: { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' } } } }, 404: ERROR_SCHEMA } } },
    async (req, reply) => {
      const row = await visible(ctx, req, req.params.id);
      if (row === undefined) return deny(reply, 404, 'no such recording');
      const tags = [...new Set(req.body.tags.map((t) => t.trim()).filter((t) => t !== ''))];
      ctx.state.setTags(row.id, tags);
      audit(ctx, req, 'tag', row.id, { tags });
      return { tags };
    },
  );

  app.post<{ Params: { id: string }; Body: { text: string } }>(
    '/api/recordings/:id/notes',
    { schema: { tags: ['recordings'], summary: 'Add a note to a recording', params: ID_PARAMS, body: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string', minLength: 1, maxLength: 10_000 } } }, response: { 200: NOTE_SCHEMA, 404: ERROR_SCHEMA } } },
    async (req, reply) => {
      const row = await visible(ctx, req, req.params.id);
      if (row === undefined) return deny(reply, 404, 'no such recording');
      const note = ctx.state.addNote(row.id, who(req).username, req.body.text);
      audit(ctx, req, 'note', row.id, { note: note.id });
      return note;
    },
  );

  app.post<{ Body: { ids: string[] } }>(
    '/api/export',
    { schema: { tags: ['recordings'], summary: 'A zip of the recordings chosen: audio (WAV, else Ogg Opus), metadata.json and sip.txt of each', body: { type: 'object', required: ['ids'], additionalProperties: false, properties: { ids: { type: 'array', minItems: 1, maxItems: MAX_EXPORT, items: { type: 'string', minLength: 1, maxLength: 200 } } } }, response: { 404: ERROR_SCHEMA } } },
    async (req, reply) => {
      const rows: LibraryRow[] = [];
      for (const id of new Set(req.body.ids)) {
        const row = await visible(ctx, req, id);
        if (row === undefined) return deny(reply, 404, `no such recording: ${id}`);
        rows.push(row);
      }
      const zip = new yazl.ZipFile();
      for (const row of rows) {
        const full = await ctx.library.get(row.id);
        if (full === undefined) continue;
        zip.addBuffer(Buffer.from(JSON.stringify(full.metadata, null, 2)), `${row.id}/metadata.json`);
        const wav = await ctx.library.audio(row.id, 'wav');
        const audio = wav ?? (await ctx.library.audio(row.id, 'ogg'));
        if (audio !== undefined) zip.addReadStream(audio.read(0, audio.size - 1), `${row.id}/audio.${wav !== undefined ? 'wav' : 'opus'}`, { compress: false });
        const sip = await ctx.library.attachment(row.id, 'sip.txt');
        if (sip !== undefined) zip.addBuffer(sip, `${row.id}/sip.txt`);
      }
      zip.end();
      audit(ctx, req, 'export', rows.map((r) => r.id).join(','), { count: rows.length });
      return reply.header('content-type', 'application/zip').header('content-disposition', `attachment; filename="tapline-export-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.zip"`).send(zip.outputStream);
    },
  );
}

/** A TaplineError(USAGE) from the library (a bad date, cursor or range) is the client's: 400 with its message. */
export function isUsageError(e: unknown): e is TaplineError {
  return e instanceof TaplineError && e.code === ErrorCodes.USAGE;
}
