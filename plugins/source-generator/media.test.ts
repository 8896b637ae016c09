/**
 * The RTP the generator writes, decoded by tshark: each stream's tone and bursts, and the media features
 * (hold, silence suppression, SSRC change, reordering, jitter, early media, dynamic payload types).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTshark } from '../../test/tshark';
import { decodeAlaw, decodeUlaw } from '../../core/media/g711';
import { generateCalls } from './generate';
import type { GeneratorOptions } from './scenario';
import { dominantTone, SAMPLE_RATE } from './tones';
import type { GeneratedTruth } from './truth';
import { tsharkRtpPackets, tsharkRtpStreams, tsharkText, type RtpPacketRow } from './tshark-views';

const US_PER_SAMPLE = 1e6 / SAMPLE_RATE;

function bySsrc(rows: RtpPacketRow[], ssrc: number | undefined): RtpPacketRow[] {
  return rows.filter((r) => r.ssrc === ssrc);
}

/** Capture time of every quiet → loud transition (|sample| crossing 3000 after ≥ 50 ms below it). */
function burstOnsets(pkts: RtpPacketRow[], decode: (b: Buffer) => Int16Array): number[] {
  const onsets: number[] = [];
  let quietRun = Infinity;
  for (const p of pkts) {
    const pcm = decode(p.payload);
    for (let i = 0; i < pcm.length; i++) {
      if (Math.abs(pcm[i] ?? 0) > 3000) {
        if (quietRun >= 400) onsets.push(p.time + i * US_PER_SAMPLE);
        quietRun = 0;
      } else quietRun++;
    }
  }
  return onsets;
}

