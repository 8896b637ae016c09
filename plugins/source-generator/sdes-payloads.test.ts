/**
 * The generator's SDES (`srtp`, and Lync's keys in the truth) and custom payloads (`payloads`, e.g. SILK packets
 * from an encoder): what the SDP says, what the truth records, and what the RTP carries. Frames are decoded
 * with the core's stateless decoder (mtu 65535: no fragments to reassemble).
 */
import * as assert from 'node:assert/strict';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import type { TransportPacket } from '../../core/net/types';
import { generateFrames } from './generate';
import { resolveScenario, type GeneratorOptions } from './scenario';
import type { GeneratedTruth } from './truth';

interface Decoded {
  truth: GeneratedTruth;
  sip: TransportPacket[];
  rtp: TransportPacket[];
}

async function decoded(o: GeneratorOptions): Promise<Decoded> {
  const sip: TransportPacket[] = [];
  const rtp: TransportPacket[] = [];
  const truth = await generateFrames({ mtu: 65535, ...o }, (f) => {
    const p = decodeFrame(f);
    assert.ok(!isSkipReason(p), `frame ${f.frameNo}: ${String(p)}`);
    (p.sport === 5060 || p.dport === 5060 ? sip : rtp).push({ ...p, payload: Buffer.from(p.payload) });
  });
  return { truth, sip, rtp };
}

/** SDP lines of the message, and the o= user (caller1, callee1...) or, for Lync bodies, the sending address. */
function sdpOf(p: TransportPacket): { lines: string[]; who: string } | undefined {
  const text = p.payload.toString('latin1');
  if (!text.includes('\r\nv=0\r\n')) return undefined;
  const lines = text.split('\r\n');
  const o = lines.find((l) => l.startsWith('o='));
  return { lines, who: o?.split(' ')[0]?.slice(2) ?? p.src };
}

const FRAMES = [Buffer.alloc(11, 1), Buffer.alloc(23, 2), Buffer.alloc(37, 3), Buffer.from('silk-ish payload')];
const SILK: GeneratorOptions = { calls: 1, durationSec: 1, payloadType: 104, payloads: { encoding: 'SILK', clockRate: 16000, frames: FRAMES } };

