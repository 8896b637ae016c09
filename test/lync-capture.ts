/**
 * A focused builder of Lync/SfB-style captures for the recording-mode tests: SIP dialogs as the Front End relays
 * them (lync-protocols.md §1, §7: epid on From/To, GRUU or IP Contact, Ms-Conversation-ID, UCCAPI User-Agent, the
 * multipart ICEv6/ICEv19 offer, forks with their own To-tags, REFER, Replaces, hold re-INVITEs) and PCMU tone
 * streams between any two addresses, written to a pcap in capture-time order.
 *
 * The SDP is the call generator's Lync SDP (plugins/source-generator/sdp-builder.ts) with encryption turned off
 * (RTP/AVP, no a=crypto: Lync's "encryption not supported" policy), so the tones are recorded as sent. Every
 * party has a host address (c= and host candidate), a server-reflexive one (NAT) and an Edge relay one.
 */
import { PcapWriter } from '../core/net/pcap-writer';
import { LinkType } from '../core/net/types';
import { udpFrames } from '../plugins/source-generator/net-frames';
import { lyncOfferBody, lyncSingleSdp, type LyncSdpParams, type MediaDirection } from '../plugins/source-generator/sdp-builder';
import { LYNC_USER_AGENT } from '../plugins/source-generator/sip-builder';
import { pcmu, RtpStream, tone } from './rtp-build';

export const MS = 1000;
export const SEC = 1_000_000;
const CRLF = '\r\n';

export interface Addr {
  ip: string;
  port: number;
}

/** One SIP endpoint (a user's PC or phone, an MCU, a Mediation Server acting for a PSTN number). */
export interface LyncEndpoint {
  uri: string;
  name?: string;
  /** Where its SIP is sent from. */
  sip: Addr;
  /** Host media address: the SDP's c= and host candidate, where its RTP leaves from. */
  media: Addr;
  /** Server-reflexive candidate (the NAT's public address); a made-up one when absent. */
  srflx?: Addr;
  epid: string;
  userAgent: string;
  /** Contact with the endpoint's IP (<sip:10.1.0.5:5061;transport=tls>) instead of a GRUU. */
  contactIp: boolean;
}

let serial = 0;
const hex = (n: number, width = 8): string => (n >>> 0).toString(16).padStart(width, '0').slice(-width);
const token = (prefix: string): string => `${prefix}${hex(Math.imul(++serial, 2654435761))}`;

export function endpoint(uri: string, o: { name?: string; ip: string; sipPort?: number; rtpPort: number; srflx?: Addr; userAgent?: string; contactIp?: boolean; epid?: string }): LyncEndpoint {
  const e: LyncEndpoint = {
    uri,
    sip: { ip: o.ip, port: o.sipPort ?? 5060 },
    media: { ip: o.ip, port: o.rtpPort },
    epid: o.epid ?? token('e'),
    userAgent: o.userAgent ?? LYNC_USER_AGENT,
    contactIp: o.contactIp ?? false,
  };
  if (o.name !== undefined) e.name = o.name;
  if (o.srflx !== undefined) e.srflx = o.srflx;
  return e;
}

/** Lync SDP with encryption off: RTP/AVP, the a=crypto and a=cryptoscale lines removed, a=encryption:rejected. */
function clear(sdp: string): string {
  return sdp
    .replace(/RTP\/SAVP/g, 'RTP/AVP')
    .split(CRLF)
    .filter((l) => !/^a=crypto(scale)?:/.test(l))
    .map((l) => (l.startsWith('m=audio') ? `${l}${CRLF}a=encryption:rejected` : l))
    .join(CRLF);
}

/** Frames and tone streams, written in capture-time order. */
export class LyncCapture {
  private readonly frames: Array<{ ts: number; order: number; data: Buffer }> = [];
  private ipId = 1;
  private ssrc = 0x1000;

  udp(ts: number, src: Addr, dst: Addr, payload: Buffer): void {
    for (const f of udpFrames(src.ip, src.port, dst.ip, dst.port, payload, this.ipId++ & 0xffff)) this.frames.push({ ts: Math.round(ts), order: this.frames.length, data: f });
  }

