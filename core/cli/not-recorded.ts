/**
 * What a `record` run did not record, and why: SIP messages that could not be read (by reason, with examples),
 * frames skipped (by reason), RTP that matched no call, capture-time outliers. Kept bounded (a few examples per
 * reason, however many there are) and built from the bus and the counters, so it costs nothing per good packet.
 */
import type { PacketBus } from '../bus';
import type { SipMeta } from '../dialog/types';
import type { TaplineError } from '../errors';

const EXAMPLES = 3;
const MAX_REASONS = 100;

export interface ReasonCount {
  reason: string;
  count: number;
  /** A few of them, as "frame N (time, src → dst): message". */
  examples?: string[];
}

export interface NotRecorded {
  /** SIP messages lost: unreadable or unframed (each may have cost a call, or a part of one). */
  sipMessages: ReasonCount[];
  /** Frames that were not IP/UDP/TCP the recorder reads, by reason (counters frames.skipped.*). */
  skippedFrames: ReasonCount[];
  /** RTP streams (flow + SSRC) that matched no call. */
  unmatchedStreams: number;
  /** How many of them the summary lists (the report is bounded: the newest are kept). */
  unmatchedListed: number;
  /** Frames whose capture time jumped far ahead of the others (taken at the time so far). */
  timeOutliers: string[];
}

/** Collects SIP errors from the bus while the run goes on. */
export class SipLossCollector {
  private readonly byReason = new Map<string, ReasonCount>();

  constructor(bus: PacketBus) {
    bus.on('sipError', (err, meta) => this.add(err, meta));
  }

  private add(err: TaplineError, meta: SipMeta): void {
    const reason = typeof err.details.reason === 'string' ? err.details.reason : err.code;
    let r = this.byReason.get(reason);
    if (r === undefined) {
      if (this.byReason.size >= MAX_REASONS) return;
      r = { reason, count: 0, examples: [] };
      this.byReason.set(reason, r);
    }
    r.count++;
    if ((r.examples?.length ?? 0) < EXAMPLES) {
      const when = Number.isFinite(meta.ts) ? new Date(meta.ts / 1000).toISOString() : '?';
      r.examples?.push(`frame ${meta.frameNo} (${when}, ${meta.src}:${meta.sport} → ${meta.dst}:${meta.dport}): ${err.message}`);
    }
  }

  get lost(): number {
    let n = 0;
    for (const r of this.byReason.values()) n += r.count;
    return n;
  }

  report(counters: Record<string, number>, unmatchedListed: number, timeOutliers: readonly string[]): NotRecorded {
    const skipped: ReasonCount[] = [];
    const prefix = 'core.frames.skipped.';
    for (const [k, v] of Object.entries(counters)) if (k.startsWith(prefix) && v > 0) skipped.push({ reason: k.slice(prefix.length), count: v });
    return {
      sipMessages: [...this.byReason.values()].sort((a, b) => b.count - a.count),
      skippedFrames: skipped.sort((a, b) => b.count - a.count),
      unmatchedStreams: Math.max(unmatchedListed, counters['core.media.unmatchedStreams'] ?? 0),
      unmatchedListed,
      timeOutliers: [...timeOutliers],
    };
  }
}

/** The report's top reasons, for the CLI's summary (empty when nothing was lost). */
export function renderNotRecorded(n: NotRecorded): string[] {
  const lines: string[] = [];
  const sip = n.sipMessages.reduce((s, r) => s + r.count, 0);
  if (sip > 0) {
    lines.push(`not recorded: ${sip} SIP message${sip === 1 ? '' : 's'} could not be read:`);
    for (const r of n.sipMessages.slice(0, 5)) lines.push(`  ${r.count} × ${r.reason}${r.examples?.[0] !== undefined ? `, e.g. ${r.examples[0]}` : ''}`);
  }
  const frames = n.skippedFrames.reduce((s, r) => s + r.count, 0);
  if (frames > 0) lines.push(`not recorded: ${frames} frame${frames === 1 ? '' : 's'} skipped (${n.skippedFrames.slice(0, 5).map((r) => `${r.reason} ${r.count}`).join(', ')})`);
  if (n.unmatchedStreams > 0) {
    const listed = n.unmatchedListed < n.unmatchedStreams ? `the newest ${n.unmatchedListed} listed` : 'listed';
    lines.push(`not recorded: ${n.unmatchedStreams} RTP stream${n.unmatchedStreams === 1 ? '' : 's'} matched no call (${listed} in the summary file)`);
  }
  for (const t of n.timeOutliers.slice(0, 3)) lines.push(`capture-time jump ignored: ${t}`);
  return lines;
}
