import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCaptureBuffer } from './capture-reader';
import { PcapngBuilder } from './capture-writer';
import { decodeFrame, isSkipReason, PacketDecoder } from './decode';
import { formatIpv6 } from './ip-address';
import {
  erspan2,
  erspan3,
  ethernet,
  gre,
  ipv4,
  ipv4Fragments,
  ipv6,
  ipv6Bytes,
  ipv6Fragments,
  nullLoopback,
  sll,
  sll2,
  TcpFlags,
  tcp,
  udp,
} from './packet-builder';
import { haveTshark, tsharkFields } from '../../test/tshark';
import { LinkType, type RawFrame, type SkipReason, type TransportPacket } from './types';

const V4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const OUTER = { src: '192.0.2.1', dst: '192.0.2.2' };
const V6 = { src: '2001:db8::1', dst: '2001:db8:0:1::2' };
const SIP = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n\r\n');
const U = udp(5060, 5080, SIP);
const T = tcp(5061, 40000, 1000, 2000, TcpFlags.PSH | TcpFlags.ACK, SIP, Buffer.from('0101080a0000000100000002', 'hex'));
const ETH_UDP = ethernet(0x0800, ipv4(17, U, V4));

interface Want {
  proto: 'udp' | 'tcp';
  v: 4 | 6;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  vlan?: number;
}
const udp4: Want = { proto: 'udp', v: 4, src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5080 };
const tcp4: Want = { proto: 'tcp', v: 4, src: '10.0.0.1', sport: 5061, dst: '10.0.0.2', dport: 40000 };
const udp6: Want = { proto: 'udp', v: 6, src: '2001:db8::1', sport: 5060, dst: '2001:db8:0:1::2', dport: 5080 };
const tcp6: Want = { ...tcp4, v: 6, src: '2001:db8::1', dst: '2001:db8:0:1::2' };

interface Case {
  name: string;
  link: number;
  data: Buffer;
  want: Want;
}

