import * as assert from 'node:assert/strict';
import { isTaplineError, ErrorCodes } from '../errors';
import { findSdpBody, parseSipMessage, walkMimeParts } from '../sip/index';
import { lyncOfferBody, lyncSingleSdp, type LyncSdpParams } from '../../plugins/source-generator/sdp-builder';
import { request, response } from '../../test/sip-text';
import { parseSdp, suppressCodecs, suppressCodecsInSip } from './index';

/** A Lync offer side as Tapline's generator writes it (lync-protocols.md §1.2's codec set, PCMU first). */
const LYNC: LyncSdpParams = {
  user: '-',
  sessionId: 42,
  version: 1,
  ip: '10.1.0.5',
  port: 20000,
  codec: 'PCMU',
  payloadType: 0,
  ptimeMs: 20,
  direction: 'sendrecv',
  ssrc: 1215169024,
  ufrag: 'lMRF',
  pwd: 'oeNM9Rf6IT4BtUaOKa60ivx2',
  cryptoKey: 'A'.repeat(40),
  srflx: { ip: '203.0.113.7', port: 40000 },
  relay: { ip: '198.51.100.9', port: 50000 },
  ipv6: 'fd00:7:495:1::4c',
  v6User: 'oKpwKDjMnfFm',
  v6Pwd: 'XJoleCXuzzNJ',
  offer: true,
};

function lyncInvite(): Buffer {
  const body = lyncOfferBody(LYNC, 'alt_boundary', {
    id: 'ctx1',
    conversationId: 'conv1',
    from: 'sip:alice@example.com',
    to: 'sip:bob@example.com',
    date: '2026-01-15T09:00:00.000Z',
    boundary: 'mixed_boundary',
  });
  return Buffer.from(request('INVITE', { body: body.body, contentType: body.contentType }));
}

function sdpParts(msg: Buffer): string[] {
  const m = parseSipMessage(msg);
  return walkMimeParts(m.headers.get('Content-Type') ?? '', m.body)
    .filter((p) => p.contentType === 'application/sdp')
    .map((p) => p.body.toString('latin1'));
}

/** Lines of `before` that `after` no longer has, and `after`'s lines that are new (multiset difference, in order). */
function lineDiff(before: string, after: string): { gone: string[]; added: string[] } {
  const a = before.split('\r\n');
  const b = after.split('\r\n');
  const gone = a.filter((l) => !b.includes(l));
  const added = b.filter((l) => !a.includes(l));
  return { gone, added };
}

