import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Decoder, StreamInfo } from '../../core/contract';
import { ErrorCodes, isTaplineError, TaplineError, type ErrorCode } from '../../core/errors';
import { PluginHarness } from '../../core/testing/index';
import { repoRoot } from '../../test/corpus';
import plugin from './index';
import { createRtaudioCodec, NotDecodedRtaudio, RTAUDIO_NOT_DECODED } from './codec';
import { loadRtaudioDecoder, type Fail } from './decoder-module';

const rta = (clockRate: number, payloadType: number, fmtp?: string): StreamInfo => ({ encoding: 'x-msrta', clockRate, channels: 1, payloadType, ...(fmtp === undefined ? {} : { fmtp }) });

const fail: Fail = (code: ErrorCode, message: string, details?: Record<string, unknown>): never => {
  throw new TaplineError(code, message, details);
};

/**
 * A stand-in for a licensed decoder: each payload byte b becomes the sample (b - 128) * 100, so the test can check
 * that the recorder-facing decoder really is the module's. It records what it was given in `seen`.
 */
const FAKE_DECODER_CJS = `
const seen = { init: [], streams: [] };
exports.name = 'fake-rtaudio';
exports.version = '1.2.3';
exports.seen = seen;
exports.init = (options, info) => {
  if (options.licence === 'expired') throw new Error('licence expired');
  seen.init.push({ options, configDir: info.configDir });
};
exports.createDecoder = (stream) => {
  seen.streams.push(stream);
  if (stream.payloadType === 99) throw new Error('cannot decode payload type 99');
  if (stream.payloadType === 98) return { decode() { return null; } };
  return {
    sampleRate: stream.clockRate,
    decode(payload) { return Int16Array.from(payload, (b) => (b - 128) * 100); },
    close() {},
  };
};
`;

const FAKE_DECODER_ESM = `
export default {
  createDecoder(stream) {
    return { sampleRate: stream.clockRate, decode: (p) => new Int16Array(p.length).fill(7), close() {} };
  },
};
`;