/** Frames every decoder (ours, tshark) must turn into the same UDP/TCP packet. */
const GOOD: Case[] = [
  { name: 'Ethernet / IPv4 / UDP', link: LinkType.ETHERNET, data: ETH_UDP, want: udp4 },
  { name: 'Ethernet / IPv4 / TCP with options', link: 1, data: ethernet(0x0800, ipv4(6, T, V4)), want: tcp4 },
  { name: '802.1Q', link: 1, data: ethernet(0x0800, ipv4(17, U, V4), [{ tpid: 0x8100, id: 100 }]), want: { ...udp4, vlan: 100 } },
  {
    name: 'QinQ 0x88a8 + 0x8100',
    link: 1,
    data: ethernet(0x86dd, ipv6(17, U, V6), [{ tpid: 0x88a8, id: 200 }, { tpid: 0x8100, id: 300 }]),
    want: { ...udp6, vlan: 300 },
  },
  { name: 'QinQ 0x9100', link: 1, data: ethernet(0x0800, ipv4(17, U, V4), [{ tpid: 0x9100, id: 7 }, { tpid: 0x8100, id: 8 }]), want: { ...udp4, vlan: 8 } },
  { name: 'Ethernet padding after a short datagram', link: 1, data: Buffer.concat([ETH_UDP, Buffer.alloc(30)]), want: udp4 },
  { name: 'IPv4 header options', link: 1, data: ethernet(0x0800, ipv4(17, U, { ...V4, options: Buffer.from('01010100', 'hex') })), want: udp4 },
  { name: 'Linux SLL / IPv4 / TCP', link: LinkType.LINUX_SLL, data: sll(0x0800, ipv4(6, T, V4)), want: tcp4 },
  { name: 'Linux SLL / IPv6 / UDP', link: LinkType.LINUX_SLL, data: sll(0x86dd, ipv6(17, U, V6)), want: udp6 },
  { name: 'Linux SLL2 / IPv6 / TCP', link: LinkType.LINUX_SLL2, data: sll2(0x86dd, ipv6(6, T, V6)), want: tcp6 },
  { name: 'raw (101) IPv4', link: LinkType.RAW, data: ipv4(17, U, V4), want: udp4 },
  { name: 'raw (101) IPv6', link: LinkType.RAW, data: ipv6(17, U, V6), want: udp6 },
  { name: 'IPv4 (228)', link: LinkType.IPV4, data: ipv4(6, T, V4), want: tcp4 },
  { name: 'IPv6 (229)', link: LinkType.IPV6, data: ipv6(17, U, V6), want: udp6 },
  { name: 'BSD NULL AF_INET little-endian', link: LinkType.NULL, data: nullLoopback(2, ipv4(17, U, V4)), want: udp4 },
  { name: 'BSD NULL AF_INET6=30 big-endian', link: LinkType.NULL, data: nullLoopback(30, ipv6(17, U, V6), false), want: udp6 },
  { name: 'BSD NULL AF_INET6=24', link: LinkType.NULL, data: nullLoopback(24, ipv6(6, T, V6)), want: tcp6 },
  { name: 'OpenBSD LOOP (108)', link: 108, data: nullLoopback(2, ipv4(17, U, V4), false), want: udp4 },
  {
    name: 'IPv6 hop-by-hop + routing + destination options',
    link: 1,
    data: ethernet(0x86dd, ipv6(17, U, { ...V6, ext: [{ type: 0 }, { type: 43, body: Buffer.from('000000000000', 'hex') }, { type: 60, body: Buffer.alloc(12) }] })),
    want: udp6,
  },
  { name: 'IPv6 atomic fragment', link: 1, data: ethernet(0x86dd, ipv6(17, U, { ...V6, frag: { offset: 0, more: false, id: 9 } })), want: udp6 },
  { name: 'IP-in-IP (4)', link: 1, data: ethernet(0x0800, ipv4(4, ipv4(6, T, V4), OUTER)), want: tcp4 },
  { name: '6in4 (41)', link: 1, data: ethernet(0x0800, ipv4(41, ipv6(17, U, V6), OUTER)), want: udp6 },
  { name: '4in6 (4 in IPv6)', link: 1, data: ethernet(0x86dd, ipv6(4, ipv4(17, U, V4), { src: 'fd00::1', dst: 'fd00::2' })), want: udp4 },
  { name: 'GRE / IPv4 with checksum, key, sequence', link: 1, data: ethernet(0x0800, ipv4(47, gre(0x0800, ipv4(17, U, V4), { checksum: true, key: 7, seq: 1 }), OUTER)), want: udp4 },
  { name: 'GRE / IPv6', link: 1, data: ethernet(0x0800, ipv4(47, gre(0x86dd, ipv6(6, T, V6)), OUTER)), want: tcp6 },
  {
    name: 'GRE transparent Ethernet bridging (0x6558) with key',
    link: 1,
    data: ethernet(0x0800, ipv4(47, gre(0x6558, ethernet(0x0800, ipv4(17, U, V4), [{ tpid: 0x8100, id: 42 }]), { key: 0 }), OUTER)),
    want: { ...udp4, vlan: 42 },
  },
  {
    name: 'ERSPAN type II (0x88be)',
    link: 1,
    data: ethernet(0x0800, ipv4(47, gre(0x88be, erspan2(ethernet(0x0800, ipv4(6, T, V4))), { seq: 5 }), OUTER)),
    want: tcp4,
  },
  {
    name: 'ERSPAN type III (0x22eb) with platform subheader',
    link: 1,
    data: ethernet(0x0800, ipv4(47, gre(0x22eb, erspan3(ethernet(0x0800, ipv4(17, U, V4)), true), { seq: 6 }), OUTER)),
    want: udp4,
  },
  {
    name: 'ERSPAN type III without subheader, inner VLAN',
    link: 1,
    data: ethernet(0x0800, ipv4(47, gre(0x22eb, erspan3(ethernet(0x86dd, ipv6(17, U, V6), [{ tpid: 0x8100, id: 9 }])), { seq: 7 }), OUTER)),
    want: { ...udp6, vlan: 9 },
  },
  {
    name: 'ERSPAN type I (0x88be, no sequence number, no header)',
    link: 1,
    data: ethernet(0x0800, ipv4(47, gre(0x88be, ethernet(0x0800, ipv4(17, U, V4))), OUTER)),
    want: udp4,
  },
  {
    name: 'MPLS two labels',
    link: 1,
    data: ethernet(0x8847, Buffer.concat([Buffer.from('00010040', 'hex'), Buffer.from('00020140', 'hex'), ipv4(17, U, V4)])),
    want: udp4,
  },
  {
    name: 'PPPoE session',
    link: 1,
    data: ethernet(0x8864, Buffer.concat([Buffer.from('11000001', 'hex'), Buffer.from([0, U.length + 22]), Buffer.from('0021', 'hex'), ipv4(17, U, V4)])),
    want: udp4,
  },
];

