/** RFC 4475 torture messages and RFC 5118 IPv6 messages from ../shared/corpus, as the MANIFEST classifies them. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ErrorCodes, TaplineError } from '../errors';
import { corpusPath, describeCorpus, readManifest } from '../../test/corpus';
import { findSdpBody, parseSipMessage, walkMimeParts } from './index';
import type { SipMessage, SipRequest, SipResponse } from './types';

const load4475 = (name: string): Buffer => fs.readFileSync(corpusPath(`sip/rfc4475/${name}.dat`));
/** RFC 5118's archive uses bare LF; the wire form is CRLF. */
const load5118 = (name: string): Buffer => Buffer.from(fs.readFileSync(corpusPath(`sip/rfc5118/${name}`), 'latin1').replace(/\n/g, '\r\n'), 'latin1');

function req(m: SipMessage): SipRequest {
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

function res(m: SipMessage): SipResponse {
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

function rejects(buf: Buffer, reason: string, message?: RegExp): TaplineError {
  try {
    parseSipMessage(buf);
  } catch (e) {
    assert.ok(e instanceof TaplineError, `not a TaplineError: ${String(e)}`);
    assert.equal(e.code, ErrorCodes.SIP_PARSE);
    assert.equal(e.details.reason, reason, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail('parsed, but must be rejected');
}

/** Why each invalid RFC 4475 message must be rejected: [details.reason, words the message must contain]. */
const REJECTS: Record<string, [string, RegExp]> = {
  badaspec: ['addr-spec', /To: whitespace inside <>/],
  baddate: ['date-zone', /Date time zone 'EST'/],
  baddn: ['display-name', /From: display name 'Bell, Alexander'/],
  badinv01: ['empty-param', /Via: empty parameter/],
  badvers: ['version', /unsupported SIP version SIP\/7\.0/],
  bigcode: ['status-range', /status code 4294967301 is outside 100-699/],
  clerr: ['content-length-exceeds-body', /Content-Length 9999 exceeds the \d+ body bytes present/],
  escruri: ['ruri-headers', /Request-URI must not contain escaped headers/],
  ltgtruri: ['request-uri', /must not be enclosed in <>/],
  lwsruri: ['request-uri', /whitespace inside the Request-URI/],
  lwsstart: ['request-line', /more than one SP/],
  mismatch01: ['cseq-method-mismatch', /CSeq method INVITE does not match the request method OPTIONS/],
  mismatch02: ['cseq-method-mismatch', /CSeq method INVITE does not match the request method NEWMETHOD/],
  ncl: ['negative-content-length', /negative Content-Length -999/],
  quotbal: ['quoted-string', /To: unterminated quoted string/],
  regbadct: ['name-addr', /Contact: URI .* must be enclosed in <>/],
  scalar02: ['scalar-range', /CSeq 36893488147419103232.*Contact expires 280297596632815.*Max-Forwards 300 > 255.*Expires/],
  scalarlg: ['scalar-range', /CSeq 9292394834772304023312.*Retry-After 949302838503028349304023988.*Warning code 1812/],
  trws: ['request-line', /trailing whitespace/],
  test: ['request-line', /has no SIP-Version/],
};

describeCorpus('SIP parser on the RFC 4475 torture messages', () => {
  const rows = readManifest().filter((r) => r.file.startsWith('sip/rfc4475/'));

  it('the MANIFEST lists all 50 messages and agrees with the reject table', () => {
    assert.equal(rows.length, 50);
    for (const r of rows) {
      const name = r.file.slice('sip/rfc4475/'.length, -'.dat'.length);
      const invalid = r.description.includes('invalid message') || name === 'test';
      assert.equal(name in REJECTS, invalid, `${name}: ${r.description}`);
    }
  });

  for (const r of rows) {
    const name = r.file.slice('sip/rfc4475/'.length, -'.dat'.length);
    const expect = REJECTS[name];
    if (expect !== undefined) {
      it(`rejects ${name} (${expect[0]})`, () => {
        rejects(load4475(name), expect[0], expect[1]);
      });
    } else {
      it(`accepts ${name}`, () => {
        const m = parseSipMessage(load4475(name));
        assert.ok(m.callId !== '' || name === 'insuf');
      });
    }
  }

  it('wsinv: whitespace, folding, escaped quotes and compact forms (§3.1.1.1)', () => {
    const m = req(parseSipMessage(load4475('wsinv')));
    assert.equal(m.method, 'INVITE');
    assert.equal(m.requestUri.user, 'vivekg');
    assert.deepEqual(m.requestUri.params, { unknownparam: null });
    assert.equal(m.callId, 'wsinv.ndaksdj@192.0.2.1');
    assert.deepEqual(m.cseq, { seq: 9, method: 'INVITE' });
    assert.equal(m.to.params.tag, '1918181833n');
    assert.equal(m.from.displayName, 'J Rosenberg \\"');
    assert.equal(m.from.params.tag, '98asjd8');
    assert.equal(m.headers.get('max-forwards'), '0068');
    assert.equal(m.headers.get('NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(m.headers.get('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    assert.equal(m.headers.get('Subject'), '');
    assert.deepEqual(
      m.via.map((v) => [v.protocol, v.transport, v.host, v.params.branch]),
      [
        ['SIP/2.0', 'UDP', '192.0.2.2', '390skdjuw'],
        ['SIP/2.0', 'TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['SIP/2.0', 'UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    assert.deepEqual(m.headers.getAll('Route'), ['<sip:services.example.com;lr;unknownwith=value;unknown-no-value>']);
    assert.equal(m.contact?.[0]?.displayName, 'Quoted string ""');
    assert.deepEqual(m.contact?.[0]?.params, { newparam: 'newvalue', secondparam: null, q: '0.33' });
    assert.equal(m.contentType, 'application/sdp');
    assert.equal(m.body.length, 150);
    assert.equal(m.wireLength, 1001);
  });

  it('intmeth: every token character, quoted-pairs with controls, UTF-8 (§3.1.1.2)', () => {
    const m = req(parseSipMessage(load4475('intmeth')));
    assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert.equal(m.cseq.method, m.method);
    assert.equal(m.requestUri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(m.requestUri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(m.requestUri.host, 'example.com');
    assert.equal(m.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(m.from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(m.from.params.tag, "_token~1'+`*%!-.");
    assert.equal(m.from.params["fromparam''~+*_!.-%"], 'работающий');
    assert.equal(m.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.equal(m.headers.get("extensionHeader-!.%*+_`'~"), '\ufeff大停電');
    assert.equal(m.via[0]?.params.branch, "z9hG4bK-.!%66*_+`'~");
  });

  it('esc01 / escnull / esc02: %-escapes decoded in user and parameters, kept in raw (§3.1.1.3-5)', () => {
    const m = req(parseSipMessage(load4475('esc01')));
    assert.equal(m.requestUri.user, 'sips:user@example.com');
    assert.equal(m.requestUri.raw, 'sip:sips%3Auser%40example.com@example.net');
    assert.equal(m.from.uri.user, 'I have spaces');
    assert.equal(m.to.uri.user, 'user');
    assert.equal(m.headers.get('c'), 'application/sdp');
    assert.deepEqual(m.contact?.[0]?.uri.params, { lr: null, name: 'value%41' });
    assert.equal(m.contact?.[0]?.uri.user, 'caller');

    const n = parseSipMessage(load4475('escnull'));
    assert.equal(n.to.uri.user, 'null-\x00-null');
    assert.deepEqual(n.contact?.map((c) => c.uri.user), ['\x00', '\x00\x00']);

    const e = req(parseSipMessage(load4475('esc02')));
    assert.equal(e.method, 'RE%47IST%45R');
    assert.equal(e.to.displayName, '%Z%45');
    assert.equal(e.via[0]?.params.branch, 'z9hG4bK209%fzsnel234');
    assert.deepEqual(e.headers.getAll('Contact'), ['<sip:alias1@host1.example.com>', '<sip:alias3@host3.example.com>']);
    assert.deepEqual(e.headers.getAll('C%6Fntact'), ['<sip:alias2@host2.example.com>']);
  });

  it('longreq: long values and 34 Vias written in every case and compact form (§3.1.1.7)', () => {
    const m = parseSipMessage(load4475('longreq'));
    assert.equal(m.via.length, 34);
    assert.equal(m.via[0]?.host, 'sip33.example.com');
    assert.equal(m.via[33]?.params.received, '192.0.2.5');
    assert.match(m.via[33]?.params.branch ?? '', /^verylong(long)+branchvalue$/);
    assert.equal(m.headers.getAll('v').length, 34);
    assert.match(m.to.displayName ?? '', /^I have a user name of (extreme){10} proportion$/);
    assert.equal(m.to.uri.port, 6000);
    assert.equal(m.to.uri.params.unknownparam1, 'verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongvalue');
    assert.equal(m.to.uri.params.verylonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglonglongparameternamewithnovalue, null);
    assert.match(String(m.from.params.tag), /^1(298)+2424$/);
    assert.equal(m.from.uri.user, 'amazinglylongcallername'.repeat(5));
    assert.match(m.callId, /^longreq\.one(really){20}longcallid$/);
    assert.equal(m.body.length, 150);
  });

  it('dblreq: bytes after Content-Length in a datagram are ignored (§3.1.1.8)', () => {
    const buf = load4475('dblreq');
    const m = req(parseSipMessage(buf));
    assert.equal(m.method, 'REGISTER');
    assert.equal(m.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
    assert.equal(m.body.length, 0);
    assert.ok(m.wireLength < buf.length);
    assert.equal(buf.subarray(m.wireLength).toString('latin1').trimStart().slice(0, 6), 'INVITE');
  });

  it('semiuri, transports, lwsdisp, noreason, unreason (§3.1.1.6, .9, .10, .12, .13)', () => {
    const s = req(parseSipMessage(load4475('semiuri')));
    assert.equal(s.requestUri.user, 'user;par=u@example.net');
    assert.equal(s.requestUri.host, 'example.com');
    assert.deepEqual(s.requestUri.params, {});
    assert.equal(s.headers.getAll('Accept').length, 6);
    const t = parseSipMessage(load4475('transports'));
    assert.deepEqual(t.via.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
    assert.equal(t.callId, 'transports.kijh4akdnaqjkwendsasfdj');
    assert.equal(parseSipMessage(load4475('lwsdisp')).from.displayName, 'caller');
    const nr = res(parseSipMessage(load4475('noreason')));
    assert.equal(nr.status, 100);
    assert.equal(nr.reason, '');
    const ur = res(parseSipMessage(load4475('unreason')));
    assert.equal(ur.status, 200);
    assert.equal(ur.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  });

  it('mpart01: multipart/mixed body walked into its two parts (§3.1.1.11)', () => {
    const m = parseSipMessage(load4475('mpart01'));
    assert.equal(m.contentType, 'multipart/mixed');
    assert.equal(m.body.length, 553);
    const parts = walkMimeParts(m.headers.get('Content-Type') ?? '', m.body);
    assert.deepEqual(parts.map((p) => p.contentType), ['text/plain', 'application/octet-stream']);
    assert.equal(parts[0]?.body.toString(), 'Hello');
    assert.equal(parts[1]?.headers['content-transfer-encoding'], 'binary');
    assert.equal(parts[1]?.body[0], 0x30); // DER SEQUENCE of the PKCS#7 blob
    assert.equal(findSdpBody(m), undefined);
  });

  it('inv2543: RFC 2543 syntax accepted; no Content-Length on UDP = rest of datagram (§3.4.1)', () => {
    const buf = load4475('inv2543');
    const m = parseSipMessage(buf);
    assert.equal(m.wireLength, buf.length);
    assert.ok(m.body.toString().startsWith('v=0'));
    assert.deepEqual(m.via[0]?.params, {});
    assert.equal(m.from.params.tag, undefined);
    assert.equal(m.from.uri.params.user, 'phone');
  });

  it('application-layer problems parse, with warnings where the parser noticed (§3.3)', () => {
    const insuf = parseSipMessage(load4475('insuf'));
    assert.deepEqual(insuf.warnings, ['missing Call-ID', 'missing From', 'missing To']);
    assert.equal(insuf.callId, '');
    const mcl = parseSipMessage(load4475('mcl01'));
    assert.match(String(mcl.warnings), /conflicting Content-Length/);
    const multi = parseSipMessage(load4475('multi01'));
    assert.equal(multi.callId, 'multi01.98asdh@192.0.2.1');
    assert.equal(multi.cseq.seq, 5);
    assert.equal(multi.warnings?.length, 4);
    assert.equal(req(parseSipMessage(load4475('novelsc'))).requestUri.scheme, 'soap.beep');
    assert.equal(req(parseSipMessage(load4475('unkscm'))).requestUri.raw, 'nobodyKnowsThisScheme:totallyopaquecontent');
    const unk = parseSipMessage(load4475('unksm2'));
    assert.deepEqual([unk.to.uri.scheme, unk.from.uri.scheme, unk.contact?.[0]?.uri.scheme], ['isbn', 'http', 'name']);
    assert.equal(parseSipMessage(load4475('regescrt')).contact?.[0]?.uri.headers.Route, '%3Csip:sip.example.com%3E');
    assert.deepEqual(parseSipMessage(load4475('cparam01')).contact?.[0]?.params, { unknownparam: null });
    assert.deepEqual(parseSipMessage(load4475('cparam02')).contact?.[0]?.uri.params, { unknownparam: null });
    assert.equal(parseSipMessage(load4475('zeromf')).headers.get('Max-Forwards'), '0');
    assert.equal(parseSipMessage(load4475('bcast')).via[1]?.host, '255.255.255.255');
    assert.equal(parseSipMessage(load4475('badbranch')).via[0]?.params.branch, 'z9hG4bK');
    assert.deepEqual(parseSipMessage(load4475('bext01')).headers.getAll('Require'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
    assert.equal(parseSipMessage(load4475('invut')).contentType, 'application/unknownformat');
  });
});

describeCorpus('SIP parser on the RFC 5118 IPv6 messages', () => {
  it('ipv6-good: bracketed references in Request-URI, Via and Contact (§4.1)', () => {
    const m = req(parseSipMessage(load5118('ipv6-good')));
    assert.equal(m.requestUri.host, '2001:db8::10');
    assert.equal(m.via[0]?.host, '2001:db8::9:1');
    assert.equal(m.contact?.[0]?.uri.host, '2001:db8::1');
  });

  it('ipv6-bad: an unbracketed IPv6 Request-URI is rejected (§4.2)', () => {
    rejects(load5118('ipv6-bad'), 'ipv6-reference', /must be enclosed in \[\]/);
  });

  it('port-ambiguous / port-unambiguous (§4.3, §4.4)', () => {
    const a = req(parseSipMessage(load5118('port-ambiguous')));
    assert.equal(a.requestUri.host, '2001:db8::10:5070');
    assert.equal(a.requestUri.port, undefined);
    const u = req(parseSipMessage(load5118('port-unambiguous')));
    assert.equal(u.requestUri.host, '2001:db8::10');
    assert.equal(u.requestUri.port, 5070);
  });

  it('Via received with and without delimiters (§4.5)', () => {
    assert.equal(parseSipMessage(load5118('via-received-param-with-delim')).via[0]?.params.received, '[2001:db8::9:255]');
    assert.equal(parseSipMessage(load5118('via-received-param-no-delim')).via[0]?.params.received, '2001:db8::9:255');
  });

  it('multiple IP versions in Via (§4.7)', () => {
    const m = parseSipMessage(load5118('mult-ip-in-header'));
    assert.deepEqual(m.via.map((v) => [v.transport, v.host, v.port]), [
      ['UDP', '2001:db8::9:1', 6050],
      ['UDP', '192.0.2.1', undefined],
      ['TCP', '2001:db8::9:255', undefined],
    ]);
    assert.equal(m.via[2]?.params.received, '192.0.2.200');
  });

  it('IPv4-mapped IPv6 (§4.9) and the ABNF 2- and 3-colon forms (§4.10)', () => {
    const m = parseSipMessage(load5118('ipv4-mapped-ipv6'));
    assert.deepEqual([m.via[0]?.host, m.via[0]?.port, m.via[1]?.host], ['::ffff:192.0.2.10', 19823, '::ffff:192.0.2.2']);
    assert.equal(m.contact?.[0]?.uri.host, '::ffff:192.0.2.2');
    assert.match(findSdpBody(m)?.toString() ?? '', /c=IN IP6 ::ffff:192\.0\.2\.2/);
    // These two archive files stop after the last header line, without the empty line.
    const three = req(parseSipMessage(load5118('ipv6-bug-abnf-3-colons')));
    assert.equal(three.requestUri.host, '2001:db8:::192.0.2.1');
    assert.equal(three.to.uri.host, '2001:db8:::192.0.2.1');
    assert.equal(req(parseSipMessage(load5118('ipv6-correct-abnf-2-colons'))).requestUri.host, '2001:db8::192.0.2.1');
  });

  it('IPv6 in SDP (§4.6, §4.8); ipv6-in-sdp\'s Content-Length (268) is larger than its body in either line ending', () => {
    const raw = load5118('ipv6-in-sdp');
    rejects(raw, 'content-length-exceeds-body', /Content-Length 268 exceeds the 251 body bytes present/);
    const fixed = parseSipMessage(Buffer.from(raw.toString('latin1').replace('Content-Length: 268', 'Content-Length: 251'), 'latin1'));
    assert.equal(req(fixed).requestUri.host, '2001:db8::10');
    assert.match(findSdpBody(fixed)?.toString() ?? '', /c=IN IP6 2001:db8::20\r\n/);
    const mult = parseSipMessage(load5118('mult-ip-in-sdp'));
    assert.equal(mult.contact?.[0]?.uri.host, '2001:db8::9:1');
    assert.match(findSdpBody(mult)?.toString() ?? '', /c=IN IP6 2001:db8::1/);
  });

  it('the archive files also parse in their bare-LF form', () => {
    const m = req(parseSipMessage(fs.readFileSync(corpusPath('sip/rfc5118/ipv6-good'))));
    assert.equal(m.requestUri.host, '2001:db8::10');
    assert.equal(m.callId, 'SSG9559905523997077@hlau_4100');
  });
});
