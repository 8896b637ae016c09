/**
 * SIP dialog tracking for recording: follows INVITE dialogs through provisional and final responses, ACK, CANCEL,
 * re-INVITE/UPDATE/PRACK offers and answers, hold, REFER/Replaces, BYE, forking (one leg per To-tag) and session
 * timers. Time is capture time (µs), so a replayed file behaves as it did live. Duplicate sightings of a message
 * (retransmissions, the same message seen at two hops) are idempotent.
 */
import type { NameAddr, SipMessage, SipRequest, SipResponse } from '../sip/types';
import { findSdpBody } from '../sip/index';
import { parseUri } from '../sip/uri';
import type { CallAnnotation } from '../contracts/ingest';
import { parseSdp } from '../sdp/index';
import type { SdpSession } from '../sdp/types';
import { Emitter } from '../events';
import type { Call, DialogTimers, Disposition, EndReason, Party, SdpRecord, Side, SipMeta } from './types';

export interface DialogEvents {
  /** A new call (initial INVITE). */
  callStart: [call: Call];
  /** Something about the call changed: state, an SDP, hold, transfer. */
  callUpdate: [call: Call, what: string];
  /** The call ended; it is no longer tracked. */
  callEnd: [call: Call];
  /** Every SIP message that belongs to a tracked call (after the call was updated). */
  callMessage: [call: Call, msg: SipMessage, meta: SipMeta];
}

export const DEFAULT_TIMERS: DialogTimers = { setupTimeoutSec: 300, idleTimeoutSec: 7200, sessionExpiresGrace: 1.5 };

/** Seconds a challenged INVITE (401/407) waits for the authenticated retry before it counts as failed. */
const CHALLENGE_WAIT_SEC = 32;
const US = 1_000_000;
/** Warnings kept per call: a call of a thousand broken messages must not grow without bound. */
const MAX_CALL_WARNINGS = 50;
/** How long an ended call still absorbs trailing messages (RFC 3261 Timer J/Timer H are 32 s). */
const RECENT_KEEP_SEC = 64;

function party(na: NameAddr): Party {
  const p: Party = { uri: na.uri.raw, host: na.uri.host };
  if (na.uri.user !== undefined) p.user = na.uri.user;
  if (na.displayName !== undefined && na.displayName !== '') p.displayName = na.displayName;
  const tag = na.params.tag;
  if (typeof tag === 'string') p.tag = tag;
  const epid = na.params.epid;
  if (typeof epid === 'string') p.epid = epid;
  return p;
}

/** A party a source names by URI (an AoR from SIPREC metadata: `sip:…`, or a bare `user@host` some SRCs send). */
function partyOfUri(raw: string, displayName: string | undefined): Party {
  const text = /^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `sip:${raw}`;
  let p: Party;
  try {
    const u = parseUri(text, 'annotation');
    p = { uri: text, host: u.host };
    if (u.user !== undefined) p.user = u.user;
  } catch {
    p = { uri: raw, host: '' };
  }
  if (displayName !== undefined && displayName !== '') p.displayName = displayName;
  return p;
}

/** A forwarder deployment the call's signalling or media came through (a handful at most). */
export function noteDeployment(call: Call, deployment: number): void {
  const list = (call.deployments ??= []);
  if (!list.includes(deployment) && list.length < 8) list.push(deployment);
}

/** Capture nodes a call's signalling was seen by (a handful at most: the proxies and SBCs on its path). */
function noteNode(call: Call, meta: SipMeta): void {
  const n = meta.node;
  if (n === undefined) return;
  if (n.deployment !== undefined) noteDeployment(call, n.deployment);
  const label = n.name !== undefined && n.name !== '' ? (n.id !== undefined ? `${n.name} (${n.id})` : n.name) : n.id !== undefined ? `capture id ${n.id}` : undefined;
  if (label === undefined) return;
  const list = (call.nodes ??= []);
  if (!list.includes(label) && list.length < 8) list.push(label);
}

function dispositionFor(status: number): Disposition {
  if (status >= 200 && status < 300) return 'answered';
  if (status === 487) return 'cancelled';
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'declined';
  if (status === 408 || status === 480) return 'no-answer';
  return 'failed';
}

