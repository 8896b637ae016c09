/** Admin pages' API: recorded users and licences, accounts and API tokens, the policy (read-only), the audit log. */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UserEntry } from '../../core/policy/users';
import { audit, deny, ERROR_SCHEMA, who, type AppContext } from './app-context';
import { ROLES, sha256, type Account, type Role } from './state-db';
import { hashPassword } from './passwords';
import { UsersEditor } from './users-file';

const ACCOUNT_SCHEMA = {
  type: 'object',
  properties: { username: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, uris: { type: 'array', items: { type: 'string' } }, teams: { type: 'array', items: { type: 'string' } }, disabled: { type: 'boolean' }, sso: { type: 'boolean' } },
} as const;
const ACCOUNT_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._@-]+$' },
    password: { type: 'string', minLength: 10, maxLength: 1024 },
    name: { type: 'string', maxLength: 200 },
    role: { type: 'string', enum: [...ROLES] },
    uris: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 200 } },
    teams: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 100 } },
    disabled: { type: 'boolean' },
  },
} as const;
const USER_BODY = {
  type: 'object',
  required: ['uri', 'call', 'chat'],
  additionalProperties: false,
  properties: {
    uri: { type: 'string', minLength: 1, maxLength: 200 },
    name: { type: 'string', maxLength: 200 },
    call: { type: 'boolean' },
    chat: { type: 'boolean' },
    recorder: { type: 'integer', minimum: 1, maximum: 3 },
    endpointIp: { type: 'string', default: '0.0.0.0', maxLength: 64 },
  },
} as const;

interface AccountBody {
  username?: string;
  password?: string;
  name?: string;
  role?: Role;
  uris?: string[];
  teams?: string[];
  disabled?: boolean;
}

function onlyRoles(req: FastifyRequest, reply: FastifyReply, roles: readonly Role[]): boolean {
  if (roles.includes(who(req).role)) return true;
  void deny(reply, 403, `only ${roles.join(' or ')} may do this`);
  return false;
}

function publicAccount(a: Account): Record<string, unknown> {
  return { username: a.username, ...(a.name !== undefined ? { name: a.name } : {}), role: a.role, uris: a.uris, teams: a.teams, disabled: a.disabled, sso: a.oidcSubject !== undefined };
}

