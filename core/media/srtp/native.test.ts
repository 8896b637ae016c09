import { strict as assert } from 'node:assert';
import { createHmac, randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { describeLibsrtp, libsrtp } from '../../../test/srtp-reference';
import { ErrorCodes } from '../../errors';
import { deriveSessionKeys, SrtpContext, type SrtpSuite } from './index';
import { hmac256Native, nativeSelfTest, srtpNative, srtpNativeStatus, type NativeKeys, type NativeSrtp } from './native';
import { outputRing } from './output-ring';

const MASTER_KEY = Buffer.from('e1f97a0d3e018be0d64fa32c06de4139', 'hex');
const MASTER_SALT = Buffer.from('0ec675ad498afeebb6960b3aabe6', 'hex');

/** Deterministic pseudo-random bytes (xorshift), so a failure names a reproducible packet. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** Plain RTP packets of every shape SRTP leaves partly in clear: CSRCs, header extension, 0–1300-byte payloads (pylibsrtp refuses packets past 1500 bytes). */
function packets(ssrc: number, firstSeq: number, count: number, seed: number): Buffer[] {
  const rnd = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const cc = rnd() < 0.1 ? Math.floor(rnd() * 16) : 0;
    const extWords = rnd() < 0.1 ? Math.floor(rnd() * 5) : -1;
    // Mostly G.711 sizes; sometimes empty, odd, or past the addon's 1 KiB keystream chunk.
    const r = rnd();
    const len = r < 0.7 ? 160 : r < 0.75 ? 0 : r < 0.9 ? Math.floor(rnd() * 300) : 1000 + Math.floor(rnd() * 300);
    const hdr = 12 + cc * 4 + (extWords >= 0 ? 4 + extWords * 4 : 0);
    const p = Buffer.alloc(hdr + len);
    p[0] = 0x80 | (extWords >= 0 ? 0x10 : 0) | cc;
    p[1] = 0;
    p.writeUInt16BE((firstSeq + i) & 0xffff, 2);
    p.writeUInt32BE((i * 160) >>> 0, 4);
    p.writeUInt32BE(ssrc, 8);
    for (let c = 0; c < cc; c++) p.writeUInt32BE(0x1000 + c, 12 + c * 4);
    if (extWords >= 0) {
      const at = 12 + cc * 4;
      p.writeUInt16BE(0xbede, at);
      p.writeUInt16BE(extWords, at + 2);
    }
    for (let b = hdr; b < p.length; b++) p[b] = Math.floor(rnd() * 256);
    out.push(p);
  }
  return out;
}

function expectCode(fn: () => unknown, type: typeof TypeError | typeof RangeError): void {
  assert.throws(fn, (e: unknown) => e instanceof type && (e as { code?: string }).code === ErrorCodes.SRTP_NATIVE);
}

