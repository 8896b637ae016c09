/**
 * tshark as the independent reference the tests compare against. Tests call it when it is installed and skip the
 * comparison (saying so) when it is not.
 */
import { execFileSync, spawnSync } from 'node:child_process';

let found: boolean | undefined;

export function haveTshark(): boolean {
  if (found === undefined) {
    const r = spawnSync('tshark', ['-v'], { stdio: 'ignore' });
    found = r.error === undefined && r.status === 0;
  }
  return found;
}

/**
 * Rows of `tshark -r file -T fields -e f1 -e f2 ...`, one array of strings per frame. A field with several
 * occurrences (tunnels, ICMP quoting a packet) yields the last one.
 */
export function tsharkFields(file: string, fields: readonly string[], extra: readonly string[] = []): string[][] {
  const args = ['-r', file, '-n', '-T', 'fields', '-E', 'occurrence=l', ...fields.flatMap((f) => ['-e', f]), ...extra];
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  // One line per frame, even when every field is empty; only the final newline's empty remainder is dropped.
  const lines = r.stdout.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.split('\t'));
}

/** Frames tshark reads from the file (it stops where we stop: at truncation or corruption). */
export function tsharkFrameCount(file: string): number {
  return tsharkFields(file, ['frame.number']).length;
}

/** tshark's frame.time_epoch ("1526006114.962510000") as µs since the epoch, without float rounding of the text. */
export function epochToUs(text: string): number {
  const [sec = '0', frac = ''] = text.split('.');
  const ns = (frac + '000000000').slice(0, 9);
  return Number(sec) * 1e6 + Number(ns) / 1000;
}

/**
 * Both directions of TCP stream `index` as tshark reassembles them (`-z follow,tcp,raw,N`): node 0 → node 1
 * and node 1 → node 0, with the nodes' "addr:port".
 */
export function tsharkFollowTcp(file: string, index: number): { node0: string; node1: string; fwd: Buffer; rev: Buffer } {
  const r = spawnSync('tshark', ['-r', file, '-n', '-q', '-z', `follow,tcp,raw,${index}`], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  let node0 = '';
  let node1 = '';
  const fwd: Buffer[] = [];
  const rev: Buffer[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^Node ([01]): (.*)$/.exec(line);
    if (m !== null) {
      if (m[1] === '0') node0 = m[2] ?? '';
      else node1 = m[2] ?? '';
      continue;
    }
    if (/^\t?[0-9a-f]+$/.test(line)) {
      if (line.startsWith('\t')) rev.push(Buffer.from(line.slice(1), 'hex'));
      else fwd.push(Buffer.from(line, 'hex'));
    }
  }
  return { node0, node1, fwd: Buffer.concat(fwd), rev: Buffer.concat(rev) };
}


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
