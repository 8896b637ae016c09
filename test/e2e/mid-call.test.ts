/**
 * Joining a call in the middle (the hardening and live-service issues): a capture cut after the ACK, whose only
 * signalling is an in-dialog re-INVITE or UPDATE with SDP (To-tag present), before or after the RTP, with or without
 * BYE. Each is recorded from the first packet that SDP explains (media seen before the SDP is held, bounded, and
 * recorded once the SDP names its addresses), and flagged as joined mid-call. Every packet is recorded, the very
 * first included (the associator keeps it in the stream's binding until a second packet shows it is a stream).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bestLag, channelOf, PluginHarness, readWavFile, RtpStream, tone, type RecordingMetadata } from '../../core/testing/index';
import { pcmu } from '../rtp-build';
import { request, response, sdp } from '../sip-text';

const PACKETS = 200;
const T0 = Date.UTC(2026, 0, 1) * 1000;
const A = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
const B = { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 };

interface Variant {
  name: string;
  method: 'INVITE' | 'UPDATE';
  /** The in-dialog request comes before this RTP packet (0: before all media). */
  at: number;
  bye: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'a re-INVITE before the RTP, then BYE', method: 'INVITE', at: 0, bye: true },
  { name: 'cut after the ACK: 2 s of RTP, then a re-INVITE (session refresh), then BYE', method: 'INVITE', at: 100, bye: true },
  { name: 'an UPDATE after 2 s of RTP, no BYE', method: 'UPDATE', at: 100, bye: false },
  { name: 'a re-INVITE after the last RTP packet, no BYE', method: 'INVITE', at: PACKETS, bye: false },
];

async function record(v: Variant, dir: string, workers: number): Promise<{ meta: RecordingMetadata; caller: Int16Array; callee: Int16Array }> {
  const h = await PluginHarness.create('codec-g711', { with: [{ plugin: 'storage-local', options: { dir } }], config: { media: { workers } } });
  const a = new RtpStream(0x1a);
  const b = new RtpStream(0x2b);
  const ta = tone(440, 0, 160 * PACKETS);
  const tb = tone(1000, 0, 160 * PACKETS);
  let t = T0;
  const inDialog = (): void => {
    h.sip(request(v.method, { toTag: 'b1', cseq: 7, body: sdp('10.0.0.1', 4000) }), { ...A, ts: t });
    h.sip(response(200, 'OK', v.method, { toTag: 'b1', cseq: 7, body: sdp('10.0.0.2', 5000) }), { ...B, ts: t + 1000 });
    if (v.method === 'INVITE') h.sip(request('ACK', { toTag: 'b1', cseq: 7 }), { ...A, ts: t + 2000 });
    t += 3000;
  };
  for (let i = 0; i < PACKETS; i++) {
    if (i === v.at) inDialog();
    h.packet({ src: '10.0.0.1', sport: 4000, dst: '10.0.0.2', dport: 5000, ts: t, payload: a.next(0, pcmu(ta.subarray(i * 160, i * 160 + 160)), 160) });
    h.packet({ src: '10.0.0.2', sport: 5000, dst: '10.0.0.1', dport: 4000, ts: t + 4000, payload: b.next(0, pcmu(tb.subarray(i * 160, i * 160 + 160)), 160) });
    t += 20_000;
  }
  if (v.at === PACKETS) inDialog();
  if (v.bye) h.sip(request('BYE', { toTag: 'b1', cseq: 8 }), { ...A, ts: t + 10_000 });
  const rec = await h.stop();
  assert.equal(rec.recordings.length, 1);
  const meta = rec.recordings[0]!;
  assert.ok(meta.audio !== undefined, 'it has audio');
  const wav = readWavFile(path.resolve(dir, meta.audio.file));
  return { meta, caller: channelOf(wav.samples, 2, 0), callee: channelOf(wav.samples, 2, 1) };
}

describe('joining a call in the middle: recorded from the first packet its SDP explains', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-midcall-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  VARIANTS.forEach((v, i) => {
    it(`${v.name}: every packet recorded, both channels what was sent, flagged`, async () => {
      const r = await record(v, path.join(dir, `v${i}`), i % 2 === 0 ? 1 : 2);
      assert.equal(r.meta.call.joinedMidCall, v.method === 'INVITE' ? 're-INVITE' : 'UPDATE');
      assert.ok(r.meta.flags.some((f) => f.startsWith('joined mid-call')), r.meta.flags.join('; '));
      const expected = PACKETS;
      assert.equal(r.meta.caller.packets, expected);
      assert.equal(r.meta.callee.packets, expected);
      assert.ok(Math.abs((r.meta.audio?.durationSec ?? 0) - expected * 0.02) <= 0.05, `audio ${r.meta.audio?.durationSec} s`);
      const ca = bestLag(tone(440, 0, 160 * PACKETS), r.caller, 400);
      const cb = bestLag(tone(1000, 0, 160 * PACKETS), r.callee, 400);
      assert.ok(ca.corr >= 0.99 && cb.corr >= 0.99, `caller r = ${ca.corr.toFixed(4)}, callee r = ${cb.corr.toFixed(4)}`);
    });
  });
});
