/**
 * What must show: generated Lync-style calls whose remote party's media reaches the Edge wrapped in TURN (RFC 5766
 * over UDP, MS-TURN over UDP, MS-TURN over TCP 443; SRTP inside, keys from the SDP) are recorded by the mode alone
 * with the core's harness (plus G.711 and storage): every call's WAV carries the caller's tone on the left channel
 * and the callee's on the right (the generator's truth names both), every packet is counted on its side, none is
 * left unmatched. The remote party alternates, so both a remote caller and a remote callee are covered.
 */
import * as assert from 'node:assert/strict';
import type { GeneratorOptions } from '../source-generator/generate';
import { checkRecordings, recordGenerated } from './test-recordings';

const BASE: GeneratorOptions = { calls: 4, concurrency: 2, durationSec: 2, lync: true, protectMedia: true, edgeParty: 'alternate', seed: 11 };

describe('mode-atedge: generated Lync calls through the Edge, recorded', () => {
  for (const mediaPath of ['turn-udp', 'msturn-udp', 'msturn-tcp'] as const) {
    it(`${mediaPath}: each call's audio on the right channel, every packet on its side`, async () => {
      const r = await recordGenerated(mediaPath, { ...BASE, mediaPath });
      checkRecordings(r);
      const wrapped = r.truth.calls.map((c) => c.edge?.messages ?? {});
      // The capture really was wrapped the way asked.
      const kinds = new Set(wrapped.flatMap((m) => Object.keys(m)));
      const expect = { 'turn-udp': ['send-indication', 'data-indication', 'channel-data'], 'msturn-udp': ['ms-send', 'ms-data-indication'], 'msturn-tcp': ['pseudo-tls', 'ms-send', 'ms-data-indication', 'tcp-data'] }[mediaPath];
      for (const k of expect) assert.ok(kinds.has(k), `${mediaPath}: ${k} written`);
      for (const k of expect.filter((x) => x !== 'pseudo-tls')) {
        const written = wrapped.reduce((n, m) => n + (m[k] ?? 0), 0);
        assert.equal(r.counters[`mode-atedge.unwrapped.${k}`], written, `${k}: unwrapped as many as written`);
      }
    });
  }

  it('the same calls sent direct: recorded the same (the mode leaves plain RTP to the core)', async () => {
    checkRecordings(await recordGenerated('direct', { ...BASE, mediaPath: 'direct' }));
  });

  it('turn-udp with loss, reordering and jitter: still every packet on its side', async () => {
    const r = await recordGenerated('lossy', { ...BASE, mediaPath: 'turn-udp', calls: 3, lossRate: 0.03, reorderRate: 0.03, jitterMs: 15, seed: 5 });
    const { truth, recordings } = r;
    assert.equal(r.counters['core.media.unmatched'] ?? 0, 0);
    for (const call of truth.calls) {
      const meta = recordings.find((m) => m.call.callId === call.callId);
      for (const dir of ['caller', 'callee'] as const) assert.equal(meta?.[dir].packets, call.media[dir]?.packetsWritten, `call ${call.index} ${dir}`);
    }
  });
});
