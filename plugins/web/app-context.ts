/** What the web app's routes share, and the request fields the access hook sets. */
import type { FastifyReply, FastifyRequest } from 'fastify';
// Their declarations add request.cookies, reply.setCookie and the schema's OpenAPI fields (tags, summary).
import type {} from '@fastify/cookie';
import type {} from '@fastify/swagger';
import type { CallControl, Logger, RecordingLibrary } from '../../core/contract';
import type { TaplineConfig } from '../../core/config/types';
import type { UserDirectory } from '../../core/policy/users';
import type { EndpointDirectory } from '../../core/policy/endpoints';
import type { Account, WebState } from './state-db';
import type { LiveCalls } from './live-calls';
import type { LoginThrottle } from './login-throttle';
import type { OidcLogin } from './oidc';

export interface WebOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  insecureHttp: boolean;
  dir: string;
  sessionHours: number;
  login: { freeFailures: number; windowMin: number; maxDelaySec: number };
  oidc?: {
    issuer: string;
    clientId: string;
    clientSecretEnv?: string;
    redirectUri: string;
    usernameClaim: string;
    scope: string;
    autoCreateRole?: Account['role'];
    allowInsecureIssuer: boolean;
  };
  liveCallsMax: number;
}

export interface AppContext {
  library: RecordingLibrary;
  state: WebState;
  log: Logger;
  options: WebOptions;
  /** Absent in `tapline web` (no recorder in this process). */
  live?: LiveCalls;
  control?: CallControl;
  users: UserDirectory;
  endpoints?: EndpointDirectory;
  config: TaplineConfig;
  configDir: string;
  throttle: LoginThrottle;
  oidc?: OidcLogin;
  secure: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in account (set by the access hook; null on public routes without one). */
    account: Account | null;
    /** Authenticated by the session cookie (unsafe methods then need the CSRF header). */
    viaCookie: boolean;
  }
}

/** The account of a route that the access hook has already required. */
export function who(req: FastifyRequest): Account {
  if (req.account === null) throw new Error('route reached without an account');
  return req.account;
}

export function deny(reply: FastifyReply, status: 401 | 403 | 404, error: string): FastifyReply {
  const code = status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'FORBIDDEN' : 'NOT_FOUND';
  return reply.code(status).send({ error, code });
}

/** Audit entry for this request's account. */
export function audit(ctx: AppContext, req: FastifyRequest, action: string, target?: string, detail?: unknown): void {
  ctx.state.audit({ actor: req.account?.username ?? '(anonymous)', action, ...(target !== undefined ? { target } : {}), ...(detail !== undefined ? { detail } : {}), ip: req.ip });
}

export const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' } },
} as const;