  /**
   * A PCMU tone stream from `from` to `to`, one 20 ms packet from t0 up to t1, none inside `gaps`. The tone's
   * phase follows the RTP clock, so a gap is silence, not a seam. Returns the SSRC.
   */
  tone(from: Addr, to: Addr, t0: number, t1: number, hz: number, gaps: Array<[number, number]> = []): number {
    const ssrc = this.ssrc++;
    const s = new RtpStream(ssrc, { seq: 100 + (ssrc % 1000), ts: ssrc * 7 });
    let sample = 0;
    for (let t = t0; t < t1; t += 20 * MS) {
      const skip = gaps.some(([a, b]) => t >= a && t < b);
      if (!skip) this.udp(t, from, to, s.next(0, pcmu(tone(hz, sample, 160)), 160));
      else {
        s.seq = (s.seq + 1) & 0xffff;
        s.ts = (s.ts + 160) >>> 0;
      }
      sample += 160;
    }
    return ssrc;
  }

  /** Both directions of a call's audio: a → b with tone ha, b → a with tone hb. */
  talk(a: Addr, b: Addr, t0: number, t1: number, ha: number, hb: number): void {
    this.tone(a, b, t0, t1, ha);
    this.tone(b, a, t0 + 7 * MS, t1, hb);
  }

  get size(): number {
    return this.frames.length;
  }

  async write(file: string): Promise<string> {
    this.frames.sort((x, y) => x.ts - y.ts || x.order - y.order);
    const w = new PcapWriter(file, LinkType.ETHERNET);
    for (const f of this.frames) w.write(f.ts, f.data);
    await w.close();
    return file;
  }
}

type Side = 'caller' | 'callee';

/** The messages of one INVITE dialog, each written once on its sender's leg to the Front End. */
export class LyncCall {
  readonly callId: string;
  readonly conversationId: string;
  readonly callerTag = token('t');
  private cseq = { caller: 1, callee: 100 };
  private readonly forks = new Map<LyncEndpoint, string>();
  private answered: LyncEndpoint | undefined;
  private readonly sdpVersion = new Map<LyncEndpoint, number>();
  private readonly inviteBranch = token('z9hG4bK');
  private inviteHeaders: string[] = [];

  constructor(
    private readonly cap: LyncCapture,
    readonly fe: Addr,
    readonly caller: LyncEndpoint,
    /** The dialled URI's first endpoint (forks add others). */
    readonly callee: LyncEndpoint,
    o: { callId?: string; conversationId?: string } = {},
  ) {
    this.callId = o.callId ?? `${token('c')}${token('')}@contoso.com`;
    this.conversationId = o.conversationId ?? `AdZ${token('')}${token('')}==`;
  }

  /** To-tag of a fork of the callee. */
  tagOf(fork: LyncEndpoint): string {
    let t = this.forks.get(fork);
    if (t === undefined) {
      t = token('f');
      this.forks.set(fork, t);
    }
    return t;
  }

  get answeredBy(): LyncEndpoint | undefined {
    return this.answered;
  }

  /** Replaces header value naming this dialog (RFC 3891; tags as the target, the callee, sees them). */
  replacesValue(): string {
    const callee = this.answered ?? this.callee;
    return `${this.callId};to-tag=${this.tagOf(callee)};from-tag=${this.callerTag}`;
  }

  private nameAddr(e: LyncEndpoint, uri: string, tag?: string): string {
    let s = `${e.name !== undefined ? `"${e.name}" ` : ''}<${uri}>`;
    if (tag !== undefined) s += `;tag=${tag}`;
    s += `;epid=${e.epid}`;
    return s;
  }

  private contact(e: LyncEndpoint): string {
    if (e.contactIp) return `<sip:${e.sip.ip}:${e.sip.port};transport=tls;ms-opaque=${e.epid}>`;
    return `<${e.uri.split(';')[0]};opaque=user:epid:${e.epid};gruu>`;
  }

