/**
 * Lync-style SRTP calls for the issue-4 tests, as pcaps plus the truth of what was sent.
 *
 * Every SRTP/SRTCP byte comes from libsrtp2 (Debian python3-pylibsrtp, see srtp-reference.ts), never from
 * core/media/srtp: one libsrtp session per sender key, fed that sender's packets in send order, so libsrtp itself
 * carries the ROC across a sequence-number wrap. Signalling is what Lync sends (lync-protocols.md §1–2, §7): the
 * offer has a=cryptoscale:1, a=crypto:2 (`|2^31|1:1`, MKI 1 in one byte) and a=crypto:3 (`|2^31`, no MKI), all
 * with one key; the answer keeps ONE tag with its own key. RFC 4568: the offerer then sends with its offered line
 * of that tag, the answerer with its answer's key, and the MKI follows the chosen tag.
 *
 * Audio is PCMU of pure tones, 20 ms a packet; each side and each key period has a frequency of its own, so a test
 * can tell which period decrypted. They are 50 Hz multiples (200 ms windows of two tones are orthogonal) and no
 * tone of a scenario sits on another's odd harmonic, where μ-law distortion lands: every pair is ≥ 48 dB apart.
 *
 * Scenarios (each writes one pcap and returns it with its truth):
 *   a basicMki      both directions with MKI (tag 2), SRTCP sender reports each way (MKI too)
 *   b midCallJoin   both senders' sequence numbers start near 65535; the capture holds the SIP, then only the
 *                   packets after the wrap (ROC 1 at the first captured packet)
 *   c rekey         re-INVITE at 1.5 s with new keys both ways (tag 2 → tag 3); Lync "SRTP key reset": a new
 *                   libsrtp session per new key (ROC 0, sequence numbers continue; the caller had wrapped to ROC 1);
 *                   each side's last 3 old-key packets arrive 80 ms late, after its first new-key packets
 *   d transfer      A→B; B REFERs C; C INVITEs A with Replaces naming A–B (new Call-ID, fresh keys); A BYEs A–B
 *   e wrongKey      the callee's 200 carries one key, libsrtp protects its packets with another
 *   f missingKey    the callee answers RTP/SAVP with a DTLS a=fingerprint and no a=crypto
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { PcapWriter } from '../core/net/pcap-writer';
import { ethernet, ipv4, ipv4Fragments, udp } from '../core/net/packet-builder';
import { lyncOfferBody, lyncSingleSdp, type LyncSdpParams } from '../plugins/source-generator/sdp-builder';
import { SipCallBuilder, type SipBody } from '../plugins/source-generator/sip-builder';
import { pcmu, rtpPacket, tone } from './rtp-build';
import { libsrtpMany, type LibsrtpRequest } from './srtp-reference';

export type Side = 'caller' | 'callee';
export const SIDES: readonly Side[] = ['caller', 'callee'];
export const SUITE = 'AES_CM_128_HMAC_SHA1_80';
export const SAMPLE_RATE = 8000;
export const PTIME_US = 20_000;
/** Samples (and RTP timestamp ticks) per packet. */
export const SPP = 160;
/** SRTP authentication tag of AES_CM_128_HMAC_SHA1_80. */
export const TAG_LENGTH = 10;
/** Tone level, dBFS. */
export const TONE_DBFS = -10;
/** Lync's MKI: value 1 in one byte (`|2^31|1:1`). */
export const LYNC_MKI = Buffer.from([1]);

const MS = 1000;
const T0 = Date.UTC(2026, 2, 2, 9, 30) * 1000;
const CRLF = '\r\n';

export interface Endpoint {
  ip: string;
  port: number;
}

/** An SDES master key: 16-byte key and 14-byte salt, and the 40 base64 characters an SDP writes for them. */
export interface SdesKey {
  inline: string;
  masterKey: Buffer;
  masterSalt: Buffer;
}

/** 2 = `|2^31|1:1` (1-byte MKI), 3 = `|2^31` (none): the tag the answer kept. */
export type CryptoTag = 2 | 3;

/** One stretch of a direction sent with one key and one tone. */
export interface PeriodTruth {
  hz: number;
  /** The key libsrtp protected these packets with. */
  key: SdesKey;
  /** What the capture's SDP says this side sends with: `key`, another key (scenario e) or nothing (f). */
  sdpKey: SdesKey | null;
  /** Tag of the line this side sends with: the one the answer kept (null for an answer without a=crypto; the
   *  offerer of such an answer, scenario f, is taken to send with its first a=crypto line, tag 2). */
  tag: CryptoTag | null;
  mkiLength: 0 | 1;
  /** Capture time (µs) of the SDP this side wrote with this key: its offer, or its answer. */
  sdpTs: number;
  /** Capture time of the answer that settled this period's keys. */
  answerTs: number;
  /** Send-time span of the captured packets: the first one's send time to the end of the last one. */
  from: number;
  to: number;
  /** Packets sent in this period, and how many of them are in the capture. */
  sent: number;
  captured: number;
}

export interface PacketTruth {
  /** Capture time, µs. */
  ts: number;
  /** Send time: the capture time less any in-flight delay. */
  sent: number;
  seq: number;
  rtpTs: number;
  marker: boolean;
  /** ROC of the packet's index in the sender's SRTP context (a new context per key starts at 0). */
  roc: number;
  /** Index into the direction's periods. */
  period: number;
  /** The payload's first sample on the stream's tone clock (packet number × 160). */
  sample: number;
}

