/**
 * The mode alone in the core's harness: TURN-wrapped RTP fed as datagrams reaches the associator bound to the right
 * party, by SDP where the unwrapped addresses are in it, and by the Edge's addresses and the allocation where they
 * are not (the remote user's NAT port is in no SDP and the capture missed the ChannelBind, or media flows
 * unwrapped after Set Active Destination). The outer datagrams are counted once.
 */
import * as assert from 'node:assert/strict';
import { PluginHarness } from '../../core/testing/index';
import type { Side } from '../../core/dialog/types';
import { request, response, sdp } from '../../test/sip-text';
import { addressValue, channelData, msTcpFrame, msTurnMessage, pseudoTlsClientHello, rfc5389Message, TurnAttr, TurnType } from '../source-generator/turn-wire';
import modeAtedge from './index';

const EDGE = '198.51.100.10';
const CALLER_HOST = { ip: '10.1.0.1', port: 20000 };
/** The caller's srflx candidate: the NAT address the Edge sees it from (UDP, when the ports agree). */
const CALLER_SRFLX = { ip: '203.0.113.1', port: 30000 };
const CALLER_RELAY = { ip: EDGE, port: 50000 };
const CALLEE = { ip: '10.2.0.1', port: 40000 };

/** A Lync-ish call: the caller is remote (host, srflx and Edge relay candidates), the callee internal. */
function callSip(h: PluginHarness): void {
  const offer = sdp(CALLER_HOST.ip, CALLER_HOST.port, {
    extra: [
      `a=candidate:1 1 UDP 2130706431 ${CALLER_HOST.ip} ${CALLER_HOST.port} typ host`,
      `a=candidate:2 1 UDP 1694234111 ${CALLER_SRFLX.ip} ${CALLER_SRFLX.port} typ srflx raddr ${CALLER_HOST.ip} rport ${CALLER_HOST.port}`,
      `a=candidate:3 1 UDP 184548351 ${CALLER_RELAY.ip} ${CALLER_RELAY.port} typ relay raddr ${CALLER_SRFLX.ip} rport ${CALLER_SRFLX.port}`,
    ],
  });
  const at = { src: '10.1.0.1', dst: '10.0.0.10' };
  h.sip(request('INVITE', { body: offer }), at);
  h.sip(response(200, 'OK', 'INVITE', { toTag: 'tt', body: sdp(CALLEE.ip, CALLEE.port) }), { src: at.dst, dst: at.src });
  h.sip(request('ACK', { toTag: 'tt' }), at);
}

let seq = 0;
function rtp(ssrc: number): Buffer {
  const b = Buffer.alloc(172, 0xd5);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(seq++ & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

const tx = (n: number): Buffer => Buffer.alloc(12, n);
const UP_SSRC = 0x11111111; // the caller's
const DOWN_SSRC = 0x22222222; // the callee's

async function harness(options: Record<string, unknown> = { edgePublicIps: [EDGE] }): Promise<{ h: PluginHarness; got: Array<{ sender: Side; ssrc: number; how: string }> }> {
  const h = await PluginHarness.create(modeAtedge, { options });
  const got: Array<{ sender: Side; ssrc: number; how: string }> = [];
  h.kernel.associator.on('rtp', (a) => got.push({ sender: a.sender, ssrc: a.rtp.ssrc, how: a.how }));
  callSip(h);
  return { h, got };
}

function senders(got: Array<{ sender: Side; ssrc: number }>): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const g of got) (out[g.ssrc.toString(16)] ??= new Set()).add(g.sender);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]]));
}

