import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ErrorCodes, isTaplineError } from '../errors';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { effectiveRtpMap, mediaEndpoints, parseSdp } from './index';
import type { SdpMedia, SdpSession } from './types';

const KEY = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk'; // made up, 40 chars like a real 30-byte key||salt

/** The SfB 2016 audio offer of lync-protocols.md §1.2, with full-length keys. */
export const LYNC_OFFER = [
  'v=0',
  'o=- 0 0 IN IP4 192.168.56.1',
  's=session',
  'c=IN IP4 192.168.56.1',
  'b=CT:99980',
  't=0 0',
  'a=x-mediabw:main-video send=12000;recv=12000',
  'a=x-devicecaps:audio:send,recv;video:send,recv',
  'm=audio 27100 RTP/SAVP 117 104 114 9 112 111 0 8 103 116 115 97 13 118 119 101',
  'a=x-ssrc-range:1215169024-1215169024',
  'a=rtcp-fb:* x-message app send:dsh recv:dsh',
  'a=rtcp-rsize',
  'a=label:main-audio',
  'a=x-source:main-audio',
  'a=ice-ufrag:lMRF',
  'a=ice-pwd:oeNM9Rf6IT4BtUaOKa60ivx2',
  'a=candidate:1 1 UDP 2130706431 192.168.56.1 27100 typ host',
  'a=candidate:1 2 UDP 2130705918 192.168.56.1 27101 typ host',
  'a=x-candidate-ipv6:6 1 UDP 2130703871 fd00:7:495:1::4c 14530 typ host',
  'a=candidate:7 1 TCP-ACT 1684796415 192.168.56.1 27100 typ srflx raddr 192.168.56.1 rport 27100',
  `a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^31|1:1`,
  `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^31|1:1`,
  `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^31`,
  'a=maxptime:200',
  'a=rtcp:27101',
  'a=rtpmap:117 G722/8000/2',
  'a=rtpmap:104 SILK/16000',
  'a=fmtp:104 useinbandfec=1; usedtx=0',
  'a=rtpmap:114 x-msrta/16000',
  'a=fmtp:114 bitrate=29000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:112 G7221/16000',
  'a=fmtp:112 bitrate=24000',
  'a=rtpmap:111 SIREN/16000',
  'a=fmtp:111 bitrate=16000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:103 SILK/8000',
  'a=fmtp:103 useinbandfec=1; usedtx=0',
  'a=rtpmap:116 AAL2-G726-32/8000',
  'a=rtpmap:115 x-msrta/8000',
  'a=fmtp:115 bitrate=11800',
  'a=rtpmap:97 RED/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:118 CN/16000',
  'a=rtpmap:119 CN/24000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=rtcp-mux',
  'a=ptime:20',
  '',
].join('\r\n');

const sdp = (...lines: string[]): string => [...lines, ''].join('\r\n');
const HEAD = ['v=0', 'o=- 1 2 IN IP4 10.0.0.5', 's=session', 'c=IN IP4 10.0.0.5', 't=0 0'];

function only(s: SdpSession): SdpMedia {
  assert.equal(s.media.length, 1);
  return s.media[0] as SdpMedia;
}

function assertSdpError(text: string, line: number, fragment: string | RegExp): void {
  assert.throws(
    () => parseSdp(text),
    (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.SDP_PARSE), `expected SDP_PARSE, got ${String(e)}`);
      assert.match(e.message, new RegExp(`^SDP line ${line}: `));
      if (typeof fragment === 'string') assert.ok(e.message.includes(fragment), e.message);
      else assert.match(e.message, fragment);
      assert.equal(e.details.line, line);
      return true;
    },
  );
}

/** Deterministic bytes for the garbage tests (xorshift32). */
function garbage(n: number, seed: number, alphabet?: string): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = x >>> 0;
    out[i] = alphabet === undefined ? r & 0xff : alphabet.charCodeAt(r % alphabet.length);
  }
  return out;
}

