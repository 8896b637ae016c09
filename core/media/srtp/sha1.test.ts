import { strict as assert } from 'node:assert';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { HmacSha1 } from './auth';
import { digestInto, finish, finishInPlace, IN_PLACE_ROOM, SHA1_IV, viewOf } from './sha1';

describe('SHA-1 / HMAC-SHA1 in JS (sha1.ts) against node:crypto', () => {
  it('hashes FIPS 180 "abc" and lengths around every block boundary like node:crypto', () => {
    for (const len of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 200, 1000]) {
      const m = len === 3 ? Buffer.from('abc') : randomBytes(len);
      const h = Int32Array.from(SHA1_IV);
      finish(h, 0, m, 0, m.length);
      const out = Buffer.alloc(20);
      digestInto(h, out, 0);
      assert.equal(out.toString('hex'), createHash('sha1').update(m).digest('hex'), `length ${len}`);
    }
  });

  it('finishes in place (ROC and padding written after the message, within IN_PLACE_ROOM) like node:crypto', () => {
    for (let len = 0; len <= 200; len++) {
      const m = randomBytes(len);
      const roc = (len * 2654435761) >>> 0;
      const r = Buffer.alloc(4);
      r.writeUInt32BE(roc);
      // The message at offset 5 of scratch memory, guard bytes after the room that must stay untouched.
      const scratch = Buffer.alloc(5 + len + IN_PLACE_ROOM + 16, 0xa5);
      m.copy(scratch, 5);
      const h = Int32Array.from(SHA1_IV);
      finishInPlace(h, 0, viewOf(scratch), 5, 5 + len, roc);
      const out = Buffer.alloc(20);
      digestInto(h, out, 0);
      assert.equal(out.toString('hex'), createHash('sha1').update(m).update(r).digest('hex'), `length ${len}`);
      assert.ok(scratch.subarray(5 + len + IN_PLACE_ROOM).every((b) => b === 0xa5), `length ${len}: wrote past IN_PLACE_ROOM`);
    }
  });

  it('HMAC over a slice plus a 32-bit ROC equals createHmac, for every path, keys and lengths', () => {
    for (let trial = 0; trial < 200; trial++) {
      const key = randomBytes(20);
      const data = randomBytes(12 + (trial % 300));
      const start = trial % 7;
      const end = data.length - (trial % 5);
      const roc = trial % 3 === 0 ? undefined : (trial * 2654435761) >>> 0;
      const ref = createHmac('sha1', key).update(data.subarray(start, end));
      if (roc !== undefined) {
        const r = Buffer.alloc(4);
        r.writeUInt32BE(roc);
        ref.update(r);
      }
      const want = ref.digest();
      for (const path of ['js', 'crypto.hash', 'Hash.copy'] as const) {
        const h = new HmacSha1(key, path);
        assert.deepEqual(h.mac(data, start, end, roc), want, `${path} trial ${trial}`);
        const tag = Buffer.concat([Buffer.alloc(3), want.subarray(0, 10)]);
        assert.ok(h.verify(data, start, end, roc, tag, 3, 10));
        tag[3 + (trial % 10)] ^= 1;
        assert.ok(!h.verify(data, start, end, roc, tag, 3, 10), `${path}: a flipped tag bit is refused`);
      }
    }
  });
});
