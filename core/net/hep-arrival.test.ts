import * as assert from 'node:assert/strict';
import { decodeHep, HepProtoType, type HepPacket } from './hep';
import { hepArrival } from './hep-arrival';
import { encodeHep3, type HepEncodeInput } from './hep-encode';

function packet(over: Partial<HepEncodeInput> = {}): HepPacket {
  const r = decodeHep(encodeHep3({ src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5062, payload: 'OPTIONS sip:x SIP/2.0\r\n\r\n', ...over }));
  if (!r.ok) assert.fail(r.detail);
  return r.packet;
}

const NOW = 1_800_000_000_000_000;
const opts = { origin: 'hep udp 127.0.0.1:1', nowUs: NOW };

describe('HEP packet → ingest arrival', () => {
  it('SIP keeps the capture time, or takes the arrival time when the sender sent none or zero', () => {
    const a = hepArrival(packet({ ts: 1_700_000_000_000_001, ipProto: 6 }), opts);
    assert.equal(a.kind, 'sip');
    if (a.kind === 'sip') assert.deepEqual([a.sip.ts, a.sip.transport, a.sip.origin, 'node' in a.sip], [1_700_000_000_000_001, 'tcp', opts.origin, false]);
    for (const ts of [undefined, 0]) {
      const b = hepArrival(packet(ts === undefined ? {} : { ts }), opts);
      assert.equal(b.kind === 'sip' && b.sip.ts, NOW);
    }
  });

  it('names the capture node from the capture id and node name, whichever are present', () => {
    const a = hepArrival(packet({ nodeName: 'sbc-1' }), opts);
    assert.deepEqual(a.kind === 'sip' && a.sip.node, { name: 'sbc-1' });
    const b = hepArrival(packet({ captureId: 0 }), opts);
    assert.deepEqual(b.kind === 'sip' && b.sip.node, { id: 0 });
  });

  it('checks the auth key byte for byte before anything else (a keep-alive without the key is refused too)', () => {
    const key = Buffer.from('s3cret', 'utf8');
    assert.equal(hepArrival(packet({ authKey: 's3cret' }), { ...opts, authKey: key }).kind, 'sip');
    assert.deepEqual(hepArrival(packet({ authKey: 's3cre' }), { ...opts, authKey: key }), { kind: 'drop', stage: 'auth', reason: 'hep-auth-key-wrong' });
    assert.deepEqual(hepArrival(packet({ authKey: 's3cret!' }), { ...opts, authKey: key }), { kind: 'drop', stage: 'auth', reason: 'hep-auth-key-wrong' });
    assert.deepEqual(hepArrival(packet({ payload: '' }), { ...opts, authKey: key }), { kind: 'drop', stage: 'auth', reason: 'hep-auth-key-missing' });
    assert.deepEqual(hepArrival(packet({ payload: '' }), opts), { kind: 'keepalive' });
  });

  it('RTP and binary RTCP over UDP are media; JSON RTCP, RTP over TCP, unknown transports and other types are drops', () => {
    const rtcp = Buffer.from([0x81, 201, 0, 7, 1, 2, 3, 4, 0, 0, 0, 0]);
    assert.equal(hepArrival(packet({ protoType: HepProtoType.RTP, payload: Buffer.from([0x80, 0, 0, 1]) }), opts).kind, 'media');
    assert.equal(hepArrival(packet({ protoType: HepProtoType.RTCP, payload: rtcp }), opts).kind, 'media');
    const drops = [
      packet({ protoType: HepProtoType.RTCP, payload: '{"sender_information":{}}' }),
      packet({ protoType: HepProtoType.RTP, ipProto: 6, payload: Buffer.from([0x80, 0, 0, 1]) }),
      packet({ ipProto: 50 }),
      packet({ protoType: HepProtoType.DNS, payload: 'x' }),
      packet({ protoType: 77, payload: 'x' }),
    ].map((p) => hepArrival(p, opts));
    assert.deepEqual(
      drops.map((d) => (d.kind === 'drop' ? `${d.stage}/${d.reason}` : d.kind)),
      ['parse/hep-type-rtcp-json', 'parse/hep-media-not-udp', 'parse/hep-sip-unknown-transport', 'parse/hep-type-dns', 'parse/hep-type-unsupported'],
    );
  });
});
