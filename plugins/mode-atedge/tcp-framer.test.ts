/**
 * TurnTcpFramer: the same units whatever the segmentation (split anywhere, coalesced, byte by byte); pseudo-TLS
 * skipped, real TLS and other streams given up at once; after lost bytes it finds its footing again.
 */
import * as assert from 'node:assert/strict';
import { TurnTcpFramer, type FramedUnit } from './tcp-framer';
import {
  addressValue,
  channelData,
  msTcpFrame,
  msTurnMessage,
  pseudoTlsClientHello,
  pseudoTlsServerHello,
  rfc5389Message,
  TurnAttr,
  TurnType,
} from '../source-generator/turn-wire';

const PEER = { ip: '10.2.0.7', port: 40012 };

function rtp(seq: number, len = 172): Buffer {
  const b = Buffer.alloc(len, seq & 0xff);
  b[0] = 0x80;
  b.writeUInt16BE(seq, 2);
  return b;
}

function msSend(seq: number): Buffer {
  const txid = Buffer.alloc(16, seq);
  return msTurnMessage(TurnType.MS_SEND, txid, [[TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)], [TurnAttr.DATA, rtp(seq, 183)]]);
}

/** A client's stream: ClientHello, an Allocate, five Send requests, then ten raw data frames. */
function msStream(): { bytes: Buffer; payloads: Buffer[] } {
  const payloads: Buffer[] = [msTurnMessage(TurnType.ALLOCATE, Buffer.alloc(16, 0xaa), [])];
  for (let i = 0; i < 5; i++) payloads.push(msSend(i));
  for (let i = 5; i < 15; i++) payloads.push(rtp(i, 150 + i));
  const frames = payloads.map((p, i) => msTcpFrame(i < 6 ? 0x02 : 0x03, p));
  return { bytes: Buffer.concat([pseudoTlsClientHello(Buffer.alloc(32, 1)), ...frames]), payloads };
}

function frames(units: FramedUnit[]): Buffer[] {
  return units.flatMap((u) => (u.kind === 'frame' ? [u.payload] : []));
}

function feed(bytes: Buffer, cuts: number[]): FramedUnit[] {
  const f = new TurnTcpFramer();
  const out: FramedUnit[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...f.push(Buffer.from(bytes.subarray(at, c))));
    at = c;
  }
  return out;
}

