/**
 * Generated Lync/SfB captures for the recording-mode tests, with the truth of which tone belongs to which user.
 *
 * One organisation (contoso.com): a Front End (SIP hub, also the AV MCU and response-group host), an Edge, a
 * Mediation Server (PSTN), users with configured or learned (0.0.0.0) endpoint IPs, licensed or not, four users
 * behind one address. Each capture is what one mode's collector sees: mirroringCapture() the Mediation Server's
 * mirror port (no internal audio), endpointCapture() the agents' PCs (only traffic to and from them); both carry
 * every call's SIP as the Front End relays it. Tones: the caller of call k sends 300 + 50k Hz, its callee
 * 1900 + 50k Hz (the generator's table, so dominantTone() names them); strays use tones no call uses.
 */
import * as path from 'node:path';
import { endpoint, LyncCall, LyncCapture, MS, SEC, type Addr, type LyncEndpoint } from './lync-capture';

export const T0 = Date.UTC(2026, 2, 10, 9, 0) * 1000;
export const DOMAIN = 'contoso.com';
export const FE: Addr = { ip: '10.0.0.10', port: 5061 };
export const EDGE_INTERNAL = '10.0.0.11';
export const EDGE_RELAY = '198.51.100.10';
export const MEDIATION = '10.0.0.30';
export const MCU_MEDIA = '10.0.0.12';
export const RGS_MEDIA = '10.0.0.13';
export const NAT = '203.0.113.7';
export const TERMINAL_SERVER = '10.20.0.50';
export const DIALER_UA = 'Acme-Dialer/2.1';
export const MEDIATION_UA = 'RTCC/6.0.0.0 MediationServer';

/** The users' directory both captures are recorded with. */
export const USERS = [
  { uri: 'sip:alice@contoso.com', name: 'Alice Agent', call: true, endpointIp: '0.0.0.0' },
  { uri: 'sip:bob@contoso.com', name: 'Bob Agent', call: true, endpointIp: '10.1.0.6' },
  { uri: 'sip:carol@contoso.com', call: false, endpointIp: '10.1.0.7' },
  { uri: 'sip:dave@contoso.com', call: true, recorder: 2, endpointIp: '10.1.0.8' },
  { uri: 'sip:erin@contoso.com', call: true, endpointIp: '0.0.0.0' },
  { uri: 'sip:gina@contoso.com', call: true, endpointIp: '10.1.0.9' },
  { uri: 'sip:kiosk@contoso.com', call: true, endpointIp: FE.ip },
  ...[1, 2, 3, 4].map((i) => ({ uri: `sip:ts${i}@contoso.com`, call: true, endpointIp: 'SHARED' })),
];

export function usersFor(shared: string): Array<Record<string, unknown>> {
  return USERS.map((u) => (u.endpointIp === 'SHARED' ? { ...u, endpointIp: shared } : { ...u }));
}

export const POLICY = {
  disallowedIps: [FE.ip, EDGE_INTERNAL, EDGE_RELAY],
  disallowedUserAgents: ['acme-dialer'],
};

/** What a test expects of one call. */
export interface Expected {
  label: string;
  callId: string;
  /** A recording exists for it. */
  recorded: boolean;
  users?: string[];
  /** Dominant tone of each channel (caller left, callee right). */
  tones?: { caller?: number; callee?: number };
  /** Tones that must not be in the recording at all (a losing fork's, another user's). */
  absent?: number[];
  kind?: 'call' | 'conference' | 'queue';
  /** The recording has no audio. */
  noAudio?: boolean;
  flag?: RegExp;
}

export interface ModeCapture {
  file: string;
  calls: Map<string, Expected>;
  /** Named calls, for link and hold checks. */
  ids: Record<string, string>;
}

const callerHz = (k: number): number => 300 + 50 * k;
const calleeHz = (k: number): number => 1900 + 50 * k;

/** One user's endpoints: every call gets its own media port, as a Lync client does. */
class User {
  private next: number;
  readonly epid: string;