describe('codec-rtaudio', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-rtaudio-'));
    fs.writeFileSync(path.join(dir, 'fake-rtaudio.js'), FAKE_DECODER_CJS);
    fs.writeFileSync(path.join(dir, 'fake-rtaudio.mjs'), FAKE_DECODER_ESM);
    fs.writeFileSync(path.join(dir, 'not-a-decoder.js'), 'exports.decode = () => null;\n');
    fs.writeFileSync(path.join(dir, 'broken.js'), 'throw new Error("missing libRTAudio.so");\n');
    const pkg = path.join(dir, 'node_modules', 'acme-rtaudio');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'acme-rtaudio', version: '1.0.0', main: 'main.js' }));
    fs.writeFileSync(path.join(pkg, 'main.js'), FAKE_DECODER_CJS);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('without a licensed decoder', () => {
    it('is found by rtpmap x-msrta/8000 and /16000 and gives a decoder that says "not decoded" and never decodes', async () => {
      const h = await PluginHarness.create(plugin);
      try {
        for (const [rate, pt] of [
          [16000, 114],
          [8000, 115],
        ] as const) {
          const dec = h.decoderFor(rta(rate, pt, rate === 16000 ? 'bitrate=29000' : 'bitrate=11800'));
          assert.ok(dec !== undefined && dec instanceof NotDecodedRtaudio);
          assert.equal(dec.notDecoded, RTAUDIO_NOT_DECODED);
          assert.equal(dec.notDecoded, 'RTAudio — not decoded');
          assert.equal(dec.sampleRate, rate);
          assert.equal((dec as Decoder).unwrap, undefined);
          assert.throws(() => dec.decode(Buffer.alloc(40, 1)), new RegExp(`RTAudio \\(x-msrta/${rate}, payload type ${pt}\\) is not decoded`));
        }
        assert.ok(h.decoderFor({ encoding: 'X-MSRTA', clockRate: 16000, channels: 1, payloadType: 114 }) instanceof NotDecodedRtaudio);
        assert.equal(h.decoderFor(rta(24000, 114)), undefined);
        assert.equal(h.kernel.codecs.staticEncoding(114), 'x-msrta/16000');
        assert.equal(h.kernel.codecs.staticEncoding(115), 'x-msrta/8000');
        assert.equal(h.kernel.codecs.pluginFor('x-msrta', 16000), 'codec-rtaudio');
      } finally {
        await h.stop();
      }
    });

    it('takes rtpmap-less payload types from the options and refuses one in both lists', async () => {
      const h = await PluginHarness.create(plugin, { options: { rtaudio8PayloadTypes: [120], rtaudio16PayloadTypes: [121, 122] } });
      try {
        assert.equal(h.kernel.codecs.staticEncoding(120), 'x-msrta/8000');
        assert.equal(h.kernel.codecs.staticEncoding(122), 'x-msrta/16000');
        assert.equal(h.kernel.codecs.staticEncoding(114), undefined);
      } finally {
        await h.stop();
      }
      await assert.rejects(
        PluginHarness.create(plugin, { options: { rtaudio8PayloadTypes: [114], rtaudio16PayloadTypes: [114] } }),
        (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_INVALID) && /114 are in both/.test(e.message),
      );
      await assert.rejects(PluginHarness.create(plugin, { options: { decoder: '' } }), (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_INVALID));
    });
  });

  describe('with a licensed decoder module', () => {
    it('loads it (CommonJS, by absolute path), runs init() with decoderOptions, and decodes with it', async () => {
      const file = path.join(dir, 'fake-rtaudio.js');
      const h = await PluginHarness.create(plugin, { options: { decoder: file, decoderOptions: { licence: '/etc/rta.lic' } } });
      try {
        const fake = require(file) as { seen: { init: Array<{ options: unknown; configDir: string }>; streams: StreamInfo[] } };
        assert.deepEqual(fake.seen.init, [{ options: { licence: '/etc/rta.lic' }, configDir: process.cwd() }]);
        const dec = h.decoderFor(rta(16000, 114, 'bitrate=29000'));
        assert.ok(dec !== undefined && !(dec instanceof NotDecodedRtaudio));
        assert.equal(dec.notDecoded, undefined);
        assert.equal(dec.sampleRate, 16000);
        assert.deepEqual([...(dec.decode(Buffer.from([128, 129, 0])) ?? [])], [0, 100, -12800]);
        assert.deepEqual(fake.seen.streams.at(-1), rta(16000, 114, 'bitrate=29000'));
        assert.ok(h.recorded.logs.some((l) => l.msg === 'licensed RTAudio decoder loaded' && l.fields?.name === 'fake-rtaudio'));
      } finally {
        await h.stop();
      }
    });

    it('keeps a stream undecoded, and says why, when the module fails for it', async () => {
      const h = await PluginHarness.create(plugin, { options: { decoder: path.join(dir, 'fake-rtaudio.js') } });
      try {
        const threw = h.decoderFor(rta(8000, 99));
        assert.ok(threw instanceof NotDecodedRtaudio);
        assert.match(threw.notDecoded, /^RTAudio — not decoded \(licensed RTAudio decoder failed for payload type 99 .*createDecoder\(\) threw: cannot decode payload type 99\)$/);
        const malformed = h.decoderFor(rta(8000, 98));
        assert.ok(malformed instanceof NotDecodedRtaudio);
        assert.match(malformed.notDecoded, /has no close\(\) function|sampleRate/);
        assert.equal(h.counters()['codec-rtaudio.decoderFailures'], 2);
        assert.equal(h.recorded.logs.filter((l) => l.level === 'warn' && /licensed RTAudio decoder failed/.test(l.msg)).length, 2);
      } finally {
        await h.stop();
      }
    });

    it('resolves a path relative to the config folder, an npm package from it, and an ES module default export', async () => {
      const rel = await loadRtaudioDecoder('./fake-rtaudio.js', dir, fail);
      assert.equal(rel.name, 'fake-rtaudio');
      const pkg = await loadRtaudioDecoder('acme-rtaudio', dir, fail);
      assert.equal(typeof pkg.createDecoder, 'function');
      const esm = await loadRtaudioDecoder('./fake-rtaudio.mjs', dir, fail);
      const codec = createRtaudioCodec({ rtaudio8PayloadTypes: [], rtaudio16PayloadTypes: [] }, { licensed: esm });
      assert.deepEqual([...(codec.createDecoder(rta(8000, 115)).decode(Buffer.alloc(3)) ?? [])], [7, 7, 7]);
    });

    it('refuses to start with a named error when the module is missing, broken, not a decoder, or refuses its licence', async () => {
      const cases: Array<[string, Record<string, unknown>, ErrorCode, RegExp]> = [
        ['missing', { decoder: path.join(dir, 'nope.js') }, ErrorCodes.PLUGIN_NOT_FOUND, /codec-rtaudio: RTAudio decoder ".*nope\.js" \(option "decoder"\) not found/],
        ['missing package', { decoder: 'no-such-rtaudio-package' }, ErrorCodes.PLUGIN_NOT_FOUND, /"no-such-rtaudio-package" .*not found/],
        ['throws on load', { decoder: path.join(dir, 'broken.js') }, ErrorCodes.PLUGIN_MANIFEST, /failed to load from .*broken\.js: missing libRTAudio\.so/],
        ['wrong shape', { decoder: path.join(dir, 'not-a-decoder.js') }, ErrorCodes.PLUGIN_MANIFEST, /does not export createDecoder\(stream\)/],
        ['init refuses', { decoder: path.join(dir, 'fake-rtaudio.js'), decoderOptions: { licence: 'expired' } }, ErrorCodes.PLUGIN_HOOK, /refused to start: licence expired/],
      ];
      for (const [what, options, code, re] of cases) {
        await assert.rejects(PluginHarness.create(plugin, { options }), (e: unknown) => isTaplineError(e, code) && re.test(e.message) && e.details.plugin === 'codec-rtaudio', what);
      }
    });
  });

  it('points to the SDP rewrite in its description and README', () => {
    assert.match(plugin.description ?? '', /tapline sdp suppress/);
    // From the sources: tsc does not copy the README into dist/.
    assert.match(fs.readFileSync(path.join(repoRoot, 'plugins', 'codec-rtaudio', 'README.md'), 'utf8'), /tapline sdp suppress/);
  });
});
