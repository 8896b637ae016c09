/**
 * The chat plugin's service: feeds the core's SIP messages to the IM session tracker, decides at each session's end
 * whether it is kept (licence), and hands kept transcripts with their renderings to the transcript store.
 */
import type { ChatTranscript, Clock, Counters, LifecycleBus, Logger, TranscriptStore } from '../../core/contract';
import type { PacketBus } from '../../core/bus';
import type { DialogTracker } from '../../core/dialog/tracker';
import type { UserDirectory } from '../../core/policy/users';
import { ChatTracker } from './tracker';
import { decide } from './transcript';
import { renderHtml, renderText } from './render';
import type { Conversation } from './session';

export interface ChatOptions {
  recordAll: boolean;
  idleTimeoutSec: number;
  typingEvents: boolean;
  renderings: Array<'html' | 'text'>;
}

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/** Transcripts kept in memory for summaries and tests (the store holds them all). */
const FINISHED_KEPT = 1000;
/** Calls remembered by Ms-Conversation-ID, to link transcripts to them. */
const CALLS_KEPT = 10_000;

export class ChatRecorder {
  readonly tracker: ChatTracker;
  /** The newest transcripts kept (at most FINISHED_KEPT). */
  readonly finished: ChatTranscript[] = [];
  store: TranscriptStore | undefined;
  private readonly callsByConversation = new Map<string, Array<{ callId: string; start: string }>>();
  private lastTs = 0;
  private readonly unsubscribe: Array<() => void> = [];
  private clock: Clock | undefined;

  constructor(
    private readonly opts: ChatOptions,
    private readonly users: UserDirectory,
    private readonly log: Logger,
    private readonly counters: Counters,
    private readonly events?: LifecycleBus,
  ) {
    this.tracker = new ChatTracker({ idleTimeoutSec: opts.idleTimeoutSec, typingEvents: opts.typingEvents });
    this.tracker.on('end', (c) => this.onEnd(c));
    this.tracker.on('start', (c, callId) => this.events?.emit('chatStarted', { key: c.key, callId, at: iso(c.started), participants: [...c.members.values()].map((m) => m.uri) }));
  }

  /** Follows SIP on the bus; the clock's ticks close idle sessions (capture time replaying, the wall clock live). */
  attach(bus: PacketBus, dialogs?: DialogTracker, clock?: Clock): void {
    this.clock = clock;
    this.unsubscribe.push(
      bus.on('sip', (msg, meta) => {
        this.lastTs = Math.max(this.lastTs, meta.ts);
        this.tracker.onSip(msg, meta);
      }),
    );
    if (clock !== undefined) {
      this.unsubscribe.push(
        clock.onTick((now) => {
          if (clock.mode === 'capture' && now > this.lastTs) this.lastTs = now;
          this.tracker.tick(now);
        }),
      );
    }
    if (dialogs !== undefined) {
      this.unsubscribe.push(
        dialogs.on('callStart', (call) => {
          if (call.conversationId === undefined) return;
          const key = call.conversationId.trim();
          const list = this.callsByConversation.get(key) ?? [];
          list.push({ callId: call.callId, start: new Date(Math.floor(call.times.start / 1000)).toISOString() });
          this.callsByConversation.delete(key); // re-insert: the map's order is age, oldest evicted first
          this.callsByConversation.set(key, list);
          if (this.callsByConversation.size > CALLS_KEPT) this.callsByConversation.delete(this.callsByConversation.keys().next().value as string);
        }),
      );
    }
  }

  /** Ends every open session (end of input, shutdown) and keeps what must be kept. Idempotent. */
  close(): void {
    this.tracker.closeAll(this.clock?.mode === 'wall' ? Math.max(this.lastTs, this.clock.now()) : this.lastTs);
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private onEnd(conv: Conversation): void {
    this.counters.inc('sessions');
    const linked = conv.conversationId !== undefined ? (this.callsByConversation.get(conv.conversationId) ?? []) : [];
    const d = decide(conv, this.users, this.opts.recordAll, linked);
    const ended = { key: conv.key, callId: [...conv.legs.values()][0]?.callId ?? '', at: iso(conv.endTs ?? conv.lastActivity), participants: [...conv.members.values()].map((m) => m.uri) };
    if (!d.keep) {
      this.events?.emit('chatEnded', { ...ended, notKept: d.reason === 'no-messages' ? 'no-messages' : 'unlicensed' });
      this.counters.inc(d.reason === 'no-messages' ? 'sessions.empty' : 'sessions.unlicensed');
      this.log.debug(`IM session ${conv.key} not kept: ${d.reason === 'no-messages' ? 'no message was sent' : 'no participant holds the chat licence'}`, {
        participants: [...conv.members.values()].map((m) => m.uri),
      });
      return;
    }
    const t = d.transcript;
    this.events?.emit('chatEnded', { ...ended, transcript: t });
    this.counters.inc('transcripts');
    this.counters.inc('messages', t.messages.length);
    const bad = t.messages.filter((m) => m.warnings !== undefined).length;
    if (bad > 0) {
      this.counters.inc('messages.malformed', bad);
      this.log.warn(`chat ${t.id}: ${bad} message body(ies) could not be read as declared; kept raw beside their best-effort text`, { callId: t.callId });
    }
    this.finished.push(t);
    if (this.finished.length > FINISHED_KEPT) this.finished.shift();
    if (this.store === undefined) return;
    try {
      const renderings: { html?: string; text?: string } = {};
      if (this.opts.renderings.includes('html')) renderings.html = renderHtml(t);
      if (this.opts.renderings.includes('text')) renderings.text = renderText(t);
      const files = this.store.saveTranscript(t, renderings);
      this.log.info(`chat transcript ${t.id}: ${t.messages.length} message(s), kept for ${t.keptFor.reason === 'licence' ? t.keptFor.user : 'recordAll'}`, { file: files.json });
    } catch (e) {
      this.counters.inc('storeErrors');
      this.log.error(`cannot store chat transcript ${t.id} (Call-ID ${t.callId}): ${(e as Error).message}`);
    }
  }
}