export interface SrtcpTruth {
  ts: number;
  period: number;
  /** The sender report's packet and octet counts and RTP timestamp. */
  packetCount: number;
  octetCount: number;
  rtpTs: number;
  ntpUs: number;
}

export interface DirectionTruth {
  side: Side;
  /** SIP URI of the sending party. */
  party: string;
  src: Endpoint;
  dst: Endpoint;
  ssrc: number;
  periods: PeriodTruth[];
  /** The captured SRTP packets, in capture order. */
  packets: PacketTruth[];
  /** The captured SRTCP packets (src/dst ports + 1), in capture order. */
  srtcp: SrtcpTruth[];
  /** Old-key packets captured after this side's first packet under a newer key (in flight at a re-key). */
  inFlight: number;
  /** Set when no recorder can decrypt this direction from the capture, and why. */
  notDecrypted?: 'wrong key' | 'no key';
}

export interface CallTruth {
  callId: string;
  callerTag: string;
  calleeTag: string;
  caller: DirectionTruth;
  callee: DirectionTruth;
  /** The dialog this call's INVITE replaces (RFC 3891), as its Replaces header names it. */
  replaces?: { callId: string; toTag: string; fromTag: string };
  /** Capture times of the INVITE, of a re-INVITE that re-keyed, and of the BYE. */
  inviteTs: number;
  rekeyTs?: number;
  byeTs: number;
}

export interface ScenarioTruth {
  name: ScenarioName;
  summary: string;
  calls: CallTruth[];
  /** Every frequency sent in the scenario (a channel's tone must beat each other one by 30 dB). */
  tones: number[];
}

export interface Scenario {
  pcapPath: string;
  truth: ScenarioTruth;
}

// ---------------------------------------------------------------------------------------------------------------
// Payloads.

/** The PCMU payload of the packet whose first sample is `sample` on a tone of `hz`. */
export function toneFrame(hz: number, sample: number): Buffer {
  return pcmu(tone(hz, sample, SPP, SAMPLE_RATE, TONE_DBFS));
}

/** The plain RTP packet `p` of direction `d`: what a receiver must get back from the SRTP packet. */
export function expectedRtp(d: DirectionTruth, p: PacketTruth): Buffer {
  const period = d.periods[p.period];
  if (period === undefined) throw new Error(`packet ${p.seq}: no period ${p.period}`);
  return rtpPacket({ pt: 0, seq: p.seq, ts: p.rtpTs, ssrc: d.ssrc, marker: p.marker, payload: toneFrame(period.hz, p.sample) });
}

/** The plain compound RTCP (SR without report blocks, SDES CNAME; RFC 3550 §6.4.1, §6.5) of `r`. */
export function expectedRtcp(d: DirectionTruth, r: SrtcpTruth): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(sr.length / 4 - 1, 2);
  sr.writeUInt32BE(d.ssrc, 4);
  const sec = Math.floor(r.ntpUs / 1e6);
  sr.writeUInt32BE((sec + 2_208_988_800) >>> 0, 8);
  sr.writeUInt32BE(Math.floor(((r.ntpUs - sec * 1e6) / 1e6) * 2 ** 32) >>> 0, 12);
  sr.writeUInt32BE(r.rtpTs >>> 0, 16);
  sr.writeUInt32BE(r.packetCount, 20);
  sr.writeUInt32BE(r.octetCount, 24);
  const cname = Buffer.from(d.party.replace(/^sip:/, ''));
  const sdes = Buffer.alloc(Math.ceil((8 + 2 + cname.length + 1) / 4) * 4);
  sdes[0] = 0x81;
  sdes[1] = 202;
  sdes.writeUInt16BE(sdes.length / 4 - 1, 2);
  sdes.writeUInt32BE(d.ssrc, 4);
  sdes[8] = 1;
  sdes[9] = cname.length;
  cname.copy(sdes, 10);
  return Buffer.concat([sr, sdes]);
}

/** A fixed key per label: scenarios are the same on every run. */
export function sdesKey(label: string): SdesKey {
  const b = createHash('sha256').update(`tapline srtp scenario key ${label}`).digest().subarray(0, 30);
  return { inline: b.toString('base64'), masterKey: Buffer.from(b.subarray(0, 16)), masterSalt: Buffer.from(b.subarray(16, 30)) };
}

