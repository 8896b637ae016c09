/**
 * Issue 4 end to end: Lync-style SRTP calls, protected by libsrtp (test/srtp-scenarios.ts), recorded by the real
 * kernel (test/record-capture.ts, what `tapline record` runs) decrypt to the tones that were sent.
 *
 *  a–d (MKI, mid-call join, re-key on re-INVITE, transfer with Replaces): each WAV channel carries its sender's tone
 *      of each key period, 30 dB above every other tone of the scenario, in every 200 ms window of the period; the
 *      metadata's packet counts equal the truth; `meta.srtp[side]` counts every packet decrypted, SRTCP sender
 *      reports authenticated, as many keys as the side had periods, and no failure beyond the in-flight overlap;
 *      no "not decrypted" flag.
 *  e/f (wrong key, no key): the broken side is digital silence, its packets are counted as failed ('auth' /
 *      'no-key'), and a flag says "not decrypted" with the reason; the other side records as in any call.
 *  Options (media.srtp): ignoreKeysOnReplaces leaves the Replaces INVITE's sender without a key (flagged);
 *      keyReset: false refuses old-key packets past the overlap (counted as 'auth').
 *
 * Expects `meta.srtp = { caller?, callee? }` each `{ decrypted, failed: { reason: n }, srtcp: { ok, failed }, keys }`
 * (core/media/metadata.ts). `keys` may be a count or the list of key labels.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RecordingMetadata } from '../../core/media/metadata';
import { readWav } from '../../plugins/storage-local/wav';
import { goertzelPower } from '../../plugins/source-generator/tones';
import { recordCapture, type RecordedCapture } from '../record-capture';
import { describeLibsrtp } from '../srtp-reference';
import { SAMPLE_RATE, SCENARIOS, SIDES, TONE_DBFS, type CallTruth, type DirectionTruth, type PeriodTruth, type Scenario, type ScenarioName, type Side } from '../srtp-scenarios';
import { channelOf } from '../pcm-correlation';

interface SrtpStats {
  decrypted: number;
  failed: Record<string, number>;
  srtcp: { ok: number; failed: number };
  keys: unknown;
}

/** 200 ms windows; the margin keeps them off a period's edges (placement offset, the switch of tone). */
const WINDOW_SEC = 0.2;
const EDGE_US = 100_000;
const LEAK_MARGIN_DB = 30;
/** Goertzel power (normalised by length) of an n-sample window of a full-level tone; we accept down to −6 dB. */
const tonePower = (n: number): number => (32767 * 10 ** (TONE_DBFS / 20)) ** 2 * (n / 4);
/** A short overlap so that the in-flight old-key packets of scenario c (≥ 40 ms after the new key) fall beyond it. */
const SHORT_OVERLAP_SEC = 0.02;

const srtpOf = (m: RecordingMetadata, side: Side): SrtpStats | undefined => (m as { srtp?: Partial<Record<Side, SrtpStats>> }).srtp?.[side];
const keyCount = (k: unknown): number => (Array.isArray(k) ? k.length : typeof k === 'number' ? k : NaN);
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

interface Opened {
  meta: RecordingMetadata;
  /** The WAV's rate: the recorder may write 16 kHz for a call whose SDPs put a wideband codec first (Lync's G.722). */
  rate: number;
  chan: Record<Side, Int16Array>;
  /** WAV sample position of a capture time (µs). */
  pos: (ts: number) => number;
}

function open(rec: RecordedCapture, call: CallTruth): Opened {
  const meta = rec.recordings.find((m) => m.call.callId === call.callId);
  assert.ok(meta !== undefined, `${call.callId}: recorded`);
  assert.ok(meta.audio !== undefined, `${call.callId}: the recording has audio`);
  const wav = readWav(meta.audio.file);
  assert.equal(wav.channels, 2, `${call.callId}: stereo, caller left`);
  assert.equal(wav.sampleRate, meta.audio.sampleRate);
  assert.ok(wav.sampleRate >= SAMPLE_RATE, `${call.callId}: ${wav.sampleRate} Hz WAV`);
  const origin = Date.parse(meta.audio.start) * 1000;
  const rate = wav.sampleRate;
  return {
    meta,
    rate,
    chan: { caller: channelOf(wav.samples, 2, 0), callee: channelOf(wav.samples, 2, 1) },
    pos: (ts) => Math.round(((ts - origin) * rate) / 1e6),
  };
}

