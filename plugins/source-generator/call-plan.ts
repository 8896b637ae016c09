/**
 * One call's timeline: its SIP messages (as wire events, with the TCP handshake and ACKs when SIP runs over
 * TCP) and the plan of its two RTP streams. Built when the call starts, so memory follows concurrency.
 *
 * Answered:  INVITE, 100, 180 (or 183+SDP with early media), 200+SDP, ACK, [hold re-INVITEs], BYE, 200.
 * Cancelled: INVITE, 100, 180/183, CANCEL, 200 (CANCEL), 487, ACK.   Busy: INVITE, 100, 486, ACK.
 * No-bye:    as answered, but the media just stops and no BYE follows.
 */
import { callIdentity, type CallIdentity, type SideIdentity } from './call-identity';
import { deriveSeed, Rng } from './random';
import type { ResolvedScenario } from './scenario';
import { lyncOfferBody, lyncSingleSdp, plainSdp, type MediaDirection } from './sdp-builder';
import { SipCallBuilder, type SipBody } from './sip-builder';
import { toneFrequency, type Direction } from './tones';
import type { CallTruth, Disposition, SdesKeyTruth, SipMessageTruth } from './truth';
import { edgePartyOf, emptyEdgeTruth, planEdge, relayThroughEdge, type EdgePlan } from './edge-plan';

const MS = 1000;

export type WireEvent =
  | { t: number; kind: 'msg'; fromClient: boolean; text: string; truth: SipMessageTruth }
  | { t: number; kind: 'syn' | 'synack' | 'hsack' }
  | { t: number; kind: 'ack' | 'fin'; fromClient: boolean };

export interface StreamPlan {
  dir: Direction;
  src: { ip: string; port: number };
  dst: { ip: string; port: number };
  /** Nominal time of the first packet slot; slots follow every ptime until `end` (exclusive). */
  start: number;
  end: number;
  /** [from, to) capture-time ranges in which nothing is sent (hold). */
  gaps: Array<[number, number]>;
  silence: { periodUs: number; talkUs: number; phaseUs: number } | null;
  ssrc: number;
  seq: number;
  ts: number;
  /** Mid-call SSRC change: from the first slot at or after `at`. */
  change: { at: number; ssrc: number; seq: number; ts: number } | null;
  hz: number;
  seed: number;
}

export interface CallPlan {
  id: CallIdentity;
  truth: CallTruth;
  events: WireEvent[];
  streams: StreamPlan[];
  /** TURN media paths: the remote party's leg to the Edge. */
  edge?: EdgePlan;
}

