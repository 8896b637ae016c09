/**
 * Who a call is: addresses, ports, URIs, tags, Call-ID and (for Lync) epids, ICE and SDES material.
 * Everything derives from (seed, call index), so call i is the same whatever the other options.
 */
import { Rng } from './random';
import type { ResolvedScenario } from './scenario';
import type { LyncSdpParams, SdpParams } from './sdp-builder';

export interface SideIdentity {
  user: string;
  display: string;
  uri: string;
  tag: string;
  epid: string;
  ip: string;
  rtpPort: number;
  sdpSession: number;
  /** Lync SDP material (present on every side; only used when lync is on). */
  ice: Omit<LyncSdpParams, keyof SdpParams | 'offer' | 'ssrc'>;
}

export interface CallIdentity {
  index: number;
  callId: string;
  conversationId: string;
  caller: SideIdentity;
  callee: SideIdentity;
  /** Where the caller side's SIP leaves from. */
  sipClient: { ip: string; port: number };
  server: { ip: string; port: number };
}

/** <prefix>.<hi>.<lo> for n = index + 1; beyond 65535 calls the second octet moves on by 2 per block. */
export function hostAddress(prefix: string, index: number): string {
  const n = index + 1;
  const parts = prefix.split('.').map(Number);
  const a = parts[0] ?? 10;
  const b = (parts[1] ?? 0) + 2 * Math.floor(n / 65536);
  return `${a}.${b & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export function callIdentity(s: ResolvedScenario, index: number, rng: Rng): CallIdentity {
  const a = s.addresses;
  const n = index + 1;
  const side = (role: 'caller' | 'callee', prefix: string, rtpBase: number): SideIdentity => {
    const ip = hostAddress(prefix, index);
    const rtpPort = rtpBase + 2 * (index % 10000);
    return {
      user: `${role}${n}`,
      display: `${role === 'caller' ? 'Caller' : 'Callee'} ${n}`,
      uri: `sip:${role}${n}@${a.domain}`,
      tag: rng.hex(5),
      epid: rng.hex(5),
      ip,
      rtpPort,
      sdpSession: 1 + rng.int(2 ** 31),
      ice: {
        ufrag: rng.token(4),
        pwd: rng.token(24),
        cryptoKey: rng.base64(30),
        srflx: { ip: `203.0.113.${1 + (index % 254)}`, port: 30000 + rng.int(20000) },
        relay: { ip: `198.51.100.${role === 'caller' ? 10 : 20}`, port: 50000 + rng.int(10000) },
        ipv6: `fd00:7:495:${role === 'caller' ? 1 : 2}::${(n & 0xffff).toString(16)}`,
        v6User: rng.token(32),
        v6Pwd: rng.token(22),
      },
    };
  };
  const caller = side('caller', a.callerPrefix, a.callerRtpBase);
  const callee = side('callee', a.calleePrefix, a.calleeRtpBase);
  const tcp = s.sipTransport === 'tcp';
  const sipClient = tcp && s.tcpShared ? { ip: a.sharedClient, port: 50000 } : { ip: caller.ip, port: tcp ? 49152 + (index % 16000) : 5060 };
  return {
    index,
    callId: `${rng.hex(12)}${index.toString(16)}@tapline.gen`,
    conversationId: `Ad${rng.token(30)}==`,
    caller,
    callee,
    sipClient,
    server: { ip: a.sipServer, port: a.sipPort },
  };
}
