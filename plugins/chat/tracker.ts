/**
 * Follows IM sessions in SIP (lync-protocols.md §6, §7): the INVITE with an IM-only SDP (m=message / the older
 * m=x-ms-message) and its first message in ms-text-format, the answer and ACK, MESSAGE and INFO requests in the
 * dialog (text, typing, delivery notices), BYE, and a 408/480/481 to a MESSAGE or INFO as the end of a dangling
 * session. Conference chats go through the IM MCU (opaque=app:conf:chat): each participant's leg joins one
 * conversation, authors come from Ms-Sender, and the focus's conference-info roster gives joins and leaves.
 * Time is capture time (µs); nothing here throws on what the network sends.
 */
import type { SipMessage, SipRequest, SipResponse } from '../../core/sip/types';
import type { SipMeta } from '../../core/dialog/types';
import type { TranscriptMessage } from '../../core/contract';
import { parseNameAddr } from '../../core/sip/uri';
import { splitList } from '../../core/sip/headers';
import { isImOnlyInvite } from '../../core/dialog/tracker';
import { Emitter } from '../../core/events';
import { decodeMsTextFormat, decodeTextBody, isTextType, parseContentType, type DecodedText } from './body';
import { readConferenceInfo, readImdn, readIsComposing, readKeyboardActivity } from './xml-bodies';
import { conferenceUri, isChatMcu } from './conference';
import { cleanUri, Conversation, person, type Leg, type Person } from './session';

export interface ChatTrackerOptions {
  /** A conversation with no SIP activity for this long is closed (and kept). */
  idleTimeoutSec: number;
  /** Keep typing notices as events. */
  typingEvents: boolean;
}

export interface ChatTrackerEvents {
  /** A conversation began (its first leg's INVITE, or a message of a session joined mid-way). */
  start: [conv: Conversation, callId: string];
  /** A conversation ended: every leg is closed. */
  end: [conv: Conversation];
}

export interface ChatStats {
  sessions: number;
  messages: number;
  /** Requests seen again (retransmissions, a second capture point). */
  duplicates: number;
  /** Requests of no known IM session (a MESSAGE of a call, a trailing request after the end). */
  orphans: number;
  /** Sessions joined mid-way: their INVITE was not seen. */
  joinedMidway: number;
}

const US = 1_000_000;
/** Ended legs still absorb trailing requests this long (RFC 3261 Timer J is 32 s). */
const RECENT_KEEP_US = 64 * US;

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

function tagOf(na: { params: Record<string, string | null> }): string | undefined {
  const t = na.params.tag;
  return typeof t === 'string' ? t : undefined;
}

export class ChatTracker extends Emitter<ChatTrackerEvents> {
  private readonly byCallId = new Map<string, Leg[]>();
  private readonly conversations = new Map<string, Conversation>();
  private readonly recentLegs = new Map<string, { leg: Leg; until: number }>();
  private nextTick = 0;
  readonly stats: ChatStats = { sessions: 0, messages: 0, duplicates: 0, orphans: 0, joinedMidway: 0 };

  constructor(private readonly opts: ChatTrackerOptions) {
    super();
  }

  /** Conversations still open. */
  open(): Conversation[] {
    return [...this.conversations.values()];
  }

  onSip(msg: SipMessage, meta: SipMeta): void {
    this.tick(meta.ts);
    if (msg.kind === 'request') this.onRequest(msg, meta);
    else this.onResponse(msg, meta);
  }

  /** Closes conversations idle for longer than idleTimeoutSec. Cheap per packet: works once a second. */
  tick(now: number): void {
    if (now < this.nextTick) return;
    this.nextTick = now + US;
    for (const [k, r] of this.recentLegs) if (r.until < now) this.recentLegs.delete(k);
    for (const conv of [...this.conversations.values()]) {
      if (now - conv.lastActivity > this.opts.idleTimeoutSec * US) this.endConversation(conv, conv.lastActivity + this.opts.idleTimeoutSec * US, 'idle-timeout');
    }
  }

