/**
 * A real Opus call between two baresip user agents on loopback (baresip's opus module on Debian's libopus: an
 * encoder and a decoder nobody here wrote), captured with dumpcap and recorded by Tapline with the third-party
 * plugin package @tapline/codec-opus, loaded by its npm name as a config's `"use"` names it. Each channel of the
 * recording must be what the other UA decoded and played from the same packets (baresip's sndfile dumps:
 * r ≥ 0.99 after alignment), resemble what its own side played (the source WAV), and not the other side's.
 *
 * test/peers/baresip.ts drives G.711 / G.722 calls; its config writer is not parameterised by codec, so the Opus
 * UA configuration is written here (same recipe: aufile source, aubridge sink, sndfile dumps, stdio commands).
 * Needs baresip with opus.so, dumpcap, sox, and the built package (npm run build in packages/codec-opus, addon built).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness } from '../../core/testing/index';
import type { RecordingMetadata } from '../../core/media/metadata';
import { readWav } from '../../plugins/storage-local/wav';
import { activeSpan, align, channel, type Alignment } from '../audio-compare';
import { makeVoices } from '../voices';
import { onPath, sleep, startCapture, startProc, type Proc } from './proc';
import { freePortBlock } from './ports';

const PACKAGE = '@tapline/codec-opus';
const MODULES = '/usr/lib/baresip/modules';
const RATE = 48000;
const CALL_SEC = 6;
const MIN_R = 0.99;
const MIN_R_SOURCE = 0.95;
const MAX_CROSSTALK = 0.3;

/** Why this test cannot run here, or undefined. */
function unavailable(): string | undefined {
  const missing = ['baresip', 'dumpcap', 'sox'].filter((c) => !onPath(c));
  if (missing.length > 0) return `not installed: ${missing.join(', ')} (Debian packages: baresip, tshark, sox)`;
  for (const m of ['opus.so', 'aufile.so', 'aubridge.so', 'sndfile.so']) if (!fs.existsSync(path.join(MODULES, m))) return `baresip module ${m} not found in ${MODULES}`;
  let pkg: { loadOpusNative?: () => { native?: unknown; reason?: string } };
  try {
    pkg = require(PACKAGE) as typeof pkg;
  } catch (e) {
    return `${PACKAGE} is not built (npm run build in packages/codec-opus): ${(e as Error).message.split('\n')[0]}`;
  }
  const l = pkg.loadOpusNative?.();
  if (l?.native === undefined) return `${PACKAGE}'s libopus addon is not available: ${l?.reason ?? 'no loader'}`;
  return undefined;
}

interface Ua {
  name: 'caller' | 'callee';
  dir: string;
  sip: number;
  rtp: [number, number];
  wav: string;
}

