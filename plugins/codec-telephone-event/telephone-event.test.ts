import * as assert from 'node:assert/strict';
import type { Decoder, MediaEvent, RtpFrameInfo } from '../../core/contract';
import { PluginHarness } from '../../core/testing/index';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { haveTshark, tshark } from '../../test/tshark';
import plugin from './index';
import { buildEvent, digitCode, eventDigit, parseEvent, TelephoneEventDecoder } from './telephone-event';

type Dtmf = Extract<MediaEvent, { kind: 'dtmf' }>;

function rtp(timestamp: number, seq = 0, marker = false): RtpFrameInfo {
  return { timestamp, seq, marker, ssrc: 0x1234, payloadType: 101 };
}

/** Feeds (payload, rtp) pairs and returns every event, draining after each packet as the core does. */
function feed(dec: Decoder, packets: Array<[Buffer, RtpFrameInfo | undefined]>): Dtmf[] {
  const out: Dtmf[] = [];
  for (const [payload, info] of packets) {
    assert.equal(dec.decode(payload, info), null);
    for (const e of dec.drainEvents?.() ?? []) if (e.kind === 'dtmf') out.push(e);
  }
  return out;
}

/** The packets a typical sender emits for one press: growing durations every 160 units, then 3 end packets. */
function press(digit: string, ts: number, steps: number, opts: { endCopies?: number; step?: number; volume?: number; seq0?: number } = {}): Array<[Buffer, RtpFrameInfo]> {
  const step = opts.step ?? 160;
  const event = digitCode(digit);
  const volume = opts.volume ?? 10;
  let seq = opts.seq0 ?? 0;
  const out: Array<[Buffer, RtpFrameInfo]> = [];
  for (let i = 0; i < steps; i++) out.push([buildEvent({ event, end: false, volume, duration: i * step }), rtp(ts, seq++, i === 0)]);
  for (let i = 0; i < (opts.endCopies ?? 3); i++) out.push([buildEvent({ event, end: true, volume, duration: steps * step }), rtp(ts, seq++)]);
  return out;
}

/** One entry per press: the end:true events (what a consumer wanting one DTMF per key press keeps). */
function ends(events: Dtmf[]): Array<[string, number, number]> {
  return events.filter((e) => e.end).map((e) => [e.digit, e.rtpTimestamp, e.duration]);
}

async function harnessDecoder(clockRate = 8000): Promise<{ h: PluginHarness; dec: Decoder }> {
  const h = await PluginHarness.create(plugin);
  const dec = h.decoderFor({ encoding: 'telephone-event', clockRate, channels: 1, payloadType: 101 });
  assert.ok(dec !== undefined, `no decoder for telephone-event/${clockRate}`);
  return { h, dec };
}

