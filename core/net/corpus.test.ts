/**
 * Every capture of ../shared/corpus/pcap read and decoded, compared frame by frame with tshark.
 *
 * tshark's `udp || tcp` also matches ICMP errors, which quote the UDP/TCP header of the packet they
 * answer; we do not deliver those as UDP/TCP packets, so they are counted apart and left out.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { corpusPath, describeCorpus, readManifest } from '../../test/corpus';
import { ErrorCodes, isTaplineError } from '../errors';
import { readCapture, readCaptureBuffer } from './capture-reader';
import { isSkipReason, PacketDecoder } from './decode';
import { TcpReassembler } from './tcp-reassembly';
import { epochToUs, haveTshark, tsharkFields, tsharkFollowTcp, tsharkFrameCount } from '../../test/tshark';
import type { TcpStreamChunk, TransportPacket } from './types';

const NETMON = 'pcap/ww_c07-sip-r2.cap';
const FIELDS = [
  'frame.time_epoch',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'udp.srcport',
  'udp.dstport',
  'tcp.srcport',
  'tcp.dstport',
  'icmp.type',
  'icmpv6.type',
];

interface Row {
  file: string;
  frames: number;
  tsharkFrames: number | string;
  l4: number;
  tsharkL4: number | string;
  icmpQuoted: number | string;
}

/** SIP messages framed by Content-Length out of one direction of a stream: their start lines and what is left. */
function frameSip(stream: Buffer): { startLines: string[]; leftover: number } {
  const startLines: string[] = [];
  let pos = 0;
  while (pos < stream.length) {
    while (pos < stream.length && (stream[pos] === 0x0d || stream[pos] === 0x0a)) pos++; // CRLF keep-alives
    if (pos >= stream.length) break;
    const end = stream.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const head = stream.toString('latin1', pos, end);
    startLines.push(head.slice(0, head.indexOf('\r\n') < 0 ? head.length : head.indexOf('\r\n')));
    const cl = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(head);
    pos = end + 4 + (cl !== null ? Number(cl[1]) : 0);
  }
  return { startLines, leftover: stream.length - Math.min(pos, stream.length) };
}