  /** Closes every open conversation (end of a capture, shutdown). */
  closeAll(now: number, reason = 'end-of-input'): void {
    for (const conv of [...this.conversations.values()]) this.endConversation(conv, Math.max(now, conv.lastActivity), reason);
  }

  // ---------------------------------------------------------------------------------------------

  private find(callId: string, tagA?: string, tagB?: string): Leg | undefined {
    for (const leg of this.byCallId.get(callId) ?? []) {
      if (leg.fromTag === tagA || leg.fromTag === tagB) return leg;
    }
    for (const tag of [tagA, tagB]) {
      if (tag === undefined) continue;
      const r = this.recentLegs.get(`${callId}|${tag}`);
      if (r !== undefined) return r.leg;
    }
    return undefined;
  }

  private onRequest(req: SipRequest, meta: SipMeta): void {
    const fromTag = tagOf(req.from);
    const toTag = tagOf(req.to);
    let leg = this.find(req.callId, fromTag, toTag);
    if (req.method === 'INVITE' && toTag === undefined && leg === undefined) {
      if (!isImOnlyInvite(req)) return; // a call: the dialog tracker's
      leg = this.startLeg(req, meta, fromTag ?? '', false);
    }
    if (req.method === 'NOTIFY') {
      this.onNotify(req, meta);
      return;
    }
    if (leg === undefined) {
      // A text MESSAGE in a dialog whose INVITE was not seen (capture started mid-session): follow it from here.
      if (req.method === 'MESSAGE' && req.contentType !== undefined && isTextType(req.contentType)) {
        leg = this.startLeg(req, meta, fromTag ?? '', true);
      } else {
        if (req.method === 'MESSAGE' || req.method === 'INFO' || req.method === 'BYE') this.stats.orphans++;
        return;
      }
    }
    const seenKey = `${req.method} ${req.cseq.seq} ${fromTag ?? ''}`;
    if (leg.seen.has(seenKey)) {
      this.stats.duplicates++;
      return;
    }
    leg.seen.add(seenKey);
    const conv = leg.conv;
    if (leg.state === 'ended' || !conv.open) {
      this.stats.orphans++;
      return;
    }
    conv.touch(meta.ts);
    switch (req.method) {
      case 'INVITE':
        if (toTag === undefined) this.firstMessage(leg, req, meta);
        break;
      case 'MESSAGE':
        this.onMessage(leg, req, meta);
        break;
      case 'INFO':
        this.onInfo(leg, req, meta);
        break;
      case 'BYE':
        this.endLeg(leg, meta.ts, 'bye');
        break;
      default:
        break;
    }
  }