/** Frames that must be skipped, with the reason. */
const BAD: Array<{ name: string; link: number; data: Buffer; origLen?: number; want: SkipReason }> = [
  { name: 'ARP', link: 1, data: ethernet(0x0806, Buffer.alloc(28)), want: 'unsupported-l3' },
  { name: '802.3 / LLC (STP)', link: 1, data: Buffer.concat([ETH_UDP.subarray(0, 12), Buffer.from('0026424203000000', 'hex'), Buffer.alloc(30)]), want: 'unsupported-l3' },
  { name: 'ICMP', link: 1, data: ethernet(0x0800, ipv4(1, Buffer.alloc(8), V4)), want: 'unsupported-l4' },
  { name: 'ESP in IPv6', link: 1, data: ethernet(0x86dd, ipv6(50, Buffer.alloc(16), V6)), want: 'unsupported-l4' },
  { name: 'unknown link type', link: 147, data: ETH_UDP, want: 'unsupported-link' },
  { name: 'runt Ethernet', link: 1, data: ETH_UDP.subarray(0, 10), want: 'truncated' },
  { name: 'IPv4 IHL 4', link: 101, data: Buffer.concat([Buffer.from([0x44]), ipv4(17, U, V4).subarray(1)]), want: 'bad-ip-header' },
  { name: 'IPv4 total length beyond the frame', link: 101, data: ipv4(17, U, V4).subarray(0, 30), want: 'bad-ip-header' },
  { name: 'IPv4 cut by the snaplen', link: 101, data: ipv4(17, U, V4).subarray(0, 30), origLen: 20 + U.length, want: 'truncated' },
  { name: 'UDP length 4', link: 101, data: ((): Buffer => { const b = ipv4(17, U, V4); b.writeUInt16BE(4, 24); return b; })(), want: 'bad-udp-header' },
  { name: 'UDP length beyond the datagram', link: 101, data: ((): Buffer => { const b = ipv4(17, U, V4); b.writeUInt16BE(999, 24); return b; })(), want: 'bad-udp-header' },
  { name: 'TCP data offset 3', link: 101, data: ((): Buffer => { const b = ipv4(6, T, V4); b[32] = 0x30; return b; })(), want: 'bad-tcp-header' },
  { name: 'GRE version 1 (PPTP)', link: 101, data: ipv4(47, Buffer.from('3001880b00000000', 'hex'), OUTER), want: 'unsupported-l4' },
  { name: 'IPv6 no next header', link: 101, data: ipv6(59, Buffer.alloc(0), V6), want: 'unsupported-l4' },
];

function frame(link: number, data: Buffer, frameNo = 1, ts = 1_700_000_000_000_000, origLen = data.length): RawFrame {
  return { ts, linkType: link, data, origLen, interfaceId: 0, frameNo };
}

function check(r: TransportPacket | SkipReason, w: Want, name: string): TransportPacket {
  assert.ok(!isSkipReason(r), `${name}: skipped as ${String(r)}`);
  const p = r as TransportPacket;
  assert.deepEqual(
    { proto: p.proto, v: p.ipVersion, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, vlan: p.vlan },
    { vlan: undefined, ...w },
    name,
  );
  return p;
}

