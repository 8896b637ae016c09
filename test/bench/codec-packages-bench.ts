/**
 * Decode speed of the packaged codecs (packages/codec-g729, packages/codec-opus), per core: seconds of audio
 * decoded per CPU-second of this process, through the Codec contract exactly as the recorder calls it (one decoder
 * per stream, one RTP payload at a time). Reference, in the same run: ffmpeg decoding the same payloads (its own
 * decoders, one process, output discarded), timed by its CPU time.
 *   G.729: the RTP payloads of the corpus capture (SIPp → FreeSWITCH), repeated; ffmpeg reads them as raw G.729.
 *   Opus: 60 s of speech-like audio, encoded by ffmpeg's libopus (20 ms packets) into Ogg; our decoder gets the
 *   Ogg packets, ffmpeg decodes the file.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Codec } from '../../core/contract';
import { PluginHarness } from '../../core/testing/index';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import { parseRtp } from '../../core/media/rtp';
import { corpusPath, haveCorpus } from '../corpus';
import { speechLike } from './srtp-silk';
import { BenchNotAvailable, type BenchResult } from './types';

/** CPU time measured per codec: enough to be well above timer and JIT noise. */
const MIN_CPU_SEC = 1.5;

async function codecOf(pkg: string): Promise<Codec> {
  let h: PluginHarness;
  try {
    h = await PluginHarness.create(pkg);
  } catch (e) {
    throw new BenchNotAvailable(`${pkg} does not load: ${(e as Error).message}`);
  }
  const codec = h.codecs()[0];
  await h.stop();
  if (codec === undefined) throw new BenchNotAvailable(`${pkg} registered no codec`);
  return codec;
}

/** Decodes the payloads (in order, repeatedly, fresh decoder each pass) until MIN_CPU_SEC; × real time per core. */
function decodeSpeed(codec: Codec, stream: { encoding: string; clockRate: number; channels: number; payloadType: number }, payloads: Buffer[], audioSecPerPass: number): { factor: number; passes: number; notDecoded?: string } {
  const start = process.cpuUsage();
  let passes = 0;
  let cpu = 0;
  while (cpu < MIN_CPU_SEC) {
    const dec = codec.createDecoder(stream);
    if (dec.notDecoded !== undefined) return { factor: 0, passes: 0, notDecoded: dec.notDecoded };
    let ts = 0;
    let seq = 0;
    for (const p of payloads) {
      dec.decode(p, { timestamp: ts, seq, marker: false, ssrc: 1, payloadType: stream.payloadType });
      dec.drainAudio?.();
      seq = (seq + 1) & 0xffff;
      ts = (ts + 960) >>> 0;
    }
    dec.close();
    passes++;
    const u = process.cpuUsage(start);
    cpu = (u.user + u.system) / 1e6;
  }
  return { factor: (passes * audioSecPerPass) / cpu, passes };
}