describe('source-generator: media content and features', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-genmedia-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  before(function () {
    if (!haveTshark()) {
      console.log('      tshark not installed (/usr/bin/tshark): skipping the media checks');
      this.skip();
    }
  });

  async function gen(name: string, o: GeneratorOptions): Promise<{ file: string; truth: GeneratedTruth; rows: RtpPacketRow[] }> {
    const file = path.join(tmp, name);
    const truth = await generateCalls(o, file);
    return { file, truth, rows: tsharkRtpPackets(file) };
  }

  for (const [codec, pt] of [['PCMU', undefined], ['PCMA', 96]] as const) {
    it(`each ${codec}${pt === undefined ? '' : ` (dynamic PT ${pt})`} stream carries its own tone, and its bursts land where they were sent`, async () => {
      const { file, truth, rows } = await gen(`tone-${codec}.pcap`, { calls: 3, durationSec: 4, codec, payloadType: pt });
      const decode = codec === 'PCMU' ? (b: Buffer): Int16Array => decodeUlaw(b) : (b: Buffer): Int16Array => decodeAlaw(b);
      const streams = tsharkRtpStreams(file);
      assert.ok(streams.length === 6 && streams.every((s) => s.payload === (codec === 'PCMU' ? 'g711U' : 'PCMA')));
      const seen = new Set<number>();
      for (const c of truth.calls) {
        for (const d of [c.media.caller, c.media.callee]) {
          assert.ok(d !== undefined);
          const pkts = bySsrc(rows, d.ssrcs[0]);
          assert.equal(pkts.length, d.packetsWritten);
          assert.ok(pkts.every((p) => p.pt === (pt ?? 0)));
          const pcm = decode(Buffer.concat(pkts.map((p) => p.payload)));
          const tone = dominantTone(pcm);
          assert.equal(tone.hz, d.frequencyHz, `call ${c.index}: ${tone.hz} Hz found, ${d.frequencyHz} Hz sent`);
          assert.ok(tone.ratio > 20, `tone dominates (ratio ${tone.ratio.toFixed(1)})`);
          seen.add(tone.hz);
          const onsets = burstOnsets(pkts, decode);
          assert.equal(onsets.length, d.burstTimes.length);
          onsets.forEach((t, i) => assert.ok(Math.abs(t - (d.burstTimes[i] ?? 0)) <= 20_000, `burst ${i} at ${t}, sent ${d.burstTimes[i]}`));
        }
      }
      assert.equal(seen.size, 6, 'six distinct tones');
    });
  }

  it('hold: the re-INVITEs carry sendonly/recvonly then sendrecv, and the held callee sends nothing in between', async () => {
    const { file, truth, rows } = await gen('hold.pcap', { calls: 1, durationSec: 6, hold: true });
    const c = truth.calls[0];
    assert.ok(c?.hold !== undefined && c.media.callee !== undefined && c.media.caller !== undefined);
    const attrs = tsharkText(file, ['-Y', 'sdp', '-T', 'fields', '-e', 'sip.CSeq', '-e', 'sdp.media_attr']);
    assert.match(attrs, /2 INVITE\t.*sendonly/);
    assert.match(attrs, /2 INVITE\t.*recvonly/);
    assert.match(attrs, /3 INVITE\t.*sendrecv/);
    const callee = bySsrc(rows, c.media.callee.ssrcs[0]);
    const inHold = callee.filter((p) => p.time > (c.hold?.start ?? 0) + 50_000 && p.time < (c.hold?.end ?? 0));
    assert.equal(inHold.length, 0);
    const resumed = callee.find((p) => p.time > (c.hold?.end ?? 0));
    assert.ok(resumed?.marker === true, 'first packet after the hold has the marker bit');
    const caller = bySsrc(rows, c.media.caller.ssrcs[0]);
    assert.ok(caller.some((p) => p.time > (c.hold?.start ?? 0) + 50_000 && p.time < (c.hold?.end ?? 0)), 'the holder keeps sending');
  });

  it('silence suppression: timestamps jump over each gap, and the marker bit flags each talk-spurt', async () => {
    const { truth, rows } = await gen('silence.pcap', { calls: 1, durationSec: 8, silenceSuppression: { talkMs: 1000, silenceMs: 500 } });
    for (const d of [truth.calls[0]?.media.caller, truth.calls[0]?.media.callee]) {
      assert.ok(d !== undefined);
      const pkts = bySsrc(rows, d.ssrcs[0]);
      const markers = pkts.filter((p) => p.marker).map((p) => p.seq);
      assert.deepEqual(markers, d.markerSeqs);
      assert.ok(markers.length >= 5);
      for (let i = 1; i < pkts.length; i++) {
        const a = pkts[i - 1] as RtpPacketRow;
        const b = pkts[i] as RtpPacketRow;
        assert.equal((b.seq - a.seq) & 0xffff, 1, 'no sequence gap for silence');
        const dts = (b.ts - a.ts) >>> 0;
        assert.equal(b.marker, dts > 160);
        assert.ok(Math.abs(b.time - a.time - dts * US_PER_SAMPLE) < 1, 'timestamp moves with the clock');
      }
    }
  });

  it('SSRC change: each direction switches SSRC, sequence and timestamp base at mid-call, marker set', async () => {
    const { file, truth, rows } = await gen('ssrc.pcap', { calls: 1, durationSec: 4, ssrcChange: true });
    const streams = tsharkRtpStreams(file);
    assert.equal(streams.length, 4);
    for (const d of [truth.calls[0]?.media.caller, truth.calls[0]?.media.callee]) {
      assert.ok(d !== undefined && d.segments.length === 2);
      for (const seg of d.segments) {
        const pkts = bySsrc(rows, seg.ssrc);
        assert.equal(pkts.length, seg.packets);
        assert.deepEqual([pkts[0]?.seq, pkts[0]?.ts, pkts[0]?.marker], [seg.firstSeq, seg.firstTs, true]);
        assert.deepEqual([pkts[pkts.length - 1]?.seq, pkts[pkts.length - 1]?.ts], [seg.lastSeq, seg.lastTs]);
      }
    }
  });

  it('reordering swaps adjacent packets in capture order, and jitter keeps each stream in time order', async () => {
    const { truth, rows } = await gen('reorder.pcap', { calls: 2, durationSec: 5, reorderRate: 0.05, jitterMs: 8 });
    let swaps = 0;
    for (const c of truth.calls) {
      for (const d of [c.media.caller, c.media.callee]) {
        assert.ok(d !== undefined);
        const pkts = bySsrc(rows, d.ssrcs[0]);
        let back = 0;
        for (let i = 1; i < pkts.length; i++) {
          const a = pkts[i - 1] as RtpPacketRow;
          const b = pkts[i] as RtpPacketRow;
          if (((b.seq - a.seq) & 0xffff) > 0x8000) back++;
          assert.ok(b.time > a.time, 'capture times increase');
          const nominal = d.firstTime + ((b.ts - d.firstRtpTs) >>> 0) * US_PER_SAMPLE;
          assert.ok(Math.abs(b.time - nominal) <= 2 * 8000 + 20_000, 'within jitter (+ one slot for a swap)');
        }
        assert.equal(back, d.reordered);
        swaps += back;
      }
    }
    assert.ok(swaps > 0);
  });

  it('early media: 183 with SDP, callee RTP before the 200 OK', async () => {
    const { file, truth, rows } = await gen('early.pcap', { calls: 2, durationSec: 2, earlyMedia: true, ringMs: 2000, cancelRate: 0.5 });
    const sdp183 = tsharkText(file, ['-Y', 'sip.Status-Code == 183 && sdp', '-T', 'fields', '-e', 'sip.Call-ID']).trim().split('\n');
    assert.equal(sdp183.length, 2);
    for (const c of truth.calls) {
      const callee = bySsrc(rows, c.media.callee?.ssrcs[0]);
      const ok = c.sip.find((m) => m.label === '200' && m.cseq === '1 INVITE')?.t ?? c.sip.find((m) => m.label === '487')?.t ?? 0;
      const early = callee.filter((p) => p.time < ok).length;
      assert.ok(early > 40, `${early} early packets before ${c.disposition === 'cancelled' ? '487' : '200'}`);
      if (c.disposition === 'cancelled') {
        assert.equal(c.media.caller, undefined);
        assert.deepEqual(c.sip.map((m) => m.label), ['INVITE', '100', '183', 'CANCEL', '200', '487', 'ACK']);
      }
    }
  });
});