function isHoldSdp(sdp: SdpSession): boolean {
  const audio = sdp.media.find((m) => m.type === 'audio') ?? sdp.media[0];
  if (audio === undefined) return false;
  if (audio.direction === 'sendonly' || audio.direction === 'inactive') return true;
  const addr = audio.connection?.address;
  return addr === '0.0.0.0' || addr === '::';
}

/** An INVITE whose SDP offers only IM media lines ('m=message … sip null', the older 'm=x-ms-message'). */
export function isImOnlyInvite(req: SipRequest): boolean {
  let body: Buffer | undefined;
  try {
    body = findSdpBody(req);
  } catch {
    return false; // an unreadable body is the call's problem, reported there
  }
  if (body === undefined) return false;
  const types = body.toString('latin1').match(/^m=[^ \r\n]+/gm);
  return types !== null && types.every((m) => m === 'm=message' || m === 'm=x-ms-message');
}

/** An INVITE that joins a conference focus: a C3P body (application/cccp+xml) and no SDP (lync-protocols.md §7). */
export function isFocusControlInvite(req: SipRequest): boolean {
  const ct = req.contentType;
  if (ct === undefined) return false;
  if (ct === 'application/cccp+xml') return true;
  if (!ct.startsWith('multipart/')) return false;
  try {
    return findSdpBody(req) === undefined && /application\/cccp\+xml/i.test(req.body.toString('latin1'));
  } catch {
    return false;
  }
}

function parseReplaces(value: string): { callId: string; toTag?: string; fromTag?: string } {
  const [id, ...params] = value.split(';');
  const out: { callId: string; toTag?: string; fromTag?: string } = { callId: (id ?? '').trim() };
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim());
    if (k?.toLowerCase() === 'to-tag' && v !== undefined) out.toTag = v;
    if (k?.toLowerCase() === 'from-tag' && v !== undefined) out.fromTag = v;
  }
  return out;
}

interface Pending {
  /** INVITE CSeq numbers sent in the dialog, to match responses (initial and re-INVITEs). */
  invites: Map<number, { inDialog: boolean; offerFrom?: Side }>;
  /** A 401/407 was received; waiting for the retried INVITE until this time. */
  challengedUntil?: number;
  cancelled: boolean;
}

export class DialogTracker extends Emitter<DialogEvents> {
  private readonly calls = new Map<string, Call>();
  /** Call-ID -> keys of calls with that Call-ID (almost always one). */
  private readonly byCallId = new Map<string, string[]>();
  private readonly pending = new Map<string, Pending>();
  /** Calls that ended recently, kept to absorb trailing messages (200 to BYE, ACK to 487), by key. */
  private readonly recent = new Map<string, { call: Call; until: number }>();
  private nextTick = 0;
  /** Calls ever started, SDP bodies that failed to parse, messages of no call, IM-only INVITEs (not calls). */
  readonly stats = { calls: 0, badSdp: 0, orphanMessages: 0, imSessions: 0, focusSessions: 0, joinedMidCall: 0 };

  constructor(private readonly timers: DialogTimers = DEFAULT_TIMERS) {
    super();
  }

  /** Calls in progress. */
  get size(): number {
    return this.calls.size;
  }

  active(): Call[] {
    return [...this.calls.values()];
  }

  get(key: string): Call | undefined {
    return this.calls.get(key);
  }

  /** Calls sharing a Call-ID (used by transfer/Replaces lookups and by the chat plugin). */
  byId(callId: string): Call[] {
    return (this.byCallId.get(callId) ?? []).map((k) => this.calls.get(k)).filter((c): c is Call => c !== undefined);
  }

  /** One SIP message. Timers are not run from here: the service clock ticks them (capture time or wall clock). */
  onMessage(msg: SipMessage, meta: SipMeta): void {
    if (meta.annotation !== undefined) {
      // Before the message: a re-INVITE's new SDP is indexed with the parties and senders it comes with.
      const known = this.find(msg.callId, msg.from.params.tag ?? undefined, msg.to.params.tag ?? undefined);
      if (known !== undefined && this.annotate(known, meta.annotation, meta.ts)) this.emit('callUpdate', known, 'annotation');
    }
    const call = msg.kind === 'request' ? this.onRequest(msg, meta) : this.onResponse(msg, meta);
    if (call === undefined) return;
    const label = msg.kind === 'request' ? msg.method : String(msg.status);
    call.messageCounts[label] = (call.messageCounts[label] ?? 0) + 1;
    if (msg.warnings !== undefined) this.noteRepairs(call, msg.warnings, label, meta);
    this.emit('callMessage', call, msg, meta);
  }

