/** The generator's parts on their own: options, tones, frames, SDP/SIP text, the frame callback, speed. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import type { RawFrame } from '../../core/net/types';
import { decodeUlaw } from '../../core/media/g711';
import { generateCalls, generateFrames } from './generate';
import { ipv4HeaderChecksum, tcpFrame, udpFrames } from './net-frames';
import { DEFAULT_START_TIME, resolveScenario } from './scenario';
import { lyncOfferBody, plainSdp } from './sdp-builder';
import { decodeToneFrequency, dominantTone, toneFrequency, ToneSource, TONES_PER_DIRECTION } from './tones';
import { readTruth } from './truth';

describe('source-generator: parts', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-genunit-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('resolves defaults and names a bad option in a USAGE error', () => {
    const s = resolveScenario();
    assert.deepEqual([s.calls, s.concurrency, s.durationSec, s.codec, s.payloadType, s.ptimeMs, s.startTime], [1, 1, 10, 'PCMU', 0, 20, DEFAULT_START_TIME]);
    assert.equal(resolveScenario({ codec: 'PCMA' }).payloadType, 8);
    assert.deepEqual(resolveScenario({ silenceSuppression: true }).silence, { talkMs: 2000, silenceMs: 1000 });
    for (const bad of [{ lossRate: 2 }, { payloadType: 50 }, { calls: 1.5 }, { cancelRate: 0.7, failRate: 0.5 }, { ptimeMs: 1 }]) {
      assert.throws(() => resolveScenario(bad), (e: unknown) => isTaplineError(e, ErrorCodes.USAGE));
    }
  });

  it('gives each call mod 31 and direction its own tone, and decodes it back', () => {
    const all = new Set<number>();
    for (let i = 0; i < TONES_PER_DIRECTION; i++) {
      for (const dir of ['caller', 'callee'] as const) {
        const hz = toneFrequency(i, dir);
        assert.ok(hz >= 300 && hz <= 3400);
        assert.deepEqual(decodeToneFrequency(hz), { callMod: i, dir });
        all.add(hz);
      }
    }
    assert.equal(all.size, 2 * TONES_PER_DIRECTION);
  });

  it('ToneSource is phase-continuous: packets of any size concatenate into the same signal', () => {
    const t = new ToneSource('PCMU', 1250, true);
    const whole = Buffer.alloc(16000);
    t.fill(whole, 0, 0, 1600);
    for (let i = 1600; i < 16000; i += 1600) t.fill(whole, i, i, 1600);
    const pieces = Buffer.alloc(16000);
    for (let i = 0, n = 80; i < 16000; i += n, n = n === 80 ? 240 : 80) t.fill(pieces, i, i, Math.min(n, 16000 - i));
    assert.ok(whole.equals(pieces));
    assert.equal(dominantTone(decodeUlaw(whole)).hz, 1250);
    assert.equal(t.burstIn(7900, 160), 8000);
    assert.equal(t.burstIn(8001, 160), -1);
  });

  it('builds IPv4 headers with correct checksums, fragments above the MTU, and TCP segments our decoder reads', () => {
    const payload = Buffer.alloc(4000, 0x41);
    const frags = udpFrames('10.1.0.1', 5060, '10.0.0.10', 5060, payload, 0x1234, 1500);
    assert.equal(frags.length, 3);
    for (const f of frags) {
      const ip = f.subarray(14, 34);
      assert.equal(ip.readUInt16BE(10), ipv4HeaderChecksum(ip));
    }
    assert.deepEqual(frags.map((f) => f.subarray(14).readUInt16BE(6) & 0x1fff), [0, 185, 370]);
    const seg = tcpFrame('10.1.0.1', 49152, '10.0.0.10', 5060, 1000, 2000, 0x18, Buffer.from('INVITE'), 7);
    const r = decodeFrame({ ts: 0, linkType: 1, data: seg, origLen: seg.length, interfaceId: 0, frameNo: 1 });
    assert.ok(!isSkipReason(r));
    assert.deepEqual([r.proto, r.src, r.sport, r.dst, r.dport, r.tcp?.seq, r.tcp?.ack, r.payload.toString()], ['tcp', '10.1.0.1', 49152, '10.0.0.10', 5060, 1000, 2000, 'INVITE']);
  });

  it('writes SDP with CRLF lines and a multipart body whose boundaries nest cleanly', () => {
    const base = { user: 'u', sessionId: 1, version: 0, ip: '10.1.0.1', port: 20000, codec: 'PCMU' as const, payloadType: 0, ptimeMs: 20, direction: 'sendrecv' as const };
    assert.match(plainSdp(base), /^v=0\r\n[\s\S]*m=audio 20000 RTP\/AVP 0 101\r\n[\s\S]*a=sendrecv\r\n$/);
    const lync = { ...base, ssrc: 5, ufrag: 'abcd', pwd: 'p'.repeat(24), cryptoKey: 'k'.repeat(40), srflx: { ip: '203.0.113.1', port: 1 }, relay: { ip: '198.51.100.1', port: 2 }, ipv6: 'fd00::1', v6User: 'U', v6Pwd: 'P', offer: true };
    const m = lyncOfferBody(lync, 'inner', { id: '1', conversationId: 'c', from: 'sip:a@x', to: 'sip:b@x', date: '2024-01-15T09:00:00.000Z', boundary: 'outer' });
    assert.equal(m.contentType, 'multipart/mixed;boundary="outer"');
    assert.equal(m.body.split('\r\n--inner\r\n').length, 3);
    assert.ok(m.body.includes('\r\n--inner--\r\n') && m.body.endsWith('\r\n--outer--\r\n'));
  });

  it('generateFrames hands over exactly the frames generateCalls writes, and the truth file reads back', async () => {
    const o = { calls: 3, durationSec: 1, sipTransport: 'tcp' as const, lync: true, lossRate: 0.05, earlyMedia: true };
    const file = path.join(tmp, 'same.pcap');
    const truth = await generateCalls(o, file);
    const fromFile: RawFrame[] = [];
    await readCapture(file, (f) => fromFile.push({ ...f, data: Buffer.from(f.data) }));
    const fromCb: RawFrame[] = [];
    const t2 = await generateFrames(o, (f) => fromCb.push(f));
    assert.equal(fromCb.length, fromFile.length);
    assert.equal(fromFile.length, truth.totals.frames);
    fromCb.forEach((f, i) => {
      assert.equal(f.ts, fromFile[i]?.ts);
      assert.ok(f.data.equals(fromFile[i]?.data ?? Buffer.alloc(0)), `frame ${i + 1}`);
    });
    assert.deepEqual(t2.totals, truth.totals);
    const tf = path.join(tmp, 'same.truth.json');
    await truth.writeTruth(tf);
    const back = readTruth(tf);
    assert.deepEqual(back.totals, truth.totals);
    assert.deepEqual(back.calls, JSON.parse(JSON.stringify(truth.calls)));
    for (let i = 1; i < fromFile.length; i++) assert.ok((fromFile[i]?.ts ?? 0) >= (fromFile[i - 1]?.ts ?? 0), 'capture order');
  });

  it('writes pcapng when the path says so', async () => {
    const file = path.join(tmp, 'g.pcapng');
    const truth = await generateCalls({ calls: 1, durationSec: 0.5 }, file);
    let n = 0;
    const r = await readCapture(file, () => n++);
    assert.deepEqual([r.format, n, truth.format], ['pcapng', truth.totals.frames, 'pcapng']);
  });

  it('speed: 100 calls × 60 s of G.711 (prints packets/s)', async function () {
    this.timeout(300_000);
    const file = path.join(tmp, 'speed.pcap');
    const t0 = process.hrtime.bigint();
    const truth = await generateCalls({ calls: 100, durationSec: 60 }, file);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    const rate = truth.totals.rtpPackets / sec;
    console.log(`      ${truth.totals.rtpPackets} RTP packets (${(fs.statSync(file).size / 1e6).toFixed(0)} MB) in ${sec.toFixed(2)} s: ${Math.round(rate)} packets/s`);
    assert.ok(truth.totals.rtpPackets >= 100 * 2 * 2990);
    assert.ok(rate > 100_000, 'far below the 500k packets/s target');
    fs.rmSync(file);
  });
});
