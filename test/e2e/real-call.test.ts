/**
 * Acceptance: a real call between two SIP clients nobody here wrote — two baresip instances on loopback, each
 * playing a known speech WAV — is captured during the test and recorded by Tapline; each channel of the recording
 * matches what that side played (normalised correlation ≥ 0.99 after alignment, G.711 μ-law and A-law), and does
 * not resemble what the other side played (no swapped channels, no crosstalk). The same with mandatory SDES SRTP
 * (baresip's srtp module keys and encrypts: an encryptor nobody here wrote), in G.711 and in G.722 (16 kHz).
 *
 * Needs baresip, dumpcap (tshark) and sox; espeak-ng for the speech (without it, distinct sox-synthesised signals).
 * TAPLINE_KEEP_PEERS=1 keeps the working folder (WAVs, pcaps, baresip logs, recordings) for listening.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baresipCall, baresipPortsFrom, baresipUnavailable, BARESIP_PORT_BLOCK, type BaresipCodec, type BaresipPorts } from '../peers/baresip';
import { freePortBlock } from '../peers/ports';
import { recordCapture } from '../record-capture';
import { readWav } from '../../plugins/storage-local/wav';
import type { RecordingMetadata } from '../../core/media/metadata';
import { activeSpan, align, channel, segmentLags, speechMask, type Alignment, type Span } from '../audio-compare';
import { makeVoices } from '../voices';

const RATE = 8000;
const CALL_SEC = 7;
const MIN_R = 0.99;
const MAX_CROSSTALK = 0.3;

function mono(file: string, rate: number): Float64Array {
  const w = readWav(file);
  assert.equal(w.sampleRate, rate, `${file}: sample rate`);
  assert.equal(w.channels, 1, `${file}: channels`);
  return channel(w.samples, 1, 0);
}

const fmt = (a: Alignment, rate: number): string => `r=${a.r.toFixed(5)} lag=${a.lag} (${(a.lag / rate).toFixed(4)} s) over ${a.samples} samples (${(a.speechCovered * 100).toFixed(0)}% of the source's speech)`;

/** When a channel falls short, show how the local alignment moves along the source (gaps, drift, distortion). */
function diagnose(rec: Float64Array, src: Float64Array, a: Alignment, span: Span, rate: number): string {
  const segs = segmentLags(rec, src, a.lag, { window: rate / 2, search: 400, mask: speechMask(src, rate), span });
  return segs.map((s) => `  src ${(s.from / rate).toFixed(1)}-${(s.to / rate).toFixed(1)} s: lag ${s.lag} r=${s.r.toFixed(4)}`).join('\n');
}

