/**
 * Which peers may talk to a listening port: CIDR prefixes of IPv4 and IPv6 ("10.0.0.0/8", "2001:db8::/32",
 * a bare address for one host). Every port Tapline opens is restricted by one of these (loopback only by default)
 * or authenticated (mutual TLS, HMAC, a token). IPv4 peers of a dual-stack socket ("::ffff:10.0.0.5") match IPv4
 * prefixes. One class for every listener (feeds, forwarded media, the ops endpoint).
 */
import { BlockList, isIP } from 'node:net';
import { ErrorCodes, TaplineError, type ErrorCode } from '../errors';
import { unmapIpv4 } from './ip-parse';

/** The default: this machine only. */
export const LOOPBACK_ONLY: readonly string[] = ['127.0.0.0/8', '::1/128'];

export interface AllowListParseOptions {
  /** The config setting the entries come from, for messages ('service.ops.allow'). */
  where?: string;
  /** The error code of a malformed list (default TAPLINE_ERR_LISTENER_CONFIG). */
  code?: ErrorCode;
  /** An empty list is an error (nobody could connect) instead of a list that lets nobody in. */
  nonEmpty?: boolean;
}

export class AllowList {
  private readonly list = new BlockList();
  // Datagrams come in runs from one sender: remembering the last answer skips most lookups.
  private lastAddress = '';
  private lastAnswer = false;

  private constructor(readonly entries: readonly string[]) {}

  /** Throws a TaplineError naming every entry that is not an address or prefix. */
  static parse(entries: readonly string[], opts: AllowListParseOptions = {}): AllowList {
    const where = opts.where ?? 'allow';
    const code = opts.code ?? ErrorCodes.LISTENER_CONFIG;
    if (entries.length === 0 && opts.nonEmpty === true) {
      throw new TaplineError(code, `${where} is empty: nobody could connect (use "0.0.0.0/0" and "::/0" to allow every address)`, { where });
    }
    const a = new AllowList(entries.map((e) => e.trim()));
    const bad: string[] = [];
    for (const e of a.entries) {
      const [addr = '', bits, extra] = e.split('/');
      const family = isIP(addr);
      const max = family === 4 ? 32 : 128;
      const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
      if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
        bad.push(`'${e}'`);
        continue;
      }
      a.list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    if (bad.length > 0) {
      throw new TaplineError(code, `${where}: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an IP address or CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32)`, { where, bad });
    }
    return a;
  }

  /** True when the peer's address falls in one of the prefixes (false for no address: a socket already closed). */
  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    if (address === this.lastAddress) return this.lastAnswer;
    const a = unmapIpv4(address);
    const family = isIP(a);
    const answer = family !== 0 && this.list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    this.lastAddress = address;
    this.lastAnswer = answer;
    return answer;
  }
}
