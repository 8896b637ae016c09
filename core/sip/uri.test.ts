import * as assert from 'node:assert/strict';
import { TaplineError } from '../errors';
import { parseCSeq, parseNameAddr, parseUri, parseVia } from './uri';

function why(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TaplineError, String(e));
    return String(e.details.reason);
  }
  return 'accepted';
}

describe('SIP URI, name-addr, Via and CSeq grammars', () => {
  it('parses a full SIP URI', () => {
    const u = parseUri('SIPS:alice:secret@Example.COM:5061;transport=TLS;LR;maddr=%31%30.0.0.1?Subject=hi%20there&Priority=urgent', 'To');
    assert.deepEqual(u, {
      scheme: 'sips',
      user: 'alice',
      password: 'secret',
      host: 'Example.COM',
      port: 5061,
      params: { transport: 'TLS', lr: null, maddr: '10.0.0.1' },
      headers: { Subject: 'hi%20there', Priority: 'urgent' },
      raw: 'SIPS:alice:secret@Example.COM:5061;transport=TLS;LR;maddr=%31%30.0.0.1?Subject=hi%20there&Priority=urgent',
    });
  });

  it('handles IPv6 references, tel and opaque schemes', () => {
    assert.deepEqual([parseUri('sip:[2001:db8::1]:5060', 'x').host, parseUri('sip:[2001:db8::1]:5060', 'x').port], ['2001:db8::1', 5060]);
    assert.equal(parseUri('sip:u@[::ffff:192.0.2.1];lr', 'x').host, '::ffff:192.0.2.1');
    const tel = parseUri('tel:+1-201-555-0123;phone-context=example.com', 'x');
    assert.deepEqual([tel.user, tel.host, tel.params], ['+1-201-555-0123', '', { 'phone-context': 'example.com' }]);
    assert.deepEqual(parseUri('urn:uuid:f81d4fae', 'x'), { scheme: 'urn', host: '', params: {}, headers: {}, raw: 'urn:uuid:f81d4fae' });
  });

  it('rejects broken URIs', () => {
    assert.equal(why(() => parseUri('alice@example.com', 'x')), 'uri-scheme');
    assert.equal(why(() => parseUri('1sip:a@b', 'x')), 'uri-scheme');
    assert.equal(why(() => parseUri('sip:a b@c', 'x')), 'uri-char');
    assert.equal(why(() => parseUri('sip:a@b:70000', 'x')), 'port');
    assert.equal(why(() => parseUri('sip:a@', 'x')), 'host');
    assert.equal(why(() => parseUri('sip:@b', 'x')), 'uri-user');
    assert.equal(why(() => parseUri('sip:a@[2001:db8::1', 'x')), 'host');
    assert.equal(why(() => parseUri('sip:a@[1.2.3.4]', 'x')), 'host');
    assert.equal(why(() => parseUri('sip:a@b:5060x', 'x')), 'port');
    assert.equal(why(() => parseUri('sip:a@b?x=1', 'Request-URI', true)), 'ruri-headers');
    assert.equal(why(() => parseUri('sip:a@ho$t', 'x')), 'host');
  });

  it('parses name-addr and addr-spec forms with header parameters', () => {
    const q = parseNameAddr('"A \\"B\\" C" <sip:a@b;lr>;tag=1;epid="x;y";foo', 'From');
    assert.deepEqual([q.displayName, q.uri.params, q.params], ['A "B" C', { lr: null }, { tag: '1', epid: 'x;y', foo: null }]);
    const t = parseNameAddr('Anonymous  User<sip:c@d>', 'From');
    assert.equal(t.displayName, 'Anonymous  User');
    const a = parseNameAddr(' sip:a@b ; tag = 7 ', 'To');
    assert.deepEqual([a.displayName, a.uri.raw, a.params], [undefined, 'sip:a@b', { tag: '7' }]);
    assert.deepEqual(parseNameAddr('<sip:a@b>', 'To').params, {});
  });

  it('rejects the name-addr errors RFC 4475 probes', () => {
    assert.equal(why(() => parseNameAddr('"unclosed <sip:a@b>', 'To')), 'quoted-string');
    assert.equal(why(() => parseNameAddr('Doe, John <sip:a@b>', 'To')), 'display-name');
    assert.equal(why(() => parseNameAddr('< sip:a@b>', 'To')), 'addr-spec');
    assert.equal(why(() => parseNameAddr('<sip:a@b >', 'To')), 'addr-spec');
    assert.equal(why(() => parseNameAddr('sip:a@b?Route=x', 'Contact')), 'name-addr');
    assert.equal(why(() => parseNameAddr('<sip:a@b', 'To')), 'name-addr');
    assert.equal(why(() => parseNameAddr('"x" sip:a@b', 'To')), 'name-addr');
    assert.equal(why(() => parseNameAddr('<sip:a@b>;;tag=1', 'To')), 'empty-param');
    assert.equal(why(() => parseNameAddr('<sip:a@b>;tag=', 'To')), 'params');
    assert.equal(why(() => parseNameAddr('<sip:a@b> junk', 'To')), 'params');
    assert.equal(why(() => parseNameAddr('  ', 'To')), 'name-addr');
  });

  it('parses Via with LWS around the slashes, IPv6 sent-by and valueless parameters', () => {
    assert.deepEqual(parseVia('SIP / 2.0 / tls [2001:db8::9:1] : 5061 ; branch = z9hG4bK1;rport;received=[2001:db8::2]'), {
      protocol: 'SIP/2.0',
      transport: 'TLS',
      host: '2001:db8::9:1',
      port: 5061,
      params: { branch: 'z9hG4bK1', rport: null, received: '[2001:db8::2]' },
    });
    assert.equal(why(() => parseVia('SIP/2.0 host')), 'via');
    assert.equal(why(() => parseVia('SIP/2.0/UDP;branch=1')), 'via');
    assert.equal(why(() => parseVia('SIP/2.0/UDP host;;')), 'empty-param');
  });

  it('parses CSeq', () => {
    assert.deepEqual(parseCSeq(' 0009 \t INVITE '), { seq: 9, method: 'INVITE' });
    assert.equal(parseCSeq('99999999999999999999 INVITE').seq, Infinity); // range-checked by the message parser
    for (const bad of ['INVITE', '1', '1INVITE', '1 INVITE x', '-1 INVITE']) assert.equal(why(() => parseCSeq(bad)), 'cseq', bad);
  });
});