describe('mode-atedge: TurnTcpFramer', () => {
  it('MS-TURN on 443: pseudo-TLS ClientHello skipped, then 0x02 control and 0x03 data frames', () => {
    const { bytes, payloads } = msStream();
    const units = feed(bytes, []);
    assert.deepEqual(units[0], { kind: 'pseudo-tls', handshake: ['client-hello'] });
    const fr = units.filter((u) => u.kind === 'frame');
    assert.deepEqual(fr.map((u) => (u.kind === 'frame' ? `${u.framing}:${u.msType}` : '')), [...Array(6).fill('ms-tcp:2'), ...Array(10).fill('ms-tcp:3')]);
    assert.deepEqual(frames(units), payloads);
  });

  it('the server side: ServerHello and ServerHelloDone in one record', () => {
    const units = feed(Buffer.concat([pseudoTlsServerHello(Buffer.alloc(32, 2)), msTcpFrame(0x03, rtp(1))]), []);
    assert.deepEqual(units[0], { kind: 'pseudo-tls', handshake: ['server-hello', 'server-hello-done'] });
    assert.deepEqual(frames(units), [rtp(1)]);
  });

  it('the same units however the stream is cut: at every single offset, byte by byte, and in random chunks', () => {
    const { bytes, payloads } = msStream();
    for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(frames(feed(bytes, [cut])), payloads, `cut at ${cut}`);
    assert.deepEqual(frames(feed(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1))), payloads, 'byte by byte');
    let seed = 7;
    for (let round = 0; round < 50; round++) {
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        at += 1 + (seed % 400);
        if (at >= bytes.length) break;
        cuts.push(at);
      }
      assert.deepEqual(frames(feed(bytes, cuts)), payloads, `round ${round}`);
    }
  });

  it('after lost bytes: what was cut is skipped, the next whole frames are found again', () => {
    const { bytes, payloads } = msStream();
    const f = new TurnTcpFramer();
    const hello = pseudoTlsClientHello(Buffer.alloc(32, 1)).length;
    // Frame boundaries, to lose the middle of the 8th frame.
    const ends: number[] = [];
    let at = hello;
    for (const p of payloads) ends.push((at += 4 + p.length));
    const lostFrom = (ends[6] as number) + 20;
    const lostTo = (ends[7] as number) + 10;
    const out = [...f.push(bytes.subarray(0, lostFrom)), ...f.push(bytes.subarray(lostTo), lostTo - lostFrom)];
    const got = frames(out);
    // Frames 0..6 whole before the gap; 7 and 8 damaged; 9.. found again.
    assert.deepEqual(got.slice(0, 7), payloads.slice(0, 7));
    assert.deepEqual(got.slice(7), payloads.slice(9));
    assert.ok(out.some((u) => u.kind === 'skipped'));
    assert.equal(f.mode, 'ms-tcp');
  });

  it('a stream joined mid-way (on a TURN port): the first whole frame followed by another is found; elsewhere such a stream is given up', () => {
    const { bytes, payloads } = msStream();
    const hello = pseudoTlsClientHello(Buffer.alloc(32, 1)).length;
    const from = hello + 4 + (payloads[0] as Buffer).length + 30; // inside the second frame
    for (const chunk of [4096, 1, 200]) {
      const f = new TurnTcpFramer({ joinMidStream: true });
      const out: FramedUnit[] = [];
      for (let at = from; at < bytes.length; at += chunk) out.push(...f.push(bytes.subarray(at, Math.min(bytes.length, at + chunk))));
      assert.deepEqual(frames(out), payloads.slice(2), `chunks of ${chunk}`);
      assert.deepEqual(out[0], { kind: 'skipped', bytes: 4 + (payloads[1] as Buffer).length - 30, reason: 'resynchronising after a gap or bad frame' });
    }
    assert.equal(new TurnTcpFramer().push(bytes.subarray(from))[0]?.kind, 'not-turn');
  });

  it('RFC 5766 over TCP: STUN messages and ChannelData padded to 4 bytes, back to back', () => {
    const send = rfc5389Message(TurnType.SEND_INDICATION, Buffer.alloc(12, 3), [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, rtp(1, 183)]]);
    const cds = [channelData(0x4001, rtp(2, 183), true), channelData(0x4001, rtp(3, 181), true), channelData(0x4001, rtp(4, 180), true)];
    const units = feed(Buffer.concat([send, ...cds]), [3, 250, 251, 400]);
    assert.deepEqual(frames(units), [send, ...cds]);
    assert.ok(units.every((u) => u.kind !== 'frame' || u.framing === 'stun-stream'));
  });

  it('RFC 4571 (ICE-TCP between hosts): 2-byte length, then the packet', () => {
    const pkts = [rtp(1), rtp(2, 90), rfc5389Message(0x0001, Buffer.alloc(12, 5), [])];
    const bytes = Buffer.concat(pkts.map((p) => Buffer.concat([Buffer.from([p.length >> 8, p.length & 0xff]), p])));
    const units = feed(bytes, [1, 2, 100]);
    assert.deepEqual(frames(units), pkts);
    assert.ok(units.every((u) => u.kind !== 'frame' || u.framing === 'rfc4571'));
  });

  it('real TLS, HTTP and anything else are given up at once, and later bytes ignored', () => {
    const cert = Buffer.from('16030100080b000004000000000000', 'hex'); // a Certificate handshake: real TLS
    const appData = Buffer.from('1703030010' + '00'.repeat(16), 'hex');
    for (const [what, bytes] of [
      ['certificate', cert],
      ['application data', appData],
      ['HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: edge\r\n\r\n')],
      ['random', Buffer.from('9c5e1a77c0de00112233445566778899aabbccddeeff0011223344556677', 'hex')],
    ] as const) {
      const f = new TurnTcpFramer();
      const out = f.push(bytes);
      assert.equal(out.length, 1, what);
      assert.equal(out[0]?.kind, 'not-turn', what);
      assert.ok(f.gaveUp, what);
      assert.deepEqual(f.push(msTcpFrame(0x03, rtp(1))), [], `${what}: nothing after giving up`);
    }
  });

  it('bounded: garbage in framing mode never grows the buffer past 256 KiB', () => {
    const f = new TurnTcpFramer();
    f.push(msTcpFrame(0x03, rtp(1)));
    let skipped = 0;
    for (let i = 0; i < 100; i++) for (const u of f.push(Buffer.alloc(10_000, 0x41))) if (u.kind === 'skipped') skipped += u.bytes;
    assert.ok(skipped >= 1_000_000 - 256 * 1024, `skipped ${skipped}`);
    const tail = f.flush();
    assert.ok(tail.length <= 1 && (tail[0]?.kind ?? 'skipped') === 'skipped');
  });
});
