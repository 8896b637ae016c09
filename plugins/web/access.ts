/**
 * Who may see what. admin: everything; supervisor: recordings and chats of the members of their teams and their
 * own; agent: only those they took part in (one of their URIs is a participant); auditor: the audit log, no
 * recordings. A recording outside a user's scope is answered 404, as if it did not exist.
 */
import { userKey } from '../../core/policy/users';
import type { Account, Role, WebState } from './state-db';

/** 'all', or the user keys whose recordings may be seen. */
export type Scope = 'all' | readonly string[];

const RECORDING_ROLES: readonly Role[] = ['admin', 'supervisor', 'agent'];

export function mayReadRecordings(a: Account): boolean {
  return RECORDING_ROLES.includes(a.role);
}

export function keysOf(uris: readonly string[]): string[] {
  return [...new Set(uris.map((u) => userKey(u)).filter((k): k is string => k !== undefined))];
}

export function scopeOf(a: Account, state: WebState): Scope {
  if (a.role === 'admin') return 'all';
  if (a.role === 'agent') return keysOf(a.uris);
  if (a.role === 'supervisor') {
    const teams = new Set(a.teams);
    const members = state.accounts().filter((o) => o.teams.some((t) => teams.has(t)));
    return keysOf([...a.uris, ...members.flatMap((m) => m.uris)]);
  }
  return [];
}

export function inScope(scope: Scope, participants: readonly string[]): boolean {
  if (scope === 'all') return true;
  const keys = participants.map((p) => userKey(p) ?? p);
  return keys.some((k) => scope.includes(k));
}
