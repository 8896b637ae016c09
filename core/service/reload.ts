/**
 * SIGHUP: what a running recorder takes from a changed config without dropping a call — the users and the users
 * file, local domains and the policy. Everything else (plugins, ports, media settings) needs a restart and is
 * reported as such. A config or users file that is invalid changes nothing.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Kernel } from '../kernel';
import type { PreparedConfig } from '../plugins/loader';
import { UserDirectory } from '../policy/users';

export interface ReloadReport {
  /** What took effect. */
  changes: string[];
  /** What changed in the file but needs a restart. */
  notApplied: string[];
}

/** Top-level keys taken on reload. */
const RELOADED = new Set(['users', 'usersFile', 'localDomains', 'policy', '$schema']);

export function reloadPolicy(kernel: Kernel, prepared: PreparedConfig): ReloadReport {
  const next = prepared.config;
  const prev = kernel.config;
  // Read (and validate) the users first: a bad users file throws here, before anything is changed.
  const users = UserDirectory.fromConfig(next, prepared.dir);
  const changes: string[] = [];
  const before = kernel.users.size;
  kernel.users.replaceWith(users);
  changes.push(`users: ${before} -> ${users.size}`);
  kernel.endpoints.reconfigure(next.policy.disallowedIps);
  for (const p of kernel.endpoints.problems) kernel.log.warn(p);
  kernel.policy.reconfigure(next.policy);
  for (const shard of kernel.calls.shardList) shard.reconfigure?.(next.policy);
  for (const key of Object.keys(next.policy) as Array<keyof typeof next.policy>) {
    if (!isDeepStrictEqual(next.policy[key], prev.policy[key])) changes.push(`policy.${key} changed`);
  }
  const notApplied: string[] = [];
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  for (const k of keys) {
    if (RELOADED.has(k)) continue;
    if (!isDeepStrictEqual((prev as unknown as Record<string, unknown>)[k], (next as unknown as Record<string, unknown>)[k])) notApplied.push(`"${k}" changed`);
  }
  return { changes, notApplied };
}