  private startLeg(req: SipRequest, meta: SipMeta, fromTag: string, midway: boolean): Leg {
    const from = person(req.from);
    const to = person(req.to);
    const mcuUri = [req.requestUri.raw, req.to.uri.raw, req.from.uri.raw].find((u) => isChatMcu(u));
    const conf = conferenceUri(mcuUri);
    const oldMultiparty = req.headers.has('EndPoints') || req.headers.has('Roster-Manager') || /com\.microsoft\.rtc-multiparty/i.test(req.headers.getAll('Require').join(','));
    const legKey = `${req.callId}|${fromTag}`;
    const convKey = conf !== undefined ? `conf:${conf.key}` : oldMultiparty ? `mp:${req.callId}` : `im:${legKey}`;
    let conv = this.conversations.get(convKey);
    if (conv === undefined) {
      conv = new Conversation(conf !== undefined || oldMultiparty ? 'multiparty' : 'im', convKey, meta.ts);
      if (mcuUri !== undefined) conv.conference = mcuUri.replace(/^\s*<|>.*$/g, '');
      if (meta.origin !== undefined) conv.origin = meta.origin;
      this.conversations.set(convKey, conv);
      this.stats.sessions++;
      this.emit('start', conv, req.callId);
    }
    const convId = req.headers.get('Ms-Conversation-ID');
    if (convId !== undefined && conv.conversationId === undefined) conv.conversationId = convId.trim();
    const leg: Leg = { key: legKey, callId: req.callId, fromTag, from, to, state: midway ? 'active' : 'inviting', seen: new Set(), awaiting: new Map(), conv };
    const toTag = tagOf(req.to);
    if (midway && toTag !== undefined) leg.toTag = toTag;
    if (conv.kind === 'im') {
      conv.addMember(from, 'initiator');
      conv.addMember(to, 'invitee');
    } else if (mcuUri !== undefined) {
      // The leg's participant is its non-MCU end.
      leg.member = isChatMcu(req.from.uri.raw) ? to : from;
      conv.addMember(leg.member, 'participant');
    } else {
      conv.addMember(from, 'participant');
      conv.addMember(to, 'participant');
      for (const ep of splitEndPoints(req.headers.get('EndPoints'))) conv.addMember(ep, 'participant');
    }
    if (midway) {
      this.stats.joinedMidway++;
      conv.warnings.push(`the INVITE of dialog ${req.callId} was not seen (the capture began mid-session): recorded from ${iso(meta.ts)}`);
      if (leg.member !== undefined) conv.setPresent(leg.member, true, iso(meta.ts), meta.ts, leg.key);
    }
    conv.legs.set(legKey, leg);
    const list = this.byCallId.get(req.callId);
    if (list === undefined) this.byCallId.set(req.callId, [leg]);
    else list.push(leg);
    return leg;
  }

  /** The INVITE's ms-text-format header: the session's first message (lync-protocols.md §6). */
  private firstMessage(leg: Leg, req: SipRequest, meta: SipMeta): void {
    const header = req.headers.get('ms-text-format');
    if (header === undefined) return;
    const decoded = decodeMsTextFormat(header);
    if (decoded === undefined) return;
    // An INVITE retried after an authentication challenge carries the same first message again.
    if (leg.conv.messages.some((m) => m.carriedBy === 'INVITE' && m.text === decoded.text && leg.awaiting.has(`invite ${leg.fromTag}`))) {
      return;
    }
    const msg = this.addText(leg, req, meta, decoded, 'INVITE');
    leg.awaiting.set(`invite ${leg.fromTag}`, msg);
  }

  private onMessage(leg: Leg, req: SipRequest, meta: SipMeta): void {
    const ctRaw = req.headers.get('Content-Type') ?? '';
    const type = req.contentType ?? parseContentType(ctRaw).type;
    const conv = leg.conv;
    const at = iso(meta.ts);
    if (type === 'application/im-iscomposing+xml') {
      const s = readIsComposing(req.body.toString('utf8'));
      if (s !== undefined && this.opts.typingEvents) conv.addEvent({ at, kind: s.typing ? 'typing' : 'idle', who: this.author(leg, req).uri }, meta.ts, leg.key);
      return;
    }
    if (type === 'application/ms-imdn+xml' || type === 'message/imdn+xml') {
      const n = readImdn(req.body.toString('utf8'));
      const detail = n === undefined ? 'unreadable delivery notice' : `${n.messageId !== undefined ? `message ${n.messageId}: ` : ''}${n.recipients.map((r) => `${r.uri} ${r.status ?? 'not delivered'}`).join(', ') || 'no recipients listed'}`;
      conv.addEvent({ at, kind: 'delivery', who: cleanUri(req.from.uri.raw), detail }, meta.ts, leg.key);
      return;
    }
    const decoded = decodeTextBody(ctRaw || 'text/plain', req.body, req.headers.get('Content-Transfer-Encoding'));
    const author = this.author(leg, req);
    // The client sends the first message again when the answer did not accept it in the INVITE.
    const first = leg.unconfirmedFirst;
    if (first !== undefined && first.text === decoded.text && first.author.uri === author.uri) {
      leg.unconfirmedFirst = undefined;
      leg.awaiting.set(`${req.cseq.seq} ${tagOf(req.from) ?? ''}`, first);
      return;
    }
    const msg = this.addText(leg, req, meta, decoded, 'MESSAGE');
    leg.awaiting.set(`${req.cseq.seq} ${tagOf(req.from) ?? ''}`, msg);
  }