export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const editor = new UsersEditor(ctx.config, ctx.configDir, ctx.users);

  app.get('/api/users', { schema: { tags: ['admin'], summary: 'Recorded users, their licences, recorder and endpoint addresses (configured and learned)' } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    const target = editor.editableFile();
    const items = ctx.users.all().map((u) => ({
      ...u,
      learnedIps: ctx.endpoints?.addressesOf(u.uri) ?? [],
      endpointSource: ctx.endpoints?.sourceOf(u.uri) ?? 'unknown',
      editable: 'file' in target && !editor.fromConfig(u.uri),
    }));
    return { items, editable: 'file' in target, ...('why' in target ? { why: target.why } : {}) };
  });

  app.put<{ Body: UserEntry }>('/api/users', { schema: { tags: ['admin'], summary: 'Add or change a recorded user (takes effect in the running recorder at once)', body: USER_BODY, response: { 409: ERROR_SCHEMA } } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    const before = ctx.users.lookup(req.body.uri);
    try {
      editor.save(req.body);
    } catch (e) {
      return reply.code(409).send({ error: (e as Error).message, code: 'NOT_EDITABLE' });
    }
    audit(ctx, req, 'user-saved', req.body.uri, { before: before ?? null, after: req.body });
    return { user: ctx.users.lookup(req.body.uri) };
  });

  app.delete<{ Querystring: { uri: string } }>('/api/users', { schema: { tags: ['admin'], summary: 'Remove a recorded user', querystring: { type: 'object', required: ['uri'], properties: { uri: { type: 'string', minLength: 1 } } }, response: { 404: ERROR_SCHEMA, 409: ERROR_SCHEMA } } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    let removed: boolean;
    try {
      removed = editor.remove(req.query.uri);
    } catch (e) {
      return reply.code(409).send({ error: (e as Error).message, code: 'NOT_EDITABLE' });
    }
    if (!removed) return deny(reply, 404, `${req.query.uri} is not in the users file`);
    audit(ctx, req, 'user-removed', req.query.uri);
    return reply.code(204).send();
  });

  app.get('/api/accounts', { schema: { tags: ['admin'], summary: "The web app's accounts", response: { 200: { type: 'object', properties: { items: { type: 'array', items: ACCOUNT_SCHEMA } } } } } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    return { items: ctx.state.accounts().map(publicAccount) };
  });

  app.post<{ Body: AccountBody }>('/api/accounts', { schema: { tags: ['admin'], summary: 'Create an account', body: { ...ACCOUNT_BODY, required: ['username', 'role'] }, response: { 200: ACCOUNT_SCHEMA, 409: ERROR_SCHEMA } } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    const b = req.body;
    if (ctx.state.account(b.username as string) !== undefined) return reply.code(409).send({ error: `account ${b.username} exists`, code: 'EXISTS' });
    const a: Account = { username: b.username as string, ...(b.name !== undefined ? { name: b.name } : {}), role: b.role as Role, uris: b.uris ?? [], teams: b.teams ?? [], disabled: b.disabled ?? false };
    ctx.state.saveAccount(a, b.password === undefined ? undefined : await hashPassword(b.password));
    audit(ctx, req, 'account-created', a.username, { role: a.role, uris: a.uris, teams: a.teams });
    return publicAccount(a);
  });

  app.patch<{ Params: { username: string }; Body: AccountBody }>('/api/accounts/:username', { schema: { tags: ['admin'], summary: "Change an account's role, URIs, teams, password or state", body: ACCOUNT_BODY, response: { 200: ACCOUNT_SCHEMA, 404: ERROR_SCHEMA, 409: ERROR_SCHEMA } } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    const cur = ctx.state.account(req.params.username);
    if (cur === undefined) return deny(reply, 404, 'no such account');
    const b = req.body;
    const next: Account = { ...cur, ...(b.name !== undefined ? { name: b.name } : {}), ...(b.role !== undefined ? { role: b.role } : {}), ...(b.uris !== undefined ? { uris: b.uris } : {}), ...(b.teams !== undefined ? { teams: b.teams } : {}), ...(b.disabled !== undefined ? { disabled: b.disabled } : {}) };
    if (cur.username === who(req).username && (next.role !== 'admin' || next.disabled)) return reply.code(409).send({ error: 'an admin cannot take their own admin rights (another admin can)', code: 'SELF' });
    ctx.state.saveAccount(next, b.password === undefined ? undefined : await hashPassword(b.password));
    audit(ctx, req, 'account-changed', cur.username, { before: publicAccount(cur), after: publicAccount(next), password: b.password !== undefined });
    return publicAccount(next);
  });

  app.delete<{ Params: { username: string } }>('/api/accounts/:username', { schema: { tags: ['admin'], summary: 'Delete an account (its sessions and tokens end)', response: { 204: { type: 'null' }, 404: ERROR_SCHEMA, 409: ERROR_SCHEMA } } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    if (req.params.username === who(req).username) return reply.code(409).send({ error: 'an admin cannot delete their own account', code: 'SELF' });
    if (!ctx.state.deleteAccount(req.params.username)) return deny(reply, 404, 'no such account');
    audit(ctx, req, 'account-deleted', req.params.username);
    return reply.code(204).send();
  });

  app.post<{ Body: { name: string } }>('/api/tokens', { schema: { tags: ['access'], summary: 'Create an API token for my account (shown once)', body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 100 } } }, response: { 200: { type: 'object', properties: { id: { type: 'integer' }, token: { type: 'string' } } } } } }, async (req) => {
    const token = `tpl_${randomBytes(32).toString('base64url')}`;
    const id = ctx.state.createToken(who(req).username, req.body.name, sha256(token));
    audit(ctx, req, 'token-created', who(req).username, { id, name: req.body.name });
    return { id, token };
  });

  app.get('/api/policy', { schema: { tags: ['admin'], summary: 'What is recorded: the policy, mode and plugins in effect (read-only)' } }, async (req, reply) => {
    if (!onlyRoles(req, reply, ['admin'])) return reply;
    const c = ctx.config as typeof ctx.config & { localDomains?: string[] };
    return {
      localDomains: c.localDomains ?? [],
      recorderId: c.policy.recorderId,
      recordAllWithoutUsers: c.policy.recordAllWithoutUsers,
      disallowedIps: c.policy.disallowedIps,
      disallowedUserAgents: c.policy.disallowedUserAgents,
      allowedCodecs: c.policy.allowedCodecs,
      recordSipDialogs: c.policy.recordSipDialogs,
      plugins: c.plugins.map((p) => ({ use: p.use, enabled: p.enabled !== false })),
      users: ctx.users.size,
    };
  });

  app.get<{ Querystring: { limit?: number; before?: number } }>(
    '/api/audit',
    { schema: { tags: ['admin'], summary: 'The audit log, newest first (append-only, hash-chained)', querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 }, before: { type: 'integer', minimum: 1 } } } } },
    async (req, reply) => {
      if (!onlyRoles(req, reply, ['admin', 'auditor'])) return reply;
      const page = ctx.state.auditPage(req.query.limit ?? 100, req.query.before);
      return { items: page.items, ...(page.next !== undefined ? { next: page.next } : {}) };
    },
  );
}
