import * as assert from 'node:assert/strict';
import { PluginHarness } from '../testing/index';
import type { Call } from '../dialog/types';
import { request, response } from '../../test/sip-text';
import { endpointKeyOf, newEnds, readEnds } from '../../plugins/forwarder/packet-ends';
import { ipv6, udp } from '../net/packet-builder';
import { LinkType } from '../net/types';
import { callEndpoints, endpointKey } from './call-endpoints';

const T0 = Date.UTC(2026, 0, 1) * 1000;

const lines = (...l: string[]): string => [...l, ''].join('\r\n');

let h: PluginHarness;
let n = 0;

/** A call from real SIP through the core: the INVITE's offer, the 200's answer, and optionally a re-INVITE's offer. */
function callWith(offer: string, answer?: string, reoffer?: string): Call {
  const callId = `ep-${++n}@test`;
  const ts = T0 + n * 10_000_000;
  h.sip(request('INVITE', { callId, body: offer }), { ts });
  if (answer !== undefined) h.sip(response(200, 'OK', 'INVITE', { callId, toTag: 't', body: answer }), { ts: ts + 1000 });
  if (reoffer !== undefined) h.sip(request('INVITE', { callId, toTag: 't', cseq: 2, body: reoffer }), { ts: ts + 2000 });
  const c = h.recorded.callsStarted.find((x) => x.callId === callId);
  assert.ok(c !== undefined, 'the call started');
  return c;
}

const head = (ip: string, v6 = false): string[] => ['v=0', `o=- 1 1 IN ${v6 ? 'IP6' : 'IP4'} ${ip}`, 's=-', `c=IN ${v6 ? 'IP6' : 'IP4'} ${ip}`, 't=0 0'];

