/**
 * SIPREC recording metadata (RFC 7865 model, RFC 7866 §6 XML): who the participants are and which stream each one
 * sends. Read tolerantly, as SRCs write it:
 *  - both namespaces in use (`urn:ietf:params:xml:ns:recording:1`, and `…:recording` of the drafts, Oracle/Acme,
 *    Sonus), with or without a prefix (`tns:recording`);
 *  - ids as RFC 7865 names them (`participant_id`, `stream_id`, `session_id`) or as the drafts did (`id`, `session`);
 *  - who sends what from `participantstreamassoc` elements (RFC) or from `send`/`recv` inside the participant
 *    (drafts, Oracle/Acme);
 *  - a well-formed document with no participants or streams (BroadWorks' `recording_metadata`) is not an error:
 *    the session is recorded, its parties taken from the SIP headers, and the recording says why.
 * A document that is not well-formed XML is refused (the UAS answers 400 naming the line and column).
 *
 * fast-xml-parser is the XML reader (already a dependency, used for chat bodies); the model is mapped by hand.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface SiprecParticipant {
  id: string;
  /** Address of record, as written (`sip:…`, or a bare `user@host` some SRCs send). */
  aor?: string;
  name?: string;
  /** Stream ids this participant sends (its voice). */
  sends: string[];
  /** Stream ids it receives. */
  receives: string[];
}

export interface SiprecStream {
  id: string;
  /** The SDP `a=label` of the m-line carrying it. */
  label: string;
  session?: string;
}

export interface SiprecSession {
  id: string;
  /** RFC 7865 `sipSessionID` (RFC 7989 Session-ID of the communication session). */
  sipSessionId?: string;
  startTime?: string;
  stopTime?: string;
}

export interface RecordingMetadata {
  datamode?: string;
  sessions: SiprecSession[];
  participants: SiprecParticipant[];
  streams: SiprecStream[];
  /** Call identifiers of the communication session an SRC put in its extension data (Sonus `callData`). */
  callIds: string[];
  /** What could not be used, for the recording's warnings. */
  warnings: string[];
}

export class MetadataError extends Error {}

/** Elements that may repeat: always read as arrays. */
const REPEATED = new Set(['session', 'participant', 'stream', 'participantstreamassoc', 'send', 'recv', 'group', 'nameID', 'name', 'callData', 'callid']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  trimValues: true,
  isArray: (name) => REPEATED.has(name),
});

type Node = Record<string, unknown>;

function obj(v: unknown): Node | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Node) : undefined;
}

function list(v: unknown): Node[] {
  if (v === undefined) return [];
  const a = Array.isArray(v) ? v : [v];
  return a.map((x) => (typeof x === 'string' ? { '#text': x } : (obj(x) ?? {})));
}

/** Text of an element read as a string or as { '#text' }. */
function text(v: unknown): string | undefined {
  if (Array.isArray(v)) return text(v[0]);
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  const o = obj(v);
  const t = o?.['#text'];
  return typeof t === 'string' && t.trim() !== '' ? t.trim() : undefined;
}