describe('codec-telephone-event', () => {
  it('maps every DTMF event code and flash, and nothing else', () => {
    assert.deepEqual(
      Array.from({ length: 17 }, (_, i) => eventDigit(i)),
      ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D', 'flash'],
    );
    assert.equal(eventDigit(17), undefined);
    assert.equal(eventDigit(255), undefined);
    assert.equal(digitCode('d'), 15);
    assert.deepEqual(parseEvent(Buffer.from([5, 0x8a, 0x03, 0x20])), { event: 5, end: true, volume: 10, duration: 800 });
    // The reserved R bit is not part of the volume.
    assert.equal(parseEvent(Buffer.from([5, 0x4a, 0, 0]))?.volume, 10);
  });

  it('registers telephone-event at 8000, 16000 and 48000 through the harness', async () => {
    const h = await PluginHarness.create(plugin);
    for (const rate of [8000, 16000, 48000]) {
      const dec = h.decoderFor({ encoding: 'TELEPHONE-EVENT', clockRate: rate, channels: 1, payloadType: 101 });
      assert.ok(dec !== undefined, `telephone-event/${rate}`);
      assert.equal(dec.sampleRate, rate);
    }
    assert.equal(h.decoderFor({ encoding: 'telephone-event', clockRate: 44100, channels: 1, payloadType: 101 }), undefined);
    await h.stop();
  });

  it('reports one press as a start event then one end event with the final duration, deduping the end copies', async () => {
    const { h, dec } = await harnessDecoder();
    const events = feed(dec, press('5', 1000, 8));
    assert.deepEqual(events, [
      { kind: 'dtmf', digit: '5', rtpTimestamp: 1000, duration: 0, volume: 10, end: false },
      { kind: 'dtmf', digit: '5', rtpTimestamp: 1000, duration: 1280, volume: 10, end: true },
    ]);
    assert.deepEqual(dec.drainEvents?.(), []);
    dec.close();
    assert.deepEqual(dec.drainEvents?.(), [], 'close() after an ended press reports nothing more');
    const c = h.counters();
    assert.equal(c['codec-telephone-event.presses'], 1);
    assert.equal(c['codec-telephone-event.afterEnd'], 2);
    await h.stop();
  });

  it('decodes all sixteen digits and flash in sequence', async () => {
    const { h, dec } = await harnessDecoder(16000);
    const digits = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D', 'flash'];
    const packets = digits.flatMap((d, i) => press(d, 5000 + i * 4000, 4, { step: 320 }));
    const got = ends(feed(dec, packets));
    assert.deepEqual(
      got,
      digits.map((d, i) => [d, 5000 + i * 4000, 1280]),
    );
    await h.stop();
  });

  it('closes a press whose end packets were all lost when the next event starts, and at close()', async () => {
    const { h, dec } = await harnessDecoder();
    const first = press('7', 100, 6, { endCopies: 0 }); // last duration sent: 800
    const second = press('8', 5000, 5, { endCopies: 0 }); // last: 640
    const events = feed(dec, [...first, ...second]);
    assert.deepEqual(ends(events), [['7', 100, 800]]);
    assert.deepEqual(
      events.map((e) => [e.digit, e.end]),
      [
        ['7', false],
        ['7', true],
        ['8', false],
      ],
    );
    dec.close();
    const flushed = dec.drainEvents?.() ?? [];
    assert.deepEqual(flushed, [{ kind: 'dtmf', digit: '8', rtpTimestamp: 5000, duration: 640, volume: 10, end: true }]);
    // A closed decoder ignores further packets and never throws.
    assert.equal(dec.decode(buildEvent({ event: 1, end: false, volume: 1, duration: 0 }), rtp(9000)), null);
    assert.deepEqual(dec.drainEvents?.(), []);
    assert.equal(h.counters()['codec-telephone-event.endLost'], 2);
    await h.stop();
  });

  it('reports a press seen only by its end packets once, and ignores late copies after the next press began', () => {
    const dec = new TelephoneEventDecoder(8000);
    const a = press('3', 100, 5, { endCopies: 3 });
    const b = press('4', 3000, 3);
    const events = feed(dec, [...a.slice(5, 6), ...b.slice(0, 2), ...a.slice(6), ...b.slice(2)]);
    assert.deepEqual(ends(events), [
      ['3', 100, 800],
      ['4', 3000, 480],
    ]);
    assert.equal(events.filter((e) => e.digit === '3').length, 1, 'no start event when the first packet seen is an end packet');
    assert.equal(dec.stats.afterEnd, 2 + 2);
  });

  it('ignores an out-of-order straggler from before the open press, and reordered smaller durations', () => {
    const dec = new TelephoneEventDecoder(8000);
    const a = press('1', 10_000, 4);
    const events = feed(dec, [
      a[0] as [Buffer, RtpFrameInfo],
      a[2] as [Buffer, RtpFrameInfo],
      a[1] as [Buffer, RtpFrameInfo], // duration 160 after 320: kept at 320
      [buildEvent({ event: 9, end: false, volume: 10, duration: 480 }), rtp(9000)], // never-seen press, older
      ...a.slice(3),
    ]);
    assert.deepEqual(ends(events), [['1', 10_000, 640]]);
    assert.equal(dec.stats.late, 1);
  });

  it('joins a press longer than 0xFFFF units across its segments (RFC 4733 §2.5.1.3)', () => {
    const dec = new TelephoneEventDecoder(8000);
    const code = digitCode('#');
    const t0 = 0xffff_0000; // the second segment's timestamp wraps past 2^32
    const pk = (ts: number, duration: number, end = false): [Buffer, RtpFrameInfo] => [buildEvent({ event: code, end, volume: 5, duration }), rtp(ts)];
    const events = feed(dec, [pk(t0, 0), pk(t0, 40_000), pk(t0, 0xffff), pk((t0 + 0xffff) >>> 0, 800), pk((t0 + 0xffff) >>> 0, 1600, true)]);
    assert.deepEqual(ends(events), [['#', t0, 0xffff + 1600]]);
    assert.equal(events.length, 2);
  });

  it('ignores non-DTMF event codes and counts them, but they still end an open press', async () => {
    const { h, dec } = await harnessDecoder();
    const events = feed(dec, [
      ...press('9', 100, 3, { endCopies: 0 }),
      [buildEvent({ event: 32, end: false, volume: 0, duration: 0 }), rtp(900)], // ANS fax tone
      [buildEvent({ event: 200, end: true, volume: 0, duration: 160 }), rtp(1800)],
    ]);
    assert.deepEqual(ends(events), [['9', 100, 320]]);
    assert.equal(h.counters()['codec-telephone-event.ignoredEvents'], 2);
    await h.stop();
  });

  it('never throws on short or garbage payloads', () => {
    const dec = new TelephoneEventDecoder(8000);
    for (let len = 0; len < 4; len++) assert.equal(dec.decode(Buffer.alloc(len, 0xff), rtp(1)), null);
    assert.equal(dec.stats.malformed, 4);
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 5000; i++) {
      const p = Buffer.from(Array.from({ length: rnd() % 12 }, rnd));
      dec.decode(p, i % 3 === 0 ? undefined : rtp(rnd() * 1000, i, rnd() > 128));
      for (const e of dec.drainEvents()) {
        assert.equal(e.kind, 'dtmf');
        if (e.kind === 'dtmf') assert.ok(eventDigit(digitCode(e.digit)) === e.digit && e.duration >= 0 && e.volume <= 63);
      }
    }
    dec.close();
    dec.drainEvents();
  });

  it('without RTP header info, tells presses apart by code, duration and end, numbering them', () => {
    const dec = new TelephoneEventDecoder(8000);
    const strip = (ps: Array<[Buffer, RtpFrameInfo]>): Array<[Buffer, undefined]> => ps.map(([b]) => [b, undefined]);
    // Same digit twice in a row: the second press's duration restarts at 0.
    const events = feed(dec, [...strip(press('2', 0, 4)), ...strip(press('2', 0, 3)), ...strip(press('6', 0, 2, { endCopies: 0 }))]);
    dec.close();
    const all = [...events, ...(dec.drainEvents().filter((e): e is Dtmf => e.kind === 'dtmf'))];
    assert.deepEqual(ends(all), [
      ['2', 0, 640],
      ['2', 1, 480],
      ['6', 2, 160],
    ]);
  });
});

