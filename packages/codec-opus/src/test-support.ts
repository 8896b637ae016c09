/**
 * Helpers for this package's tests (not part of its API): an Ogg Opus writer so ffmpeg can decode the same payloads
 * independently, RTP parsing, PCM alignment, SIP text, G.711 μ-law, and probes for the programs the tests use.
 * Only node builtins and `tapline/testing`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mulberry32, pcmCorrelation } from 'tapline/testing';

// ---------------------------------------------------------------------------------------------------------------
// Programs

export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** ffmpeg with its own (native, not libopus) Opus decoder: the independent reference. */
export const haveFfmpeg = onPath('ffmpeg') && /\bopus\b/.test(spawnSync('ffmpeg', ['-hide_banner', '-decoders'], { encoding: 'utf8' }).stdout ?? '');

/** A python3 that has pylibsrtp (libsrtp bindings), or undefined. */
export function pythonWithPylibsrtp(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import pylibsrtp'], { stdio: 'ignore' }).status === 0) return py;
  }
  return undefined;
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tapline-opus-${tag}-`));
}

// ---------------------------------------------------------------------------------------------------------------
// Ogg Opus (RFC 3533 pages, RFC 7845 headers): one packet per page, granule positions from each packet's duration.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** The Ogg page checksum: CRC-32, polynomial 0x04c11db7, no reflection, initial value and final XOR 0. */
export function oggCrc(buf: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < buf.length; i++) crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ (buf[i] as number)) & 0xff] as number)) >>> 0;
  return crc >>> 0;
}

function oggPage(packet: Buffer, granule: bigint, serial: number, pageNo: number, flags: number): Buffer {
  if (packet.length >= 255 * 255) throw new Error(`packet of ${packet.length} bytes does not fit one Ogg page`);
  const lacing: number[] = [];
  let left = packet.length;
  while (left >= 255) {
    lacing.push(255);
    left -= 255;
  }
  lacing.push(left);
  const head = Buffer.alloc(27 + lacing.length);
  head.write('OggS', 0, 'latin1');
  head[4] = 0;
  head[5] = flags;
  head.writeBigInt64LE(granule, 6);
  head.writeUInt32LE(serial >>> 0, 14);
  head.writeUInt32LE(pageNo >>> 0, 18);
  head.writeUInt32LE(0, 22);
  head[26] = lacing.length;
  Buffer.from(lacing).copy(head, 27);
  const page = Buffer.concat([head, packet]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

/**
 * An Ogg Opus file of these packets, in order, each `samples(p)` long at 48 kHz (granule = samples so far), with
 * pre-skip 0 so a decoder outputs every sample it decodes.
 */
export function oggOpus(packets: readonly Buffer[], channels: 1 | 2, samples: (p: Buffer) => number): Buffer {
  const serial = 0x7461706c;
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1; // version
  head[9] = channels;
  head.writeUInt16LE(0, 10); // pre-skip
  head.writeUInt32LE(48000, 12); // input sample rate (informational)
  head.writeInt16LE(0, 16); // output gain
  head[18] = 0; // channel mapping family 0 (mono / stereo)
  const vendor = Buffer.from('tapline test', 'utf8');
  const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  tags.writeUInt32LE(0, 12 + vendor.length);
  const pages = [oggPage(head, 0n, serial, 0, 0x02), oggPage(tags, 0n, serial, 1, 0)];
  let granule = 0n;
  packets.forEach((p, i) => {
    granule += BigInt(samples(p));
    pages.push(oggPage(p, granule, serial, i + 2, i === packets.length - 1 ? 0x04 : 0));
  });
  return Buffer.concat(pages);
}

/**
 * ffmpeg's Opus decoders: 'opus' is its own implementation (the default for `ffmpeg -i x.opus`; not bit-exact with
 * libopus: on hybrid-mode speech it correlates ~0.98 with libopus), 'libopus' the reference library through ffmpeg.
 */
export type FfmpegOpusDecoder = 'opus' | 'libopus';

export const haveFfmpegLibopus = onPath('ffmpeg') && /\blibopus\b/.test(spawnSync('ffmpeg', ['-hide_banner', '-decoders'], { encoding: 'utf8' }).stdout ?? '');

/** Decodes an Ogg Opus file with ffmpeg to 48 kHz mono 16-bit. */
export function ffmpegDecode(file: string, decoder: FfmpegOpusDecoder = 'opus'): Int16Array {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-c:a', decoder, '-i', file, '-f', 's16le', '-ar', '48000', '-ac', '1', '-'], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`ffmpeg could not decode ${file}: ${r.stderr?.toString() || r.error?.message || `exit ${r.status}`}`);
  const out = r.stdout as Buffer;
  const pcm = new Int16Array(out.length >> 1);
  for (let i = 0; i < pcm.length; i++) pcm[i] = out.readInt16LE(2 * i);
  return pcm;
}

/** ffmpeg's decode of these Opus payloads (written to `dir` as an Ogg Opus file). */
export function ffmpegReference(dir: string, name: string, payloads: readonly Buffer[], samples: (p: Buffer) => number, decoder: FfmpegOpusDecoder = 'opus'): Int16Array {
  const stereo = payloads.some((p) => p.length > 0 && ((p[0] as number) & 0x04) !== 0);
  const file = path.join(dir, `${name}.opus`);
  fs.writeFileSync(file, oggOpus(payloads, stereo ? 2 : 1, samples));
  return ffmpegDecode(file, decoder);
}

// ---------------------------------------------------------------------------------------------------------------
// RTP

export interface ParsedRtp {
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  payload: Buffer;
}

/** RFC 3550 §5.1: header, CSRCs, extension and padding removed; undefined for anything that is not RTP v2. */
export function parseRtp(b: Buffer): ParsedRtp | undefined {
  if (b.length < 12 || (b[0] as number) >> 6 !== 2) return undefined;
  const cc = (b[0] as number) & 0x0f;
  let off = 12 + 4 * cc;
  if ((b[0] as number) & 0x10) {
    if (b.length < off + 4) return undefined;
    off += 4 + 4 * b.readUInt16BE(off + 2);
  }
  let end = b.length;
  if ((b[0] as number) & 0x20) end -= b[b.length - 1] as number;
  if (off > end) return undefined;
  return { pt: (b[1] as number) & 0x7f, marker: ((b[1] as number) & 0x80) !== 0, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), payload: Buffer.from(b.subarray(off, end)) };
}

/** RTCP (RFC 5761 §4: payload types 64-95 after masking the marker bit are RTCP when multiplexed). */
export function isRtcp(b: Buffer): boolean {
  const pt = (b[1] as number) & 0x7f;
  return b.length >= 8 && (b[0] as number) >> 6 === 2 && pt >= 64 && pt <= 95;
}

// ---------------------------------------------------------------------------------------------------------------
// PCM

/** Block means of `factor` samples (a crude low-pass and decimation, for a coarse lag search). */
function decimate(x: Int16Array, factor: number): Int16Array {
  const out = new Int16Array(Math.floor(x.length / factor));
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let k = 0; k < factor; k++) s += x[i * factor + k] as number;
    out[i] = Math.round(s / factor);
  }
  return out;
}

/**
 * The lag in [-maxLag, maxLag] at which `b` best matches `a` (a[i] ~ b[i + lag]) and the correlation there:
 * coarse search on 8x decimated signals, then sample-exact around the best coarse lag.
 */
export function alignPcm(a: Int16Array, b: Int16Array, maxLag: number): { lag: number; corr: number } {
  const f = 8;
  const da = decimate(a, f);
  const db = decimate(b, f);
  const m = Math.ceil(maxLag / f);
  const coarse: Array<{ lag: number; c: number }> = [];
  for (let lag = -m; lag <= m; lag++) coarse.push({ lag, c: pcmCorrelation(da, db, lag) });
  coarse.sort((x, y) => y.c - x.c);
  let best = { lag: 0, corr: -2 };
  for (const cand of coarse.slice(0, 3)) {
    for (let lag = cand.lag * f - 2 * f; lag <= cand.lag * f + 2 * f; lag++) {
      if (Math.abs(lag) > maxLag) continue;
      const c = pcmCorrelation(a, b, lag);
      if (c > best.corr) best = { lag, corr: c };
    }
  }
  return best;
}

export function rms(x: Int16Array, from = 0, to = x.length): number {
  let s = 0;
  const a = Math.max(0, from);
  const b = Math.min(x.length, to);
  for (let i = a; i < b; i++) s += (x[i] as number) * (x[i] as number);
  return b > a ? Math.sqrt(s / (b - a)) : 0;
}

/** First and one past the last non-zero sample. */
export function activeSpan(x: Int16Array): { from: number; to: number } {
  let from = 0;
  while (from < x.length && x[from] === 0) from++;
  let to = x.length;
  while (to > from && x[to - 1] === 0) to--;
  return { from, to };
}

/** Reads a 16-bit mono WAV as written by sox (no extra chunks needed). */
export function readMonoWav(file: string): { rate: number; pcm: Int16Array } {
  const b = fs.readFileSync(file);
  let off = 12;
  let rate = 0;
  let channels = 1;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
    } else if (id === 'data') {
      const n = Math.floor(Math.min(size, b.length - off - 8) / 2 / channels);
      const pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) pcm[i] = b.readInt16LE(off + 8 + 2 * i * channels);
      return { rate, pcm };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

// ---------------------------------------------------------------------------------------------------------------
// Speech

export const haveSpeechTools = onPath('espeak-ng') && onPath('sox');

/** espeak-ng speech as 16-bit mono at `rate` (sox resampling, dither off). */
export function speech(dir: string, name: string, text: string, rate: number, voice = 'en'): Int16Array {
  const raw = path.join(dir, `${name}-espeak.wav`);
  const out = path.join(dir, `${name}-${rate}.wav`);
  const e = spawnSync('espeak-ng', ['-v', voice, '-s', '150', '-w', raw, text], { encoding: 'utf8' });
  if (e.status !== 0) throw new Error(`espeak-ng failed: ${e.stderr || e.error?.message}`);
  const s = spawnSync('sox', [raw, '-r', String(rate), '-c', '1', '-b', '16', '-D', out], { encoding: 'utf8' });
  if (s.status !== 0) throw new Error(`sox failed: ${s.stderr || s.error?.message}`);
  return readMonoWav(out).pcm;
}

// ---------------------------------------------------------------------------------------------------------------
// G.711 μ-law (ITU-T G.711 §2: segment + 4-bit mantissa of |x| + 132, inverted)

export function linearToUlaw(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, sample));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

export function ulawToLinear(u: number): number {
  const x = ~u & 0xff;
  const exp = (x >> 4) & 7;
  const mant = x & 0x0f;
  const mag = (((mant << 3) + 0x84) << exp) - 0x84;
  return x & 0x80 ? -mag : mag;
}

// ---------------------------------------------------------------------------------------------------------------
// SIP

export interface Party {
  ip: string;
  sipPort: number;
  rtpPort: number;
  user: string;
  /** m= line formats and attribute lines of the audio section. */
  formats: string;
  attributes: string[];
  proto?: string;
}

function sdpOf(p: Party, sessionId: number): string {
  return (
    [
      'v=0',
      `o=${p.user} ${sessionId} 1 IN IP4 ${p.ip}`,
      's=-',
      `c=IN IP4 ${p.ip}`,
      't=0 0',
      `m=audio ${p.rtpPort} ${p.proto ?? 'RTP/AVP'} ${p.formats}`,
      ...p.attributes.map((a) => `a=${a}`),
    ].join('\r\n') + '\r\n'
  );
}

function message(first: string, headers: string[], body: string): string {
  return [first, ...headers, ...(body === '' ? [] : ['Content-Type: application/sdp']), `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n') + '\r\n\r\n' + body;
}