describe('media/srtp: the native addon (native/srtp)', () => {
  it('is built and loaded, unless TAPLINE_SRTP_NATIVE=0 turns it off', () => {
    const st = srtpNativeStatus();
    if (process.env['TAPLINE_SRTP_NATIVE'] === '0') {
      assert.equal(st.loaded, false);
      assert.match(st.reason ?? '', /TAPLINE_SRTP_NATIVE=0/);
      console.log(`      native SRTP addon off: ${st.reason}`);
      return;
    }
    assert.ok(st.loaded, `native SRTP addon not loaded: ${st.reason}`);
    assert.ok(srtpNative !== undefined);
    console.log(`      native SRTP addon: ${st.path}`);
  });

  it('an addon that authenticates or decrypts wrongly fails the self-test run at load (and is not used)', function () {
    if (srtpNative === undefined) this.skip();
    const real = srtpNative as NativeSrtp;
    assert.equal(nativeSelfTest(real), undefined);
    const fake = (unprotect: NativeSrtp['unprotect']): NativeSrtp => ({ createKeys: (a, e, s) => real.createKeys(a, e, s), setOutput: () => undefined, unprotect, hmac256Key: (s) => real.hmac256Key(s), hmac256Tag: (k, b, e, t, v) => real.hmac256Tag(k, b, e, t, v) });
    assert.match(nativeSelfTest(fake(() => false)) ?? '', /did not authenticate/);
    assert.match(nativeSelfTest(fake(() => true)) ?? '', /wrong bytes|damaged tag/);
    // Right bytes, but a damaged tag accepted too.
    const accepting = fake((k: NativeKeys, p, authEnd, hdr, roc, tagLength, off) => {
      real.unprotect(k, p, authEnd, hdr, roc, tagLength, off);
      return true;
    });
    assert.match(nativeSelfTest(accepting) ?? '', /damaged tag authenticated/);
  });

  it('a context uses it by default and not with native: false', function () {
    if (srtpNative === undefined) this.skip();
    const opts = { suite: 'AES_CM_128_HMAC_SHA1_80' as const, masterKey: MASTER_KEY, masterSalt: MASTER_SALT };
    assert.equal(new SrtpContext(opts).usesNative, true);
    assert.equal(new SrtpContext({ ...opts, native: false }).usesNative, false);
  });

  it('refuses bad arguments with a TypeError or RangeError coded TAPLINE_ERR_SRTP_NATIVE, writing nothing', function () {
    if (srtpNative === undefined) this.skip();
    const n = srtpNative as NativeSrtp;
    const k = deriveSessionKeys(MASTER_KEY, MASTER_SALT);
    expectCode(() => n.createKeys(k.rtpAuth.subarray(0, 19), k.rtpKey, k.rtpSalt), TypeError);
    expectCode(() => n.createKeys(k.rtpAuth, Buffer.alloc(32), k.rtpSalt), TypeError);
    const keys = n.createKeys(k.rtpAuth, k.rtpKey, k.rtpSalt);
    const p = Buffer.alloc(182);
    p[0] = 0x80;
    const before = Buffer.from(outputRing.buffer);
    expectCode(() => n.unprotect(keys, p, 180, 12, 0, 10, 0), RangeError); // tag runs past the packet
    expectCode(() => n.unprotect(keys, p, 172, 200, 0, 10, 0), RangeError); // header longer than the authenticated part
    expectCode(() => n.unprotect(keys, p, 172, 8, 0, 10, 0), RangeError); // header shorter than RTP's 12 bytes
    expectCode(() => n.unprotect(keys, p, 172, 12, 0, 21, 0), RangeError); // tag longer than SHA-1's 20 bytes
    expectCode(() => n.unprotect(keys, p, 172, 12, 0, 10, outputRing.buffer.length - 100), RangeError); // past the output
    expectCode(() => n.unprotect(keys, 'packet' as unknown as Buffer, 172, 12, 0, 10, 0), TypeError);
    expectCode(() => n.unprotect({} as typeof keys, p, 172, 12, 0, 10, 0), TypeError);
    assert.equal(n.unprotect(keys, p, 172, 12, 0, 10, 0), false, 'a zero tag does not authenticate');
    assert.ok(outputRing.buffer.equals(before), 'nothing written to the output');
  });
});