describe('parseSdp', () => {
  describe('the SfB 2016 offer (lync-protocols.md §1.2)', () => {
    const s = parseSdp(LYNC_OFFER);
    const m = only(s);

    it('reads the session lines', () => {
      assert.equal(s.version, 0);
      assert.deepEqual(s.origin, { username: '-', sessionId: '0', sessionVersion: '0', netType: 'IN', addrType: 'IP4', address: '192.168.56.1' });
      assert.equal(s.sessionName, 'session');
      assert.deepEqual(s.connection, { netType: 'IN', addrType: 'IP4', address: '192.168.56.1' });
      assert.deepEqual(s.bandwidths, [{ type: 'CT', value: 99980 }]);
      assert.deepEqual(s.attributes, [
        { name: 'x-mediabw', value: 'main-video send=12000;recv=12000' },
        { name: 'x-devicecaps', value: 'audio:send,recv;video:send,recv' },
      ]);
      assert.deepEqual(s.warnings, []);
    });

    it('reads the m= line and inherits the session c=', () => {
      assert.equal(m.type, 'audio');
      assert.equal(m.port, 27100);
      assert.equal(m.portCount, undefined);
      assert.equal(m.proto, 'RTP/SAVP');
      assert.deepEqual(m.formats, ['117', '104', '114', '9', '112', '111', '0', '8', '103', '116', '115', '97', '13', '118', '119', '101']);
      assert.deepEqual(m.connection, s.connection);
    });

    it('keeps every a= line in order, unknown ones included', () => {
      const expected = LYNC_OFFER.split('\r\n')
        .filter((l) => l.startsWith('a=') && !l.startsWith('a=x-mediabw') && !l.startsWith('a=x-devicecaps'))
        .map((l) => {
          const c = l.indexOf(':');
          return c === -1 ? { name: l.slice(2), value: null } : { name: l.slice(2, c), value: l.slice(c + 1) };
        });
      assert.equal(m.attributes.length, 41);
      assert.deepEqual(m.attributes, expected);
      for (const name of ['x-ssrc-range', 'rtcp-fb', 'rtcp-rsize', 'label', 'x-source', 'ice-ufrag', 'ice-pwd', 'maxptime', 'cryptoscale']) {
        assert.ok(m.attributes.some((a) => a.name === name), name);
      }
      assert.deepEqual(m.attributes.find((a) => a.name === 'rtcp-rsize'), { name: 'rtcp-rsize', value: null });
    });

    it('derives ssrc range, label, rtcp, rtcp-mux, ptime and direction', () => {
      assert.deepEqual(m.ssrcRange, { first: 1215169024, last: 1215169024 });
      assert.equal(m.label, 'main-audio');
      assert.equal(m.rtcpPort, 27101);
      assert.equal(m.rtcpMux, true);
      assert.equal(m.ptime, 20);
      assert.equal(m.direction, 'sendrecv');
    });

    it('derives every candidate, the TCP-ACT srflx and the x-candidate-ipv6 included', () => {
      assert.deepEqual(m.candidates, [
        { form: 'rfc5245', foundation: '1', component: 1, transport: 'UDP', priority: 2130706431, ip: '192.168.56.1', port: 27100, type: 'host', ipv6Extension: false },
        { form: 'rfc5245', foundation: '1', component: 2, transport: 'UDP', priority: 2130705918, ip: '192.168.56.1', port: 27101, type: 'host', ipv6Extension: false },
        { form: 'rfc5245', foundation: '6', component: 1, transport: 'UDP', priority: 2130703871, ip: 'fd00:7:495:1::4c', port: 14530, type: 'host', ipv6Extension: true },
        {
          form: 'rfc5245',
          foundation: '7',
          component: 1,
          transport: 'TCP-ACT',
          priority: 1684796415,
          ip: '192.168.56.1',
          port: 27100,
          type: 'srflx',
          relatedAddress: '192.168.56.1',
          relatedPort: 27100,
          ipv6Extension: false,
        },
      ]);
      assert.deepEqual(m.remoteCandidates, []);
    });

    it('derives the three crypto lines: scale, MKI 1:1 with 2^31, no MKI', () => {
      assert.deepEqual(m.crypto, [
        {
          tag: 1,
          suite: 'AES_CM_128_HMAC_SHA1_80',
          keys: [{ method: 'inline', keySalt: KEY, lifetime: 2 ** 31, mki: { value: 1, length: 1 } }],
          sessionParams: [],
          scale: true,
          role: 'client',
        },
        {
          tag: 2,
          suite: 'AES_CM_128_HMAC_SHA1_80',
          keys: [{ method: 'inline', keySalt: KEY, lifetime: 2147483648, mki: { value: 1, length: 1 } }],
          sessionParams: [],
          scale: false,
        },
        { tag: 3, suite: 'AES_CM_128_HMAC_SHA1_80', keys: [{ method: 'inline', keySalt: KEY, lifetime: 2147483648 }], sessionParams: [], scale: false },
      ]);
      assert.equal(m.crypto[0]?.keys[0]?.keySalt.length, 40);
    });

    it('derives rtpmap (G722/8000/2 has 2 channels, x-msrta kept as written) and fmtp', () => {
      assert.equal(m.rtpmap.size, 16);
      assert.deepEqual(m.rtpmap.get(117), { payloadType: 117, encoding: 'G722', clockRate: 8000, channels: 2 });
      assert.deepEqual(m.rtpmap.get(9), { payloadType: 9, encoding: 'G722', clockRate: 8000, channels: 1 });
      assert.deepEqual(m.rtpmap.get(114), { payloadType: 114, encoding: 'x-msrta', clockRate: 16000, channels: 1 });
      assert.deepEqual(m.rtpmap.get(115), { payloadType: 115, encoding: 'x-msrta', clockRate: 8000, channels: 1 });
      assert.equal(m.rtpmap.get(101)?.encoding, 'telephone-event');
      assert.equal(m.rtpmap.get(119)?.clockRate, 24000);
      for (const f of m.formats) assert.ok(m.rtpmap.has(Number(f)), `rtpmap for ${f}`);
      assert.deepEqual(
        [...m.fmtp],
        [
          [104, 'useinbandfec=1; usedtx=0'],
          [114, 'bitrate=29000'],
          [112, 'bitrate=24000'],
          [111, 'bitrate=16000'],
          [103, 'useinbandfec=1; usedtx=0'],
          [115, 'bitrate=11800'],
          [101, '0-16'],
        ],
      );
    });

    it('lists the media endpoints (no RTCP port+1 entry under rtcp-mux)', () => {
      assert.deepEqual(mediaEndpoints(m), [
        { ip: '192.168.56.1', port: 27100, source: 'c/m', component: 1 },
        { ip: '192.168.56.1', port: 27100, source: 'candidate', component: 1 },
        { ip: '192.168.56.1', port: 27101, source: 'candidate', component: 2 },
        { ip: 'fd00:7:495:1::4c', port: 14530, source: 'candidate', component: 1 },
      ]);
    });

    it('parses the same with LF line ends, trailing blanks, or as a Buffer', () => {
      const lf = parseSdp(LYNC_OFFER.replace(/\r\n/g, '\n'));
      assert.deepEqual(lf, s);
      assert.deepEqual(parseSdp(LYNC_OFFER.replace(/\r\n/g, ' \t\r\n')), s);
      assert.deepEqual(parseSdp(Buffer.from(LYNC_OFFER)), s);
      assert.deepEqual(parseSdp(LYNC_OFFER.trimEnd()), s); // no final line end
    });

    it(`parses at ≥ 50,000 SDP/s (measured, not asserted)`, function () {
      for (let i = 0; i < 2000; i++) parseSdp(LYNC_OFFER); // warm up the JIT
      const n = 50_000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) parseSdp(LYNC_OFFER);
      const sec = Number(process.hrtime.bigint() - t0) / 1e9;
      const rate = Math.round(n / sec);
      console.log(`      [perf] §1.2 offer (${LYNC_OFFER.length} bytes): ${rate.toLocaleString('en-US')} SDP/s, ${((sec / n) * 1e6).toFixed(1)} µs each`);
      this.test!.title += ` [${rate.toLocaleString('en-US')}/s]`;
    });
  });

  it('reads a draft-6 ("ICE v6") SDP', () => {
    const s = parseSdp(
      sdp(
        ...HEAD,
        'm=audio 19384 RTP/AVP 114 111 8 0 101',
        'a=candidate:oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz 1 XJoleCXuzzNJCbHSKQWcwg UDP 0.830 192.168.0.179 19384',
        'a=candidate:oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz 2 XJoleCXuzzNJCbHSKQWcwg UDP 0.830 192.168.0.179 19385',
        'a=candidate:Pq2yN0bGcDUl3RzrFsUd7Bh2aOwExlAk 1 B8AGWjJXmcWFlGAD0Xnc6g TCP 0.190 194.176.96.67 443',
        'a=remote-candidate:oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz',
        'a=rtpmap:114 x-msrta/16000',
      ),
    );
    const m = only(s);
    assert.deepEqual(
      m.candidates.map((c) => [c.form, c.foundation, c.component, c.password, c.transport, c.priority, c.ip, c.port, c.type]),
      [
        ['draft6', 'oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz', 1, 'XJoleCXuzzNJCbHSKQWcwg', 'UDP', 830, '192.168.0.179', 19384, undefined],
        ['draft6', 'oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz', 2, 'XJoleCXuzzNJCbHSKQWcwg', 'UDP', 830, '192.168.0.179', 19385, undefined],
        ['draft6', 'Pq2yN0bGcDUl3RzrFsUd7Bh2aOwExlAk', 1, 'B8AGWjJXmcWFlGAD0Xnc6g', 'TCP', 190, '194.176.96.67', 443, undefined],
      ],
    );
    assert.deepEqual(m.attributes.find((a) => a.name === 'remote-candidate'), { name: 'remote-candidate', value: 'oKpwKDjMnfFmUUV5wFMY8xSWXtNRGnmz' });
    assert.deepEqual(s.warnings, []);
    // Without rtcp-mux, RTCP is expected on port+1.
    assert.deepEqual(
      mediaEndpoints(m).filter((e) => e.source === 'c/m'),
      [
        { ip: '10.0.0.5', port: 19384, source: 'c/m', component: 1 },
        { ip: '10.0.0.5', port: 19385, source: 'c/m', component: 2 },
      ],
    );
  });

  it('reads remote-candidates of a re-INVITE and lists them as endpoints', () => {
    const m = only(
      parseSdp(
        sdp(...HEAD, 'm=audio 50048 RTP/SAVP 0', 'a=rtcp:50049 IN IP4 10.0.0.6', 'a=remote-candidates:1 194.176.96.67 42037 2 194.176.96.67 42038 '),
      ),
    );
    assert.deepEqual(m.remoteCandidates, [
      { component: 1, ip: '194.176.96.67', port: 42037 },
      { component: 2, ip: '194.176.96.67', port: 42038 },
    ]);
    assert.deepEqual(m.rtcpConnection, { netType: 'IN', addrType: 'IP4', address: '10.0.0.6' });
    assert.deepEqual(mediaEndpoints(m), [
      { ip: '10.0.0.5', port: 50048, source: 'c/m', component: 1 },
      { ip: '10.0.0.6', port: 50049, source: 'c/m', component: 2 },
      { ip: '194.176.96.67', port: 42037, source: 'remote-candidate', component: 1 },
      { ip: '194.176.96.67', port: 42038, source: 'remote-candidate', component: 2 },
    ]);
  });

  it('tolerates a missing o= line and a leading BOM, with a warning for the former', () => {
    const s = parseSdp('\ufeffv=0\nm=audio 4000 RTP/AVP 0\n');
    assert.deepEqual(s.warnings, ['no o= line']);
    assert.equal(s.origin.sessionId, '');
    assert.equal(only(s).port, 4000);
  });

  it('reads an IM SDP (m=message 5060 sip null)', () => {
    const accept = 'text/plain text/html image/gif multipart/alternative application/im-iscomposing+xml application/ms-imdn+xml text/x-msmsgsinvite';
    const s = parseSdp(sdp(...HEAD, 'm=message 5060 sip null', `a=accept-types:${accept}`));
    const m = only(s);
    assert.equal(m.type, 'message');
    assert.equal(m.port, 5060);
    assert.equal(m.proto, 'sip');
    assert.deepEqual(m.formats, ['null']);
    assert.deepEqual(m.attributes, [{ name: 'accept-types', value: accept }]);
    assert.equal(m.rtpmap.size, 0);
    // Not RTP: no RTCP companion port.
    assert.deepEqual(mediaEndpoints(m), [{ ip: '10.0.0.5', port: 5060, source: 'c/m', component: 1 }]);
    assert.deepEqual(s.warnings, []);
  });

  describe('hold', () => {
    it('a=inactive at media level', () => {
      assert.equal(only(parseSdp(sdp(...HEAD, 'm=audio 4000 RTP/AVP 0', 'a=inactive'))).direction, 'inactive');
    });
    it('a=sendonly at session level applies to media without their own', () => {
      const s = parseSdp(sdp(...HEAD, 'a=sendonly', 'm=audio 4000 RTP/AVP 0', 'm=video 4002 RTP/AVP 31', 'a=recvonly'));
      assert.deepEqual(s.attributes, [{ name: 'sendonly', value: null }]);
      assert.deepEqual(
        s.media.map((m) => m.direction),
        ['sendonly', 'recvonly'],
      );
    });
    it('old-style c=0.0.0.0 hold has no c/m endpoint', () => {
      const m = only(parseSdp(sdp('v=0', 'o=- 1 3 IN IP4 10.0.0.5', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=audio 4000 RTP/AVP 0')));
      assert.equal(m.connection?.address, '0.0.0.0');
      assert.deepEqual(mediaEndpoints(m), []);
    });
    it('a rejected media (port 0) has no endpoints', () => {
      assert.deepEqual(mediaEndpoints(only(parseSdp(sdp(...HEAD, 'm=video 0 RTP/AVP 31')))), []);
    });
  });

  describe('connections', () => {
    it('keeps the address only of a multicast c= and lists every port of m=<port>/<count>', () => {
      const s = parseSdp(sdp('v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 224.2.1.1/127/3', 't=0 0', 'm=audio 49170/2 RTP/AVP 0'));
      assert.deepEqual(s.connection, { netType: 'IN', addrType: 'IP4', address: '224.2.1.1', ttl: 127, addressCount: 3 });
      const m = only(s);
      assert.equal(m.portCount, 2);
      assert.deepEqual(
        mediaEndpoints(m).map((e) => `${e.component}:${e.port}`),
        ['1:49170', '1:49172', '2:49171', '2:49173'],
      );
    });
    it('prefers the media c= over the session one', () => {
      const s = parseSdp(sdp(...HEAD, 'm=audio 4000 RTP/AVP 0', 'c=IN IP6 2001:db8::1'));
      assert.deepEqual(only(s).connection, { netType: 'IN', addrType: 'IP6', address: '2001:db8::1' });
    });
  });

  describeCorpus('RFC 5118 IPv6 SDP bodies (shared corpus)', () => {
    function body(rel: string): Buffer {
      const msg = fs.readFileSync(corpusPath(rel));
      // The SDP is the body after the blank line (the archive uses bare LF; accept CRLF too).
      const lf = msg.indexOf('\n\n');
      const crlf = msg.indexOf('\r\n\r\n');
      const at = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf + 4 : lf + 2;
      assert.ok(at > 2, `no blank line in ${rel}`);
      return msg.subarray(at);
    }

    it('§4.6 ipv6-in-sdp: IP6 c= and o=, audio and video', () => {
      const s = parseSdp(body('sip/rfc5118/ipv6-in-sdp'));
      assert.equal(s.origin.addrType, 'IP6');
      assert.equal(s.origin.address, '2001:db8::20');
      assert.equal(s.sessionName, "Live video feed for today's meeting");
      assert.deepEqual(s.connection, { netType: 'IN', addrType: 'IP6', address: '2001:db8::20' });
      assert.deepEqual(
        s.media.map((m) => [m.type, m.port, m.formats, m.connection?.address, [...m.rtpmap.values()]]),
        [
          ['audio', 6000, ['2'], '2001:db8::20', [{ payloadType: 2, encoding: 'G726-32', clockRate: 8000, channels: 1 }]],
          ['video', 6024, ['107'], '2001:db8::20', [{ payloadType: 107, encoding: 'H263-1998', clockRate: 90000, channels: 1 }]],
        ],
      );
      assert.deepEqual(mediaEndpoints(s.media[0] as SdpMedia)[0], { ip: '2001:db8::20', port: 6000, source: 'c/m', component: 1 });
      assert.deepEqual(s.warnings, []);
    });

    it('§4.8 mult-ip-in-sdp: empty s=, an IP4 and an IP6 media c=, no session c=', () => {
      const s = parseSdp(body('sip/rfc5118/mult-ip-in-sdp'));
      assert.equal(s.sessionName, '');
      assert.equal(s.connection, undefined);
      assert.deepEqual(
        s.media.map((m) => [m.type, m.port, m.connection]),
        [
          ['audio', 22334, { netType: 'IN', addrType: 'IP4', address: '192.0.2.1' }],
          ['video', 6024, { netType: 'IN', addrType: 'IP6', address: '2001:db8::1' }],
        ],
      );
      assert.deepEqual(s.warnings, []);
    });
  });

  describe('bad attributes are skipped with a warning, not fatal', () => {
    it('a broken candidate stays in attributes, leaves the derived view, and is reported with its line', () => {
      const text = sdp(
        ...HEAD,
        'm=audio 4000 RTP/AVP 0',
        'a=candidate:1 1 UDP 2130706431 10.0.0.5 4000 typ host',
        'a=candidate:2 1 UDP notanumber 10.0.0.5 4002 typ host',
        'a=candidate:3 2 UDP 2130706430 10.0.0.5 4001 typ host',
      );
      const s = parseSdp(text);
      const m = only(s);
      assert.equal(m.attributes.length, 3);
      assert.deepEqual(
        m.candidates.map((c) => c.foundation),
        ['1', '3'],
      );
      assert.equal(s.warnings.length, 1);
      assert.match(s.warnings[0] as string, /^line 8: a=candidate skipped: priority "notanumber" is not a 32-bit number: "a=candidate:2 1 UDP notanumber/);
    });

    it('bad crypto, ssrc range, rtcp, ptime, fmtp and b= lines each give one warning', () => {
      const s = parseSdp(
        sdp(
          ...HEAD,
          'b=AS:lots',
          'm=audio 4000 RTP/SAVP 0',
          'a=crypto:1 AES_CM_128_HMAC_SHA1_80',
          'a=x-ssrc-range:9-1',
          'a=rtcp:port',
          'a=ptime:-1',
          'a=fmtp:x y',
          'a=remote-candidates:1 1.2.3.4',
          'junk without an equals sign',
          'y=unknown type',
        ),
      );
      const m = only(s);
      assert.equal(m.attributes.length, 6);
      assert.deepEqual([m.crypto, m.ssrcRange, m.rtcpPort, m.ptime, m.fmtp.size, m.remoteCandidates], [[], undefined, undefined, undefined, 0, []]);
      assert.deepEqual(
        s.warnings.map((w) => w.slice(0, w.indexOf(':', 5))),
        ['line 6', 'line 8', 'line 9', 'line 10', 'line 11', 'line 12', 'line 13', 'line 14', 'line 15'],
      );
      assert.match(s.warnings[7] as string, /not a "<type>=<value>" line/);
      assert.match(s.warnings[8] as string, /unknown line type ignored/);
    });

    it('a bad rtpmap is kept as an attribute, left out of the rtpmap view, and warned about', () => {
      const s = parseSdp(
        sdp(
          ...HEAD,
          'm=audio 4000 RTP/AVP 0 96 97 98',
          'a=rtpmap:0 PCMU/8000',
          'a=rtpmap:96 opus',
          'a=rtpmap:300 opus/48000',
          'a=rtpmap:97 x/0',
          'a=rtpmap:98 telephone-event/8000',
          'a=ptime:20',
        ),
      );
      const m = only(s);
      assert.equal(m.attributes.length, 6);
      assert.deepEqual(
        m.attributes.slice(1, 4),
        [
          { name: 'rtpmap', value: '96 opus' },
          { name: 'rtpmap', value: '300 opus/48000' },
          { name: 'rtpmap', value: '97 x/0' },
        ],
      );
      assert.deepEqual([...m.rtpmap.keys()], [0, 98]);
      assert.equal(m.ptime, 20); // parsing went on after the bad lines
      assert.equal(s.warnings.length, 3);
      assert.match(s.warnings[0] as string, /^line 8: a=rtpmap skipped: .*: "a=rtpmap:96 opus"$/);
      assert.match(s.warnings[1] as string, /^line 9: a=rtpmap skipped: payload type "300" is not 0-127/);
      assert.match(s.warnings[2] as string, /^line 10: a=rtpmap skipped: clock rate "0"/);
      // The derived lookups fall back as if the rtpmap were absent.
      assert.equal(effectiveRtpMap(m, 96), undefined);
      assert.equal(effectiveRtpMap(m, 0)?.encoding, 'PCMU');
    });

    it('a bad rtpmap for a static payload type falls back to the RFC 3551 meaning', () => {
      const s = parseSdp(sdp(...HEAD, 'm=audio 4000 RTP/AVP 8', 'a=rtpmap:8 PCMA'));
      const m = only(s);
      assert.equal(m.rtpmap.size, 0);
      assert.equal(effectiveRtpMap(m, 8)?.encoding, 'PCMA');
      assert.equal(s.warnings.length, 1);
    });

    it('a bad c= line is ignored with a warning; the session one still applies', () => {
      const s = parseSdp(sdp(...HEAD, 'c=IN IP4', 'm=audio 4000 RTP/AVP 0', 'c=IN IP4 ', 'a=candidate:1 1 UDP 2130706431 10.0.0.9 5000 typ host'));
      const m = only(s);
      assert.deepEqual(m.connection, { netType: 'IN', addrType: 'IP4', address: '10.0.0.5' });
      assert.equal(m.candidates.length, 1);
      assert.equal(s.warnings.length, 2);
      assert.match(s.warnings[0] as string, /^line 6: c= is not "<nettype> <addrtype> <address>", ignored: "c=IN IP4"$/);
      assert.match(s.warnings[1] as string, /^line 8: c= is not/);
      const s2 = parseSdp(sdp('v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'c=IN IP4 /127', 'm=audio 4000 RTP/AVP 0'));
      assert.equal(s2.connection, undefined);
      assert.equal(only(s2).connection, undefined);
      assert.match(s2.warnings[0] as string, /^line 4: c= has an empty address, ignored/);
    });

    it('keeps the first of duplicate rtpmaps and warns', () => {
      const s = parseSdp(sdp(...HEAD, 'm=audio 4000 RTP/AVP 96', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:96 PCMU/8000'));
      assert.equal(only(s).rtpmap.get(96)?.encoding, 'opus');
      assert.match(s.warnings[0] as string, /second rtpmap for payload type 96/);
    });
  });

  describe('structurally broken SDP fails with the line number and the line', () => {
    it('no v= first line', () => {
      assertSdpError(sdp('o=- 1 1 IN IP4 1.2.3.4', 'v=0'), 1, 'must start with "v="');
      assertSdpError('INVITE sip:a@b SIP/2.0\r\n', 1, '"INVITE sip:a@b SIP/2.0"');
      assertSdpError('\r\n\r\n', 2, 'empty SDP body');
      assertSdpError('', 1, 'empty SDP body');
      assertSdpError('v=x\r\n', 1, 'v= is not a number');
    });
    it('a bad m= line', () => {
      assertSdpError(sdp(...HEAD, 'm=audio 4000'), 6, 'm= must be');
      assertSdpError(sdp(...HEAD, 'm=audio'), 6, 'm= must be');
    });
    it('a non-numeric or out-of-range port', () => {
      assertSdpError(sdp(...HEAD, 'm=audio abc RTP/AVP 0'), 6, 'm= port "abc" is not a number 0-65535: "m=audio abc RTP/AVP 0"');
      assertSdpError(sdp(...HEAD, 'm=audio 65536 RTP/AVP 0'), 6, 'm= port "65536"');
      assertSdpError(sdp(...HEAD, 'm=audio 4000/x RTP/AVP 0'), 6, 'port count');
    });
    it('cuts a huge line in the message', () => {
      assert.throws(
        () => parseSdp(`x${'y'.repeat(100_000)}`),
        (e: unknown) => isTaplineError(e, ErrorCodes.SDP_PARSE) && e.message.length < 300,
      );
    });
  });

  describe('hostile input', () => {
    const MB = 1 << 20;
    function timed(fn: () => void): number {
      const t0 = Date.now();
      fn();
      return Date.now() - t0;
    }
    function parsesOrSdpError(input: string | Buffer): SdpSession | undefined {
      try {
        return parseSdp(input);
      } catch (e) {
        assert.ok(isTaplineError(e, ErrorCodes.SDP_PARSE), String(e));
        return undefined;
      }
    }

    it('1 MB of random bytes fails fast with SDP_PARSE', () => {
      const ms = timed(() => assert.throws(() => parseSdp(garbage(MB, 1)), (e: unknown) => isTaplineError(e, ErrorCodes.SDP_PARSE)));
      assert.ok(ms < 2000, `${ms} ms`);
    });

    it('a valid head followed by 1 MB of SDP-like garbage never crashes and keeps warnings bounded', () => {
      for (const seed of [7, 11, 13]) {
        const text = sdp(...HEAD, 'm=audio 4000 RTP/AVP 0') + garbage(MB, seed, 'abcmv=:0123456789 ./-\n\t\r').toString('latin1');
        let s: SdpSession | undefined;
        const ms = timed(() => {
          s = parsesOrSdpError(text);
        });
        assert.ok(ms < 2000, `${ms} ms`);
        if (s !== undefined) assert.ok(s.warnings.length <= 101);
      }
    });

    it('1 MB lines inside attributes are linear, skipped with a short warning', () => {
      const big = ' '.repeat(MB);
      const digits = '1'.repeat(MB);
      const text = sdp(
        ...HEAD,
        'm=audio 4000 RTP/AVP 0',
        `a=candidate:${big}x`,
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${'A'.repeat(MB)}|${'2^'.repeat(MB / 4)}`,
        `a=x-ssrc-range:${'-'.repeat(MB)}`,
        `a=remote-candidates:${'1 a '.repeat(MB / 4)}`,
        `a=ptime:${digits}.${digits}`,
        `a=${'x'.repeat(MB)}`,
      );
      let s: SdpSession | undefined;
      const ms = timed(() => {
        s = parseSdp(text);
      });
      assert.ok(ms < 2000, `${ms} ms`);
      assert.equal(s?.media[0]?.attributes.length, 6);
      assert.equal(s?.warnings.length, 5);
      for (const w of s?.warnings ?? []) assert.ok(w.length < 400, w.slice(0, 100));
    });

    it('a 1 MB rtpmap is skipped fast with a short warning; a 1 MB m= port fails fast', () => {
      let s: SdpSession | undefined;
      const ms = timed(() => {
        s = parseSdp(sdp(...HEAD, 'm=audio 4000 RTP/AVP 0', `a=rtpmap:${'9'.repeat(MB)} x/1`, `a=rtpmap:0 ${'P'.repeat(MB)}`));
      });
      assert.ok(ms < 2000, `${ms} ms`);
      assert.equal(s?.media[0]?.rtpmap.size, 0);
      assert.equal(s?.warnings.length, 2);
      for (const w of s?.warnings ?? []) assert.ok(w.length < 400, w.slice(0, 100));
      assertSdpError(sdp(...HEAD, `m=audio ${'9'.repeat(MB)} RTP/AVP 0`), 6, 'm= port');
    });

    it('keeps at most 100 warnings plus a count', () => {
      const s = parseSdp(sdp(...HEAD, ...Array.from({ length: 500 }, () => 'junk')));
      assert.equal(s.warnings.length, 101);
      assert.equal(s.warnings[100], '… 400 more warnings not kept');
    });
  });
});

describe('effectiveRtpMap', () => {
  it('uses the rtpmap when present, else the RFC 3551 static payload type', () => {
    const m = only(parseSdp(sdp(...HEAD, 'm=audio 4000 RTP/AVP 0 3 4 8 9 13 18 96', 'a=rtpmap:0 pcmu/8000', 'a=rtpmap:96 opus/48000/2')));
    assert.deepEqual(effectiveRtpMap(m, 0), { payloadType: 0, encoding: 'pcmu', clockRate: 8000, channels: 1 });
    assert.deepEqual(
      [3, 4, 8, 9, 13, 18].map((pt) => {
        const r = effectiveRtpMap(m, pt);
        return `${r?.payloadType} ${r?.encoding}/${r?.clockRate}/${r?.channels}`;
      }),
      ['3 GSM/8000/1', '4 G723/8000/1', '8 PCMA/8000/1', '9 G722/8000/1', '13 CN/8000/1', '18 G729/8000/1'],
    );
    assert.equal(effectiveRtpMap(m, 96)?.encoding, 'opus');
    assert.equal(effectiveRtpMap(m, 97), undefined);
    assert.equal(effectiveRtpMap(m, 2), undefined); // RFC 3551 unassigned it (was G721)
    // A copy: callers may change it without corrupting the table.
    const pcma = effectiveRtpMap(m, 8);
    if (pcma !== undefined) pcma.encoding = 'changed';
    assert.equal(effectiveRtpMap(m, 8)?.encoding, 'PCMA');
  });
});
