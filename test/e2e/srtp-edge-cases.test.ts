/**
 * SRTP edge cases through the whole recorder, packets protected by libsrtp:
 * - media that arrives before the SDP answer that brings its key: forwarded SIP and mirrored RTP travel different
 *   paths, so a callee's first packets are often captured before its 200 OK. They must wait for the answer (and then
 *   decrypt), not be decoded as clear RTP (noise); if the answer never comes, they are counted and flagged;
 * - padded SRTP (P bit): the padding is encrypted and the packet ends with the tag, so the padding count can only be
 *   read after decryption; no packet may be dropped as "not RTP" before that.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PluginHarness } from '../../core/testing/index';
import { readWav } from '../../plugins/storage-local/wav';
import { parseInlineKey } from '../../core/media/srtp/index';
import type { RecordingMetadata } from '../../core/media/metadata';
import storageLocal from '../../plugins/storage-local/index';
import g711 from '../../plugins/codec-g711/index';
import { request, response } from '../sip-text';
import { pcmu, RtpStream, tone } from '../rtp-build';
import { bestLag, channelOf } from '../pcm-correlation';
import { describeLibsrtp, libsrtp } from '../srtp-reference';

const T0 = Date.UTC(2026, 0, 1) * 1000;
const CALLER = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
const CALLEE = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };
const FROM_CALLER = { src: '10.0.0.1', sport: 4000, dst: '10.0.0.2', dport: 5000 };
const FROM_CALLEE = { src: '10.0.0.2', sport: 5000, dst: '10.0.0.1', dport: 4000 };
const CALLER_KEY = Buffer.alloc(30, 0x11).toString('base64');
const CALLEE_KEY = Buffer.alloc(30, 0x22).toString('base64');
const PACKETS = 100;

function sdp(ip: string, port: number, key: string): string {
  return ['v=0', `o=- 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} RTP/SAVP 0`, 'a=rtpmap:0 PCMU/8000', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`, 'a=sendrecv', ''].join('\r\n');
}

/** RFC 3550 §5.1 padding: P bit set, `n` bytes appended, the last one counting them. */
function padded(rtp: Buffer, n: number): Buffer {
  const out = Buffer.concat([rtp, Buffer.alloc(n)]);
  out[0] = (out[0] as number) | 0x20;
  out[out.length - 1] = n;
  return out;
}

/** PACKETS of a tone as SRTP under `key` (MKI 1), by libsrtp; with `pad`, each packet padded by 1-16 bytes first. */
function protectedTone(ssrc: number, hz: number, key: string, pad = false): { packets: Buffer[]; src: Int16Array } {
  const src = tone(hz, 0, PACKETS * 160);
  const stream = new RtpStream(ssrc);
  const plain = Array.from({ length: PACKETS }, (_, i) => {
    const p = stream.next(0, pcmu(src.subarray(i * 160, (i + 1) * 160)), 160);
    return pad ? padded(p, 1 + (i % 16)) : p;
  });
  const { masterKey, masterSalt } = parseInlineKey(key);
  return { packets: libsrtp({ op: 'protect', suite: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt, mki: Buffer.from([1]), packets: plain }).packets as Buffer[], src };
}

