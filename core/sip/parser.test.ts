import * as assert from 'node:assert/strict';
import { ErrorCodes, TaplineError } from '../errors';
import { lyncInvite } from '../../test/bench/sip-bench';
import { findSdpBody, parseSipMessage } from './index';
import type { ParseOptions, SipMessage, SipRequest, SipResponse } from './index';

const wire = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');

const BASE = [
  'Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@example.com>',
  'From: Alice <sip:alice@example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
];

function invite(extra: string[] = [], body = ''): Buffer {
  return wire(['INVITE sip:bob@example.com SIP/2.0', ...BASE, ...extra, `Content-Length: ${Buffer.byteLength(body)}`], body);
}

function reason(buf: Buffer, opts?: ParseOptions): string {
  try {
    parseSipMessage(buf, opts);
  } catch (e) {
    assert.ok(e instanceof TaplineError, `expected a TaplineError, got ${String(e)}`);
    assert.equal(e.code, ErrorCodes.SIP_PARSE);
    return String(e.details.reason);
  }
  return 'accepted';
}

const asReq = (m: SipMessage): SipRequest => (m.kind === 'request' ? m : assert.fail('not a request'));
const asRes = (m: SipMessage): SipResponse => (m.kind === 'response' ? m : assert.fail('not a response'));

describe('parseSipMessage', () => {
  it('parses a request and exposes the convenience fields', () => {
    const m = asReq(parseSipMessage(invite(['Content-Type: Application/SDP; charset=utf-8'], 'v=0\r\n')));
    assert.equal(m.method, 'INVITE');
    assert.equal(m.version, 'SIP/2.0');
    assert.equal(m.requestUri.user, 'bob');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
    assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
    assert.equal(m.from.displayName, 'Alice');
    assert.equal(m.from.params.tag, '1928301774');
    assert.equal(m.to.uri.host, 'example.com');
    assert.equal(m.via[0]?.params.branch, 'z9hG4bK776asdhds');
    assert.equal(m.contentType, 'application/sdp');
    assert.equal(m.body.toString(), 'v=0\r\n');
    assert.equal(m.warnings, undefined);
  });

  it('parses a response', () => {
    const m = asRes(parseSipMessage(wire(['SIP/2.0 183 Session Progress', ...BASE, 'Content-Length: 0'])));
    assert.equal(m.status, 183);
    assert.equal(m.reason, 'Session Progress');
    assert.equal(m.cseq.method, 'INVITE');
    assert.equal(asRes(parseSipMessage(wire(['sip/2.0 200', ...BASE, 'l: 0']))).reason, '');
  });

  it('expands every compact form and looks names up case-insensitively', () => {
    const compact = ['a: *;audio', 'b: <sip:c@example.com>', 'c: text/plain', 'd: proxy', 'e: gzip', 'j: *;video', 'k: timer', 'm: <sip:a@h>', 'n: <https://x.example/cert>', 'o: refer', 'r: <sip:t@example.com>', 's: hi', 'u: dialog', 'x: 1800', 'y: c2lnbmF0dXJl'];
    const m = parseSipMessage(wire(['OPTIONS sip:b@example.com SIP/2.0', 'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:a@example.com>;tag=1', 't: <sip:b@example.com>', 'i: cid', 'CSEQ: 1 OPTIONS', ...compact, 'l: 2'], 'hi'));
    assert.deepEqual(
      m.headers.entries().map(([n]) => n),
      ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Accept-Contact', 'Referred-By', 'Content-Type', 'Request-Disposition', 'Content-Encoding', 'Reject-Contact', 'Supported', 'Contact', 'Identity-Info', 'Event', 'Refer-To', 'Subject', 'Allow-Events', 'Session-Expires', 'Identity', 'Content-Length'],
    );
    assert.equal(m.headers.get('session-expires'), '1800');
    assert.equal(m.headers.get('X'), '1800');
    assert.equal(m.headers.get('REFER-TO'), '<sip:t@example.com>');
    assert.equal(m.callId, 'cid');
    assert.equal(m.body.toString(), 'hi');
  });

  it('keeps repeated and comma-separated values in order, respecting quotes and <>', () => {
    const m = parseSipMessage(
      invite([
        'Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK2, SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK3',
        'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;x="a,b">',
        'Record-Route: <sip:p3.example.com;lr>',
        'Contact: "Smith, John" <sip:john@h1.example.com>;expires=60, <sip:j@h2.example.com;x=1>',
        'Supported: timer,100rel , replaces',
        'Date: Sat, 15 Oct 2005 04:44:56 GMT',
      ]),
    );
    assert.deepEqual(m.via.map((v) => v.host), ['pc33.example.com', 'a.example.com', '2001:db8::1']);
    assert.deepEqual(m.headers.getAll('Record-Route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr;x="a,b">', '<sip:p3.example.com;lr>']);
    assert.deepEqual(m.contact?.map((c) => [c.displayName, c.uri.host, c.params.expires]), [
      ['Smith, John', 'h1.example.com', '60'],
      [undefined, 'h2.example.com', undefined],
    ]);
    assert.deepEqual(m.headers.getAll('Supported'), ['timer', '100rel', 'replaces']);
    assert.deepEqual(m.headers.getAll('Date'), ['Sat, 15 Oct 2005 04:44:56 GMT']);
  });

  it('unfolds continuation lines and keeps quoted strings as written', () => {
    const m = parseSipMessage(invite(['Subject: I know you\'re there,', '   pick up the phone', '\tand talk to me!', 'X-Q: "a\\"b;c" ; p="q,r"']));
    assert.equal(m.headers.get('Subject'), "I know you're there, pick up the phone and talk to me!");
    assert.equal(m.headers.get('x-q'), '"a\\"b;c" ; p="q,r"');
  });

  it('accepts bare-LF line endings and skips CRLFs before the start line', () => {
    const lf = Buffer.from(`\r\n\r\nOPTIONS sip:b@example.com SIP/2.0\n${BASE.join('\n').replace('INVITE', 'OPTIONS')}\nContent-Length: 3\n\nabc`);
    const m = asReq(parseSipMessage(lf));
    assert.equal(m.method, 'OPTIONS');
    assert.equal(m.body.toString(), 'abc');
    assert.equal(m.wireLength, lf.length - 4);
  });

  describe('body framing', () => {
    it('takes exactly Content-Length bytes; extra datagram bytes are ignored', () => {
      const buf = Buffer.concat([invite([], 'abc'), Buffer.from('trailing junk')]);
      const m = parseSipMessage(buf);
      assert.equal(m.body.toString(), 'abc');
      assert.equal(m.wireLength, buf.length - 'trailing junk'.length);
    });

    it('without Content-Length a datagram body is the rest of the datagram, a stream message is an error', () => {
      const buf = wire(['INVITE sip:bob@example.com SIP/2.0', ...BASE], 'v=0\r\n');
      assert.equal(parseSipMessage(buf).body.toString(), 'v=0\r\n');
      assert.equal(reason(buf, { transport: 'stream' }), 'no-content-length');
    });

    it('names the problem when Content-Length is wrong', () => {
      const body = 'x'.repeat(120);
      const big = Buffer.from(invite([], body).toString().replace('Content-Length: 120', 'Content-Length: 9999'));
      assert.throws(() => parseSipMessage(big), (e: TaplineError) => {
        assert.equal(e.message, 'Content-Length 9999 exceeds the 120 body bytes present');
        assert.deepEqual(e.details, { reason: 'content-length-exceeds-body', contentLength: 9999, available: 120 });
        return true;
      });
      assert.equal(reason(Buffer.from(invite().toString().replace('Content-Length: 0', 'Content-Length: -1'))), 'negative-content-length');
      assert.equal(reason(Buffer.from(invite().toString().replace('Content-Length: 0', 'Content-Length: 1e3'))), 'content-length');
      assert.equal(reason(Buffer.from(invite().toString().replace('Content-Length: 0', `Content-Length: ${'9'.repeat(400)}`))), 'content-length-exceeds-body');
    });

    it('a stream message may be followed by the next one: wireLength says where it ends', () => {
      const one = invite([], 'abc');
      const m = parseSipMessage(Buffer.concat([one, one]), { transport: 'stream' });
      assert.equal(m.wireLength, one.length);
    });

    it('a datagram may end right after its last header line; anything shorter is truncated', () => {
      const noBlank = Buffer.from(`INVITE sip:bob@example.com SIP/2.0\r\n${BASE.join('\r\n')}\r\nContent-Length: 0\r\n`);
      assert.deepEqual(parseSipMessage(noBlank).warnings, ['header section not terminated by an empty line']);
      assert.equal(reason(noBlank, { transport: 'stream' }), 'truncated');
      assert.equal(reason(noBlank.subarray(0, noBlank.length - 5)), 'truncated');
    });
  });

  describe('rejects malformed input with a reason', () => {
    const cases: Array<[string, Buffer, string]> = [
      ['empty buffer', Buffer.alloc(0), 'empty'],
      ['keep-alive only', Buffer.from('\r\n\r\n'), 'empty'],
      ['header line without colon', invite(['NoColonHere']), 'header-line'],
      ['space inside a header name', invite(['Bad Name: x']), 'header-name'],
      ['status code 99', wire(['SIP/2.0 99 Low', ...BASE, 'l: 0']), 'status-range'],
      ['status code 1000', wire(['SIP/2.0 1000 High', ...BASE, 'l: 0']), 'status-range'],
      ['status code not digits', wire(['SIP/2.0 2x0 OK', ...BASE, 'l: 0']), 'status-line'],
      ['malformed version', wire(['INVITE sip:bob@example.com SIP/two', ...BASE, 'l: 0']), 'version'],
      ['tab-separated request line', wire(['INVITE\tsip:bob@example.com\tSIP/2.0', ...BASE, 'l: 0']), 'start-line'],
      ['garbage start line', wire(['hello world', ...BASE]), 'request-line'],
      ['Max-Forwards not a number', invite(['Max-Forwards: ten']), 'max-forwards'],
      ['Via without sent-by', invite(['Via: SIP/2.0/UDP']), 'via'],
      ['Via with a bad port', invite(['Via: SIP/2.0/UDP host:99999']), 'port'],
      ['empty Via list element', invite(['Via: SIP/2.0/UDP a;branch=1,,SIP/2.0/UDP b']), 'empty-param'],
      ['malformed CSeq', Buffer.from(invite().toString().replace('CSeq: 314159 INVITE', 'CSeq: INVITE 1')), 'cseq'],
      ['malformed Content-Type', invite(['Content-Type: sdp']), 'content-type'],
      ['Date not GMT', invite(['Date: Sat, 15 Oct 2005 04:44:56 PST']), 'date-zone'],
      ['Date malformed', invite(['Date: yesterday GMT']), 'date'],
    ];
    for (const [what, buf, why] of cases) it(`${what} -> ${why}`, () => assert.equal(reason(buf), why));
  });

  it('rejects an empty Call-ID when it is the only one', () => {
    const buf = Buffer.from(invite().toString().replace('Call-ID: a84b4c76e66710@pc33.example.com', 'Call-ID:'));
    assert.equal(reason(buf), 'call-id');
  });

  it('parses the Lync INVITE of the bench and finds its last (ICEv19) SDP', () => {
    const m = asReq(parseSipMessage(lyncInvite()));
    assert.equal(m.requestUri.params.gruu, null);
    assert.equal(m.via.length, 3);
    assert.equal(m.from.params.epid, '3a2b1c0d9e');
    assert.equal(m.headers.getAll('Record-Route').length, 2);
    assert.equal(m.contentType, 'multipart/alternative');
    const sdp = findSdpBody(m)?.toString() ?? '';
    assert.match(sdp, /^v=0\r\no=- 0 1 /);
    assert.match(sdp, /typ relay raddr/);
  });

  describe('robustness', () => {
    /** Deterministic PRNG so a failure is reproducible. */
    function rng(seed: number): () => number {
      let s = seed >>> 0;
      return () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s / 2 ** 32;
      };
    }
    const onlyTaplineErrors = (buf: Buffer, opts?: ParseOptions): void => {
      try {
        parseSipMessage(buf, opts);
      } catch (e) {
        if (!(e instanceof TaplineError)) throw new Error(`non-Tapline error on ${JSON.stringify(buf.toString('latin1').slice(0, 200))}: ${String(e)}`);
      }
    };

    it('every truncation of a real message either parses or throws TaplineError', () => {
      const buf = lyncInvite();
      for (let i = 0; i <= buf.length; i++) {
        onlyTaplineErrors(buf.subarray(0, i));
        onlyTaplineErrors(buf.subarray(0, i), { transport: 'stream' });
      }
    });

    it('random byte mutations never escape as TypeError', () => {
      const seeds = [lyncInvite(), invite(['Contact: "x" <sip:a@[::1]:5060;transport=tcp>;q=0.5', 'Date: Sat, 15 Oct 2005 04:44:56 GMT'], 'v=0\r\n')];
      const rand = rng(4475);
      const alphabet = Buffer.from(' \t\r\n:;,<>"\\@[]%=/?*-0123456789SIPsipvV\x00\xff');
      for (let n = 0; n < 20000; n++) {
        const src = seeds[n % seeds.length]!;
        const buf = Buffer.from(src);
        const edits = 1 + Math.floor(rand() * 4);
        for (let k = 0; k < edits; k++) buf[Math.floor(rand() * buf.length)] = alphabet[Math.floor(rand() * alphabet.length)]!;
        onlyTaplineErrors(buf);
      }
    });

    it('random garbage never escapes as TypeError', () => {
      const rand = rng(5118);
      for (let n = 0; n < 3000; n++) {
        const buf = Buffer.alloc(Math.floor(rand() * 300));
        for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
        onlyTaplineErrors(buf);
        onlyTaplineErrors(Buffer.concat([Buffer.from('INVITE sip:a@b SIP/2.0\r\n'), buf]));
      }
    });

    it('large hostile inputs finish quickly (no backtracking, no quadratic loops)', () => {
      const big = 1 << 20;
      const inputs = [
        Buffer.alloc(big, 'a'),
        Buffer.alloc(big, '\n'),
        Buffer.from(`INVITE sip:a@b SIP/2.0\r\nX: ${' '.repeat(big)}y\r\n\r\n`),
        Buffer.from(`INVITE sip:a@b SIP/2.0\r\nX${' '.repeat(big)}: y\r\n\r\n`),
        invite([`From: ${'"'.repeat(big)}`]),
        invite([`From: ${'<'.repeat(big)}`]),
        invite([`Contact: ${'<sip:a@b>,'.repeat(big / 40)}`]),
        invite([`Via: SIP/2.0/UDP h${';'.repeat(big)}`]),
        invite([`Via: ${','.repeat(big)}`]),
        invite([`To: ${'\\"'.repeat(big / 2)}`]),
        invite([`Date: ${'Mon, '.repeat(big / 5)}`]),
        invite(['X:', ...new Array<string>(50000).fill(' folded')]),
        invite([`Warning: ${'399 h "t", '.repeat(big / 10)}`]),
        Buffer.from(`INVITE sip:${'a'.repeat(big)}@${'[1'.repeat(big / 2)} SIP/2.0\r\n\r\n`),
      ];
      for (const buf of inputs) {
        const t0 = Date.now();
        onlyTaplineErrors(buf);
        onlyTaplineErrors(buf, { transport: 'stream' });
        if (process.env.SIP_TIMING) console.log(Date.now() - t0, buf.toString('latin1', 0, 60).replace(/\s+/g, ' '));
        assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms on ${buf.toString('latin1', 0, 40)}`);
      }
    });
  });
});
