/**
 * The Lync codec paths through the whole recorder: RFC 2198 redundancy filling losses, RTAudio kept losslessly
 * (decrypted) beside the recording with its SDP, and a mixed-codec call (SILK one way, G.711 the other).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encode } from 'silk-wasm';
import { PluginHarness } from '../../core/testing/index';
import { readWav } from '../../plugins/storage-local/wav';
import { parseRtp } from '../../core/media/rtp';
import { readCapture } from '../../core/net/capture-reader';
import { isSkipReason, PacketDecoder } from '../../core/net/decode';
import { parseInlineKey } from '../../core/media/srtp/index';
import type { RecordingMetadata } from '../../core/media/metadata';
import storageLocal from '../../plugins/storage-local/index';
import g711 from '../../plugins/codec-g711/index';
import silk from '../../plugins/codec-silk/index';
import red from '../../plugins/codec-red/index';
import rtaudio from '../../plugins/codec-rtaudio/index';
import { encodeRed } from '../../plugins/codec-red/red';
import { request, response } from '../sip-text';
import { pcmu, RtpStream, tone } from '../rtp-build';
import { bestLag, channelOf } from '../pcm-correlation';
import { describeLibsrtp, libsrtp } from '../srtp-reference';

const T0 = Date.UTC(2026, 0, 1) * 1000;
const CALLER = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
const CALLEE = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };
/** Caller's media 10.0.0.1:4000, callee's 10.0.0.2:5000. */
const FROM_CALLER = { src: '10.0.0.1', sport: 4000, dst: '10.0.0.2', dport: 5000 };
const FROM_CALLEE = { src: '10.0.0.2', sport: 5000, dst: '10.0.0.1', dport: 4000 };

function sdpOf(ip: string, port: number, proto: string, formats: number[], lines: string[]): string {
  return ['v=0', `o=- 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} ${proto} ${formats.join(' ')}`, ...lines, 'a=sendrecv', ''].join('\r\n');
}

interface Harnessed {
  h: PluginHarness;
  dir: string;
}

async function recorder(): Promise<Harnessed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-lync-codecs-'));
  const h = await PluginHarness.create(storageLocal, { options: { dir }, with: [{ plugin: g711 }, { plugin: silk }, { plugin: red }, { plugin: rtaudio }] });
  return { h, dir };
}

function call(h: PluginHarness, offer: string, answer: string): void {
  h.sip(request('INVITE', { body: offer }), { ...CALLER, ts: T0 });
  h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', body: answer }), { ...CALLEE, ts: T0 + 5000 });
  h.sip(request('ACK', { toTag: 't1' }), { ...CALLER, ts: T0 + 10_000 });
}

function hangUp(h: PluginHarness, at: number): void {
  h.sip(request('BYE', { toTag: 't1', cseq: 9 }), { ...CALLER, ts: at });
  h.sip(response(200, 'OK', 'BYE', { toTag: 't1', cseq: 9 }), { ...CALLEE, ts: at + 5000 });
}

/** Samples of `x` that are exactly zero in runs of at least `run` (concealed gaps, not quiet audio). */
function zeroRuns(x: Int16Array, run: number): number {
  let total = 0;
  let n = 0;
  for (let i = 0; i <= x.length; i++) {
    if (i < x.length && x[i] === 0) n++;
    else {
      if (n >= run) total += n;
      n = 0;
    }
  }
  return total;
}

