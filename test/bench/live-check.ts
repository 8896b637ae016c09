/**
 * The live bench's check of serve's recordings against what the sender sent: each call instance (a pass's fresh copy
 * of a generated call, live-tile.ts) found by its Call-ID in the catalogue, its metadata.json compared with the
 * generated call (RTP packets per direction, SSRCs, nothing lost, no audio dropped by the storage queue).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { LiveCapture } from './live-capture';
import { callSelected, instanceSsrc, parseInstanceCallId } from './live-tile';

export interface Marks {
  /** Global tile times, µs: packets before these had been sent when the phase began. */
  overloadStart: number;
  postStart: number;
  stop: number;
  /** Share of the calls sent until the end of the overload, and from then on (callSelected()). */
  steadyFraction: number;
  postFraction: number;
}

export interface RecordingCheck {
  problems: string[];
  before: { calls: number; recorded: number; exact: number };
  overload: { calls: number; recorded: number; exact: number };
  after: { calls: number; recorded: number; exact: number };
  cut: { calls: number; recorded: number };
  recordings: number;
  unexpected: number;
}

interface RecRow {
  call_id: string;
  status: string;
  metadata: string;
}

interface MetaStats {
  caller?: { packets: number; lost: number; ssrcs: number[] };
  callee?: { packets: number; lost: number; ssrcs: number[] };
  flags?: string[];
}

/** The flag a recording gets when the storage queue dropped some of its audio (core/media/call-recorder.ts). */
const AUDIO_DROPPED = /audio were dropped/;

function sameSet(a: number[] | undefined, b: number[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

export function checkRecordings(recDir: string, cap: LiveCapture, marks: Marks): RecordingCheck {
  const P = cap.tile.periodUs;
  const bySuffix = new Map<string, number>();
  cap.calls.forEach((c, i) => bySuffix.set(c.suffix, i));
  const db = new Database(path.join(recDir, 'catalogue.sqlite'), { readonly: true, fileMustExist: true });
  let rows: RecRow[];
  try {
    rows = db.prepare<[], RecRow>('SELECT call_id, status, metadata FROM recordings').all();
  } finally {
    db.close();
  }
  const found = new Map<string, RecRow[]>();
  let unexpected = 0;
  for (const r of rows) {
    const p = parseInstanceCallId(r.call_id);
    const i = p === undefined ? undefined : bySuffix.get(p.suffix);
    if (p === undefined || i === undefined) {
      unexpected++;
      continue;
    }
    const k = `${p.instance}:${i}`;
    found.set(k, [...(found.get(k) ?? []), r]);
  }
  const out: RecordingCheck = {
    problems: [],
    before: { calls: 0, recorded: 0, exact: 0 },
    overload: { calls: 0, recorded: 0, exact: 0 },
    after: { calls: 0, recorded: 0, exact: 0 },
    cut: { calls: 0, recorded: 0 },
    recordings: rows.length,
    unexpected,
  };
  const missing: string[] = [];
  const inexact: string[] = [];
  let duplicates = 0;
  const lastInstance = Math.floor(marks.stop / P);
  for (let n = 0; n <= lastInstance; n++) {
    cap.calls.forEach((c, i) => {
      const gStart = n * P + c.start;
      const gEnd = n * P + c.end;
      if (gStart >= marks.stop) return;
      // Never sent: not among the share of the calls sent when it would have started.
      if (!callSelected(i, gStart >= marks.postStart ? marks.postFraction : marks.steadyFraction)) return;
      const recs = found.get(`${n}:${i}`) ?? [];
      if (recs.length > 1) duplicates++;
      const rec = recs[0];
      if (gEnd >= marks.stop) {
        out.cut.calls++;
        if (rec !== undefined) out.cut.recorded++;
        return;
      }
      // Before the overload: the call, and the start of its next instance (same addresses and ports), whose INVITE
      // the overload could lose so that its first packets find only this call's flows. After: started after it.
      const phase = (n + 1) * P + c.start < marks.overloadStart ? out.before : gStart >= marks.postStart ? out.after : out.overload;
      phase.calls++;
      if (rec === undefined) {
        if (phase !== out.overload) missing.push(`${n}:${i}`);
        return;
      }
      phase.recorded++;
      let meta: MetaStats;
      try {
        meta = JSON.parse(fs.readFileSync(path.resolve(recDir, rec.metadata), 'utf8')) as MetaStats;
      } catch {
        if (phase !== out.overload) inexact.push(`${n}:${i} (metadata not readable)`);
        return;
      }
      const dropped = (meta.flags ?? []).some((f) => AUDIO_DROPPED.test(f));
      const ssrcsOk = sameSet(meta.caller?.ssrcs, c.callerSsrcs.map((x) => instanceSsrc(x, n))) && sameSet(meta.callee?.ssrcs, c.calleeSsrcs.map((x) => instanceSsrc(x, n)));
      const exact =
        rec.status === 'complete' && meta.caller?.packets === c.caller && meta.callee?.packets === c.callee && meta.caller.lost === 0 && meta.callee.lost === 0 && ssrcsOk && !dropped;
      if (exact) phase.exact++;
      else if (phase !== out.overload) {
        inexact.push(
          `${n}:${i} (${rec.status}, packets ${meta.caller?.packets}/${meta.callee?.packets} of ${c.caller}/${c.callee}, lost ${meta.caller?.lost}/${meta.callee?.lost}` +
            `${ssrcsOk ? '' : ', SSRCs of another instance'}${dropped ? ', audio dropped by the storage queue' : ''})`,
        );
      }
    });
  }
  const few = (l: string[]): string => `${l.slice(0, 3).join(', ')}${l.length > 3 ? ', …' : ''}`;
  if (missing.length > 0) out.problems.push(`${missing.length} calls sent whole outside the overload have no recording (instance:call ${few(missing)})`);
  if (inexact.length > 0) out.problems.push(`${inexact.length} recordings of calls sent whole outside the overload are incomplete: ${few(inexact)}`);
  if (duplicates > 0) out.problems.push(`${duplicates} calls recorded more than once`);
  if (unexpected > 0) out.problems.push(`${unexpected} recordings of calls that were never sent`);
  return out;
}
