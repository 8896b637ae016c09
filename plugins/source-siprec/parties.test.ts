/**
 * From SDP and metadata to channels: a conference's third participant shares the callee channel (said), a partial
 * metadata update merges into what was known, and a participant who leaves frees the channel for the one who joins.
 */
import * as assert from 'node:assert/strict';
import { parseSdp } from '../../core/sdp/index';
import { parseSipMessage } from '../../core/sip/index';
import type { SipRequest } from '../../core/sip/types';
import { mergeMetadata, parseRecordingMetadata } from './metadata';
import { sessionParties } from './parties';

const REQ = parseSipMessage(Buffer.from('INVITE sip:srs@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:src@x>;tag=1\r\nTo: <sip:srs@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n')) as SipRequest;

function sdp(labels: string[]): ReturnType<typeof parseSdp> {
  return parseSdp(['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', ...labels.flatMap((l, i) => [`m=audio ${4000 + 2 * i} RTP/AVP 0`, `a=label:${l}`, 'a=sendonly']), ''].join('\r\n'));
}

function meta(parts: Array<[id: string, aor: string, sends: string]>, datamode = 'complete'): string {
  return [
    `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>${datamode}</datamode><session session_id="s"/>`,
    ...parts.map(([id, aor]) => `<participant participant_id="${id}"><nameID aor="${aor}"/></participant>`),
    ...parts.map(([, , l]) => `<stream stream_id="st${l}" session_id="s"><label>${l}</label></stream>`),
    ...parts.map(([id, , l]) => `<participantstreamassoc participant_id="${id}"><send>st${l}</send></participantstreamassoc>`),
    '</recording>',
  ].join('');
}

describe('source-siprec: participants to channels', () => {
  it('a conference of three: the first two get a channel each, the third shares the callee channel, and it is said', () => {
    const md = parseRecordingMetadata(meta([['a', 'sip:a@x', '1'], ['b', 'sip:b@x', '2'], ['c', 'sip:c@x', '3']]));
    const p = sessionParties(REQ, sdp(['1', '2', '3']), md, undefined);
    assert.deepEqual(p.annotation.mediaSenders, ['caller', 'callee', 'callee']);
    assert.equal(p.annotation.caller?.uri, 'sip:a@x');
    assert.equal(p.annotation.callee?.uri, 'sip:b@x');
    assert.ok(p.annotation.warnings?.some((w) => /conference: .*sip:c@x share the callee channel/.test(w)), p.annotation.warnings?.join('; '));
    assert.deepEqual(p.annotation.facts?.participants, ['sip:a@x', 'sip:b@x', 'sip:c@x']);
  });

  it('a participant who leaves frees the channel for the one who joins; the caller keeps hers; both are events', () => {
    const first = sessionParties(REQ, sdp(['1', '2']), parseRecordingMetadata(meta([['a', 'sip:a@x', '1'], ['b', 'sip:b@x', '2']])), undefined);
    const next = sessionParties(REQ, sdp(['1', '2']), parseRecordingMetadata(meta([['a', 'sip:a@x', '1'], ['c', 'sip:c@x', '2']])), first);
    assert.equal(next.annotation.caller?.uri, 'sip:a@x');
    assert.equal(next.annotation.callee?.uri, 'sip:c@x');
    assert.deepEqual(next.annotation.events, ['sip:b@x left (callee channel)', 'sip:c@x joined (callee channel)']);
    assert.equal(first.annotation.events, undefined, 'the first offer is no change');
  });

  it('a partial metadata update (datamode partial) merges into what was known', () => {
    const old = parseRecordingMetadata(meta([['a', 'sip:a@x', '1'], ['b', 'sip:b@x', '2']]));
    const upd = parseRecordingMetadata('<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode><participant participant_id="b"><nameID aor="sip:b@x"><name>Bob Renamed</name></nameID></participant></recording>');
    const merged = mergeMetadata(old, upd);
    assert.equal(merged.participants.find((p) => p.id === 'b')?.name, 'Bob Renamed');
    assert.deepEqual(merged.participants.find((p) => p.id === 'b')?.sends, ['st2'], 'its streams are kept');
    assert.equal(merged.streams.length, 2);
  });
});