/** Every 200 ms window inside the period carries its tone at full level, every other tone ≥ 30 dB below it. */
function assertTone(o: Opened, d: DirectionTruth, p: PeriodTruth, tones: readonly number[], where: string): void {
  const chan = o.chan[d.side];
  const from = Math.max(0, o.pos(p.from + EDGE_US));
  const to = Math.min(chan.length, o.pos(p.to - EDGE_US));
  const n = Math.round(o.rate * WINDOW_SEC);
  const full = tonePower(n);
  let windows = 0;
  for (let s = from; s + n <= to; s += n) {
    const win = chan.subarray(s, s + n);
    const own = goertzelPower(win, p.hz, o.rate);
    const at = `${where}: ${p.hz} Hz at ${(s / o.rate).toFixed(2)} s of the WAV`;
    assert.ok(own >= full / 4, `${at}: ${(10 * Math.log10(own / full)).toFixed(1)} dB against a full-level tone (not decrypted, or misplaced?)`);
    for (const hz of tones) {
      if (hz === p.hz) continue;
      const margin = 10 * Math.log10(own / goertzelPower(win, hz, o.rate));
      assert.ok(margin >= LEAK_MARGIN_DB, `${at}: ${hz} Hz only ${margin.toFixed(1)} dB below it`);
    }
    windows++;
  }
  assert.ok(windows >= 2, `${where}: the ${p.hz} Hz period spans ${windows} whole windows of the WAV`);
}

const notDecryptedFlags = (m: RecordingMetadata): string[] => m.flags.filter((f) => /not decrypted/i.test(f));

/**
 * A direction that must decrypt: tones per period, packet counts, SRTP stats. `allowedFailures` are packets the
 * recorder may refuse (the in-flight overlap); everything captured is either decrypted or counted as failed.
 */
function assertDecrypted(o: Opened, d: DirectionTruth, tones: readonly number[], where: string, allowedFailures = 0): void {
  for (const p of d.periods) assertTone(o, d, p, tones, where);
  const s = srtpOf(o.meta, d.side);
  assert.ok(s !== undefined, `${where}: meta.srtp.${d.side} is present`);
  const failed = sum(s.failed);
  assert.ok(failed <= allowedFailures, `${where}: ${failed} packets not decrypted (${JSON.stringify(s.failed)}), at most ${allowedFailures} expected`);
  assert.equal(s.decrypted + failed, d.packets.length, `${where}: decrypted + failed = SRTP packets captured`);
  assert.equal(s.srtcp.ok, d.srtcp.length, `${where}: SRTCP authenticated`);
  assert.equal(s.srtcp.failed, 0, `${where}: SRTCP refused`);
  assert.equal(keyCount(s.keys), d.periods.length, `${where}: keys that decrypted it (${JSON.stringify(s.keys)})`);
  const ds = o.meta[d.side];
  assert.equal(ds.packets, s.decrypted, `${where}: metadata packets`);
  if (failed === 0) {
    assert.equal(ds.packets, d.packets.length, `${where}: metadata packets = truth`);
    assert.equal(ds.expected, d.packets.length, `${where}: metadata expected = truth`);
    assert.equal(ds.lost, 0, `${where}: nothing lost`);
  }
  assert.equal(ds.late, 0, `${where}: nothing late`);
  assert.deepEqual(ds.ssrcs, [d.ssrc], `${where}: SSRC`);
  assert.deepEqual(ds.codecs, ['PCMU/8000'], `${where}: codec`);
}

