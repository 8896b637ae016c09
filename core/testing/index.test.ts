import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { request, response, sdp } from '../../test/sip-text';
import { pcmu } from '../../test/rtp-build';
import { bestLag, channelOf, PluginHarness, readWavFile, RtpStream, tone } from './index';

describe('testing: PluginHarness.packet() over TCP', () => {
  const invite = request('INVITE', { callId: 'tcp-harness@test', body: 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n' });
  const flow = { proto: 'tcp' as const, src: '10.0.0.1', sport: 50000, dst: '10.0.0.2', dport: 5060 };

  it('consecutive segments of one direction form one byte stream: a message split in three is parsed once', async () => {
    const h = await PluginHarness.core();
    const b = Buffer.from(invite);
    const cuts = [0, 37, 200, b.length];
    for (let i = 0; i + 1 < cuts.length; i++) h.packet({ ...flow, payload: b.subarray(cuts[i], cuts[i + 1]) });
    const rec = await h.stop();
    assert.equal(rec.sipErrors.length, 0, rec.sipErrors.map((e) => e.err.message).join('; '));
    assert.equal(rec.sip.length, 1);
    assert.equal(rec.sip[0]?.msg.callId, 'tcp-harness@test');
  });

  it('an explicit seq replays a segment as a retransmission, which is not parsed twice', async () => {
    const h = await PluginHarness.core();
    const b = Buffer.from(invite);
    h.packet({ ...flow, seq: 5000, payload: b.subarray(0, 100) });
    h.packet({ ...flow, seq: 5000, payload: b.subarray(0, 100) });
    h.packet({ ...flow, payload: b.subarray(100) });
    const rec = await h.stop();
    assert.equal(rec.sip.length, 1);
    assert.equal(rec.sip[0]?.msg.callId, 'tcp-harness@test');
  });
});

describe('testing: the kit a plugin package tests with (tapline/testing)', () => {
  const kitDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-kit-'));

  it('loads built-in plugins by name, records a call, and reads its audio back: the channel equals what was sent', async () => {
    const dir = kitDir();
    const h = await PluginHarness.create('codec-g711', { with: [{ plugin: 'storage-local', options: { dir } }] });
    const t0 = Date.UTC(2026, 0, 1) * 1000;
    const addr = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 };
    h.sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), { ...addr, ts: t0 });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', body: sdp('10.0.0.2', 5000) }), { src: addr.dst, sport: 5060, dst: addr.src, dport: 5060, ts: t0 + 1000 });
    const stream = new RtpStream(0x1234);
    const sent = tone(440, 0, 8000 * 2);
    for (let i = 0; i < 100; i++) {
      h.packet({ src: '10.0.0.1', sport: 4000, dst: '10.0.0.2', dport: 5000, ts: t0 + 10_000 + i * 20_000, payload: stream.next(0, pcmu(sent.subarray(i * 160, i * 160 + 160)), 160) });
    }
    h.sip(request('BYE', { toTag: 't1', cseq: 2 }), { ...addr, ts: t0 + 2_100_000 });
    const rec = await h.stop();
    assert.equal(rec.recordings.length, 1);
    const file = rec.recordings[0]?.audio?.file;
    assert.ok(file !== undefined, 'the recording has audio');
    const wav = readWavFile(file);
    assert.equal(wav.channels, 2);
    const caller = channelOf(wav.samples, 2, 0);
    const { corr } = bestLag(sent, caller, 800);
    assert.ok(corr > 0.99, `caller channel correlates ${corr.toFixed(4)} with the tone sent`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an unknown plugin name is refused by name, with what was searched', async () => {
    await assert.rejects(PluginHarness.create('codec-g7111'), (e: unknown) => /unknown plugin "codec-g7111".*did you mean "codec-g711"/s.test((e as Error).message));
  });

  it('readWavFile: a file cut mid-data reads what is there; a file that is not WAV says why', () => {
    const dir = kitDir();
    const data = new Int16Array([1, -1, 2, -2, 3, -3]);
    const hdr = Buffer.alloc(44);
    hdr.write('RIFF', 0, 'latin1');
    hdr.writeUInt32LE(36 + 1000, 4);
    hdr.write('WAVEfmt ', 8, 'latin1');
    hdr.writeUInt32LE(16, 16);
    hdr.writeUInt16LE(1, 20);
    hdr.writeUInt16LE(2, 22);
    hdr.writeUInt32LE(8000, 24);
    hdr.writeUInt32LE(32000, 28);
    hdr.writeUInt16LE(4, 32);
    hdr.writeUInt16LE(16, 34);
    hdr.write('data', 36, 'latin1');
    hdr.writeUInt32LE(1000, 40); // declares more than the file holds (a crash cut it)
    const f = path.join(dir, 'cut.wav');
    fs.writeFileSync(f, Buffer.concat([hdr, Buffer.from(data.buffer), Buffer.from([7])]));
    const w = readWavFile(f);
    assert.deepEqual([w.sampleRate, w.channels], [8000, 2]);
    assert.deepEqual([...w.samples], [...data]);
    const g = path.join(dir, 'junk.wav');
    fs.writeFileSync(g, 'not audio at all');
    assert.throws(() => readWavFile(g), /junk\.wav: not a 16-bit PCM WAV file \(no RIFF\/WAVE header\)/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
