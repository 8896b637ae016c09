/**
 * What at-edge recording misses at the start of a call (requirements.md, "AtEdge"): until ICE has settled on the
 * relay, the first seconds may flow directly between the endpoints, or not at all, and never pass the Edge. The
 * measure is, per side, the time from when that side's audio could first flow to its first recorded packet: for
 * the callee (who sends early media) the 183 with SDP, else the answer; for the caller the answer, else the 183
 * (a caller does not talk to a ringing phone: measured from the 183, every early-media call that rang longer than
 * the threshold would be flagged).
 */
import type { Call, Side } from '../../core/dialog/types';
import type { RecordingMetadata } from '../../core/media/metadata';

export type MissedFrom = 'early-media' | 'answer';

export interface EarlyMediaReport {
  /** Seconds (ms precision) from each side's reference to its first packet; 0 when audio was there from the start, null when the side had none (or the call had no early media and no answer). */
  missedSec: Record<Side, number | null>;
  /** Each side's reference: the 183 with SDP or the 200 answer. */
  from: Record<Side, MissedFrom | null>;
}

const SIDES: readonly Side[] = ['caller', 'callee'];

export function earlyMediaMissed(call: Call, meta: RecordingMetadata): EarlyMediaReport {
  const { earlyMedia, answer } = call.times;
  const report: EarlyMediaReport = { missedSec: { caller: null, callee: null }, from: { caller: null, callee: null } };
  for (const side of SIDES) {
    const from: MissedFrom | null = side === 'callee' ? (earlyMedia !== undefined ? 'early-media' : answer !== undefined ? 'answer' : null) : answer !== undefined ? 'answer' : earlyMedia !== undefined ? 'early-media' : null;
    if (from === null) continue;
    report.from[side] = from;
    const ref = (from === 'early-media' ? earlyMedia : answer) as number;
    const first = meta[side].firstPacket;
    const firstUs = first === undefined ? NaN : Date.parse(first) * 1000;
    if (Number.isFinite(firstUs)) report.missedSec[side] = Math.max(0, Math.round((firstUs - ref) / 1000)) / 1000;
  }
  return report;
}

/** The flag a listener reads when a side's start was missed by more than `thresholdSec`. */
export function earlyMediaFlags(report: EarlyMediaReport, thresholdSec: number): string[] {
  const out: string[] = [];
  for (const side of SIDES) {
    const s = report.missedSec[side];
    if (s === null || s <= thresholdSec) continue;
    out.push(`the first ${s.toFixed(1)} s of the ${side}'s audio were missed: media reached the Edge late (early media in at-edge mode)`);
  }
  return out;
}
