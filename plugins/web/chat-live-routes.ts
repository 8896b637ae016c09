/** Chat transcripts, the live view's event stream, and saved searches. */
import type { FastifyInstance } from 'fastify';
import { audit, deny, ERROR_SCHEMA, who, type AppContext } from './app-context';
import { inScope, mayReadRecordings, scopeOf } from './access';
import type { LiveCall, LiveChange } from './live-calls';
import type { CallControlAction } from '../../core/contract';

const CHAT_ROW = { type: 'object', properties: { id: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' }, participants: { type: 'array', items: { type: 'string' } }, messages: { type: 'integer' } } } as const;
/** Event-stream clients at once (each holds a socket). */
const MAX_LIVE_CLIENTS = 200;
const HEARTBEAT_MS = 15_000;

export function chatRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: { from?: string; to?: string; user?: string; limit?: number; cursor?: string } }>(
    '/api/chats',
    {
      schema: {
        tags: ['chats'],
        summary: 'Search chat transcripts, newest first',
        querystring: { type: 'object', additionalProperties: false, properties: { from: { type: 'string' }, to: { type: 'string' }, user: { type: 'string', maxLength: 200 }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, cursor: { type: 'string', maxLength: 500 } } },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: CHAT_ROW }, next: { type: 'string' } } }, 403: ERROR_SCHEMA },
      },
    },
    async (req, reply) => {
      const a = who(req);
      if (!mayReadRecordings(a)) return deny(reply, 403, 'this role does not give access to chats');
      const scope = scopeOf(a, ctx.state);
      const q = req.query;
      return ctx.library.chats({ ...(q.from !== undefined ? { from: q.from } : {}), ...(q.to !== undefined ? { to: q.to } : {}), ...(q.user !== undefined && q.user !== '' ? { user: q.user } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}), ...(scope !== 'all' ? { participants: scope } : {}) });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/chats/:id',
    { schema: { tags: ['chats'], summary: 'One chat transcript', params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } }, response: { 200: { type: 'object', properties: { id: { type: 'string' }, row: CHAT_ROW, transcript: { type: 'object', additionalProperties: true } } }, 404: ERROR_SCHEMA } } },
    async (req, reply) => {
      const a = who(req);
      const c = mayReadRecordings(a) ? await ctx.library.chat(req.params.id) : undefined;
      if (c === undefined || !inScope(scopeOf(a, ctx.state), c.row.participants)) return deny(reply, 404, 'no such chat');
      audit(ctx, req, 'view-chat', c.row.id);
      return { id: c.row.id, row: c.row, transcript: c.transcript };
    },
  );
}

function publicCall(c: LiveCall): Omit<LiveCall, 'parties'> {
  const { parties: _p, ...rest } = c;
  return rest;
}

export function liveRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/api/live', { schema: { tags: ['live'], summary: 'Calls in progress as server-sent events: snapshot, then call and ended', response: { 403: ERROR_SCHEMA, 404: ERROR_SCHEMA, 503: ERROR_SCHEMA } } }, async (req, reply) => {
    const a = who(req);
    if (!mayReadRecordings(a)) return deny(reply, 403, 'this role does not give access to live calls');
    const live = ctx.live;
    if (live === undefined) return deny(reply, 404, 'live calls are shown by `tapline serve` (this process only reads the catalogue)');
    if (live.subscribers >= MAX_LIVE_CLIENTS) return reply.code(503).send({ error: 'too many live views open', code: 'BUSY' });
    const scope = scopeOf(a, ctx.state);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
    const send = (event: string, data: unknown): void => {
      // A client that cannot keep up is cut off rather than buffered without bound.
      if (res.writableLength > 1 << 20) {
        res.destroy();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send('snapshot', { calls: live.list().filter((c) => inScope(scope, c.parties)).map(publicCall) });
    const off = live.subscribe((ch: LiveChange) => {
      if (ch.kind === 'call' && inScope(scope, ch.call.parties)) send('call', publicCall(ch.call));
      else if (ch.kind === 'ended' && inScope(scope, ch.parties)) send('ended', { key: ch.key });
    });
    const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const done = (): void => {
      clearInterval(beat);
      off();
    };
    res.on('close', done);
    req.raw.on('close', done);
  });
}

export function liveControlRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Params: { key: string; action: CallControlAction } }>(
    '/api/live/:key/:action',
    {
      schema: {
        tags: ['live'],
        summary: 'Start, stop, pause or resume the recording of a call in progress (paused time is silence, marked in the metadata)',
        params: { type: 'object', required: ['key', 'action'], properties: { key: { type: 'string', minLength: 1, maxLength: 1000 }, action: { type: 'string', enum: ['start', 'stop', 'pause', 'resume'] } } },
        response: { 200: { type: 'object', properties: { recordingId: { type: 'string' }, state: { type: 'string' } } }, 403: ERROR_SCHEMA, 404: ERROR_SCHEMA, 409: ERROR_SCHEMA },
      },
    },
    async (req, reply) => {
      const a = who(req);
      if (a.role !== 'admin' && a.role !== 'supervisor') return deny(reply, 403, 'only admin or supervisor may control recordings');
      if (ctx.control === undefined || ctx.live === undefined) return deny(reply, 404, 'calls are controlled in `tapline serve` (this process only reads the catalogue)');
      const call = ctx.live.list().find((c) => c.key === req.params.key);
      if (call === undefined || !inScope(scopeOf(a, ctx.state), call.parties)) return deny(reply, 404, 'no such call in progress');
      try {
        const r = ctx.control.control(call.key, req.params.action, a.username);
        audit(ctx, req, req.params.action, r.recordingId, { callId: call.callId });
        return r;
      } catch (e) {
        return reply.code(409).send({ error: (e as Error).message, code: 'CONFLICT' });
      }
    },
  );
}

export function searchRoutes(app: FastifyInstance, ctx: AppContext): void {
  const ITEM = { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' }, query: { type: 'object', additionalProperties: true } } } as const;
  app.get('/api/searches', { schema: { tags: ['searches'], summary: 'My saved searches', response: { 200: { type: 'object', properties: { items: { type: 'array', items: ITEM } } } } } }, async (req) => ({ items: ctx.state.searches(who(req).username) }));
  app.post<{ Body: { name: string; query: Record<string, unknown> } }>(
    '/api/searches',
    { schema: { tags: ['searches'], summary: 'Save a search', body: { type: 'object', required: ['name', 'query'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, query: { type: 'object', maxProperties: 30, additionalProperties: { anyOf: [{ type: 'string', maxLength: 500 }, { type: 'number' }, { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 200 } }] } } } }, response: { 200: ITEM } } },
    async (req) => {
      const id = ctx.state.saveSearch(who(req).username, req.body.name, req.body.query);
      return { id, name: req.body.name, query: req.body.query };
    },
  );
  app.delete<{ Params: { id: number } }>('/api/searches/:id', { schema: { tags: ['searches'], summary: 'Delete a saved search', params: { type: 'object', properties: { id: { type: 'integer' } } }, response: { 204: { type: 'null' }, 404: ERROR_SCHEMA } } }, async (req, reply) =>
    ctx.state.deleteSearch(who(req).username, req.params.id) ? reply.code(204).send() : deny(reply, 404, 'no such saved search'),
  );
}
