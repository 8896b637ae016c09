/** The marks on a recording's timeline the player shows, from its metadata (seconds from the audio's first sample). */
import type { RecordingMetadata } from '../../core/media/metadata';

export interface TimelineEvent {
  atSec: number;
  kind: 'dtmf' | 'hold' | 'resume' | 'transfer' | 'key-change' | 'early-media' | 'source' | 'pause';
  label: string;
}

export function timelineEvents(meta: RecordingMetadata): TimelineEvent[] {
  const origin = Date.parse(meta.audio?.start ?? meta.call.start);
  const at = (iso: string): number => Math.max(0, Math.round((Date.parse(iso) - origin) / 10) / 100);
  const out: TimelineEvent[] = [];
  for (const d of meta.dtmf) out.push({ atSec: d.at, kind: 'dtmf', label: `DTMF ${d.digit} (${d.side})` });
  for (const h of meta.call.holds) {
    out.push({ atSec: at(h.start), kind: 'hold', label: `held by the ${h.by}` });
    if (h.end !== undefined) out.push({ atSec: at(h.end), kind: 'resume', label: 'resumed' });
  }
  for (const r of meta.call.refers) out.push({ atSec: at(r.at), kind: 'transfer', label: `transferred by the ${r.by} to ${r.referTo}` });
  // A new SDP answer during the call with other keys: the SRTP keys changed there.
  const answers = meta.call.sdp.filter((s) => s.role === 'answer');
  if (meta.srtp !== undefined) for (const s of answers.slice(1)) out.push({ atSec: at(s.at), kind: 'key-change', label: `new session description from the ${s.from} (${s.carriedBy})` });
  for (const f of meta.flags) if (/early media/i.test(f)) out.push({ atSec: 0, kind: 'early-media', label: f });
  for (const p of meta.pauses ?? []) {
    out.push({ atSec: at(p.start), kind: 'pause', label: `recording paused by ${p.by}` });
    if (p.end !== undefined) out.push({ atSec: at(p.end), kind: 'resume', label: `recording resumed${p.resumedBy !== undefined ? ` by ${p.resumedBy}` : ''}` });
  }
  for (const e of meta.call.source?.events ?? []) out.push({ atSec: at(e.at), kind: 'source', label: e.text });
  return out.sort((a, b) => a.atSec - b.atSec);
}