interface CapturedRtp {
  payload: Buffer;
  info: RtpFrameInfo;
  sport: number;
  dport: number;
}

/** RTP packets of a capture on UDP, filtered, with a minimal RFC 3550 header parse (version 2, CSRCs, extension, padding). */
async function readRtp(file: string, keep: (sport: number, dport: number) => boolean): Promise<CapturedRtp[]> {
  const out: CapturedRtp[] = [];
  await readCapture(file, (f) => {
    const p = decodeFrame(f);
    if (isSkipReason(p) || p.proto !== 'udp' || !keep(p.sport, p.dport)) return;
    const b = p.payload;
    if (b.length < 12 || (b[0] as number) >> 6 !== 2) return;
    const cc = (b[0] as number) & 0x0f;
    let off = 12 + 4 * cc;
    if (((b[0] as number) & 0x10) !== 0) {
      if (b.length < off + 4) return;
      off += 4 + 4 * b.readUInt16BE(off + 2);
    }
    let end = b.length;
    if (((b[0] as number) & 0x20) !== 0) end -= b[b.length - 1] as number;
    if (off > end) return;
    const info: RtpFrameInfo = { marker: ((b[1] as number) & 0x80) !== 0, payloadType: (b[1] as number) & 0x7f, seq: b.readUInt16BE(2), timestamp: b.readUInt32BE(4), ssrc: b.readUInt32BE(8) };
    // Copy: frame data is a view into the reader's chunk.
    out.push({ payload: Buffer.from(b.subarray(off, end)), info, sport: p.sport, dport: p.dport });
  });
  return out;
}

