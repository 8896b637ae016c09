import * as assert from 'node:assert/strict';
import { AllowList, LOOPBACK_ONLY } from './allow-list';

describe('forwarded listener allow-lists', () => {
  it('allows only loopback by default, IPv4 and IPv6, and IPv4 seen through a dual-stack socket', () => {
    const a = new AllowList(LOOPBACK_ONLY);
    for (const ok of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) assert.equal(a.allows(ok), true, ok);
    for (const no of ['10.0.0.1', '192.168.1.1', '::2', 'fe80::1', '::ffff:10.0.0.1', '', 'localhost']) assert.equal(a.allows(no), false, no);
  });

  it('matches single addresses and CIDR ranges of both families', () => {
    const a = new AllowList(['10.20.0.0/16', '192.0.2.7', '2001:db8:1::/48']);
    assert.equal(a.allows('10.20.255.1'), true);
    assert.equal(a.allows('10.21.0.1'), false);
    assert.equal(a.allows('192.0.2.7'), true);
    assert.equal(a.allows('192.0.2.8'), false);
    assert.equal(a.allows('2001:db8:1:ffff::9'), true);
    assert.equal(a.allows('2001:db8:2::1'), false);
    // The one-entry cache must not leak an answer to the next address.
    assert.equal(a.allows('10.20.0.1'), true);
    assert.equal(a.allows('10.22.0.1'), false);
    assert.equal(new AllowList(['0.0.0.0/0', '::/0']).allows('203.0.113.9'), true);
    assert.equal(new AllowList([]).allows('127.0.0.1'), false);
  });

  it('refuses entries that are not addresses or ranges, naming them', () => {
    assert.throws(() => new AllowList(['10.0.0.0/8', 'example.com']), /"example.com" is not an IP address/);
    assert.throws(() => new AllowList(['10.0.0.0/40']), /bad prefix length/);
    assert.throws(() => new AllowList(['::/129']), /bad prefix length/);
    assert.throws(() => new AllowList(['10.0.0.0/8/1']), /not an IP address/);
    assert.throws(() => new AllowList(['10.0.0.0/x']), /bad prefix length/);
  });
});
