import * as assert from 'node:assert/strict';
import { g711Codec } from './codec';

describe('g711Codec', () => {
  it('declares its encodings and static payload types', () => {
    assert.deepEqual([...g711Codec.encodings], ['PCMU/8000', 'PCMA/8000']);
    assert.deepEqual(g711Codec.staticPayloadTypes, { 0: 'PCMU/8000', 8: 'PCMA/8000' });
  });

  it('creates PCMU and PCMA decoders, case-insensitively', () => {
    const u = g711Codec.createDecoder({ encoding: 'pcmu', clockRate: 8000, channels: 1, payloadType: 0 });
    assert.equal(u.sampleRate, 8000);
    assert.deepEqual([...(u.decode(Buffer.from([0xff, 0x80])) ?? [])], [0, 32124]);
    assert.equal(u.decode(Buffer.alloc(0)), null);
    u.close();
    const a = g711Codec.createDecoder({ encoding: 'PCMA', clockRate: 8000, channels: 1, payloadType: 8 });
    assert.deepEqual([...(a.decode(Buffer.from([0xd5, 0x2a])) ?? [])], [8, -32256]);
    a.close();
  });

  it('rejects other encodings with a clear message', () => {
    assert.throws(() => g711Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 }), /PCMU and PCMA only, not "G722\/8000"/);
  });
});
