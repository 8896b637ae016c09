/**
 * Per-listener IP allow-lists: addresses and CIDR ranges, IPv4 and IPv6, on node's net.BlockList. A datagram from
 * an IPv4 address reaching an IPv6 (dual-stack) socket shows as ::ffff:a.b.c.d and is matched as the IPv4 address.
 */
import { BlockList, isIP } from 'node:net';

export const LOOPBACK_ONLY: readonly string[] = ['127.0.0.0/8', '::1'];

const MAPPED_V4 = '::ffff:';

export class AllowList {
  readonly entries: readonly string[];
  private readonly list = new BlockList();
  // Datagrams come in runs from one sender: remembering the last answer skips most lookups.
  private lastAddress = '';
  private lastAnswer = false;

  /** Throws a RangeError naming the entry that is not an address or CIDR range. */
  constructor(entries: readonly string[]) {
    this.entries = [...entries];
    for (const e of entries) {
      const [addr = '', prefix, extra] = e.trim().split('/');
      const family = isIP(addr);
      if (family === 0 || extra !== undefined) throw new RangeError(`"${e}" is not an IP address or CIDR range`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.list.addAddress(addr, type);
        continue;
      }
      const bits = Number(prefix);
      if (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw new RangeError(`"${e}" has a bad prefix length`);
      this.list.addSubnet(addr, bits, type);
    }
  }

  allows(address: string): boolean {
    if (address === this.lastAddress) return this.lastAnswer;
    let a = address;
    if (a.startsWith(MAPPED_V4) && isIP(a.slice(MAPPED_V4.length)) === 4) a = a.slice(MAPPED_V4.length);
    const family = isIP(a);
    const answer = family !== 0 && this.list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    this.lastAddress = address;
    this.lastAnswer = answer;
    return answer;
  }
}
