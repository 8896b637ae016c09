/**
 * Which peers may talk to a listening port: CIDR prefixes of IPv4 and IPv6 ("10.0.0.0/8", "2001:db8::/32",
 * a bare address for one host). Every port Tapline opens is restricted by one of these (loopback only by default)
 * or authenticated (mutual TLS). IPv4 peers of a dual-stack socket ("::ffff:10.0.0.5") match IPv4 prefixes.
 */
import { BlockList, isIP } from 'node:net';
import { ErrorCodes, TaplineError } from '../errors';
import { unmapIpv4 } from './ip-parse';

/** The default: this machine only. */
export const LOOPBACK_ONLY: readonly string[] = ['127.0.0.0/8', '::1/128'];

export class AllowList {
  private readonly list = new BlockList();

  private constructor(readonly entries: readonly string[]) {}

  /** Throws TAPLINE_ERR_LISTENER_CONFIG naming the first entry that is not an address or prefix. */
  static parse(entries: readonly string[]): AllowList {
    const a = new AllowList([...entries]);
    for (const e of entries) {
      const [addr = '', bits, extra] = e.trim().split('/');
      const family = isIP(addr);
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
      if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `allow-list entry '${e}' is not an IP address or CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32)`, { entry: e });
      }
      a.list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    return a;
  }

  /** True when the peer's address falls in one of the prefixes. */
  allows(address: string): boolean {
    const a = unmapIpv4(address);
    const family = isIP(a);
    if (family === 0) return false;
    return this.list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }
}