describe('mode-atedge: the mode alone in the harness', () => {
  it('RFC 5766 Send/Data indications: bound by SDP (peer = callee c=, client = caller srflx), outer counted once as STUN', async () => {
    const { h, got } = await harness();
    const up = { src: CALLER_SRFLX.ip, sport: CALLER_SRFLX.port, dst: EDGE, dport: 3478 };
    const down = { src: EDGE, sport: 3478, dst: CALLER_SRFLX.ip, dport: CALLER_SRFLX.port };
    for (let i = 0; i < 5; i++) {
      h.packet({ ...up, payload: rfc5389Message(TurnType.SEND_INDICATION, tx(i), [[TurnAttr.PEER_ADDRESS, addressValue(CALLEE, true)], [TurnAttr.DATA, rtp(UP_SSRC)]]) });
      h.packet({ ...down, payload: rfc5389Message(TurnType.DATA_INDICATION, tx(100 + i), [[TurnAttr.PEER_ADDRESS, addressValue(CALLEE, true)], [TurnAttr.DATA, rtp(DOWN_SSRC)]]) });
    }
    await h.stop();
    assert.deepEqual(senders(got), { '11111111': ['caller'], '22222222': ['callee'] });
    assert.ok(got.every((g) => g.how === 'sdp-dst' || g.how === 'sdp-src'));
    const c = h.counters();
    assert.deepEqual([c['core.media.stun'], c['core.media.rtp'], c['mode-atedge.pushed'], c['core.media.unmatched']], [10, 10, 10, undefined]);
  });

  it('ChannelData whose ChannelBind the capture missed, from a NAT port in no SDP: the allocation\'s client IP (the srflx candidate\'s) tells the party', async () => {
    const { h, got } = await harness();
    const nat = { ip: CALLER_SRFLX.ip, port: 31111 };
    for (let i = 0; i < 5; i++) {
      h.packet({ src: nat.ip, sport: nat.port, dst: EDGE, dport: 3478, payload: channelData(0x4001, rtp(UP_SSRC), false) });
      h.packet({ src: EDGE, sport: 3478, dst: nat.ip, dport: nat.port, payload: channelData(0x4001, rtp(DOWN_SSRC), false) });
    }
    await h.stop();
    assert.deepEqual(senders(got), { '11111111': ['caller'], '22222222': ['callee'] });
    assert.ok(got.every((g) => g.how === 'learned'), 'by the mode, not by SDP');
    const c = h.counters();
    assert.deepEqual([c['mode-atedge.unwrapped.peerUnknown'], c['mode-atedge.associated.allocation'], c['core.media.turnChannel']], [10, 2, 10]);
  });

  it('media unwrapped after Set Active Destination (plain RTP to and from the Edge): from the Edge it is the far side\'s', async () => {
    const { h, got } = await harness();
    const nat = { ip: CALLER_SRFLX.ip, port: 31111 };
    for (let i = 0; i < 5; i++) {
      h.packet({ src: nat.ip, sport: nat.port, dst: EDGE, dport: 3478, payload: rtp(UP_SSRC) });
      h.packet({ src: EDGE, sport: 3478, dst: nat.ip, dport: nat.port, payload: rtp(DOWN_SSRC) });
    }
    await h.stop();
    assert.deepEqual(senders(got), { '11111111': ['caller'], '22222222': ['callee'] });
    assert.equal(h.counters()['mode-atedge.associated.edgeAddress'], 2);
    assert.equal(h.counters()['mode-atedge.pushed'], undefined, 'plain RTP is the associator\'s alone: never pushed again');
  });

  it('without the Edge\'s addresses configured, on a port that is no TURN port, the same plain RTP stays unmatched', async () => {
    const { h, got } = await harness({ turnPorts: [3478] });
    for (let i = 0; i < 3; i++) h.packet({ src: EDGE, sport: 3479, dst: CALLER_SRFLX.ip, dport: 31111, payload: rtp(DOWN_SSRC) });
    await h.stop();
    assert.equal(got.length, 0);
    assert.equal(h.counters()['core.media.unmatched'], 3);
  });

  it('MS-TURN over TCP 443: pseudo-TLS, Send requests in 0x02 frames, then raw 0x03 frames (split over segments) after Set Active Destination', async () => {
    const { h, got } = await harness();
    const client = { ip: CALLER_SRFLX.ip, port: 52000 }; // an ephemeral TCP port: in no SDP
    const upT = { proto: 'tcp' as const, src: client.ip, sport: client.port, dst: EDGE, dport: 443 };
    const downT = { proto: 'tcp' as const, src: EDGE, sport: 443, dst: client.ip, dport: client.port };
    const tx16 = (n: number): Buffer => Buffer.alloc(16, n);
    const upBytes: Buffer[] = [pseudoTlsClientHello(Buffer.alloc(32, 1))];
    const downBytes: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      upBytes.push(msTcpFrame(0x02, msTurnMessage(TurnType.MS_SEND, tx16(i), [[TurnAttr.DESTINATION_ADDRESS, addressValue(CALLEE, false)], [TurnAttr.DATA, rtp(UP_SSRC)]])));
      downBytes.push(msTcpFrame(0x02, msTurnMessage(TurnType.MS_DATA_INDICATION, tx16(50 + i), [[TurnAttr.PEER_ADDRESS, addressValue(CALLEE, false)], [TurnAttr.DATA, rtp(DOWN_SSRC)]])));
    }
    upBytes.push(msTcpFrame(0x02, msTurnMessage(TurnType.MS_SET_ACTIVE_DESTINATION, tx16(9), [[TurnAttr.DESTINATION_ADDRESS, addressValue(CALLEE, false)]])));
    for (let i = 0; i < 3; i++) {
      upBytes.push(msTcpFrame(0x03, rtp(UP_SSRC)));
      downBytes.push(msTcpFrame(0x03, rtp(DOWN_SSRC)));
    }
    // One TCP stream per direction, cut into 100-byte segments with their sequence numbers (the harness's packet() has none).
    let ts = Date.UTC(2026, 0, 1, 0, 0, 5) * 1000;
    const feed = (p: typeof upT, all: Buffer): void => {
      for (let at = 0; at < all.length; at += 100) {
        ts += 1000;
        h.kernel.ingest.packet({ ...p, ts, frameNo: 0, ipVersion: 4, payload: all.subarray(at, at + 100), tcp: { seq: 1000 + at, ack: 0, flags: 0x18 } });
      }
    };
    feed(upT, Buffer.concat(upBytes));
    feed(downT, Buffer.concat(downBytes));
    await h.stop();
    assert.deepEqual(senders(got), { '11111111': ['caller'], '22222222': ['callee'] });
    const c = h.counters();
    assert.deepEqual([c['mode-atedge.tcp.pseudoTls'], c['mode-atedge.unwrapped.ms-send'], c['mode-atedge.unwrapped.ms-data-indication'], c['mode-atedge.unwrapped.tcp-data'], c['mode-atedge.pushed']], [1, 3, 3, 6, 12]);
  });

  it('both Edge adapters captured: the unwrapped packet and its plain twin on the relay leg fall on one stream (counted as duplicates, not doubled)', async () => {
    const { h, got } = await harness();
    const up = { src: CALLER_SRFLX.ip, sport: CALLER_SRFLX.port, dst: EDGE, dport: 3478 };
    const down = { src: EDGE, sport: 3478, dst: CALLER_SRFLX.ip, dport: CALLER_SRFLX.port };
    h.packet({ ...up, payload: rfc5389Message(TurnType.ALLOCATE, tx(200), []) });
    h.packet({ ...down, payload: rfc5389Message(TurnType.ALLOCATE_SUCCESS, tx(200), [[TurnAttr.XOR_RELAYED_ADDRESS, addressValue(CALLER_RELAY, true)]]) });
    for (let i = 0; i < 20; i++) {
      const a = rtp(UP_SSRC);
      h.packet({ ...up, payload: rfc5389Message(TurnType.SEND_INDICATION, tx(i), [[TurnAttr.PEER_ADDRESS, addressValue(CALLEE, true)], [TurnAttr.DATA, a]]) });
      h.packet({ src: CALLER_RELAY.ip, sport: CALLER_RELAY.port, dst: CALLEE.ip, dport: CALLEE.port, payload: a }); // relayed on to the callee
      const b = rtp(DOWN_SSRC);
      h.packet({ src: CALLEE.ip, sport: CALLEE.port, dst: CALLER_RELAY.ip, dport: CALLER_RELAY.port, payload: b }); // the callee to the relay
      h.packet({ ...down, payload: rfc5389Message(TurnType.DATA_INDICATION, tx(100 + i), [[TurnAttr.PEER_ADDRESS, addressValue(CALLEE, true)], [TurnAttr.DATA, b]]) });
    }
    await h.stop();
    assert.deepEqual(senders(got), { '11111111': ['caller'], '22222222': ['callee'] });
    const meta = h.recorded.recordings[0];
    assert.ok(meta !== undefined);
    for (const side of ['caller', 'callee'] as const) assert.deepEqual([meta[side].packets, meta[side].duplicates], [20, 20], side);
  });

  it('garbage on the TURN ports is classified and counted, never thrown', async () => {
    const { h } = await harness();
    let s = 99;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(1 + (i % 300));
      for (let j = 0; j < b.length; j++) b[j] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
      b[0] = [0x00, 0x01, 0x40, 0x4f, 0xff][i % 5] as number;
      if (i % 5 === 4) b[1] = 0x10;
      h.packet({ src: CALLER_SRFLX.ip, sport: 30000, dst: EDGE, dport: 3478, payload: b });
      h.packet({ proto: 'tcp', src: CALLER_SRFLX.ip, sport: 52001, dst: EDGE, dport: 443, payload: b });
    }
    await h.stop();
    const c = h.counters();
    const classified = Object.entries(c).filter(([k]) => /^mode-atedge\.(malformed|notTurn|unplaced|control)/.test(k)).reduce((n, [, v]) => n + v, 0);
    assert.ok(classified > 1000, JSON.stringify(c));
    assert.equal(h.recorded.logs.filter((l) => l.level === 'error').length, 0);
  });
});