/** A direction that cannot be decrypted: silent, counted, flagged with the reason. */
function assertNotDecrypted(o: Opened, d: DirectionTruth, reason: RegExp, failedAs: string | undefined, where: string): void {
  assert.ok(
    o.chan[d.side].every((v) => v === 0),
    `${where}: the ${d.side}'s channel is digital silence (no noise from packets that did not decrypt)`,
  );
  assert.equal(o.meta[d.side].packets, 0, `${where}: no packets recorded`);
  const s = srtpOf(o.meta, d.side);
  assert.ok(s !== undefined, `${where}: meta.srtp.${d.side} is present`);
  assert.equal(s.decrypted, 0, `${where}: nothing decrypted`);
  assert.equal(sum(s.failed), d.packets.length, `${where}: every SRTP packet counted as failed (${JSON.stringify(s.failed)})`);
  if (failedAs !== undefined) assert.equal(s.failed[failedAs], d.packets.length, `${where}: failed as '${failedAs}'`);
  assert.equal(s.srtcp.ok, 0, `${where}: no SRTCP authenticated`);
  const flags = notDecryptedFlags(o.meta).filter((f) => f.includes(d.side));
  assert.ok(
    flags.some((f) => reason.test(f)),
    `${where}: a flag says the ${d.side} was not decrypted and why (${reason}); flags: ${JSON.stringify(o.meta.flags)}`,
  );
}

