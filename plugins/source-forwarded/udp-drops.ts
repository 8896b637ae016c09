/**
 * The kernel's count of datagrams it dropped for a UDP socket (receive buffer full, mostly): the `drops` column of
 * /proc/net/udp and /proc/net/udp6. Node does not expose the socket's fd or inode, so the socket is found as the
 * row with its local port whose inode is one of this process's sockets (/proc/self/fd).
 */
import * as fs from 'node:fs';

export interface UdpSocketRow {
  localPort: number;
  inode: number;
  drops: number;
}

/** Rows of /proc/net/udp or /proc/net/udp6 text. */
export function parseProcNetUdp(text: string): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = (lines[i] as string).trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (f.length < 13) continue;
    const local = f[1] as string;
    const colon = local.lastIndexOf(':');
    const localPort = parseInt(local.slice(colon + 1), 16);
    const inode = Number(f[9]);
    const drops = Number(f[12]);
    if (colon < 0 || !Number.isFinite(localPort) || !Number.isFinite(inode) || !Number.isFinite(drops)) continue;
    rows.push({ localPort, inode, drops });
  }
  return rows;
}

/** Inodes of this process's open sockets. */
export function ownSocketInodes(procRoot = '/proc'): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`${procRoot}/self/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`${procRoot}/self/fd/${fd}`));
      if (m !== null) out.add(Number(m[1]));
    } catch {
      // The fd closed while we looked.
    }
  }
  return out;
}

async function readRows(procRoot: string): Promise<UdpSocketRow[]> {
  const rows: UdpSocketRow[] = [];
  for (const f of ['udp', 'udp6']) {
    try {
      rows.push(...parseProcNetUdp(await fs.promises.readFile(`${procRoot}/net/${f}`, 'utf8')));
    } catch {
      // No IPv6, or no /proc (not Linux): nothing to read.
    }
  }
  return rows;
}

function readRowsSync(procRoot: string): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  for (const f of ['udp', 'udp6']) {
    try {
      rows.push(...parseProcNetUdp(fs.readFileSync(`${procRoot}/net/${f}`, 'utf8')));
    } catch {
      // As above.
    }
  }
  return rows;
}

/** Follows one bound socket's kernel drop counter; take() gives the increase since the previous call. */
export class UdpDropCounter {
  /** The socket's inode, or undefined when it could not be found (not Linux, no /proc): take() then gives 0. */
  readonly inode: number | undefined;
  private last = 0;

  /** Call right after bind(). */
  constructor(readonly localPort: number, private readonly procRoot = '/proc') {
    const own = ownSocketInodes(procRoot);
    const row = readRowsSync(procRoot).find((r) => r.localPort === localPort && own.has(r.inode));
    this.inode = row?.inode;
    this.last = row?.drops ?? 0;
  }

  /** Drops since the previous call. */
  async take(): Promise<number> {
    if (this.inode === undefined) return 0;
    const row = (await readRows(this.procRoot)).find((r) => r.inode === this.inode);
    if (row === undefined) return 0;
    // The column is a 32-bit counter in the kernel (sk_drops is an atomic_t): take increases modulo 2^32.
    const d = (row.drops - this.last) >>> 0;
    this.last = row.drops;
    return d;
  }
}
