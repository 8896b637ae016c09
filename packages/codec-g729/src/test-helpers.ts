/**
 * Helpers of this package's tests: speech from espeak-ng, G.729 calls made with the addon's encoder, a small pcap
 * reader for the corpus capture, and SIP text for the harness. Uses only node builtins and tapline/testing.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readWavFile, rtpPacket, type PluginHarness } from 'tapline/testing';
import { createG729Encoder } from './codec';
import { G729_FRAME_SAMPLES } from './native';

export const FFMPEG = '/usr/bin/ffmpeg';
export const SOX = '/usr/bin/sox';
export const ESPEAK = '/usr/bin/espeak-ng';

export function run(cmd: string, args: string[]): Buffer {
  return execFileSync(cmd, args, { maxBuffer: 1 << 27, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function s16(buf: Buffer): Int16Array {
  const out = new Int16Array(buf.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(2 * i);
  return out;
}

export function concat(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function rms(a: Int16Array, from = 0, to = a.length): number {
  let e = 0;
  const lo = Math.max(0, from);
  const hi = Math.min(a.length, to);
  for (let i = lo; i < hi; i++) e += (a[i] as number) ** 2;
  return hi > lo ? Math.sqrt(e / (hi - lo)) : 0;
}

/** A deterministic pseudo-random sequence in [0, 1) (a 32-bit LCG, Numerical Recipes constants). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

/**
 * 8 kHz mono speech: espeak-ng's voice, resampled by sox without dither (-D, so it is the same every run), with
 * `padMs` of silence before and after; `noise` adds seeded low-level background noise (what VAD sees in a call).
 */
export function speech8k(dir: string, text: string, opts: { padMs?: number; noise?: number; seed?: number } = {}): Int16Array {
  const raw = path.join(dir, 'espeak.wav');
  const out = path.join(dir, 'speech8k.wav');
  run(ESPEAK, ['-w', raw, text]);
  run(SOX, ['-D', raw, '-r', '8000', '-c', '1', '-b', '16', out]);
  const w = readWavFile(out);
  const pad = Math.round(((opts.padMs ?? 0) * 8000) / 1000);
  const src = new Int16Array(w.samples.length + 2 * pad);
  src.set(w.samples, pad);
  if ((opts.noise ?? 0) > 0) {
    const rnd = seeded(opts.seed ?? 1);
    const amp = opts.noise as number;
    for (let i = 0; i < src.length; i++) src[i] = Math.max(-32768, Math.min(32767, (src[i] as number) + Math.round((rnd() - 0.5) * 2 * amp)));
  }
  return src;
}

/** Encodes 8 kHz PCM with bcg729 (VAD on or off), one entry per 10 ms frame: 10 bytes, 2 (SID) or 0 (not sent). */
export function encodeG729(pcm: Int16Array, vad: boolean): Buffer[] {
  const enc = createG729Encoder(vad);
  const frames: Buffer[] = [];
  try {
    const block = new Int16Array(G729_FRAME_SAMPLES);
    for (let o = 0; o < pcm.length; o += G729_FRAME_SAMPLES) {
      block.fill(0);
      block.set(pcm.subarray(o, Math.min(o + G729_FRAME_SAMPLES, pcm.length)));
      frames.push(enc.encode(block));
    }
  } finally {
    enc.close();
  }
  return frames;
}

export interface G729Packet {
  /** Packet index (the sequence number is seq0 + index). */
  index: number;
  /** RTP timestamp offset of the packet's first frame (samples from the start of the source). */
  ts: number;
  payload: Buffer;
  /** Frames in the payload (speech frames, plus one for a SID). */
  frames: number;
  sid: boolean;
}

/**
 * Frames into RTP payloads as a G.729B sender does (RFC 3551 §4.5.6): up to `perPacket` consecutive frames per
 * packet, a SID frame always last, an untransmitted frame (DTX) ends the packet and is not sent.
 */
export function packetize(frames: readonly Buffer[], perPacket: number): G729Packet[] {
  const out: G729Packet[] = [];
  let cur: Buffer[] = [];
  let start = 0;
  const end = (): void => {
    if (cur.length === 0) return;
    const payload = Buffer.concat(cur);
    out.push({ index: out.length, ts: start * G729_FRAME_SAMPLES, payload, frames: cur.length, sid: payload.length % 10 === 2 });
    cur = [];
  };
  frames.forEach((f, i) => {
    if (f.length === 0) {
      end();
      return;
    }
    if (cur.length === 0) start = i;
    cur.push(f);
    if (f.length === 2 || cur.length === perPacket) end();
  });
  end();
  return out;
}

export interface UdpRecord {
  /** Capture time, µs since the epoch. */
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
}