describeLibsrtp('media/srtp: the native addon and the TypeScript path agree on libsrtp2 packets', () => {
  const cases: Array<{ suite: SrtpSuite; mki: number; roc: number; firstSeq: number }> = [
    { suite: 'AES_CM_128_HMAC_SHA1_80', mki: 0, roc: 0, firstSeq: 1000 },
    { suite: 'AES_CM_128_HMAC_SHA1_80', mki: 1, roc: 0, firstSeq: 64500 }, // Lync's 1-byte MKI, across the ROC wrap
    { suite: 'AES_CM_128_HMAC_SHA1_32', mki: 0, roc: 0, firstSeq: 30000 },
    { suite: 'AES_CM_128_HMAC_SHA1_32', mki: 4, roc: 2, firstSeq: 7 }, // a recorder joining at ROC 2
  ];
  for (const [ci, c] of cases.entries()) {
    it(`${c.suite}, MKI ${c.mki} byte(s), ROC ${c.roc}, from seq ${c.firstSeq}: same plaintext and same refusals, packet by packet`, function () {
      if (srtpNative === undefined) this.skip();
      const ssrc = 0x5eed0000 + ci;
      const plain = packets(ssrc, c.firstSeq, 1500, 1 + ci);
      const mki = c.mki > 0 ? randomBytes(c.mki) : undefined;
      const prot = libsrtp({ op: 'protect', suite: c.suite, masterKey: MASTER_KEY, masterSalt: MASTER_SALT, ssrc, roc: c.roc, packets: plain, ...(mki ? { mki } : {}) }).packets;
      // Damage some packets (header, payload, tag) and replay others: both paths must refuse the same ones.
      const rnd = prng(99 + ci);
      const input: Buffer[] = [];
      for (const [i, p] of prot.entries()) {
        assert.ok(p !== null, `libsrtp protected packet ${i}`);
        const q = Buffer.from(p);
        const r = rnd();
        if (i > 0 && r < 0.03) q[Math.floor(rnd() * q.length)] ^= 1 << Math.floor(rnd() * 8);
        input.push(q);
        if (r > 0.98) input.push(Buffer.from(q));
      }
      const opts = { suite: c.suite, masterKey: MASTER_KEY, masterSalt: MASTER_SALT, mkiLength: c.mki as 0 | 1 | 4, maxRocProbe: 2 };
      const ts = new SrtpContext({ ...opts, native: false });
      const na = new SrtpContext({ ...opts, native: true });
      assert.equal(na.usesNative, true);
      let ok = 0;
      for (const [i, q] of input.entries()) {
        const a = ts.unprotect(q);
        const b = na.unprotect(q);
        assert.deepEqual(b, a, `packet ${i} (seq ${q.readUInt16BE(2)})`);
        if (!a.ok) continue;
        ok++;
        // Whatever was accepted is the packet that was sent (a flipped MKI bit is not authenticated, by design).
        assert.deepEqual(a.rtp, plain[(q.readUInt16BE(2) - c.firstSeq) & 0xffff], `plaintext of packet ${i}`);
      }
      assert.deepEqual(na.stats, ts.stats);
      assert.ok(ok > 1400 && na.stats.rtp.auth > 10 && na.stats.rtp.replay > 10, JSON.stringify(na.stats.rtp));
      assert.deepEqual(na.streamInfo(ssrc), ts.streamInfo(ssrc));
    });
  }

  it('decrypts in a worker thread too (per-thread output buffer)', async function () {
    if (srtpNative === undefined) this.skip();
    const plain = packets(0x1234, 100, 5, 7);
    const srtp = libsrtp({ op: 'protect', suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: MASTER_KEY, masterSalt: MASTER_SALT, packets: plain }).packets;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { SrtpContext } = require(workerData.index);
      const c = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.from(workerData.key), masterSalt: Buffer.from(workerData.salt) });
      parentPort.postMessage({ native: c.usesNative, out: workerData.srtp.map((p) => { const r = c.unprotect(Buffer.from(p)); return r.ok ? r.rtp : r.reason; }) });`;
    const w = new Worker(code, { eval: true, workerData: { index: require.resolve('./index'), key: MASTER_KEY, salt: MASTER_SALT, srtp } });
    const msg = await new Promise<{ native: boolean; out: Array<Uint8Array | string> }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    assert.equal(msg.native, true);
    msg.out.forEach((r, i) => assert.deepEqual(Buffer.from(r as Uint8Array), plain[i], `packet ${i}`));
  });
});

describe('the addon\'s HMAC-SHA256 (TFWD datagrams)', () => {
  (srtpNative !== undefined ? it : it.skip)('agrees with node:crypto on random keys and lengths, and refuses any changed bit', () => {
    assert.ok(hmac256Native !== undefined, 'built with the addon');
    const rnd = prng(99);
    for (let n = 0; n < 200; n++) {
      const secret = randomBytes(16 + Math.floor(rnd() * 120));
      const len = Math.floor(rnd() * 1500);
      const buf = Buffer.concat([randomBytes(len), Buffer.alloc(16)]);
      const key = hmac256Native.hmac256Key(secret);
      hmac256Native.hmac256Tag(key, buf, len, 16, false);
      assert.deepEqual(buf.subarray(len), createHmac('sha256', secret).update(buf.subarray(0, len)).digest().subarray(0, 16));
      assert.equal(hmac256Native.hmac256Tag(key, buf, len, 16, true), true);
      const bit = Math.floor(rnd() * (len + 16) * 8);
      buf[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(hmac256Native.hmac256Tag(key, buf, len, 16, true), false);
    }
  });
});