  /**
   * What lenient parsing repaired in a message of the call (a header it could not read, a Content-Length the datagram
   * overrode): said once per kind in the call's warnings, which the recording's metadata carries. Bounded per call.
   */
  private noteRepairs(call: Call, warnings: readonly string[], label: string, meta: SipMeta): void {
    for (const w of warnings) {
      if (!w.startsWith('repaired: ')) continue;
      // A retransmission repeats the same repair: once is enough.
      if (call.warnings.some((x) => x.startsWith(`${label} at `) && x.endsWith(`: ${w}`))) continue;
      if (call.warnings.length >= MAX_CALL_WARNINGS) return;
      call.warnings.push(`${label} at ${new Date(meta.ts / 1000).toISOString()}: ${w}`);
    }
  }

  /**
   * Applies what a source knows of the call beyond its SIP (CallAnnotation): the parties recorded, who sends each
   * m-line, facts and events for the metadata. Returns whether the parties or senders changed (the associator then
   * binds the call's media again).
   */
  private annotate(call: Call, a: CallAnnotation, ts: number): boolean {
    let changed = false;
    const apply = (side: Side, p: { uri: string; displayName?: string } | undefined): void => {
      if (p === undefined) return;
      const was = call[side];
      if (was.uri === p.uri && was.displayName === p.displayName) return;
      const next = partyOfUri(p.uri, p.displayName);
      if (was.tag !== undefined) next.tag = was.tag;
      call[side] = next;
      changed = true;
    };
    apply('caller', a.caller);
    apply('callee', a.callee);
    if (a.mediaSenders !== undefined) {
      const next = [...a.mediaSenders];
      if (call.mediaSenders === undefined || next.length !== call.mediaSenders.length || next.some((s, i) => s !== call.mediaSenders?.[i])) {
        call.mediaSenders = next;
        changed = true;
      }
    }
    const src = (call.source ??= { kind: a.kind, facts: {}, events: [] });
    for (const [k, v] of Object.entries(a.facts ?? {})) src.facts[k] = typeof v === 'string' ? v : [...v];
    for (const e of a.events ?? []) if (src.events.length < MAX_CALL_WARNINGS) src.events.push({ ts, text: e });
    for (const w of a.warnings ?? []) if (!call.warnings.includes(w) && call.warnings.length < MAX_CALL_WARNINGS) call.warnings.push(w);
    return changed;
  }

  /** Marks activity on a call (media seen), deferring its idle timeout. */
  touch(key: string, ts: number): void {
    const c = this.calls.get(key);
    if (c !== undefined && ts > c.times.lastActivity) c.times.lastActivity = ts;
  }

  /** Applies timers up to capture time `now` (µs). Cheap to call per packet: it works at most once a second. */
  tick(now: number): void {
    if (now < this.nextTick) return;
    this.nextTick = now + US;
    for (const [k, r] of this.recent) if (r.until < now) this.recent.delete(k);
    for (const call of [...this.calls.values()]) {
      const p = this.pending.get(call.key);
      if (call.state === 'confirmed') {
        if (call.sessionExpiresSec !== undefined && now - call.lastRefresh > call.sessionExpiresSec * this.timers.sessionExpiresGrace * US) {
          this.end(call, now, 'session-expired');
        } else if (now - call.times.lastActivity > this.timers.idleTimeoutSec * US) {
          this.end(call, now, 'idle-timeout');
        }
      } else if (p?.challengedUntil !== undefined && now > p.challengedUntil) {
        this.end(call, p.challengedUntil, 'rejected');
      } else if (now - call.times.start > this.timers.setupTimeoutSec * US) {
        call.disposition = 'no-answer';
        this.end(call, now, 'setup-timeout');
      }
    }
  }

  /** Closes every call still open (end of a capture file, shutdown). */
  closeAll(now: number, reason: EndReason = 'end-of-input'): void {
    for (const call of [...this.calls.values()]) this.end(call, Math.max(now, call.times.lastActivity), reason);
  }

