/**
 * Reading what a HEP sender (Kamailio's siptrace) put on the wire, for the peer tests: a minimal HEPv3 chunk
 * walker (to look at capture id, time and addresses), HEP-over-TCP framing, and sngrep as the independent decoder.
 *
 * Debian 12's tshark (Wireshark 4.0) has no HEP dissector, so sngrep 1.6 (`-E`: EEP/HEP parsing) decodes: it reads
 * a pcap of HEP datagrams and writes the SIP inside them as packets with the original addresses and times, which
 * tshark then decodes as SIP. Found by trying: sngrep writes each message twice (dropped here), and it does not
 * parse HEP carried over TCP — for that, the frames are cut from the TCP stream by their length field and written
 * as UDP datagrams into a pcap for sngrep (sngrep still decodes every chunk; only the framing is ours).
 */
import { spawnSync } from 'node:child_process';
import { PcapWriter } from '../../core/net/pcap-writer';
import { tshark } from '../tshark';
import { onPath } from './proc';

export interface HepChunkView {
  /** Address family (2 = IPv4, 10 = IPv6) and IP protocol of the original packet (17 UDP, 6 TCP). */
  family: number;
  ipProto: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  /** Capture time the sender wrote (chunks 9 and 10). */
  timeSec: number;
  timeUsec: number;
  /** Payload type (chunk 11): 1 = SIP. */
  protoType: number;
  captureId: number;
  authKey?: string;
  correlationId?: string;
  nodeName?: string;
  payload: Buffer;
  /** Chunk types present, in order. */
  chunks: number[];
}

function ip(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const parts: string[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
}

/** One HEPv3 packet's generic chunks, or a reason it is not one. */
export function readHep3(buf: Buffer): HepChunkView | string {
  if (buf.length < 6 || buf.toString('latin1', 0, 4) !== 'HEP3') return 'no HEP3 magic';
  const total = buf.readUInt16BE(4);
  if (total !== buf.length) return `length field ${total}, packet ${buf.length}`;
  const c = new Map<number, Buffer>();
  const order: number[] = [];
  for (let o = 6; o < total; ) {
    if (o + 6 > total) return `chunk header cut at ${o}`;
    const vendor = buf.readUInt16BE(o);
    const type = buf.readUInt16BE(o + 2);
    const len = buf.readUInt16BE(o + 4);
    if (len < 6 || o + len > total) return `chunk ${vendor}/${type} length ${len} at ${o}`;
    if (vendor === 0) {
      c.set(type, buf.subarray(o + 6, o + len));
      order.push(type);
    }
    o += len;
  }
  const u = (t: number): number => {
    const b = c.get(t);
    if (b === undefined) return NaN;
    return b.length === 1 ? b.readUInt8(0) : b.length === 2 ? b.readUInt16BE(0) : b.length === 4 ? b.readUInt32BE(0) : NaN;
  };
  const text = (t: number): string | undefined => c.get(t)?.toString('utf8');
  const v: HepChunkView = {
    family: u(1),
    ipProto: u(2),
    src: ip(c.get(3) ?? c.get(5) ?? Buffer.alloc(0)),
    srcPort: u(7),
    dst: ip(c.get(4) ?? c.get(6) ?? Buffer.alloc(0)),
    dstPort: u(8),
    timeSec: u(9),
    timeUsec: u(10),
    protoType: u(11),
    captureId: u(12),
    payload: c.get(15) ?? Buffer.alloc(0),
    chunks: order,
  };
  const key = text(14);
  if (key !== undefined) v.authKey = key;
  const cid = text(17);
  if (cid !== undefined) v.correlationId = cid;
  const node = text(19);
  if (node !== undefined) v.nodeName = node;
  return v;
}

/** HEPv3 frames back to back on a TCP stream, cut by their length field; `rest` is an unfinished frame. */
export function splitHepStream(stream: Buffer): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let o = 0;
  while (o + 6 <= stream.length && stream.toString('latin1', o, o + 4) === 'HEP3') {
    const n = stream.readUInt16BE(o + 4);
    if (n < 6 || o + n > stream.length) break;
    frames.push(stream.subarray(o, o + n));
    o += n;
  }
  return { frames, rest: stream.subarray(o) };
}

