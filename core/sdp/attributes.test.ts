import * as assert from 'node:assert/strict';
import {
  parseCandidate,
  parseConnection,
  parseCrypto,
  parseFmtp,
  parseRemoteCandidates,
  parseRtcp,
  parseRtpMap,
  parseSsrcRange,
  parseUint,
  SdpAttributeError,
  splitWs,
} from './attributes';

const KEY = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk'; // 40 chars: 16-byte key + 14-byte salt
const KEY2 = 'MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0';

describe('SDP attribute parsers', () => {
  it('splits on runs of blanks and parses strict unsigned integers', () => {
    assert.deepEqual(splitWs('  a \t b  c '), ['a', 'b', 'c']);
    assert.deepEqual(splitWs('   '), []);
    assert.equal(parseUint('65535', 65535), 65535);
    assert.equal(parseUint('65536', 65535), -1);
    assert.equal(parseUint('+1', 9), -1);
    assert.equal(parseUint('1e3', 9999), -1);
    assert.equal(parseUint('', 9), -1);
  });

  describe('rtpmap / fmtp', () => {
    it('reads encoding, clock and channels, keeping the name as written', () => {
      assert.deepEqual(parseRtpMap('117 G722/8000/2'), { payloadType: 117, encoding: 'G722', clockRate: 8000, channels: 2 });
      assert.deepEqual(parseRtpMap('114 x-msrta/16000'), { payloadType: 114, encoding: 'x-msrta', clockRate: 16000, channels: 1 });
    });
    for (const bad of ['', '96', '96 opus', '128 PCMU/8000', 'x PCMU/8000', '96 /8000', '96 foo/0', '96 foo/8000/0', '96 foo/8000/2/1', '96 a/b']) {
      it(`rejects rtpmap "${bad}"`, () => assert.throws(() => parseRtpMap(bad), SdpAttributeError));
    }
    it('splits fmtp at the first blank', () => {
      assert.deepEqual(parseFmtp('104 useinbandfec=1; usedtx=0'), [104, 'useinbandfec=1; usedtx=0']);
      assert.deepEqual(parseFmtp('101'), [101, '']);
      assert.throws(() => parseFmtp('* x'), SdpAttributeError);
    });
  });

  describe('crypto', () => {
    it('reads a=cryptoscale with a role, lifetime 2^31 and MKI 1:1', () => {
      assert.deepEqual(parseCrypto(`1 client AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^31|1:1`, true), {
        tag: 1,
        role: 'client',
        suite: 'AES_CM_128_HMAC_SHA1_80',
        keys: [{ method: 'inline', keySalt: KEY, lifetime: 2147483648, mki: { value: 1, length: 1 } }],
        sessionParams: [],
        scale: true,
      });
    });
    it('reads a=cryptoscale without a role', () => {
      const c = parseCrypto(`4 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`, true);
      assert.equal(c.role, undefined);
      assert.equal(c.suite, 'AES_CM_128_HMAC_SHA1_80');
    });
    it('reads several key params, decimal lifetimes, MKI without lifetime and session params (RFC 4568 §9.1 style)', () => {
      const c = parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4;inline:${KEY2}|1048576|2:4;inline:${KEY}|3:2 FEC_ORDER=FEC_SRTP UNENCRYPTED_SRTCP`, false);
      assert.deepEqual(c.keys, [
        { method: 'inline', keySalt: KEY, lifetime: 1048576, mki: { value: 1, length: 4 } },
        { method: 'inline', keySalt: KEY2, lifetime: 1048576, mki: { value: 2, length: 4 } },
        { method: 'inline', keySalt: KEY, mki: { value: 3, length: 2 } },
      ]);
      assert.deepEqual(c.sessionParams, ['FEC_ORDER=FEC_SRTP', 'UNENCRYPTED_SRTCP']);
      assert.equal(c.scale, false);
    });
    for (const bad of [
      '',
      'x AES_CM_128_HMAC_SHA1_80 inline:K',
      '1 AES_CM_128_HMAC_SHA1_80',
      '1 AES_CM_128_HMAC_SHA1_80 inline:',
      '1 AES_CM_128_HMAC_SHA1_80 inline:K|2^x',
      '1 AES_CM_128_HMAC_SHA1_80 inline:K|1:0',
      '1 AES_CM_128_HMAC_SHA1_80 inline:K|1:1|2^31',
      '1 AES_CM_128_HMAC_SHA1_80 inline:K|1|2|3',
      '1 AES_CM_128_HMAC_SHA1_80 nomethod',
      '1 client AES_CM_128_HMAC_SHA1_80 inline:K',
    ]) {
      it(`rejects crypto "${bad}"`, () => assert.throws(() => parseCrypto(bad, false), SdpAttributeError));
    }
  });

  describe('candidates', () => {
    it('reads an RFC 5245 host candidate', () => {
      assert.deepEqual(parseCandidate('1 1 UDP 2130706431 192.168.56.1 27100 typ host', false), {
        form: 'rfc5245',
        foundation: '1',
        component: 1,
        transport: 'UDP',
        priority: 2130706431,
        ip: '192.168.56.1',
        port: 27100,
        type: 'host',
        ipv6Extension: false,
      });
    });
    it('reads relay raddr/rport with a trailing blank (as SIPE writes it) and RFC 6544 tcptype', () => {
      const c = parseCandidate('2 1 TCP-PASS 174456319 194.176.96.67 56148 typ relay raddr 10.77.44.43 rport 50048 ', false);
      assert.equal(c.transport, 'TCP-PASS');
      assert.equal(c.relatedAddress, '10.77.44.43');
      assert.equal(c.relatedPort, 50048);
      const t = parseCandidate('3 1 tcp 1518280447 10.0.0.1 9 typ host tcptype active generation 0', false);
      assert.equal(t.tcpType, 'active');
    });
    it('reads a draft-6 candidate, priority = digits after "0."', () => {
      assert.deepEqual(parseCandidate('oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz 1 XJoleCXuzzNJCbHSKQWcwg UDP 0.830 192.168.0.179 19384', false), {
        form: 'draft6',
        foundation: 'oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz',
        component: 1,
        transport: 'UDP',
        priority: 830,
        ip: '192.168.0.179',
        port: 19384,
        password: 'XJoleCXuzzNJCbHSKQWcwg',
        ipv6Extension: false,
      });
      assert.equal(parseCandidate('u 2 p TCP 1.0 10.0.0.1 443', false).priority, 0); // SIPE's atoi(q + 2)
    });
    it('marks x-candidate-ipv6', () => {
      const c = parseCandidate('6 1 UDP 2130703871 fd00:7:495:1::4c 14530 typ host', true);
      assert.equal(c.ipv6Extension, true);
      assert.equal(c.ip, 'fd00:7:495:1::4c');
    });
    for (const bad of [
      '',
      '1 0 UDP 1 1.2.3.4 5 typ host',
      '1 1 UDP x 1.2.3.4 5 typ host',
      '1 1 UDP 1 1.2.3.4 70000 typ host',
      '1 1 UDP 1 1.2.3.4 5 typ',
      '1 1 UDP 1 1.2.3.4 5 typ relay raddr 1.1.1.1 rport x',
      'u 1 p SCTP 0.5 1.2.3.4 5',
      'u 1 p UDP high 1.2.3.4 5',
      'u 1 p UDP 0.5 1.2.3.4',
    ]) {
      it(`rejects candidate "${bad}"`, () => assert.throws(() => parseCandidate(bad, false), SdpAttributeError));
    }
    it('rejects a draft-6 line given as x-candidate-ipv6', () => {
      assert.throws(() => parseCandidate('u 1 p UDP 0.5 ::1 5', true), /RFC 5245 form/);
    });
  });

  it('reads remote-candidates triples', () => {
    assert.deepEqual(parseRemoteCandidates('1 10.0.0.1 5000 2 10.0.0.1 5001 '), [
      { component: 1, ip: '10.0.0.1', port: 5000 },
      { component: 2, ip: '10.0.0.1', port: 5001 },
    ]);
    assert.throws(() => parseRemoteCandidates('1 10.0.0.1'), SdpAttributeError);
    assert.throws(() => parseRemoteCandidates('1 10.0.0.1 x'), SdpAttributeError);
  });

  it('reads x-ssrc-range', () => {
    assert.deepEqual(parseSsrcRange('1215169024-1215169024'), { first: 1215169024, last: 1215169024 });
    assert.deepEqual(parseSsrcRange('100-199'), { first: 100, last: 199 });
    assert.deepEqual(parseSsrcRange('4294967295'), { first: 4294967295, last: 4294967295 });
    for (const bad of ['', '-', '5-4', '1-4294967296', 'a-b']) assert.throws(() => parseSsrcRange(bad), SdpAttributeError, bad);
  });

  it('reads a=rtcp with and without an address', () => {
    assert.deepEqual(parseRtcp('27101'), { port: 27101 });
    assert.deepEqual(parseRtcp('53020 IN IP6 2001:2345:6789:ABCD:EF01:2345:6789:ABCD'), {
      port: 53020,
      connection: { netType: 'IN', addrType: 'IP6', address: '2001:2345:6789:ABCD:EF01:2345:6789:ABCD' },
    });
    assert.throws(() => parseRtcp('x'), SdpAttributeError);
    assert.throws(() => parseRtcp('1 IN IP4'), SdpAttributeError);
  });

  it('splits multicast TTL and address count off c= addresses', () => {
    assert.deepEqual(parseConnection('IN', 'IP4', '224.2.1.1/127/3'), { netType: 'IN', addrType: 'IP4', address: '224.2.1.1', ttl: 127, addressCount: 3 });
    assert.deepEqual(parseConnection('IN', 'IP4', '224.2.1.1/127'), { netType: 'IN', addrType: 'IP4', address: '224.2.1.1', ttl: 127 });
    assert.deepEqual(parseConnection('IN', 'IP6', 'FF15::101/3'), { netType: 'IN', addrType: 'IP6', address: 'FF15::101', addressCount: 3 });
  });
});
