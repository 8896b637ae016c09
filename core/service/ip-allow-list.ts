/**
 * Who may connect to the ops endpoint: a list of CIDRs ("10.0.0.0/8", "::1/128"; a bare address is one host).
 * IPv4 clients on a dual-stack socket arrive as "::ffff:a.b.c.d" and are matched against the IPv4 entries.
 */
import * as net from 'node:net';
import { ErrorCodes, TaplineError } from '../errors';

export class IpAllowList {
  private constructor(
    private readonly list: net.BlockList,
    readonly entries: readonly string[],
  ) {}

  /** Throws TAPLINE_ERR_OPS_CONFIG naming every malformed entry (not just the first). */
  static parse(cidrs: readonly string[], where = 'service.ops.allow'): IpAllowList {
    if (cidrs.length === 0) throw new TaplineError(ErrorCodes.OPS_CONFIG, `${where} is empty: nobody could connect (use "0.0.0.0/0" and "::/0" to allow every address)`, { where });
    const list = new net.BlockList();
    const bad: string[] = [];
    for (const raw of cidrs) {
      const entry = raw.trim();
      const slash = entry.indexOf('/');
      const addr = slash < 0 ? entry : entry.slice(0, slash);
      const family = net.isIP(addr);
      const max = family === 4 ? 32 : 128;
      const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (family === 0 || !(prefix >= 0 && prefix <= max)) {
        bad.push(JSON.stringify(raw));
        continue;
      }
      list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    if (bad.length > 0) {
      throw new TaplineError(ErrorCodes.OPS_CONFIG, `${where}: not an address or CIDR (like "10.0.0.0/8" or "::1/128"): ${bad.join(', ')}`, { where, bad });
    }
    return new IpAllowList(list, cidrs.map((c) => c.trim()));
  }

  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    const family = net.isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}
