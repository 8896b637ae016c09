/**
 * The XML bodies of an IM session that are events, not text: is-composing (RFC 3994), Lync's INFO
 * KeyboardActivity, ms-imdn delivery notices, and the focus's conference-info roster (RFC 4575 with Microsoft
 * extensions, lync-protocols.md §6/§7). Each reader returns undefined for a body it cannot read, never throws.
 */
import { XMLParser } from 'fast-xml-parser';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  isArray: (name) => name === 'user' || name === 'endpoint' || name === 'recipient',
});

type Node = Record<string, unknown>;

function parse(body: string): Node | undefined {
  try {
    const doc = parser.parse(body) as unknown;
    return doc !== null && typeof doc === 'object' ? (doc as Node) : undefined;
  } catch {
    return undefined;
  }
}

function child(n: unknown, name: string): unknown {
  return n !== null && typeof n === 'object' ? (n as Node)[name] : undefined;
}

function text(n: unknown): string | undefined {
  if (typeof n === 'string') return n.trim();
  const t = child(n, '#text');
  return typeof t === 'string' ? t.trim() : undefined;
}

function attr(n: unknown, name: string): string | undefined {
  const v = child(n, `@${name}`);
  return typeof v === 'string' ? v : undefined;
}

function list(n: unknown): unknown[] {
  return Array.isArray(n) ? n : n === undefined ? [] : [n];
}

/** RFC 3994 <isComposing><state>active|idle</state>: true while typing. */
export function readIsComposing(body: string): { typing: boolean } | undefined {
  const state = text(child(child(parse(body), 'isComposing'), 'state'));
  if (state === undefined) return undefined;
  return { typing: state.toLowerCase() === 'active' };
}

/** Lync INFO <KeyboardActivity><status status="type|idle"/>. */
export function readKeyboardActivity(body: string): { typing: boolean } | undefined {
  const status = attr(child(child(parse(body), 'KeyboardActivity'), 'status'), 'status');
  if (status === undefined) return undefined;
  return { typing: status.toLowerCase() === 'type' };
}

/** ms-imdn: which message, and the recipients it concerns with their status ('failed'...) when given. */
export function readImdn(body: string): { messageId?: string; recipients: Array<{ uri: string; status?: string }> } | undefined {
  const imdn = child(parse(body), 'imdn');
  if (imdn === undefined) return undefined;
  const out: { messageId?: string; recipients: Array<{ uri: string; status?: string }> } = { recipients: [] };
  const id = text(child(imdn, 'message-id'));
  if (id !== undefined && id !== '') out.messageId = id;
  for (const r of list(child(imdn, 'recipient'))) {
    const uri = attr(r, 'uri') ?? text(child(r, 'uri'));
    if (uri === undefined) continue;
    const status = text(child(r, 'status'));
    out.recipients.push(status !== undefined && status !== '' ? { uri, status } : { uri });
  }
  return out;
}

export interface RosterUser {
  uri: string;
  name?: string;
  /** In the chat (IM MCU) now: true, left it: false, not said: undefined. */
  inChat: boolean | undefined;
}

/** conference-info: the focus entity and, per user, whether they are in the conference's chat. */
export function readConferenceInfo(body: string): { entity?: string; users: RosterUser[] } | undefined {
  const ci = child(parse(body), 'conference-info');
  if (ci === undefined) return undefined;
  const out: { entity?: string; users: RosterUser[] } = { users: [] };
  const entity = attr(ci, 'entity');
  if (entity !== undefined) out.entity = entity;
  for (const u of list(child(child(ci, 'users'), 'user'))) {
    const uri = attr(u, 'entity');
    if (uri === undefined) continue;
    const user: RosterUser = { uri, inChat: undefined };
    const name = text(child(u, 'display-text'));
    if (name !== undefined && name !== '') user.name = name;
    if (attr(u, 'state') === 'deleted') user.inChat = false;
    else {
      for (const ep of list(child(u, 'endpoint'))) {
        if (attr(ep, 'session-type') !== 'chat') continue;
        const status = text(child(ep, 'status'));
        user.inChat = attr(ep, 'state') === 'deleted' ? false : status === undefined ? undefined : status === 'connected';
      }
    }
    out.users.push(user);
  }
  return out;
}