  private addText(leg: Leg, req: SipRequest, meta: SipMeta, d: DecodedText, carriedBy: 'INVITE' | 'MESSAGE'): TranscriptMessage {
    const conv = leg.conv;
    const author = this.author(leg, req);
    conv.addMember(author, 'participant');
    if (conv.kind === 'multiparty') conv.setPresent(author, true, iso(meta.ts), meta.ts, leg.key);
    const m: Omit<TranscriptMessage, 'seq'> = { at: iso(meta.ts), author, text: d.text, contentType: d.contentType, carriedBy };
    if (d.rich !== undefined) m.rich = d.rich;
    if (d.format !== undefined) m.format = d.format;
    if (d.warnings.length > 0) m.warnings = d.warnings;
    if (d.raw !== undefined) m.raw = d.raw;
    // Downstream from the IM MCU: the To is who it was delivered to.
    const recipient = conv.kind === 'multiparty' && isChatMcu(req.from.uri.raw) ? cleanUri(req.to.uri.raw) : undefined;
    const before = conv.messages.length;
    const msg = conv.addMessage(leg, m, meta.ts, recipient);
    if (conv.messages.length > before) this.stats.messages++;
    return msg;
  }

  /** Who wrote a request: Ms-Sender when the IM MCU forwards it (§6), else its From. */
  private author(leg: Leg, req: SipRequest): Person {
    const sender = req.headers.get('Ms-Sender');
    if (sender !== undefined && sender.trim() !== '') {
      try {
        return person(parseNameAddr(sender.trim(), 'Ms-Sender'));
      } catch {
        return { uri: cleanUri(sender.trim()) };
      }
    }
    if (isChatMcu(req.from.uri.raw)) {
      const w = `a message from the IM MCU without Ms-Sender (dialog ${req.callId}): its author is unknown`;
      if (!leg.conv.warnings.includes(w)) leg.conv.warnings.push(w);
    }
    return person(req.from);
  }

  private onInfo(leg: Leg, req: SipRequest, meta: SipMeta): void {
    if (!this.opts.typingEvents) return;
    const body = req.body.toString('utf8');
    if (!/KeyboardActivity/.test(body)) return; // C3P, roster manager (x-ms-mim) and other INFOs are not chat
    const k = readKeyboardActivity(body);
    if (k === undefined) return;
    leg.conv.addEvent({ at: iso(meta.ts), kind: k.typing ? 'typing' : 'idle', who: this.author(leg, req).uri }, meta.ts, leg.key);
  }

  /** The focus's conference-info: joins and leaves of the conference's chat. */
  private onNotify(req: SipRequest, meta: SipMeta): void {
    if (req.contentType !== 'application/conference-info+xml') return;
    const info = readConferenceInfo(req.body.toString('utf8'));
    if (info === undefined) return;
    const conf = conferenceUri(info.entity) ?? conferenceUri(req.from.uri.raw);
    if (conf === undefined) return;
    const conv = this.conversations.get(`conf:${conf.key}`);
    if (conv === undefined) return;
    conv.touch(meta.ts);
    for (const u of info.users) {
      if (u.inChat === undefined) continue;
      const p: Person = { uri: cleanUri(u.uri) };
      if (u.name !== undefined) p.name = u.name;
      conv.setPresent(p, u.inChat, iso(meta.ts), meta.ts, 'focus');
    }
  }