function attr(n: Node, ...names: string[]): string | undefined {
  for (const name of names) {
    const v = n[`@${name}`];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return undefined;
}

function texts(v: unknown): string[] {
  return list(v)
    .map((x) => text(x))
    .filter((x): x is string => x !== undefined);
}

/** Parses a recording metadata document; throws MetadataError when it is not well-formed XML. */
export function parseRecordingMetadata(xml: string): RecordingMetadata {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new MetadataError(`rs-metadata is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  let parsed: unknown;
  try {
    parsed = parser.parse(xml);
  } catch (e) {
    // The validator lets through a few things the parser refuses (an unclosed processing instruction).
    throw new MetadataError(`rs-metadata cannot be read: ${(e as Error).message}`);
  }
  const doc = obj(parsed) ?? {};
  const md: RecordingMetadata = { sessions: [], participants: [], streams: [], callIds: [], warnings: [] };
  const root = obj(doc.recording);
  if (root === undefined) {
    const name = Object.keys(doc).find((k) => !k.startsWith('?') && !k.startsWith('@'));
    md.warnings.push(`rs-metadata root element is <${name ?? '?'}>, not <recording> (RFC 7866 §6): no participants or streams read from it`);
    return md;
  }
  md.datamode = text(root.datamode);
  for (const s of list(root.session)) {
    const id = attr(s, 'session_id', 'id');
    if (id === undefined) continue;
    md.sessions.push({ id, sipSessionId: text(s.sipSessionID), startTime: text(s['start-time']), stopTime: text(s['stop-time']) });
  }
  for (const g of list(root.group)) {
    for (const cd of list(g.callData)) md.callIds.push(...texts(cd.callid));
  }
  const byId = new Map<string, SiprecParticipant>();
  for (const p of list(root.participant)) {
    const id = attr(p, 'participant_id', 'id');
    if (id === undefined) {
      md.warnings.push('a participant without an id was ignored');
      continue;
    }
    const nameId = list(p.nameID)[0];
    const aor = nameId === undefined ? undefined : attr(nameId, 'aor');
    const name = nameId === undefined ? undefined : text(nameId.name);
    const part: SiprecParticipant = { id, sends: texts(p.send), receives: texts(p.recv) };
    if (aor !== undefined) part.aor = aor;
    if (name !== undefined) part.name = name;
    byId.set(id, part);
    md.participants.push(part);
  }
  for (const a of list(root.participantstreamassoc)) {
    const id = attr(a, 'participant_id', 'id');
    const part = id === undefined ? undefined : byId.get(id);
    if (part === undefined) {
      md.warnings.push(`participantstreamassoc names participant ${id ?? '(none)'} that the metadata does not define`);
      continue;
    }
    for (const s of texts(a.send)) if (!part.sends.includes(s)) part.sends.push(s);
    for (const s of texts(a.recv)) if (!part.receives.includes(s)) part.receives.push(s);
  }
  for (const s of list(root.stream)) {
    const id = attr(s, 'stream_id', 'id');
    const label = text(s.label);
    if (id === undefined || label === undefined) {
      md.warnings.push(`a stream without ${id === undefined ? 'an id' : 'a label'} was ignored`);
      continue;
    }
    const st: SiprecStream = { id, label };
    const session = attr(s, 'session_id', 'session');
    if (session !== undefined) st.session = session;
    md.streams.push(st);
  }
  return md;
}

/**
 * Merges an update (a re-INVITE's or UPDATE's metadata, often `datamode` partial: only what changed) into what was
 * known: participants and streams by id, the newer one's fields winning.
 */
export function mergeMetadata(old: RecordingMetadata, upd: RecordingMetadata): RecordingMetadata {
  if (upd.datamode === 'complete') return upd;
  const participants = new Map(old.participants.map((p) => [p.id, p] as const));
  for (const p of upd.participants) {
    const was = participants.get(p.id);
    participants.set(p.id, was === undefined ? p : { ...was, ...p, sends: p.sends.length > 0 ? p.sends : was.sends, receives: p.receives.length > 0 ? p.receives : was.receives });
  }
  const streams = new Map(old.streams.map((s) => [s.id, s] as const));
  for (const s of upd.streams) streams.set(s.id, s);
  const sessions = new Map(old.sessions.map((s) => [s.id, s] as const));
  for (const s of upd.sessions) sessions.set(s.id, { ...sessions.get(s.id), ...s });
  return {
    datamode: old.datamode,
    sessions: [...sessions.values()],
    participants: [...participants.values()],
    streams: [...streams.values()],
    callIds: [...new Set([...old.callIds, ...upd.callIds])],
    warnings: [...old.warnings, ...upd.warnings],
  };
}

/** The participant who sends the stream with SDP label `label`, if the metadata says. */
export function senderOfLabel(md: RecordingMetadata, label: string): SiprecParticipant | undefined {
  const stream = md.streams.find((s) => s.label === label);
  if (stream === undefined) return undefined;
  return md.participants.find((p) => p.sends.includes(stream.id));
}
