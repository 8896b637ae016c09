/**
 * Digest authentication of SRCs: the response formula against the RFCs' own worked examples, then the server's
 * verdicts on what SRCs send (no credentials, the right password in SHA-256 or MD5, a wrong one, a forged or
 * expired nonce, an algorithm not accepted).
 */
import * as assert from 'node:assert/strict';
import { parseSipMessage } from '../../core/sip/index';
import { PluginHarness } from '../../core/testing/index';
import type { SipRequest } from '../../core/sip/types';
import { DigestAuth, digestResponse, parseDigest, readCredentials, type DigestAlgorithm } from './digest';

describe('source-siprec: digest authentication', () => {
  it('computes the responses of the worked examples of RFC 2617 §3.5 and RFC 7616 §3.9.1', () => {
    const rfc2617 = { username: 'Mufasa', realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce: '0a4f113b' };
    assert.equal(digestResponse(rfc2617, 'GET', 'Circle Of Life', 'MD5'), '6629fae49393a05397450978507c4ef1');
    const rfc7616 = { username: 'Mufasa', realm: 'http-auth@example.org', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' };
    assert.equal(digestResponse(rfc7616, 'GET', 'Circle of Life', 'SHA-256'), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    assert.equal(digestResponse(rfc7616, 'GET', 'Circle of Life', 'MD5'), '8ca523f5e9506fed4657c9700eebdbec');
  });

  it('reads Authorization parameters quoted or bare, ignoring duplicates and __proto__', () => {
    assert.deepEqual(parseDigest('Digest username="a\\"b", realm="r", nonce=n1, uri="sip:x", response="ff", algorithm=MD5, nonce="other", __proto__="x"'), {
      username: 'a"b',
      realm: 'r',
      nonce: 'n1',
      uri: 'sip:x',
      response: 'ff',
      algorithm: 'MD5',
    });
    assert.equal(parseDigest('Basic dXNlcjpwYXNz'), undefined);
  });

  const auth = new DigestAuth('recorder.example.com', readCredentials('# SRCs\nsbc1:s3cret:with:colons\n\nsbc2:pw\n', 'srcs.txt'));

  function invite(authorization?: string): SipRequest {
    const text = [
      'INVITE sip:srs@192.0.2.1 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1',
      'From: <sip:src@192.0.2.9>;tag=1',
      'To: <sip:srs@192.0.2.1>',
      'Call-ID: d1',
      'CSeq: 1 INVITE',
      ...(authorization !== undefined ? [`Authorization: ${authorization}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const m = parseSipMessage(Buffer.from(text), { transport: 'udp' });
    assert.equal(m.kind, 'request');
    return m as SipRequest;
  }

  /** What an SRC answers to the challenge it picked. */
  function answer(challenge: string, user: string, password: string, over: Partial<Record<string, string>> = {}): string {
    const c = parseDigest(challenge.replace(/^WWW-Authenticate:\s*/i, '')) as Record<string, string>;
    const p: Record<string, string> = { username: user, realm: c.realm as string, nonce: c.nonce as string, uri: 'sip:srs@192.0.2.1', qop: 'auth', nc: '00000001', cnonce: 'c0ffee', algorithm: c.algorithm as string, ...over } as Record<string, string>;
    p.response = over.response ?? digestResponse(p, 'INVITE', password, p.algorithm as DigestAlgorithm);
    return `Digest ${Object.entries(p)
      .map(([k, v]) => (k === 'nc' || k === 'qop' || k === 'algorithm' ? `${k}=${v}` : `${k}="${v}"`))
      .join(', ')}`;
  }

  it('challenges a request without credentials with SHA-256 first, then MD5; accepts the right password in either', () => {
    assert.deepEqual(auth.verify(invite()), { ok: false, stale: false, reason: 'no credentials' });
    const ch = auth.challenge();
    assert.equal(ch.length, 2);
    assert.match(ch[0] as string, /^WWW-Authenticate: Digest realm="recorder\.example\.com", nonce="[^"]+", qop="auth", algorithm=SHA-256$/);
    assert.match(ch[1] as string, /algorithm=MD5$/);
    assert.deepEqual(auth.verify(invite(answer(ch[0] as string, 'sbc1', 's3cret:with:colons'))), { ok: true, username: 'sbc1' });
    assert.deepEqual(auth.verify(invite(answer(ch[1] as string, 'sbc2', 'pw'))), { ok: true, username: 'sbc2' });
  });

  it('refuses a wrong password, an unknown user, another realm, a forged nonce, an algorithm not accepted, and qop auth-int, saying which', () => {
    const [sha] = auth.challenge();
    const reason = (a: string): string => {
      const v = auth.verify(invite(a));
      assert.equal(v.ok, false);
      return (v as { reason: string }).reason;
    };
    assert.equal(reason(answer(sha as string, 'sbc1', 'guess')), 'wrong password for sbc1');
    assert.equal(reason(answer(sha as string, 'mallory', 'x')), 'unknown user mallory');
    assert.match(reason(answer(sha as string, 'sbc1', 's3cret:with:colons', { realm: 'other' })), /realm "other"/);
    assert.equal(reason(answer(sha as string, 'sbc1', 's3cret:with:colons', { nonce: 'lq0.AAAAAAAAAAAAAAAAAAAAAA' })), 'a nonce this server did not issue');
    assert.equal(reason(answer(sha as string, 'sbc1', 's3cret:with:colons', { qop: 'auth-int' })), 'qop auth-int is not supported');
    const md5Only = new DigestAuth('recorder.example.com', new Map([['sbc1', 'pw']]), ['MD5']);
    assert.deepEqual(md5Only.challenge().length, 1);
    assert.equal(reason('Digest username="sbc1", realm="recorder.example.com"'), 'malformed Authorization');
    const v = md5Only.verify(invite(answer(md5Only.challenge()[0]!.replace('MD5', 'SHA-256'), 'sbc1', 'pw')));
    assert.deepEqual(v, { ok: false, stale: false, reason: 'algorithm SHA-256 is not accepted (MD5)' });
  });

  it('an expired nonce with the right password asks again with stale=true', () => {
    const realNow = Date.now;
    let ch: string;
    try {
      Date.now = () => realNow() - 6 * 60_000;
      ch = auth.challenge()[0] as string;
    } finally {
      Date.now = realNow;
    }
    assert.deepEqual(auth.verify(invite(answer(ch, 'sbc1', 's3cret:with:colons'))), { ok: false, stale: true, reason: 'the nonce expired' });
    assert.match(auth.challenge(true)[0] as string, /stale=true/);
  });

  it('a credentials file without credentials, or with a line that is no user:password, is an error naming the line', () => {
    assert.throws(() => readCredentials('# nothing\n', 'f.txt'), /f\.txt: no credentials/);
    assert.throws(() => readCredentials('ok:1\nnocolon\n', 'f.txt'), /f\.txt:2: expected "username:password"/);
  });
});

describe('source-siprec: digest configuration', () => {
  it('a credentials file that cannot be read, or an unknown algorithm, stops start-up with the option named', async () => {
    await assert.rejects(PluginHarness.create('source-siprec', { options: { digest: { realm: 'r', credentialsFile: '/nonexistent/srcs.txt' } }, start: false }), /digest\.credentialsFile \/nonexistent\/srcs\.txt: ENOENT/);
    await assert.rejects(PluginHarness.create('source-siprec', { options: { digest: { realm: 'r', credentialsFile: 'x', algorithms: ['SHA-512-256'] } }, start: false }), /digest\/algorithms\/0/);
  });
});
