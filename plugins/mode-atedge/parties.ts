/**
 * Which party of which running call an address belongs to, from the calls' SDPs (every candidate, host, srflx and
 * relay alike): the mode's fallback for packets no SDP address:port claimed. An exact ip:port match wins; failing
 * that, an IP-only match counts when exactly one party of one call has that IP (a remote user's NAT address with
 * another port, as over TCP), never when several do.
 */
import type { Call, Side } from '../../core/dialog/types';
import { normalizeIp, otherSide, recordIsLive } from '../../core/media/associator-index';
import { mediaEndpoints } from '../../core/sdp/index';
import type { TurnAddress } from './stun';

export interface PartyMatch {
  call: Call;
  /** The party whose SDP names the address (for a=remote-candidates: the peer of the SDP's writer). */
  side: Side;
  exact: boolean;
}

/**
 * The newest running call with a party at one of `exact` (ip:port, tried in order); failing that, the one party of
 * one call whose SDP has an address on one of `ipOnly` (any port).
 */
export function findParty(calls: readonly Call[], exact: ReadonlyArray<TurnAddress | undefined>, ipOnly: ReadonlyArray<string | undefined> = []): PartyMatch | undefined {
  const wanted = exact.filter((a): a is TurnAddress => a !== undefined).map((a) => ({ ip: normalizeIp(a.ip), port: a.port }));
  const ips = new Set(ipOnly.filter((ip): ip is string => ip !== undefined).map((ip) => normalizeIp(ip)));
  if (wanted.length === 0 && ips.size === 0) return undefined;
  for (const w of wanted) {
    const hit = scan(calls, (ip, port) => ip === w.ip && port === w.port);
    if (hit.length > 0) return { ...(hit[0] as { call: Call; side: Side }), exact: true };
  }
  if (ips.size === 0) return undefined;
  const byIp = scan(calls, (ip) => ips.has(ip));
  const only = byIp[0];
  return only !== undefined && byIp.length === 1 ? { ...only, exact: false } : undefined;
}

/** Distinct (call, side) pairs, newest call and newest SDP first, with an endpoint the predicate accepts. */
function scan(calls: readonly Call[], match: (ip: string, port: number) => boolean): Array<{ call: Call; side: Side }> {
  const out: Array<{ call: Call; side: Side }> = [];
  for (let i = calls.length - 1; i >= 0; i--) {
    const call = calls[i] as Call;
    if (call.state === 'terminated') continue;
    for (let r = call.sdp.length - 1; r >= 0; r--) {
      const rec = call.sdp[r]!;
      if (!recordIsLive(call, rec)) continue;
      for (const media of rec.sdp.media) {
        for (const ep of mediaEndpoints(media)) {
          if (!match(normalizeIp(ep.ip), ep.port)) continue;
          const side = ep.source === 'remote-candidate' ? otherSide(rec.from) : rec.from;
          if (!out.some((x) => x.call === call && x.side === side)) out.push({ call, side });
        }
      }
    }
  }
  return out;
}