describe('source-generator: SDES keys and custom payloads', () => {
  it('srtp: plain SDP says RTP/SAVP with its writer\'s own key (MKI 1), the truth names each sender\'s key, the RTP stays the clear capture\'s', async () => {
    const o: GeneratorOptions = { calls: 2, durationSec: 1, hold: true, seed: 5 };
    const sdes = await decoded({ ...o, srtp: true });
    const clear = await decoded(o);
    const keys = new Map<string, Set<string>>();
    for (const p of sdes.sip) {
      const s = sdpOf(p);
      if (s === undefined) continue;
      assert.ok(s.lines.some((l) => /^m=audio \d+ RTP\/SAVP 0 101$/.test(l)));
      const crypto = s.lines.filter((l) => l.startsWith('a=crypto:'));
      assert.equal(crypto.length, 1);
      const m = /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/]{40})\|2\^31\|1:1$/.exec(crypto[0] ?? '');
      assert.ok(m !== null, crypto[0]);
      const set = keys.get(s.who) ?? new Set<string>();
      set.add(m[1] as string);
      keys.set(s.who, set);
    }
    for (const c of sdes.truth.calls) {
      const n = c.index + 1;
      assert.ok(c.srtp !== undefined);
      assert.deepEqual([...(keys.get(`caller${n}`) ?? [])], [c.srtp.caller.keySalt], 'every caller SDP (offer, re-INVITEs) has the caller key');
      assert.deepEqual([...(keys.get(`callee${n}`) ?? [])], [c.srtp.callee.keySalt]);
      assert.notEqual(c.srtp.caller.keySalt, c.srtp.callee.keySalt);
      assert.deepEqual([c.srtp.caller.mki, c.srtp.caller.suite, Buffer.from(c.srtp.caller.keySalt, 'base64').length], ['01', 'AES_CM_128_HMAC_SHA1_80', 30]);
    }
    for (const p of clear.sip) {
      const s = sdpOf(p);
      if (s === undefined) continue;
      assert.ok(s.lines.some((l) => /^m=audio \d+ RTP\/AVP 0 101$/.test(l)) && !s.lines.some((l) => l.startsWith('a=crypto')));
    }
    assert.ok(clear.truth.calls.every((c) => c.srtp === undefined));
    assert.equal(sdes.rtp.length, clear.rtp.length);
    assert.equal(sdes.rtp.length, sdes.truth.totals.rtpPackets);
    sdes.rtp.forEach((p, i) => assert.ok(p.payload.equals(clear.rtp[i]?.payload ?? Buffer.alloc(0)), `RTP packet ${i}`));
  });

  it('lync: the truth gives each side the key of its own a=crypto:2 line, with MKI 1', async () => {
    const { truth, sip } = await decoded({ calls: 1, durationSec: 0.5, lync: true });
    const c = truth.calls[0];
    assert.ok(c?.srtp !== undefined);
    const line = (from: string, first: string): string | undefined => {
      const p = sip.find((x) => x.src === from && x.payload.toString('latin1').startsWith(first));
      return sdpOf(p as TransportPacket)?.lines.find((l) => l.startsWith('a=crypto:2 '));
    };
    assert.equal(line(c.caller.ip, 'INVITE '), `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${c.srtp.caller.keySalt}|2^31|1:1`);
    assert.equal(line(c.server.ip, 'SIP/2.0 200 OK'), `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${c.srtp.callee.keySalt}|2^31|1:1`);
  });

  it('payloads: each packet carries the next frame, announced by rtpmap, on the codec\'s clock; with srtp too', async () => {
    const { truth, sip, rtp } = await decoded({ ...SILK, srtp: true });
    const sdps = sip.map(sdpOf).filter((s) => s !== undefined);
    assert.equal(sdps.length, 2);
    for (const s of sdps) {
      assert.ok(s.lines.includes('a=rtpmap:104 SILK/16000'));
      assert.ok(s.lines.some((l) => /^m=audio \d+ RTP\/SAVP 104 101$/.test(l)));
    }
    assert.equal(truth.calls[0]?.codec, 'SILK');
    assert.equal(rtp.length, truth.totals.rtpPackets);
    for (const ssrc of truth.calls[0]?.media.caller?.ssrcs.concat(truth.calls[0]?.media.callee?.ssrcs ?? []) ?? []) {
      const stream = rtp.filter((p) => p.payload.readUInt32BE(8) === ssrc);
      assert.ok(stream.length > 40);
      let prev: { ts: number; frame: number } | undefined;
      for (const p of stream) {
        assert.equal((p.payload[1] as number) & 0x7f, 104);
        const frame = FRAMES.findIndex((f) => f.equals(p.payload.subarray(12)));
        assert.ok(frame >= 0, 'payload is one of the frames');
        const ts = p.payload.readUInt32BE(4);
        if (prev !== undefined) {
          assert.equal(frame, (prev.frame + 1) % FRAMES.length);
          assert.equal((ts - prev.ts) >>> 0, 320, '20 ms at 16 kHz');
        }
        prev = { ts, frame };
      }
    }
    const json = JSON.parse(JSON.stringify(truth)) as { scenario: { payloads: unknown } };
    assert.deepEqual(json.scenario.payloads, { encoding: 'SILK', clockRate: 16000, frames: 4, bytes: 11 + 23 + 37 + 16 });
  });

  it('payloads: refused without a dynamic payload type, with an empty frame or a bad encoding name', () => {
    const p = SILK.payloads as NonNullable<GeneratorOptions['payloads']>;
    for (const bad of [{ payloads: p }, { payloads: p, payloadType: 8 }, { payloads: { ...p, frames: [Buffer.alloc(0)] }, payloadType: 104 }, { payloads: { ...p, encoding: 'SI LK' }, payloadType: 104 }]) {
      assert.throws(() => resolveScenario(bad), (e: unknown) => isTaplineError(e, ErrorCodes.USAGE) && /payloads/.test(e.message));
    }
    assert.equal(resolveScenario(SILK).payloads?.clockRate, 16000);
  });
});
