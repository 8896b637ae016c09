/** Runs tshark (the independent decoder the tests compare against), when installed. */
import { execFileSync, spawnSync } from 'node:child_process';

export const haveTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;

/** tshark -r FILE with extra args; stdout as text. */
export function tshark(file: string, args: string[]): string {
  return execFileSync('tshark', ['-n', '-r', file, ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
}

/** Decode-as options some captures need: SIP on non-standard ports. */
export const SIP_DECODE_AS: Record<string, string[]> = {
  'heplify_sip_ipv4_tcp_fragmented.pcap': ['-d', 'tcp.port==6060,sip'],
};

export interface SipLine {
  frame: number;
  callId: string;
  /** Request method, or status code as text. */
  label: string;
}

/** Every SIP message tshark sees: [frame, Call-ID, method-or-status], one entry per message (several per frame over TCP). */
export function tsharkSipMessages(file: string, extra: string[] = []): SipLine[] {
  const out = tshark(file, [...extra, '-Y', 'sip', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', '-e', 'frame.number', '-e', 'sip.Call-ID', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.Request-Line', '-e', 'sip.Status-Line']);
  const lines: SipLine[] = [];
  for (const row of out.split('\n')) {
    if (row.trim() === '') continue;
    const [frame, callIds, methods, statuses, reqLines, statusLines] = row.split('\t');
    const ids = (callIds ?? '').split('|');
    // sip.Method also appears for CSeq methods of responses; count request lines and status lines instead.
    const reqs = (reqLines ?? '') === '' ? [] : (reqLines ?? '').split('|');
    const stats = (statusLines ?? '') === '' ? [] : (statusLines ?? '').split('|');
    void methods;
    void statuses;
    let i = 0;
    for (const r of reqs) lines.push({ frame: Number(frame), callId: ids[i++] ?? '', label: r.split(' ')[0] ?? '' });
    for (const s of stats) lines.push({ frame: Number(frame), callId: ids[i++] ?? '', label: s.split(' ')[1] ?? '' });
  }
  return lines;
}

export interface TsharkRtp {
  time: number; // seconds since the epoch
  src: string;
  sport: number;
  dst: string;
  dport: number;
  ssrc: number;
  pt: number;
  seq: number;
  timestamp: number;
  payload: Buffer;
}

/** Every RTP packet tshark decodes (SDP-announced streams, plus heuristic RTP), in capture order. */
export function tsharkRtpPackets(file: string): TsharkRtp[] {
  const out = tshark(file, ['-o', 'rtp.heuristic_rtp:TRUE', '-Y', 'rtp && !rtcp', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'rtp.ssrc', '-e', 'rtp.p_type', '-e', 'rtp.seq', '-e', 'rtp.timestamp', '-e', 'rtp.payload']);
  const rows: TsharkRtp[] = [];
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const [t, src, sport, dst, dport, ssrc, pt, seq, ts, payload] = line.split('\t');
    rows.push({
      time: Number(t),
      src: src ?? '',
      sport: Number(sport),
      dst: dst ?? '',
      dport: Number(dport),
      ssrc: Number(ssrc),
      pt: Number(pt),
      seq: Number(seq),
      timestamp: Number(ts),
      payload: Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'),
    });
  }
  return rows;
}