describeCorpus('corpus captures against tshark', function () {
  const files = readManifest()
    .map((r) => r.file)
    .filter((f) => f.startsWith('pcap/'));
  const table: Row[] = [];
  let warned = false;
  const tshark = (): boolean => {
    const ok = haveTshark();
    if (!ok && !warned) {
      warned = true;
      console.warn('    [tapline] tshark not installed: frame counts and tuples are not compared with it');
    }
    return ok;
  };

  after(() => {
    if (table.length === 0) return;
    const lines = table.map(
      (r) => `  ${r.file.padEnd(52)} ${`${r.frames}/${r.tsharkFrames}`.padStart(13)} ${`${r.l4}/${r.tsharkL4}`.padStart(13)} ${String(r.icmpQuoted).padStart(6)}`,
    );
    console.log(`\n  ${'file'.padEnd(52)} ${'frames'.padStart(13)} ${'udp+tcp'.padStart(13)} ${'icmp'.padStart(6)}\n${lines.join('\n')}\n`);
  });

  it('lists the Network Monitor capture as an unsupported format, clearly', async () => {
    const file = corpusPath(NETMON);
    await assert.rejects(readCapture(file, () => undefined), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CAPTURE_FORMAT));
      assert.match(e.message, /ww_c07-sip-r2\.cap: Microsoft Network Monitor 2\.x format is not supported; convert with editcap\/tshark/);
      assert.equal(e.details.magic, '0x474d4255');
      return true;
    });
  });

  for (const rel of files) {
    if (rel === NETMON) continue;
    it(`${rel}: frames, timestamps and UDP/TCP packets as tshark sees them`, async () => {
      const file = corpusPath(rel);
      const dec = new PacketDecoder();
      const ours: Array<{ ts: number; p: TransportPacket | string }> = [];
      const res = await readCapture(file, (f) => {
        const r = dec.decode(f);
        ours.push({ ts: f.ts, p: isSkipReason(r) ? r : r });
      });
      assert.equal(res.warning, undefined);
      assert.equal(res.bytes, fs.statSync(file).size);
      const l4 = ours.filter((o) => typeof o.p !== 'string').length;
      const row: Row = { file: rel, frames: res.frames, tsharkFrames: '-', l4, tsharkL4: '-', icmpQuoted: '-' };
      table.push(row);
      if (!tshark()) return;
      const rows = tsharkFields(file, FIELDS);
      row.tsharkFrames = rows.length;
      assert.equal(res.frames, rows.length, 'frame count');
      let theirL4 = 0;
      let icmpQuoted = 0;
      rows.forEach((r, i) => {
        const [time = '', ip4s, ip4d, ip6s, ip6d, us, ud, ts, td, icmp, icmp6] = r;
        const o = ours[i] as { ts: number; p: TransportPacket | string };
        const frameNo = i + 1;
        assert.ok(Math.abs(epochToUs(time) - o.ts) < 0.5, `frame ${frameNo}: ts ${o.ts} vs tshark ${time}`);
        const hasL4 = us !== '' || ts !== '';
        if (hasL4) theirL4++;
        if (hasL4 && (icmp !== '' || icmp6 !== '')) {
          icmpQuoted++;
          assert.equal(o.p, 'unsupported-l4', `frame ${frameNo}: ICMP quoting a header`);
          return;
        }
        if (!hasL4) {
          assert.ok(typeof o.p === 'string', `frame ${frameNo}: tshark sees no UDP/TCP, we decoded ${JSON.stringify(o.p)}`);
          return;
        }
        assert.ok(typeof o.p !== 'string', `frame ${frameNo}: tshark sees UDP/TCP, we skipped it as ${String(o.p)}`);
        const p = o.p;
        const want = {
          proto: us !== '' ? 'udp' : 'tcp',
          src: p.ipVersion === 4 ? ip4s : ip6s,
          dst: p.ipVersion === 4 ? ip4d : ip6d,
          sport: Number(us !== '' ? us : ts),
          dport: Number(ud !== '' ? ud : td),
        };
        assert.deepEqual({ proto: p.proto, src: p.src, dst: p.dst, sport: p.sport, dport: p.dport }, want, `frame ${frameNo}`);
      });
      row.tsharkL4 = theirL4;
      row.icmpQuoted = icmpQuoted;
      assert.equal(l4, theirL4 - icmpQuoted, 'UDP/TCP packets (tshark udp || tcp, less ICMP-quoted headers)');
    });
  }

  it('heplify_sip_ipv4_tcp_fragmented.pcap: TCP 6060 streams reassemble to tshark\'s bytes and hold all 406 SIP messages', () => {
    const file = corpusPath('pcap/heplify_sip_ipv4_tcp_fragmented.pcap');
    const dec = new PacketDecoder();
    const tcp = new TcpReassembler();
    const streams = new Map<string, Buffer[]>();
    const onChunk = (c: TcpStreamChunk): void => {
      assert.equal(c.gapBefore, undefined, `gap in ${c.flow}`);
      const list = streams.get(c.flow) ?? [];
      list.push(c.data);
      streams.set(c.flow, list);
    };
    readCaptureBuffer(fs.readFileSync(file), (f) => {
      const p = dec.decode(f);
      if (!isSkipReason(p) && p.proto === 'tcp') tcp.push(p, onChunk);
    });
    tcp.flush(onChunk);
    assert.equal(tcp.stats.gaps, 0);
    let messages = 0;
    for (const [flow, parts] of streams) {
      assert.match(flow, /:6060>|>.*:6060$/);
      const { startLines, leftover } = frameSip(Buffer.concat(parts));
      assert.equal(leftover, 0, `${flow}: bytes left after the last message`);
      for (const l of startLines) assert.match(l, /^(?:[A-Z]+ \S+ SIP\/2\.0|SIP\/2\.0 \d{3} )/, `${flow}: start line`);
      messages += startLines.length;
    }
    assert.equal(streams.size, 8);
    assert.equal(messages, 406);
    if (!tshark()) return;
    for (let i = 0; i < 4; i++) {
      const t = tsharkFollowTcp(file, i);
      const fwd = Buffer.concat(streams.get(`${t.node0}>${t.node1}`) ?? []);
      const rev = Buffer.concat(streams.get(`${t.node1}>${t.node0}`) ?? []);
      assert.ok(fwd.equals(t.fwd), `stream ${i} ${t.node0}>${t.node1}: ${fwd.length} vs tshark ${t.fwd.length} bytes`);
      assert.ok(rev.equals(t.rev), `stream ${i} ${t.node1}>${t.node0}: ${rev.length} vs tshark ${t.rev.length} bytes`);
    }
  });

  describe('damaged copies of corpus captures', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-corpus-'));
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it('a truncated pcap: the frames before the cut, a warning, and the count tshark reads', async () => {
      const src = fs.readFileSync(corpusPath('pcap/ww_aaa.pcap'));
      for (const keep of [src.length - 1, src.length - 100, Math.floor(src.length / 2), 24 + 16 + 5]) {
        const file = path.join(tmp, `aaa-${keep}.pcap`);
        fs.writeFileSync(file, src.subarray(0, keep));
        const res = await readCapture(file, () => undefined);
        assert.match(res.warning ?? '', /^truncated at byte \d+ \(record \d+\)$/);
        const m = /record (\d+)/.exec(res.warning ?? '');
        assert.equal(res.frames, Number(m?.[1]) - 1);
        if (haveTshark()) assert.equal(res.frames, tsharkFrameCount(file), 'tshark reads as many frames');
      }
    });

    it('a pcapng with a corrupt block length: the frames before it and a warning naming the offset', async () => {
      const src = fs.readFileSync(corpusPath('pcap/heplify_erspan_sip_ipv4_udp.pcapng'));
      // Walk to the 51st block (SHB, IDB, then EPBs) and break its length.
      let off = 0;
      for (let i = 0; i < 50; i++) off += src.readUInt32LE(off + 4);
      const bad = Buffer.from(src);
      bad.writeUInt32LE(src.readUInt32LE(off + 4) + 8, off + 4);
      const file = path.join(tmp, 'erspan-corrupt.pcapng');
      fs.writeFileSync(file, bad);
      const res = await readCapture(file, () => undefined);
      assert.equal(res.frames, 48);
      assert.match(res.warning ?? '', new RegExp(`^corrupt pcapng block at byte ${off} \\(record 51\\)`));
      if (haveTshark()) assert.equal(res.frames, tsharkFrameCount(file), 'tshark reads as many frames');
    });

    it('a pcap with an absurd captured length: the frames before it and a warning naming the offset', async () => {
      const src = fs.readFileSync(corpusPath('pcap/ww_sip-rtp-g711.pcap'));
      let off = 24;
      for (let i = 0; i < 100; i++) off += 16 + src.readUInt32LE(off + 8);
      const bad = Buffer.from(src);
      bad.writeUInt32LE(0x00ffffff, off + 8);
      const file = path.join(tmp, 'g711-corrupt.pcap');
      fs.writeFileSync(file, bad);
      const res = await readCapture(file, () => undefined);
      assert.equal(res.frames, 100);
      assert.match(res.warning ?? '', new RegExp(`^corrupt record header at byte ${off} \\(record 101\\)`));
      if (haveTshark()) assert.equal(res.frames, tsharkFrameCount(file), 'tshark reads as many frames');
    });
  });
});
