/**
 * An IM conversation as the chat plugin follows it: its SIP dialogs ("legs": one for a one-to-one session, one
 * per participant's connection to the IM MCU for a conference chat), who took part, the messages in order and
 * the events. A multiparty message is seen once per leg it travels on (upstream to the MCU, downstream to each
 * participant): copies are folded into one message by author and text, once per leg.
 */
import { randomUUID } from 'node:crypto';
import type { NameAddr } from '../../core/sip/types';
import type { TranscriptEvent, TranscriptMessage } from '../../core/contract';
import { userKey } from '../../core/policy/users';

export interface Person {
  uri: string;
  name?: string;
}

/** A participant as tracked: where they were first seen decides their role. */
export interface Member extends Person {
  role: string;
}

export type LegState = 'inviting' | 'active' | 'ended';

export interface Leg {
  /** `${callId}|${initiator's From-tag}` */
  key: string;
  callId: string;
  fromTag: string;
  toTag?: string;
  from: Person;
  to: Person;
  /** Multiparty through the IM MCU: the participant at this leg's far end from the MCU. */
  member?: Person;
  state: LegState;
  endReason?: string;
  /** Requests already taken, against retransmissions and second sightings: `${method} ${cseq} ${fromTag}`. */
  seen: Set<string>;
  /** Messages waiting for their final response, by `${cseq} ${fromTag}`. */
  awaiting: Map<string, TranscriptMessage>;
  /** The first message rode in the INVITE and the answer did not accept it: the client sends it again as a MESSAGE. */
  unconfirmedFirst?: TranscriptMessage;
  conv: Conversation;
}

/** Copies of one multiparty message arrive within this long of each other (MCU forwarding delay). */
const FOLD_WINDOW_US = 10_000_000;
/** The same typing state from the same person on another leg within this long is the same event. */
const EVENT_FOLD_US = 2_000_000;

export function person(na: NameAddr): Person {
  const p: Person = { uri: cleanUri(na.uri.raw) };
  if (na.displayName !== undefined && na.displayName !== '') p.name = na.displayName;
  return p;
}

/** 'sip:user@host' without parameters, port or case differences; other URIs as written. */
export function cleanUri(raw: string): string {
  const key = userKey(raw);
  if (key === undefined) return raw;
  return /^[a-z][a-z0-9+.-]*:/.test(key) ? key : `sip:${key}`;
}

export class Conversation {
  readonly id = randomUUID();
  readonly legs = new Map<string, Leg>();
  /** By user key, in order of appearance. */
  readonly members = new Map<string, Member>();
  readonly messages: TranscriptMessage[] = [];
  readonly events: TranscriptEvent[] = [];
  readonly warnings: string[] = [];
  /** Multiparty: who is in the chat now (from legs and the focus's roster), by user key. */
  readonly present = new Map<string, boolean>();
  conversationId?: string;
  /** The IM MCU URI of a conference chat. */
  conference?: string;
  origin?: string;
  lastActivity: number;
  endTs?: number;
  endReason?: string;
  private recent: Array<{ msg: TranscriptMessage; authorKey: string; legs: Set<string>; ts: number }> = [];
  private recentEvents: Array<{ kind: string; who: string; ts: number; leg: string }> = [];

  constructor(
    readonly kind: 'im' | 'multiparty',
    /** 'im:<leg>', 'conf:<conference key>' or 'mp:<Call-ID>'. */
    readonly key: string,
    readonly started: number,
  ) {
    this.lastActivity = started;
  }

  touch(ts: number): void {
    if (ts > this.lastActivity) this.lastActivity = ts;
  }

  /** Adds or completes a participant (a name learned later fills in). */
  addMember(p: Person, role: string): Member {
    const key = userKey(p.uri) ?? p.uri;
    const known = this.members.get(key);
    if (known !== undefined) {
      if (known.name === undefined && p.name !== undefined) known.name = p.name;
      return known;
    }
    const m: Member = { ...p, role };
    this.members.set(key, m);
    return m;
  }

  /**
   * Adds a message (seq assigned here), or, in a multiparty chat, finds the copy of it already taken from
   * another leg and notes the recipient instead. Returns the message the transcript holds.
   */
  addMessage(leg: Leg, m: Omit<TranscriptMessage, 'seq'>, ts: number, recipient?: string): TranscriptMessage {
    const authorKey = userKey(m.author.uri) ?? m.author.uri;
    if (this.kind === 'multiparty') {
      this.recent = this.recent.filter((r) => ts - r.ts <= FOLD_WINDOW_US);
      const copy = this.recent.find((r) => r.authorKey === authorKey && r.msg.text === m.text && !r.legs.has(leg.key));
      if (copy !== undefined) {
        copy.legs.add(leg.key);
        if (recipient !== undefined) this.deliveredTo(copy.msg, recipient);
        return copy.msg;
      }
    }
    const msg: TranscriptMessage = { seq: this.messages.length + 1, ...m };
    if (recipient !== undefined) this.deliveredTo(msg, recipient);
    this.messages.push(msg);
    if (this.kind === 'multiparty') this.recent.push({ msg, authorKey, legs: new Set([leg.key]), ts });
    return msg;
  }

  private deliveredTo(msg: TranscriptMessage, recipient: string): void {
    const list = (msg.deliveredTo ??= []);
    if (!list.includes(recipient)) list.push(recipient);
  }

  addEvent(e: TranscriptEvent, ts: number, leg: string): void {
    if (this.kind === 'multiparty' && (e.kind === 'typing' || e.kind === 'idle') && e.who !== undefined) {
      this.recentEvents = this.recentEvents.filter((r) => ts - r.ts <= EVENT_FOLD_US);
      if (this.recentEvents.some((r) => r.kind === e.kind && r.who === e.who && r.leg !== leg)) return;
      this.recentEvents.push({ kind: e.kind, who: e.who, ts, leg });
    }
    this.events.push(e);
  }

  /** Multiparty presence: 'joined' / 'left' events only when it changes. */
  setPresent(p: Person, inChat: boolean, at: string, ts: number, leg: string): void {
    const key = userKey(p.uri) ?? p.uri;
    if (this.present.get(key) === inChat) return;
    if (!inChat && !this.present.has(key)) return; // never seen in the chat: nothing to leave
    this.present.set(key, inChat);
    this.addMember(p, 'participant');
    this.addEvent({ at, kind: inChat ? 'joined' : 'left', who: cleanUri(p.uri) }, ts, leg);
  }

  get open(): boolean {
    return this.endTs === undefined;
  }
}