describeLibsrtp('SRTP calls end to end (issue 4): Lync calls protected by libsrtp record to the tones that were sent', function () {
  this.timeout(60_000);
  let tmp = '';
  const scen = new Map<ScenarioName, Scenario>();
  const recs: RecordedCapture[] = [];
  const get = (n: ScenarioName): Scenario => {
    const s = scen.get(n);
    assert.ok(s !== undefined, `scenario ${n} was built`);
    return s;
  };
  async function record(n: ScenarioName, config: Record<string, unknown> = {}): Promise<RecordedCapture> {
    const s = get(n);
    const rec = await recordCapture(s.pcapPath, config);
    recs.push(rec);
    assert.equal(rec.recordings.length, s.truth.calls.length, `${n}: one recording per call`);
    assert.equal(rec.counters['core.media.unmatched'] ?? 0, 0, `${n}: no RTP left unmatched`);
    return rec;
  }

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-e2e-srtp-'));
    for (const [n, build] of Object.entries(SCENARIOS) as Array<[ScenarioName, (dir: string) => Promise<Scenario>]>) scen.set(n, await build(tmp));
  });
  after(() => {
    for (const r of recs) fs.rmSync(r.dir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** a–d with the default options: both sides of every call decrypt. */
  async function allDecrypt(n: ScenarioName): Promise<void> {
    const s = get(n);
    const rec = await record(n);
    for (const call of s.truth.calls) {
      const o = open(rec, call);
      for (const side of SIDES) assertDecrypted(o, call[side], s.truth.tones, `${n} ${call.callId.slice(0, 22)} ${side}`, call[side].inFlight);
      assert.deepEqual(notDecryptedFlags(o.meta), [], `${n}: no "not decrypted" flag`);
    }
  }

  it('a. MKI (tag 2) both ways: tones, packet counts, every SRTCP sender report authenticated and counted', async () => {
    await allDecrypt('basic-mki');
    const c = get('basic-mki').truth.calls[0]!;
    assert.ok(c.caller.srtcp.length > 0 && c.callee.srtcp.length > 0, 'the scenario has SRTCP each way');
  });

  it('b. mid-call join: the capture starts after both senders wrapped (ROC 1), the SDP before it; every packet decrypts', async () => {
    await allDecrypt('mid-call-join');
  });

  it('c. key change on re-INVITE (Lync key reset: ROC 0, SEQ continuing): each key period decrypts to its own tone', async () => {
    await allDecrypt('rekey');
  });

  it('d. transfer: A–B, then C→A with Replaces and fresh keys; both calls decrypt, the tones continue on the new call', async () => {
    await allDecrypt('transfer');
  });

  it('e. wrong key on one side: that side is silent and flagged "not decrypted" (authentication failed), the other records', async () => {
    const s = get('wrong-key');
    const rec = await record('wrong-key');
    const call = s.truth.calls[0]!;
    const o = open(rec, call);
    assertDecrypted(o, call.caller, s.truth.tones, 'wrong-key caller');
    assertNotDecrypted(o, call.callee, /authenticat/i, 'auth', 'wrong-key callee');
    assert.equal(srtpOf(o.meta, 'callee')?.srtcp.failed, call.callee.srtcp.length, "wrong-key callee: its SRTCP refused and counted");
  });

  it('f. no key on one side (RTP/SAVP with a DTLS fingerprint): silent and flagged "not decrypted" (no key), the other records', async () => {
    const s = get('missing-key');
    const rec = await record('missing-key');
    const call = s.truth.calls[0]!;
    const o = open(rec, call);
    assertDecrypted(o, call.caller, s.truth.tones, 'missing-key caller');
    assertNotDecrypted(o, call.callee, /no key/i, undefined, 'missing-key callee');
  });

  it('media.srtp.ignoreKeysOnReplaces: the Replaces INVITE\'s keys are not taken, so its sender is flagged "not decrypted"', async () => {
    const s = get('transfer');
    const rec = await record('transfer', { media: { srtp: { ignoreKeysOnReplaces: true } } });
    const [first, second] = s.truth.calls as [CallTruth, CallTruth];
    // The first call has no Replaces: untouched.
    const o1 = open(rec, first);
    for (const side of SIDES) assertDecrypted(o1, first[side], s.truth.tones, `transfer call 1 ${side}`);
    // Carol (the new call's caller) was not in the replaced call: no key carries over to her.
    const o2 = open(rec, second);
    assertNotDecrypted(o2, second.caller, /replaces|no key/i, undefined, 'transfer call 2 caller (sent the Replaces INVITE)');
    // Alice's key is in her 200, which has no Replaces header: her side decrypts.
    assertDecrypted(o2, second.callee, s.truth.tones, 'transfer call 2 callee');
  });

  it('media.srtp.keyReset false: old-key packets after the overlap are refused and counted as auth failures (true: found again)', async () => {
    const s = get('rekey');
    const call = s.truth.calls[0]!;
    const overlapUs = SHORT_OVERLAP_SEC * 1e6;
    // Old-key packets captured after the overlap that began with the SDP carrying this side's new key.
    const late = (d: DirectionTruth): number => d.packets.filter((p) => p.period === 0 && p.ts > d.periods[1]!.sdpTs + overlapUs).length;
    for (const d of [call.caller, call.callee]) assert.ok(late(d) > 0 && late(d) === d.inFlight, `rekey ${d.side}: the in-flight packets are past a ${SHORT_OVERLAP_SEC} s overlap`);

    const off = await record('rekey', { media: { srtp: { keyReset: false, overlapSec: SHORT_OVERLAP_SEC } } });
    const o = open(off, call);
    for (const d of [call.caller, call.callee]) {
      const where = `rekey keyReset=false ${d.side}`;
      const st = srtpOf(o.meta, d.side);
      assert.ok(st !== undefined, `${where}: meta.srtp`);
      assert.equal(st.failed['auth'] ?? 0, late(d), `${where}: refused as auth failures (${JSON.stringify(st.failed)})`);
      assert.equal(sum(st.failed), late(d), `${where}: no other failures`);
      assert.equal(st.decrypted, d.packets.length - late(d), `${where}: everything else decrypted`);
      assert.equal(o.meta[d.side].packets, st.decrypted, `${where}: metadata packets`);
      // Each period's own packets still decrypt to its tone.
      for (const p of d.periods) assertTone(o, d, p, s.truth.tones, where);
    }

    const on = await record('rekey', { media: { srtp: { keyReset: true, overlapSec: SHORT_OVERLAP_SEC } } });
    const o2 = open(on, call);
    for (const d of [call.caller, call.callee]) {
      const st = srtpOf(o2.meta, d.side);
      assert.ok(st !== undefined);
      assert.equal(sum(st.failed), 0, `rekey keyReset=true ${d.side}: the old key is tried again, nothing refused (${JSON.stringify(st.failed)})`);
      assert.equal(st.decrypted, d.packets.length);
    }
  });
});