  private onResponse(res: SipResponse, meta: SipMeta): void {
    const method = res.cseq.method;
    if (method !== 'INVITE' && method !== 'MESSAGE' && method !== 'INFO') return;
    const leg = this.find(res.callId, tagOf(res.from), tagOf(res.to));
    if (leg === undefined || leg.state === 'ended' || !leg.conv.open) return;
    leg.conv.touch(meta.ts);
    if (method === 'INVITE') {
      this.onInviteResponse(leg, res, meta);
      return;
    }
    if (res.status < 200) return;
    const msg = leg.awaiting.get(`${res.cseq.seq} ${tagOf(res.from) ?? ''}`);
    if (msg !== undefined && msg.status === undefined) msg.status = res.status;
    leg.awaiting.delete(`${res.cseq.seq} ${tagOf(res.from) ?? ''}`);
    // The peer no longer knows the dialog: the session ended without a BYE we saw (§6).
    if (res.status === 408 || res.status === 480 || res.status === 481) this.endLeg(leg, meta.ts, 'dangling');
  }

  private onInviteResponse(leg: Leg, res: SipResponse, meta: SipMeta): void {
    if (res.status < 200 || leg.state !== 'inviting') return;
    const first = leg.awaiting.get(`invite ${leg.fromTag}`);
    if (res.status === 401 || res.status === 407) return; // challenged: the INVITE comes again with credentials
    if (first !== undefined) {
      first.status ??= res.status;
      leg.awaiting.delete(`invite ${leg.fromTag}`);
    }
    if (res.status >= 300) {
      this.endLeg(leg, meta.ts, 'rejected');
      return;
    }
    leg.state = 'active';
    const toTag = tagOf(res.to);
    if (toTag !== undefined) leg.toTag = toTag;
    const supported = res.headers.getAll('Supported').join(',').toLowerCase();
    // A split at ',' and a trim per element: /\s*,\s*/ is quadratic on a long run of spaces.
    if (first !== undefined && !supported.split(',').some((o) => o.trim() === 'ms-text-format')) leg.unconfirmedFirst = first;
    if (leg.member !== undefined) leg.conv.setPresent(leg.member, true, iso(meta.ts), meta.ts, leg.key);
  }

  private endLeg(leg: Leg, ts: number, reason: string): void {
    if (leg.state === 'ended') return;
    leg.state = 'ended';
    leg.endReason = reason;
    const conv = leg.conv;
    conv.touch(ts);
    if (leg.member !== undefined && (reason === 'bye' || reason === 'dangling')) conv.setPresent(leg.member, false, iso(ts), ts, leg.key);
    this.forget(leg, ts);
    if ([...conv.legs.values()].every((l) => l.state === 'ended')) this.endConversation(conv, ts, reason);
  }

  private forget(leg: Leg, ts: number): void {
    const list = this.byCallId.get(leg.callId);
    if (list !== undefined) {
      const rest = list.filter((l) => l !== leg);
      if (rest.length === 0) this.byCallId.delete(leg.callId);
      else this.byCallId.set(leg.callId, rest);
    }
    this.recentLegs.set(`${leg.callId}|${leg.fromTag}`, { leg, until: ts + RECENT_KEEP_US });
  }

  private endConversation(conv: Conversation, ts: number, reason: string): void {
    if (!conv.open) return;
    for (const leg of conv.legs.values()) {
      if (leg.state !== 'ended') {
        leg.state = 'ended';
        leg.endReason = reason;
        this.forget(leg, ts);
      }
    }
    conv.endTs = ts;
    conv.endReason = reason;
    this.conversations.delete(conv.key);
    this.emit('end', conv);
  }
}

/** Lync's EndPoints header: '"alice" <sip:alice@a.local>, <sip:bob@a.local>;epid=…' (older multiparty chat). */
function splitEndPoints(value: string | undefined): Person[] {
  if (value === undefined) return [];
  const out: Person[] = [];
  // splitList: linear, quote- and <>-aware (a look-ahead split regex rescanned to the end at every comma).
  for (const part of splitList(value)) {
    if (part.trim() === '') continue; // empty elements name no one (and an exception each would cost a lot)
    try {
      out.push(person(parseNameAddr(part.trim(), 'EndPoints')));
    } catch {
      // an unreadable entry names no one
    }
  }
  return out;
}
