/**
 * Which calls are recorded and what a recording must say about policy (requirements: net-service and recorder
 * settings, Users). A call is recorded when a party holds the call-recording licence and is recorded by this
 * recorder (HA: up to three); with no users configured at all, every call is (a plain SIP recorder). The mode
 * decides whether the call's audio can be heard where it captures; a call it cannot hear is still catalogued,
 * flagged with the reason. Disallowed user agents' call control is ignored before the dialog tracker sees it.
 */
import type { RecordingMode } from '../contract';
import type { PolicyConfig } from '../config/types';
import type { Call, Side } from '../dialog/types';
import type { SipMessage } from '../sip/types';
import { normalizeIp } from '../media/associator-index';
import { userKey, type UserDirectory } from './users';

/** A recorded user taking part in a call. */
export interface RecordedUser {
  uri: string;
  name?: string;
  side: Side;
}

export type CallDecision =
  | { record: true; users: RecordedUser[]; flags: string[] }
  | { record: false; reason: string; backup?: BackupDecision };

/**
 * A call of users another recorder records: this recorder stands by and records it only if a forwarder fails over to
 * it (their recorder is unreachable). rank: how far down the users' recorder order this one is (1 = next).
 */
export interface BackupDecision {
  users: RecordedUser[];
  flags: string[];
  rank: number;
}

/** Recorders of one site (HA: up to three); the order a user's media falls back in is recorder, recorder + 1, … mod 3. */
const RECORDERS = 3;

/** How a mode's "cannot hear this call" flag begins. */
export const NOT_RECORDABLE = 'not recordable in ';

export const DEFAULT_POLICY: PolicyConfig = {
  recorderId: 1,
  recordAllWithoutUsers: true,
  disallowedIps: [],
  disallowedUserAgents: [],
  allowedCodecs: [],
  suppressedPayloadTypes: [],
  recordSipDialogs: false,
  logAllSipMessages: null,
};

export class RecordingPolicy {
  private disallowedIps: ReadonlySet<string> = new Set();
  private uaUris: ReadonlySet<string> = new Set();
  private uaTexts: readonly string[] = [];
  private current: PolicyConfig;

  constructor(
    readonly users: UserDirectory,
    cfg: PolicyConfig = DEFAULT_POLICY,
    readonly mode?: RecordingMode,
  ) {
    this.current = cfg;
    this.reconfigure(cfg);
  }

  get cfg(): PolicyConfig {
    return this.current;
  }

  /** New settings (SIGHUP reload): calls decided already keep their decision. */
  reconfigure(cfg: PolicyConfig): void {
    this.current = cfg;
    this.disallowedIps = new Set(cfg.disallowedIps.map((ip) => normalizeIp(ip)));
    const uris = new Set<string>();
    const texts: string[] = [];
    for (const entry of cfg.disallowedUserAgents) {
      // "sip:", "sips:" or user@host names a party; anything else is matched against User-Agent / Server.
      const looksLikeUri = /^sips?:/i.test(entry) || /^[^\s@]+@[^\s@]+$/.test(entry);
      const key = looksLikeUri ? userKey(entry) : undefined;
      if (key !== undefined) uris.add(key);
      else texts.push(entry.toLowerCase());
    }
    this.uaUris = uris;
    this.uaTexts = texts;
  }

