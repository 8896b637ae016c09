/**
 * Capture reading speed: readCapture frames/s and PacketDecoder packets/s on one core, against
 * `tcpdump -r FILE -w /dev/null` (libpcap reading every record and writing it out again) in the same run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../../core/net/capture-reader';
import { PacketDecoder } from '../../core/net/decode';
import type { RawFrame, TransportPacket } from '../../core/net/types';
import { PcapWriter } from '../../core/net/pcap-writer';
import { udpFrames } from '../../plugins/source-generator/net-frames';

import type { BenchResult } from './types';

export type { BenchResult };

const PACKETS = 2_000_000;
const PAYLOAD = 172; // 12-byte RTP header + 160 bytes of G.711 (20 ms)
const RUNS = 5;

/** Ethernet/IPv4/UDP packets with RTP-like payloads (160 streams, 8000 pkt/s), via the project's own pcap writer. */
export async function writeRtpPcap(file: string, count: number): Promise<void> {
  const w = new PcapWriter(file, 1, { snaplen: 65535 });
  const rtp = Buffer.alloc(PAYLOAD, 0xd5);
  let t = 1_700_000_000 * 1e6;
  for (let k = 0; k < count; k++) {
    t += 125; // 8000 pkt/s: e.g. 160 concurrent calls at 50 pkt/s
    rtp.writeUInt16BE(0x8008, 0); // V=2, PT 8
    rtp.writeUInt16BE(Math.floor(k / 160) & 0xffff, 2);
    rtp.writeUInt32BE((Math.floor(k / 160) * 160) >>> 0, 4);
    rtp.writeUInt32BE(0xdead0000 + (k % 160), 8);
    const [frame] = udpFrames(`10.0.0.${1 + (k % 160)}`, 20000 + 2 * (k % 160), '10.1.0.1', 30000, rtp, k & 0xffff);
    w.write(t, frame!);
    if (w.needsDrain) await w.drain();
  }
  await w.close();
}

async function defaultFile(): Promise<string> {
  const file = path.join(os.tmpdir(), `tapline-bench-rtp-${PACKETS}.pcap`);
  const expected = 24 + PACKETS * (16 + 14 + 20 + 8 + PAYLOAD);
  // Reuse the file from an earlier run: writing ~460 MB takes longer than the measurement.
  if (!fs.existsSync(file) || fs.statSync(file).size !== expected) await writeRtpPcap(file, PACKETS);
  return file;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function timeRead(file: string): Promise<{ frames: number; sec: number; peakRss: number }> {
  let best = Infinity;
  let frames = 0;
  let peakRss = 0;
  for (let r = 0; r < RUNS; r++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    const res = await readCapture(file, () => {
      n++;
    }, {
      onProgress: () => {
        const rss = process.memoryUsage.rss();
        if (rss > peakRss) peakRss = rss;
      },
    });
    best = Math.min(best, seconds(t0));
    frames = res.frames;
    if (n !== frames) throw new Error(`callback saw ${n} frames, result says ${frames}`);
  }
  return { frames, sec: best, peakRss };
}

async function timeReadDecode(file: string): Promise<{ packets: number; sec: number }> {
  let best = Infinity;
  let packets = 0;
  for (let r = 0; r < RUNS; r++) {
    const dec = new PacketDecoder();
    const out = {} as TransportPacket;
    let n = 0;
    const t0 = process.hrtime.bigint();
    await readCapture(file, (f) => {
      if (typeof dec.decode(f, out) !== 'string') n++;
    });
    best = Math.min(best, seconds(t0));
    packets = n;
  }
  return { packets, sec: best };
}

/** Decode alone, on frames already in memory (the first 200k of the file, decoded 10 times). */
async function timeDecodeOnly(file: string): Promise<{ packets: number; sec: number }> {
  const frames: RawFrame[] = [];
  const ac = new AbortController();
  await readCapture(file, (f) => {
    if (frames.length < 200_000) frames.push(f);
    else ac.abort();
  }, { signal: ac.signal });
  const dec = new PacketDecoder();
  let best = Infinity;
  let n = 0;
  for (let r = 0; r < RUNS; r++) {
    n = 0;
    const t0 = process.hrtime.bigint();
    for (let pass = 0; pass < 10; pass++) {
      for (const f of frames) if (typeof dec.decode(f) !== 'string') n++;
    }
    best = Math.min(best, seconds(t0));
  }
  return { packets: n, sec: best };
}

function timeTool(file: string): { name: string; sec: number } | null {
  const candidates: Array<{ cmd: string; args: string[] }> = [
    { cmd: 'tcpdump', args: ['-r', file, '-w', '/dev/null'] },
    { cmd: 'tshark', args: ['-r', file, '-w', '/dev/null'] },
  ];
  for (const c of candidates) {
    const probe = spawnSync(c.cmd, ['--version'], { stdio: 'ignore' });
    if (probe.error !== undefined) continue;
    let best = Infinity;
    for (let r = 0; r < RUNS; r++) {
      const t0 = process.hrtime.bigint();
      const res = spawnSync(c.cmd, c.args, { stdio: 'ignore' });
      const sec = seconds(t0);
      if (res.status !== 0) {
        best = Infinity;
        break;
      }
      best = Math.min(best, sec);
    }
    if (Number.isFinite(best)) return { name: `${c.cmd} ${c.args.join(' ').replace(file, 'FILE')}`, sec: best };
  }
  return null;
}

export async function benchPcap(file?: string): Promise<BenchResult[]> {
  const f = file ?? (await defaultFile());
  const size = fs.statSync(f).size;
  const read = await timeRead(f);
  const readDecode = await timeReadDecode(f);
  const decodeOnly = await timeDecodeOnly(f);
  const tool = timeTool(f);
  const readRate = read.frames / read.sec;
  const results: BenchResult[] = [];
  const readResult: BenchResult = {
    name: 'pcap read (readCapture, callback)',
    value: Math.round(readRate),
    unit: 'frames/s',
    notes:
      `${read.frames} frames, ${(size / 1e6).toFixed(0)} MB, best of ${RUNS}: ${read.sec.toFixed(3)} s, ` +
      `${(size / 1e6 / read.sec).toFixed(0)} MB/s, peak RSS ${(read.peakRss / 1e6).toFixed(0)} MB`,
  };
  if (tool !== null) {
    const toolRate = read.frames / tool.sec;
    readResult.reference = { name: tool.name, value: Math.round(toolRate), unit: 'frames/s' };
    readResult.ratio = Number((readRate / toolRate).toFixed(2));
    readResult.notes += `; reference reads every record with libpcap and writes it to /dev/null (${tool.sec.toFixed(3)} s, process start included)`;
  } else {
    readResult.notes += '; no tcpdump or tshark found for a reference';
  }
  results.push(readResult);
  results.push({
    name: 'pcap read + decode (PacketDecoder, reused packet object)',
    value: Math.round(readDecode.packets / readDecode.sec),
    unit: 'packets/s',
    notes: `${readDecode.packets} UDP packets decoded in ${readDecode.sec.toFixed(3)} s (best of ${RUNS})`,
  });
  results.push({
    name: 'decode only (PacketDecoder, frames in memory)',
    value: Math.round(decodeOnly.packets / decodeOnly.sec),
    unit: 'packets/s',
    notes: `${decodeOnly.packets} decodes (200k frames x 10) in ${decodeOnly.sec.toFixed(3)} s, new packet object each`,
  });
  return results;
}

if (require.main === module) {
  benchPcap(process.argv[2]).then(
    (rs) => {
      for (const r of rs) console.log(JSON.stringify(r));
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
