/**
 * From an ended conversation to a transcript, or to nothing: only sessions with at least one participant holding
 * the chat (text) recording licence are kept (requirements, "Chat"), unless the recordAll option says otherwise,
 * and a session in which nobody wrote anything is not a chat.
 */
import type { ChatTranscript, TranscriptParticipant } from '../../core/contract';
import type { UserDirectory } from '../../core/policy/users';
import type { Conversation } from './session';

export type KeepDecision = { keep: true; transcript: ChatTranscript } | { keep: false; reason: 'no-messages' | 'no-licensed-user' };

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

export function decide(conv: Conversation, users: UserDirectory, recordAll: boolean, linkedCalls: ChatTranscript['linkedCalls']): KeepDecision {
  if (conv.messages.length === 0) return { keep: false, reason: 'no-messages' };
  const members = [...conv.members.values()];
  const licensed = users.firstLicensed(
    members.map((m) => m.uri),
    'chat',
  );
  if (licensed === undefined && !recordAll) return { keep: false, reason: 'no-licensed-user' };
  const participants: TranscriptParticipant[] = members.map((m) => {
    const p: TranscriptParticipant = { uri: m.uri, role: m.role, licensed: users.has(m.uri, 'chat') };
    const name = m.name ?? users.lookup(m.uri)?.name;
    if (name !== undefined) p.name = name;
    return p;
  });
  const first = conv.messages[0]!;
  const startMs = Date.parse(first.at);
  const end = conv.endTs ?? conv.lastActivity;
  const t: ChatTranscript = {
    id: conv.id,
    kind: conv.kind,
    callId: [...conv.legs.values()][0]?.callId ?? '',
    callIds: [...new Set([...conv.legs.values()].map((l) => l.callId))],
    // The recording starts with the first message (requirements, "Chat").
    start: first.at,
    end: iso(end),
    durationSec: Math.max(0, Math.round(end / 1000 - startMs)) / 1000,
    endReason: conv.endReason ?? 'end-of-input',
    participants,
    keptFor:
      licensed !== undefined
        ? { reason: 'licence', user: participants.find((p) => users.lookup(p.uri) === licensed)?.uri ?? licensed.uri, ...(licensed.name !== undefined ? { name: licensed.name } : {}) }
        : { reason: 'recordAll' },
    messages: conv.messages,
    events: conv.events,
    linkedCalls,
    warnings: conv.warnings,
  };
  if (conv.conversationId !== undefined) t.conversationId = conv.conversationId;
  if (conv.conference !== undefined) t.conference = conv.conference;
  if (conv.origin !== undefined) t.origin = conv.origin;
  return { keep: true, transcript: t };
}
