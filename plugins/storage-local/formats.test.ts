/**
 * storage-local's audio formats, unit by unit: G.711 WAV (µ-law / A-law) written, gap-filled, repaired and
 * encrypted; which calls are kept as G.711; Ogg Opus pages (BOS, EOS, granules, pre-skip) read back by ffmpeg and
 * repaired after a torn write; and the store choosing, refusing and falling back.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AudioEncoderProvider } from '../../core/contract';
import { PluginHarness } from '../../core/testing/index';
import { decodeUlaw, encodeG711Exact } from '../../core/media/g711';
import { storageLocalManifest } from './index';
import { LocalStore } from './store';
import { codingFor } from './sample-coding';
import { readWav, readWavBytes, repairWav, WavFileWriter } from './wav';
import { decryptToWav, EncryptedAudioWriter } from './encrypted-audio';
import { StaticKeyProvider } from './key-provider';
import { OggOpusWriter, repairOggOpus } from './ogg-opus';
import { oggCrc, readOggFile, PAGE_BOS, PAGE_EOS } from './ogg';
import { metadataFor, start, tmpDir } from './test-fixtures';

const haveFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
const haveSoxi = spawnSync('soxi', [], { stdio: 'ignore' }).error === undefined;

/** The Opus plugin's encoder provider, when its addon is built (required by name: a workspace package). */
function opusProvider(): AudioEncoderProvider | undefined {
  try {
    const m = require('@tapline/codec-opus') as { loadOpusNative: () => { native?: unknown; reason?: string }; opusEncoderProvider: (n: unknown, r: string | undefined) => AudioEncoderProvider };
    const loaded = m.loadOpusNative();
    return loaded.native === undefined ? undefined : m.opusEncoderProvider(loaded.native, loaded.reason);
  } catch {
    return undefined;
  }
}

/** A voiced stereo signal (different tones left and right) at `rate`. */
function tones(frames: number, rate: number): Int16Array {
  const s = new Int16Array(frames * 2);
  for (let i = 0; i < frames; i++) {
    s[i * 2] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate) + 3000 * Math.sin((2 * Math.PI * 1210 * i) / rate));
    s[i * 2 + 1] = Math.round(6000 * Math.sin((2 * Math.PI * 660 * i) / rate));
  }
  return s;
}

