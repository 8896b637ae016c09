/**
 * Access to the web app: the hook every request passes (session cookie or API token, CSRF on unsafe methods with a
 * cookie, nothing but the login page and its API without one), and the routes that log in and out.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audit, deny, ERROR_SCHEMA, type AppContext } from './app-context';
import { sha256, type Account } from './state-db';
import { DUMMY_HASH, verifyPassword } from './passwords';

export const SESSION_COOKIE = 'tapline_session';
const OIDC_COOKIE = 'tapline_oidc';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Reachable without a session: the page itself and how to log in. */
const PUBLIC = [/^\/$/, /^\/assets\/[A-Za-z0-9._-]+$/, /^\/api\/login(\/oidc(\/callback)?)?$/, /^\/api\/session$/];

export const USER_SCHEMA = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['admin', 'supervisor', 'agent', 'auditor'] },
    uris: { type: 'array', items: { type: 'string' } },
    teams: { type: 'array', items: { type: 'string' } },
  },
} as const;

function publicUser(a: Account): Record<string, unknown> {
  return { username: a.username, ...(a.name !== undefined ? { name: a.name } : {}), role: a.role, uris: a.uris, teams: a.teams };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieOptions(ctx: AppContext, maxAgeSec: number, sameSite: 'strict' | 'lax'): { httpOnly: true; secure: boolean; sameSite: 'strict' | 'lax'; path: string; maxAge: number } {
  return { httpOnly: true, secure: ctx.secure, sameSite, path: '/', maxAge: maxAgeSec };
}

function sessionMs(ctx: AppContext): number {
  return ctx.options.sessionHours * 3_600_000;
}

/** Resolves the account of every request; refuses what needs one and has none. */
export function installAccessHook(app: FastifyInstance, ctx: AppContext): void {
  app.decorateRequest('account', null);
  app.decorateRequest('viaCookie', false);
  app.addHook('onRequest', async (req, reply) => {
    const url = req.url.split('?')[0] as string;
    const auth = req.headers.authorization;
    if (auth !== undefined && /^Bearer\s+/i.test(auth)) {
      const user = ctx.state.tokenUser(sha256(auth.replace(/^Bearer\s+/i, '').trim()));
      const a = user === undefined ? undefined : ctx.state.account(user);
      if (a === undefined || a.disabled) return deny(reply, 401, 'invalid API token');
      req.account = a;
      return;
    }
    const sid = req.cookies[SESSION_COOKIE];
    if (sid !== undefined && sid !== '') {
      const idHash = sha256(sid);
      const s = ctx.state.session(idHash);
      const a = s === undefined || s.expiresAt < Date.now() ? undefined : ctx.state.account(s.username);
      if (s !== undefined && a !== undefined && !a.disabled) {
        if (UNSAFE.has(req.method)) {
          const token = req.headers['x-csrf-token'];
          const origin = req.headers.origin;
          if (typeof token !== 'string' || !sameSecret(token, s.csrf)) return deny(reply, 403, 'missing or wrong x-csrf-token header (cross-site request refused)');
          if (origin !== undefined && origin !== 'null' && new URL(origin).host !== req.headers.host) return deny(reply, 403, `cross-origin request from ${origin} refused`);
        }
        req.account = a;
        req.viaCookie = true;
        ctx.state.touchSession(idHash, Date.now() + sessionMs(ctx));
        return;
      }
    }
    if (!PUBLIC.some((re) => re.test(url))) return deny(reply, 401, 'log in first (session cookie or Authorization: Bearer token)');
    return;
  });
}

async function startSession(ctx: AppContext, reply: FastifyReply, a: Account): Promise<string> {
  const sid = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  ctx.state.createSession(sha256(sid), a.username, csrf, Date.now() + sessionMs(ctx));
  reply.setCookie(SESSION_COOKIE, sid, cookieOptions(ctx, Math.round(sessionMs(ctx) / 1000), 'strict'));
  return csrf;
}

/**
 * A refused single sign-on: a browser (it asked for HTML) is sent back to the login page, which shows the reason;
 * anything else gets the JSON answer with its status.
 */
function refuseSso(req: FastifyRequest, reply: FastifyReply, status: 401 | 403, error: string): FastifyReply {
  if ((req.headers.accept ?? '').includes('text/html')) return reply.redirect(`/?sso_error=${encodeURIComponent(error)}`, 303);
  return deny(reply, status, error);
}

export function authRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: { username: string; password: string } }>(
    '/api/login',
    {
      schema: {
        tags: ['access'],
        summary: 'Log in with a local account: sets the session cookie, returns the CSRF token',
        body: { type: 'object', required: ['username', 'password'], additionalProperties: false, properties: { username: { type: 'string', minLength: 1, maxLength: 200 }, password: { type: 'string', minLength: 1, maxLength: 1024 } } },
        response: { 200: { type: 'object', properties: { user: USER_SCHEMA, csrf: { type: 'string' } } }, 401: ERROR_SCHEMA, 429: ERROR_SCHEMA },
      },
    },
    async (req, reply) => {
      const { username, password } = req.body;
      const keys = [`user:${username.toLowerCase()}`, `ip:${req.ip}`];
      const wait = ctx.throttle.waitMs(keys);
      if (wait > 0) {
        const sec = Math.ceil(wait / 1000);
        return reply.code(429).header('retry-after', String(sec)).send({ error: `too many wrong passwords: try again in ${sec} s`, code: 'THROTTLED' });
      }
      const stored = ctx.state.passwordHash(username);
      const ok = await verifyPassword(password, stored ?? DUMMY_HASH);
      const a = ok && stored !== undefined ? ctx.state.account(username) : undefined;
      if (a === undefined) {
        ctx.throttle.fail(keys);
        ctx.state.audit({ actor: username, action: 'login-failed', ip: req.ip });
        return deny(reply, 401, 'wrong user name or password');
      }
      ctx.throttle.succeed(keys);
      const csrf = await startSession(ctx, reply, a);
      ctx.state.audit({ actor: a.username, action: 'login', detail: { method: 'password' }, ip: req.ip });
      return { user: publicUser(a), csrf };
    },
  );

  app.post('/api/logout', { schema: { tags: ['access'], summary: 'End the session', response: { 204: { type: 'null' } } } }, async (req, reply) => {
    const sid = req.cookies[SESSION_COOKIE];
    if (sid !== undefined) ctx.state.deleteSession(sha256(sid));
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    if (req.account !== null) audit(ctx, req, 'logout');
    return reply.code(204).send();
  });

  app.get(
    '/api/session',
    { schema: { tags: ['access'], summary: 'Who is logged in, and the CSRF token for unsafe requests', response: { 200: { type: 'object', properties: { user: USER_SCHEMA, csrf: { type: 'string' }, oidc: { type: 'boolean' } } }, 401: { type: 'object', properties: { error: { type: 'string' }, code: { type: 'string' }, oidc: { type: 'boolean' } } } } } },
    async (req, reply) => {
      const oidc = ctx.oidc !== undefined;
      if (req.account === null) return reply.code(401).send({ error: 'not logged in', code: 'UNAUTHENTICATED', oidc });
      const sid = req.cookies[SESSION_COOKIE];
      const s = sid === undefined ? undefined : ctx.state.session(sha256(sid));
      return { user: publicUser(req.account), csrf: s?.csrf ?? '', oidc };
    },
  );

  app.get('/api/login/oidc', { schema: { tags: ['access'], summary: 'Start single sign-on (redirects to the provider)' } }, async (_req, reply) => {
    if (ctx.oidc === undefined) return deny(reply, 404, 'single sign-on is not configured');
    const s = await ctx.oidc.start();
    reply.setCookie(OIDC_COOKIE, `${s.state}.${s.verifier}`, cookieOptions(ctx, 600, 'lax'));
    return reply.redirect(s.url, 302);
  });

  app.get('/api/login/oidc/callback', { schema: { tags: ['access'], summary: 'Where the provider sends the user back' } }, async (req: FastifyRequest, reply) => {
    if (ctx.oidc === undefined) return deny(reply, 404, 'single sign-on is not configured');
    const pending = req.cookies[OIDC_COOKIE] ?? '';
    reply.clearCookie(OIDC_COOKIE, { path: '/' });
    const [state, verifier] = pending.split('.');
    if (state === undefined || verifier === undefined) return refuseSso(req, reply, 401, 'single sign-on: no login in progress from this browser (start again)');
    let id;
    try {
      // The redirect URI as registered at the provider (the token request must repeat it exactly, whatever path a
      // reverse proxy forwarded), with the provider's answer (code, state, iss) from this request's query.
      const callbackUrl = new URL(ctx.options.oidc?.redirectUri ?? '');
      callbackUrl.search = new URL(req.url, 'http://localhost').search;
      id = await ctx.oidc.finish(callbackUrl, state, verifier);
    } catch (e) {
      ctx.state.audit({ actor: '(oidc)', action: 'login-failed', detail: { method: 'oidc', reason: (e as Error).message }, ip: req.ip });
      return refuseSso(req, reply, 401, `single sign-on failed: ${(e as Error).message}`);
    }
    let a = ctx.state.accountBySubject(id.subject) ?? ctx.state.account(id.username);
    if (a !== undefined && a.oidcSubject !== undefined && a.oidcSubject !== id.subject) {
      // Linked to another person at the provider: a username claim is not unique nor stable (OIDC Core 5.7).
      ctx.state.audit({ actor: id.username, action: 'login-failed', detail: { method: 'oidc', reason: 'account linked to another subject' }, ip: req.ip });
      return refuseSso(req, reply, 403, `single sign-on: the account ${a.username} belongs to another single sign-on user`);
    }
    if (a === undefined && ctx.options.oidc?.autoCreateRole !== undefined && !/^[A-Za-z0-9._@-]{1,100}$/.test(id.username)) {
      ctx.state.audit({ actor: id.username, action: 'login-failed', detail: { method: 'oidc', reason: 'username not allowed' }, ip: req.ip });
      return refuseSso(req, reply, 403, `single sign-on: ${JSON.stringify(id.username)} cannot be an account name here (letters, digits, . _ @ - only)`);
    }
    if (a === undefined && ctx.options.oidc?.autoCreateRole !== undefined) {
      a = { username: id.username, ...(id.name !== undefined ? { name: id.name } : {}), role: ctx.options.oidc.autoCreateRole, uris: [], teams: [], oidcSubject: id.subject, disabled: false };
      ctx.state.saveAccount(a);
      ctx.state.audit({ actor: a.username, action: 'account-created', target: a.username, detail: { by: 'oidc', role: a.role }, ip: req.ip });
    }
    if (a === undefined || a.disabled) {
      ctx.state.audit({ actor: id.username, action: 'login-failed', detail: { method: 'oidc', reason: 'no account' }, ip: req.ip });
      return refuseSso(req, reply, 403, `single sign-on: ${id.username} has no account here`);
    }
    if (a.oidcSubject === undefined) {
      a = { ...a, oidcSubject: id.subject };
      ctx.state.saveAccount(a);
    }
    await startSession(ctx, reply, a);
    ctx.state.audit({ actor: a.username, action: 'login', detail: { method: 'oidc' }, ip: req.ip });
    return reply.redirect('/', 302);
  });
}