describe('suppressCodecs', () => {
  const offer = lyncSingleSdp(LYNC);

  it('removes x-msrta from the m= line with its rtpmap and fmtp lines, and nothing else', () => {
    const r = suppressCodecs(offer, { encodings: ['x-msrta'] });
    assert.equal(r.changed, true);
    assert.deepEqual(
      r.removed.map((f) => [f.media, f.payloadType, f.encoding, f.reason]),
      [
        [0, 114, 'x-msrta/16000', 'encoding'],
        [0, 115, 'x-msrta/8000', 'encoding'],
      ],
    );
    assert.deepEqual(r.unchanged, []);
    const { gone, added } = lineDiff(offer, r.sdp);
    assert.deepEqual(gone, [
      'm=audio 20000 RTP/SAVP 117 104 114 9 112 111 0 8 103 116 115 97 13 118 119 101',
      'a=rtpmap:114 x-msrta/16000',
      'a=fmtp:114 bitrate=29000',
      'a=rtpmap:115 x-msrta/8000',
      'a=fmtp:115 bitrate=11800',
    ]);
    assert.deepEqual(added, ['m=audio 20000 RTP/SAVP 117 104 9 112 111 0 8 103 116 97 13 118 119 101']);
    assert.deepEqual(r.kept, [{ media: 0, formats: ['117', '104', '9', '112', '111', '0', '8', '103', '116', '97', '13', '118', '119', '101'] }]);
    // Still CRLF throughout, and it parses to the same session less the two formats.
    assert.ok(!/[^\r]\n/.test(r.sdp) && r.sdp.endsWith('\r\n'));
    const before = parseSdp(offer);
    const after = parseSdp(r.sdp);
    assert.deepEqual(after.warnings, []);
    const m = after.media[0];
    assert.ok(m !== undefined);
    assert.ok(!m.formats.includes('114') && !m.formats.includes('115'));
    assert.equal(m.rtpmap.has(114) || m.rtpmap.has(115) || m.fmtp.has(114) || m.fmtp.has(115), false);
    assert.deepEqual(m.crypto, before.media[0]?.crypto);
    assert.deepEqual(m.candidates, before.media[0]?.candidates);
    assert.equal(m.rtpmap.size, (before.media[0]?.rtpmap.size ?? 0) - 2);
  });

  it('matches encoding names case-insensitively, and one clock rate when given', () => {
    assert.deepEqual(suppressCodecs(offer, { encodings: ['X-MSRTA/8000'] }).removed.map((f) => f.payloadType), [115]);
    assert.deepEqual(suppressCodecs(offer, { encodings: ['silk'] }).removed.map((f) => f.payloadType), [104, 103]);
    assert.deepEqual(suppressCodecs(offer, { encodings: ['G722/8000/2'] }).removed.map((f) => f.payloadType), [117]);
    assert.deepEqual(suppressCodecs(offer, { encodings: ['G722/8000'] }).removed.map((f) => f.payloadType), [117, 9]);
  });

  it('keeps only the allowed codecs (policy.allowedCodecs), and auxiliary formats (RED, CN, telephone-event)', () => {
    const r = suppressCodecs(offer, { allowed: ['PCMU', 'G722/8000'] });
    const m = parseSdp(r.sdp).media[0]!;
    const left = m.formats.map((f) => m.rtpmap.get(Number(f))?.encoding.toUpperCase() ?? f);
    assert.ok(left.includes('PCMU') && left.includes('G722'), left.join(' '));
    for (const gone of ['SILK', 'X-MSRTA', 'SIREN', 'G7221']) assert.ok(!left.includes(gone), `${gone} left: ${left.join(' ')}`);
    for (const aux of ['RED', 'CN', 'TELEPHONE-EVENT']) if (parseSdp(offer).media[0]!.formats.some((f) => parseSdp(offer).media[0]!.rtpmap.get(Number(f))?.encoding.toUpperCase() === aux)) assert.ok(left.includes(aux), `${aux} kept`);
    assert.ok(r.removed.every((x) => x.reason === 'not-allowed' || x.reason === 'carries-only-removed'));
    // Nothing allowed that the offer has: the line stays as it is (a call must keep a codec).
    assert.equal(suppressCodecs(offer, { allowed: ['AMR'] }).changed, false);
  });

  it('removes payload numbers (Lync "uncommon suppressed codecs") whatever their rtpmap says', () => {
    const r = suppressCodecs(offer, { payloadTypes: [116, 111, 55] });
    assert.deepEqual(
      r.removed.map((f) => [f.payloadType, f.encoding, f.reason]),
      [
        [111, 'SIREN/16000', 'payload-type'],
        [116, 'AAL2-G726-32/8000', 'payload-type'],
      ],
    );
    const m = parseSdp(r.sdp).media[0];
    assert.ok(m !== undefined && !m.formats.includes('116') && !m.rtpmap.has(111) && !m.fmtp.has(111));
    assert.ok(r.sdp.includes('a=rtpmap:112 G7221/16000\r\na=fmtp:112 bitrate=24000\r\na=rtpmap:0 PCMU/8000\r\n'));
  });

  it('matches static payload types that have no rtpmap by their RFC 3551 name', () => {
    const sdp = 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 0 8\r\na=fmtp:18 annexb=no\r\n';
    const r = suppressCodecs(sdp, { encodings: ['g729'] });
    assert.deepEqual(r.removed, [{ media: 0, payloadType: 18, encoding: 'G729/8000', reason: 'encoding' }]);
    assert.equal(r.sdp, 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n');
  });

  it('never leaves an audio section without a codec that carries audio: it leaves it alone and says so', () => {
    const answer = 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 114 97 13 101\r\na=rtpmap:114 x-msrta/16000\r\na=rtpmap:97 RED/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:101 telephone-event/8000\r\n';
    const r = suppressCodecs(answer, { encodings: ['x-msrta'] });
    assert.equal(r.changed, false);
    assert.equal(r.sdp, answer);
    assert.deepEqual(r.removed, []);
    assert.deepEqual(r.unchanged, [{ media: 0, payloadTypes: [114] }]);
    assert.deepEqual(r.kept, [{ media: 0, formats: ['114', '97', '13', '101'] }]);
    // The same rule per section: a second audio section that keeps a codec is still rewritten.
    const two = `${answer}m=audio 4002 RTP/AVP 0 114\r\na=rtpmap:114 x-msrta/16000\r\n`;
    const r2 = suppressCodecs(two, { encodings: ['x-msrta'] });
    assert.deepEqual(r2.unchanged, [{ media: 0, payloadTypes: [114] }]);
    assert.deepEqual(r2.removed.map((f) => [f.media, f.payloadType]), [[1, 114]]);
    assert.ok(r2.sdp.endsWith('a=rtpmap:101 telephone-event/8000\r\nm=audio 4002 RTP/AVP 0\r\n'));
    assert.ok(r2.sdp.startsWith(answer.slice(0, answer.indexOf('m=audio'))));
  });

  it('removes a RED (or rtx) format whose fmtp names only removed payload types, and rtcp-fb lines of removed ones', () => {
    const sdp = [
      'v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0',
      'm=audio 4000 RTP/AVP 96 114 98 0 99',
      'a=rtpmap:96 red/16000', 'a=fmtp:96 114/114',
      'a=rtpmap:114 x-msrta/16000', 'a=rtcp-fb:114 nack', 'a=rtcp-fb:* x-message app send:dsh recv:dsh',
      'a=rtpmap:98 RED/8000', 'a=fmtp:98 114/0',
      'a=rtpmap:99 rtx/16000', 'a=fmtp:99 apt=114',
      'a=ptime:20', '',
    ].join('\r\n');
    const r = suppressCodecs(sdp, { encodings: ['x-msrta'] });
    assert.deepEqual(
      r.removed.map((f) => [f.payloadType, f.reason]),
      [
        [114, 'encoding'],
        [96, 'carries-only-removed'],
        [99, 'carries-only-removed'],
      ],
    );
    assert.equal(
      r.sdp,
      ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'm=audio 4000 RTP/AVP 98 0', 'a=rtcp-fb:* x-message app send:dsh recv:dsh', 'a=rtpmap:98 RED/8000', 'a=fmtp:98 114/0', 'a=ptime:20', ''].join('\r\n'),
    );
  });

  it('keeps every other byte: LF or mixed line ends, odd spacing, a last line without an end, other media untouched', () => {
    const sdp = 'v=0\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\nt=0 0\nm=audio  4000 RTP/AVP  0   115\t8 \r\na=rtpmap:115 x-msrta/8000\na=rtpmap:0 PCMU/8000 \nm=video 5000 RTP/AVP 115\na=rtpmap:115 x-msrta/8000';
    const r = suppressCodecs(sdp, { encodings: ['x-msrta'] });
    assert.equal(r.sdp, 'v=0\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\nt=0 0\nm=audio  4000 RTP/AVP  0\t8 \r\na=rtpmap:0 PCMU/8000 \nm=video 5000 RTP/AVP 115\na=rtpmap:115 x-msrta/8000');
    assert.deepEqual(r.kept, [{ media: 0, formats: ['0', '8'] }]);
  });

  it('returns the input itself when nothing matches, and rejects what is not SDP or a bad option', () => {
    const r = suppressCodecs(offer, { encodings: ['opus'], payloadTypes: [] });
    assert.equal(r.changed, false);
    assert.equal(r.sdp, offer);
    assert.equal(r.kept.length, 1);
    assert.throws(() => suppressCodecs('INVITE sip:x SIP/2.0\r\n', { encodings: ['x-msrta'] }), (e: unknown) => isTaplineError(e, ErrorCodes.SDP_PARSE));
    assert.throws(() => suppressCodecs(offer, { payloadTypes: [128] }), RangeError);
    assert.throws(() => suppressCodecs(offer, { encodings: ['x-msrta/fast'] }), RangeError);
  });
});