describe('callEndpoints (where a call’s media flows, for forwarders)', () => {
  before(async () => {
    h = await PluginHarness.core();
  });
  after(async () => {
    await h.stop();
  });

  it('endpointKey writes IPv6 in brackets, as the forwarder reads packet ends', () => {
    assert.equal(endpointKey('10.0.0.1', 4000), '10.0.0.1:4000');
    assert.equal(endpointKey('2001:db8::1', 4000), '[2001:db8::1]:4000');
  });

  it('each audio m-line: its address and port, and RTCP on port + 1', () => {
    const call = callWith(lines(...head('10.0.0.1'), 'm=audio 4000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000'));
    assert.deepEqual(callEndpoints(call), ['10.0.0.1:4000', '10.0.0.1:4001']);
  });

  it('offer and answer of both sides, and a re-INVITE, without duplicates', () => {
    const call = callWith(
      lines(...head('10.0.0.1'), 'm=audio 4000 RTP/AVP 0'),
      lines(...head('10.0.0.2'), 'm=audio 5000 RTP/AVP 0'),
      lines(...head('10.0.0.1'), 'm=audio 4000 RTP/AVP 0', 'm=video 4100 RTP/AVP 96', 'a=rtpmap:96 H264/90000'),
    );
    assert.deepEqual(callEndpoints(call), ['10.0.0.1:4000', '10.0.0.1:4001', '10.0.0.2:5000', '10.0.0.2:5001', '10.0.0.1:4100', '10.0.0.1:4101']);
  });

  it('a=rtcp (with or without its own address) replaces port + 1; rtcp-mux has no RTCP port', () => {
    const call = callWith(
      lines(...head('10.0.0.1'), 'm=audio 4000 RTP/AVP 0', 'a=rtcp:4005', 'm=audio 4010 RTP/AVP 0', 'a=rtcp:4015 IN IP4 10.0.0.9', 'm=audio 4020 RTP/AVP 0', 'a=rtcp-mux'),
    );
    assert.deepEqual(callEndpoints(call), ['10.0.0.1:4000', '10.0.0.1:4005', '10.0.0.1:4010', '10.0.0.9:4015', '10.0.0.1:4020']);
  });

  it('ICE candidates (a Lync relay candidate is the Edge): every candidate address, even when c= is on hold (0.0.0.0)', () => {
    const call = callWith(
      lines(
        ...head('0.0.0.0'),
        'm=audio 50000 RTP/SAVP 0',
        'a=candidate:1 1 UDP 2130706431 10.0.0.1 50000 typ host',
        'a=candidate:1 2 UDP 2130706430 10.0.0.1 50001 typ host',
        'a=candidate:2 1 UDP 16777215 203.0.113.5 52000 typ relay raddr 10.0.0.1 rport 50000',
      ),
    );
    assert.deepEqual(callEndpoints(call), ['10.0.0.1:50000', '10.0.0.1:50001', '203.0.113.5:52000']);
  });

  it('IPv6: bracketed, and equal to the key the forwarder computes for the same "ip:port"', () => {
    const call = callWith(lines(...head('2001:db8::1', true), 'm=audio 6000 RTP/AVP 0', 'a=rtcp-mux'));
    assert.deepEqual(callEndpoints(call), ['[2001:db8::1]:6000']);
    assert.equal(endpointKeyOf(callEndpoints(call)[0]!), '[2001:db8::1]:6000');
  });

  it('leaves out rejected (port 0) media, media other than audio and video, and unspecified addresses', () => {
    const call = callWith(
      lines(
        ...head('10.0.0.1'),
        'm=audio 0 RTP/AVP 0',
        'm=application 5070 UDP/BFCP *',
        'm=message 5060 sip null',
        'm=video 4200 RTP/AVP 96',
        'c=IN IP4 0.0.0.0',
        'm=audio 4300 RTP/AVP 0',
        'c=IN IP6 ::',
        'a=rtcp-mux',
      ),
    );
    assert.deepEqual(callEndpoints(call), []);
  });

  it('bounded: a hostile SDP with thousands of candidates names at most 256 addresses', () => {
    const cands = Array.from({ length: 1000 }, (_v, i) => `a=candidate:${i} 1 UDP ${2130706431 - i} 10.${(i >> 8) & 255}.${i & 255}.1 ${10000 + i} typ host`);
    const call = callWith(lines(...head('10.0.0.1'), 'm=audio 4000 RTP/AVP 0', ...cands));
    const eps = callEndpoints(call);
    assert.ok(eps.length <= 256, `${eps.length}`);
    assert.ok(eps.length >= 200, `${eps.length}: the parser kept enough to reach the bound`);
    assert.deepEqual(eps.slice(0, 2), ['10.0.0.1:4000', '10.0.0.1:4001']);
  });

  it('every endpoint it names is one the forwarder can key', () => {
    const call = callWith(
      lines(...head('10.0.0.1'), 'm=audio 4000 RTP/AVP 0', 'a=candidate:1 1 UDP 1 192.0.2.1 1 typ host'),
      lines(...head('2001:db8::2', true), 'm=audio 65535 RTP/AVP 0'),
    );
    const eps = callEndpoints(call);
    assert.ok(eps.length > 0);
    for (const e of eps) assert.notEqual(endpointKeyOf(e), undefined, e);
  });
  describe('regressions (found by these tests, fixed)', () => {
    it('an IPv6 address an SDP writes in full or zero-padded form is announced in the form the forwarder reads', () => {
      // callEndpoints keeps the SDP's text; the forwarder keys packets by the RFC 5952 form ("[2001:db8::1]:6000").
      const call = callWith(lines(...head('2001:0DB8:0:0:0:0:0:1', true), 'm=audio 6000 RTP/AVP 0', 'a=rtcp-mux'));
      const packet = newEnds();
      assert.equal(readEnds(LinkType.RAW, ipv6(17, udp(7000, 6000, Buffer.alloc(20)), { src: '2001:db8::2', dst: '2001:db8::1' }), packet), undefined);
      assert.deepEqual(callEndpoints(call).map((e) => endpointKeyOf(e)), [packet.dst]);
    });
  });
});