  // ---------------------------------------------------------------------------------------------

  private find(callId: string, tagA?: string, tagB?: string): Call | undefined {
    const keys = this.byCallId.get(callId);
    for (const k of keys ?? []) {
      const c = this.calls.get(k);
      if (c === undefined) continue;
      const t = c.caller.tag;
      if (t === undefined || t === tagA || t === tagB) return c;
    }
    for (const tag of [tagA, tagB, '']) {
      if (tag === undefined) continue;
      const r = this.recent.get(`${callId}|${tag}`);
      if (r !== undefined) return r.call;
    }
    return undefined;
  }

  /** Which side sent a request in this call: the caller's From-tag, or else the callee. */
  private sideOf(call: Call, msg: SipMessage): Side {
    if (call.caller.tag === undefined) return msg.from.uri.raw === call.caller.uri ? 'caller' : 'callee';
    return msg.from.params.tag === call.caller.tag ? 'caller' : 'callee';
  }

  private onRequest(req: SipRequest, meta: SipMeta): Call | undefined {
    const fromTag = typeof req.from.params.tag === 'string' ? req.from.params.tag : undefined;
    const toTag = typeof req.to.params.tag === 'string' ? req.to.params.tag : undefined;
    let call = this.find(req.callId, fromTag, toTag);
    if (req.method === 'INVITE' && toTag === undefined) {
      // An IM session (m=message / m=x-ms-message only) has no audio to record: the chat plugin follows it.
      if (call === undefined && isImOnlyInvite(req)) {
        this.stats.imSessions++;
        return undefined;
      }
      // Joining a conference focus (C3P: application/cccp+xml, no SDP) is conference control, not a media leg;
      // the client's own INVITE to the AV MCU (with SDP) is the call that carries audio.
      if (call === undefined && isFocusControlInvite(req)) {
        this.stats.focusSessions++;
        return undefined;
      }
      if (call === undefined) call = this.start(req, meta, fromTag);
      else this.retryInvite(call, req);
    }
    if (call === undefined && toTag !== undefined && (req.method === 'INVITE' || req.method === 'UPDATE')) call = this.joinMidCall(req, meta, fromTag, toTag);
    if (call === undefined) {
      this.stats.orphanMessages++;
      return undefined;
    }
    noteNode(call, meta);
    if (call.state === 'terminated') return call; // trailing message of an ended call: counted only
    const side = this.sideOf(call, req);
    call.times.lastActivity = Math.max(call.times.lastActivity, meta.ts);
    switch (req.method) {
      case 'INVITE':
        this.noteInvite(call, req, meta, side, toTag !== undefined);
        break;
      case 'ACK':
      case 'PRACK':
        this.noteSdp(call, req, meta, side, req.method, false);
        break;
      case 'UPDATE':
        this.noteSdp(call, req, meta, side, 'UPDATE', true);
        this.refresh(call, req, meta.ts);
        break;
      case 'CANCEL': {
        const p = this.pending.get(call.key);
        if (p !== undefined) p.cancelled = true;
        break;
      }
      case 'BYE':
        call.endedBy = side;
        if (call.state !== 'confirmed' && call.disposition === 'unanswered') call.disposition = 'cancelled';
        this.end(call, meta.ts, 'bye');
        break;
      case 'REFER': {
        const referTo = req.headers.get('Refer-To');
        if (referTo !== undefined) {
          const r: Call['refers'][number] = { ts: meta.ts, by: side, referTo };
          const rb = req.headers.get('Referred-By');
          if (rb !== undefined) r.referredBy = rb;
          call.refers.push(r);
          this.emit('callUpdate', call, 'refer');
        }
        break;
      }
      default:
        break;
    }
    return call;
  }

