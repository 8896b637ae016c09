/**
 * From a recording session's SDP and metadata to what the core records (CallAnnotation): which participant's voice
 * each m-line carries, which two participants are the recording's channels, facts for the metadata.
 *
 * Channels: the participant who sends the first labelled stream is the caller channel (left), the next distinct one
 * the callee channel (right). A conference (more than two participants sending) is a documented mix: every further
 * participant's stream goes to the callee channel, and the recording's warnings say so. Without usable metadata
 * (Cisco network-based recording sends none) the m-lines' order decides: the first is the caller, the second the
 * callee; one m-line alone (a mixed stream, Metaswitch) is recorded on the caller channel and flagged.
 */
import type { CallAnnotation } from '../../core/contracts/ingest';
import type { SdpSession } from '../../core/sdp/types';
import type { SipRequest } from '../../core/sip/types';
import { senderOfLabel, type RecordingMetadata, type SiprecParticipant } from './metadata';

type Side = 'caller' | 'callee';

function partyOf(p: SiprecParticipant): { uri: string; displayName?: string } | undefined {
  if (p.aor === undefined) return undefined;
  // Some SRCs (Sonus) write a bare user@host as the AoR.
  const uri = /^[a-z][a-z0-9+.-]*:/i.test(p.aor) ? p.aor : `sip:${p.aor}`;
  return p.name !== undefined ? { uri, displayName: p.name } : { uri };
}

function describe(p: SiprecParticipant): string {
  return p.name !== undefined ? `${p.name} <${p.aor ?? p.id}>` : (p.aor ?? p.id);
}

/** The SRC's own identifiers of the recorded call, from headers SRCs are known to send. */
function srcCallIds(req: SipRequest, md: RecordingMetadata | undefined): Record<string, string | string[]> {
  const facts: Record<string, string | string[]> = {};
  const h = (name: string): string | undefined => req.headers.get(name);
  const conv = h('X-MS-Conversation-ID') ?? h('Ms-Conversation-ID');
  if (conv !== undefined) facts.conversationId = conv;
  const sid = h('Session-ID');
  if (sid !== undefined) facts.sessionIdHeader = sid;
  const xci = h('X-Cisco-Call-ID') ?? h('Cisco-Guid');
  if (xci !== undefined) facts.ciscoCallId = xci;
  if (md !== undefined && md.callIds.length > 0) facts.srcCallIds = [...md.callIds];
  const sip = md?.sessions.map((s) => s.sipSessionId).filter((x): x is string => x !== undefined) ?? [];
  if (sip.length > 0) facts.sipSessionId = sip;
  return facts;
}

export interface SessionParties {
  annotation: CallAnnotation;
  /** Participants recorded on each channel (for events when they change). */
  caller?: SiprecParticipant;
  callee?: SiprecParticipant;
}

export function sessionParties(req: SipRequest, sdp: SdpSession, md: RecordingMetadata | undefined, prev: SessionParties | undefined): SessionParties {
  const warnings: string[] = [...(md?.warnings ?? [])];
  const senders: Array<Side | undefined> = [];
  let caller = prev?.caller;
  let callee = prev?.callee;
  const usable = md !== undefined && md.participants.length > 0 && md.streams.length > 0;
  const conference = new Set<string>();
  if (usable) {
    const byLine = sdp.media.map((m) => (m.label === undefined ? undefined : senderOfLabel(md, m.label)));
    // Channels keep the participants they had: a participant who leaves frees the channel for the one who joins.
    const present = new Set(byLine.filter((p) => p !== undefined).map((p) => p.id));
    if (caller !== undefined && !present.has(caller.id)) caller = undefined;
    if (callee !== undefined && !present.has(callee.id)) callee = undefined;
    for (const p of byLine) {
      if (p === undefined || p.id === caller?.id || p.id === callee?.id) continue;
      if (caller === undefined) caller = p;
      else if (callee === undefined) callee = p;
    }
    // Metadata objects are replaced on every update: keep the newest description of each channel's participant.
    if (caller !== undefined) caller = md.participants.find((p) => p.id === caller?.id) ?? caller;
    if (callee !== undefined) callee = md.participants.find((p) => p.id === callee?.id) ?? callee;
    // One stream that several participants send (a mixed stream, Metaswitch): it goes on the caller channel; the
    // others are named as the callee and the recording says the channel is a mix.
    sdp.media.forEach((m) => {
      if (m.label === undefined) return;
      const stream = md.streams.find((x) => x.label === m.label);
      const mixed = stream === undefined ? [] : md.participants.filter((p) => p.sends.includes(stream.id));
      if (mixed.length < 2) return;
      for (const p of mixed) {
        if (p.id === caller?.id || p.id === callee?.id) continue;
        if (caller === undefined) caller = p;
        else if (callee === undefined) callee = p;
      }
      warnings.push(`stream ${m.label} is a mix of ${mixed.map(describe).join(' and ')}: recorded on one channel`);
    });
    byLine.forEach((p, i) => {
      const m = sdp.media[i];
      if (p === undefined) {
        if (m?.type === 'audio' && m.port !== 0) warnings.push(`m-line ${i + 1} (label ${m.label ?? 'none'}): the metadata names no participant sending it; recorded on the ${i === 0 ? 'caller' : 'callee'} channel`);
        senders.push(m?.type === 'audio' ? (i === 0 ? 'caller' : 'callee') : undefined);
      } else if (p.id === caller?.id) senders.push('caller');
      else {
        if (p.id !== callee?.id) conference.add(describe(p));
        senders.push('callee');
      }
    });
  } else {
    if (md === undefined) warnings.push('no recording metadata: the channels follow the m-lines (first caller, second callee) and the parties are the SIP From and To');
    const audio = sdp.media.filter((m) => m.type === 'audio');
    let n = 0;
    for (const m of sdp.media) senders.push(m.type === 'audio' ? (n++ === 0 ? 'caller' : 'callee') : undefined);
    if (audio.length === 1) warnings.push('one stream for the whole session (a mix of both parties): recorded on the caller channel');
  }
  if (conference.size > 0) warnings.push(`conference: more than two participants send; ${[...conference].join(', ')} share the callee channel (mixed)`);
  const facts = srcCallIds(req, md);
  if (md !== undefined) {
    const session = md.sessions[0];
    if (session !== undefined) facts.siprecSessionId = session.id;
    if (md.participants.length > 0) facts.participants = md.participants.map(describe);
  }
  const annotation: CallAnnotation = { kind: 'siprec', mediaSenders: senders, facts, warnings };
  const events: string[] = [];
  for (const [side, now, was] of [['caller', caller, prev?.caller] as const, ['callee', callee, prev?.callee] as const]) {
    if (prev !== undefined && now?.id !== was?.id) {
      if (was !== undefined) events.push(`${describe(was)} left (${side} channel)`);
      if (now !== undefined) events.push(`${describe(now)} joined (${side} channel)`);
    }
  }
  if (events.length > 0) annotation.events = events;
  const cp = caller === undefined ? undefined : partyOf(caller);
  const ce = callee === undefined ? undefined : partyOf(callee);
  if (cp !== undefined) annotation.caller = cp;
  if (ce !== undefined) annotation.callee = ce;
  const out: SessionParties = { annotation };
  if (caller !== undefined) out.caller = caller;
  if (callee !== undefined) out.callee = callee;
  return out;
}