describe('suppressCodecsInSip', () => {
  it('rewrites both SDP parts of a Lync multipart offer (inside multipart/mixed) and fixes Content-Length', () => {
    const invite = lyncInvite();
    const r = suppressCodecsInSip(invite, { encodings: ['x-msrta'] });
    assert.equal(r.changed, true);
    assert.equal(r.sdps.length, 2);
    assert.deepEqual(r.removed.map((f) => f.payloadType), [114, 115, 114, 115]);

    const out = parseSipMessage(r.message);
    assert.equal(out.body.length, Number(out.headers.get('Content-Length')));
    assert.equal(r.message.length, out.wireLength);
    const partsBefore = sdpParts(invite);
    const partsAfter = sdpParts(r.message);
    assert.equal(partsAfter.length, 2);
    partsAfter.forEach((text, i) => {
      assert.equal(text, r.sdps[i]?.sdp);
      const m = parseSdp(text).media[0];
      assert.ok(m !== undefined && !m.formats.includes('114') && !m.formats.includes('115') && !m.rtpmap.has(114) && !m.rtpmap.has(115));
      const { gone } = lineDiff(partsBefore[i] ?? '', text);
      assert.equal(gone.length, 5, `part ${i + 1}: the m= line and four attribute lines`);
    });
    // The recorder's choice (the last SDP, ICEv19) parses too, with its candidates intact.
    const chosen = findSdpBody(out);
    assert.ok(chosen !== undefined);
    assert.equal(parseSdp(chosen).media[0]?.candidates.length, 7);
    // Apart from the two SDP parts and Content-Length, the message is the same bytes.
    const strip = (b: Buffer): string => {
      let s = b.toString('latin1');
      for (const p of sdpParts(b)) s = s.replace(p, '<SDP>');
      return s.replace(/Content-Length: \d+/, 'Content-Length: N');
    };
    assert.equal(strip(r.message), strip(invite));
    assert.ok(r.message.toString('latin1').includes('<cc:conversationId>conv1</cc:conversationId>'));
  });

  it('rewrites a single application/sdp body, keeps CRLF, and fixes a compact Content-Length', () => {
    const text = response(200, 'OK', 'INVITE', { body: lyncSingleSdp({ ...LYNC, offer: false, payloadType: 8, codec: 'PCMA' }) });
    const compact = text.replace('Content-Length:', 'l:');
    const r = suppressCodecsInSip(compact, { payloadTypes: [101] });
    assert.equal(r.changed, true);
    const s = r.message.toString('latin1');
    const out = parseSipMessage(r.message);
    assert.match(s, new RegExp(`\r\nl: ${out.body.length}\r\n`));
    assert.equal(parseSdp(out.body).media[0]?.formats.join(' '), '8');
    assert.ok(!/[^\r]\n/.test(s));
  });

  it('leaves a message without SDP, or without a match, byte for byte alone', () => {
    const bye = Buffer.from(request('BYE'));
    const r = suppressCodecsInSip(bye, { encodings: ['x-msrta'] });
    assert.equal(r.changed, false);
    assert.equal(r.message, bye);
    assert.deepEqual(r.sdps, []);
    const invite = lyncInvite();
    const none = suppressCodecsInSip(invite, { encodings: ['opus'] });
    assert.equal(none.changed, false);
    assert.equal(none.message, invite);
    assert.equal(none.sdps.length, 2);
  });

  it('keeps non-ASCII bytes as they were (UTF-8 display names, a Latin-1 session name)', () => {
    const sdp = lyncSingleSdp(LYNC).replace('s=session', 's=caf\u00e9');
    const wire = Buffer.concat([
      Buffer.from(request('INVITE', { from: '"Zo\u00eb \u2603" <sip:zoe@example.com>', body: 'X'.repeat(Buffer.byteLength(sdp, 'latin1')) }).replace(/X+$/, ''), 'utf8'),
      Buffer.from(sdp, 'latin1'),
    ]);
    const r = suppressCodecsInSip(wire, { encodings: ['x-msrta'] });
    assert.ok(r.message.includes(Buffer.from('"Zo\u00eb \u2603"', 'utf8')));
    assert.ok(r.message.includes(Buffer.from('s=caf\u00e9\r\n', 'latin1')));
    assert.equal(parseSipMessage(r.message).body.length, r.message.length - r.message.indexOf('v=0'));
  });
});