  /**
   * An in-dialog re-INVITE or UPDATE with SDP for a dialog never seen: the recorder started (or restarted) during
   * the call. The call is taken up as answered, its sender as the caller; the SDP it carries and the answer to it
   * explain the media from here on. Without SDP (a session refresh) there is nothing to record yet: orphan.
   */
  private joinMidCall(req: SipRequest, meta: SipMeta, fromTag: string | undefined, toTag: string): Call | undefined {
    let body: Buffer | undefined;
    try {
      body = findSdpBody(req);
    } catch {
      return undefined;
    }
    if (body === undefined || body.length === 0 || isImOnlyInvite(req)) return undefined;
    const call = this.start(req, meta, fromTag, req.method === 'INVITE' ? 're-INVITE' : 'UPDATE');
    call.state = 'confirmed';
    call.disposition = 'answered';
    call.times.answer = meta.ts;
    call.toTag = toTag;
    call.callee.tag = toTag;
    call.legs.set(toTag, { toTag, state: 'confirmed', firstStatus: 200 });
    this.stats.joinedMidCall++;
    this.emit('callUpdate', call, 'answered');
    return call;
  }

  private start(req: SipRequest, meta: SipMeta, fromTag: string | undefined, joinedMidCall?: Call['joinedMidCall']): Call {
    const key = `${req.callId}|${fromTag ?? ''}`;
    const call: Call = {
      key,
      callId: req.callId,
      caller: party(req.from),
      callee: party(req.to),
      callerAddr: { ip: meta.src, port: meta.sport },
      calleeAddr: { ip: meta.dst, port: meta.dport },
      transport: meta.transport,
      state: 'calling',
      disposition: 'unanswered',
      times: { start: meta.ts, lastActivity: meta.ts },
      legs: new Map(),
      sdp: [],
      holds: [],
      lastRefresh: meta.ts,
      userAgents: {},
      refers: [],
      messageCounts: {},
      warnings: [],
    };
    if (meta.origin !== undefined) call.origin = meta.origin;
    if (joinedMidCall !== undefined) call.joinedMidCall = joinedMidCall;
    if (meta.annotation !== undefined) this.annotate(call, meta.annotation, meta.ts);
    const conv = req.headers.get('Ms-Conversation-ID');
    if (conv !== undefined) call.conversationId = conv;
    const ua = req.headers.get('User-Agent');
    if (ua !== undefined) call.userAgents.caller = ua;
    const replaces = req.headers.get('Replaces');
    if (replaces !== undefined) {
      call.replaces = parseReplaces(replaces);
      const target = this.find(call.replaces.callId, call.replaces.fromTag, call.replaces.toTag);
      if (target !== undefined) call.replaces.key = target.key;
    }
    this.calls.set(key, call);
    const list = this.byCallId.get(req.callId);
    if (list === undefined) this.byCallId.set(req.callId, [key]);
    else list.push(key);
    this.pending.set(key, { invites: new Map(), cancelled: false });
    this.stats.calls++;
    this.emit('callStart', call);
    return call;
  }

  /** A new initial INVITE for a known call: the retry after a 401/407 challenge, or a retransmission. */
  private retryInvite(call: Call, _req: SipRequest): void {
    const p = this.pending.get(call.key);
    if (p !== undefined) delete p.challengedUntil;
  }

  private noteInvite(call: Call, req: SipRequest, meta: SipMeta, side: Side, inDialog: boolean): void {
    const p = this.pending.get(call.key);
    if (p === undefined) return;
    const known = p.invites.get(req.cseq.seq);
    if (known !== undefined) return; // retransmission or second sighting
    const sdp = this.noteSdp(call, req, meta, side, 'INVITE', inDialog);
    const entry: { inDialog: boolean; offerFrom?: Side } = { inDialog };
    if (sdp !== undefined) entry.offerFrom = side;
    p.invites.set(req.cseq.seq, entry);
    const se = req.headers.get('Session-Expires');
    if (se !== undefined) this.setSessionExpires(call, se);
    if (inDialog) this.refresh(call, req, meta.ts);
  }

  private refresh(call: Call, msg: SipMessage, ts: number): void {
    call.lastRefresh = ts;
    const se = msg.headers.get('Session-Expires');
    if (se !== undefined) this.setSessionExpires(call, se);
  }

  private setSessionExpires(call: Call, value: string): void {
    const n = Number.parseInt(value, 10);
    if (Number.isFinite(n) && n > 0) call.sessionExpiresSec = n;
  }

