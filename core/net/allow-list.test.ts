import * as assert from 'node:assert/strict';
import { ErrorCodes, isTaplineError } from '../errors';
import { AllowList, LOOPBACK_ONLY } from './allow-list';
import { parseIp, unmapIpv4 } from './ip-parse';

describe('allow-list and IP parsing', () => {
  it('matches IPv4 and IPv6 prefixes, bare addresses, and IPv4 peers of dual-stack sockets', () => {
    const a = AllowList.parse(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1']);
    const yes = ['10.1.2.3', '10.255.255.255', '192.0.2.7', '2001:db8:ffff::1', '::1', '::ffff:10.9.9.9'];
    const no = ['11.0.0.1', '192.0.2.8', '2001:db9::1', '::2', '::ffff:11.0.0.1', 'not-an-ip', ''];
    for (const x of yes) assert.equal(a.allows(x), true, x);
    for (const x of no) assert.equal(a.allows(x), false, x);
  });

  it('defaults to loopback only', () => {
    const a = AllowList.parse(LOOPBACK_ONLY);
    assert.deepEqual(['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1', '10.0.0.1', '::2'].map((x) => a.allows(x)), [true, true, true, true, false, false]);
    assert.equal(AllowList.parse([]).allows('127.0.0.1'), false, 'an empty list lets nobody in');
  });

  it('refuses entries that are not an address or prefix with TAPLINE_ERR_LISTENER_CONFIG', () => {
    for (const bad of ['10.0.0.0/33', 'host.example.com', '10.0.0/8', '::1/129', '10.0.0.1/8/2', '10.0.0.0/x']) {
      assert.throws(() => AllowList.parse([bad]), (e: unknown) => isTaplineError(e, ErrorCodes.LISTENER_CONFIG) && e.message.includes(bad), bad);
    }
  });

  it('parses IP text to bytes (embedded IPv4, brackets, zone ids) and unmaps IPv4-mapped peers', () => {
    assert.deepEqual(parseIp('::ffff:1.2.3.4'), { family: 6, bytes: Buffer.from('00000000000000000000ffff01020304', 'hex') });
    assert.deepEqual(parseIp('[fe80::1%eth0]')?.bytes.toString('hex'), 'fe800000000000000000000000000001');
    assert.deepEqual(parseIp('1:2:3:4:5:6:7.8.9.10')?.bytes.toString('hex'), '000100020003000400050006070809' + '0a');
    assert.deepEqual(parseIp('192.0.2.1'), { family: 4, bytes: Buffer.from([192, 0, 2, 1]) });
    assert.equal(parseIp('300.1.1.1'), undefined);
    assert.equal(parseIp('example.com'), undefined);
    assert.equal(unmapIpv4('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(unmapIpv4('::ffff:1'), '::ffff:1');
  });
});

describe('AllowList: one class for every listener (feeds, forwarded media, the ops endpoint)', () => {
  it('a peer with no address (a socket already closed) is refused; 0.0.0.0/0 and ::/0 allow everyone', () => {
    const a = AllowList.parse(['10.0.0.0/8']);
    assert.equal(a.allows(undefined), false);
    assert.equal(a.allows('not-an-ip'), false);
    const all = AllowList.parse(['0.0.0.0/0', '::/0']);
    assert.ok(all.allows('203.0.113.9') && all.allows('2001:db8::9') && all.allows('::ffff:203.0.113.9'));
  });

  it('the same peer asked twice in a row gets the same answer (the run cache)', () => {
    const a = AllowList.parse(['192.0.2.7']);
    for (let i = 0; i < 3; i++) assert.equal(a.allows('192.0.2.7'), true);
    for (let i = 0; i < 3; i++) assert.equal(a.allows('192.0.2.8'), false);
    assert.equal(a.allows('192.0.2.7'), true);
  });

  it('names every malformed entry at once, with the setting and the error code the caller gives; an empty list can be refused', () => {
    assert.throws(
      () => AllowList.parse(['10.0.0.0/8', '10.0.0.0/33', 'example.com', '::1/129', '1.2.3.4/', '1.2.3.4/-1', '300.1.1.1'], { where: 'service.ops.allow', code: ErrorCodes.OPS_CONFIG }),
      (e: unknown) =>
        isTaplineError(e, ErrorCodes.OPS_CONFIG) &&
        e.message.startsWith('service.ops.allow: ') &&
        JSON.stringify(e.details.bad) === JSON.stringify(["'10.0.0.0/33'", "'example.com'", "'::1/129'", "'1.2.3.4/'", "'1.2.3.4/-1'", "'300.1.1.1'"]),
    );
    assert.throws(() => AllowList.parse([], { where: 'service.ops.allow', code: ErrorCodes.OPS_CONFIG, nonEmpty: true }), (e: unknown) => isTaplineError(e, ErrorCodes.OPS_CONFIG) && /empty/.test(e.message));
  });
});