  constructor(
    readonly uri: string,
    readonly name: string | undefined,
    public ip: string,
    base = 27100,
    private readonly o: { srflx?: Addr; contactIp?: boolean; userAgent?: string } = {},
  ) {
    this.next = base;
    this.epid = `ep${(uri.slice(4).split('@')[0] ?? '').replace(/[^a-z0-9]/gi, '')}`;
  }

  at(port?: number, ip = this.ip): LyncEndpoint {
    const rtpPort = port ?? (this.next += 2);
    const opts: Parameters<typeof endpoint>[1] = { ip, rtpPort, sipPort: 5061, epid: this.epid, contactIp: this.o.contactIp ?? true };
    if (this.name !== undefined) opts.name = this.name;
    if (this.o.srflx !== undefined) opts.srflx = { ip: this.o.srflx.ip, port: rtpPort - 27100 + this.o.srflx.port };
    if (this.o.userAgent !== undefined) opts.userAgent = this.o.userAgent;
    return endpoint(this.uri, opts);
  }
}

let pstnPort = 60000;
/** A PSTN number as the Mediation Server presents it: sip:+1...;user=phone, SIP and media from the Mediation Server. */
function pstn(n: number): LyncEndpoint {
  pstnPort += 2;
  return endpoint(`sip:+1425555${String(n).padStart(4, '0')}@contoso.com;user=phone`, { ip: MEDIATION, sipPort: 5068, rtpPort: pstnPort, userAgent: MEDIATION_UA, contactIp: true });
}

const alice = new User('sip:alice@contoso.com', 'Alice Agent', '10.1.0.5');
const bob = new User('sip:bob@contoso.com', 'Bob Agent', '10.1.0.6');
const carol = new User('sip:carol@contoso.com', 'Carol', '10.1.0.7');
const dave = new User('sip:dave@contoso.com', 'Dave', '10.1.0.8');
const erin = new User('sip:erin@contoso.com', 'Erin', '10.1.0.20');
const gina = new User('sip:gina@contoso.com', 'Gina', '10.1.0.9');
const kiosk = new User('sip:kiosk@contoso.com', 'Kiosk', '10.1.0.30');
const dialer = new User('sip:dialer@contoso.com', 'Outbound Dialer', '10.5.0.9', 27100, { userAgent: DIALER_UA });

/** A basic answered call: INVITE, 180, 200/ACK at +0.5 s, talk for `talkSec`, BYE by the caller. Returns the talk window. */
function basic(cap: LyncCapture, caller: LyncEndpoint, callee: LyncEndpoint, t: number, talkSec: number, by: 'caller' | 'callee' = 'caller', headers: string[] = []): { call: LyncCall; a: number; b: number } {
  const call = new LyncCall(cap, FE, caller, callee);
  call.invite(t, { headers }).ring(t + 50 * MS).answer(t + 500 * MS);
  const a = t + 520 * MS;
  const b = a + talkSec * SEC;
  call.bye(b + 20 * MS, by);
  return { call, a, b };
}

function expect(calls: Map<string, Expected>, e: Expected): void {
  calls.set(e.label, e);
}

/**
 * What the Mediation Server's mirror port sees (plus all SIP from the Front End): external calls, conference and
 * queue legs with their audio; internal calls as SIP only.
 */