  private onResponse(res: SipResponse, meta: SipMeta): Call | undefined {
    const fromTag = typeof res.from.params.tag === 'string' ? res.from.params.tag : undefined;
    const toTag = typeof res.to.params.tag === 'string' ? res.to.params.tag : undefined;
    const call = this.find(res.callId, fromTag, toTag);
    if (call === undefined) {
      this.stats.orphanMessages++;
      return undefined;
    }
    noteNode(call, meta);
    if (call.state === 'terminated') return call;
    call.times.lastActivity = Math.max(call.times.lastActivity, meta.ts);
    if (res.cseq.method === 'INVITE') this.onInviteResponse(call, res, meta, toTag);
    else if (res.cseq.method === 'UPDATE' || res.cseq.method === 'PRACK') {
      if (res.status >= 200 && res.status < 300) this.noteSdp(call, res, meta, this.responderSide(call, res), String(res.status), true);
    }
    return call;
  }

  /** A response is sent by the party the request was sent to: the one whose tag is in To. */
  private responderSide(call: Call, res: SipResponse): Side {
    return this.sideOf(call, res) === 'caller' ? 'callee' : 'caller';
  }

  private onInviteResponse(call: Call, res: SipResponse, meta: SipMeta, toTag: string | undefined): void {
    const p = this.pending.get(call.key);
    const inv = p?.invites.get(res.cseq.seq);
    const inDialog = inv?.inDialog ?? call.state === 'confirmed';
    const side = this.responderSide(call, res);
    if (!inDialog && side === 'callee') {
      if (res.status >= 100 && res.status < 200) this.onProvisional(call, res, meta, toTag);
      else if (res.status >= 200 && res.status < 300) this.onAnswer(call, res, meta, toTag);
      else if (res.status >= 300) this.onReject(call, res, meta);
      return;
    }
    // re-INVITE responses: only a 2xx carries an answer that changes the media.
    if (res.status >= 200 && res.status < 300) {
      this.noteSdp(call, res, meta, side, String(res.status), true);
      this.refresh(call, res, meta.ts);
    }
  }

  private onProvisional(call: Call, res: SipResponse, meta: SipMeta, toTag: string | undefined): void {
    if (call.state === 'calling') call.state = 'proceeding';
    if (res.status === 100) return;
    if (res.status === 180 || res.status === 183) call.times.ringing ??= meta.ts;
    if (toTag !== undefined) {
      if (!call.legs.has(toTag)) {
        const leg: Call['legs'] extends Map<string, infer L> ? L : never = { toTag, state: 'early', firstStatus: res.status };
        const contact = res.headers.get('Contact');
        if (contact !== undefined) leg.contact = contact;
        const ua = res.headers.get('User-Agent') ?? res.headers.get('Server');
        if (ua !== undefined) leg.userAgent = ua;
        call.legs.set(toTag, leg);
      }
      if (call.state === 'proceeding') call.state = 'early';
    }
    const sdp = this.noteSdp(call, res, meta, 'callee', String(res.status), false, toTag);
    if (sdp !== undefined) {
      call.times.earlyMedia ??= meta.ts;
      this.emit('callUpdate', call, 'early-media');
    }
  }

  private onAnswer(call: Call, res: SipResponse, meta: SipMeta, toTag: string | undefined): void {
    if (call.state === 'confirmed') {
      // A 2xx retransmission, or a second fork answering (it will be BYE'd): keep the first answer.
      if (toTag !== undefined && toTag !== call.toTag && !call.legs.has(toTag)) {
        call.legs.set(toTag, { toTag, state: 'terminated', firstStatus: res.status });
        call.warnings.push(`a second fork (to-tag ${toTag}) also answered at ${meta.ts}`);
      }
      return;
    }
    call.state = 'confirmed';
    call.disposition = 'answered';
    call.finalStatus = res.status;
    call.times.answer = meta.ts;
    call.lastRefresh = meta.ts;
    if (toTag !== undefined) {
      call.toTag = toTag;
      call.callee.tag = toTag;
      const epid = res.to.params.epid;
      if (typeof epid === 'string') call.callee.epid = epid;
      for (const [t, leg] of call.legs) leg.state = t === toTag ? 'confirmed' : 'terminated';
      if (!call.legs.has(toTag)) call.legs.set(toTag, { toTag, state: 'confirmed', firstStatus: res.status });
    }
    const ua = res.headers.get('User-Agent') ?? res.headers.get('Server');
    if (ua !== undefined) call.userAgents.callee = ua;
    const se = res.headers.get('Session-Expires');
    if (se !== undefined) this.setSessionExpires(call, se);
    this.noteSdp(call, res, meta, 'callee', String(res.status), false, toTag);
    this.emit('callUpdate', call, 'answered');
  }