function token(label: string, n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string {
  const h = createHash('sha256').update(label).digest();
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[(h[i % h.length] as number) % alphabet.length];
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// The capture.

class Capture {
  private readonly frames: Array<{ ts: number; n: number; frame: Buffer }> = [];
  private ipId = 1;

  /** One UDP datagram; fragmented at a 1500-byte MTU like a real Lync INVITE with its multipart body. */
  udp(ts: number, src: Endpoint, dst: Endpoint, payload: Buffer): void {
    const dgram = udp(src.port, dst.port, payload);
    const id = this.ipId++ & 0xffff;
    const o = { src: src.ip, dst: dst.ip, id };
    const packets = 20 + dgram.length > 1500 ? ipv4Fragments(17, dgram, o, 1480) : [ipv4(17, dgram, o)];
    for (const p of packets) this.frames.push({ ts: Math.round(ts), n: this.frames.length, frame: ethernet(0x0800, p) });
  }

  async write(file: string): Promise<void> {
    this.frames.sort((a, b) => a.ts - b.ts || a.n - b.n);
    const w = new PcapWriter(file);
    for (const f of this.frames) w.write(f.ts, f.frame);
    await w.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parties and their SDP.

interface Party {
  /** Unique over all scenarios: it numbers the party's ICE addresses. */
  n: number;
  user: string;
  display: string;
  ip: string;
  tag: string;
  epid: string;
}

const uriOf = (p: Party): string => `sip:${p.user}@contoso.test`;

function party(n: number, user: string, display: string, ip: string): Party {
  return { n, user, display, ip, tag: token(`tag ${n}`, 10, '0123456789abcdef'), epid: token(`epid ${n}`, 10, '0123456789abcdef') };
}

/** A party's media session in one call: its port, SSRC and SDP o= line. */
interface Session {
  party: Party;
  port: number;
  ssrc: number;
  sdpSession: number;
  sdpVersion: number;
}

function session(p: Party, port: number, ssrc: number): Session {
  return { party: p, port, ssrc, sdpSession: 1000 + p.n * 7919 + port, sdpVersion: 0 };
}

function lyncParams(s: Session, key: string, offer: boolean): LyncSdpParams {
  const n = s.party.n;
  return {
    user: s.party.user,
    sessionId: s.sdpSession,
    version: s.sdpVersion++,
    ip: s.party.ip,
    port: s.port,
    codec: 'PCMU',
    payloadType: 0,
    ptimeMs: 20,
    direction: 'sendrecv',
    ssrc: s.ssrc,
    ufrag: token(`ufrag ${n} ${s.port}`, 4),
    pwd: token(`pwd ${n} ${s.port}`, 24),
    cryptoKey: key,
    // Each party's reflexive and relay addresses are its own: no candidate of one call matches another's media.
    srflx: { ip: `192.0.2.${n}`, port: s.port + 1000 },
    relay: { ip: `198.51.100.${n}`, port: s.port + 2000 },
    ipv6: `2001:db8::${n}`,
    v6User: token(`v6u ${n} ${s.port}`, 16),
    v6Pwd: token(`v6p ${n} ${s.port}`, 22),
    offer,
  };
}

type OfferForm = 'alternative' | 'mixed' | 'single';

/** The offerer's SDP, packaged as Lync does: multipart/alternative {ICEv6, ICEv19}, in multipart/mixed, or single. */
function offerBody(s: Session, key: SdesKey, form: OfferForm, callId: string, to: Party, ts: number): SipBody {
  const p = lyncParams(s, key.inline, true);
  if (form === 'single') return { contentType: 'application/sdp', body: lyncSingleSdp(p) };
  const boundary = `----=_NextPart_000_${token(`b ${callId}`, 4, '0123456789ABCDEF')}_01DC8B2E.${token(`b2 ${callId}`, 8, '0123456789ABCDEF')}`;
  if (form === 'alternative') return lyncOfferBody(p, boundary);
  const ctx = { id: token(`ctx ${callId}`, 16, '0123456789abcdef'), conversationId: token(`conv ${callId}`, 32, '0123456789ABCDEF'), from: uriOf(s.party), to: uriOf(to), date: new Date(ts / 1000).toISOString(), boundary: token(`outer ${callId}`, 32) };
  return lyncOfferBody(p, boundary, ctx);
}

/**
 * The answer: one ICEv19 SDP keeping one tag with the answerer's own key (sdp-builder writes tag 2; tag 3 is the
 * same line without the MKI), or, for 'dtls', no a=crypto but a DTLS fingerprint.
 */
function answerBody(s: Session, key: string, tag: CryptoTag | 'dtls'): SipBody {
  const p = lyncParams(s, key, false);
  let sdp = lyncSingleSdp(p);
  const line = `a=crypto:2 ${SUITE} inline:${key}|2^31|1:1${CRLF}`;
  if (!sdp.includes(line)) throw new Error('sdp-builder no longer writes the answer a=crypto line these scenarios rewrite');
  if (tag === 3) sdp = sdp.replace(line, `a=crypto:3 ${SUITE} inline:${key}|2^31${CRLF}`);
  if (tag === 'dtls') {
    const fp = createHash('sha256').update(`dtls ${s.party.n}`).digest().toString('hex').toUpperCase().match(/../g)!.join(':');
    sdp = sdp.replace(line, `a=setup:active${CRLF}a=fingerprint:sha-256 ${fp}${CRLF}`);
  }
  return { contentType: 'application/sdp', body: sdp };
}

// ---------------------------------------------------------------------------------------------------------------
// SIP: one builder per dialog; the caller's SIP goes to the front end and back, as on a client's leg.

interface SipLeg {
  sip: SipCallBuilder;
  client: Endpoint;
  server: Endpoint;
  callId: string;
  branches: number;
}

function sipLeg(callId: string, caller: Party, callee: Party, server: string): SipLeg {
  const client = { ip: caller.ip, port: 5060 };
  const fe = { ip: server, port: 5060 };
  const sip = new SipCallBuilder({
    callId,
    caller: { display: caller.display, uri: uriOf(caller), tag: caller.tag, epid: caller.epid, ip: client.ip, port: client.port },
    callee: { display: callee.display, uri: uriOf(callee), tag: callee.tag, epid: callee.epid, ip: fe.ip, port: fe.port },
    transport: 'UDP',
    lync: true,
    conversationId: token(`conv ${callId}`, 32, '0123456789ABCDEF'),
  });
  return { sip, client, server: fe, callId, branches: 0 };
}

const branch = (l: SipLeg): string => `z9hG4bK${token(`${l.callId} ${l.branches++}`, 10, '0123456789abcdef')}`;

/** Extra header lines, after CSeq (Content-Length stays right: the body does not change). */
function withHeaders(text: string, headers: readonly string[]): string {
  if (headers.length === 0) return text;
  const at = text.indexOf(`${CRLF}Call-ID:`);
  return text.slice(0, at) + CRLF + headers.join(CRLF) + text.slice(at);
}

function sipRequest(cap: Capture, l: SipLeg, ts: number, method: string, cseq: number, br: string, o: { toTag: boolean; body?: SipBody; fromCaller?: boolean; headers?: string[] }): void {
  const fromCaller = o.fromCaller ?? true;
  const text = withHeaders(l.sip.request(method, cseq, br, fromCaller, o.toTag, o.body), o.headers ?? []);
  if (fromCaller) cap.udp(ts, l.client, l.server, Buffer.from(text));
  else cap.udp(ts, l.server, l.client, Buffer.from(text));
}

function sipResponse(cap: Capture, l: SipLeg, ts: number, status: number, method: string, cseq: number, br: string, o: { body?: SipBody; toCaller?: boolean; reason?: string } = {}): void {
  const toCaller = o.toCaller ?? true;
  let text = l.sip.response(status, method, cseq, br, toCaller, status !== 100, o.body);
  if (o.reason !== undefined) text = text.replace(/^SIP\/2\.0 \d+ [^\r]*/, `SIP/2.0 ${status} ${o.reason}`);
  if (toCaller) cap.udp(ts, l.server, l.client, Buffer.from(text));
  else cap.udp(ts, l.client, l.server, Buffer.from(text));
}

interface Exchange {
  offerTs: number;
  answerTs: number;
}

/** INVITE (offer), 100, 180, 200 (answer), ACK; the 200 comes 80 ms after the INVITE. */
function inviteExchange(cap: Capture, l: SipLeg, t: number, cseq: number, offer: SipBody, answer: SipBody, o: { inDialog: boolean; headers?: string[] }): Exchange {
  const br = branch(l);
  sipRequest(cap, l, t, 'INVITE', cseq, br, { toTag: o.inDialog, body: offer, headers: o.headers ?? [] });
  const answerTs = t + (o.inDialog ? 10 : 80) * MS;
  if (!o.inDialog) {
    sipResponse(cap, l, t + 2 * MS, 100, 'INVITE', cseq, br);
    sipResponse(cap, l, t + 30 * MS, 180, 'INVITE', cseq, br);
  }
  sipResponse(cap, l, answerTs, 200, 'INVITE', cseq, br, { body: answer });
  sipRequest(cap, l, answerTs + 10 * MS, 'ACK', cseq, branch(l), { toTag: true });
  return { offerTs: t, answerTs };
}

function bye(cap: Capture, l: SipLeg, t: number, cseq: number, fromCaller = true): void {
  const br = branch(l);
  sipRequest(cap, l, t, 'BYE', cseq, br, { toTag: true, fromCaller });
  sipResponse(cap, l, t + 5 * MS, 200, 'BYE', cseq, br, { toCaller: fromCaller });
}

// ---------------------------------------------------------------------------------------------------------------
// Media: plain packets per sender, protected by libsrtp (all streams of a scenario in one python run).

type PeriodPlan = Pick<PeriodTruth, 'hz' | 'key' | 'sdpKey' | 'tag' | 'mkiLength' | 'sdpTs' | 'answerTs'> & {
  /** Packets sent at or after this time use this period's key and tone. */
  from: number;
};

interface StreamPlan {
  side: Side;
  from: Session;
  to: Session;
  firstSeq: number;
  firstTs: number;
  /** Send time of the first packet; packets follow every 20 ms while before `end`. */
  start: number;
  end: number;
  periods: PeriodPlan[];
  /** The first packets are not in the capture (a recorder that starts late). */
  omitFirst?: number;
  /** The last `count` packets of each period but the last are captured `delayUs` after they were sent. */
  inFlight?: { count: number; delayUs: number };
  /** SRTCP sender reports every this often (first one half a period in), from ports + 1. */
  rtcpEveryUs?: number;
  notDecrypted?: DirectionTruth['notDecrypted'];
}

interface PlannedPacket {
  i: number;
  sent: number;
  ts: number;
  seq: number;
  rtpTs: number;
  roc: number;
  period: number;
  captured: boolean;
  plain: Buffer;
}

/** Periods are chosen by send time; each period is a fresh libsrtp session, so its ROC counts from its first packet. */
function planPackets(s: StreamPlan): PlannedPacket[] {
  const out: PlannedPacket[] = [];
  const ctxBase: number[] = [];
  let firstOfPeriod = -1;
  for (let i = 0; ; i++) {
    const sent = s.start + i * PTIME_US;
    if (sent >= s.end) break;
    let period = 0;
    for (let k = 0; k < s.periods.length; k++) if ((s.periods[k] as PeriodPlan).from <= sent) period = k;
    const seq = (s.firstSeq + i) & 0xffff;
    if (ctxBase[period] === undefined) {
      ctxBase[period] = seq; // libsrtp starts a new stream at index = SEQ, ROC 0
      firstOfPeriod = i;
    }
    const roc = Math.floor(((ctxBase[period] as number) + (i - firstOfPeriod)) / 0x10000);
    const rtpTs = (s.firstTs + i * SPP) >>> 0;
    const hz = (s.periods[period] as PeriodPlan).hz;
    const plain = rtpPacket({ pt: 0, seq, ts: rtpTs, ssrc: s.from.ssrc, marker: i === 0, payload: toneFrame(hz, i * SPP) });
    out.push({ i, sent, ts: sent, seq, rtpTs, roc, period, captured: i >= (s.omitFirst ?? 0), plain });
  }
  if (s.inFlight !== undefined) {
    for (let k = 0; k + 1 < s.periods.length; k++) {
      const mine = out.filter((p) => p.period === k);
      for (const p of mine.slice(-s.inFlight.count)) p.ts = p.sent + s.inFlight.delayUs;
    }
  }
  return out;
}

interface PlannedRtcp {
  sent: number;
  period: number;
  truth: Omit<SrtcpTruth, 'ts' | 'period'>;
}

function planRtcp(s: StreamPlan, packets: readonly PlannedPacket[]): PlannedRtcp[] {
  const out: PlannedRtcp[] = [];
  if (s.rtcpEveryUs === undefined) return out;
  for (let t = s.start + s.rtcpEveryUs / 2; t < s.end; t += s.rtcpEveryUs) {
    const before = packets.filter((p) => p.sent < t);
    const last = before[before.length - 1];
    if (last === undefined) continue;
    out.push({
      sent: t,
      period: last.period,
      truth: { packetCount: before.length, octetCount: before.length * SPP, rtpTs: (last.rtpTs + Math.round(((t - last.sent) * SAMPLE_RATE) / 1e6)) >>> 0, ntpUs: t },
    });
  }
  return out;
}

function job(op: 'protect' | 'protect_rtcp', p: PeriodPlan, packets: Buffer[]): LibsrtpRequest {
  const r: LibsrtpRequest = { op, suite: SUITE, masterKey: p.key.masterKey, masterSalt: p.key.masterSalt, packets };
  if (p.mkiLength === 1) r.mki = LYNC_MKI;
  return r;
}

/** Protects every stream with libsrtp, writes the captured packets, and returns each direction's truth. */
function sendMedia(cap: Capture, plans: readonly StreamPlan[]): DirectionTruth[] {
  const jobs: LibsrtpRequest[] = [];
  const planned = plans.map((s) => {
    const packets = planPackets(s);
    const rtcp = planRtcp(s, packets);
    const truthSoFar: DirectionTruth = { side: s.side, party: uriOf(s.from.party), src: { ip: s.from.party.ip, port: s.from.port }, dst: { ip: s.to.party.ip, port: s.to.port }, ssrc: s.from.ssrc, periods: [], packets: [], srtcp: [], inFlight: 0 };
    const rtpJobs = s.periods.map((p, k) => jobs.push(job('protect', p, packets.filter((x) => x.period === k).map((x) => x.plain))) - 1);
    const rtcpJobs = s.periods.map((p, k) => jobs.push(job('protect_rtcp', p, rtcp.filter((x) => x.period === k).map((x) => expectedRtcp(truthSoFar, { ...x.truth, ts: 0, period: k })))) - 1);
    return { s, packets, rtcp, truth: truthSoFar, rtpJobs, rtcpJobs };
  });
  const results = libsrtpMany(jobs);
  const out: DirectionTruth[] = [];
  for (const { s, packets, rtcp, truth, rtpJobs, rtcpJobs } of planned) {
    const rtcpSrc = { ip: truth.src.ip, port: truth.src.port + 1 };
    const rtcpDst = { ip: truth.dst.ip, port: truth.dst.port + 1 };
    s.periods.forEach((p, k) => {
      const mine = packets.filter((x) => x.period === k);
      const prot = (results[rtpJobs[k] as number] as { packets: Array<Buffer | null> }).packets;
      mine.forEach((x, j) => {
        const b = prot[j];
        if (b === null || b === undefined || b.length !== x.plain.length + p.mkiLength + TAG_LENGTH) throw new Error(`libsrtp did not protect ${s.side} seq ${x.seq} as expected`);
        if (x.captured) cap.udp(x.ts, truth.src, truth.dst, b);
      });
      const mineRtcp = rtcp.filter((x) => x.period === k);
      const protRtcp = (results[rtcpJobs[k] as number] as { packets: Array<Buffer | null> }).packets;
      mineRtcp.forEach((x, j) => {
        const b = protRtcp[j];
        if (b === null || b === undefined) throw new Error(`libsrtp did not protect ${s.side}'s RTCP at ${x.sent}`);
        cap.udp(x.sent, rtcpSrc, rtcpDst, b);
      });
      const got = mine.filter((x) => x.captured);
      const first = got[0];
      const last = got[got.length - 1];
      truth.periods.push({
        hz: p.hz,
        key: p.key,
        sdpKey: p.sdpKey,
        tag: p.tag,
        mkiLength: p.mkiLength,
        sdpTs: p.sdpTs,
        answerTs: p.answerTs,
        from: first?.sent ?? p.from,
        to: last === undefined ? p.from : last.sent + PTIME_US,
        sent: mine.length,
        captured: got.length,
      });
    });
    const got = packets.filter((x) => x.captured).sort((a, b) => a.ts - b.ts || a.i - b.i);
    truth.packets = got.map((x) => ({ ts: x.ts, sent: x.sent, seq: x.seq, rtpTs: x.rtpTs, marker: x.i === 0, roc: x.roc, period: x.period, sample: x.i * SPP }));
    truth.srtcp = rtcp.map((x) => ({ ...x.truth, ts: x.sent, period: x.period }));
    const firstTsOf = (k: number): number => Math.min(...got.filter((x) => x.period === k).map((x) => x.ts));
    truth.inFlight = got.filter((x) => x.period + 1 < s.periods.length && x.ts > firstTsOf(x.period + 1)).length;
    if (s.notDecrypted !== undefined) truth.notDecrypted = s.notDecrypted;
    out.push(truth);
  }
  return out;
}

/** A period plan; `sdpKey` defaults to the key itself (the SDP tells the truth), the MKI follows the tag. */
function period(o: { from: number; hz: number; key: SdesKey; tag: CryptoTag | null; sdpTs: number; answerTs: number; sdpKey?: SdesKey | null }): PeriodPlan {
  return { from: o.from, hz: o.hz, key: o.key, sdpKey: o.sdpKey === undefined ? o.key : o.sdpKey, tag: o.tag, mkiLength: o.tag === 2 ? 1 : 0, sdpTs: o.sdpTs, answerTs: o.answerTs };
}

function callTruth(l: SipLeg, caller: Party, callee: Party, dirs: DirectionTruth[], times: { inviteTs: number; byeTs: number; rekeyTs?: number }): CallTruth {
  const c = dirs.find((d) => d.side === 'caller');
  const e = dirs.find((d) => d.side === 'callee');
  if (c === undefined || e === undefined) throw new Error(`${l.callId}: both directions are needed`);
  const t: CallTruth = { callId: l.callId, callerTag: caller.tag, calleeTag: callee.tag, caller: c, callee: e, inviteTs: times.inviteTs, byeTs: times.byeTs };
  if (times.rekeyTs !== undefined) t.rekeyTs = times.rekeyTs;
  return t;
}

function tonesOf(calls: readonly CallTruth[]): number[] {
  return [...new Set(calls.flatMap((c) => [...c.caller.periods, ...c.callee.periods].map((p) => p.hz)))].sort((a, b) => a - b);
}

async function finish(dir: string, name: ScenarioName, summary: string, cap: Capture, calls: CallTruth[]): Promise<Scenario> {
  const pcapPath = path.join(dir, `srtp-${name}.pcap`);
  await cap.write(pcapPath);
  return { pcapPath, truth: { name, summary, calls, tones: tonesOf(calls) } };
}

// ---------------------------------------------------------------------------------------------------------------
// One plain two-party call: INVITE / 200 / ACK, media both ways, BYE. Scenarios a, b, e, f.

interface SimpleCall {
  name: ScenarioName;
  summary: string;
  net: number;
  form: OfferForm;
  tag: CryptoTag | 'dtls';
  hz: { caller: number; callee: number };
  seq: { caller: number; callee: number };
  durationUs: number;
  omitFirst?: number;
  rtcpEveryUs?: number;
  /** The callee protects with this key instead of the one in its 200 (scenario e). */
  calleeRealKey?: SdesKey;
}

async function simpleCall(dir: string, o: SimpleCall): Promise<Scenario> {
  const cap = new Capture();
  const alice = party(o.net * 10 + 1, 'alice', 'Alice Agent', `10.${o.net}.0.11`);
  const bob = party(o.net * 10 + 2, 'bob', 'Bob Customer', `10.${o.net}.0.12`);
  const a = session(alice, 20_000 + 100 * o.net, 0x1a000000 + o.net);
  const b = session(bob, 30_000 + 100 * o.net, 0x2b000000 + o.net);
  const keyA = sdesKey(`${o.name} caller`);
  const keyB = sdesKey(`${o.name} callee`);
  const l = sipLeg(`srtp-${o.name}-${token(o.name, 8, '0123456789abcdef')}@contoso.test`, alice, bob, `10.${o.net}.0.100`);
  const x = inviteExchange(cap, l, T0, 1, offerBody(a, keyA, o.form, l.callId, bob, T0), answerBody(b, keyB.inline, o.tag), { inDialog: false });
  const end = x.answerTs + o.durationUs;
  // No tag chosen ('dtls'): the offerer sends with its first a=crypto line (tag 2).
  const tag: CryptoTag | null = o.tag === 'dtls' ? null : o.tag;
  const callerPeriod = period({ from: 0, hz: o.hz.caller, key: keyA, tag: tag ?? 2, sdpTs: x.offerTs, answerTs: x.answerTs });
  const calleeReal = o.tag === 'dtls' ? sdesKey(`${o.name} callee dtls`) : (o.calleeRealKey ?? keyB);
  const calleePeriod = period({ from: 0, hz: o.hz.callee, key: calleeReal, tag, sdpTs: x.answerTs, answerTs: x.answerTs, sdpKey: o.tag === 'dtls' ? null : keyB });
  const common = { end, omitFirst: o.omitFirst, rtcpEveryUs: o.rtcpEveryUs };
  const dirs = sendMedia(cap, [
    { side: 'caller', from: a, to: b, firstSeq: o.seq.caller, firstTs: 0x10000000, start: x.answerTs + 20 * MS, periods: [callerPeriod], ...common },
    {
      side: 'callee',
      from: b,
      to: a,
      firstSeq: o.seq.callee,
      firstTs: 0x20000000,
      start: x.answerTs + 5 * MS,
      periods: [calleePeriod],
      ...common,
      notDecrypted: o.tag === 'dtls' ? 'no key' : o.calleeRealKey !== undefined ? 'wrong key' : undefined,
    },
  ]);
  const byeTs = end + 5 * MS;
  bye(cap, l, byeTs, 2);
  return finish(dir, o.name, o.summary, cap, [callTruth(l, alice, bob, dirs, { inviteTs: T0, byeTs })]);
}

export type ScenarioName = 'basic-mki' | 'mid-call-join' | 'rekey' | 'transfer' | 'wrong-key' | 'missing-key';

/** a: MKI both ways (tag 2), ~3 s, SRTCP sender reports each way every second. */
export function basicMki(dir: string): Promise<Scenario> {
  return simpleCall(dir, {
    name: 'basic-mki',
    summary: 'Lync call, tag 2 (MKI 1:1) chosen, multipart/alternative offer, SRTCP both ways',
    net: 1,
    form: 'alternative',
    tag: 2,
    hz: { caller: 500, callee: 2000 },
    seq: { caller: 1200, callee: 23_000 },
    durationUs: 3_000 * MS,
    rtcpEveryUs: 1_000 * MS,
  });
}

/** Packets left out of the mid-call capture, per direction: both senders have wrapped by then. */
export const MID_CALL_OMITTED = 60;

/** b: the capture has the SIP, then only RTP after both senders' sequence numbers wrapped (ROC 1). */
export function midCallJoin(dir: string): Promise<Scenario> {
  return simpleCall(dir, {
    name: 'mid-call-join',
    summary: 'tag 3 (no MKI), multipart/mixed offer; the first 60 packets each way (the wrap) are not captured',
    net: 2,
    form: 'mixed',
    tag: 3,
    hz: { caller: 550, callee: 2050 },
    seq: { caller: 65_500, callee: 65_480 },
    durationUs: 3_000 * MS,
    omitFirst: MID_CALL_OMITTED,
  });
}

/** e: the callee's 200 carries a key that is not the one it protects with. */
export function wrongKey(dir: string): Promise<Scenario> {
  return simpleCall(dir, {
    name: 'wrong-key',
    summary: "tag 2; the callee protects with a key that is not the one in its 200's a=crypto",
    net: 5,
    form: 'alternative',
    tag: 2,
    hz: { caller: 650, callee: 2150 },
    seq: { caller: 4000, callee: 5000 },
    durationUs: 2_500 * MS,
    rtcpEveryUs: 1_000 * MS,
    calleeRealKey: sdesKey('wrong-key callee real'),
  });
}

/** f: the callee answers RTP/SAVP with a=fingerprint (DTLS-SRTP) and no a=crypto: there is no key for its packets. */
export function missingKey(dir: string): Promise<Scenario> {
  return simpleCall(dir, {
    name: 'missing-key',
    summary: 'single-SDP offer with SDES; the answer is RTP/SAVP with a DTLS fingerprint and no a=crypto',
    net: 6,
    form: 'single',
    tag: 'dtls',
    hz: { caller: 750, callee: 2200 },
    seq: { caller: 6000, callee: 7000 },
    durationUs: 2_500 * MS,
  });
}

/** The in-flight old-key packets per side at the re-key of scenario c, and how late they arrive. */
export const REKEY_IN_FLIGHT = { count: 3, delayUs: 80 * MS } as const;

/**
 * c: re-INVITE from the caller at +1.5 s with new keys both ways. The callee sends with its new key from its 200
 * on; the caller from 5 ms after the 200 (when it has the answer). Old and new contexts are separate libsrtp
 * sessions: the new one starts at ROC 0 while the caller, which started at SEQ 65500, had wrapped to ROC 1.
 */
export async function rekey(dir: string): Promise<Scenario> {
  const cap = new Capture();
  const alice = party(31, 'alice', 'Alice Agent', '10.3.0.11');
  const bob = party(32, 'bob', 'Bob Customer', '10.3.0.12');
  const a = session(alice, 20_300, 0x1a000003);
  const b = session(bob, 30_300, 0x2b000003);
  const k = { a1: sdesKey('rekey caller 1'), b1: sdesKey('rekey callee 1'), a2: sdesKey('rekey caller 2'), b2: sdesKey('rekey callee 2') };
  const l = sipLeg(`srtp-rekey-${token('rekey', 8, '0123456789abcdef')}@contoso.test`, alice, bob, '10.3.0.100');
  const x1 = inviteExchange(cap, l, T0, 1, offerBody(a, k.a1, 'single', l.callId, bob, T0), answerBody(b, k.b1.inline, 2), { inDialog: false });
  const tr = T0 + 1_500 * MS;
  const x2 = inviteExchange(cap, l, tr, 2, offerBody(a, k.a2, 'single', l.callId, bob, tr), answerBody(b, k.b2.inline, 3), { inDialog: true });
  const end = T0 + 3_100 * MS;
  const dirs = sendMedia(cap, [
    {
      side: 'caller',
      from: a,
      to: b,
      firstSeq: 65_500,
      firstTs: 0x10000000,
      start: x1.answerTs + 20 * MS,
      end,
      periods: [
        period({ from: 0, hz: 600, key: k.a1, tag: 2, sdpTs: x1.offerTs, answerTs: x1.answerTs }),
        period({ from: x2.answerTs + 5 * MS, hz: 850, key: k.a2, tag: 3, sdpTs: x2.offerTs, answerTs: x2.answerTs }),
      ],
      inFlight: REKEY_IN_FLIGHT,
    },
    {
      side: 'callee',
      from: b,
      to: a,
      firstSeq: 3000,
      firstTs: 0x20000000,
      start: x1.answerTs + 5 * MS,
      end,
      periods: [
        period({ from: 0, hz: 2100, key: k.b1, tag: 2, sdpTs: x1.answerTs, answerTs: x1.answerTs }),
        period({ from: x2.answerTs, hz: 2450, key: k.b2, tag: 3, sdpTs: x2.answerTs, answerTs: x2.answerTs }),
      ],
      inFlight: REKEY_IN_FLIGHT,
    },
  ]);
  const byeTs = end + 5 * MS;
  bye(cap, l, byeTs, 3);
  return finish(dir, 'rekey', 'tag 2, then a re-INVITE at 1.5 s with new keys both ways (tag 3) and Lync key reset; 3 old-key packets each way in flight', cap, [
    callTruth(l, alice, bob, dirs, { inviteTs: T0, byeTs, rekeyTs: tr }),
  ]);
}

/**
 * d: attended transfer as Lync does it (lync-protocols.md §7). Alice calls Bob; Bob, who consulted Carol on a leg
 * not in this capture, REFERs Carol to Alice with Replaces; Carol INVITEs Alice (new Call-ID, `Replaces:` naming
 * Alice–Bob, fresh keys on both sides, Alice on a new port); Alice accepts, stops the old media and BYEs Bob.
 */
export async function transfer(dir: string): Promise<Scenario> {
  const cap = new Capture();
  const alice = party(41, 'alice', 'Alice Agent', '10.4.0.11');
  const bob = party(42, 'bob', 'Bob Transferor', '10.4.0.12');
  const carol = party(43, 'carol', 'Carol Target', '10.4.0.13');
  const server = '10.4.0.100';
  const a1 = session(alice, 20_400, 0x1a000004);
  const b1 = session(bob, 30_400, 0x2b000004);
  const c2 = session(carol, 40_400, 0x3c000004);
  const a2 = session(alice, 20_410, 0x1a100004);
  const k = { a1: sdesKey('transfer alice 1'), b1: sdesKey('transfer bob'), c2: sdesKey('transfer carol'), a2: sdesKey('transfer alice 2') };

  const l1 = sipLeg(`srtp-transfer-1-${token('transfer 1', 8, '0123456789abcdef')}@contoso.test`, alice, bob, server);
  const x1 = inviteExchange(cap, l1, T0, 1, offerBody(a1, k.a1, 'alternative', l1.callId, bob, T0), answerBody(b1, k.b1.inline, 3), { inDialog: false });

  // RFC 3891 §3: the to-tag is the recipient's (Alice's) own tag in the dialog, the from-tag its peer's.
  const replaces = { callId: l1.callId, toTag: alice.tag, fromTag: bob.tag };
  const replacesValue = `${replaces.callId};to-tag=${replaces.toTag};from-tag=${replaces.fromTag}`;
  const tRefer = T0 + 1_300 * MS;
  const lr = sipLeg(`srtp-transfer-refer-${token('transfer refer', 8, '0123456789abcdef')}@contoso.test`, bob, carol, server);
  const brRefer = branch(lr);
  const referTo = `<${uriOf(alice)}?Replaces=${encodeURIComponent(replacesValue)}>`;
  sipRequest(cap, lr, tRefer, 'REFER', 1, brRefer, { toTag: false, headers: [`Refer-To: ${referTo}`, `Referred-By: <${uriOf(bob)}>`] });
  sipResponse(cap, lr, tRefer + 5 * MS, 202, 'REFER', 1, brRefer, { reason: 'Accepted' });

  const t2 = T0 + 1_500 * MS;
  const l2 = sipLeg(`srtp-transfer-2-${token('transfer 2', 8, '0123456789abcdef')}@contoso.test`, carol, alice, server);
  const x2 = inviteExchange(cap, l2, t2, 1, offerBody(c2, k.c2, 'single', l2.callId, alice, t2), answerBody(a2, k.a2.inline, 2), {
    inDialog: false,
    headers: [`Replaces: ${replacesValue}`, `Referred-By: <${uriOf(bob)}>`],
  });
  const end1 = x2.answerTs;
  const bye1 = end1 + 10 * MS;
  bye(cap, l1, bye1, 2);
  const end2 = T0 + 3_200 * MS;

  const dirs = sendMedia(cap, [
    { side: 'caller', from: a1, to: b1, firstSeq: 11_000, firstTs: 0x11000000, start: x1.answerTs + 20 * MS, end: end1, periods: [period({ from: 0, hz: 500, key: k.a1, tag: 3, sdpTs: x1.offerTs, answerTs: x1.answerTs })] },
    { side: 'callee', from: b1, to: a1, firstSeq: 12_000, firstTs: 0x12000000, start: x1.answerTs + 5 * MS, end: end1, periods: [period({ from: 0, hz: 2000, key: k.b1, tag: 3, sdpTs: x1.answerTs, answerTs: x1.answerTs })] },
    { side: 'caller', from: c2, to: a2, firstSeq: 13_000, firstTs: 0x13000000, start: x2.answerTs + 20 * MS, end: end2, periods: [period({ from: 0, hz: 2300, key: k.c2, tag: 2, sdpTs: x2.offerTs, answerTs: x2.answerTs })] },
    { side: 'callee', from: a2, to: c2, firstSeq: 14_000, firstTs: 0x14000000, start: x2.answerTs + 5 * MS, end: end2, periods: [period({ from: 0, hz: 700, key: k.a2, tag: 2, sdpTs: x2.answerTs, answerTs: x2.answerTs })] },
  ]);
  const bye2 = end2 + 5 * MS;
  bye(cap, l2, bye2, 2);
  const call1 = callTruth(l1, alice, bob, dirs.slice(0, 2), { inviteTs: T0, byeTs: bye1 });
  const call2 = callTruth(l2, carol, alice, dirs.slice(2, 4), { inviteTs: t2, byeTs: bye2 });
  call2.replaces = replaces;
  return finish(dir, 'transfer', 'A→B (tag 3); B REFERs C; C INVITEs A with Replaces (tag 2, fresh keys); A BYEs B', cap, [call1, call2]);
}

export const SCENARIOS: Readonly<Record<ScenarioName, (dir: string) => Promise<Scenario>>> = {
  'basic-mki': basicMki,
  'mid-call-join': midCallJoin,
  rekey,
  transfer,
  'wrong-key': wrongKey,
  'missing-key': missingKey,
};