describeCorpus('codec-telephone-event on captures', () => {
  it('sipp_dtmf_2833_1.pcap: exactly one digit "1" lasting 2240 units (280 ms)', async () => {
    const pkts = await readRtp(corpusPath('pcap/sipp_dtmf_2833_1.pcap'), (s, d) => s === 49176 && d === 10000);
    assert.equal(pkts.length, 10);
    const { h, dec } = await harnessDecoder();
    const events = feed(
      dec,
      pkts.map((p) => [p.payload, p.info]),
    );
    dec.close();
    assert.deepEqual(dec.drainEvents?.(), []);
    const first = pkts[0]?.info.timestamp;
    assert.deepEqual(ends(events), [['1', first, 2240]]);
    assert.deepEqual(events[0], { kind: 'dtmf', digit: '1', rtpTimestamp: first, duration: 0, volume: 10, end: false });
    assert.equal(h.counters()['codec-telephone-event.afterEnd'], 2, 'the 2nd and 3rd end packets are repeats');
    await h.stop();
  });

  it('ww_SIP_DTMF2.cap: the PT 96 stream carries 6 7 8 9 1 2 3, matching tshark', async function () {
    const file = corpusPath('pcap/ww_SIP_DTMF2.cap');
    const pkts = (await readRtp(file, () => true)).filter((p) => p.info.payloadType === 96);
    assert.equal(pkts.length, 35);
    const { h, dec } = await harnessDecoder();
    const events = feed(
      dec,
      pkts.map((p) => [p.payload, p.info]),
    );
    dec.close();
    assert.deepEqual(dec.drainEvents?.(), []);
    const presses = ends(events);
    assert.deepEqual(
      presses.map((p) => p[0]).join(''),
      '6789123',
    );
    for (const p of presses) assert.equal(p[2], 960, `digit ${p[0]} lasts 120 ms`);
    await h.stop();

    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: the tshark cross-check is skipped');
      return;
    }
    const rows = tshark(file, ['-o', 'rtp.heuristic_rtp:TRUE', '-Y', 'rtpevent', '-T', 'fields', '-e', 'rtp.timestamp', '-e', 'rtpevent.event_id', '-e', 'rtpevent.end_of_event'])
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split('\t'));
    // One press per distinct timestamp, with the digit of its packets; tshark prints end_of_event as 0/1 (or False/True).
    const byTs = new Map<string, { code: number; ended: boolean }>();
    for (const [ts, id, eoe] of rows) {
      const prev = byTs.get(ts ?? '');
      byTs.set(ts ?? '', { code: Number(id), ended: (prev?.ended ?? false) || eoe === '1' || eoe === 'True' });
    }
    const theirs = [...byTs.values()].map((v) => eventDigit(v.code)).join('');
    assert.equal(theirs, '6789123');
    assert.ok([...byTs.values()].every((v) => v.ended));
    assert.deepEqual(
      presses.map((p) => String(p[1])),
      [...byTs.keys()],
    );
  });
});
