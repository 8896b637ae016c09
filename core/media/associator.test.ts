import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { PluginHarness } from '../testing/index';
import { request, response, sdp } from '../../test/sip-text';
import type { TransportPacket } from '../net/types';
import type { Call, Side } from '../dialog/types';
import type { AssociatedRtp } from './types';
import { MediaAssociator, type AssociatorOptions } from './associator';
import { normalizeIp } from './associator-index';

const T0 = Date.UTC(2026, 0, 1) * 1000;
const MS = 1000;
const CALLER = { ip: '10.0.0.1', port: 4000 };
const CALLEE = { ip: '10.0.0.2', port: 5000 };
const SIG = { caller: { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060 }, callee: { src: '10.0.0.2', sport: 5060, dst: '10.0.0.1', dport: 5060 } };

function rtp(o: { seq?: number; ssrc?: number; pt?: number } = {}): Buffer {
  const b = Buffer.alloc(12 + 160, 0xd5);
  b[0] = 0x80;
  b[1] = o.pt ?? 0;
  b.writeUInt16BE(o.seq ?? 1, 2);
  b.writeUInt32BE(((o.seq ?? 1) * 160) >>> 0, 4);
  b.writeUInt32BE(o.ssrc ?? 0x1111, 8);
  return b;
}

function rtcpRr(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

interface Got {
  rtp: AssociatedRtp[];
  rtcp: Array<{ call: Call; sender: Side; pkt: TransportPacket }>;
  unmatched: TransportPacket[];
}

async function setup(opts?: AssociatorOptions): Promise<{ h: PluginHarness; a: MediaAssociator; got: Got }> {
  const h = await PluginHarness.core();
  const a = new MediaAssociator(h.kernel.dialogs, h.kernel.counters, opts);
  h.kernel.bus.on('media', (p) => a.onMedia(p));
  const got: Got = { rtp: [], rtcp: [], unmatched: [] };
  a.on('rtp', (x) => got.rtp.push(x));
  a.on('rtcp', (x) => got.rtcp.push(x));
  a.on('unmatched', (x) => got.unmatched.push(x));
  return { h, a, got };
}

type Addr = { ip: string; port: number };

/** Sends one packet and returns what the associator made of it. */
function send(h: PluginHarness, got: Got, from: Addr, to: Addr, ts: number, payload: Buffer = rtp()): AssociatedRtp | 'unmatched' | 'rtcp' | 'none' {
  const before = { r: got.rtp.length, u: got.unmatched.length, c: got.rtcp.length };
  h.packet({ src: from.ip, sport: from.port, dst: to.ip, dport: to.port, ts, payload });
  if (got.rtp.length > before.r) return got.rtp[got.rtp.length - 1] as AssociatedRtp;
  if (got.unmatched.length > before.u) return 'unmatched';
  if (got.rtcp.length > before.c) return 'rtcp';
  return 'none';
}

function bound(r: ReturnType<typeof send>, call: Call | undefined, sender: Side, how?: AssociatedRtp['how']): AssociatedRtp {
  assert.ok(typeof r === 'object', `expected a bound packet, got ${String(r)}`);
  assert.equal(r.call, call);
  assert.equal(r.sender, sender);
  if (how !== undefined) assert.equal(r.how, how);
  return r;
}

/** INVITE with the caller's SDP, then 200 (to-tag t1) with the callee's SDP, then ACK. */
function establish(h: PluginHarness, ts: number, o: { callId?: string; fromTag?: string; callerSdp?: string; calleeSdp?: string } = {}): Call {
  const id = { callId: o.callId ?? 'call-1@test', fromTag: o.fromTag ?? 'ftag' };
  h.sip(request('INVITE', { ...id, body: o.callerSdp ?? sdp(CALLER.ip, CALLER.port) }), { ...SIG.caller, ts });
  h.sip(response(200, 'OK', 'INVITE', { ...id, toTag: 't1', body: o.calleeSdp ?? sdp(CALLEE.ip, CALLEE.port) }), { ...SIG.callee, ts: ts + 1000 * MS });
  h.sip(request('ACK', { ...id, toTag: 't1' }), { ...SIG.caller, ts: ts + 1010 * MS });
  const call = h.kernel.dialogs.byId(id.callId).find((c) => c.caller.tag === id.fromTag);
  assert.ok(call);
  return call;
}

describe('media/associator', () => {
  let h: PluginHarness;
  let a: MediaAssociator;
  let got: Got;
  beforeEach(async () => ({ h, a, got } = await setup()));
  afterEach(async () => h.stop());

  it('binds RTP in both directions of an offer/answer call to the right sender', () => {
    const call = establish(h, T0);
    const t = T0 + 2000 * MS;
    const up = bound(send(h, got, CALLER, CALLEE, t), call, 'caller', 'sdp-dst');
    assert.equal(up.flow, '10.0.0.1:4000>10.0.0.2:5000');
    assert.equal(up.rtpmap?.encoding, 'PCMU');
    bound(send(h, got, CALLEE, CALLER, t + 1), call, 'callee', 'sdp-dst');
    // Symmetric RTP: the callee is NAT'ed and its real address is unknown; the caller's address still tells.
    const nat = { ip: '203.0.113.7', port: 61000 };
    bound(send(h, got, nat, CALLER, t + 2), call, 'callee', 'sdp-dst');
    bound(send(h, got, CALLER, nat, t + 3), call, 'caller', 'sdp-src');
    // Cached flow, same answer.
    for (let i = 0; i < 5; i++) bound(send(h, got, CALLER, CALLEE, t + 10 + i, rtp({ seq: 2 + i })), call, 'caller', 'sdp-dst');
  });

  it('binds early media from a 183 SDP before the 200', () => {
    h.sip(request('INVITE', { body: sdp(CALLER.ip, CALLER.port) }), { ...SIG.caller, ts: T0 });
    h.sip(response(183, 'Session Progress', 'INVITE', { toTag: 't1', body: sdp('10.0.0.9', 7000) }), { ...SIG.callee, ts: T0 + 100 * MS });
    const call = h.kernel.dialogs.byId('call-1@test')[0];
    assert.ok(call);
    bound(send(h, got, { ip: '10.0.0.9', port: 7000 }, CALLER, T0 + 200 * MS), call, 'callee');
    bound(send(h, got, CALLER, { ip: '10.0.0.9', port: 7000 }, T0 + 210 * MS), call, 'caller');
    // The 200 moves the media elsewhere: both addresses keep working.
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', body: sdp(CALLEE.ip, CALLEE.port) }), { ...SIG.callee, ts: T0 + 3000 * MS });
    bound(send(h, got, CALLER, CALLEE, T0 + 3100 * MS), call, 'caller', 'sdp-dst');
    bound(send(h, got, CALLER, { ip: '10.0.0.9', port: 7000 }, T0 + 3110 * MS), call, 'caller');
  });

  it('follows a re-INVITE that moves the callee port (cached flows re-resolve)', () => {
    const call = establish(h, T0);
    const moved = { ip: CALLEE.ip, port: 5002 };
    assert.equal(send(h, got, { ip: '198.51.100.1', port: 9 }, moved, T0 + 2000 * MS), 'unmatched');
    h.sip(request('INVITE', { toTag: 't1', cseq: 2, body: sdp(CALLER.ip, CALLER.port) }), { ...SIG.caller, ts: T0 + 5000 * MS });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', cseq: 2, body: sdp(moved.ip, moved.port) }), { ...SIG.callee, ts: T0 + 5100 * MS });
    bound(send(h, got, CALLER, moved, T0 + 5200 * MS), call, 'caller', 'sdp-dst');
    bound(send(h, got, moved, CALLER, T0 + 5210 * MS), call, 'callee', 'sdp-dst');
    bound(send(h, got, { ip: '198.51.100.1', port: 9 }, moved, T0 + 5220 * MS), call, 'caller', 'sdp-dst');
  });

  it('binds media to and from ICE relay candidates, not to raddr', () => {
    const ice = sdp(CALLEE.ip, CALLEE.port, {
      extra: [
        'a=candidate:1 1 UDP 2130706431 10.0.0.2 5000 typ host',
        'a=candidate:2 1 UDP 1694498815 198.51.100.2 40000 typ srflx raddr 10.0.0.2 rport 5000',
        'a=candidate:3 1 UDP 184548351 194.176.96.67 42037 typ relay raddr 10.77.44.43 rport 50048',
      ],
    });
    const call = establish(h, T0, { calleeSdp: ice });
    const relay = { ip: '194.176.96.67', port: 42037 };
    const t = T0 + 2000 * MS;
    bound(send(h, got, CALLER, relay, t), call, 'caller', 'sdp-dst');
    bound(send(h, got, relay, CALLER, t + 1), call, 'callee', 'sdp-dst');
    bound(send(h, got, { ip: '192.0.2.50', port: 1234 }, relay, t + 2), call, 'caller', 'sdp-dst');
    bound(send(h, got, { ip: '192.0.2.50', port: 1234 }, { ip: '198.51.100.2', port: 40000 }, t + 3), call, 'caller', 'sdp-dst');
    assert.equal(send(h, got, { ip: '192.0.2.50', port: 1234 }, { ip: '10.77.44.43', port: 50048 }, t + 4), 'unmatched');
  });

  it('binds the pair named by a=remote-candidates in a re-INVITE (the peer receives there)', () => {
    const call = establish(h, T0);
    const callerRelay = { ip: '192.0.2.77', port: 3000 };
    const prflx = { ip: '203.0.113.50', port: 61000 };
    assert.equal(send(h, got, callerRelay, prflx, T0 + 2000 * MS), 'unmatched');
    const reinvite = sdp(CALLER.ip, CALLER.port, { extra: [`a=remote-candidates:1 ${prflx.ip} ${prflx.port}`] });
    h.sip(request('INVITE', { toTag: 't1', cseq: 2, body: reinvite }), { ...SIG.caller, ts: T0 + 3000 * MS });
    // Packets to the callee's chosen candidate come from the caller, and the reverse.
    bound(send(h, got, callerRelay, prflx, T0 + 3100 * MS), call, 'caller', 'sdp-dst');
    bound(send(h, got, prflx, callerRelay, T0 + 3110 * MS), call, 'callee', 'sdp-src');
  });

  it('keeps two calls on the same IPs with different ports apart', () => {
    const c1 = establish(h, T0, { callId: 'a@test' });
    const c2 = establish(h, T0 + 100 * MS, { callId: 'b@test', callerSdp: sdp(CALLER.ip, 4002), calleeSdp: sdp(CALLEE.ip, 5002) });
    assert.notEqual(c1, c2);
    const t = T0 + 2000 * MS;
    bound(send(h, got, CALLER, CALLEE, t), c1, 'caller');
    bound(send(h, got, { ip: CALLER.ip, port: 4002 }, { ip: CALLEE.ip, port: 5002 }, t + 1), c2, 'caller');
    bound(send(h, got, { ip: CALLEE.ip, port: 5002 }, { ip: CALLER.ip, port: 4002 }, t + 2), c2, 'callee');
    bound(send(h, got, CALLEE, CALLER, t + 3), c1, 'callee');
  });

  it('gives an address re-used by a newer call to the newer call', () => {
    const c1 = establish(h, T0, { callId: 'a@test' });
    bound(send(h, got, CALLER, CALLEE, T0 + 2000 * MS), c1, 'caller');
    // c1's BYE was never seen; c2's callee re-uses c1's callee address.
    const c2 = establish(h, T0 + 10_000 * MS, { callId: 'b@test', callerSdp: sdp('10.0.0.5', 4100) });
    bound(send(h, got, { ip: '10.0.0.5', port: 4100 }, CALLEE, T0 + 12_000 * MS), c2, 'caller');
    bound(send(h, got, CALLEE, { ip: '10.0.0.5', port: 4100 }, T0 + 12_001 * MS), c2, 'callee');
  });

  // Fork B answers with a 180: the tracker drops a second 183 with the same CSeq as a retransmission.
  it('forked early SDPs: both forks bind early, only the answered fork afterwards', () => {
    h.sip(request('INVITE', { body: sdp(CALLER.ip, CALLER.port) }), { ...SIG.caller, ts: T0 });
    const forkA = { ip: '10.0.0.2', port: 5000 };
    const forkB = { ip: '10.0.0.3', port: 6000 };
    h.sip(response(183, 'Session Progress', 'INVITE', { toTag: 'A', body: sdp(forkA.ip, forkA.port) }), { ...SIG.callee, ts: T0 + 100 * MS });
    h.sip(response(180, 'Ringing', 'INVITE', { toTag: 'B', body: sdp(forkB.ip, forkB.port, { pt: 8, codec: 'PCMA/8000' }) }), { ...SIG.callee, ts: T0 + 110 * MS });
    const call = h.kernel.dialogs.byId('call-1@test')[0];
    assert.ok(call);
    bound(send(h, got, forkA, CALLER, T0 + 200 * MS), call, 'callee');
    bound(send(h, got, forkB, CALLER, T0 + 201 * MS, rtp({ pt: 8, ssrc: 0xb })), call, 'callee');
    h.sip(response(200, 'OK', 'INVITE', { toTag: 'A', body: sdp(forkA.ip, forkA.port) }), { ...SIG.callee, ts: T0 + 1000 * MS });
    bound(send(h, got, forkA, CALLER, T0 + 1100 * MS, rtp({ seq: 2 })), call, 'callee');
    bound(send(h, got, CALLER, forkA, T0 + 1101 * MS), call, 'caller');
    assert.equal(send(h, got, forkB, CALLER, T0 + 1102 * MS, rtp({ seq: 2, pt: 8, ssrc: 0xb })), 'unmatched');
    assert.equal(send(h, got, CALLER, forkB, T0 + 1103 * MS), 'unmatched');
  });

  it('reports RTP to an unknown port as unmatched, per flow and SSRC', () => {
    establish(h, T0);
    const t = T0 + 2000 * MS;
    const stranger = { ip: '192.0.2.9', port: 7777 };
    for (let i = 0; i < 3; i++) assert.equal(send(h, got, stranger, { ip: CALLEE.ip, port: 9999 }, t + i, rtp({ seq: 10 + i, ssrc: 77, pt: i === 2 ? 101 : 0 })), 'unmatched');
    const streams = a.unmatchedStreams();
    assert.equal(streams.length, 1);
    assert.deepEqual(streams[0], { flow: '192.0.2.9:7777>10.0.0.2:9999', ssrc: 77, payloadTypes: [0, 101], packets: 3, firstTs: t, lastTs: t + 2 });
    a.flush();
    assert.equal(h.counters()['media.unmatched'], 3);
    assert.equal(h.counters()['media.unmatchedStreams'], 1);
  });

  it('bounds the unmatched report, dropping the oldest', async () => {
    await h.stop();
    ({ h, a, got } = await setup({ maxUnmatched: 3 }));
    for (let i = 0; i < 5; i++) send(h, got, { ip: '192.0.2.1', port: 1000 + i }, { ip: '192.0.2.2', port: 2000 }, T0 + i);
    assert.deepEqual(
      a.unmatchedStreams().map((s) => s.flow),
      ['192.0.2.1:1002>192.0.2.2:2000', '192.0.2.1:1003>192.0.2.2:2000', '192.0.2.1:1004>192.0.2.2:2000'],
    );
    assert.equal(h.counters()['media.unmatchedDropped'], 2);
  });

  it('emits RTCP (rtcp-mux on the RTP port, and port+1 without mux) as rtcp, not rtp', () => {
    const call = establish(h, T0, { callerSdp: sdp(CALLER.ip, CALLER.port, { extra: ['a=rtcp-mux'] }) });
    const t = T0 + 2000 * MS;
    assert.equal(send(h, got, CALLEE, CALLER, t, rtcpRr(5)), 'rtcp');
    assert.equal(got.rtcp[0]?.call, call);
    assert.equal(got.rtcp[0]?.sender, 'callee');
    // The callee has no rtcp-mux: its RTCP port is 5001.
    assert.equal(send(h, got, { ip: CALLER.ip, port: 4000 }, { ip: CALLEE.ip, port: 5001 }, t + 1, rtcpRr(6)), 'rtcp');
    assert.equal(got.rtcp[1]?.sender, 'caller');
    assert.equal(got.rtp.length, 0);
    a.flush();
    assert.equal(h.counters()['media.rtcp'], 2);
  });

  it("maps a dynamic payload type through the receiver's SDP, then the sender's, then the static table", () => {
    const call = establish(h, T0, {
      callerSdp: sdp(CALLER.ip, CALLER.port, { pt: 96, codec: 'PCMA/8000' }),
      calleeSdp: sdp(CALLEE.ip, CALLEE.port, { pt: 96, codec: 'PCMU/8000', extra: ['a=rtpmap:97 G722/8000'] }),
    });
    const t = T0 + 2000 * MS;
    assert.equal(bound(send(h, got, CALLEE, CALLER, t, rtp({ pt: 96 })), call, 'callee').rtpmap?.encoding, 'PCMA');
    assert.equal(bound(send(h, got, CALLER, CALLEE, t + 1, rtp({ pt: 96 })), call, 'caller').rtpmap?.encoding, 'PCMU');
    assert.equal(bound(send(h, got, CALLEE, CALLER, t + 2, rtp({ pt: 97 })), call, 'callee').rtpmap?.encoding, 'G722');
    assert.equal(bound(send(h, got, CALLEE, CALLER, t + 3, rtp({ pt: 8 })), call, 'callee').rtpmap?.encoding, 'PCMA');
    assert.equal(bound(send(h, got, CALLEE, CALLER, t + 4, rtp({ pt: 120 })), call, 'callee').rtpmap, undefined);
  });

  it('keeps an ended call bound for the linger, then not', () => {
    const call = establish(h, T0);
    const bye = T0 + 10_000 * MS;
    h.sip(request('BYE', { toTag: 't1', cseq: 2 }), { ...SIG.caller, ts: bye });
    assert.equal(call.state, 'terminated');
    bound(send(h, got, CALLEE, CALLER, bye + 1500 * MS), call, 'callee');
    assert.equal(send(h, got, CALLEE, CALLER, bye + 2100 * MS, rtp({ seq: 3 })), 'unmatched');
  });

  it("an ended call in its linger keeps its own streams when a newer call takes the address", () => {
    const c1 = establish(h, T0, { callId: 'a@test' });
    bound(send(h, got, CALLEE, CALLER, T0 + 2000 * MS, rtp({ ssrc: 0xaaa })), c1, 'callee');
    h.sip(request('BYE', { callId: 'a@test', toTag: 't1', cseq: 2 }), { ...SIG.caller, ts: T0 + 3000 * MS });
    const c2 = establish(h, T0 + 3100 * MS, { callId: 'b@test' });
    const t = T0 + 4200 * MS;
    bound(send(h, got, CALLEE, CALLER, t, rtp({ ssrc: 0xaaa, seq: 2 })), c1, 'callee');
    bound(send(h, got, CALLEE, CALLER, t + 1, rtp({ ssrc: 0xbbb })), c2, 'callee');
    bound(send(h, got, CALLEE, CALLER, T0 + 5500 * MS, rtp({ ssrc: 0xaaa, seq: 3 })), c2, 'callee');
  });

  it('a flood of junk flows past maxFlows forgets the junk, not the calls: a lingering call keeps its stream', async () => {
    await h.stop();
    ({ h, a, got } = await setup({ maxFlows: 16 }));
    const c1 = establish(h, T0, { callId: 'a@test' });
    bound(send(h, got, CALLEE, CALLER, T0 + 2000 * MS, rtp({ ssrc: 0xaaa })), c1, 'callee');
    h.sip(request('BYE', { callId: 'a@test', toTag: 't1', cseq: 2 }), { ...SIG.caller, ts: T0 + 3000 * MS });
    // 100 flows no call claims (a port scan, random junk) while c1 lingers.
    for (let i = 0; i < 100; i++) {
      assert.equal(send(h, got, { ip: '192.0.2.1', port: 10_000 + i }, { ip: '192.0.2.2', port: 20_000 + i }, T0 + 3010 * MS + i, rtp({ ssrc: i })), 'unmatched');
      assert.ok(a.cachedFlows <= 16, `${a.cachedFlows} flows cached`);
    }
    const c2 = establish(h, T0 + 3100 * MS, { callId: 'b@test' });
    // Dropping the whole cache (as before) would hand c1's trailing packet to c2, the address's new owner.
    bound(send(h, got, CALLEE, CALLER, T0 + 4200 * MS, rtp({ ssrc: 0xaaa, seq: 2 })), c1, 'callee');
    bound(send(h, got, CALLEE, CALLER, T0 + 4200 * MS + 1, rtp({ ssrc: 0xbbb })), c2, 'callee');
    assert.ok((h.counters()['media.flowsEvicted'] ?? 0) >= 84, `${h.counters()['media.flowsEvicted']} junk flows evicted`);
  });

  it('a flood of one-packet flows keeps only the newest on probation; a flow with a second packet stays', () => {
    const x = { ip: '198.51.100.7', port: 4444 };
    const to = { ip: '198.51.100.8', port: 5555 };
    send(h, got, x, to, T0, rtp({ ssrc: 9, seq: 1 }));
    const junk = (from: number, n: number, t: number): void => {
      for (let i = from; i < from + n; i++) send(h, got, { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 50_000) }, to, t + i, rtp({ ssrc: i }));
    };
    junk(0, 100, T0 + 1);
    send(h, got, x, to, T0 + 200, rtp({ ssrc: 9, seq: 2 })); // second packet while on probation: the flow stays
    junk(100, 10_000, T0 + 300);
    assert.ok(a.cachedFlows <= 2048 + 1, `${a.cachedFlows} flows cached after 10,100 one-packet flows`);
    send(h, got, x, to, T0 + 20_000, rtp({ ssrc: 9, seq: 3 }));
    a.flush();
    const c = h.counters();
    assert.equal(c['media.unmatchedStreams'], 10_101, 'every stream counted once');
    assert.ok((c['media.flowsEvicted'] ?? 0) >= 10_100 - 2048, `${c['media.flowsEvicted']} flows evicted`);
    const listed = a.unmatchedStreams();
    assert.ok(listed.length <= 256 + 1, `${listed.length} listed`);
    // The stream with three packets is listed whole, newest last; the newest one-packet junk is listed too.
    assert.deepEqual(listed[listed.length - 1], { flow: '198.51.100.7:4444>198.51.100.8:5555', ssrc: 9, payloadTypes: [0], packets: 3, firstTs: T0, lastTs: T0 + 20_000 });
    assert.equal(listed[listed.length - 2]?.ssrc, 10_099);
  });

  it('forgets the unmatched streams its report no longer lists; one that comes back is listed again, not counted again', async () => {
    await h.stop();
    ({ h, a, got } = await setup({ maxUnmatched: 2 }));
    const from = (i: number): Addr => ({ ip: '192.0.2.1', port: 1000 + i });
    const to = { ip: '192.0.2.2', port: 2000 };
    // Two packets each: a stream gets a report entry at its second packet.
    for (let i = 0; i < 3; i++) for (let k = 0; k < 2; k++) send(h, got, from(i), to, T0 + 2 * i + k, rtp({ ssrc: 5, seq: 1 + k }));
    send(h, got, from(0), to, T0 + 10, rtp({ ssrc: 5, seq: 3 })); // the forgotten first stream again
    assert.deepEqual(
      a.unmatchedStreams().map((s) => [s.flow, s.packets]),
      [
        ['192.0.2.1:1002>192.0.2.2:2000', 2],
        ['192.0.2.1:1000>192.0.2.2:2000', 1], // its count starts again: the report had let it go
      ],
    );
    assert.equal(h.counters()['media.unmatchedStreams'], 3);
    assert.equal(h.counters()['media.unmatchedDropped'], 2);
  });

  it('a junk flow (one unmatched RTP stream) costs a few hundred bytes of heap, not kilobytes', () => {
    // Measured after full collections, in a child process started with --expose-gc; the packets (addresses
    // included) are built first, so what is measured is what the associator keeps per flow.
    const script = `
      const { PluginHarness } = require(${JSON.stringify(path.join(__dirname, '..', 'testing', 'index'))});
      const { MediaAssociator } = require(${JSON.stringify(path.join(__dirname, 'associator'))});
      (async () => {
        const h = await PluginHarness.core();
        const a = new MediaAssociator(h.kernel.dialogs, h.kernel.counters, { maxFlows: 1e6, maxUnmatched: 1000 });
        const N = 50000, T0 = ${T0};
        const pkts = [];
        for (let i = 0; i < N; i++) {
          const payload = Buffer.alloc(32);
          payload[0] = 0x80;
          payload.writeUInt32BE((i * 7919) >>> 0, 8);
          // A flat string, as a decoded packet's address is (concatenation would leave ropes the associator flattens).
          const src = Buffer.from('10.' + ((i >> 16) & 255) + '.' + ((i >> 8) & 255) + '.' + (i & 255), 'latin1').toString('latin1');
          pkts.push({ ts: T0 + i, frameNo: i, proto: 'udp', ipVersion: 4, src, sport: 10000 + (i % 40000), dst: '10.255.0.1', dport: 30000 + (i % 7), payload });
        }
        global.gc();
        const before = process.memoryUsage().heapUsed;
        // Two packets a flow: a one-packet flow does not stay (see the probation test); this is what one that stays costs.
        for (const p of pkts) {
          a.onMedia(p);
          a.onMedia({ ...p, ts: p.ts + 1 });
        }
        global.gc();
        const bytes = process.memoryUsage().heapUsed - before;
        // pkts is used after the measurement: otherwise V8 may collect it as dead and the difference goes negative.
        process.stdout.write(JSON.stringify({ flows: a.cachedFlows, bytes, packets: pkts.length }));
        process.exit(0);
      })();`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { flows, bytes } = JSON.parse(r.stdout) as { flows: number; bytes: number };
    assert.equal(flows, 50_000);
    const perFlow = bytes / flows;
    process.stdout.write(`      associator: ${Math.round(perFlow)} bytes of heap per junk flow\n`);
    assert.ok(perFlow < 600, `${Math.round(perFlow)} bytes per junk flow`);
  });

  it('matches IPv6 addresses however the SDP writes them', () => {
    const v6 = (addr: string, port: number): string =>
      ['v=0', `o=- 1 1 IN IP6 ${addr}`, 's=-', `c=IN IP6 ${addr}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    const call = establish(h, T0, { callerSdp: v6('2001:DB8:0:0:0:0:0:1', 4000), calleeSdp: v6('[2001:0db8::0002%eth0]', 5000) });
    const t = T0 + 2000 * MS;
    bound(send(h, got, { ip: '2001:db8::1', port: 4000 }, { ip: '2001:db8::2', port: 5000 }, t), call, 'caller', 'sdp-dst');
    bound(send(h, got, { ip: '2001:db8::2', port: 5000 }, { ip: '2001:db8::1', port: 4000 }, t + 1), call, 'callee', 'sdp-dst');
    assert.equal(normalizeIp('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('010.000.000.001'), '10.0.0.1');
    assert.equal(normalizeIp('fe80:0:0:0:0:0:0:1%3'), 'fe80::1');
    assert.equal(normalizeIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  });

  it('keeps bindings through hold (a=inactive, c=0.0.0.0)', () => {
    const call = establish(h, T0);
    h.sip(request('INVITE', { toTag: 't1', cseq: 2, body: sdp('0.0.0.0', CALLER.port, { direction: 'inactive' }) }), { ...SIG.caller, ts: T0 + 3000 * MS });
    h.sip(response(200, 'OK', 'INVITE', { toTag: 't1', cseq: 2, body: sdp(CALLEE.ip, CALLEE.port, { direction: 'inactive' }) }), { ...SIG.callee, ts: T0 + 3100 * MS });
    bound(send(h, got, CALLER, CALLEE, T0 + 3200 * MS), call, 'caller', 'sdp-dst');
    bound(send(h, got, CALLEE, CALLER, T0 + 3201 * MS), call, 'callee', 'sdp-dst');
  });

  it('counts and ignores STUN, ChannelData, DTLS and garbage without throwing', () => {
    establish(h, T0);
    const t = T0 + 2000 * MS;
    const v1 = rtp();
    v1[0] = 0x40;
    const samples: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from([0x80]),
      Buffer.from([0x80, 0, 0, 1, 0, 0]),
      v1,
      Buffer.from('000100082112a442000000000000000000000000', 'hex'), // STUN binding request
      Buffer.from('40000004deadbeef', 'hex'), // ChannelData
      Buffer.from('16fefd0000', 'hex'), // DTLS
      Buffer.from([0xff, 0x10, 0, 0]),
    ];
    for (const p of samples) assert.equal(send(h, got, CALLER, CALLEE, t, p), 'none');
    for (let i = 0; i < 500; i++) {
      const junk = Buffer.alloc(i % 30);
      for (let j = 0; j < junk.length; j++) junk[j] = (i * 31 + j * 17) & 0xff;
      h.packet({ src: CALLER.ip, sport: CALLER.port, dst: CALLEE.ip, dport: CALLEE.port, ts: t + i, payload: junk });
    }
    a.flush();
    const c = h.counters();
    assert.ok((c['media.stun'] ?? 0) >= 1);
    assert.ok((c['media.turnChannel'] ?? 0) >= 1);
    assert.ok((c['media.dtls'] ?? 0) >= 1);
    assert.ok((c['media.turnMux'] ?? 0) >= 1);
    assert.ok((c['media.notRtp'] ?? 0) >= 4);
  });

  it('speed: cached lookups per second (printed, not asserted)', () => {
    const a = new MediaAssociator(h.kernel.dialogs, h.kernel.counters); // no recording listeners
    const call = establish(h, T0);
    const pkt: TransportPacket = { ts: T0 + 2000 * MS, frameNo: 1, proto: 'udp', ipVersion: 4, src: CALLER.ip, sport: CALLER.port, dst: CALLEE.ip, dport: CALLEE.port, payload: rtp() };
    let n = 0;
    let last: AssociatedRtp | undefined;
    a.on('rtp', (x) => {
      n++;
      last = x;
    });
    const N = 2_000_000;
    for (let i = 0; i < 10_000; i++) a.onMedia(pkt); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) a.onMedia(pkt);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.equal(last?.call, call);
    assert.equal(n, N + 10_000);
    process.stdout.write(`      associator, one flow: ${Math.round(N / sec).toLocaleString('en')} packets/s (parse + bind + emit)\n`);

    // 500 calls, 1,000 flows interleaved: the flow map no longer sits in one cache line.
    const pkts: TransportPacket[] = [];
    for (let i = 0; i < 500; i++) {
      const callerPort = 20_000 + i * 2;
      const calleePort = 40_000 + i * 2;
      establish(h, T0 + 3000 * MS + i, { callId: `load-${i}@test`, callerSdp: sdp('10.1.0.1', callerPort), calleeSdp: sdp('10.2.0.1', calleePort) });
      const base = { ts: T0 + 9000 * MS, frameNo: 1, proto: 'udp' as const, ipVersion: 4 as const };
      pkts.push({ ...base, src: '10.1.0.1', sport: callerPort, dst: '10.2.0.1', dport: calleePort, payload: rtp({ ssrc: i }) });
      pkts.push({ ...base, src: '10.2.0.1', sport: calleePort, dst: '10.1.0.1', dport: callerPort, payload: rtp({ ssrc: 1000 + i }) });
    }
    const before = n;
    for (const p of pkts) a.onMedia(p); // resolve once
    const t1 = process.hrtime.bigint();
    for (let r = 0; r < 2000; r++) for (const p of pkts) a.onMedia(p);
    const sec2 = Number(process.hrtime.bigint() - t1) / 1e9;
    assert.equal(n - before, 2001 * pkts.length);
    process.stdout.write(`      associator, 1,000 flows: ${Math.round((2000 * pkts.length) / sec2).toLocaleString('en')} packets/s\n`);
  });
});