/** The first line of each SIP message in a stream of messages back to back, framed by Content-Length. */
export function splitSipStream(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o < stream.length) {
    const end = stream.indexOf('\r\n\r\n', o, 'latin1');
    if (end < 0) break;
    const head = stream.toString('latin1', o, end);
    const m = /^(?:Content-Length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
    const bodyLen = m === null ? 0 : Number(m[1]);
    const next = end + 4 + bodyLen;
    if (next > stream.length) break;
    out.push(stream.subarray(o, next));
    o = next;
  }
  return out;
}

export function sngrepUnavailable(): string | undefined {
  return onPath('sngrep') ? undefined : 'not installed: sngrep (Debian package sngrep: the HEP decoder the tests compare against)';
}

/** A SIP message as sngrep + tshark decoded it from HEP. */
export interface DecodedSip {
  time: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  /** Request line or status line. */
  firstLine: string;
  callId: string;
}

/**
 * Decodes a pcap holding HEP datagrams (and nothing else) with sngrep into `outPcap`, then reads the SIP in it with
 * tshark. sngrep's duplicates (every message twice, same time) are dropped.
 */
export function sngrepDecodeHep(hepPcap: string, outPcap: string): DecodedSip[] {
  const r = spawnSync('sngrep', ['-I', hepPcap, '-E', '-N', '-q', '-O', outPcap], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`sngrep failed on ${hepPcap}: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
  const out = tshark(outPcap, ['-Y', 'sip', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'sip.Request-Line', '-e', 'sip.Status-Line', '-e', 'sip.Call-ID']);
  const seen = new Set<string>();
  const rows: DecodedSip[] = [];
  for (const line of out.split('\n')) {
    if (line.trim() === '' || seen.has(line)) continue;
    seen.add(line);
    const [t, src, sport, dst, dport, req, status, callId] = line.split('\t');
    rows.push({ time: Number(t), src: src ?? '', srcPort: Number(sport), dst: dst ?? '', dstPort: Number(dport), firstLine: req || status || '', callId: callId ?? '' });
  }
  return rows;
}

/** IPv4 + UDP around a payload (checksum 0: "none", valid for UDP over IPv4). */
function udpFrame(src: [number, number, number, number], sport: number, dst: [number, number, number, number], dport: number, payload: Buffer): Buffer {
  const ipHdr = Buffer.alloc(20);
  ipHdr[0] = 0x45;
  ipHdr.writeUInt16BE(20 + 8 + payload.length, 2);
  ipHdr[8] = 64;
  ipHdr[9] = 17;
  Buffer.from(src).copy(ipHdr, 12);
  Buffer.from(dst).copy(ipHdr, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ipHdr.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ipHdr.writeUInt16BE(~sum & 0xffff, 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([ipHdr, udp, payload]);
}

/**
 * Writes HEP frames (e.g. cut from a TCP stream) as UDP datagrams 127.0.0.1:40000 → 127.0.0.1:9060, Ethernet
 * framed: sngrep writes its output with the input's link type but Ethernet-framed packets, so a raw-IP input gives
 * an output tshark cannot read.
 */
export async function hepFramesToPcap(frames: readonly Buffer[], file: string): Promise<void> {
  const w = new PcapWriter(file, 1);
  const eth = Buffer.from('0000000000020000000000010800', 'hex');
  let t = Date.now() * 1000;
  for (const f of frames) w.write(t++, Buffer.concat([eth, udpFrame([127, 0, 0, 1], 40000, [127, 0, 0, 1], 9060, f)]));
  await w.close();
}