  private sdp(e: LyncEndpoint, direction: MediaDirection, offer: boolean, multipart: boolean): { type: string; body: string } {
    const v = this.sdpVersion.get(e) ?? 0;
    this.sdpVersion.set(e, v + 1);
    const n = (serial += 1);
    const p: LyncSdpParams = {
      user: '-',
      sessionId: 1000 + n,
      version: v,
      ip: e.media.ip,
      port: e.media.port,
      codec: 'PCMU',
      payloadType: 0,
      ptimeMs: 20,
      direction,
      ssrc: 0x10000 + n,
      ufrag: 'Ab1c',
      pwd: 'oeNM9Rf6IT4BtUaOKa60ivx2',
      cryptoKey: 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk',
      srflx: e.srflx ?? { ip: '203.0.113.200', port: 40000 + (n % 20000) },
      relay: { ip: '198.51.100.10', port: 50000 + (n % 10000) },
      ipv6: `fd00:7:495:1::${(n & 0xfff).toString(16)}`,
      v6User: 'oKpwKDjMnfFmV4r1Jx2mI0kQwE1dvQ5n',
      v6Pwd: 'XJoleCXuzzNJfd7XAlOm9w',
      offer,
    };
    if (multipart) {
      const m = lyncOfferBody(p, `----=_NextPart_${hex(n, 6)}`);
      return { type: m.contentType, body: clear(m.body) };
    }
    return { type: 'application/sdp', body: clear(lyncSingleSdp(p)) };
  }

  private finish(lines: string[], ua: string, body?: { type: string; body: string }): Buffer {
    lines.push(`Call-ID: ${this.callId}`, `Ms-Conversation-ID: ${this.conversationId}`, `User-Agent: ${ua}`);
    if (body !== undefined) lines.push(`Content-Type: ${body.type}`);
    const text = body?.body ?? '';
    lines.push(`Content-Length: ${Buffer.byteLength(text)}`, '', '');
    return Buffer.from(lines.join(CRLF) + text, 'utf8');
  }

  /** The party on `side` for in-dialog messages (the callee: the fork that answered). */
  private party(side: Side): LyncEndpoint {
    return side === 'caller' ? this.caller : (this.answered ?? this.callee);
  }

