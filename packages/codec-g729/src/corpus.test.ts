/**
 * A real G.729A call (shared corpus: SIPp → FreeSWITCH, one-way, 425 packets of 20 ms on PT 18), recorded through
 * the kernel with this plugin and storage-local, against an independent decode of the same payloads by ffmpeg.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bestLag, channelOf, corpusPath, describeCorpus, PluginHarness, readWavFile } from 'tapline/testing';
import plugin from './index';
import { g729Native } from './native';
import { FFMPEG, parseRtpHeader, readPcapUdp, rms, run, s16 } from './test-helpers';

const FILE = 'pcap/ww_sip-rtp-g729a.pcap';
const loaded = g729Native();
const haveFfmpeg = fs.existsSync(FFMPEG);

describeCorpus(`corpus capture ${FILE} (SIPp → FreeSWITCH, G.729A, annexb=no)`, () => {
  const rtp = readPcapUdp(corpusPath(FILE))
    .map((u) => parseRtpHeader(u.payload))
    .filter((r): r is NonNullable<typeof r> => r !== undefined && r.pt === 18);

  it('holds one 425-packet G.729 stream of 2 frames per packet', () => {
    assert.equal(rtp.length, 425);
    assert.equal(new Set(rtp.map((r) => r.ssrc)).size, 1);
    assert.ok(rtp.every((r) => r.payload.length === 20));
    assert.ok(rtp.every((r, i) => i === 0 || ((r.seq - (rtp[i - 1] as typeof r).seq) & 0xffff) === 1), 'no loss, in order');
  });

  const ready = loaded.ok && haveFfmpeg;
  const why = !loaded.ok ? ` (skipped: ${loaded.reason})` : !haveFfmpeg ? ' (skipped: ffmpeg not installed; apt-get install ffmpeg)' : '';
  (ready ? it : it.skip)(`records it: the WAV matches ffmpeg's independent decode and lasts the RTP span${why}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g729-corpus-'));
    try {
      // ffmpeg's own G.729 decoder on the concatenated payloads (raw G.729: 10-byte frames back to back).
      const raw = path.join(dir, 'corpus.g729');
      fs.writeFileSync(raw, Buffer.concat(rtp.map((r) => r.payload)));
      const ff = s16(run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'g729', '-i', raw, '-f', 's16le', '-ar', '8000', '-ac', '1', '-']));

      const recDir = path.join(dir, 'rec');
      const h = await PluginHarness.create(plugin, { with: [{ plugin: 'storage-local', options: { dir: recDir } }] });
      await h.pcap(corpusPath(FILE));
      const { recordings } = await h.stop();
      assert.equal(recordings.length, 1);
      const m = recordings[0];
      assert.ok(m?.audio !== undefined);
      assert.deepEqual(m.flags, []);
      assert.equal(m.callee.packets, 425);
      assert.deepEqual(m.callee.codecs, ['G729/8000']);
      assert.equal(m.callee.undecoded, 0);
      const wav = readWavFile(path.resolve(recDir, m.audio.file));
      assert.equal(wav.sampleRate, 8000);
      // The RTP comes from FreeSWITCH, the side that answered: the callee, right channel.
      const rec = channelOf(wav.samples, wav.channels, 1);
      assert.equal(rms(channelOf(wav.samples, wav.channels, 0)), 0, 'one-way call: the caller channel is silent');

      const first = rtp[0] as (typeof rtp)[number];
      const last = rtp[rtp.length - 1] as (typeof rtp)[number];
      const spanSec = (((last.ts - first.ts) >>> 0) + 160) / 8000;
      const wavSec = rec.length / 8000;
      const { lag, corr } = bestLag(ff, rec, 400);
      console.log(
        `      corpus G.729A: ${rtp.length} packets; RTP span ${spanSec.toFixed(3)} s, recording ${m.audio.durationSec} s (WAV ${wavSec.toFixed(3)} s); ` +
          `vs ffmpeg (${(ff.length / 8000).toFixed(3)} s): corr ${corr.toFixed(5)} at lag ${lag}; rms ${rms(rec).toFixed(0)}`,
      );
      assert.ok(corr >= 0.99, `correlation with ffmpeg's decode ${corr}`);
      assert.ok(Math.abs(m.audio.durationSec - spanSec) <= 0.02, `duration ${m.audio.durationSec} s vs RTP span ${spanSec} s`);
      assert.ok(Math.abs(wavSec - spanSec) <= 0.02, `WAV length ${wavSec} s vs RTP span ${spanSec} s`);
      assert.ok(rms(rec) > 100, 'the call carries audio');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
