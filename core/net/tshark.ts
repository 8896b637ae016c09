/**
 * tshark as an independent reference for the capture tests. Tests call it when it is installed and skip
 * the comparison (saying so) when it is not.
 */
import { spawnSync } from 'node:child_process';

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
