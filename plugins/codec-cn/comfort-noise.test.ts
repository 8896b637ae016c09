import * as assert from 'node:assert/strict';
import type { MediaEvent, RtpFrameInfo } from '../../core/contract';
import { PluginHarness } from '../../core/testing/index';
import plugin from './index';
import { CN_PAYLOAD_TYPE, ComfortNoiseDecoder, parseNoiseLevel } from './comfort-noise';

function rtp(timestamp: number): RtpFrameInfo {
  return { timestamp, seq: 1, marker: false, ssrc: 7, payloadType: CN_PAYLOAD_TYPE };
}

describe('codec-cn', () => {
  it('registers CN/8000-32000 and static payload type 13 as CN/8000', async () => {
    const h = await PluginHarness.create(plugin);
    for (const rate of [8000, 16000, 24000, 32000]) {
      const dec = h.decoderFor({ encoding: 'cn', clockRate: rate, channels: 1, payloadType: 100 });
      assert.ok(dec !== undefined, `CN/${rate}`);
      assert.equal(dec.sampleRate, rate);
    }
    assert.equal(h.kernel.codecs.staticEncoding(13), 'CN/8000');
    await h.stop();
  });

  it('returns no audio and reports the noise level in dBov, ignoring spectral coefficients', async () => {
    const h = await PluginHarness.create(plugin);
    const dec = h.decoderFor({ encoding: 'CN', clockRate: 8000, channels: 1, payloadType: 13 });
    assert.ok(dec !== undefined);
    assert.equal(dec.decode(Buffer.from([40]), rtp(1000)), null);
    assert.equal(dec.decode(Buffer.from([0, 0x55, 0x80, 0x12]), rtp(2600)), null); // level 0 + 3 reflection coefficients
    assert.equal(dec.decode(Buffer.from([127, 1]), rtp(0xffffffff)), null);
    const events: MediaEvent[] = dec.drainEvents?.() ?? [];
    assert.deepEqual(events, [
      { kind: 'comfort-noise', rtpTimestamp: 1000, levelDbov: -40 },
      { kind: 'comfort-noise', rtpTimestamp: 2600, levelDbov: 0 },
      { kind: 'comfort-noise', rtpTimestamp: 0xffffffff, levelDbov: -127 },
    ]);
    assert.ok(!Object.is((events[1] as { levelDbov: number }).levelDbov, -0));
    assert.deepEqual(dec.drainEvents?.(), []);
    dec.close();
    await h.stop();
  });

  it('ignores and counts empty payloads and levels with the top bit set; never throws', async () => {
    const h = await PluginHarness.create(plugin);
    const dec = h.decoderFor({ encoding: 'CN', clockRate: 16000, channels: 1, payloadType: 98 });
    assert.ok(dec !== undefined);
    assert.equal(dec.decode(Buffer.alloc(0), rtp(1)), null);
    assert.equal(dec.decode(Buffer.from([0x80]), rtp(2)), null);
    assert.deepEqual(dec.drainEvents?.(), []);
    assert.equal(h.counters()['codec-cn.malformed'], 2);
    assert.equal(parseNoiseLevel(Buffer.from([0xff, 0])), undefined);

    const raw = new ComfortNoiseDecoder(8000);
    let seed = 99;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 2000; i++) {
      assert.equal(raw.decode(Buffer.from(Array.from({ length: rnd() % 20 }, rnd)), i % 2 === 0 ? undefined : rtp(i)), null);
      for (const e of raw.drainEvents()) assert.ok(e.kind === 'comfort-noise' && e.levelDbov <= 0 && e.levelDbov >= -127);
    }
    assert.equal(raw.stats.packets, 2000);
    await h.stop();
  });

  it('numbers events when no RTP header info is given', () => {
    const dec = new ComfortNoiseDecoder(8000);
    dec.decode(Buffer.from([30]));
    dec.decode(Buffer.from([31]));
    assert.deepEqual(
      dec.drainEvents().map((e) => (e.kind === 'comfort-noise' ? e.rtpTimestamp : -1)),
      [0, 1],
    );
  });
});