export async function mirroringCapture(dir: string): Promise<ModeCapture> {
  const cap = new LyncCapture();
  const calls = new Map<string, Expected>();
  const ids: Record<string, string> = {};
  const s = (x: number): number => T0 + x * SEC;

  // M1 PSTN → alice.
  {
    const p = pstn(1);
    const a = alice.at();
    const { call, a: t0, b } = basic(cap, p, a, s(0), 2);
    cap.talk(p.media, a.media, t0, b, callerHz(1), calleeHz(1));
    expect(calls, { label: 'pstn-in', callId: call.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(1), callee: calleeHz(1) }, kind: 'call' });
  }
  // M2 alice → PSTN.
  {
    const a = alice.at();
    const p = pstn(2);
    const { call, a: t0, b } = basic(cap, a, p, s(0.5), 2);
    cap.talk(a.media, p.media, t0, b, callerHz(2), calleeHz(2));
    expect(calls, { label: 'pstn-out', callId: call.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(2), callee: calleeHz(2) } });
  }
  // M3 alice → bob: internal; its audio never passes the Mediation Server.
  {
    const { call } = basic(cap, alice.at(), bob.at(), s(1), 2);
    expect(calls, { label: 'internal', callId: call.callId, recorded: true, users: [alice.uri, bob.uri], noAudio: true, flag: /not recordable in mirroring mode: internal call between sip:alice@contoso.com and sip:bob@contoso.com/ });
  }
  // M4 bob joins a conference: his leg to the AV MCU.
  {
    const b = bob.at();
    const mcu = endpoint('sip:alice@contoso.com;gruu;opaque=app:conf:audio-video:id:K7Q2LM9W', { name: 'Conference', ip: FE.ip, sipPort: 5061, rtpPort: 49152, contactIp: true });
    mcu.media = { ip: MCU_MEDIA, port: 49152 };
    const { call, a: t0, b: t1 } = basic(cap, b, mcu, s(1.5), 2);
    cap.talk(b.media, mcu.media, t0, t1, callerHz(4), calleeHz(4));
    expect(calls, { label: 'conference', callId: call.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(4), callee: calleeHz(4) }, kind: 'conference' });
  }
  // M5 the response group offers a queued call to bob.
  {
    const rgs = endpoint('sip:rgs-sales@contoso.com', { name: 'Sales', ip: FE.ip, sipPort: 5061, rtpPort: 50100, contactIp: true, userAgent: 'RTCC/6.0.0.0 Microsoft.Rtc.Applications.Acd' });
    rgs.media = { ip: RGS_MEDIA, port: 50100 };
    const b = bob.at();
    const { call, a: t0, b: t1 } = basic(cap, rgs, b, s(2), 2);
    cap.talk(rgs.media, b.media, t0, t1, callerHz(5), calleeHz(5));
    expect(calls, { label: 'queue', callId: call.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(5), callee: calleeHz(5) }, kind: 'queue' });
  }
  // M6 PSTN → carol, who holds no call-recording licence.
  {
    const p = pstn(6);
    const c = carol.at();
    const { call, a: t0, b } = basic(cap, p, c, s(2.5), 2);
    cap.talk(p.media, c.media, t0, b, callerHz(6), calleeHz(6));
    expect(calls, { label: 'unlicensed', callId: call.callId, recorded: false });
  }
  // M7 an outbound dialer whose user agent is disallowed calls alice: its call control is ignored.
  {
    const d = dialer.at();
    const a = alice.at();
    const { call, a: t0, b } = basic(cap, d, a, s(3), 2);
    cap.talk(d.media, a.media, t0, b, callerHz(7), calleeHz(7));
    expect(calls, { label: 'disallowed-ua', callId: call.callId, recorded: false });
  }
  // M8 PSTN → dave, recorded by recorder 2.
  {
    const p = pstn(8);
    const dv = dave.at();
    const { call, a: t0, b } = basic(cap, p, dv, s(3.5), 2);
    cap.talk(p.media, dv.media, t0, b, callerHz(8), calleeHz(8));
    expect(calls, { label: 'other-recorder', callId: call.callId, recorded: false });
  }
  // M9 four users behind one NAT address, each calling the PSTN: told apart by their srflx candidates' ports.
  for (let i = 1; i <= 4; i++) {
    const u = new User(`sip:ts${i}@contoso.com`, `TS User ${i}`, `192.168.1.${10 + i}`, 27100, { srflx: { ip: NAT, port: 40000 + i * 10 } });
    const e = u.at(27100);
    const p = pstn(90 + i);
    const k = 8 + i;
    const { call, a: t0, b } = basic(cap, e, p, s(4 + 0.1 * i), 2);
    cap.talk(e.srflx as Addr, p.media, t0, b, callerHz(k), calleeHz(k));
    expect(calls, { label: `nat-${i}`, callId: call.callId, recorded: true, users: [u.uri], tones: { caller: callerHz(k), callee: calleeHz(k) } });
  }
  // M10 blind transfer: PSTN → alice; alice REFERs the caller to bob; the Mediation Server calls bob.
  {
    const p = pstn(10);
    const a = alice.at();
    const t1 = new LyncCall(cap, FE, p, a);
    t1.invite(s(6)).ring(s(6.05)).answer(s(6.5));
    cap.talk(p.media, a.media, s(6.52), s(7.5), callerHz(14), calleeHz(14));
    t1.refer(s(7.6), 'callee', '<sip:bob@contoso.com>').bye(s(7.8), 'callee');
    const p2 = { ...p, media: { ip: MEDIATION, port: (pstnPort += 2) } };
    const b = bob.at();
    const t2 = new LyncCall(cap, FE, p2, b);
    t2.invite(s(7.7), { headers: [`Referred-By: <${alice.uri}>`] }).ring(s(7.75)).answer(s(8.2));
    cap.talk(p2.media, b.media, s(8.22), s(9.2), callerHz(15), calleeHz(15));
    t2.bye(s(9.3), 'caller');
    ids['blind-1'] = t1.callId;
    ids['blind-2'] = t2.callId;
    expect(calls, { label: 'blind-1', callId: t1.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(14), callee: calleeHz(14) } });
    expect(calls, { label: 'blind-2', callId: t2.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(15), callee: calleeHz(15) } });
  }
  // M11 attended transfer with hold: PSTN → bob (A1); bob holds, consults alice (A2, internal); bob REFERs the
  // caller to alice with Replaces naming A2; the Mediation Server's INVITE with Replaces (A3) takes A2's place.
  {
    const p = pstn(11);
    const b = bob.at();
    const a1 = new LyncCall(cap, FE, p, b);
    a1.invite(s(10)).ring(s(10.05)).answer(s(10.5));
    cap.talk(p.media, b.media, s(10.52), s(11.5), callerHz(16), calleeHz(16));
    a1.reinvite(s(11.5), 'callee', 'sendonly');
    const a2 = new LyncCall(cap, FE, bob.at(), alice.at());
    a2.invite(s(11.7)).ring(s(11.75)).answer(s(12));
    a1.refer(s(13), 'callee', `<sip:alice@contoso.com?Replaces=${encodeURIComponent(a2.replacesValue())}>`);
    const p3 = { ...p, media: { ip: MEDIATION, port: (pstnPort += 2) } };
    const a = alice.at();
    const a3 = new LyncCall(cap, FE, p3, a);
    a3.invite(s(13.1), { headers: [`Replaces: ${a2.replacesValue()}`, `Referred-By: <${bob.uri}>`] }).answer(s(13.3));
    a2.bye(s(13.4), 'callee');
    a1.bye(s(13.45), 'callee');
    cap.talk(p3.media, a.media, s(13.32), s(14.4), callerHz(17), calleeHz(17));
    a3.bye(s(14.5), 'caller');
    ids['attended-1'] = a1.callId;
    ids['attended-2'] = a2.callId;
    ids['attended-3'] = a3.callId;
    expect(calls, { label: 'attended-1', callId: a1.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(16), callee: calleeHz(16) } });
    expect(calls, { label: 'attended-2', callId: a2.callId, recorded: true, users: [bob.uri, alice.uri], noAudio: true, flag: /internal call/ });
    expect(calls, { label: 'attended-3', callId: a3.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(17), callee: calleeHz(17) } });
  }
  // M12 forked: PSTN → alice rings her PC and her desk phone; the PC answers; the phone's late packets are stray.
  {
    const p = pstn(12);
    const pc = alice.at();
    const phone = alice.at(27600, '10.1.0.55');
    const f = new LyncCall(cap, FE, p, pc);
    f.invite(s(15)).ring(s(15.05), phone, true).ring(s(15.06), pc, true).answer(s(15.5), pc).forkGone(s(15.52), phone);
    cap.talk(p.media, pc.media, s(15.52), s(17.5), callerHz(18), calleeHz(18));
    cap.tone(phone.media, p.media, s(15.55), s(16.5), 3350);
    f.bye(s(17.6), 'caller');
    ids['forked'] = f.callId;
    expect(calls, { label: 'forked', callId: f.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(18), callee: calleeHz(18) }, absent: [3350] });
  }
  return { file: await cap.write(path.join(dir, 'mirroring.pcap')), calls, ids };
}

