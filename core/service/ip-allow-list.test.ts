import * as assert from 'node:assert/strict';
import { ErrorCodes, isTaplineError } from '../errors';
import { IpAllowList } from './ip-allow-list';

describe('ops allow-list (CIDRs)', () => {
  it('matches IPv4 and IPv6 CIDRs and single addresses; IPv4-mapped IPv6 clients match the IPv4 entries', () => {
    const a = IpAllowList.parse(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32', '::1/128']);
    assert.ok(a.allows('10.200.3.4'));
    assert.ok(a.allows('::ffff:10.1.2.3'), 'dual-stack socket form of an IPv4 client');
    assert.ok(a.allows('192.168.1.7'));
    assert.ok(!a.allows('192.168.1.8'));
    assert.ok(a.allows('2001:db8:ffff::1'));
    assert.ok(a.allows('::1'));
    assert.ok(!a.allows('2001:db9::1'));
    assert.ok(!a.allows('11.0.0.1'));
    assert.ok(!a.allows(undefined), 'a socket with no remote address (already closed) is refused');
    assert.ok(!a.allows('not-an-ip'));
  });

  it('0.0.0.0/0 and ::/0 allow everyone; an empty list is a configuration error', () => {
    const all = IpAllowList.parse(['0.0.0.0/0', '::/0']);
    assert.ok(all.allows('203.0.113.9') && all.allows('2001:db8::9') && all.allows('::ffff:203.0.113.9'));
    assert.throws(() => IpAllowList.parse([]), (e: unknown) => isTaplineError(e, ErrorCodes.OPS_CONFIG) && /empty/.test(e.message));
  });

  it('names every malformed entry in one TAPLINE_ERR_OPS_CONFIG', () => {
    assert.throws(
      () => IpAllowList.parse(['10.0.0.0/8', '10.0.0.0/33', 'example.com', '::1/129', '1.2.3.4/', '1.2.3.4/-1', '300.1.1.1']),
      (e: unknown) =>
        isTaplineError(e, ErrorCodes.OPS_CONFIG) &&
        ['"10.0.0.0/33"', '"example.com"', '"::1/129"', '"1.2.3.4/"', '"1.2.3.4/-1"', '"300.1.1.1"'].every((b) => e.message.includes(b)) &&
        JSON.stringify(e.details.bad) === JSON.stringify(['"10.0.0.0/33"', '"example.com"', '"::1/129"', '"1.2.3.4/"', '"1.2.3.4/-1"', '"300.1.1.1"']),
    );
  });
});