/** UDP over IPv4 (over Ethernet, or raw IP as the recorder keeps undecoded media) from a classic (libpcap) capture file. */
export function readPcapUdp(file: string): UdpRecord[] {
  const b = fs.readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file}: not a classic pcap file`);
  const nano = (le ? magic : b.readUInt32BE(0)) === 0xa1b23c4d;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  if (linkType !== 1 && linkType !== 101) throw new Error(`${file}: link type ${linkType}, only Ethernet and raw IP are read here`);
  const out: UdpRecord[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const sec = u32(o);
    const frac = u32(o + 4);
    const incl = u32(o + 8);
    const f = b.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    let ip: Buffer;
    if (linkType === 1) {
      let e = 12;
      let type = f.readUInt16BE(e);
      if (type === 0x8100) {
        e += 4;
        type = f.readUInt16BE(e);
      }
      if (type !== 0x0800) continue;
      ip = f.subarray(e + 2);
    } else {
      if (f.length < 20 || f[0]! >> 4 !== 4) continue;
      ip = f;
    }
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ip[9] !== 17) continue;
    const total = ip.readUInt16BE(2);
    const udp = ip.subarray(ihl, total);
    const ipStr = (at: number) => `${ip[at]}.${ip[at + 1]}.${ip[at + 2]}.${ip[at + 3]}`;
    out.push({
      ts: sec * 1e6 + (nano ? Math.floor(frac / 1000) : frac),
      src: ipStr(12),
      dst: ipStr(16),
      sport: udp.readUInt16BE(0),
      dport: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, udp.readUInt16BE(4))),
    });
  }
  return out;
}

/** The fixed RTP header fields of a UDP payload, or undefined when it is not RTP (RFC 3550 §5.1; no CSRC/extension handling beyond skipping them). */
export function parseRtpHeader(p: Buffer): { pt: number; seq: number; ts: number; ssrc: number; payload: Buffer } | undefined {
  if (p.length < 12 || p[0]! >> 6 !== 2) return undefined;
  const cc = p[0]! & 0x0f;
  let h = 12 + 4 * cc;
  if ((p[0]! & 0x10) !== 0) {
    if (p.length < h + 4) return undefined;
    h += 4 + 4 * p.readUInt16BE(h + 2);
  }
  let end = p.length;
  if ((p[0]! & 0x20) !== 0) end -= p[p.length - 1]!;
  if (h > end) return undefined;
  const pt = p[1]! & 0x7f;
  if (pt >= 72 && pt <= 76) return undefined; // RTCP
  return { pt, seq: p.readUInt16BE(2), ts: p.readUInt32BE(4), ssrc: p.readUInt32BE(8), payload: p.subarray(h, end) };
}

export interface CallEnds {
  caller: { ip: string; rtpPort: number };
  callee: { ip: string; rtpPort: number };
}

/** SIP of a G.729 call (INVITE with SDP, 200 OK with SDP, ACK; then BYE and its 200) fed to the harness. */
export class G729Call {
  constructor(
    private readonly h: PluginHarness,
    readonly callId: string,
    readonly ends: CallEnds = { caller: { ip: '10.7.29.1', rtpPort: 40000 }, callee: { ip: '10.7.29.2', rtpPort: 50000 } },
    private readonly fmtp?: string,
  ) {}

  private sdp(ip: string, port: number): string {
    const lines = ['v=0', `o=- 729 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} RTP/AVP 18`, 'a=rtpmap:18 G729/8000'];
    if (this.fmtp !== undefined) lines.push(`a=fmtp:18 ${this.fmtp}`);
    lines.push('a=ptime:20', 'a=sendrecv', '');
    return lines.join('\r\n');
  }

  private msg(first: string, cseq: string, toTag: boolean, body = ''): string {
    const { caller, callee } = this.ends;
    return (
      [
        first,
        `Via: SIP/2.0/UDP ${caller.ip}:5060;branch=z9hG4bK-${this.callId}-${cseq.replace(/\s/g, '')}`,
        `From: "Alice" <sip:alice@${caller.ip}>;tag=a729`,
        `To: <sip:bob@${callee.ip}>${toTag ? ';tag=b729' : ''}`,
        `Call-ID: ${this.callId}`,
        `CSeq: ${cseq}`,
        `Contact: <sip:alice@${caller.ip}:5060>`,
        ...(body === '' ? [] : ['Content-Type: application/sdp']),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        '',
      ].join('\r\n') + body
    );
  }

  /** INVITE, 200 OK, ACK at capture time t0 (µs). */
  start(t0: number): void {
    const { caller, callee } = this.ends;
    const a = { src: caller.ip, sport: 5060, dst: callee.ip, dport: 5060 };
    const b = { src: callee.ip, sport: 5060, dst: caller.ip, dport: 5060 };
    this.h.sip(this.msg(`INVITE sip:bob@${callee.ip} SIP/2.0`, '1 INVITE', false, this.sdp(caller.ip, caller.rtpPort)), { ...a, ts: t0 });
    this.h.sip(this.msg('SIP/2.0 200 OK', '1 INVITE', true, this.sdp(callee.ip, callee.rtpPort)), { ...b, ts: t0 + 10_000 });
    this.h.sip(this.msg(`ACK sip:bob@${callee.ip} SIP/2.0`, '1 ACK', true), { ...a, ts: t0 + 20_000 });
  }

  /** BYE from the caller and its 200 OK at capture time t (µs). */
  end(t: number): void {
    const { caller, callee } = this.ends;
    this.h.sip(this.msg(`BYE sip:bob@${callee.ip} SIP/2.0`, '2 BYE', true), { src: caller.ip, sport: 5060, dst: callee.ip, dport: 5060, ts: t });
    this.h.sip(this.msg('SIP/2.0 200 OK', '2 BYE', true), { src: callee.ip, sport: 5060, dst: caller.ip, dport: 5060, ts: t + 5_000 });
  }

  /** One RTP packet from the caller (side 'caller') or the callee. */
  rtp(from: 'caller' | 'callee', t: number, fields: { seq: number; ts: number; ssrc: number; payload: Buffer; marker?: boolean }): void {
    const me = this.ends[from];
    const peer = this.ends[from === 'caller' ? 'callee' : 'caller'];
    this.h.packet({ src: me.ip, sport: me.rtpPort, dst: peer.ip, dport: peer.rtpPort, ts: t, payload: rtpPacket({ pt: 18, ...fields }) });
  }
}
