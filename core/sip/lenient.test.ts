import * as assert from 'node:assert/strict';
import { parseSipMessage } from './parser';
import { ErrorCodes, isTaplineError } from '../errors';

const msg = (ruri: string, extra = ''): Buffer =>
  Buffer.from(
    [
      `INVITE ${ruri} SIP/2.0`,
      'Via: SIP/2.0/UDP [fe80::21a:a0ff:fe07:32e0]:5060;branch=z9hG4bK1',
      'From: <sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0>;tag=1',
      'To: <sip:4321@example.com>',
      'Call-ID: v6@test',
      'CSeq: 1 INVITE',
      ...(extra ? [extra] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );

describe('lenient SIP parsing (what a recorder must not lose)', () => {
  it('strict parsing rejects an unbracketed IPv6 host (RFC 5118 §4.2)', () => {
    assert.throws(() => parseSipMessage(msg('sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060')), (e: unknown) => isTaplineError(e, ErrorCodes.SIP_PARSE) && e.details.reason === 'ipv6-reference');
  });

  it('lenient parsing keeps it, reads the trailing port, and says what it accepted', () => {
    const m = parseSipMessage(msg('sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060'), { lenient: true });
    assert.equal(m.kind, 'request');
    if (m.kind !== 'request') return;
    assert.equal(m.requestUri.host, 'fec0:0:0:0:216:d3ff:fe0d:22c');
    assert.equal(m.requestUri.port, 5060);
    assert.equal(m.from.uri.host, 'fe80:0:0:0:21a:a0ff:fe07:32e0');
    assert.equal(m.from.uri.port, undefined);
    assert.ok(m.warnings?.some((w) => /Request-URI: IPv6 address not enclosed/.test(w)));
    assert.ok(m.warnings?.some((w) => /From: IPv6 address not enclosed/.test(w)));
  });

  it('lenient parsing turns a bad Date and an overlarge Expires into warnings', () => {
    const a = parseSipMessage(msg('sip:4321@example.com', 'Date: Fri, 01 Jan 2010 16:00:00 EST'), { lenient: true });
    assert.ok(a.warnings?.some((w) => /Date/.test(w)));
    const b = parseSipMessage(msg('sip:4321@example.com', 'Expires: 99999999999999'), { lenient: true });
    assert.ok(b.warnings?.some((w) => /Expires/.test(w)));
    assert.throws(() => parseSipMessage(msg('sip:4321@example.com', 'Expires: 99999999999999')));
  });

  it('lenient mode does not leak into the next strict parse', () => {
    parseSipMessage(msg('sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060'), { lenient: true });
    assert.throws(() => parseSipMessage(msg('sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060')));
  });
});