/**
 * What the collectors on the agents' PCs see (plus all SIP from the Front End): only packets to or from a PC,
 * some on ports no SDP names (an ICE path through the Edge, a headset app), so only the endpoint IP places them.
 */
export async function endpointCapture(dir: string, o: { strayAtSharedIp?: boolean } = {}): Promise<ModeCapture> {
  const cap = new LyncCapture();
  const calls = new Map<string, Expected>();
  const ids: Record<string, string> = {};
  const s = (x: number): number => T0 + x * SEC;
  // A relayed path: the PC's port and the Edge's allocation, neither in any SDP.
  let relayPort = 55000;
  const relay = (): Addr => ({ ip: EDGE_RELAY, port: (relayPort += 2) });
  const off = (e: LyncEndpoint, port: number): Addr => ({ ip: e.media.ip, port });

  // E1 PSTN → alice (learned IP), media on the SDP's ports.
  {
    const p = pstn(21);
    const a = alice.at();
    const { call, a: t0, b } = basic(cap, p, a, s(0), 2);
    cap.talk(p.media, a.media, t0, b, callerHz(1), calleeHz(1));
    expect(calls, { label: 'sdp-ports', callId: call.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(1), callee: calleeHz(1) } });
  }
  // E2 bob (configured IP) → federated frank through the Edge: media on a relayed path no SDP names.
  {
    const b = bob.at();
    const frank = endpoint('sip:frank@fabrikam.com', { name: 'Frank', ip: EDGE_INTERNAL, sipPort: 5061, rtpPort: 51000, contactIp: true });
    frank.media = { ip: EDGE_RELAY, port: 51000 };
    const { call, a: t0, b: t1 } = basic(cap, b, frank, s(0.5), 2);
    cap.talk(off(b, 31000), relay(), t0, t1, callerHz(2), calleeHz(2));
    ids['relayed'] = call.callId;
    expect(calls, { label: 'relayed', callId: call.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(2), callee: calleeHz(2) } });
  }
  // E3 alice → bob (after E2 ended: bob's relayed packets need bob to be in one call only): two recorded users,
  // one recording naming both.
  {
    const a = alice.at();
    const b = bob.at();
    const { call, a: t0, b: t1 } = basic(cap, a, b, s(3.2), 1.5);
    cap.talk(a.media, b.media, t0, t1, callerHz(3), calleeHz(3));
    expect(calls, { label: 'two-users', callId: call.callId, recorded: true, users: [alice.uri, bob.uri], tones: { caller: callerHz(3), callee: calleeHz(3) } });
  }
  // E4 PSTN → carol (no licence): her PC's packets are hers, and not recorded.
  {
    const p = pstn(24);
    const c = carol.at();
    const { call, a: t0, b } = basic(cap, p, c, s(1.5), 2);
    cap.talk(relay(), off(c, 31007), t0, b, callerHz(4), calleeHz(4));
    expect(calls, { label: 'unlicensed', callId: call.callId, recorded: false });
  }
  // E5 the disallowed dialer calls gina: no call exists, so nothing at gina's PC is anyone's.
  {
    const d = dialer.at();
    const g = gina.at();
    const { call, a: t0, b } = basic(cap, d, g, s(2), 2);
    cap.talk(d.media, g.media, t0, b, callerHz(5), calleeHz(5));
    expect(calls, { label: 'disallowed-ua', callId: call.callId, recorded: false });
  }
  // E6 four users on one terminal server (one IP), each calling the PSTN: told apart by their SDP host ports.
  const tsCalls: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const u = new User(`sip:ts${i}@contoso.com`, `TS User ${i}`, TERMINAL_SERVER, 27100 + 100 * i);
    const e = u.at();
    const p = pstn(60 + i);
    const k = 5 + i;
    const { call, a: t0, b } = basic(cap, e, p, s(2.5 + 0.1 * i), 2);
    cap.talk(e.media, p.media, t0, b, callerHz(k), calleeHz(k));
    tsCalls.push(call.callId);
    expect(calls, { label: `shared-${i}`, callId: call.callId, recorded: true, users: [u.uri], tones: { caller: callerHz(k), callee: calleeHz(k) }, absent: [3300] });
  }
  // A stream at the shared IP on ports no SDP names: whose it is cannot be told.
  if (o.strayAtSharedIp !== false) cap.tone({ ip: TERMINAL_SERVER, port: 39998 }, relay(), s(3.5), s(4.2), 3300);
  // E7 kiosk's configured endpoint IP is the Front End's (disallowed): nothing there is ever kiosk's.
  {
    const p = pstn(27);
    const k = kiosk.at();
    const { call, a: t0, b } = basic(cap, p, k, s(5), 1);
    cap.tone({ ip: FE.ip, port: 40000 }, relay(), t0, b, 3250);
    expect(calls, { label: 'disallowed-ip', callId: call.callId, recorded: true, users: [kiosk.uri], noAudio: true });
  }
  // E8 hold: PSTN → bob (H1); bob holds H1 and calls another number (H2); later resumes H1. All on unnamed ports.
  {
    const p = pstn(28);
    const b = bob.at();
    const h1 = new LyncCall(cap, FE, p, b);
    h1.invite(s(7)).ring(s(7.05)).answer(s(7.5));
    const r1 = relay();
    const bp1 = off(b, 31100);
    cap.talk(r1, bp1, s(7.52), s(8.5), callerHz(12), calleeHz(12));
    h1.reinvite(s(8.5), 'callee', 'sendonly');
    const b2 = bob.at();
    const p2 = pstn(29);
    const h2 = new LyncCall(cap, FE, b2, p2);
    h2.invite(s(8.7)).ring(s(8.75)).answer(s(9.2));
    cap.talk(off(b2, 31200), relay(), s(9.22), s(10.2), callerHz(13), calleeHz(13));
    h2.bye(s(10.3), 'caller');
    h1.reinvite(s(10.5), 'callee', 'sendrecv');
    cap.talk(r1, bp1, s(10.6), s(11.4), callerHz(12), calleeHz(12));
    h1.bye(s(11.5), 'caller');
    ids['held'] = h1.callId;
    ids['consult'] = h2.callId;
    expect(calls, { label: 'held', callId: h1.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(12), callee: calleeHz(12) }, absent: [callerHz(13), calleeHz(13)] });
    expect(calls, { label: 'consult', callId: h2.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(13), callee: calleeHz(13) }, absent: [callerHz(12), calleeHz(12)] });
  }
  // E9 forked: PSTN → alice rings two of her PCs; the first answers; the other's late packets are not hers to record.
  {
    const p = pstn(30);
    const pc = alice.at();
    const pc2 = alice.at(27600, '10.1.0.56');
    const f = new LyncCall(cap, FE, p, pc);
    f.invite(s(12)).ring(s(12.05), pc2, true).ring(s(12.06), pc, true).answer(s(12.5), pc).forkGone(s(12.52), pc2);
    cap.talk(p.media, off(pc, 31300), s(12.52), s(14.5), callerHz(14), calleeHz(14));
    cap.tone(pc2.media, p.media, s(12.55), s(13.5), 3200);
    cap.tone(off(pc2, 31400), relay(), s(12.55), s(13.5), 3150);
    f.bye(s(14.6), 'caller');
    expect(calls, { label: 'forked', callId: f.callId, recorded: true, users: [alice.uri], tones: { caller: callerHz(14), callee: calleeHz(14) }, absent: [3200, 3150] });
  }
  // E10 erin (learned IP) works from 10.1.0.20, then from 10.9.0.77 (VPN); her first PC's address is then another's.
  {
    const p = pstn(31);
    const e1 = erin.at(27100, '10.1.0.20');
    const { call: c1, a: t0, b } = basic(cap, p, e1, s(15), 1.5);
    cap.talk(relay(), off(e1, 31500), t0, b, callerHz(15), calleeHz(15));
    const p2 = pstn(32);
    const e2 = erin.at(27100, '10.9.0.77');
    const { call: c2, a: u0, b: u1 } = basic(cap, p2, e2, s(18), 1.5);
    cap.talk(relay(), off(e2, 31600), u0, u1, callerHz(16), calleeHz(16));
    cap.tone({ ip: '10.1.0.20', port: 31700 }, relay(), u0, u1, 3100);
    ids['erin-1'] = c1.callId;
    ids['erin-2'] = c2.callId;
    expect(calls, { label: 'erin-1', callId: c1.callId, recorded: true, users: [erin.uri], tones: { caller: callerHz(15), callee: calleeHz(15) } });
    expect(calls, { label: 'erin-2', callId: c2.callId, recorded: true, users: [erin.uri], tones: { caller: callerHz(16), callee: calleeHz(16) }, absent: [3100] });
  }
  ids['shared'] = tsCalls.join(',');
  return { file: await cap.write(path.join(dir, o.strayAtSharedIp === false ? 'endpoint-nostray.pcap' : 'endpoint.pcap')), calls, ids };
}