function writeUa(u: Ua): void {
  fs.mkdirSync(u.dir, { recursive: true });
  const lines = [
    'poll_method\t\tepoll',
    `sip_listen\t\t127.0.0.1:${u.sip}`,
    'net_interface\t\t127.0.0.1',
    `rtp_ports\t\t${u.rtp[0]}-${u.rtp[1]}`,
    'rtcp_mux\t\tno',
    `audio_source\t\taufile,${u.wav}`,
    `audio_player\t\taubridge,discard-${u.name}`,
    `audio_alert\t\taubridge,discard-${u.name}`,
    'audio_buffer\t\t20-160',
    'jitter_buffer_delay\t5-10',
    'call_local_timeout\t30',
    `module_path\t\t${MODULES}`,
    ...['stdio.so', 'opus.so', 'aufile.so', 'aubridge.so', 'sndfile.so'].map((m) => `module\t\t\t${m}`),
    'module_app\t\taccount.so',
    'module_app\t\tmenu.so',
    `snd_path\t\t${u.dir}`,
    // Mono Opus at 64 kbit/s; the SDP says opus/48000/2 with stereo=0 (RFC 7587).
    'opus_bitrate\t\t64000',
    'opus_stereo\t\tno',
    'opus_sprop_stereo\tno',
  ];
  fs.writeFileSync(path.join(u.dir, 'config'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(u.dir, 'accounts'), `<sip:${u.name}@127.0.0.1:${u.sip}>;regint=0;answermode=${u.name === 'callee' ? 'auto' : 'manual'};audio_codecs=opus\n`);
}

/** sndfile's dump of a kind ('enc' sent, 'dec' received and played) in a UA folder. */
function dump(dir: string, kind: 'enc' | 'dec'): string {
  const f = fs.readdirSync(dir).find((x) => x.startsWith('dump-') && x.endsWith(`-${kind}.wav`));
  assert.ok(f !== undefined, `sndfile ${kind} dump in ${dir}`);
  return path.join(dir, f);
}

function mono(file: string): Float64Array {
  const w = readWav(file);
  assert.equal(w.sampleRate, RATE, `${file}: sample rate`);
  return channel(w.samples, w.channels, 0);
}

const fmt = (a: Alignment): string => `r=${a.r.toFixed(5)} lag=${a.lag} (${((a.lag / RATE) * 1000).toFixed(1)} ms) over ${a.samples} samples`;

const why = unavailable();
if (why !== undefined) console.warn(`\n  [tapline] baresip Opus call skipped: ${why}\n`);
const describeOpus = why === undefined ? describe : describe.skip;

describeOpus(`real Opus call between two baresip UAs, recorded with ${PACKAGE}${why === undefined ? '' : ` (skipped: ${why})`}`, function () {
  this.timeout(90_000);
  let dir: string;
  const procs: Proc[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-baresip-opus-'));
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it(`each channel is what the other UA decoded from the same packets (r ≥ ${MIN_R}), and its own side's speech`, async () => {
    const voices = makeVoices(dir);
    const src = { caller: path.join(dir, 'caller-48k.wav'), callee: path.join(dir, 'callee-48k.wav') };
    for (const k of ['caller', 'callee'] as const) {
      // aufile wants the codec's rate; padded so the file outlasts the call (its end would end the call).
      const r = spawnSync('sox', [voices[k], '-r', String(RATE), '-c', '1', '-b', '16', '-e', 'signed-integer', src[k], 'pad', '0', String(CALL_SEC + 10)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    const base = await freePortBlock(100);
    const caller: Ua = { name: 'caller', dir: path.join(dir, 'caller'), sip: base, rtp: [base + 10, base + 49], wav: src.caller };
    const callee: Ua = { name: 'callee', dir: path.join(dir, 'callee'), sip: base + 2, rtp: [base + 50, base + 99], wav: src.callee };
    writeUa(caller);
    writeUa(callee);
    const pcap = path.join(dir, 'opus-call.pcap');
    const cap = await startCapture({ iface: 'lo', filter: `udp portrange ${base}-${base + 2} or udp portrange ${base + 10}-${base + 99}`, file: pcap, logFile: path.join(dir, 'dumpcap.log') });
    procs.push(cap);
    const b = startProc('callee baresip', 'baresip', ['-f', callee.dir], path.join(dir, 'callee.log'), { cwd: dir });
    procs.push(b);
    await b.waitFor(/baresip is ready/, 10_000, 'start-up');
    const a = startProc('caller baresip', 'baresip', ['-f', caller.dir], path.join(dir, 'caller.log'), { cwd: dir });
    procs.push(a);
    await a.waitFor(/baresip is ready/, 10_000, 'start-up');
    a.child.stdin?.write(`/dial sip:callee@127.0.0.1:${callee.sip}\n`);
    await a.waitFor(/Call established/, 15_000, 'established call');
    await b.waitFor(/Call established/, 15_000, 'established call');
    assert.match(a.text, /Set audio encoder: opus 48000Hz/);
    await sleep(CALL_SEC * 1000);
    a.child.stdin?.write('/hangup\n');
    await a.waitFor(/terminated \(duration/, 5_000, 'hang-up');
    await b.waitFor(/terminated \(duration/, 5_000, 'BYE from the caller');
    await sleep(300);
    await a.stop();
    await b.stop();
    await cap.stop();

    const recDir = path.join(dir, 'recordings');
    const h = await PluginHarness.core({ with: [{ plugin: PACKAGE }, { plugin: 'storage-local', options: { dir: recDir } }] });
    await h.pcap(pcap);
    await h.stop();
    assert.equal(h.recorded.recordings.length, 1);
    const meta: RecordingMetadata = h.recorded.recordings[0]!;
    assert.equal(meta.call.disposition, 'answered');
    assert.deepEqual(meta.flags, []);
    for (const side of ['caller', 'callee'] as const) {
      const d = meta[side];
      assert.deepEqual(d.codecs.map((c) => c.toUpperCase()), ['OPUS/48000'], JSON.stringify(d));
      assert.ok(d.packets >= (CALL_SEC - 1) * 50 && d.packets <= (CALL_SEC + 2) * 50, JSON.stringify(d));
      assert.equal(d.lost, 0, JSON.stringify(d));
      assert.equal(d.undecoded, 0, JSON.stringify(d));
    }
    assert.ok(meta.audio !== undefined);
    assert.equal(meta.audio.sampleRate, RATE);
    const wav = readWav(meta.audio.file);
    const left = channel(wav.samples, 2, 0);
    const right = channel(wav.samples, 2, 1);
    const ls = activeSpan(left);
    const rs = activeSpan(right);
    // What each UA decoded from the other's packets and played (sndfile sits between the decoder and the player).
    const calleeHeard = mono(dump(callee.dir, 'dec'));
    const callerHeard = mono(dump(caller.dir, 'dec'));
    const l = align(left, calleeHeard, RATE, { span: ls });
    const r = align(right, callerHeard, RATE, { span: rs });
    const lSrc = align(left, mono(src.caller), RATE, { span: ls });
    const rSrc = align(right, mono(src.callee), RATE, { span: rs });
    const lx = align(left, mono(src.callee), RATE, { span: ls });
    const rx = align(right, mono(src.caller), RATE, { span: rs });
    console.log(`      recording ${(left.length / RATE).toFixed(2)} s at ${RATE} Hz (${voices.kind}); ${meta.caller.packets} + ${meta.callee.packets} packets`);
    console.log(`        left  ~ what the callee played: ${fmt(l)}; ~ caller's WAV: ${fmt(lSrc)}`);
    console.log(`        right ~ what the caller played: ${fmt(r)}; ~ callee's WAV: ${fmt(rSrc)}`);
    console.log(`        crosstalk: left ~ callee's WAV r=${lx.r.toFixed(3)}, right ~ caller's WAV r=${rx.r.toFixed(3)}`);
    assert.ok(l.r >= MIN_R, `left vs the callee's decoded audio: ${fmt(l)}`);
    assert.ok(r.r >= MIN_R, `right vs the caller's decoded audio: ${fmt(r)}`);
    assert.ok(lSrc.r >= MIN_R_SOURCE, `left vs the caller's WAV: ${fmt(lSrc)}`);
    assert.ok(rSrc.r >= MIN_R_SOURCE, `right vs the callee's WAV: ${fmt(rSrc)}`);
    assert.ok(Math.abs(lx.r) < MAX_CROSSTALK && Math.abs(rx.r) < MAX_CROSSTALK, 'swapped or mixed channels');
  });
});