describe('Lync codec paths through the recorder', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('RED (RFC 2198) around PCMU: 10% of packets lost, every one filled from the next packet\'s redundancy', async () => {
    const { h, dir } = await recorder();
    dirs.push(dir);
    const lines = ['a=rtpmap:97 RED/8000', 'a=fmtp:97 0/0', 'a=rtpmap:0 PCMU/8000'];
    call(h, sdpOf('10.0.0.1', 4000, 'RTP/AVP', [97, 0], lines), sdpOf('10.0.0.2', 5000, 'RTP/AVP', [97, 0], lines));
    const n = 250;
    const stream = new RtpStream(0x7ed);
    const src = tone(700, 0, n * 160);
    const lost = new Set<number>();
    for (let i = 5; i < n - 1; i += 10) lost.add(i + (i % 3)); // 10%, never two in a row, never the last
    let prev: Buffer | undefined;
    for (let i = 0; i < n; i++) {
      const primary = pcmu(src.subarray(i * 160, (i + 1) * 160));
      const blocks = prev === undefined ? [{ payloadType: 0, timestampOffset: 0, payload: primary }] : [{ payloadType: 0, timestampOffset: 160, payload: prev }, { payloadType: 0, timestampOffset: 0, payload: primary }];
      const pkt = stream.next(97, encodeRed(blocks), 160);
      prev = primary;
      if (!lost.has(i)) h.packet({ ...FROM_CALLEE, ts: T0 + 100_000 + i * 20_000, payload: pkt });
    }
    hangUp(h, T0 + 100_000 + n * 20_000);
    await h.stop();
    const m = h.recorded.recordings[0] as RecordingMetadata;
    assert.deepEqual(m.callee.codecs.sort(), ['PCMU/8000', 'RED/8000']);
    assert.equal(m.callee.lost, lost.size);
    assert.equal(m.callee.recovered, lost.size, JSON.stringify(m.callee));
    const right = channelOf(readWav(m.audio!.file).samples, 2, 1);
    const { lag, corr } = bestLag(src, right, 400);
    console.log(`      callee channel vs the tone sent: corr ${corr.toFixed(5)} at lag ${lag}; concealed (zero) samples ${zeroRuns(right, 40)}`);
    assert.ok(corr > 0.999, `corr ${corr}`);
    assert.equal(zeroRuns(right, 40), 0, 'no gap left where a packet was lost');
  });

  describeLibsrtp('RTAudio, SRTP-encrypted and wrapped in RED: kept losslessly, decrypted, with the SDP (libsrtp encrypts)', function () {
    it('flags "RTAudio — not decoded", writes media.pcap (plaintext RTP, original addresses and times) and sdp.txt', async () => {
      const { h, dir } = await recorder();
      dirs.push(dir);
      const key = Buffer.alloc(30, 0x5a).toString('base64');
      const offerLines = ['a=rtpmap:114 x-msrta/16000', 'a=fmtp:114 bitrate=29000', 'a=rtpmap:97 RED/8000', `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`];
      const answerLines = ['a=rtpmap:114 x-msrta/16000', 'a=fmtp:114 bitrate=29000', 'a=rtpmap:97 RED/8000', `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31|1:1`];
      call(h, sdpOf('10.0.0.1', 4000, 'RTP/SAVP', [114, 97], offerLines), sdpOf('10.0.0.2', 5000, 'RTP/SAVP', [114, 97], answerLines));
      const stream = new RtpStream(0x12a);
      const plain: Buffer[] = [];
      for (let i = 0; i < 60; i++) {
        // Opaque "RTAudio" frames (no decoder exists): random-looking bytes, one per 20 ms, in RED as Lync sends it.
        const frame = Buffer.from(Array.from({ length: 60 }, (_, k) => (i * 31 + k * 17) & 0xff));
        plain.push(stream.next(97, encodeRed([{ payloadType: 114, timestampOffset: 0, payload: frame }]), 320));
      }
      const { masterKey, masterSalt } = parseInlineKey(key);
      const prot = libsrtp({ op: 'protect', suite: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt, mki: Buffer.from([1]), packets: plain }).packets;
      prot.forEach((p, i) => h.packet({ ...FROM_CALLER, ts: T0 + 100_000 + i * 20_000, payload: p as Buffer }));
      hangUp(h, T0 + 100_000 + 60 * 20_000);
      await h.stop();
      const m = h.recorded.recordings[0] as RecordingMetadata;
      assert.ok(m.flags.some((f) => f.startsWith('RTAudio — not decoded') && /media\.pcap/.test(f)), m.flags.join('; '));
      assert.equal(m.srtp?.caller?.decrypted, 60);
      assert.ok(m.rawMedia !== undefined);
      assert.equal(m.rawMedia.packets, 60);
      assert.deepEqual(m.caller.codecs.sort(), ['RED/8000', 'x-msrta/16000']);
      // The pcap holds the decrypted packets, byte for byte, at their capture times and addresses.
      const dec = new PacketDecoder();
      const got: Array<{ ts: number; src: string; dport: number; rtp: Buffer }> = [];
      await readCapture(m.rawMedia.file, (f) => {
        const p = dec.decode(f);
        if (isSkipReason(p)) return;
        got.push({ ts: p.ts, src: p.src, dport: p.dport, rtp: Buffer.from(p.payload) });
      });
      assert.equal(got.length, 60);
      got.forEach((g, i) => {
        assert.deepEqual(g.rtp, plain[i]);
        assert.equal(g.ts, T0 + 100_000 + i * 20_000);
        assert.deepEqual([g.src, g.dport], ['10.0.0.1', 5000]);
      });
      assert.equal(parseRtp(got[0]!.rtp)?.payloadType, 97);
      const sdpText = fs.readFileSync(m.rawMedia.sdp, 'utf8');
      assert.match(sdpText, /caller offer in INVITE[\s\S]*x-msrta\/16000[\s\S]*callee answer in 200/);
    });
  });

  it('mixed codecs: SILK/16000 from the caller, PCMU from the callee, both channels right at 16 kHz', async () => {
    const { h, dir } = await recorder();
    dirs.push(dir);
    call(
      h,
      sdpOf('10.0.0.1', 4000, 'RTP/AVP', [104, 0], ['a=rtpmap:104 SILK/16000', 'a=rtpmap:0 PCMU/8000']),
      sdpOf('10.0.0.2', 5000, 'RTP/AVP', [0], ['a=rtpmap:0 PCMU/8000']),
    );
    const n = 150;
    const src16 = tone(440, 0, n * 320, 16000);
    const enc = await encode(Buffer.from(src16.buffer, src16.byteOffset, src16.byteLength), 16000);
    // silk-wasm's container: "#!SILK_V3" then [u16 length][frame] per 20 ms.
    const frames: Buffer[] = [];
    const data = Buffer.from(enc.data);
    for (let off = data[0] === 2 ? 10 : 9; off + 2 <= data.length; ) {
      const len = data.readUInt16LE(off);
      if (len === 0xffff || off + 2 + len > data.length) break;
      frames.push(data.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    assert.ok(frames.length >= n - 2, `${frames.length} SILK frames`);
    const sCaller = new RtpStream(0x51c);
    const sCallee = new RtpStream(0x711);
    const src8 = tone(1000, 0, n * 160);
    for (let i = 0; i < Math.min(n, frames.length); i++) {
      const ts = T0 + 100_000 + i * 20_000;
      h.packet({ ...FROM_CALLER, ts, payload: sCaller.next(104, frames[i] as Buffer, 320) });
      h.packet({ ...FROM_CALLEE, ts: ts + 3000, payload: sCallee.next(0, pcmu(src8.subarray(i * 160, (i + 1) * 160)), 160) });
    }
    hangUp(h, T0 + 100_000 + n * 20_000);
    await h.stop();
    const m = h.recorded.recordings[0] as RecordingMetadata;
    assert.deepEqual([m.caller.codecs, m.callee.codecs], [['SILK/16000'], ['PCMU/8000']]);
    assert.equal(m.audio?.sampleRate, 16000);
    const wav = readWav(m.audio!.file);
    const left = channelOf(wav.samples, 2, 0);
    const right = channelOf(wav.samples, 2, 1);
    // Pure tones: a lag search over a few periods finds the phase (SILK adds a few ms of delay).
    const l = bestLag(src16.subarray(3200, 3200 + 16000), left.subarray(3200), 800);
    const ref1k = tone(1000, 0, n * 320, 16000);
    const r = bestLag(ref1k.subarray(3200, 3200 + 16000), right.subarray(3200), 800);
    console.log(`      left (SILK) vs 440 Hz source: corr ${l.corr.toFixed(4)}; right (PCMU, resampled) vs 1 kHz: corr ${r.corr.toFixed(4)}`);
    assert.ok(l.corr >= 0.9, `left ${l.corr}`);
    assert.ok(r.corr >= 0.9, `right ${r.corr}`);
    // No crosstalk: the other side's tone is not in a channel.
    const x = bestLag(ref1k.subarray(3200, 3200 + 16000), left.subarray(3200), 800);
    assert.ok(Math.abs(x.corr) < 0.2, `left resembles the callee's tone: ${x.corr}`);
  });
});
