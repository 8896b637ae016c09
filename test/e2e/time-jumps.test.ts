/**
 * Bounded output (the hardening issue): a jump in capture time or in a stream's RTP timestamps must never be written
 * as hours of silence. Each case edits one packet of a generated call (4 s of audio each way) and records it:
 * every WAV stays within a second of the call's real audio span, the run takes seconds, and the jump is said.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness, type RecordingMetadata } from '../../core/testing/index';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame } from '../../core/net/decode';
import { parseRtp } from '../../core/media/rtp';
import { PcapWriter } from '../../core/net/pcap-writer';
import { loadGenerator } from '../bench/recording-bench';
import type { RawFrame } from '../../core/net/types';

const DAY_US = 86_400 * 1e6;
const AUDIO_SEC = 4;

interface Edit {
  name: string;
  /** Rewrites the frame (its ts, or its RTP timestamp in place); rtpIndex counts the caller's RTP packets from 0. */
  edit: (f: RawFrame, rtpIndex: number) => void;
  /** What the run must report. */
  said: (meta: RecordingMetadata, counters: Record<string, number>) => void;
}

/** Offset of the RTP header inside an Ethernet/IPv4/UDP frame from the generator. */
const RTP_AT = 14 + 20 + 8;

function shiftRtpTs(f: RawFrame, ticks: number): void {
  const d = Buffer.from(f.data);
  d.writeUInt32BE((d.readUInt32BE(RTP_AT + 4) + ticks) >>> 0, RTP_AT + 4);
  // The UDP checksum is 0 in generated frames (not computed), so the payload can change.
  f.data = d;
}

const EDITS: Edit[] = [
  {
    name: 'one packet whose capture time is a day ahead',
    edit: (f, i) => {
      if (i === 60) f.ts += DAY_US;
    },
    said: (m, c) => {
      assert.equal(c['core.capture.timeOutliers'], 1);
      assert.ok(m.call.warnings.some((w) => /^capture-time jump ignored: frame \d+: capture time .* is 86400 s after/.test(w)), m.call.warnings.join('; '));
    },
  },
  {
    name: 'one packet whose capture time is ten years ahead',
    edit: (f, i) => {
      if (i === 60) f.ts += 3650 * DAY_US;
    },
    said: (m, c) => {
      assert.equal(c['core.capture.timeOutliers'], 1);
      assert.ok(m.call.warnings.some((w) => /^capture-time jump ignored: .* is 315360000 s after/.test(w)), m.call.warnings.join('; '));
    },
  },
  {
    name: "an RTP timestamp a day off in the stream's first packet",
    edit: (f, i) => {
      if (i === 0) shiftRtpTs(f, 8000 * 86_400);
    },
    said: (m) => assert.ok(m.flags.some((f) => /^(caller|callee): \d+ RTP packets? far from (its|their) stream's timing/.test(f)), m.flags.join('; ')),
  },
  {
    name: "an RTP timestamp a day off in the stream's third packet",
    edit: (f, i) => {
      if (i === 2) shiftRtpTs(f, 8000 * 86_400);
    },
    said: (m) => assert.ok(m.flags.some((f) => /^(caller|callee): \d+ RTP packets? far from (its|their) stream's timing/.test(f)), m.flags.join('; ')),
  },
];

describe('hardening: time jumps are never written as hours of silence', function () {
  this.timeout(60_000);
  let dir: string;
  let clean: string;
  let callerSrc = '';

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-jumps-'));
    clean = path.join(dir, 'clean.pcap');
    const { generateCalls } = loadGenerator();
    await generateCalls({ calls: 1, durationSec: AUDIO_SEC, codec: 'PCMU', seed: 3 }, clean);
    // The caller's media source: the first RTP packet's source address.
    await readCapture(clean, (f) => {
      const p = decodeFrame(f);
      if (callerSrc === '' && typeof p !== 'string' && parseRtp(p.payload) !== undefined && p.sport !== 5060) callerSrc = `${p.src}:${p.sport}`;
    });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function recordEdited(e: Edit, i: number): Promise<{ meta: RecordingMetadata; counters: Record<string, number>; ms: number }> {
    const file = path.join(dir, `edit-${i}.pcap`);
    const w = new PcapWriter(file);
    let rtpIndex = 0;
    await readCapture(clean, (f) => {
      const copy: RawFrame = { ...f, data: Buffer.from(f.data) };
      const p = decodeFrame(f);
      if (typeof p !== 'string' && `${p.src}:${p.sport}` === callerSrc) e.edit(copy, rtpIndex++);
      w.write(copy.ts, copy.data);
    });
    await w.close();
    const out = path.join(dir, `out-${i}`);
    const t = Date.now();
    const h = await PluginHarness.create('codec-g711', { with: [{ plugin: 'storage-local', options: { dir: out } }] });
    await h.pcap(file);
    const rec = await h.stop();
    assert.equal(rec.recordings.length, 1);
    return { meta: rec.recordings[0]!, counters: h.counters(), ms: Date.now() - t };
  }

  EDITS.forEach((e, i) => {
    it(`${e.name}: the WAV stays within a second of the call's audio, quickly, and the jump is said`, async () => {
      const r = await recordEdited(e, i);
      const dur = r.meta.audio?.durationSec ?? NaN;
      console.log(`      ${dur.toFixed(3)} s of audio in ${r.ms} ms; flags: ${r.meta.flags.join('; ') || '(none)'}; outliers ${r.counters['core.capture.timeOutliers'] ?? 0}`);
      assert.ok(Math.abs(dur - AUDIO_SEC) <= 1, `audio ${dur} s for a ${AUDIO_SEC} s call`);
      assert.ok(r.ms < 10_000, `${r.ms} ms`);
      assert.ok(r.meta.caller.packets >= AUDIO_SEC * 50 - 1, `caller packets ${r.meta.caller.packets}`);
      e.said(r.meta, r.counters);
    });
  });
});