describe('decode: link types, IP, tunnels', () => {
  for (const c of GOOD) {
    it(c.name, () => {
      const p = check(new PacketDecoder().decode(frame(c.link, c.data)), c.want, c.name);
      assert.ok(p.payload.equals(SIP), 'payload');
      if (p.proto === 'tcp') assert.deepEqual(p.tcp, { seq: 1000, ack: 2000, flags: TcpFlags.PSH | TcpFlags.ACK });
      else assert.equal(p.tcp, undefined);
    });
  }
  for (const c of BAD) {
    it(`skips ${c.name} as ${c.want}`, () => {
      assert.equal(new PacketDecoder().decode(frame(c.link, c.data, 1, 0, c.origLen ?? c.data.length)), c.want);
    });
  }

  it('agrees with tshark on every encapsulation (one pcapng, one interface per link type)', function () {
    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: tshark comparison skipped');
      this.skip();
    }
    const links = [...new Set(GOOD.map((c) => c.link))];
    const b = new PcapngBuilder().section();
    for (const l of links) b.interface(l);
    GOOD.forEach((c, i) => b.epb(links.indexOf(c.link), { ts: 1_700_000_000_000_000 + i, data: c.data }));
    const file = path.join(os.tmpdir(), `tapline-decode-${process.pid}.pcapng`);
    fs.writeFileSync(file, b.build());
    try {
      const rows = tsharkFields(file, ['ip.src', 'ipv6.src', 'udp.srcport', 'tcp.srcport', 'ip.dst', 'ipv6.dst', 'udp.dstport', 'tcp.dstport', 'vlan.id']);
      const dec = new PacketDecoder();
      const frames: RawFrame[] = [];
      readCaptureBuffer(fs.readFileSync(file), (f) => frames.push(f));
      assert.equal(rows.length, GOOD.length);
      rows.forEach((r, i) => {
        const c = GOOD[i] as Case;
        const p = check(dec.decode(frames[i] as RawFrame), c.want, c.name);
        const [ip4s, ip6s, us, ts, ip4d, ip6d, ud, td, vlan] = r;
        const theirs = {
          src: p.ipVersion === 4 ? ip4s : ip6s,
          dst: p.ipVersion === 4 ? ip4d : ip6d,
          sport: Number(us !== '' ? us : ts),
          dport: Number(ud !== '' ? ud : td),
          vlan: vlan === '' ? undefined : Number(vlan),
        };
        assert.deepEqual({ src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, vlan: p.vlan }, theirs, `${c.name} (tshark row ${r.join(' | ')})`);
      });
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('reuses the `out` object and clears fields of the previous packet', () => {
    const dec = new PacketDecoder();
    const out = {} as TransportPacket;
    const a = dec.decode(frame(1, ethernet(0x0800, ipv4(6, T, V4), [{ tpid: 0x8100, id: 5 }])), out);
    assert.equal(a, out);
    assert.equal(out.vlan, 5);
    const tcpInfo = out.tcp;
    assert.ok(tcpInfo !== undefined);
    dec.decode(frame(1, ethernet(0x0800, ipv4(6, tcp(1, 2, 3, 4, TcpFlags.SYN, Buffer.alloc(0)), V4))), out);
    assert.equal(out.tcp, tcpInfo, 'tcp info object reused');
    assert.deepEqual(out.tcp, { seq: 3, ack: 4, flags: TcpFlags.SYN });
    dec.decode(frame(1, ETH_UDP), out);
    assert.equal(out.tcp, undefined);
    assert.equal(out.vlan, undefined);
    assert.equal(out.proto, 'udp');
  });

  it('never throws on truncated or corrupted frames', () => {
    const dec = new PacketDecoder();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let decoded = 0;
    for (const c of GOOD) {
      for (let len = 0; len <= c.data.length; len++) dec.decode(frame(c.link, c.data.subarray(0, len)));
      for (let k = 0; k < 300; k++) {
        const d = Buffer.from(c.data);
        for (let j = 0; j < 1 + rnd(4); j++) d[rnd(d.length)] = rnd(256);
        if (!isSkipReason(dec.decode(frame(c.link, d)))) decoded++;
      }
    }
    assert.ok(decoded > 0);
  });

  it('formats IPv6 addresses as RFC 5952 text', () => {
    const cases: Array<[string, string]> = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
      ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
      ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
      ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
      ['2001:0db8:0001:0002:0003:0004:0005:0006', '2001:db8:1:2:3:4:5:6'],
      ['2001:0db8:0000:0002:0003:0004:0005:0006', '2001:db8:0:2:3:4:5:6'],
      ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:192.0.2.1'],
    ];
    for (const [full, text] of cases) assert.equal(formatIpv6(ipv6Bytes(full.replace(/(^|:)0+(?=[0-9a-f])/g, '$1')), 0), text);
  });
});

describe('decode: IP fragment reassembly', () => {
  const big = Buffer.alloc(3000);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  const bigUdp = udp(5060, 5062, big);

  it('reassembles IPv4 fragments arriving out of order and duplicated, at the completing frame', () => {
    const frags = ipv4Fragments(17, bigUdp, { ...V4, id: 0x1234 }, 1480).map((f) => ethernet(0x0800, f));
    assert.equal(frags.length, 3);
    const order = [2, 0, 0, 1];
    const dec = new PacketDecoder();
    const res = order.map((k, i) => dec.decode(frame(1, frags[k] as Buffer, i + 1)));
    assert.deepEqual(res.slice(0, 3), ['fragment-pending', 'fragment-pending', 'fragment-pending']);
    const p = check(res[3] as TransportPacket, { ...udp4, dport: 5062 }, 'reassembled');
    assert.equal(p.frameNo, 4);
    assert.ok(p.payload.equals(big));
    assert.equal(dec.reassembler?.size, 0);
  });

  it('reassembles IPv4 fragments of a TCP segment inside an IP-in-IP tunnel', () => {
    const seg = tcp(5061, 40000, 1000, 2000, TcpFlags.ACK, big);
    const frags = ipv4Fragments(6, seg, { ...V4, id: 77 }, 1024).map((f) => ethernet(0x0800, ipv4(4, f, OUTER)));
    const dec = new PacketDecoder();
    const res = frags.map((f, i) => dec.decode(frame(1, f, i + 1)));
    const p = check(res[res.length - 1] as TransportPacket, { ...tcp4 }, 'tunnelled');
    assert.ok(p.payload.equals(big));
  });

  it('reassembles IPv6 fragments with extension headers before and after the fragment header', () => {
    const destOpts = Buffer.from('1100000000000000', 'hex'); // next header UDP, 8 bytes
    const fragmentable = Buffer.concat([destOpts, udp(5060, 5080, big)]);
    const frags = ipv6Fragments(60, fragmentable, { ...V6, ext: [{ type: 0 }] }, 1232, 0xabcdef).map((f) => sll(0x86dd, f));
    const dec = new PacketDecoder();
    const res = [...frags].reverse().map((f, i) => dec.decode(frame(LinkType.LINUX_SLL, f, i + 1)));
    const p = check(res[res.length - 1] as TransportPacket, udp6, 'ipv6 reassembled');
    assert.ok(p.payload.equals(big));
    assert.ok(res.slice(0, -1).every((r) => r === 'fragment-pending'));
  });

  it('keeps fragments with different ids apart', () => {
    const a = ipv4Fragments(17, bigUdp, { ...V4, id: 1 }, 1480).map((f) => ethernet(0x0800, f));
    const b = ipv4Fragments(17, udp(1, 2, big), { ...V4, id: 2 }, 1480).map((f) => ethernet(0x0800, f));
    const dec = new PacketDecoder();
    const out: Array<TransportPacket | SkipReason> = [];
    for (let i = 0; i < 3; i++) out.push(dec.decode(frame(1, a[i] as Buffer)), dec.decode(frame(1, b[i] as Buffer)));
    const done = out.filter((r): r is TransportPacket => !isSkipReason(r));
    assert.deepEqual(done.map((p) => p.sport), [5060, 1]);
  });

  it('expires incomplete datagrams by capture time', () => {
    const frags = ipv4Fragments(17, bigUdp, V4, 1480).map((f) => ethernet(0x0800, f));
    const dec = new PacketDecoder({ fragmentTimeoutSec: 30 });
    const t0 = 1_700_000_000_000_000;
    assert.equal(dec.decode(frame(1, frags[0] as Buffer, 1, t0)), 'fragment-pending');
    assert.equal(dec.decode(frame(1, frags[1] as Buffer, 2, t0 + 31e6)), 'fragment-pending');
    assert.equal(dec.reassembler?.stats.expired, 1);
    // The remaining two cannot complete without the expired first one.
    assert.equal(dec.decode(frame(1, frags[2] as Buffer, 3, t0 + 32e6)), 'fragment-pending');
  });

  it('completes datagrams at the same frames as tshark', function () {
    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: tshark comparison skipped');
      this.skip();
    }
    const v4 = ipv4Fragments(17, bigUdp, { ...V4, id: 0x1234 }, 1480).map((f) => ethernet(0x0800, f));
    const v6 = ipv6Fragments(17, udp(5060, 5080, big), V6, 1232, 99).map((f) => ethernet(0x86dd, f));
    const other = ipv4Fragments(17, udp(7, 8, big), { ...V4, id: 0x1235 }, 1024).map((f) => ethernet(0x0800, f));
    const seq = [v4[1], other[0], v6[2], v4[2], v4[2], v6[0], ETH_UDP, other[2], v4[0], v6[1], other[1]] as Buffer[];
    const b = new PcapngBuilder().section().interface(1);
    seq.forEach((d, i) => b.epb(0, { ts: 1_700_000_000_000_000 + i * 1000, data: d }));
    const file = path.join(os.tmpdir(), `tapline-frag-${process.pid}.pcapng`);
    fs.writeFileSync(file, b.build());
    try {
      const theirs = tsharkFields(file, ['udp.srcport']).map((r) => r[0] ?? '');
      const dec = new PacketDecoder();
      const ours: string[] = [];
      readCaptureBuffer(fs.readFileSync(file), (f) => {
        const r = dec.decode(f);
        ours.push(isSkipReason(r) ? '' : String(r.sport));
      });
      assert.deepEqual(ours, theirs);
      assert.equal(ours.filter((x) => x !== '').length, 4);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('decodeFrame (stateless) reports fragments as fragment-pending and decodes the rest', () => {
    const frags = ipv4Fragments(17, bigUdp, V4, 1480).map((f) => ethernet(0x0800, f));
    for (const f of frags) assert.equal(decodeFrame(frame(1, f)), 'fragment-pending');
    check(decodeFrame(frame(1, ETH_UDP)), udp4, 'stateless');
  });
});