export function planCall(s: ResolvedScenario, index: number, disposition: Disposition, start: number): CallPlan {
  const rng = new Rng(deriveSeed(s.seed, index, 1));
  const id = callIdentity(s, index, rng);
  const edgeParty = edgePartyOf(s, index);
  if (edgeParty !== undefined) relayThroughEdge(s, id, edgeParty);
  const tcp = s.sipTransport === 'tcp';
  const ssrc = { caller: rng.u32(), callee: rng.u32() };
  const sip = new SipCallBuilder({
    callId: id.callId,
    caller: { display: id.caller.display, uri: id.caller.uri, tag: id.caller.tag, epid: id.caller.epid, ip: id.sipClient.ip, port: id.sipClient.port },
    callee: { display: id.callee.display, uri: id.callee.uri, tag: id.callee.tag, epid: id.callee.epid, ip: id.server.ip, port: id.server.port },
    transport: tcp ? 'TCP' : 'UDP',
    lync: s.lync,
    conversationId: s.lync ? id.conversationId : undefined,
  });
  const sdpVersion = { caller: 0, callee: 0 };
  const rtpmap = s.payloads === null ? `${s.codec}/8000` : `${s.payloads.encoding}/${s.payloads.clockRate}`;
  const sdp = (who: Direction, dir: MediaDirection, initialOffer = false): SipBody => {
    const side: SideIdentity = id[who];
    const base = { user: side.user, sessionId: side.sdpSession, version: sdpVersion[who]++, ip: side.ip, port: side.rtpPort, codec: s.codec, rtpmap, payloadType: s.payloadType, ptimeMs: s.ptimeMs, direction: dir };
    if (!s.lync) return { contentType: 'application/sdp', body: plainSdp(s.srtp ? { ...base, sdesKey: side.ice.cryptoKey } : base) };
    const lp = { ...base, ...side.ice, ssrc: ssrc[who], offer: who === 'caller' };
    if (!initialOffer) return { contentType: 'application/sdp', body: lyncSingleSdp(lp) };
    const boundary = `----=_NextPart_000_${rng.hex(4).toUpperCase()}_01DA47A1.${rng.hex(4).toUpperCase()}`;
    const ctx = s.lyncMultipart === 'mixed' ? { id: rng.hex(16), conversationId: id.conversationId, from: id.caller.uri, to: id.callee.uri, date: new Date(start / 1000).toISOString(), boundary: rng.token(32) } : undefined;
    return lyncOfferBody(lp, boundary, ctx);
  };

  const events: WireEvent[] = [];
  const msg = (t: number, fromClient: boolean, text: string, label: string, cseq: string): void => {
    events.push({ t: Math.round(t), kind: 'msg', fromClient, text, truth: { t: Math.round(t), label, cseq, sender: fromClient ? 'caller' : 'server', bytes: Buffer.byteLength(text) } });
  };
  const branch = (): string => `z9hG4bK${rng.hex(6)}`;
  const req = (t: number, method: string, cseq: number, br: string, toTag: boolean, body?: SipBody, fromCaller = true): void =>
    msg(t, fromCaller, sip.request(method, cseq, br, fromCaller, toTag, body), method, `${cseq} ${method}`);
  const res = (t: number, status: number, method: string, cseq: number, br: string, body?: SipBody, toCaller = true): void =>
    msg(t, !toCaller, sip.response(status, method, cseq, br, toCaller, status !== 100, body), String(status), `${cseq} ${method}`);

  const t0 = start;
  const ring = s.ringMs * MS;
  const inviteBranch = branch();
  req(t0, 'INVITE', 1, inviteBranch, false, sdp('caller', 'sendrecv', true));
  res(t0 + 2 * MS, 100, 'INVITE', 1, inviteBranch);
  const tRing = t0 + Math.min(40 * MS, ring / 4);
  if (disposition !== 'busy') {
    if (s.earlyMedia) res(tRing, 183, 'INVITE', 1, inviteBranch, sdp('callee', 'sendrecv'));
    else res(tRing, 180, 'INVITE', 1, inviteBranch);
  }

  const durUs = Math.round(s.durationSec * 1e6);
  const ta = t0 + ring;
  const te = ta + durUs;
  let mediaEnd = te;
  let calleeStart = s.earlyMedia ? tRing + 20 * MS : ta + 5 * MS;
  let callerStart: number | null = ta + 20 * MS;
  let hold: { start: number; end: number } | undefined;
  let hangup: 'caller' | 'callee' | undefined;
  const calleeGaps: Array<[number, number]> = [];

  if (disposition === 'cancelled') {
    const tc = t0 + ring / 2;
    req(tc, 'CANCEL', 1, inviteBranch, false);
    res(tc + 5 * MS, 200, 'CANCEL', 1, inviteBranch);
    res(tc + 10 * MS, 487, 'INVITE', 1, inviteBranch);
    req(tc + 15 * MS, 'ACK', 1, inviteBranch, true);
    mediaEnd = tc + 10 * MS;
    callerStart = null;
  } else if (disposition === 'busy') {
    const tb = t0 + ring / 2;
    res(tb, 486, 'INVITE', 1, inviteBranch);
    req(tb + 5 * MS, 'ACK', 1, inviteBranch, true);
    mediaEnd = tb;
    callerStart = null;
    calleeStart = Infinity;
  } else {
    res(ta, 200, 'INVITE', 1, inviteBranch, sdp('callee', 'sendrecv'));
    req(ta + 15 * MS, 'ACK', 1, branch(), true);
    let cseq = 2;
    if (s.hold) {
      const h1 = ta + Math.round(durUs / 3);
      const h2 = ta + Math.round((2 * durUs) / 3);
      for (const [t, offer, answer] of [[h1, 'sendonly', 'recvonly'], [h2, 'sendrecv', 'sendrecv']] as const) {
        const br = branch();
        req(t, 'INVITE', cseq, br, true, sdp('caller', offer));
        res(t + 30 * MS, 200, 'INVITE', cseq, br, sdp('callee', answer));
        req(t + 40 * MS, 'ACK', cseq, branch(), true);
        cseq++;
      }
      hold = { start: h1, end: h2 };
      calleeGaps.push([h1 + 30 * MS, h2 + 30 * MS]);
    }
    if (disposition === 'answered') {
      hangup = rng.next() < 0.5 ? 'caller' : 'callee';
      const br = branch();
      if (hangup === 'caller') {
        req(te + MS, 'BYE', cseq, br, true);
        res(te + 6 * MS, 200, 'BYE', cseq, br);
      } else {
        req(te + MS, 'BYE', 101, br, true, undefined, false);
        res(te + 6 * MS, 200, 'BYE', 101, br, undefined, false);
      }
    }
  }
  events.sort((a, b) => a.t - b.t);
  const sipTruth = events.map((e) => (e.kind === 'msg' ? e.truth : null)).filter((x): x is SipMessageTruth => x !== null);
  if (tcp) addTcpEvents(events, !s.tcpShared, disposition !== 'no-bye');

  const streams: StreamPlan[] = [];
  const stream = (dir: Direction, from: number, gaps: Array<[number, number]>): StreamPlan => {
    const me = id[dir];
    const peer = dir === 'caller' ? id.callee : id.caller;
    const sr = new Rng(deriveSeed(s.seed, index, dir === 'caller' ? 2 : 3));
    const period = s.silence === null ? 0 : (s.silence.talkMs + s.silence.silenceMs) * MS;
    const mid = ta + Math.round(durUs / 2) + sr.int(40) * MS;
    return {
      dir,
      src: { ip: me.ip, port: me.rtpPort },
      dst: { ip: peer.ip, port: peer.rtpPort },
      start: from + sr.int(s.ptimeMs * MS),
      end: mediaEnd,
      gaps,
      // Directions take turns: the callee's spurts are offset by half a period.
      silence: s.silence === null ? null : { periodUs: period, talkUs: s.silence.talkMs * MS, phaseUs: dir === 'caller' ? 0 : Math.round(period / 2) },
      ssrc: ssrc[dir],
      seq: sr.int(32768), // low half, so a recorder's ROC guess has room (lync-protocols.md §2)
      ts: sr.u32(),
      change: s.ssrcChange && mid < mediaEnd ? { at: mid, ssrc: sr.u32(), seq: sr.int(65536), ts: sr.u32() } : null,
      hz: toneFrequency(index, dir),
      seed: deriveSeed(s.seed, index, dir === 'caller' ? 4 : 5),
    };
  };
  if (edgeParty !== undefined && s.edgeMediaDelayMs !== null) {
    // Nothing passes the Edge before the relay path is up: the capture there starts late.
    const ready = ta + s.edgeMediaDelayMs * MS;
    calleeStart = Math.max(calleeStart, ready);
    if (callerStart !== null) callerStart = Math.max(callerStart, ready);
  }
  if (calleeStart < mediaEnd) streams.push(stream('callee', calleeStart, calleeGaps));
  if (callerStart !== null && callerStart < mediaEnd) streams.push(stream('caller', callerStart, []));

  const truth: CallTruth = {
    index,
    callId: id.callId,
    from: { uri: id.caller.uri, tag: id.caller.tag },
    to: { uri: id.callee.uri, tag: id.callee.tag },
    caller: { ip: id.caller.ip, sipPort: id.sipClient.port, rtpPort: id.caller.rtpPort },
    callee: { ip: id.callee.ip, rtpPort: id.callee.rtpPort },
    server: { ...id.server },
    transport: s.sipTransport,
    lync: s.lync,
    codec: s.payloads?.encoding ?? s.codec,
    payloadType: s.payloadType,
    ptimeMs: s.ptimeMs,
    disposition,
    start: t0,
    end: events[events.length - 1]?.t ?? t0, // media's last packet is added when the streams finish
    sip: sipTruth,
    media: {},
  };
  if (s.lync) {
    truth.from.epid = id.caller.epid;
    truth.to.epid = id.callee.epid;
    truth.conversationId = id.conversationId;
  }
  // Every SDP carries its writer's own key with MKI 1 (Lync: the answer picks the offer's `|1:1` line, tag 2).
  if (s.lync || s.srtp) truth.srtp = { caller: sdesTruth(id.caller), callee: sdesTruth(id.callee) };
  if (disposition === 'answered' || disposition === 'no-bye') truth.answer = ta;
  if (hold !== undefined) truth.hold = hold;
  if (hangup !== undefined) truth.hangup = hangup;
  const plan: CallPlan = { id, truth, events, streams };
  if (edgeParty !== undefined) {
    plan.edge = planEdge(s, index, id, edgeParty, t0, truth.answer, mediaEnd);
    truth.edge = emptyEdgeTruth(plan.edge);
  }
  return plan;
}

function sdesTruth(side: SideIdentity): SdesKeyTruth {
  return { suite: 'AES_CM_128_HMAC_SHA1_80', keySalt: side.ice.cryptoKey, mki: '01' };
}

/** TCP around the messages: handshake and close (own connection only) and the receiver's ACK of each message. */
function addTcpEvents(events: WireEvent[], ownConnection: boolean, close: boolean): void {
  const first = events[0]?.t ?? 0;
  const last = events[events.length - 1]?.t ?? 0;
  const acks: WireEvent[] = [];
  for (const e of events) if (e.kind === 'msg') acks.push({ t: e.t + 200, kind: 'ack', fromClient: !e.fromClient });
  events.push(...acks);
  if (ownConnection) {
    events.push({ t: first - 3 * MS, kind: 'syn' }, { t: first - 2 * MS, kind: 'synack' }, { t: first - MS, kind: 'hsack' });
    if (close) {
      events.push({ t: last + 50 * MS, kind: 'fin', fromClient: true }, { t: last + 51 * MS, kind: 'fin', fromClient: false }, { t: last + 52 * MS, kind: 'ack', fromClient: true });
    }
  }
  events.sort((a, b) => a.t - b.t);
}
