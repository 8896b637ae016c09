/**
 * The early media an at-edge recording missed: per side, seconds from the 183 (or the answer) to the first packet
 * that reached the Edge, in the metadata (meta.mode) and, past the threshold, as a flag.
 */
import * as assert from 'node:assert/strict';
import type { Call } from '../../core/dialog/types';
import type { DirectionStats, RecordingMetadata } from '../../core/media/metadata';
import { earlyMediaFlags, earlyMediaMissed } from './early-media';
import { checkRecordings, recordGenerated } from './test-recordings';

const T0 = Date.UTC(2026, 0, 1, 9, 0, 0) * 1000;

function fakeCall(times: Partial<Call['times']>): Call {
  return { times: { start: T0, lastActivity: T0, ...times } } as Call;
}

function fakeMeta(caller?: number, callee?: number): RecordingMetadata {
  const side = (us?: number): DirectionStats => {
    const d: DirectionStats = { packets: 1, expected: 1, lost: 0, late: 0, duplicates: 0, ssrcs: [], codecs: [], undecoded: 0 };
    if (us !== undefined) d.firstPacket = new Date(us / 1000).toISOString();
    return d;
  };
  return { caller: side(caller), callee: side(callee), flags: [] } as unknown as RecordingMetadata;
}

describe('mode-atedge: early media missed at the Edge', () => {
  it('the callee from the 183 (else the answer), the caller from the answer (else the 183); never negative; null without a packet or a reference', () => {
    const r = earlyMediaMissed(fakeCall({ earlyMedia: T0 + 40_000, answer: T0 + 500_000 }), fakeMeta(T0 + 2_940_000, T0 + 30_000));
    assert.deepEqual(r, { missedSec: { caller: 2.44, callee: 0 }, from: { caller: 'answer', callee: 'early-media' } });
    assert.deepEqual(earlyMediaMissed(fakeCall({ answer: T0 + 500_000 }), fakeMeta(T0 + 520_000)), { missedSec: { caller: 0.02, callee: null }, from: { caller: 'answer', callee: 'answer' } });
    assert.deepEqual(earlyMediaMissed(fakeCall({ earlyMedia: T0 + 40_000 }), fakeMeta(undefined, T0 + 1_040_000)), { missedSec: { caller: null, callee: 1 }, from: { caller: 'early-media', callee: 'early-media' } }, 'cancelled during early media');
    assert.deepEqual(earlyMediaMissed(fakeCall({}), fakeMeta(T0 + 520_000, T0 + 530_000)), { missedSec: { caller: null, callee: null }, from: { caller: null, callee: null } });
  });

  it('a flag per side past the threshold, saying how much and why', () => {
    const flags = earlyMediaFlags({ missedSec: { caller: 2.4, callee: 0.3 }, from: { caller: 'answer', callee: 'early-media' } }, 1);
    assert.deepEqual(flags, ["the first 2.4 s of the caller's audio were missed: media reached the Edge late (early media in at-edge mode)"]);
    assert.deepEqual(earlyMediaFlags({ missedSec: { caller: 1, callee: null }, from: { caller: 'answer', callee: null } }, 1), [], 'at the threshold: not flagged');
  });

  it('generated calls whose media reached the Edge 2 s after the answer: each side\'s missed seconds match the truth, and are flagged', async () => {
    const r = await recordGenerated('late', { calls: 2, durationSec: 4, ringMs: 800, earlyMedia: true, edgeMediaDelayMs: 2000, lync: true, protectMedia: true, mediaPath: 'turn-udp', edgeParty: 'alternate', seed: 3 });
    checkRecordings(r);
    for (const call of r.truth.calls) {
      const meta = r.recordings.find((m) => m.call.callId === call.callId);
      assert.ok(meta?.mode !== undefined);
      const t183 = call.sip.find((m) => m.label === '183')?.t;
      assert.ok(t183 !== undefined && call.answer !== undefined);
      const missed = meta.mode['earlyMediaMissedSec'] as Record<string, number>;
      assert.deepEqual(meta.mode['missedFrom'], { caller: 'answer', callee: 'early-media' });
      for (const dir of ['caller', 'callee'] as const) {
        const first = call.media[dir]?.firstTime as number;
        assert.ok(first >= call.answer + 2_000_000, 'the generator held the media back');
        const ref = dir === 'callee' ? t183 : call.answer;
        // Metadata times are whole milliseconds.
        assert.ok(Math.abs((missed[dir] as number) - (first - ref) / 1e6) <= 0.002, `call ${call.index} ${dir}: ${missed[dir]} s vs truth ${(first - ref) / 1e6} s`);
        assert.ok(meta.flags.some((f) => f.startsWith(`the first ${(missed[dir] as number).toFixed(1)} s of the ${dir}'s audio were missed`)), JSON.stringify(meta.flags));
      }
      assert.equal(meta.mode['routeAllAudioThroughEdge'], true);
    }
  });

  it('early media that does pass the Edge (no delay): a few milliseconds, no flag', async () => {
    const r = await recordGenerated('early', { calls: 2, durationSec: 2, earlyMedia: true, lync: true, protectMedia: true, mediaPath: 'msturn-tcp', edgeParty: 'alternate', seed: 4 }, { earlyMediaReportSec: 0.5 });
    checkRecordings(r);
    for (const m of r.recordings) {
      const missed = m.mode?.['earlyMediaMissedSec'] as Record<string, number>;
      assert.ok(missed.callee < 0.05, `callee's early media recorded from the start (${missed.callee} s)`);
      assert.ok(missed.caller < 0.05, `caller recorded from the answer (${missed.caller} s)`);
      assert.equal(m.mode?.['earlyMediaReportSec'], 0.5);
    }
  });
});
