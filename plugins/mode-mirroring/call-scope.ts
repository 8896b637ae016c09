/**
 * What kind of call a mirrored capture at the Mediation Server can hear (requirements, "Recording modes"): every
 * party is a conference MCU (opaque=app:conf:..., lync-protocols.md §7), a queue or response group, the PSTN side
 * (tel: URI, user=phone, a Mediation Server or gateway address), a local user, or someone outside (federated).
 * A call between two local users and nothing else is internal: its audio flows between their PCs directly.
 */
import type { Call, Side } from '../../core/dialog/types';
import { normalizeIp } from '../../core/media/associator-index';
import { userKey, type UserDirectory } from '../../core/policy/users';

export type PartyKind = 'conference' | 'queue' | 'pstn' | 'local' | 'external';
export type CallScope = 'conference' | 'queue' | 'external' | 'internal';

export interface ScopeOptions {
  mediationServers: readonly string[];
  gateways: readonly string[];
  queues: readonly string[];
}

export interface PartyVerdict {
  kind: PartyKind;
  why: string;
}

export interface ScopeVerdict {
  scope: CallScope;
  caller: PartyVerdict;
  callee: PartyVerdict;
}

const CONFERENCE = /[;?]opaque=app:conf:/i;
// Lync's response group application (opaque=app:rgs...), or a queue named rgs-... / rgs_... (dialog/summary.ts).
const QUEUE = /[;?]opaque=app:rgs|^<?sips?:rgs[-_]/i;
const USER_PHONE = /;user=phone(?:[;>?]|$)/i;

/** Classifies calls against the configured servers, queues and the users' directory. */
export class ScopeClassifier {
  private readonly servers: ReadonlySet<string>;
  private readonly queues: ReadonlySet<string>;

  constructor(
    private readonly users: UserDirectory,
    opts: ScopeOptions,
  ) {
    this.servers = new Set([...opts.mediationServers, ...opts.gateways].map((h) => normalizeIp(h.trim())));
    this.queues = new Set(opts.queues.map((u) => userKey(u)).filter((k): k is string => k !== undefined));
  }

  party(call: Call, side: Side): PartyVerdict {
    const p = call[side];
    const uri = p.uri;
    if (CONFERENCE.test(uri)) return { kind: 'conference', why: 'conference MCU (opaque=app:conf)' };
    const key = userKey(uri);
    if (QUEUE.test(uri) || (key !== undefined && this.queues.has(key))) return { kind: 'queue', why: 'queue or response group' };
    if (key?.startsWith('tel:') === true) return { kind: 'pstn', why: 'tel: URI' };
    if (USER_PHONE.test(uri)) return { kind: 'pstn', why: 'user=phone' };
    if (this.servers.size > 0) {
      if (this.servers.has(normalizeIp(p.host))) return { kind: 'pstn', why: `URI host ${p.host} is a Mediation Server or gateway` };
      // The initial INVITE came from (caller) or went to (callee) a Mediation Server or gateway.
      const addr = side === 'caller' ? call.callerAddr.ip : call.calleeAddr.ip;
      if (this.servers.has(normalizeIp(addr))) return { kind: 'pstn', why: `signalled through ${addr} (Mediation Server or gateway)` };
    }
    if (this.users.isLocal(uri) || this.users.lookup(uri) !== undefined) return { kind: 'local', why: 'local user' };
    return { kind: 'external', why: this.users.localDomains.length > 0 ? 'not in a local domain' : 'no localDomains configured' };
  }

  classify(call: Call): ScopeVerdict {
    const caller = this.party(call, 'caller');
    const callee = this.party(call, 'callee');
    const kinds = [caller.kind, callee.kind];
    let scope: CallScope;
    if (kinds.includes('conference')) scope = 'conference';
    else if (kinds.includes('queue')) scope = 'queue';
    else if (kinds.includes('pstn') || kinds.includes('external')) scope = 'external';
    else scope = 'internal';
    return { scope, caller, callee };
  }
}