describeLibsrtp('SRTP edge cases: media before the SDP answer that brings its key, padded SRTP', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function harness(): Promise<PluginHarness> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-srtp-early-'));
    dirs.push(dir);
    return PluginHarness.create(storageLocal, { options: { dir }, with: [{ plugin: g711 }] });
  }

  it("the callee's packets before its 200 OK wait for it, then decrypt: none decoded as clear RTP, the tone from the first packet", async () => {
    const h = await harness();
    const callee = protectedTone(0xca11ee, 1000, CALLEE_KEY);
    const caller = protectedTone(0xca11e4, 600, CALLER_KEY);
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000, CALLER_KEY) }), { ...CALLER, ts: T0 });
    // The first 25 callee packets (0.5 s) are captured before the answer.
    const early = 25;
    for (let i = 0; i < early; i++) h.packet({ ...FROM_CALLEE, ts: T0 + 10_000 + i * 20_000, payload: callee.packets[i] as Buffer });
    const answerAt = T0 + 10_000 + early * 20_000;
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', body: sdp('10.0.0.2', 5000, CALLEE_KEY) }), { ...CALLEE, ts: answerAt });
    h.sip(request('ACK', { toTag: 't1' }), { ...CALLER, ts: answerAt + 1000 });
    for (let i = early; i < PACKETS; i++) h.packet({ ...FROM_CALLEE, ts: T0 + 10_000 + i * 20_000 + 2000, payload: callee.packets[i] as Buffer });
    for (let i = 0; i < PACKETS; i++) h.packet({ ...FROM_CALLER, ts: answerAt + 3000 + i * 20_000, payload: caller.packets[i] as Buffer });
    const end = answerAt + 3000 + PACKETS * 20_000;
    h.sip(request('BYE', { toTag: 't1', cseq: 9 }), { ...CALLER, ts: end });
    h.sip(response(200, 'OK', 'BYE', { toTag: 't1', cseq: 9 }), { ...CALLEE, ts: end + 5000 });
    await h.stop();

    const m = h.recorded.recordings[0] as RecordingMetadata;
    assert.equal(m.callee.packets, PACKETS, JSON.stringify(m.callee));
    assert.equal(m.srtp?.callee?.decrypted, PACKETS, JSON.stringify(m.srtp));
    assert.deepEqual(m.srtp?.callee?.failed, {});
    assert.equal(m.srtp?.caller?.decrypted, PACKETS);
    assert.ok(!m.flags.some((f) => /decrypt/.test(f)), m.flags.join('; '));
    const right = channelOf(readWav(m.audio!.file).samples, 2, 1);
    // The callee's channel holds the whole tone, its first packet included (the early ones are not noise).
    const { corr } = bestLag(callee.src, right.subarray(0, callee.src.length + 800), 800);
    assert.ok(corr > 0.99, `callee channel vs its tone: corr ${corr}`);
  });

  it('padded SRTP (P bit, padding encrypted, tag last): every packet decrypts, padding removed after decryption, the tone intact', async () => {
    const h = await harness();
    const caller = protectedTone(0xca11e4, 600, CALLER_KEY, true);
    const callee = protectedTone(0xca11ee, 1000, CALLEE_KEY, true);
    // The last byte of a padded SRTP packet is the tag's: as a padding count it often does not fit the packet.
    const misfit = caller.packets.filter((p) => p[p.length - 1] === 0 || (p[p.length - 1] as number) > p.length - 12).length;
    assert.ok(misfit > 0, 'some packets end in a byte that is no valid padding count (else this test proves nothing)');
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000, CALLER_KEY) }), { ...CALLER, ts: T0 });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', body: sdp('10.0.0.2', 5000, CALLEE_KEY) }), { ...CALLEE, ts: T0 + 5000 });
    h.sip(request('ACK', { toTag: 't1' }), { ...CALLER, ts: T0 + 6000 });
    for (let i = 0; i < PACKETS; i++) {
      h.packet({ ...FROM_CALLER, ts: T0 + 10_000 + i * 20_000, payload: caller.packets[i] as Buffer });
      h.packet({ ...FROM_CALLEE, ts: T0 + 11_000 + i * 20_000, payload: callee.packets[i] as Buffer });
    }
    const end = T0 + 20_000 + PACKETS * 20_000;
    h.sip(request('BYE', { toTag: 't1', cseq: 9 }), { ...CALLER, ts: end });
    h.sip(response(200, 'OK', 'BYE', { toTag: 't1', cseq: 9 }), { ...CALLEE, ts: end + 5000 });
    await h.stop();

    const m = h.recorded.recordings[0] as RecordingMetadata;
    for (const side of ['caller', 'callee'] as const) {
      assert.equal(m[side].packets, PACKETS, `${side}: ${JSON.stringify(m[side])}`);
      assert.equal(m.srtp?.[side]?.decrypted, PACKETS, JSON.stringify(m.srtp));
      assert.deepEqual(m.srtp?.[side]?.failed, {});
    }
    const wav = readWav(m.audio!.file).samples;
    for (const [ch, src] of [[0, caller.src], [1, callee.src]] as const) {
      const { corr } = bestLag(src, channelOf(wav, 2, ch).subarray(0, src.length + 800), 800);
      assert.ok(corr > 0.99, `channel ${ch} vs its tone: corr ${corr} (padding decoded as audio would lower it)`);
    }
  });

  it('if the answer never comes, the held packets are counted and flagged "not decrypted", not decoded', async () => {
    const h = await harness();
    const callee = protectedTone(0xca11ee, 1000, CALLEE_KEY);
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000, CALLER_KEY) }), { ...CALLER, ts: T0 });
    for (let i = 0; i < 30; i++) h.packet({ ...FROM_CALLEE, ts: T0 + 10_000 + i * 20_000, payload: callee.packets[i] as Buffer });
    // The 200 OK is missing from the capture; the ACK and BYE are seen.
    h.sip(request('ACK', { toTag: 't1' }), { ...CALLER, ts: T0 + 700_000 });
    h.sip(request('BYE', { toTag: 't1', cseq: 9 }), { ...CALLER, ts: T0 + 800_000 });
    h.sip(response(200, 'OK', 'BYE', { toTag: 't1', cseq: 9 }), { ...CALLEE, ts: T0 + 805_000 });
    await h.stop();

    const m = h.recorded.recordings[0] as RecordingMetadata | undefined;
    assert.ok(m !== undefined, 'a recording of the call');
    assert.equal(m.callee.packets, 0, 'nothing decoded from packets that could not be decrypted');
    assert.equal(m.srtp?.callee?.failed['no-key'], 30, JSON.stringify(m.srtp));
    assert.ok(m.flags.some((f) => /not decrypted: the callee's audio \(30 SRTP packets\): no key: the callee's SDP answer/.test(f)), m.flags.join('; '));
  });
});