  private onReject(call: Call, res: SipResponse, meta: SipMeta): void {
    if (call.state === 'confirmed' || call.state === 'terminated') return;
    const p = this.pending.get(call.key);
    if (res.status === 401 || res.status === 407) {
      // Authentication challenge: the caller normally retries with credentials in a new INVITE.
      if (p !== undefined) p.challengedUntil = meta.ts + CHALLENGE_WAIT_SEC * US;
      call.finalStatus = res.status;
      call.disposition = 'failed';
      return;
    }
    call.finalStatus = res.status;
    call.disposition = p?.cancelled === true && res.status === 487 ? 'cancelled' : dispositionFor(res.status);
    this.end(call, meta.ts, call.disposition === 'cancelled' ? 'cancel' : 'rejected');
  }

  /** Parses and records the SDP a message carries, deciding offer or answer and tracking hold. */
  private noteSdp(call: Call, msg: SipMessage, meta: SipMeta, from: Side, carriedBy: string, inDialog: boolean, toTag?: string): SdpSession | undefined {
    let body: Buffer | undefined;
    try {
      body = findSdpBody(msg);
    } catch (e) {
      call.warnings.push(`${carriedBy} at ${meta.ts}: unreadable body: ${(e as Error).message}`);
      return undefined;
    }
    if (body === undefined || body.length === 0) return undefined;
    let sdp: SdpSession;
    try {
      sdp = parseSdp(body);
    } catch (e) {
      this.stats.badSdp++;
      call.warnings.push(`${carriedBy} at ${meta.ts}: bad SDP: ${(e as Error).message}`);
      return undefined;
    }
    // Same SDP seen twice (retransmission or a second capture point): ignore.
    const last = call.sdp[call.sdp.length - 1];
    if (last !== undefined && last.cseq === msg.cseq.seq && last.carriedBy === carriedBy && last.from === from && last.toTag === toTag) return last.sdp;
    const prior = [...call.sdp].reverse().find((s) => s.cseq === msg.cseq.seq && s.from !== from);
    const role: SdpRecord['role'] = prior !== undefined && prior.role === 'offer' ? 'answer' : 'offer';
    const rec: SdpRecord = { ts: meta.ts, from, role, carriedBy, inDialog, cseq: msg.cseq.seq, sdp, text: body.toString('utf8') };
    if (toTag !== undefined) rec.toTag = toTag;
    if (msg.headers.get('Replaces') !== undefined) rec.replaces = true;
    call.sdp.push(rec);
    this.trackHold(call, rec);
    this.emit('callUpdate', call, `sdp-${role}`);
    return sdp;
  }

  private trackHold(call: Call, rec: SdpRecord): void {
    if (rec.role !== 'offer' || !rec.inDialog) return;
    const open = call.holds.find((h) => h.end === undefined);
    const hold = isHoldSdp(rec.sdp);
    if (hold && open === undefined) {
      call.holds.push({ start: rec.ts, by: rec.from });
      this.emit('callUpdate', call, 'hold');
    } else if (!hold && open !== undefined) {
      open.end = rec.ts;
      this.emit('callUpdate', call, 'resume');
    }
  }

  private end(call: Call, ts: number, reason: EndReason): void {
    if (call.state === 'terminated') return;
    call.state = 'terminated';
    call.endReason = reason;
    call.times.end = ts;
    for (const h of call.holds) h.end ??= ts;
    for (const leg of call.legs.values()) if (leg.state !== 'terminated') leg.state = 'terminated';
    this.calls.delete(call.key);
    this.pending.delete(call.key);
    const list = this.byCallId.get(call.callId);
    if (list !== undefined) {
      const rest = list.filter((k) => k !== call.key);
      if (rest.length === 0) this.byCallId.delete(call.callId);
      else this.byCallId.set(call.callId, rest);
    }
    this.recent.set(call.key, { call, until: ts + RECENT_KEEP_SEC * US });
    this.emit('callEnd', call);
  }
}
