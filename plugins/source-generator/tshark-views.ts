/**
 * Test helpers: what tshark says about a generated capture (SIP statistics, RTP streams, RTP packets), in
 * shapes the generator's truth can be compared with. Only the tests import this file.
 */
import { spawnSync } from 'node:child_process';

function tshark(file: string, args: readonly string[]): string {
  const r = spawnSync('tshark', ['-n', '-r', file, ...args], { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** `-z sip,stat`: request methods and status codes ('200', 'INVITE'...) with their counts. */
export function tsharkSipStat(file: string, extra: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of tshark(file, [...extra, '-q', '-z', 'sip,stat']).split('\n')) {
    const status = /^\s+SIP (\d{3}) .*:\s+(\d+) Packets/.exec(line);
    const method = /^\s+([A-Z]+)\s+:\s+(\d+) Packets/.exec(line);
    const m = status ?? method;
    if (m !== null) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

export interface RtpStreamRow {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  ssrc: number;
  payload: string;
  packets: number;
  lost: number;
}

/** `-z rtp,streams`, one row per stream. */
export function tsharkRtpStreams(file: string, extra: readonly string[] = []): RtpStreamRow[] {
  const rows: RtpStreamRow[] = [];
  const re = /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-Fa-f]+)\s+(.+?)\s+(\d+)\s+(-?\d+) \(/;
  for (const line of tshark(file, [...extra, '-q', '-z', 'rtp,streams']).split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    rows.push({
      src: m[1] as string,
      sport: Number(m[2]),
      dst: m[3] as string,
      dport: Number(m[4]),
      ssrc: parseInt(m[5] as string, 16),
      payload: m[6] as string,
      packets: Number(m[7]),
      lost: Number(m[8]),
    });
  }
  return rows;
}

export interface RtpPacketRow {
  /** Capture time, µs since the epoch. */
  time: number;
  ssrc: number;
  seq: number;
  ts: number;
  marker: boolean;
  pt: number;
  payload: Buffer;
}

/** Every RTP packet tshark decodes, in capture order. */
export function tsharkRtpPackets(file: string, extra: readonly string[] = []): RtpPacketRow[] {
  const fields = ['frame.time_epoch', 'rtp.ssrc', 'rtp.seq', 'rtp.timestamp', 'rtp.marker', 'rtp.p_type', 'rtp.payload'];
  const out = tshark(file, [...extra, '-Y', 'rtp', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  const rows: RtpPacketRow[] = [];
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [time = '', ssrc = '', seq = '', ts = '', marker = '', pt = '', payload = ''] = line.split('\t');
    const [sec = '0', frac = ''] = time.split('.');
    rows.push({
      time: Number(sec) * 1e6 + Math.round(Number((frac + '000000000').slice(0, 9)) / 1000),
      ssrc: Number(ssrc),
      seq: Number(seq),
      ts: Number(ts),
      marker: marker === '1' || marker === 'True',
      pt: Number(pt),
      payload: Buffer.from(payload.replace(/:/g, ''), 'hex'),
    });
  }
  return rows;
}

/** Text output of any tshark invocation (for one-off checks). */
export function tsharkText(file: string, args: readonly string[]): string {
  return tshark(file, args);
}
