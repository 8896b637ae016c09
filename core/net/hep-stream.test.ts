import * as assert from 'node:assert/strict';
import { decodeHep, type HepDecodeResult } from './hep';
import { encodeHep3 } from './hep-encode';
import { HepStreamReader } from './hep-stream';

function sip(i: number): string {
  return `MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: c${i}\r\nFrom: "Ünïcode ${i}" <sip:a@x>;tag=${i}\r\nContent-Length: ${String(i).length}\r\n\r\n${i}`;
}

function rec(i: number): Buffer {
  return encodeHep3({ src: '10.0.0.1', sport: 5060, dst: i % 2 ? '10.0.0.3' : '10.0.0.2', dport: 5060 + i, ts: 1_700_000_000_000_000 + i, payload: sip(i), captureId: i });
}

function payloads(results: HepDecodeResult[]): string[] {
  return results.map((r) => (r.ok ? r.packet.payload.toString('utf8') : `!${r.reason}`));
}

describe('HEP stream reader (HEPv3 over TCP/TLS)', () => {
  const records = Array.from({ length: 30 }, (_, i) => rec(i));
  const stream = Buffer.concat(records);

  it('frames records back to back however the stream is split: whole, byte by byte, at every offset', () => {
    const want = records.map((_, i) => sip(i));
    const whole = new HepStreamReader().push(stream);
    assert.deepEqual(payloads(whole.results), want);
    assert.equal(whole.fatal, undefined);

    const r = new HepStreamReader();
    const bytes: HepDecodeResult[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(...r.push(stream.subarray(i, i + 1)).results);
    assert.deepEqual(payloads(bytes), want);
    assert.equal(r.buffered, 0);
    assert.equal(r.records, 30);

    const two = stream.subarray(0, records[0]!.length + records[1]!.length);
    for (let cut = 0; cut <= two.length; cut++) {
      const rr = new HepStreamReader();
      const got = [...rr.push(two.subarray(0, cut)).results, ...rr.push(two.subarray(cut)).results];
      assert.deepEqual(payloads(got), want.slice(0, 2), `cut at ${cut}`);
    }
  });

  it('copies each record out: decoded payloads do not change when the reader reuses its buffer', () => {
    const r = new HepStreamReader();
    const first = r.push(stream.subarray(0, records[0]!.length + 3)).results;
    r.push(stream.subarray(records[0]!.length + 3));
    assert.equal(payloads(first)[0], sip(0));
  });

  it('a record that fails to decode inside intact framing is a result; the next record still decodes', () => {
    const bad = Buffer.from(records[1]!);
    bad.writeUInt16BE(3, 10); // the first chunk's length is now shorter than a chunk header
    const out = new HepStreamReader().push(Buffer.concat([records[0]!, bad, records[2]!]));
    assert.deepEqual(payloads(out.results), [sip(0), '!bad-chunk-length', sip(2)]);
    assert.equal(out.fatal, undefined);
  });

  it('garbage is fatal at its first byte (a TLS ClientHello, plain SIP, binary) and nothing is held', () => {
    for (const junk of [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), Buffer.from('INVITE sip:x SIP/2.0\r\n'), Buffer.from('HEX3')]) {
      const r = new HepStreamReader();
      const out = r.push(Buffer.concat([junk, records[0]!]));
      assert.equal(out.fatal?.reason, 'bad-magic', junk.toString('hex'));
      assert.equal(r.buffered, 0);
      assert.equal(r.push(records[0]!).fatal?.reason, 'bad-magic', 'a dead reader stays dead');
    }
    const after = new HepStreamReader().push(Buffer.concat([records[0]!, records[1]!, Buffer.from('garbage')]));
    assert.deepEqual(payloads(after.results), [sip(0), sip(1)]);
    assert.equal(after.fatal?.reason, 'bad-magic');
  });

  it('refuses a header announcing more than the limit, or less than a header, before buffering the body', () => {
    const r = new HepStreamReader({ maxRecordBytes: 200 });
    const big = encodeHep3({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload: 'x'.repeat(500) });
    const out = r.push(big.subarray(0, 6));
    assert.equal(out.fatal?.reason, 'oversize');
    assert.equal(r.buffered, 0);
    const tiny = Buffer.from('HEP3\0\x04', 'latin1');
    assert.equal(new HepStreamReader().push(tiny).fatal?.reason, 'length-mismatch');
  });

  it('reports a record cut off by the end of the stream as truncated', () => {
    const r = new HepStreamReader();
    r.push(records[0]!.subarray(0, 20));
    assert.equal(r.buffered, 20);
    assert.equal(r.end()?.reason, 'truncated');
    assert.equal(r.end(), undefined);
    assert.equal(new HepStreamReader().end(), undefined);
  });

  it('never holds more than one record, whatever the chunking of 5 MB of traffic', () => {
    const r = new HepStreamReader({ maxRecordBytes: 4096 });
    const big = Buffer.concat(Array.from({ length: 20 }, () => stream));
    let seed = 7;
    let max = 0;
    let n = 0;
    for (let round = 0; round < 12; round++) {
      for (let off = 0; off < big.length; ) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const len = 1 + (seed % 9000);
        n += r.push(big.subarray(off, off + len)).results.length;
        off += len;
        max = Math.max(max, r.buffered);
      }
    }
    assert.equal(n, 12 * 20 * 30);
    assert.ok(max < 4096, `held ${max} bytes`);
    assert.ok(decodeHep(records[3]!).ok);
  });
});