/** INVITE (with the caller's SDP), 200 OK (callee's SDP), ACK, BYE and its 200 OK of one dialog. */
export function sipDialog(callId: string, caller: Party, callee: Party): { invite: string; ok: string; ack: string; bye: string; byeOk: string } {
  const from = `<sip:${caller.user}@${caller.ip}>;tag=from-${callId.length}`;
  const to = `<sip:${callee.user}@${callee.ip}>`;
  const toTagged = `${to};tag=to-${callId.length}`;
  const via = `Via: SIP/2.0/UDP ${caller.ip}:${caller.sipPort};branch=z9hG4bK-${callId}`;
  const common = (cseq: string, toHeader: string, v = via): string[] => [v, `From: ${from}`, `To: ${toHeader}`, `Call-ID: ${callId}`, `CSeq: ${cseq}`];
  const invite = message(`INVITE sip:${callee.user}@${callee.ip}:${callee.sipPort} SIP/2.0`, [...common('1 INVITE', to), 'Max-Forwards: 70', `Contact: <sip:${caller.user}@${caller.ip}:${caller.sipPort}>`], sdpOf(caller, 1001));
  const ok = message('SIP/2.0 200 OK', [...common('1 INVITE', toTagged), `Contact: <sip:${callee.user}@${callee.ip}:${callee.sipPort}>`], sdpOf(callee, 2002));
  const ackVia = `Via: SIP/2.0/UDP ${caller.ip}:${caller.sipPort};branch=z9hG4bK-ack-${callId}`;
  const ack = message(`ACK sip:${callee.user}@${callee.ip}:${callee.sipPort} SIP/2.0`, [...common('1 ACK', toTagged, ackVia), 'Max-Forwards: 70'], '');
  const byeVia = `Via: SIP/2.0/UDP ${caller.ip}:${caller.sipPort};branch=z9hG4bK-bye-${callId}`;
  const bye = message(`BYE sip:${callee.user}@${callee.ip}:${callee.sipPort} SIP/2.0`, [...common('2 BYE', toTagged, byeVia), 'Max-Forwards: 70'], '');
  const byeOk = message('SIP/2.0 200 OK', common('2 BYE', toTagged, byeVia), '');
  return { invite, ok, ack, bye, byeOk };
}

/** A deterministic PRNG (the kit's mulberry32) for loss patterns. */
export const prng = mulberry32;

// ---------------------------------------------------------------------------------------------------------------
// Synthetic speech-like signal

/** A voiced, speech-like test signal: harmonics of a gliding pitch, syllable-rate amplitude modulation. */
export function voiced(seconds: number, rate = 48000, seed = 1): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate));
  let phase = 0;
  const rnd = prng(seed);
  const jitter = Array.from({ length: 64 }, () => rnd());
  for (let i = 0; i < out.length; i++) {
    const t = i / rate;
    const f0 = 120 + 40 * Math.sin(2 * Math.PI * 0.7 * t) + 10 * (jitter[Math.floor(t * 4) % 64] as number);
    phase += (2 * Math.PI * f0) / rate;
    let s = 0;
    for (let h = 1; h <= 12; h++) s += Math.sin(h * phase) / h ** 1.2;
    const env = 0.25 + 0.75 * Math.max(0, Math.sin(2 * Math.PI * 3 * t)) ** 2;
    out[i] = Math.round(5000 * env * s);
  }
  return out;
}