  private request(t: number, side: Side, method: string, o: { seq?: number; headers?: string[]; body?: { type: string; body: string }; branch?: string } = {}): void {
    const me = this.party(side);
    const peer = this.party(side === 'caller' ? 'callee' : 'caller');
    const established = this.answered !== undefined;
    const seq = o.seq ?? this.cseq[side]++;
    const myTag = side === 'caller' ? this.callerTag : this.tagOf(me);
    const peerTag = side === 'caller' ? (established ? this.tagOf(peer) : undefined) : this.callerTag;
    const ruri = established ? (peer.contactIp ? `sip:${peer.sip.ip}:${peer.sip.port};transport=tls` : `${peer.uri.split(';')[0]};opaque=user:epid:${peer.epid};gruu`) : this.callee.uri;
    const lines = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${me.sip.ip}:${me.sip.port};branch=${o.branch ?? token('z9hG4bK')}`,
      'Max-Forwards: 70',
      `From: ${this.nameAddr(me, me.uri, myTag)}`,
      `To: ${this.nameAddr(peer, peer.uri, peerTag)}`,
      `CSeq: ${seq} ${method}`,
    ];
    if (method === 'INVITE' || method === 'UPDATE') lines.push(`Contact: ${this.contact(me)}`, 'Supported: ms-dialog-route-set-update, timer, histinfo, ms-safe-transfer, ms-sender, ms-early-media, 100rel, replaces, ms-conf-invite');
    lines.push(...(o.headers ?? []));
    this.cap.udp(t, me.sip, this.fe, this.finish(lines, me.userAgent, o.body));
  }

  /** A response from `from` (a callee fork, or the caller to a callee request) to a request of the other side. */
  private response(t: number, from: LyncEndpoint, status: number, reason: string, method: string, seq: number, o: { body?: { type: string; body: string }; branch?: string; withTag?: boolean } = {}): void {
    const fromCaller = from === this.caller;
    const reqSender = fromCaller ? this.party('callee') : this.caller;
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      `Via: SIP/2.0/UDP ${reqSender.sip.ip}:${reqSender.sip.port};branch=${o.branch ?? token('z9hG4bK')}`,
      `From: ${this.nameAddr(reqSender, fromCaller ? reqSender.uri : this.caller.uri, fromCaller ? this.tagOf(reqSender) : this.callerTag)}`,
      `To: ${this.nameAddr(from, fromCaller ? from.uri : this.callee.uri, fromCaller ? this.callerTag : o.withTag === false ? undefined : this.tagOf(from))}`,
      `CSeq: ${seq} ${method}`,
    ];
    if ((method === 'INVITE' || method === 'UPDATE') && status > 100 && status < 300) lines.push(`Contact: ${this.contact(from)}`);
    this.cap.udp(t, from.sip, this.fe, this.finish(lines, from.userAgent, o.body));
  }

  /** The initial INVITE with the multipart ICEv6/ICEv19 offer (and 100 Trying from the Front End's side). */
  invite(t: number, o: { headers?: string[] } = {}): this {
    this.inviteHeaders = o.headers ?? [];
    this.request(t, 'caller', 'INVITE', { seq: 1, headers: this.inviteHeaders, body: this.sdp(this.caller, 'sendrecv', true, true), branch: this.inviteBranch });
    this.cseq.caller = 2;
    this.response(t + 2 * MS, this.callee, 100, 'Trying', 'INVITE', 1, { branch: this.inviteBranch, withTag: false });
    return this;
  }

  /** 180 Ringing (no SDP) or 183 Session Progress (with its SDP) from a fork. */
  ring(t: number, fork: LyncEndpoint = this.callee, early = false): this {
    if (early) this.response(t, fork, 183, 'Session Progress', 'INVITE', 1, { branch: this.inviteBranch, body: this.sdp(fork, 'sendrecv', false, false) });
    else this.response(t, fork, 180, 'Ringing', 'INVITE', 1, { branch: this.inviteBranch });
    return this;
  }

  /** 200 OK with the answer from `fork`, then the caller's ACK. */
  answer(t: number, fork: LyncEndpoint = this.callee): this {
    this.response(t, fork, 200, 'OK', 'INVITE', 1, { branch: this.inviteBranch, body: this.sdp(fork, 'sendrecv', false, false) });
    this.answered = fork;
    this.request(t + 15 * MS, 'caller', 'ACK', { seq: 1 });
    return this;
  }

  /** A fork that did not answer ends with 487 (the Front End CANCELled it). */
  forkGone(t: number, fork: LyncEndpoint): this {
    this.response(t, fork, 487, 'Request Terminated', 'INVITE', 1, { branch: this.inviteBranch });
    return this;
  }

  /** A re-INVITE from `by` (hold: 'sendonly'; resume: 'sendrecv') answered by the other side, and its ACK. */
  reinvite(t: number, by: Side, direction: MediaDirection): this {
    const me = this.party(by);
    const peer = this.party(by === 'caller' ? 'callee' : 'caller');
    const seq = this.cseq[by]++;
    const branch = token('z9hG4bK');
    this.request(t, by, 'INVITE', { seq, body: this.sdp(me, direction, false, false), branch });
    const answer: MediaDirection = direction === 'sendonly' ? 'recvonly' : direction === 'inactive' ? 'inactive' : 'sendrecv';
    this.response(t + 30 * MS, peer, 200, 'OK', 'INVITE', seq, { branch, body: this.sdp(peer, answer, false, false) });
    this.request(t + 40 * MS, by, 'ACK', { seq });
    return this;
  }

  /** REFER from `by` (Refer-To as given, Referred-By the referrer) and the 202 Accepted. */
  refer(t: number, by: Side, referTo: string): this {
    const me = this.party(by);
    const seq = this.cseq[by]++;
    const branch = token('z9hG4bK');
    this.request(t, by, 'REFER', { seq, branch, headers: [`Refer-To: ${referTo}`, `Referred-By: <${me.uri}>`] });
    this.response(t + 20 * MS, this.party(by === 'caller' ? 'callee' : 'caller'), 202, 'Accepted', 'REFER', seq, { branch });
    return this;
  }

  bye(t: number, by: Side): this {
    const seq = this.cseq[by]++;
    const branch = token('z9hG4bK');
    this.request(t, by, 'BYE', { seq, branch });
    this.response(t + 5 * MS, this.party(by === 'caller' ? 'callee' : 'caller'), 200, 'OK', 'BYE', seq, { branch });
    return this;
  }

  /** CANCEL while ringing: 200 to the CANCEL, 487 to the INVITE, ACK. */
  cancel(t: number): this {
    this.request(t, 'caller', 'CANCEL', { seq: 1, branch: this.inviteBranch });
    this.response(t + 5 * MS, this.callee, 200, 'OK', 'CANCEL', 1, { branch: this.inviteBranch });
    this.response(t + 10 * MS, this.callee, 487, 'Request Terminated', 'INVITE', 1, { branch: this.inviteBranch });
    this.request(t + 15 * MS, 'caller', 'ACK', { seq: 1, branch: this.inviteBranch });
    return this;
  }
}
