import * as assert from 'node:assert/strict';
import { endpointKey } from '../../core/calls/call-endpoints';
import { ethernet, ipv4, ipv4Fragments, ipv6, ipv6Fragments, nullLoopback, sll, sll2, tcp, TcpFlags, udp } from '../../core/net/packet-builder';
import { LinkType } from '../../core/net/types';
import { addressKeyOf, endpointKeyOf, endText, ipOffset, ipv4Number, newEnds, readEnds, type PacketEnds, type SkipWhy } from './packet-ends';

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const PAYLOAD = Buffer.from('rtp-ish payload');

function read(linkType: number, frame: Buffer): PacketEnds {
  const e = newEnds();
  const why = readEnds(linkType, frame, e);
  assert.equal(why, undefined, `skipped: ${why}`);
  return e;
}

function skip(linkType: number, frame: Buffer): SkipWhy | undefined {
  return readEnds(linkType, frame, newEnds());
}

const v4udp = (o: { src?: string; dst?: string; sport?: number; dport?: number } = {}): Buffer =>
  ipv4(17, udp(o.sport ?? 4000, o.dport ?? 5000, PAYLOAD), { src: o.src ?? '10.0.0.1', dst: o.dst ?? '192.168.1.20' });

describe('packet ends (the forwarder agent reads where a packet starts and its two ends)', () => {
  it('ipv4Number: dotted quad to u32; anything else undefined', () => {
    assert.equal(ipv4Number('10.0.0.1'), 0x0a000001);
    assert.equal(ipv4Number('255.255.255.255'), 0xffffffff);
    assert.equal(ipv4Number('0.0.0.0'), 0);
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '', 'a.b.c.d', '1.2.3.-4', '1.2.3.1000', '::1', ' 1.2.3.4']) assert.equal(ipv4Number(bad), undefined, bad);
  });

  it('Ethernet IPv4 UDP: IP offset, version, protocol, ends as numbers (address × 65536 + port), payload offset', () => {
    const frame = ethernet(ETH_IPV4, v4udp());
    const e = read(LinkType.ETHERNET, frame);
    assert.equal(e.ipOff, 14);
    assert.equal(e.ipVersion, 4);
    assert.equal(e.proto, 17);
    assert.equal(e.sport, 4000);
    assert.equal(e.dport, 5000);
    assert.equal(e.srcAddr, 0x0a000001);
    assert.equal(e.dstAddr, ipv4Number('192.168.1.20'));
    assert.equal(e.src, 0x0a000001 * 65536 + 4000);
    assert.equal(e.dst, ipv4Number('192.168.1.20')! * 65536 + 5000);
    assert.equal(e.payloadOff, 14 + 20 + 8);
    assert.deepEqual(frame.subarray(e.payloadOff), PAYLOAD);
    // The keys an SDP's "ip:port" and "ip" give are the same.
    assert.equal(endpointKeyOf('10.0.0.1:4000'), e.src);
    assert.equal(endpointKeyOf(endpointKey('192.168.1.20', 5000)), e.dst);
    assert.equal(addressKeyOf('10.0.0.1'), e.srcAddr);
    assert.equal(endText(e.dstAddr), '192.168.1.20');
  });

  it('the largest address and port keep exact numbers (48 bits in a double)', () => {
    const e = read(LinkType.RAW, v4udp({ src: '255.255.255.254', sport: 65535 }));
    assert.equal(e.src, 0xfffffffe * 65536 + 65535);
    assert.equal(endpointKeyOf('255.255.255.254:65535'), e.src);
    assert.equal(endText(e.srcAddr), '255.255.255.254');
  });

  it('IPv4 TCP: ends read, no payload offset (only UDP is sniffed)', () => {
    const e = read(LinkType.ETHERNET, ethernet(ETH_IPV4, ipv4(6, tcp(50000, 443, 1, 0, TcpFlags.ACK, PAYLOAD), { src: '10.0.0.1', dst: '10.0.0.2' })));
    assert.equal(e.proto, 6);
    assert.equal(e.sport, 50000);
    assert.equal(e.dport, 443);
    assert.equal(e.payloadOff, -1);
    assert.equal(e.dst, endpointKeyOf('10.0.0.2:443'));
  });

  it('IPv4 with options: the transport header is found after them', () => {
    const e = read(LinkType.RAW, ipv4(17, udp(1111, 2222, PAYLOAD), { src: '10.0.0.1', dst: '10.0.0.2', options: Buffer.from([0x94, 0x04, 0, 0]) }));
    assert.equal(e.sport, 1111);
    assert.equal(e.dport, 2222);
    assert.equal(e.payloadOff, 24 + 8);
  });

  it('IPv6 UDP: ends as "[addr]:port" strings, compressed as an SDP writes them', () => {
    const frame = ethernet(ETH_IPV6, ipv6(17, udp(6000, 7000, PAYLOAD), { src: '2001:db8::1', dst: '2001:db8:0:1:0:0:0:2' }));
    const e = read(LinkType.ETHERNET, frame);
    assert.equal(e.ipOff, 14);
    assert.equal(e.ipVersion, 6);
    assert.equal(e.src, '[2001:db8::1]:6000');
    assert.equal(e.dst, '[2001:db8:0:1::2]:7000');
    assert.equal(e.srcAddr, '[2001:db8::1]');
    assert.equal(e.payloadOff, 14 + 40 + 8);
    assert.equal(endpointKeyOf('[2001:DB8::1]:6000'), e.src, 'case does not matter');
    assert.equal(endpointKeyOf(endpointKey('2001:db8::1', 6000)), e.src);
    assert.equal(addressKeyOf('2001:db8::1'), e.srcAddr);
    assert.equal(endText(e.srcAddr), '2001:db8::1');
  });

  it('IPv6 zero runs: the longest run is compressed (the first of equal ones), a single zero group is not', () => {
    const cases: Array<[string, string]> = [
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['0:0:0:0:0:0:0:0', '::'],
    ];
    for (const [written, canonical] of cases) {
      const e = read(LinkType.RAW, ipv6(17, udp(1, 2, PAYLOAD), { src: written, dst: '::2' }));
      assert.equal(e.src, `[${canonical}]:1`, written);
      assert.equal(endpointKeyOf(`[${canonical}]:1`), e.src);
    }
  });

  it('VLAN tags (802.1Q, QinQ) are skipped', () => {
    const one = read(LinkType.ETHERNET, ethernet(ETH_IPV4, v4udp(), [{ tpid: 0x8100, id: 10 }]));
    assert.equal(one.ipOff, 18);
    assert.equal(one.dport, 5000);
    const two = read(LinkType.ETHERNET, ethernet(ETH_IPV6, ipv6(17, udp(1, 2, PAYLOAD), { src: '::1', dst: '::2' }), [{ tpid: 0x88a8, id: 100 }, { tpid: 0x8100, id: 10 }]));
    assert.equal(two.ipOff, 22);
    assert.equal(two.src, '[::1]:1');
  });

  it('Linux cooked captures (SLL, SLL2), BSD loopback and raw IP', () => {
    assert.equal(read(LinkType.LINUX_SLL, sll(ETH_IPV4, v4udp())).ipOff, 16);
    assert.equal(read(LinkType.LINUX_SLL2, sll2(ETH_IPV4, v4udp())).ipOff, 20);
    assert.equal(read(LinkType.NULL, nullLoopback(2, v4udp())).ipOff, 4);
    assert.equal(read(LinkType.RAW, v4udp()).ipOff, 0);
    assert.equal(read(LinkType.IPV4, v4udp()).ipOff, 0);
    assert.equal(read(LinkType.IPV6, ipv6(17, udp(1, 2, PAYLOAD), { src: '::1', dst: '::2' })).ipVersion, 6);
    const e = read(LinkType.LINUX_SLL, sll(ETH_IPV4, v4udp({ sport: 1234 })));
    assert.equal(e.src, endpointKeyOf('10.0.0.1:1234'));
    assert.equal(ipOffset(LinkType.LINUX_SLL, Buffer.alloc(15)), -1);
    assert.equal(ipOffset(999, Buffer.alloc(100)), -1, 'unknown link type');
  });

  it('fragments: a first fragment has ports and is read; a later one is skipped as a fragment', () => {
    const frags = ipv4Fragments(17, udp(4000, 5000, Buffer.alloc(3000, 1)), { src: '10.0.0.1', dst: '10.0.0.2', id: 77 }, 1480);
    assert.ok(frags.length >= 3);
    const first = read(LinkType.ETHERNET, ethernet(ETH_IPV4, frags[0]!));
    assert.equal(first.sport, 4000);
    for (const f of frags.slice(1)) assert.equal(skip(LinkType.ETHERNET, ethernet(ETH_IPV4, f)), 'fragment');
    // IPv6 fragments carry a fragment header: not media this agent routes.
    const v6 = ipv6Fragments(17, udp(1, 2, Buffer.alloc(3000)), { src: '::1', dst: '::2' }, 1448, 9);
    for (const f of v6) assert.equal(skip(LinkType.RAW, f), 'not-udp-tcp');
  });

  it('says why a frame is not routable: not IP, not UDP/TCP, truncated', () => {
    assert.equal(skip(LinkType.ETHERNET, ethernet(0x0806, Buffer.alloc(28))), 'not-ip', 'ARP');
    assert.equal(skip(LinkType.ETHERNET, Buffer.alloc(10)), 'not-ip', 'shorter than an Ethernet header');
    assert.equal(skip(LinkType.ETHERNET, ethernet(ETH_IPV4, v4udp()).subarray(0, 14 + 19)), 'not-ip', 'no whole IPv4 header');
    assert.equal(skip(LinkType.RAW, Buffer.concat([Buffer.from([0x50]), Buffer.alloc(40)])), 'not-ip', 'version 5');
    assert.equal(skip(LinkType.RAW, ipv4(1, Buffer.alloc(16), { src: '10.0.0.1', dst: '10.0.0.2' })), 'not-udp-tcp', 'ICMP');
    assert.equal(skip(LinkType.RAW, ipv4(47, Buffer.alloc(16), { src: '10.0.0.1', dst: '10.0.0.2' })), 'not-udp-tcp', 'GRE');
    assert.equal(skip(LinkType.RAW, ipv6(17, udp(1, 2, PAYLOAD), { src: '::1', dst: '::2', ext: [{ type: 0 }] })), 'not-udp-tcp', 'IPv6 extension header');
    assert.equal(skip(LinkType.RAW, v4udp().subarray(0, 20 + 7)), 'truncated', 'UDP header cut');
    assert.equal(skip(LinkType.ETHERNET, ethernet(ETH_IPV4, v4udp()).subarray(0, 14 + 24)), 'truncated');
    assert.equal(skip(LinkType.RAW, ipv6(17, udp(1, 2, PAYLOAD), { src: '::1', dst: '::2' }).subarray(0, 47)), 'truncated', 'IPv6 UDP header cut');
    assert.equal(skip(LinkType.ETHERNET, ethernet(ETH_IPV4, v4udp(), [{ tpid: 0x8100, id: 1 }]).subarray(0, 16)), 'not-ip', 'cut inside the VLAN tag');
  });

  it('endpointKeyOf refuses what is not "ip:port" or "[v6]:port"', () => {
    for (const bad of ['10.0.0.1', '10.0.0.1:', '10.0.0.1:65536', '300.0.0.1:80', 'host:80', '[::1]', '::1:80', '[::1]:x', '10.0.0.1:80 ']) assert.equal(endpointKeyOf(bad), undefined, bad);
    assert.equal(endpointKeyOf('10.0.0.1:0'), 0x0a000001 * 65536);
    assert.equal(endpointKeyOf('[::1]:080'), '[::1]:80', 'port as a number');
  });

  describe('regressions (found by these tests, fixed)', () => {
    it('endpointKeyOf canonicalizes IPv6 (full or zero-padded forms equal the key readEnds computes)', () => {
      // An SDP (or a=candidate / x-candidate-ipv6) may write the full or zero-padded form; readEnds always writes RFC 5952.
      const e = read(LinkType.RAW, ipv6(17, udp(6000, 7000, PAYLOAD), { src: '2001:db8::1', dst: '::2' }));
      for (const written of ['[2001:0db8::1]:6000', '[2001:db8:0:0:0:0:0:1]:6000', '[2001:db8::0:1]:6000']) {
        assert.equal(endpointKeyOf(written), e.src, written);
      }
    });
  });
});