  /** Whether (and for whom) a call is recorded; decided when it starts. */
  decide(call: Call): CallDecision {
    const flags: string[] = [];
    // A call with a disallowed agent (voicemail, an IVR) is not recorded, whichever side it is on.
    for (const side of ['caller', 'callee'] as const) {
      const key = this.uaUris.size > 0 ? userKey(call[side].uri) : undefined;
      if (key !== undefined && this.uaUris.has(key)) return { record: false, reason: `the ${side} is a disallowed user agent (${key})` };
    }
    let users: RecordedUser[] = [];
    if (this.users.size === 0) {
      if (!this.cfg.recordAllWithoutUsers) return { record: false, reason: 'no users are configured (policy.recordAllWithoutUsers is off)' };
    } else {
      const elsewhere: string[] = [];
      const standby: RecordedUser[] = [];
      let rank = RECORDERS;
      for (const side of ['caller', 'callee'] as const) {
        const party = call[side];
        const u = this.users.lookup(party.uri);
        if (u === undefined || !u.call) continue;
        if (u.recorder !== undefined && u.recorder !== this.cfg.recorderId) {
          elsewhere.push(`${u.uri} (recorder ${u.recorder})`);
          const name = u.name ?? party.displayName;
          standby.push({ uri: u.uri, side, ...(name !== undefined ? { name } : {}) });
          rank = Math.min(rank, (((this.cfg.recorderId - u.recorder) % RECORDERS) + RECORDERS) % RECORDERS);
          continue;
        }
        const r: RecordedUser = { uri: u.uri, side };
        const name = u.name ?? party.displayName;
        if (name !== undefined) r.name = name;
        users.push(r);
      }
      if (users.length === 0) {
        if (elsewhere.length === 0) return { record: false, reason: 'no party holds the call-recording licence' };
        const modeFlag = this.modeFlag(call);
        return { record: false, reason: `recorded by another recorder: ${elsewhere.join(', ')}`, backup: { users: standby, flags: modeFlag !== undefined ? [modeFlag] : [], rank } };
      }
      // Both parties recorded users: one recording, both named in it.
      users = users.sort((a, b) => (a.side === b.side ? 0 : a.side === 'caller' ? -1 : 1));
    }
    const modeFlag = this.modeFlag(call);
    if (modeFlag !== undefined) flags.push(modeFlag);
    return { record: true, users, flags };
  }

  /** The mode's verdict on a call as a flag ('not recordable in … mode: …'), or undefined when it can hear it. */
  modeFlag(call: Call): string | undefined {
    const verdict = this.mode?.recordable?.(call);
    return verdict !== undefined && !verdict.recordable ? `${NOT_RECORDABLE}${this.mode?.name} mode: ${verdict.reason}` : undefined;
  }

  /** Why a SIP message is to be ignored (a disallowed user agent), or undefined. */
  ignoresSip(msg: SipMessage): string | undefined {
    if (this.uaUris.size > 0) {
      // The agent that sent it: the From of a request, the To of a response.
      const who = msg.kind === 'request' ? msg.from : msg.to;
      const key = who?.uri !== undefined ? userKey(`${who.uri.scheme}:${who.uri.user ?? ''}@${who.uri.host}`) : undefined;
      if (key !== undefined && this.uaUris.has(key)) return `disallowed user agent ${key}`;
    }
    if (this.uaTexts.length > 0) {
      const ua = (msg.headers.get('User-Agent') ?? msg.headers.get('Server') ?? '').toLowerCase();
      if (ua !== '') for (const t of this.uaTexts) if (ua.includes(t)) return `disallowed user agent "${t}"`;
    }
    return undefined;
  }

  isDisallowedIp(ip: string): boolean {
    return this.disallowedIps.size > 0 && this.disallowedIps.has(normalizeIp(ip));
  }

  /** Flags for codecs a recording used that the policy does not allow. */
  codecFlags(encodings: Iterable<string>, payloadTypes: Iterable<number>): string[] {
    return codecPolicyFlags(this.current, encodings, payloadTypes);
  }
}

/** policy.allowedCodecs and suppressedPayloadTypes against what a recording used (also run in call workers). */
export function codecPolicyFlags(cfg: Pick<PolicyConfig, 'allowedCodecs' | 'suppressedPayloadTypes'>, encodings: Iterable<string>, payloadTypes: Iterable<number>): string[] {
  const out: string[] = [];
  if (cfg.allowedCodecs.length > 0) {
    const allowed = cfg.allowedCodecs.map((c) => c.toUpperCase());
    for (const enc of encodings) {
      const up = enc.toUpperCase();
      const name = up.split('/')[0] as string;
      if (!allowed.some((a) => a === up || a === name)) out.push(`codec ${enc} is not in policy.allowedCodecs`);
    }
  }
  for (const pt of payloadTypes) if (cfg.suppressedPayloadTypes.includes(pt)) out.push(`payload type ${pt} is in policy.suppressedPayloadTypes (it should have been stripped from the offer)`);
  return out;
}
