/** A JSON-safe, human-meaningful view of a call for summaries and metadata. */
import type { Call } from './types';

export interface CallSummary {
  callId: string;
  from: { uri: string; displayName?: string; tag?: string };
  to: { uri: string; displayName?: string; tag?: string };
  callerAddr: string;
  calleeAddr: string;
  transport: string;
  disposition: Call['disposition'];
  endReason?: string;
  finalStatus?: number;
  endedBy?: string;
  start: string;
  ringing?: string;
  answer?: string;
  end?: string;
  durationSec?: number;
  talkSec?: number;
  legs: Array<{ toTag: string; state: string; firstStatus: number }>;
  sdp: Array<{ at: string; from: string; role: string; carriedBy: string; media: string[] }>;
  holds: Array<{ start: string; end?: string; by: string }>;
  replaces?: string;
  refers: Array<{ at: string; by: string; referTo: string }>;
  conversationId?: string;
  /** 'conference' when a party is an MCU (opaque=app:conf:...), 'queue' for a response group / queue application. */
  kind?: 'call' | 'conference' | 'queue';
  /** The MCU's URI, for a conference leg. */
  conference?: string;
  messages: Record<string, number>;
  warnings: string[];
  origin?: string;
  /** Capture nodes (HEP agents) the signalling came through. */
  nodes?: string[];
  /** The recorder joined the call in progress at this request. */
  joinedMidCall?: string;
  /** What a source that terminates the signalling said of the call (SIPREC: session, participants, joins and leaves). */
  source?: { kind: string; facts: Record<string, string | string[]>; events: Array<{ at: string; text: string }> };
}

const iso = (us: number): string => new Date(us / 1000).toISOString();

export function summarizeCall(c: Call): CallSummary {
  const s: CallSummary = {
    callId: c.callId,
    from: { uri: c.caller.uri, ...(c.caller.displayName ? { displayName: c.caller.displayName } : {}), ...(c.caller.tag ? { tag: c.caller.tag } : {}) },
    to: { uri: c.callee.uri, ...(c.callee.displayName ? { displayName: c.callee.displayName } : {}), ...(c.callee.tag ? { tag: c.callee.tag } : {}) },
    callerAddr: `${c.callerAddr.ip}:${c.callerAddr.port}`,
    calleeAddr: `${c.calleeAddr.ip}:${c.calleeAddr.port}`,
    transport: c.transport,
    disposition: c.disposition,
    start: iso(c.times.start),
    legs: [...c.legs.values()].map((l) => ({ toTag: l.toTag, state: l.state, firstStatus: l.firstStatus })),
    sdp: c.sdp.map((r) => ({
      at: iso(r.ts),
      from: r.from,
      role: r.role,
      carriedBy: r.carriedBy,
      media: r.sdp.media.map((m) => {
        const codecs = m.formats
          .map((f) => m.rtpmap.get(Number(f)))
          .filter((x) => x !== undefined)
          .map((x) => `${x.encoding}/${x.clockRate}`);
        return `${m.type} ${m.connection?.address ?? '?'}:${m.port} ${m.proto} ${m.direction} [${codecs.join(' ') || m.formats.join(' ')}]`;
      }),
    })),
    holds: c.holds.map((h) => ({ start: iso(h.start), ...(h.end !== undefined ? { end: iso(h.end) } : {}), by: h.by })),
    refers: c.refers.map((r) => ({ at: iso(r.ts), by: r.by, referTo: r.referTo })),
    kind: 'call',
    messages: c.messageCounts,
    warnings: c.warnings,
  };
  const mcu = [c.caller.uri, c.callee.uri].find((u) => /opaque=app:conf:/i.test(u));
  if (mcu !== undefined) {
    s.kind = 'conference';
    s.conference = mcu;
  } else if ([c.caller.uri, c.callee.uri].some((u) => /opaque=app:rgs|^sips?:rgs[-_]/i.test(u))) s.kind = 'queue';
  if (c.endReason !== undefined) s.endReason = c.endReason;
  if (c.finalStatus !== undefined) s.finalStatus = c.finalStatus;
  if (c.endedBy !== undefined) s.endedBy = c.endedBy;
  if (c.times.ringing !== undefined) s.ringing = iso(c.times.ringing);
  if (c.times.answer !== undefined) s.answer = iso(c.times.answer);
  if (c.times.end !== undefined) {
    s.end = iso(c.times.end);
    s.durationSec = Math.round((c.times.end - c.times.start) / 1000) / 1000;
    if (c.times.answer !== undefined) s.talkSec = Math.round((c.times.end - c.times.answer) / 1000) / 1000;
  }
  if (c.replaces !== undefined) s.replaces = c.replaces.callId;
  if (c.conversationId !== undefined) s.conversationId = c.conversationId;
  if (c.origin !== undefined) s.origin = c.origin;
  if (c.nodes !== undefined) s.nodes = [...c.nodes];
  if (c.joinedMidCall !== undefined) s.joinedMidCall = c.joinedMidCall;
  if (c.source !== undefined) s.source = { kind: c.source.kind, facts: structuredClone(c.source.facts), events: c.source.events.map((e) => ({ at: iso(e.ts), text: e.text })) };
  return s;
}
