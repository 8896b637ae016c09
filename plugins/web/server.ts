/**
 * The web app's HTTP server (fastify: JSON Schema validation of every route, and the OpenAPI document generated
 * from those schemas by @fastify/swagger). Serves the page (public/), the API, over TLS when configured.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import { TaplineError } from '../../core/errors';
import type { AppContext } from './app-context';
import { authRoutes, installAccessHook } from './auth-routes';
import { isUsageError, recordingRoutes } from './recording-routes';
import { chatRoutes, liveControlRoutes, liveRoutes, searchRoutes } from './chat-live-routes';
import { adminRoutes } from './admin-routes';

/** The page's files: public/ beside the sources, or (built) beside dist's parent. */
function publicDir(): string {
  const candidates = [path.join(__dirname, 'public'), path.resolve(__dirname, '../../../plugins/web/public')];
  const dir = candidates.find((d) => fs.existsSync(path.join(d, 'index.html')));
  if (dir === undefined) throw new Error(`web: the page's files are missing (looked in ${candidates.join(', ')})`);
  return dir;
}

function wavesurferFile(): string {
  // The package exports only its entry points: find the folder from its main module.
  const main = require.resolve('wavesurfer.js');
  return path.join(path.dirname(main), 'wavesurfer.esm.js');
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // wavesurfer.js puts a <style> element in its shadow DOM.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const ASSET_TYPES: Readonly<Record<string, string>> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };

export async function buildWebApp(ctx: AppContext): Promise<FastifyInstance> {
  const opts: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    logger: false,
    bodyLimit: 1 << 20,
    // A slow or idle client cannot hold a connection for ever.
    connectionTimeout: 0,
    requestTimeout: 60_000,
    keepAliveTimeout: 10_000,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false } },
  };
  if (ctx.options.tls !== undefined) opts.https = { cert: fs.readFileSync(path.resolve(ctx.configDir, ctx.options.tls.cert)), key: fs.readFileSync(path.resolve(ctx.configDir, ctx.options.tls.key)) };
  const app = Fastify(opts) as unknown as FastifyInstance;
  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Tapline review API', version: '1', description: 'Search, play and export recordings; chats; live calls; users, accounts and the audit log. Every route needs a session cookie (with x-csrf-token on unsafe methods) or an Authorization: Bearer token.' },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: 'tapline_session' }, token: { type: 'http', scheme: 'bearer' } } },
      security: [{ session: [] }, { token: [] }],
    },
  });
  installAccessHook(app, ctx);
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY').header('content-security-policy', CSP);
    if (ctx.secure) reply.header('strict-transport-security', 'max-age=31536000');
    if (req.url.startsWith('/api/') && reply.getHeader('cache-control') === undefined) reply.header('cache-control', 'no-store');
    return payload;
  });
  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number }, req, reply) => {
    if (err.validation !== undefined) return reply.code(400).send({ error: err.message, code: 'BAD_REQUEST' });
    if (isUsageError(err)) return reply.code(400).send({ error: err.message, code: 'BAD_REQUEST' });
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, code: 'BAD_REQUEST' });
    ctx.log.error(`web: ${req.method} ${req.url.split('?')[0] ?? ''} failed: ${err.message}`, { code: err instanceof TaplineError ? err.code : undefined });
    return reply.code(500).send({ error: 'internal error (see the server log)', code: 'INTERNAL' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found', code: 'NOT_FOUND' }));

  // The page: a fixed set of files read once (no path from the request reaches the file system).
  const dir = publicDir();
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const f of fs.readdirSync(dir)) assets.set(f, { type: ASSET_TYPES[path.extname(f)] ?? 'application/octet-stream', body: fs.readFileSync(path.join(dir, f)) });
  assets.set('wavesurfer.esm.js', { type: ASSET_TYPES['.js'] as string, body: fs.readFileSync(wavesurferFile()) });
  const index = assets.get('index.html');
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(index?.body));
  app.get<{ Params: { file: string } }>('/assets/:file', { schema: { hide: true } }, async (req, reply) => {
    const a = assets.get(req.params.file);
    if (a === undefined || req.params.file === 'index.html') return reply.code(404).send({ error: 'not found', code: 'NOT_FOUND' });
    return reply.type(a.type).header('cache-control', 'no-cache').send(a.body);
  });

  authRoutes(app, ctx);
  recordingRoutes(app, ctx);
  chatRoutes(app, ctx);
  liveRoutes(app, ctx);
  liveControlRoutes(app, ctx);
  searchRoutes(app, ctx);
  adminRoutes(app, ctx);
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