/**
 * Users on one terminal server: `active` of the four call the PSTN. relayed: their audio runs on ports no SDP
 * names (so only the shared IP can place it); otherwise on their SDP's ports, and a stream on unnamed ports at the
 * shared IP flows during their calls (tone 3300).
 */
export async function sharedIpCapture(dir: string, active: number, relayed: boolean): Promise<ModeCapture> {
  const cap = new LyncCapture();
  const calls = new Map<string, Expected>();
  const s = (x: number): number => T0 + x * SEC;
  for (let i = 1; i <= active; i++) {
    const u = new User(`sip:ts${i}@contoso.com`, `TS User ${i}`, TERMINAL_SERVER, 27100 + 100 * i);
    const e = u.at();
    const p = pstn(70 + i);
    const { call, a: t0, b } = basic(cap, e, p, s(0.1 * i), 3);
    if (relayed) cap.talk({ ip: TERMINAL_SERVER, port: 31000 + 10 * i }, { ip: EDGE_RELAY, port: 56000 + 10 * i }, t0, b, callerHz(i), calleeHz(i));
    else cap.talk(e.media, p.media, t0, b, callerHz(i), calleeHz(i));
    expect(calls, { label: `shared-${i}`, callId: call.callId, recorded: true, users: [u.uri], tones: { caller: callerHz(i), callee: calleeHz(i) }, absent: [3300] });
  }
  if (!relayed) cap.tone({ ip: TERMINAL_SERVER, port: 39998 }, { ip: EDGE_RELAY, port: 56000 }, s(1), s(2.5), 3300);
  return { file: await cap.write(path.join(dir, `shared-${active}-${relayed ? 'relayed' : 'sdp'}.pcap`)), calls, ids: {} };
}

/** bob's two calls one after the other, both on the same ports no SDP names (a headset app's fixed port). */
export async function samePortCapture(dir: string): Promise<ModeCapture> {
  const cap = new LyncCapture();
  const calls = new Map<string, Expected>();
  const s = (x: number): number => T0 + x * SEC;
  const pcPort = { ip: '10.1.0.6', port: 31000 };
  const relayPort = { ip: EDGE_RELAY, port: 57000 };
  for (const [k, t] of [[1, 0], [2, 6]] as const) {
    const { call, a: t0, b } = basic(cap, pstn(80 + k), bob.at(), s(t), 2);
    cap.talk(relayPort, pcPort, t0, b, callerHz(k), calleeHz(k));
    expect(calls, { label: `call-${k}`, callId: call.callId, recorded: true, users: [bob.uri], tones: { caller: callerHz(k), callee: calleeHz(k) } });
  }
  return { file: await cap.write(path.join(dir, 'same-port.pcap')), calls, ids: {} };
}
