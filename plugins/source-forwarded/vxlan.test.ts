import * as assert from 'node:assert/strict';
import { udpFrames } from '../source-generator/net-frames';
import { decodeVxlan, encodeVxlan, VXLAN_HEADER_LEN } from './vxlan';

const FRAME = udpFrames('10.0.0.1', 4000, '10.0.0.2', 5000, Buffer.from('80000001', 'hex'), 1)[0]!;

describe('VXLAN decoding (RFC 7348)', () => {
  it('finds the inner Ethernet frame and the VNI', () => {
    const d = encodeVxlan(0xabcdef, FRAME);
    const r = decodeVxlan(d);
    assert.ok(r.ok);
    assert.equal(r.vni, 0xabcdef);
    assert.deepEqual(d.subarray(r.frameOffset), FRAME);
  });

  it('ignores the reserved flag bits and reserved fields on receipt, as the RFC says', () => {
    const d = encodeVxlan(42, FRAME);
    d[0] = 0xff;
    d[1] = 0xaa;
    d[7] = 0x55;
    const r = decodeVxlan(d);
    assert.ok(r.ok && r.vni === 42);
  });

  it('accepts only the configured VNIs when a filter is given', () => {
    const vnis = new Set([7, 8]);
    assert.ok(decodeVxlan(encodeVxlan(7, FRAME), vnis).ok);
    assert.deepEqual(decodeVxlan(encodeVxlan(9, FRAME), vnis), { ok: false, error: 'vni-filtered' });
  });

  it('refuses malformed datagrams with a reason: truncated, no-vni, short-frame', () => {
    const d = encodeVxlan(1, FRAME);
    for (let n = 0; n < VXLAN_HEADER_LEN; n++) assert.deepEqual(decodeVxlan(d.subarray(0, n)), { ok: false, error: 'truncated' });
    const noI = Buffer.from(d);
    noI[0] = 0x00;
    assert.deepEqual(decodeVxlan(noI), { ok: false, error: 'no-vni' });
    assert.deepEqual(decodeVxlan(d.subarray(0, VXLAN_HEADER_LEN + 13)), { ok: false, error: 'short-frame' });
  });

  it('never throws on random bytes', () => {
    let seed = 7;
    for (let i = 0; i < 5000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const b = Buffer.alloc(seed % 64);
      for (let k = 0; k < b.length; k++) b[k] = (seed >>> (k % 24)) & 0xff;
      const r = decodeVxlan(b);
      assert.ok(r.ok || typeof r.error === 'string');
    }
  });
});