const unavailable = baresipUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] real-call acceptance test skipped: ${unavailable}\n`);
const describeReal = unavailable === undefined ? describe : describe.skip;

describeReal(`real call between two baresip UAs, recorded${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(60_000);
  let dir: string;
  let voices: { caller: string; callee: string; kind: string };
  // Ports nobody else uses right now: another session's tests may be running baresip on this machine too.
  let ports: BaresipPorts;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-realcall-'));
    voices = makeVoices(dir);
    ports = baresipPortsFrom(await freePortBlock(BARESIP_PORT_BLOCK));
  });

  after(() => {
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  const cases: Array<{ codec: BaresipCodec; encoding: string; srtp: boolean; rate: number; minR: number }> = [
    { codec: 'PCMU', encoding: 'PCMU/8000', srtp: false, rate: RATE, minR: MIN_R },
    { codec: 'PCMA', encoding: 'PCMA/8000', srtp: false, rate: RATE, minR: MIN_R },
    { codec: 'PCMU', encoding: 'PCMU/8000', srtp: true, rate: RATE, minR: MIN_R },
    { codec: 'G722', encoding: 'G722/8000', srtp: true, rate: 16000, minR: MIN_R },
  ];

  for (const { codec, encoding, srtp, rate, minR } of cases) {
    const name = `${codec}${srtp ? ' over SDES SRTP (mandatory)' : ''}`;
    it(`${name}: left channel = caller's WAV, right = callee's (r ≥ ${minR}), no crosstalk (< ${MAX_CROSSTALK})`, async function () {
      const tag = `${codec.toLowerCase()}${srtp ? '-srtp' : ''}`;
      const work = path.join(dir, tag);
      const call = await baresipCall({ dir: work, callerWav: voices.caller, calleeWav: voices.callee, durationSec: CALL_SEC, codec, srtp, capturePcap: path.join(dir, `${tag}.pcap`), ports });
      const rec = await recordCapture(call.pcap);
      try {
        // Metadata: one answered call, both directions flowing with the negotiated codec and (on loopback) no loss.
        assert.equal(rec.recordings.length, 1, `recordings: ${rec.recordings.map((r) => r.call.callId).join(', ')}`);
        const meta: RecordingMetadata = rec.recordings[0]!;
        assert.equal(meta.call.disposition, 'answered');
        for (const side of ['caller', 'callee'] as const) {
          const d = meta[side];
          const what = `${side}: ${JSON.stringify(d)}`;
          // 7 s at 50 packets/s, give or take set-up and hang-up timing.
          assert.ok(d.packets >= (CALL_SEC - 1) * 50 && d.packets <= (CALL_SEC + 2) * 50, what);
          assert.ok(d.lost <= 1, what);
          assert.equal(d.late, 0, what);
          assert.equal(d.undecoded, 0, what);
          assert.deepEqual(d.codecs, [encoding], what);
          if (srtp) {
            // Every packet decrypted with the key baresip put in its own SDP; nothing refused.
            const s = meta.srtp?.[side];
            assert.ok(s !== undefined, `${side}: SRTP stats in the metadata`);
            assert.equal(s.decrypted, d.packets + d.duplicates, `${side}: ${JSON.stringify(s)}`);
            assert.deepEqual(Object.keys(s.failed).filter((r) => r !== 'replay'), [], `${side}: ${JSON.stringify(s)}`);
            assert.ok(s.keys.length >= 1, `${side}: which key decrypted`);
          } else assert.equal(meta.srtp, undefined);
        }
        assert.ok(!meta.flags.some((f) => /not decrypted/.test(f)), meta.flags.join('; '));
        assert.ok(meta.audio !== undefined, 'the recording has audio');
        assert.equal(meta.audio.layout, 'stereo-caller-left');

        const wav = readWav(meta.audio.file);
        assert.equal(wav.sampleRate, rate);
        assert.equal(wav.channels, 2);
        const left = channel(wav.samples, 2, 0);
        const right = channel(wav.samples, 2, 1);
        const callerSrc = mono(call.callerSource, rate);
        const calleeSrc = mono(call.calleeSource, rate);

        // Each side's stream within its channel: the zeros before its first and after its last packet (the other
        // side started earlier or stopped later) are not its audio. Dropouts inside the span do count.
        const ls = activeSpan(left);
        const rs = activeSpan(right);
        const l = align(left, callerSrc, rate, { span: ls });
        const r = align(right, calleeSrc, rate, { span: rs });
        const lx = align(left, calleeSrc, rate, { span: ls });
        const rx = align(right, callerSrc, rate, { span: rs });
        // The spans hold all of each side's packets (160 samples each at 20 ms), so trimming hid no missing audio.
        for (const [side, sp] of [['caller', ls], ['callee', rs]] as const) {
          const expected = (meta[side].packets + meta[side].lost) * (rate / 50);
          assert.ok(Math.abs(sp.to - sp.from - expected) <= 2 * (rate / 50), `${side}'s audio spans ${sp.to - sp.from} samples, its packets ${expected}`);
        }
        const spanText = (s: Span): string => `${s.from}-${s.to}`;
        console.log(`      ${name} (${voices.kind}), recording ${left.length} frames (${(left.length / rate).toFixed(2)} s); caller's stream at ${spanText(ls)}, callee's at ${spanText(rs)}:`);
        console.log(`        left  ~ caller source: ${fmt(l, rate)}`);
        console.log(`        right ~ callee source: ${fmt(r, rate)}`);
        console.log(`        crosstalk: left ~ callee source ${fmt(lx, rate)}`);
        console.log(`                   right ~ caller source ${fmt(rx, rate)}`);

        // Most of each side's speech made it into the call (the sentences are about as long as the call).
        for (const [name, a] of [['left', l], ['right', r]] as const) {
          assert.ok(a.speechCovered > 0.6, `${name}: only ${(a.speechCovered * 100).toFixed(0)}% of the source's speech overlaps the recording`);
          assert.ok(Math.abs(a.lag) < 2 * rate, `${name}: implausible alignment ${a.lag} samples`);
        }
        for (const [name, a] of [['left', l], ['right', r]] as const) {
          // A negative lag means the first samples the peer sent are missing from the recording (not a match failure).
          if (a.lag < 0) console.log(`        note: ${name} channel lacks the first ${-a.lag} samples (${((-a.lag * 1000) / rate).toFixed(1)} ms) of its stream`);
        }
        assert.ok(l.r >= minR, `left channel vs the caller's WAV: ${fmt(l, rate)}\n${diagnose(left, callerSrc, l, ls, rate)}`);
        assert.ok(r.r >= minR, `right channel vs the callee's WAV: ${fmt(r, rate)}\n${diagnose(right, calleeSrc, r, rs, rate)}`);
        assert.ok(Math.abs(lx.r) < MAX_CROSSTALK, `left channel resembles the callee's WAV (swapped or mixed channels): ${fmt(lx, rate)}`);
        assert.ok(Math.abs(rx.r) < MAX_CROSSTALK, `right channel resembles the caller's WAV (swapped or mixed channels): ${fmt(rx, rate)}`);
      } finally {
        if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(rec.dir, { recursive: true, force: true });
        else console.log(`    kept recording ${rec.dir}`);
      }
    });
  }
});