describe('storage-local: audio formats', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = tmpDir('formats');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('codingFor: G.711 kept only for an 8 kHz call whose audio is one law (DTMF and CN aside)', () => {
    assert.equal(codingFor('g711', 8000, ['PCMU/8000', 'TELEPHONE-EVENT/8000', 'CN/8000']), 'ulaw');
    assert.equal(codingFor('g711', 8000, ['PCMA/8000']), 'alaw');
    assert.equal(codingFor('g711', 8000, ['PCMU/8000', 'PCMA/8000']), 'pcm16');
    assert.equal(codingFor('g711', 16000, ['PCMU/8000', 'G722/8000']), 'pcm16');
    assert.equal(codingFor('g711', 8000, undefined), 'pcm16');
    assert.equal(codingFor('wav', 8000, ['PCMU/8000']), 'pcm16');
  });

  it('µ-law WAV: the codes as received, a gap in the law\'s silence (0xFF, not 0x00), sox reads it, a killed writer is repaired', async () => {
    const file = path.join(tmp, 'u.wav');
    const codes = Buffer.from(Array.from({ length: 320 }, (_, i) => (i * 37) & 0xff));
    const w = await WavFileWriter.create(file, { sampleRate: 8000, channels: 2, coding: 'ulaw' });
    await w.write(0, decodeUlaw(codes));
    await w.write(300, decodeUlaw(codes.subarray(0, 20))); // frames 160..299 never written: silence
    await w.close();
    const r = readWavBytes(file);
    assert.equal(r.coding, 'ulaw');
    assert.ok(r.data.subarray(0, 320).equals(codes), 'the codes written are the codes stored');
    assert.ok(r.data.subarray(320, 600).every((b) => b === 0xff), 'the gap is µ-law silence');
    assert.ok(r.data.subarray(600).equals(codes.subarray(0, 20)));
    assert.equal(fs.statSync(file).size, 58 + 620);
    assert.equal(fs.readFileSync(file).readUInt32LE(46), 310, 'fact chunk: frames');
    if (haveSoxi) {
      assert.match(execFileSync('soxi', ['-e', file], { encoding: 'utf8' }), /u-law/i);
      assert.equal(execFileSync('soxi', ['-s', file], { encoding: 'utf8' }).trim(), '310');
    }
    // Killed: a header that claims nothing, and a torn frame at the end; repairWav sets data and fact from the length.
    const killed = path.join(tmp, 'killed.wav');
    const bytes = fs.readFileSync(file);
    bytes.writeUInt32LE(0, 4);
    bytes.writeUInt32LE(0, 46);
    bytes.writeUInt32LE(0, 54);
    fs.writeFileSync(killed, Buffer.concat([bytes, Buffer.from([0x12])]));
    assert.deepEqual(repairWav(killed), { repaired: true, frames: 310, sampleRate: 8000, channels: 2 });
    assert.ok(fs.readFileSync(killed).equals(fs.readFileSync(file)), 'repaired == written');
  });

  it('A-law WAV and encrypted G.711: decrypting gives the same file the plain writer makes', async () => {
    const keys = new StaticKeyProvider(randomBytes(32));
    const pcm = tones(24_000, 8000);
    for (const coding of ['alaw', 'ulaw'] as const) {
      const plain = path.join(tmp, `${coding}.wav`);
      const enc = path.join(tmp, `${coding}.wav.enc`);
      const pw = await WavFileWriter.create(plain, { sampleRate: 8000, channels: 2, coding });
      const ew = await EncryptedAudioWriter.create(enc, { sampleRate: 8000, channels: 2, coding }, keys);
      for (const w of [pw, ew]) {
        await w.write(0, pcm.subarray(0, 20_000));
        await w.write(14_000, pcm.subarray(20_000)); // a gap of 4,000 frames
        await w.close();
      }
      assert.equal(fs.readFileSync(enc).indexOf('RIFF'), -1, 'no readable header in the encrypted file');
      const out = path.join(tmp, `${coding}.out.wav`);
      decryptToWav(enc, out, keys);
      assert.ok(fs.readFileSync(out).equals(fs.readFileSync(plain)), `${coding}: decrypted == plain`);
      const back = readWavBytes(plain);
      assert.ok(back.data.subarray(0, 20_000).equals(encodeG711Exact(coding, pcm.subarray(0, 20_000))));
      assert.ok(back.data.subarray(20_000, 28_000).every((b) => b === (coding === 'alaw' ? 0xd5 : 0xff)));
    }
  });

  (opusProvider() !== undefined && haveFfmpeg ? describe : describe.skip)('Ogg Opus (libopus through @tapline/codec-opus, ffmpeg as the reader)', () => {
    it('pages: OpusHead (BOS), OpusTags, audio pages of a second, the last EOS with the input\'s length; every CRC checks; ffmpeg decodes the same length', async () => {
      const file = path.join(tmp, 'a.opus');
      const w = await OggOpusWriter.create(file, { sampleRate: 8000, channels: 2 }, opusProvider()!, 48_000);
      const pcm = tones(16_000, 8000);
      await w.write(0, pcm.subarray(0, 2 * 10_001)); // not a whole frame
      await w.write(12_000, pcm.subarray(2 * 12_000)); // 1,999 frames of silence before it
      await w.close();
      await w.close(); // idempotent
      const { pages, validBytes, size } = readOggFile(file);
      assert.equal(validBytes, size, 'every page whole and its CRC right');
      assert.equal(pages[0]!.flags, PAGE_BOS);
      assert.equal(pages[0]!.packets[0]!.toString('latin1', 0, 8), 'OpusHead');
      assert.equal(pages[0]!.packets[0]!.readUInt16LE(10), 312, 'pre-skip');
      assert.equal(pages[0]!.packets[0]!.readUInt32LE(12), 8000, 'input rate');
      assert.equal(pages[1]!.packets[0]!.toString('latin1', 0, 8), 'OpusTags');
      const last = pages[pages.length - 1]!;
      assert.equal(last.flags, PAGE_EOS);
      assert.equal(Number(last.granule), 312 + 16_000 * 6, 'the last granule ends the audio where the input ended');
      for (let i = 2; i < pages.length - 1; i++) assert.equal(pages[i]!.packets.length, 50, 'a page is a second of 20 ms packets');
      const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 's16le', '-ar', '8000', '-'], { maxBuffer: 1 << 26 });
      assert.equal(raw.length / 4, 16_000, 'ffmpeg decodes as many frames as were written');
      assert.deepEqual(repairOggOpus(file), { repaired: false, frames: 16_000, sampleRate: 8000, channels: 2 });
      // A page altered in place fails its CRC: reading stops there.
      const bad = fs.readFileSync(file);
      bad[pages[3]!.offset + 40] = (bad[pages[3]!.offset + 40]! ^ 0xff) & 0xff;
      const bf = path.join(tmp, 'bad.opus');
      fs.writeFileSync(bf, bad);
      assert.equal(readOggFile(bf).pages.length, 3);
      assert.equal(oggCrc(Buffer.alloc(0)), 0);
    });

    it('encrypted at rest: no Ogg page and no RIFF in the file; decrypted, ffmpeg decodes it sample for sample as the plain file', async () => {
      const keys = new StaticKeyProvider(randomBytes(32));
      const pcm = tones(24_000, 8000);
      const plain = path.join(tmp, 'p.opus');
      const sealed = path.join(tmp, 'e.opus.enc');
      for (const [file, k] of [[plain, undefined], [sealed, keys]] as const) {
        const w = await OggOpusWriter.create(file, { sampleRate: 8000, channels: 2 }, opusProvider()!, 48_000, k);
        await w.write(0, pcm);
        await w.close();
      }
      const raw = fs.readFileSync(sealed);
      assert.equal(raw.indexOf('OggS'), -1);
      assert.equal(raw.indexOf('RIFF'), -1);
      const out = path.join(tmp, 'd.opus');
      const r = decryptToWav(sealed, out, keys);
      assert.equal(r.container, 'ogg');
      assert.equal(readOggFile(out).validBytes, fs.statSync(out).size, 'a whole Ogg file');
      const dec = (f: string): Buffer => execFileSync('ffmpeg', ['-v', 'error', '-i', f, '-f', 's16le', '-ar', '8000', '-'], { maxBuffer: 1 << 26 });
      assert.ok(dec(out).equals(dec(plain)), 'the same packets: the same decoded samples');
    });

    it('a torn last page is cut off at recovery; ffmpeg reads what is left', async () => {
      const file = path.join(tmp, 'torn.opus');
      const w = await OggOpusWriter.create(file, { sampleRate: 16000, channels: 1 }, opusProvider()!, undefined);
      const mono = new Int16Array(16000 * 3).map((_, i) => Math.round(5000 * Math.sin((2 * Math.PI * 300 * i) / 16000)));
      await w.write(0, mono);
      await w.close();
      const full = fs.readFileSync(file);
      fs.writeFileSync(file, full.subarray(0, full.length - 100));
      const r = repairOggOpus(file);
      assert.equal(r.repaired, true);
      assert.equal(r.sampleRate, 16000);
      assert.ok(r.frames >= 16000 && r.frames < 48000, `${r.frames} frames kept`);
      const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 's16le', '-ar', '16000', '-'], { maxBuffer: 1 << 26 });
      assert.ok(Math.abs(raw.length / 2 - r.frames) <= 320, `ffmpeg ${raw.length / 2} frames, granule says ${r.frames}`);
    });
  });

  it('the store: opus without a plugin that encodes it is refused at start; a rate Opus does not take is kept as WAV and says so', async () => {
    await assert.rejects(async () => {
      const h = await PluginHarness.create(storageLocalManifest, { options: { dir: tmp, audio: { format: 'opus' } } });
      await h.stop();
    }, /audio.format 'opus'.*@tapline\/codec-opus/);
    // An in-process provider that takes 48 kHz only (fault injection: the fallback path).
    const only48: AudioEncoderProvider = { format: 'opus', unavailableReason: undefined, sampleRates: [48000], create: () => assert.fail('not for 8 kHz') };
    const warnings: string[] = [];
    const store = new LocalStore({ root: tmp, catalogue: path.join(tmp, 'c.sqlite'), layout: 'date', audio: { format: 'opus' }, encoders: () => [only48], log: { warn: (m: string) => warnings.push(m), info: () => undefined, error: () => undefined, debug: () => undefined } as never });
    const s = start();
    await store.open(s);
    await store.openAudio(s.id, { sampleRate: 8000, channels: 2, encodings: ['PCMU/8000'] });
    await store.writeAudio(s.id, 0, tones(800, 8000));
    const located = store.locate(s);
    await store.close(metadataFor(s, located.audio, { audio: { file: located.audio, format: located.format, channels: 2, layout: 'stereo-caller-left', sampleRate: 8000, durationSec: 0.1, start: new Date().toISOString() } }));
    const meta = store.get(s.id)!.metadata;
    assert.equal(meta.audio!.format, 'wav');
    assert.ok(meta.audio!.file.endsWith('audio.wav'));
    assert.equal(readWav(meta.audio!.file).samples.length, 1600);
    assert.ok(warnings.some((m) => /stored as WAV, not Ogg Opus: Opus does not take 8000 Hz/.test(m)), warnings.join('\n'));
    await store.shutdown();
  });
});
