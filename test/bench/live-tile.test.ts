import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../../core/net/capture-reader';
import { generateCalls } from '../../plugins/source-generator/generate';
import { callSelected, instanceCallId, instancePortShift, instanceSsrc, parseInstanceCallId, rewriteCallIds, scanTile, shiftMediaPorts, TileReplay } from './live-tile';

/** Call index of a generated packet, from its caller (10.1.x.y) or callee (10.2.x.y) address. */
function callOf(ip: Buffer): number {
  for (const at of [12, 16]) {
    if (ip[at] === 10 && (ip[at + 1] === 1 || ip[at + 1] === 2)) return (((ip[at + 2] as number) << 8) | (ip[at + 3] as number)) - 1;
  }
  throw new Error('not a generated call packet');
}

function callIdOf(ip: Buffer): string {
  const m = /\r\nCall-ID: *([^\r\n]+)/.exec(ip.toString('latin1'));
  if (m === null) throw new Error('no Call-ID');
  return m[1] as string;
}

describe('live bench: the capture folded on its period (live-tile)', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-live-tile-test-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the instance number over the start of the Call-ID, keeping its length, and reads it back', () => {
    const msg = Buffer.from('BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.1\r\nCall-ID: a1869279182526ef95f1b8920@tapline.gen\r\nCSeq: 2 BYE\r\n\r\n', 'latin1');
    const before = msg.length;
    assert.equal(rewriteCallIds(msg, 0, msg.length, 0x2a), 1);
    assert.equal(msg.length, before);
    assert.equal(callIdOf(msg), '00002a79182526ef95f1b8920@tapline.gen');
    assert.equal(instanceCallId('a1869279182526ef95f1b8920@tapline.gen', 0x2a), '00002a79182526ef95f1b8920@tapline.gen');
    assert.deepEqual(parseInstanceCallId('00002a79182526ef95f1b8920@tapline.gen'), { instance: 42, suffix: '79182526ef95f1b8920@tapline.gen' });
    assert.equal(parseInstanceCallId('xyz'), undefined);
    assert.throws(() => instanceCallId('a1869279182526ef95f1b8920@tapline.gen', 16 ** 6), RangeError);
  });

  it('moves the SDP media port by the shift asked, keeping its digits, and refuses a shift that would not', () => {
    const sdp = Buffer.from('v=0\r\nc=IN IP4 10.1.0.1\r\nm=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n', 'latin1');
    assert.equal(shiftMediaPorts(sdp, 0, sdp.length, 3460), 1);
    assert.match(sdp.toString('latin1'), /\r\nm=audio 23460 RTP\/AVP 0 101\r\n/);
    assert.equal(shiftMediaPorts(sdp, 0, sdp.length, 0), 0);
    assert.throws(() => shiftMediaPorts(sdp, 0, sdp.length, -20000), RangeError);
  });

  it('thins calls by a fixed choice per call, about the fraction asked, all of them at 1', () => {
    const n = 10_000;
    let kept = 0;
    for (let i = 0; i < n; i++) if (callSelected(i, 0.3)) kept++;
    assert.ok(Math.abs(kept / n - 0.3) < 0.02, `${kept} of ${n} kept at 0.3`);
    for (let i = 0; i < 100; i++) assert.equal(callSelected(i, 0.3), callSelected(i, 0.3));
    for (let i = 0; i < 100; i++) assert.ok(callSelected(i, 1));
    // A call kept at a fraction is kept at any larger one.
    for (let i = 0; i < 1000; i++) if (callSelected(i, 0.2)) assert.ok(callSelected(i, 0.5));
  });

  it('replays every packet once per pass, in tile order, each pass a fresh instance of every call; pass 0 only starts calls', async () => {
    // 8 calls of 2 s (+0.4 s ringing), 6 overlapping: starts 0.4 s apart, period 3.2 s, each call ends within it.
    const file = path.join(dir, 'tile.pcap');
    const truth = await generateCalls({ calls: 8, concurrency: 6, durationSec: 2, ringMs: 400, codec: 'PCMU', seed: 3 }, file);
    const t0 = (truth.calls[0] as { start: number }).start;
    const period = 8 * 400_000;
    const tile = scanTile(file, t0, period);
    assert.equal(tile.records, truth.totals.frames);
    assert.ok(tile.layer1Offset < fs.statSync(file).size, 'calls started late in the period end in the next one');

    // The 8 calls' RTP ports span 16 (20000 + 2i): each instance's ports are moved by a multiple of that.
    const step = 16;
    const firstReplay = new TileReplay(file, { t0, periodUs: period, layer1Offset: tile.layer1Offset }, { portStep: step });
    const seen = new Map<string, number[]>();
    const callIds = new Map<string, Set<string>>();
    const ssrcs = new Map<string, Set<number>>();
    // Per instance of a call: the SDP m= ports, and the RTP source ports.
    const sdpPorts = new Map<string, Set<number>>();
    const rtpPorts = new Map<string, Set<number>>();
    const add = <T>(m: Map<string, Set<T>>, k: string, v: T): void => {
      const set = m.get(k) ?? new Set<T>();
      set.add(v);
      m.set(k, set);
    };
    let last = -1;
    const perPass = [0, 0, 0, 0];
    try {
      for (;;) {
        firstReplay.next();
        if (firstReplay.pass >= 4) break;
        const r = firstReplay;
        assert.ok(r.g >= last, `tile time goes back at ${r.g}`);
        last = r.g;
        assert.ok(r.instance >= 0 && r.instance <= r.pass && r.pass - r.instance <= 1, `instance ${r.instance} in pass ${r.pass}`);
        perPass[r.pass] = (perPass[r.pass] as number) + 1;
        const call = callOf(r.packet);
        assert.equal(r.call, call);
        const key = `${r.instance}:${call}`;
        const call0 = truth.calls[call] as { start: number; callId: string };
        seen.set(key, [...(seen.get(key) ?? []), r.g - r.instance * period - (call0.start - t0)]);
        if (r.sip) {
          add(callIds, key, callIdOf(r.packet));
          for (const m of r.packet.toString('latin1').matchAll(/\r\nm=audio (\d+) /g)) add(sdpPorts, key, Number(m[1]));
        } else {
          add(ssrcs, key, r.packet.readUInt32BE(20 + 8 + 8));
          add(rtpPorts, key, r.packet.readUInt16BE(20));
        }
      }
    } finally {
      firstReplay.close();
    }
    // Every pass from the second holds the whole capture; the first only what starts in it.
    assert.ok((perPass[0] as number) < truth.totals.frames);
    assert.deepEqual(perPass.slice(1), [truth.totals.frames, truth.totals.frames, truth.totals.frames]);

    // The file itself: each call's frames as offsets from its INVITE.
    const generated = new Map<number, number[]>();
    await readCapture(file, (f) => {
      const call = callOf(f.data.subarray(14));
      const c = truth.calls[call] as { start: number };
      generated.set(call, [...(generated.get(call) ?? []), f.ts - c.start]);
    });
    // The instances replayed whole (0, 1 and 2) are each call as generated, same timing, with a Call-ID, SSRCs and
    // RTP ports of their own (the SDP's m= lines moved with the RTP).
    assert.notEqual(instanceSsrc(0x12345678, 1), 0x12345678);
    assert.equal(instanceSsrc(0x12345678, 0), 0x12345678);
    assert.deepEqual([0, 1, 6, 7, 8, 9].map((n) => instancePortShift(n, step) / step), [0, 1, 6, -2, -1, 0]);
    for (const n of [0, 1, 2]) {
      for (const c of truth.calls) {
        assert.deepEqual(seen.get(`${n}:${c.index}`), generated.get(c.index), `instance ${n} of call ${c.index}`);
        assert.deepEqual([...(callIds.get(`${n}:${c.index}`) ?? [])], [instanceCallId(c.callId, n)], `Call-ID of instance ${n} of call ${c.index}`);
        const want = [c.media.caller, c.media.callee].flatMap((d) => d?.ssrcs ?? []).map((x) => instanceSsrc(x, n));
        assert.deepEqual([...(ssrcs.get(`${n}:${c.index}`) ?? [])].sort(), want.sort(), `SSRCs of instance ${n} of call ${c.index}`);
        const ports = [c.caller.rtpPort, c.callee.rtpPort].map((p) => p + instancePortShift(n, step)).sort();
        assert.deepEqual([...(rtpPorts.get(`${n}:${c.index}`) ?? [])].sort(), ports, `RTP ports of instance ${n} of call ${c.index}`);
        assert.deepEqual([...(sdpPorts.get(`${n}:${c.index}`) ?? [])].sort(), ports, `SDP m= ports of instance ${n} of call ${c.index}`);
      }
    }
  });
});