/** ffmpeg's CPU seconds to decode a file (format flags before -i), output discarded. */
function ffmpegCpu(inputArgs: string[]): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'ffmpeg', '-v', 'error', '-threads', '1', ...inputArgs, '-f', 'null', '-'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr.slice(-500)}`);
  const [u, s] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return (u ?? NaN) + (s ?? NaN);
}

async function rtpPayloads(file: string, pt: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await readCapture(file, (f) => {
    const p = decodeFrame(f);
    if (typeof p === 'string' || isSkipReason(p) || p.proto !== 'udp') return;
    const rtp = parseRtp(p.payload);
    if (rtp !== undefined && rtp.payloadType === pt) out.push(Buffer.from(rtp.payload));
  });
  return out;
}

/** Packets of an Ogg Opus file (RFC 7845), skipping the OpusHead and OpusTags headers. */
function oggPackets(buf: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let pending: Buffer[] = [];
  let off = 0;
  while (off + 27 <= buf.length && buf.toString('latin1', off, off + 4) === 'OggS') {
    const nseg = buf[off + 26] as number;
    const lacing = buf.subarray(off + 27, off + 27 + nseg);
    let body = off + 27 + nseg;
    for (const l of lacing) {
      pending.push(buf.subarray(body, body + l));
      body += l;
      if (l < 255) {
        packets.push(Buffer.concat(pending));
        pending = [];
      }
    }
    off = body;
  }
  return packets.slice(2);
}

export async function benchCodecPackages(): Promise<BenchResult[]> {
  if (!fs.existsSync('/usr/bin/ffmpeg')) throw new BenchNotAvailable('ffmpeg not installed (the reference)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-bench-codecs-'));
  const results: BenchResult[] = [];
  try {
    // G.729 (corpus payloads, 10 passes in the ffmpeg file too).
    if (!haveCorpus) throw new BenchNotAvailable('the G.729 row needs ../shared/corpus (pcap/ww_sip-rtp-g729a.pcap)');
    const g729 = await codecOf('@tapline/codec-g729');
    const gp = await rtpPayloads(corpusPath('pcap/ww_sip-rtp-g729a.pcap'), 18);
    const gSec = gp.reduce((n, p) => n + Math.floor(p.length / 10) * 0.01, 0);
    const g = decodeSpeed(g729, { encoding: 'G729', clockRate: 8000, channels: 1, payloadType: 18 }, gp, gSec);
    if (g.notDecoded !== undefined) throw new BenchNotAvailable(`G.729 decoder not available: ${g.notDecoded}`);
    const REPEAT = 20;
    const raw = path.join(work, 'g729.raw');
    fs.writeFileSync(raw, Buffer.concat(Array.from({ length: REPEAT }, () => Buffer.concat(gp.map((p) => p.subarray(0, p.length - (p.length % 10)))))));
    const gRef = (REPEAT * gSec) / ffmpegCpu(['-f', 'g729', '-i', raw]);
    results.push({
      name: 'G.729 decode (@tapline/codec-g729): × real time per core',
      value: Math.round(g.factor),
      unit: '× real time',
      reference: { name: 'ffmpeg g729 decoder, same payloads', value: Math.round(gRef), unit: '× real time' },
      ratio: g.factor / gRef,
      notes: `${gp.length} RTP payloads (${gSec.toFixed(2)} s of audio) decoded ${g.passes} times through the Codec contract`,
    });

    // Opus: 60 s of speech-like audio at 48 kHz, 20 ms packets by libopus.
    const opus = await codecOf('@tapline/codec-opus');
    const pcm = speechLike(60, 48000);
    const wav = path.join(work, 'speech.raw');
    fs.writeFileSync(wav, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    const ogg = path.join(work, 'speech.opus');
    const enc = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 's16le', '-ar', '48000', '-ac', '1', '-i', wav, '-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-application', 'voip', ogg], { encoding: 'utf8' });
    if (enc.status !== 0) throw new BenchNotAvailable(`ffmpeg cannot encode Opus here: ${enc.stderr.slice(-300)}`);
    const op = oggPackets(fs.readFileSync(ogg));
    const o = decodeSpeed(opus, { encoding: 'opus', clockRate: 48000, channels: 2, payloadType: 111 }, op, op.length * 0.02);
    if (o.notDecoded !== undefined) throw new BenchNotAvailable(`Opus decoder not available: ${o.notDecoded}`);
    const oRef = (op.length * 0.02) / ffmpegCpu(['-c:a', 'libopus', '-i', ogg]);
    results.push({
      name: 'Opus decode (@tapline/codec-opus): × real time per core',
      value: Math.round(o.factor),
      unit: '× real time',
      reference: { name: 'ffmpeg with libopus, same packets', value: Math.round(oRef), unit: '× real time' },
      ratio: o.factor / oRef,
      notes: `${op.length} packets of 20 ms (speech-like, 32 kbit/s, mono, 48 kHz) decoded ${o.passes} times through the Codec contract`,
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return results;
}
