/**
 * Conference URIs (lync-protocols.md §7): 'sip:org@domain;gruu;opaque=app:conf:focus:id:<ID>' is the focus;
 * the MCUs replace 'focus' with 'chat', 'audio-video' or 'applicationsharing'. The IM MCU's chat and the focus's
 * roster belong to one conference: both map to the same key.
 */
import { userKey } from '../../core/policy/users';

export interface ConferenceUri {
  /** 'focus', 'chat', 'audio-video', ... */
  role: string;
  /** Same for the focus and every MCU of one conference: 'org@domain|id:<id>' (lower case). */
  key: string;
}

const OPAQUE = /;\s*opaque=(?:"?)app:conf:([a-z0-9-]+)(?::([^;>?"\s]*))?/i;

export function conferenceUri(uri: string | undefined): ConferenceUri | undefined {
  if (uri === undefined) return undefined;
  const m = OPAQUE.exec(uri);
  if (m === null) return undefined;
  const who = userKey(uri);
  if (who === undefined) return undefined;
  return { role: m[1]!.toLowerCase(), key: `${who}|${(m[2] ?? '').toLowerCase()}` };
}

/** An IM MCU (conference chat) URI. */
export function isChatMcu(uri: string | undefined): boolean {
  return conferenceUri(uri)?.role === 'chat';
}
