import * as assert from 'node:assert/strict';
import { TaplineError } from '../errors';
import { findSdpBody, parseSipMessage, walkMimeParts } from './index';
import type { SipMessage } from './types';

const V6 = 'v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=session\r\nm=audio 5000 RTP/SAVP 0\r\na=candidate:u 1 p UDP 0.830 10.0.0.1 5000\r\n';
const V19 = 'v=0\r\no=- 0 1 IN IP4 10.0.0.1\r\ns=session\r\nm=audio 6000 RTP/SAVP 0\r\na=candidate:1 1 UDP 2130706431 10.0.0.1 6000 typ host\r\n';
const ALT = `--alt\r\nContent-Type: application/sdp\r\nContent-Disposition: session; handling=optional; ms-proxy-2007fallback\r\n\r\n${V6}--alt\r\nContent-Type: application/sdp\r\n\r\n${V19}--alt--\r\n`;

function message(contentType: string | undefined, body: string): SipMessage {
  const ct = contentType === undefined ? [] : [`Content-Type: ${contentType}`];
  const lines = ['INVITE sip:b@example.com SIP/2.0', 'Via: SIP/2.0/TLS h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', 'Call-ID: c', 'CSeq: 1 INVITE', ...ct, `Content-Length: ${Buffer.byteLength(body)}`];
  return parseSipMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`));
}

function why(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TaplineError, String(e));
    return String(e.details.reason);
  }
  return 'accepted';
}

describe('MIME multipart bodies and findSdpBody', () => {
  it('multipart/alternative {ICEv6, ICEv19}: the last SDP is the ICEv19 one', () => {
    const m = message('multipart/alternative;boundary="alt"', ALT);
    const parts = walkMimeParts(m.headers.get('Content-Type') ?? '', m.body);
    assert.deepEqual(parts.map((p) => p.contentType), ['application/sdp', 'application/sdp']);
    assert.match(parts[0]?.headers['content-disposition'] ?? '', /ms-proxy-2007fallback/);
    // RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter, so a part's last line has none.
    assert.equal(parts[0]?.body.toString(), V6.slice(0, -2));
    assert.equal(findSdpBody(m)?.toString(), V19.slice(0, -2));
  });

  it('multipart/mixed { multipart/alternative {v6, v19}, call context } (MS-SIPRE 3.15.4.1)', () => {
    const body = `preamble\r\n--mix\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n${ALT}\r\n--mix\r\nContent-Type: application/ms-call-context+xml\r\n\r\n<ctx/>\r\n--mix--\r\nepilogue`;
    const m = message('Multipart/Mixed; boundary=mix', body);
    const parts = walkMimeParts(m.headers.get('Content-Type') ?? '', m.body);
    assert.deepEqual(parts.map((p) => p.contentType), ['application/sdp', 'application/sdp', 'application/ms-call-context+xml']);
    assert.equal(parts[2]?.body.toString(), '<ctx/>');
    assert.equal(findSdpBody(m)?.toString(), V19.slice(0, -2));
  });

  it('a single application/sdp body is returned as is; other bodies have no SDP', () => {
    const m = message('application/sdp', V19);
    assert.equal(findSdpBody(m), m.body);
    assert.equal(findSdpBody(message('text/plain', 'hi')), undefined);
    assert.equal(findSdpBody(message(undefined, '')), undefined);
    assert.equal(findSdpBody(message('multipart/mixed;boundary=b', '--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--')), undefined);
  });

  it('handles bare LF, transport padding, a part without headers and a boundary that prefixes another', () => {
    const body = '--b  \n\nplain\n--bx is not a delimiter\n--b\nContent-Type: application/sdp\n\nv=0\n--b--';
    const parts = walkMimeParts('multipart/mixed; boundary=b', Buffer.from(body));
    assert.deepEqual(parts.map((p) => [p.contentType, p.body.toString()]), [
      ['text/plain', 'plain\n--bx is not a delimiter'],
      ['application/sdp', 'v=0'],
    ]);
    assert.deepEqual(walkMimeParts('application/sdp', Buffer.from('v=0')).map((p) => p.contentType), ['application/sdp']);
  });

  it('malformed or truncated multipart throws SIP_PARSE from both walkMimeParts and findSdpBody', () => {
    const truncated = ALT.slice(0, ALT.indexOf('--alt--') - 10);
    assert.equal(why(() => walkMimeParts('multipart/alternative;boundary=alt', Buffer.from(truncated))), 'multipart-truncated');
    assert.equal(why(() => findSdpBody(message('multipart/alternative;boundary=alt', truncated))), 'multipart-truncated');
    assert.equal(why(() => walkMimeParts('multipart/alternative', Buffer.from(ALT))), 'multipart-boundary');
    assert.equal(why(() => walkMimeParts('multipart/alternative;boundary=zzz', Buffer.from(ALT))), 'multipart-truncated');
    assert.equal(why(() => walkMimeParts('multipart/mixed;boundary=b', Buffer.from('--b\r\nContent-Type: text/plain\r\n--b--'))), 'multipart-part');
    assert.equal(why(() => walkMimeParts('multipart/mixed;boundary=b', Buffer.from('--b\r\nno colon\r\n\r\nx\r\n--b--'))), 'multipart-part');
    assert.equal(why(() => walkMimeParts('multipart', Buffer.from(ALT))), 'multipart');
    let nested = '--b0\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0--';
    for (let d = 1; d < 12; d++) nested = `--b${d}\r\nContent-Type: multipart/mixed;boundary=b${d - 1}\r\n\r\n${nested}\r\n--b${d}--`;
    assert.equal(why(() => walkMimeParts('multipart/mixed;boundary=b11', Buffer.from(nested))), 'multipart-depth');
    assert.equal(walkMimeParts('multipart/mixed;boundary=b5', Buffer.from(nested.slice(nested.indexOf('--b5')))).length, 1);
  });

  it('part bodies are views into the message body, not copies', () => {
    const m = message('multipart/alternative;boundary=alt', ALT);
    const sdp = findSdpBody(m);
    assert.ok(sdp !== undefined && sdp.buffer === m.body.buffer);
  });
});
