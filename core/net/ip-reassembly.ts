/**
 * IPv4 / IPv6 fragment reassembly, keyed by the caller (src/dst/id/proto for IPv4, src/dst/id for IPv6).
 *
 * Duplicate and overlapping fragments are tolerated (the bytes received first win). Incomplete datagrams
 * expire by capture time, and the number and bytes of datagrams in flight are bounded: beyond the bounds
 * the oldest are dropped. Fragment bytes are copied, so no capture chunk stays pinned by a lost fragment.
 */

export interface IpReassemblyOptions {
  /** Capture-time seconds after a datagram's first fragment before it is dropped (default 30). */
  timeoutSec?: number;
  /** Datagrams in flight (default 1024). */
  maxDatagrams?: number;
  /** Fragment bytes held over all datagrams (default 8 MiB). */
  maxBytes?: number;
  /** Told when an incomplete datagram is dropped. */
  onDrop?: (reason: 'expired' | 'evicted' | 'invalid', key: string, fragments: number) => void;
}

export interface ReassembledDatagram {
  /** The reassembled IP payload (what follows the IPv4 header / the IPv6 fragment header). */
  data: Buffer;
  /** Upper-layer protocol: IPv4 protocol, or the IPv6 fragment header's next header of the offset-0 fragment. */
  proto: number;
  fragments: number;
}

/** 'pending': held until the rest arrives; 'invalid': the datagram cannot be reassembled and was dropped. */
export type FragmentResult = ReassembledDatagram | 'pending' | 'invalid';

/** Largest IP payload a fragment may reach (IPv4 total length and IPv6 payload length are 16-bit). */
const MAX_DATAGRAM = 65535;

interface Fragment {
  offset: number;
  data: Buffer;
}

interface Pending {
  firstTs: number;
  /** Payload length, known once the last fragment (MF=0) arrived; -1 before. */
  total: number;
  proto: number;
  bytes: number;
  frags: Fragment[];
}

export interface IpReassemblyStats {
  fragments: number;
  reassembled: number;
  expired: number;
  evicted: number;
  invalid: number;
}

export class IpReassembler {
  readonly stats: IpReassemblyStats = { fragments: 0, reassembled: 0, expired: 0, evicted: 0, invalid: 0 };
  private readonly timeoutUs: number;
  private readonly maxDatagrams: number;
  private readonly maxBytes: number;
  private readonly onDrop: IpReassemblyOptions['onDrop'];
  /** Insertion order = age order, which expiry and eviction rely on. */
  private readonly pending = new Map<string, Pending>();
  private bytes = 0;
  private now = 0;

  constructor(opts: IpReassemblyOptions = {}) {
    this.timeoutUs = (opts.timeoutSec ?? 30) * 1e6;
    this.maxDatagrams = opts.maxDatagrams ?? 1024;
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
    this.onDrop = opts.onDrop;
  }

  /** Datagrams in flight. */
  get size(): number {
    return this.pending.size;
  }

  /** Fragment bytes held. */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /**
   * Add one fragment: `offset` in bytes, `more` = the MF flag, `data` its payload (copied), `ts` its capture
   * time in µs, `proto` the upper-layer protocol it announces (only the offset-0 fragment's is kept).
   */
  add(key: string, offset: number, more: boolean, data: Buffer, ts: number, proto: number): FragmentResult {
    this.stats.fragments++;
    if (ts > this.now) this.now = ts;
    this.expire(this.now);
    let p = this.pending.get(key);
    if (p === undefined) {
      p = { firstTs: ts, total: -1, proto: -1, bytes: 0, frags: [] };
      this.pending.set(key, p);
    }
    const end = offset + data.length;
    if (end > MAX_DATAGRAM || (p.total >= 0 && end > p.total) || (!more && p.total >= 0 && end !== p.total)) {
      return this.drop(key, p, 'invalid');
    }
    if (!more) {
      // The last fragment fixes the length; fragments already held beyond it mean a broken datagram.
      for (const f of p.frags) if (f.offset + f.data.length > end) return this.drop(key, p, 'invalid');
      p.total = end;
    }
    if (offset === 0) p.proto = proto;
    if (data.length > 0) {
      p.frags.push({ offset, data: Buffer.from(data) });
      p.bytes += data.length;
      this.bytes += data.length;
    }
    const done = this.complete(key, p);
    if (done !== null) return done;
    this.bound(key);
    return this.pending.has(key) ? 'pending' : 'invalid';
  }

  /** Drop datagrams whose first fragment is older than the timeout at capture time `nowUs`. */
  expire(nowUs: number): number {
    let n = 0;
    for (const [key, p] of this.pending) {
      if (p.firstTs + this.timeoutUs >= nowUs) break;
      this.remove(key, p);
      this.stats.expired++;
      this.onDrop?.('expired', key, p.frags.length);
      n++;
    }
    return n;
  }

  /** Forget everything held (end of capture); returns how many datagrams were incomplete. */
  clear(): number {
    const n = this.pending.size;
    this.pending.clear();
    this.bytes = 0;
    return n;
  }

  private complete(key: string, p: Pending): ReassembledDatagram | null {
    // Cheap test first: without the last fragment, or with fewer bytes than the length, it cannot be whole.
    if (p.total < 0 || p.bytes < p.total || p.proto < 0) return null;
    const sorted = p.frags.slice().sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const f of sorted) {
      if (f.offset > covered) return null;
      covered = Math.max(covered, f.offset + f.data.length);
    }
    if (covered < p.total) return null;
    const data = Buffer.allocUnsafe(p.total);
    // Copy the latest arrivals first so that, where fragments overlap, the first received bytes win.
    for (let i = p.frags.length - 1; i >= 0; i--) {
      const f = p.frags[i] as Fragment;
      f.data.copy(data, f.offset);
    }
    this.remove(key, p);
    this.stats.reassembled++;
    return { data, proto: p.proto, fragments: p.frags.length };
  }

  private bound(current: string): void {
    while (this.pending.size > this.maxDatagrams || this.bytes > this.maxBytes) {
      const first = this.pending.entries().next();
      if (first.done === true) return;
      const [key, p] = first.value;
      this.remove(key, p);
      this.stats.evicted++;
      this.onDrop?.('evicted', key, p.frags.length);
      if (key === current) return;
    }
  }

  private drop(key: string, p: Pending, reason: 'invalid'): 'invalid' {
    this.remove(key, p);
    this.stats.invalid++;
    this.onDrop?.(reason, key, p.frags.length);
    return 'invalid';
  }

  private remove(key: string, p: Pending): void {
    this.pending.delete(key);
    this.bytes -= p.bytes;
  }
}
