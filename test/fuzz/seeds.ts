/**
 * Seed inputs for the fuzz targets (test/fuzz/targets.ts). Every target has built-in seeds, made with the
 * project's own builders (packet-builder, the generator's SIP/SDP/TURN writers, the HEP and TFWD encoders), so the
 * harness runs in a fresh clone; when ../shared/corpus is there, real captures and torture messages are added.
 * Everything is computed once and cached.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCaptureBuffer } from '../../core/net/capture-reader';
import { isSkipReason, PacketDecoder } from '../../core/net/decode';
import { encodeHep3, encodeHepV2 } from '../../core/net/hep-encode';
import * as pb from '../../core/net/packet-builder';
import { PcapngWriter, PcapWriter } from '../../core/net/pcap-writer';
import { TfwdEncoder, TfwdKey } from '../../core/net/tfwd';
import { LinkType, type RawFrame } from '../../core/net/types';
import { encodeVxlan } from '../../plugins/source-forwarded/vxlan';
import { encodeTzsp, tzspOriginalLength } from '../../plugins/source-forwarded/tzsp';
import { tcpFrame, udpFrames, TcpFlag } from '../../plugins/source-generator/net-frames';
import { lyncOfferBody, lyncSingleSdp, plainSdp, type LyncSdpParams } from '../../plugins/source-generator/sdp-builder';
import * as tw from '../../plugins/source-generator/turn-wire';
import { SrtpProtector } from '../../plugins/source-generator/srtp-protect';
import { corpusDir, corpusPath, haveCorpus } from '../corpus';
import { mcuChat, oneToOne } from '../im-sessions';
import { request, response, sdp as simpleSdp } from '../sip-text';

const CRLF = '\r\n';

function cached<T>(make: () => T): () => T {
  let v: T | undefined;
  let done = false;
  return () => {
    if (!done) {
      v = make();
      done = true;
    }
    return v as T;
  };
}

// ---- corpus -------------------------------------------------------------------------------------------------

/** Captures whose first 64 KiB seed the capture target: pcap (both byte orders), pcapng, tunnels, fragments, TCP. */
const CAPTURE_SEED_FILES = [
  'pcap/heplify_erspan_sip_ipv4_udp.pcapng',
  'pcap/heplify_sip_ipv4_tcp.pcap',
  'pcap/heplify_sip_ipv4_tcp_fragmented.pcap',
  'pcap/heplify_sip_ipv6_udp.pcap',
  'pcap/heplify_sip_tcp_websocket.pcap',
  'pcap/sngrep_ipip.pcap',
  'pcap/sngrep_ipv6frag.pcap',
  'pcap/sipp_dtmf_2833_1.pcap',
  'pcap/ww_SIP_DTMF2.cap',
  'pcap/ww_c07-sip-r2.cap',
  'pcap/ndpi_teams.pcap',
  'pcap/srtpdecoder_WebRTC_OPUS_Turn_SDES_Call_1.pcap',
  'pcap/ww_sip-rtp-opus-hybrid.pcap',
];

/** Captures scanned for SIP, RTP, STUN/TURN and WebSocket payloads. */
const PAYLOAD_SCAN_FILES = [
  'pcap/ww_aaa.pcap',
  'pcap/ww_DTMFsipinfo.pcap',
  'pcap/ww_nb6-telephone.pcap',
  'pcap/heplify_sip_ipv6_udp.pcap',
  'pcap/heplify_sip_ipv4_tcp.pcap',
  'pcap/heplify_sip_tcp_websocket.pcap',
  'pcap/heplify_erspan_sip_ipv4_udp.pcapng',
  'pcap/ndpi_teams.pcap',
  'pcap/ndpi_skype-conference-call.pcap',
  'pcap/srtpdecoder_WebRTC_OPUS_Turn_SDES_Call_1.pcap',
  'pcap/sngrep_ipv6frag.pcap',
  'pcap/ww_sip-rtp-opus-hybrid.pcap',
];

export interface CorpusPayloads {
  sipUdp: Buffer[];
  /** In-order TCP bytes of flows that carry SIP (first 16 KiB of each). */
  sipTcp: Buffer[];
  /** Client→server bytes of WebSocket flows (handshake + frames). */
  websocket: Buffer[];
  rtp: Buffer[];
  stun: Buffer[];
  /** Groups of consecutive raw frames (link type + bytes) for the decoder target. */
  frames: RawFrame[][];
}

const SIP_START = /^(?:[A-Z]{3,12} \S+ SIP\/2\.0\r?\n|SIP\/2\.0 \d{3})/;

function distinctPush(list: Buffer[], seen: Set<string>, b: Buffer, max: number, key = b.toString('latin1', 0, 64) + b.length): void {
  if (list.length >= max || seen.has(key)) return;
  seen.add(key);
  list.push(Buffer.from(b));
}

export const corpusPayloads = cached((): CorpusPayloads => {
  const out: CorpusPayloads = { sipUdp: [], sipTcp: [], websocket: [], rtp: [], stun: [], frames: [] };
  if (!haveCorpus) return out;
  const seen = new Set<string>();
  const rtpPts = new Map<string, number>();
  for (const rel of PAYLOAD_SCAN_FILES) {
    const file = corpusPath(rel);
    if (!fs.existsSync(file)) continue;
    const dec = new PacketDecoder();
    const tcp = new Map<string, Buffer[]>();
    let group: RawFrame[] = [];
    let groups = 0;
    try {
      readCaptureBuffer(fs.readFileSync(file), (f) => {
        if (groups < 6) {
          group.push({ ...f, data: Buffer.from(f.data) });
          if (group.length === 12) {
            out.frames.push(group);
            group = [];
            groups++;
          }
        }
        const p = dec.decode(f);
        if (isSkipReason(p)) return;
        const d = p.payload;
        if (d.length === 0) return;
        if (p.proto === 'tcp') {
          const key = `${p.src}:${p.sport}>${p.dst}:${p.dport}`;
          const list = tcp.get(key) ?? [];
          if (list.reduce((n, x) => n + x.length, 0) < 16384) list.push(Buffer.from(d));
          tcp.set(key, list);
          return;
        }
        const b0 = d[0] as number;
        if (SIP_START.test(d.toString('latin1', 0, 80))) distinctPush(out.sipUdp, seen, d, 80);
        else if (b0 >> 6 === 2 && d.length >= 12) {
          // A few packets of each payload type and size class.
          const k = `${d[1]! & 0x7f}:${Math.min(4, d.length >> 7)}:${b0 & 0x3f}`;
          const n = rtpPts.get(k) ?? 0;
          if (n < 3) {
            rtpPts.set(k, n + 1);
            out.rtp.push(Buffer.from(d));
          }
        } else if (b0 <= 3 || (b0 >= 0x40 && b0 <= 0x4f) || (b0 === 0xff && d[1] === 0x10)) distinctPush(out.stun, seen, d, 120, `stun:${d.readUInt16BE(0)}:${d.length}`);
      });
    } catch {
      // a corpus file the reader refuses is no seed
    }
    if (group.length > 0) out.frames.push(group);
    for (const list of tcp.values()) {
      const all = Buffer.concat(list);
      const head = all.toString('latin1', 0, 200);
      if (/^GET [^\r\n]* HTTP\/1\.1\r\n/.test(head) && /upgrade:\s*websocket/i.test(head)) out.websocket.push(all);
      else if (/^HTTP\/1\.1 101/.test(head)) out.websocket.push(all);
      else if (SIP_START.test(head)) out.sipTcp.push(all);
      else if (/\r\n(?:Via|v): SIP\/2\.0\//i.test(all.toString('latin1', 0, 4096))) out.sipTcp.push(all);
    }
  }
  return out;
});

/** RFC 4475 and RFC 5118 torture messages. */
export const corpusSipMessages = cached((): Buffer[] => {
  if (!haveCorpus) return [];
  const out: Buffer[] = [];
  for (const dir of ['sip/rfc4475', 'sip/rfc5118']) {
    const abs = corpusPath(dir);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs).sort()) out.push(fs.readFileSync(path.join(abs, f)));
  }
  return out;
});

/** A SIPREC body in the fuzz harness itself (a fresh clone has no corpus): two labelled streams, RFC 7865 metadata. */
export const SIPREC_BUILTIN_BODY = [
  '--b',
  'Content-Type: application/sdp',
  '',
  'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\nm=audio 4002 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=label:2\r\na=sendonly\r\n',
  '--b',
  'Content-Type: application/rs-metadata+xml',
  '',
  '<?xml version="1.0"?><recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode><session session_id="s"/>' +
    '<participant participant_id="a"><nameID aor="sip:a@x"><name>A</name></nameID></participant><participant participant_id="b"><nameID aor="b@y"/></participant>' +
    '<stream stream_id="1" session_id="s"><label>1</label></stream><stream stream_id="2" session_id="s"><label>2</label></stream>' +
    '<participantstreamassoc participant_id="a"><send>1</send><recv>2</recv></participantstreamassoc><participantstreamassoc participant_id="b"><send>2</send></participantstreamassoc></recording>',
  '--b--',
  '',
].join('\r\n');

/** SIPREC multipart bodies, with the Content-Type line a message would carry. */
export const corpusMultipartBodies = cached((): Array<{ contentType: string; body: Buffer }> => {
  if (!haveCorpus) return [];
  const abs = corpusPath('siprec');
  if (!fs.existsSync(abs)) return [];
  const out: Array<{ contentType: string; body: Buffer }> = [];
  for (const f of fs.readdirSync(abs).sort()) {
    if (!f.endsWith('.body')) continue;
    const body = fs.readFileSync(path.join(abs, f));
    const m = /^--(\S+)\r?$/m.exec(body.toString('latin1'));
    if (m === null) continue;
    out.push({ contentType: `multipart/mixed;boundary=${m[1]}`, body });
  }
  return out;
});

export const corpusCaptureHeads = cached((): Buffer[] => {
  if (!haveCorpus) return [];
  const out: Buffer[] = [];
  for (const rel of CAPTURE_SEED_FILES) {
    const file = corpusPath(rel);
    if (!fs.existsSync(file)) continue;
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(64 * 1024);
      const n = fs.readSync(fd, b, 0, b.length, 0);
      out.push(b.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return out;
});

export function corpusNote(): string {
  return haveCorpus ? `corpus seeds from ${corpusDir}` : 'no ../shared/corpus: built-in seeds only';
}

// ---- SIP and SDP ------------------------------------------------------------------------------------------

const LYNC: LyncSdpParams = {
  user: '-',
  sessionId: 1234,
  version: 1,
  ip: '10.0.0.1',
  port: 50000,
  codec: 'PCMU',
  payloadType: 0,
  ptimeMs: 20,
  direction: 'sendrecv',
  ssrc: 0x1234,
  ufrag: 'abcd',
  pwd: 'aaaaaaaaaaaaaaaaaaaaaa',
  cryptoKey: Buffer.alloc(30, 7).toString('base64'),
  srflx: { ip: '198.51.100.1', port: 50001 },
  relay: { ip: '203.0.113.1', port: 50002 },
  ipv6: '2001:db8::1',
  v6User: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  v6Pwd: 'BBBBBBBBBBBBBBBBBBBBBB',
  offer: true,
};

export const builtinSdp = cached((): string[] => [
  simpleSdp('10.0.0.1', 40000),
  simpleSdp('2001:db8::5', 40002, { direction: 'sendonly', pt: 8, codec: 'PCMA/8000', extra: ['a=ptime:20', 'a=rtcp:40003 IN IP4 10.0.0.1', 'a=fmtp:101 0-16', 'a=rtcp-mux', 'b=AS:64'] }),
  plainSdp({ user: 'u', sessionId: 1, version: 2, ip: '10.1.1.1', port: 30000, codec: 'PCMA', payloadType: 8, ptimeMs: 30, direction: 'recvonly', sdesKey: LYNC.cryptoKey }),
  lyncSingleSdp(LYNC),
  [
    'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=session', 'c=IN IP4 239.1.1.1/127/3', 't=0 0', 'a=inactive',
    'm=audio 5004/2 RTP/SAVP 0 96 13', 'a=rtpmap:96 SILK/16000/1', 'a=fmtp:96 useinbandfec=1; usedtx=0',
    'a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:' + LYNC.cryptoKey + '|2^31|1:1 UNENCRYPTED_SRTCP',
    'a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:' + LYNC.cryptoKey + '|2^31|1:1',
    'a=candidate:1 1 UDP 2130706431 10.0.0.1 5004 typ host', 'a=candidate:2 1 TCP-PASS 174455807 198.51.100.9 5006 typ srflx raddr 10.0.0.1 rport 5004',
    'a=x-candidate-ipv6:3 1 UDP 2130706431 2001:db8::1 5008 typ host', 'a=candidate:AAAA 1 BBBB UDP 0.830 10.0.0.1 5004',
    'a=remote-candidates:1 10.0.0.2 6000 2 10.0.0.2 6001', 'a=x-ssrc-range:100-200', 'a=label:main-audio', 'a=maxptime:200',
    'm=video 0 RTP/AVP 34', 'c=IN IP6 ::1', 'a=sendonly', '',
  ].join(CRLF),
]);

function sipWithBody(method: string, contentType: string, body: string, extra: string[] = []): string {
  return request(method, { body, contentType, headers: extra });
}

export const builtinSip = cached((): Buffer[] => {
  const sdps = builtinSdp();
  const multi = lyncOfferBody(LYNC, 'boundary1');
  const nested = lyncOfferBody(LYNC, 'inner_b', { id: 'id1', conversationId: 'conv', from: 'sip:a@x', to: 'sip:b@x', date: '2024-01-01T00:00:00Z', boundary: 'outer_b' });
  const texts = [
    sipWithBody('INVITE', 'application/sdp', sdps[0] as string, ['Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>', 'Route: <sip:[2001:db8::1]:5061;transport=tls>']),
    sipWithBody('INVITE', multi.contentType, multi.body, ['Supported: ms-dialog-route-set-update, timer', 'ms-keep-alive: UAC;hop-hop=yes']),
    sipWithBody('INVITE', nested.contentType, nested.body),
    response(200, 'OK', 'INVITE', { toTag: 'tt', body: sdps[3] as string, contentType: 'application/sdp' }),
    response(183, 'Session Progress', 'INVITE', { toTag: 'tt', body: sdps[1] as string }),
    response(486, 'Busy Here', 'INVITE', { toTag: 'tt', headers: ['Warning: 399 host "x"', 'Retry-After: 3600 (lunch);duration=60'] }),
    request('BYE', { toTag: 'tt', cseq: 2 }),
    request('ACK', { toTag: 'tt', cseq: 1, headers: ['Expires: 3600', 'Date: Sat, 13 Nov 2010 23:29:00 GMT'] }),
    request('CANCEL'),
    sipWithBody('MESSAGE', 'text/plain; charset=UTF-8;msgr=WAAtAE0ATQBTAC0ASQBNAC0ARgBvAHIAbQBhAHQAOgAgAEYATgA9AFMAZQBnAG8AZQAlADIAMABVAEkAOwAgAEUARgA9ADsAIABDAE8APQAwADsAIABDAFMAPQAwADsAIABQAEYAPQAwAA0ACgANAAoA', 'Hello there'),
    sipWithBody('INFO', 'application/xml', '<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>'),
    // compact forms, folding, bare LF, no Content-Length (UDP)
    'OPTIONS sip:x@10.0.0.2 SIP/2.0\nv: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\nf: <sip:a@b>;tag=1\nt: <sip:c@d>\ni: abc\nCSeq: 7 OPTIONS\nm: "A"\n  <sip:a@10.0.0.1>;expires=60\nl: 0\n\n',
    'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK2;received=2001:db8::9;rport\r\nFrom: <sip:u@example.com>;tag=a\r\nTo: <sip:u@example.com>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: *\r\nAuthorization: Digest username="u", realm="r", nonce="n", uri="sip:example.com", response="x"\r\nContent-Length: 0\r\n\r\n',
  ];
  return texts.map((t) => Buffer.from(t, 'utf8'));
});

// ---- capture files ----------------------------------------------------------------------------------------

const SIP_PAYLOAD = (): Buffer => builtinSip()[0] as Buffer;

/** Ethernet frames of a small SIP call: UDP (one datagram fragmented), TCP with SYN/FIN, RTP. */
function callFrames(): Buffer[] {
  const sip = SIP_PAYLOAD();
  const frames: Buffer[] = [];
  frames.push(...udpFrames('10.0.0.1', 5060, '10.0.0.2', 5060, sip, 1));
  frames.push(...udpFrames('10.0.0.1', 5060, '10.0.0.2', 5060, sip, 2, 576)); // IPv4 fragments
  frames.push(tcpFrame('10.0.0.1', 40000, '10.0.0.2', 5060, 1000, 0, TcpFlag.SYN, Buffer.alloc(0), 3));
  frames.push(tcpFrame('10.0.0.1', 40000, '10.0.0.2', 5060, 1001, 1, TcpFlag.ACK | TcpFlag.PSH, sip.subarray(0, 300), 4));
  frames.push(tcpFrame('10.0.0.1', 40000, '10.0.0.2', 5060, 1301, 1, TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN, sip.subarray(300), 5));
  for (let i = 0; i < 3; i++) {
    const rtp = Buffer.alloc(172);
    rtp[0] = 0x80;
    rtp.writeUInt16BE(100 + i, 2);
    rtp.writeUInt32BE(160 * i, 4);
    rtp.writeUInt32BE(0xabcdef, 8);
    frames.push(...udpFrames('10.0.0.1', 40000, '10.0.0.2', 40002, rtp, 10 + i));
  }
  return frames;
}

/** A classic pcap in memory: either byte order, µs or ns, optionally the modified (Kuznetzov) record header. */
function pcapBuffer(frames: readonly Buffer[], le: boolean, magic: number, linkType: number = LinkType.ETHERNET, recordExtra = 0): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const w16 = (b: Buffer, v: number, o: number): number => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  w32(h, magic, 0);
  w16(h, 2, 4);
  w16(h, 4, 6);
  w32(h, 65535, 16);
  w32(h, linkType, 20);
  parts.push(h);
  frames.forEach((f, i) => {
    const r = Buffer.alloc(16 + recordExtra);
    w32(r, 1_700_000_000 + i, 0);
    w32(r, i * 1000, 4);
    w32(r, f.length, 8);
    w32(r, f.length, 12);
    parts.push(r, f);
  });
  return Buffer.concat(parts);
}

let generatedCaptures: Buffer[] = [];

/** Captures written by the project's own writers (PcapWriter, PcapngWriter) plus in-memory variants. */
export async function prepareCaptureSeeds(): Promise<void> {
  if (generatedCaptures.length > 0) return;
  const frames = callFrames();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-fuzz-seeds-'));
  const out: Buffer[] = [];
  try {
    const write = async (file: string, make: (p: string) => { write: (ts: number, f: Buffer) => void; close: () => Promise<void> }): Promise<void> => {
      const p = path.join(dir, file);
      const w = make(p);
      frames.forEach((f, i) => w.write(1_700_000_000_000_000 + i * 20_000, f));
      await w.close();
      out.push(fs.readFileSync(p));
    };
    await write('a.pcap', (p) => new PcapWriter(p));
    await write('b.pcap', (p) => new PcapWriter(p, 1, { nanosecond: true }));
    await write('c.pcapng', (p) => new PcapngWriter(p, [{ linkType: 1 }, { linkType: 101, nanosecond: true }]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.push(pcapBuffer(frames, false, 0xa1b2c3d4));
  out.push(pcapBuffer(frames, true, 0xa1b2cd34, LinkType.ETHERNET, 8));
  out.push(pcapBuffer(frames.map((f) => f.subarray(14)), true, 0xa1b2c3d4, LinkType.RAW));
  out.push(pcapBuffer(frames.map((f) => pb.sll(0x0800, f.subarray(14))), true, 0xa1b23c4d, LinkType.LINUX_SLL));
  generatedCaptures = out;
}

export function generatedCaptureSeeds(): Buffer[] {
  return generatedCaptures;
}

// ---- frames for the decoder --------------------------------------------------------------------------------

/** Link types the decoder target feeds, by the index byte of each record. */
export const DECODE_LINK_TYPES = [LinkType.ETHERNET, LinkType.RAW, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, 108, LinkType.IPV4, LinkType.IPV6, 147] as const;

/** The decoder target's input: records of linkType index (1 byte), length (2 bytes BE), frame bytes. */
export function frameRecords(frames: ReadonlyArray<{ linkType: number; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const idx = DECODE_LINK_TYPES.indexOf(f.linkType as (typeof DECODE_LINK_TYPES)[number]);
    const h = Buffer.alloc(3);
    h[0] = idx < 0 ? 0 : idx;
    h.writeUInt16BE(Math.min(0xffff, f.data.length), 1);
    parts.push(h, f.data.subarray(0, 0xffff));
  }
  return Buffer.concat(parts);
}

export const builtinFrameGroups = cached((): Array<Array<{ linkType: number; data: Buffer }>> => {
  const E = LinkType.ETHERNET;
  const v4 = { src: '10.0.0.1', dst: '10.0.0.2' };
  const v6 = { src: '2001:db8::1', dst: '2001:db8::2' };
  const payload = Buffer.from(SIP_PAYLOAD().subarray(0, 900));
  const u = pb.udp(5060, 5060, payload);
  const t = pb.tcp(40000, 5060, 1, 0, pb.TcpFlags.ACK, payload, Buffer.alloc(12, 1));
  const ip4u = pb.ipv4(17, u, v4);
  const ip6u = pb.ipv6(17, u, { ...v6, ext: [{ type: 0 }, { type: 60, body: Buffer.alloc(6) }] });
  const eth = (type: number, p: Buffer, vlans: pb.VlanTag[] = []): { linkType: number; data: Buffer } => ({ linkType: E, data: pb.ethernet(type, p, vlans) });
  const mpls = Buffer.concat([Buffer.from([0, 0, 0x10, 64, 0, 0, 0x21, 64]), ip4u]);
  const pppoe = Buffer.concat([Buffer.from([0x11, 0, 0, 1, 0, 0, 0, 0x21]), ip4u]);
  pppoe.writeUInt16BE(ip4u.length + 2, 4);
  return [
    [eth(0x0800, ip4u), eth(0x0800, pb.ipv4(6, t, v4), [{ tpid: 0x8100, id: 5 }]), eth(0x86dd, ip6u, [{ tpid: 0x88a8, id: 7 }, { tpid: 0x8100, id: 8 }])],
    pb.ipv4Fragments(17, u, { ...v4, id: 77 }, 256).map((f) => ({ linkType: LinkType.RAW, data: f })),
    pb.ipv6Fragments(17, u, { ...v6, ext: [{ type: 0 }] }, 256, 99).map((f) => ({ linkType: LinkType.IPV6, data: f })).reverse(),
    [eth(0x8847, mpls), eth(0x8864, pppoe), { linkType: LinkType.LINUX_SLL, data: pb.sll(0x86dd, ip6u) }, { linkType: LinkType.LINUX_SLL2, data: pb.sll2(0x0800, ip4u) }],
    [{ linkType: LinkType.NULL, data: pb.nullLoopback(2, ip4u) }, { linkType: 108, data: pb.nullLoopback(30, ip6u, false) }, { linkType: LinkType.IPV4, data: ip4u }],
    [
      eth(0x0800, pb.ipv4(47, pb.gre(0x0800, ip4u, { key: 5, seq: 1, checksum: true }), v4)),
      eth(0x0800, pb.ipv4(47, pb.gre(0x88be, pb.erspan2(pb.ethernet(0x0800, ip4u)), { seq: 3 }), v4)),
      eth(0x0800, pb.ipv4(47, pb.gre(0x22eb, pb.erspan3(pb.ethernet(0x86dd, ip6u), true)), v4)),
      eth(0x0800, pb.ipv4(4, ip4u, v4)),
      eth(0x86dd, pb.ipv6(41, ip6u, v6)),
      eth(0x0800, pb.ipv4(47, pb.gre(0x6558, pb.ethernet(0x0800, pb.ipv4(4, pb.ipv4(4, ip4u, v4), v4))), v4)),
    ],
  ];
});

// ---- TCP segments ------------------------------------------------------------------------------------------

/** The TCP reassembly target's input: records of flags, flow (1 byte), seq (4), time delta ms (2), length (2), payload. */
export function tcpRecords(segs: ReadonlyArray<{ flags: number; flow: number; seq: number; dtMs: number; payload: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const s of segs) {
    const h = Buffer.alloc(10);
    h[0] = s.flags;
    h[1] = s.flow;
    h.writeUInt32BE(s.seq >>> 0, 2);
    h.writeUInt16BE(s.dtMs, 6);
    h.writeUInt16BE(s.payload.length, 8);
    parts.push(h, s.payload);
  }
  return Buffer.concat(parts);
}

export const builtinTcpSeeds = cached((): Buffer[] => {
  const sip = Buffer.concat([SIP_PAYLOAD(), Buffer.from('\r\n\r\n'), builtinSip()[6] as Buffer]);
  const cut = (a: number, b: number): Buffer => sip.subarray(a, b);
  const S = pb.TcpFlags.SYN;
  const A = pb.TcpFlags.ACK;
  const F = pb.TcpFlags.FIN;
  const R = pb.TcpFlags.RST;
  return [
    tcpRecords([
      { flags: S, flow: 0, seq: 100, dtMs: 0, payload: Buffer.alloc(0) },
      { flags: S | A, flow: 1, seq: 900, dtMs: 1, payload: Buffer.alloc(0) },
      { flags: A, flow: 0, seq: 101, dtMs: 1, payload: cut(0, 400) },
      { flags: A, flow: 0, seq: 701, dtMs: 1, payload: cut(600, sip.length) }, // out of order
      { flags: A, flow: 0, seq: 501, dtMs: 1, payload: cut(400, 600) },
      { flags: A, flow: 0, seq: 301, dtMs: 1, payload: cut(200, 500) }, // overlap
      { flags: A | F, flow: 0, seq: 101 + sip.length, dtMs: 1, payload: Buffer.alloc(0) },
      { flags: A | F, flow: 1, seq: 901, dtMs: 1, payload: Buffer.alloc(0) },
    ]),
    tcpRecords([
      { flags: A, flow: 2, seq: 0xfffffff0, dtMs: 0, payload: cut(0, 100) }, // mid-stream start, seq wraps
      { flags: A, flow: 2, seq: 0x00000054, dtMs: 3000, payload: cut(100, 300) },
      { flags: A, flow: 3, seq: 5, dtMs: 10, payload: cut(0, 50) },
      { flags: R, flow: 3, seq: 55, dtMs: 10, payload: Buffer.alloc(0) },
      { flags: S, flow: 2, seq: 7, dtMs: 60000, payload: cut(0, 10) }, // port reuse, data on SYN
    ]),
  ];
});

// ---- RTP / SRTP --------------------------------------------------------------------------------------------

export function rtpPacket(opts: { seq: number; ts?: number; ssrc?: number; pt?: number; payload?: number; cc?: number; ext?: number; pad?: number; marker?: boolean }): Buffer {
  const cc = opts.cc ?? 0;
  const ext = opts.ext;
  const pad = opts.pad ?? 0;
  const payloadLen = opts.payload ?? 160;
  const head = 12 + cc * 4 + (ext !== undefined ? 4 + ext * 4 : 0);
  const b = Buffer.alloc(head + payloadLen + pad, 0x55);
  b[0] = 0x80 | (pad > 0 ? 0x20 : 0) | (ext !== undefined ? 0x10 : 0) | cc;
  b[1] = (opts.marker === true ? 0x80 : 0) | (opts.pt ?? 0);
  b.writeUInt16BE(opts.seq & 0xffff, 2);
  b.writeUInt32BE((opts.ts ?? opts.seq * 160) >>> 0, 4);
  b.writeUInt32BE((opts.ssrc ?? 0x11223344) >>> 0, 8);
  for (let i = 0; i < cc; i++) b.writeUInt32BE(0x1000 + i, 12 + i * 4);
  if (ext !== undefined) {
    const o = 12 + cc * 4;
    b.writeUInt16BE(0xbede, o);
    b.writeUInt16BE(ext, o + 2);
  }
  if (pad > 0) b[b.length - 1] = pad;
  return b;
}

export const builtinRtp = cached((): Buffer[] => [
  rtpPacket({ seq: 1 }),
  rtpPacket({ seq: 65535, pt: 8, marker: true }),
  rtpPacket({ seq: 7, cc: 2, ext: 1, pad: 4, pt: 101, payload: 4 }),
  rtpPacket({ seq: 9, pt: 13, payload: 1 }),
  rtpPacket({ seq: 10, pt: 96, payload: 0, ext: 0 }),
  // RTCP SR + SDES (compound)
  Buffer.from('80c8000611223344e9f1c1d2000000000000a0a00000000a000006400000000081ca000311223344010474657374000000', 'hex'),
  Buffer.from('81c9000711223344556677880000000000000001000000000000000000000000', 'hex'),
]);

/** SDES key the SRTP target protects and unprotects with (16-byte key ‖ 14-byte salt). */
export const SRTP_KEY_SALT = Buffer.from('00112233445566778899aabbccddeeff0102030405060708090a0b0c0d0e', 'hex');

export const builtinSrtp = cached((): Buffer[] => {
  const prot = new SrtpProtector(SRTP_KEY_SALT.toString('base64'), Buffer.from([1]));
  const plain = [rtpPacket({ seq: 1 }), rtpPacket({ seq: 2, payload: 20 }), rtpPacket({ seq: 65535, ssrc: 5 }), rtpPacket({ seq: 0, ssrc: 5 }), rtpPacket({ seq: 3, payload: 0 })];
  // Protected packets (tag and MKI), and the plain ones, which the target also protects itself.
  return [...plain.map((p) => prot.protect(p)), ...plain];
});

// ---- STUN / TURN -------------------------------------------------------------------------------------------

export const builtinTurn = cached((): Buffer[] => {
  const txid = Buffer.from('0102030405060708090a0b0c', 'hex');
  const ms = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const peer = { ip: '192.0.2.10', port: 50000 };
  const v6addr = Buffer.concat([Buffer.from([0, 2, 0xc3, 0x50]), Buffer.from('20010db8000000000000000000000001', 'hex')]);
  const rtp = rtpPacket({ seq: 5, payload: 40 });
  return [
    tw.rfc5389Message(tw.TurnType.ALLOCATE, txid, [[tw.TurnAttr.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])], [tw.TurnAttr.LIFETIME, tw.u32(600)]]),
    tw.rfc5389Message(tw.TurnType.ALLOCATE_SUCCESS, txid, [[tw.TurnAttr.XOR_RELAYED_ADDRESS, tw.addressValue(peer, true)], [tw.TurnAttr.XOR_MAPPED_ADDRESS, tw.addressValue({ ip: '198.51.100.2', port: 4000 }, true)]]),
    tw.rfc5389Message(tw.TurnType.CHANNEL_BIND, txid, [[tw.TurnAttr.CHANNEL_NUMBER, tw.channelNumber(0x4001)], [tw.TurnAttr.PEER_ADDRESS, tw.addressValue(peer, true)]]),
    tw.rfc5389Message(tw.TurnType.SEND_INDICATION, txid, [[tw.TurnAttr.PEER_ADDRESS, v6addr], [tw.TurnAttr.DATA, rtp]]),
    tw.rfc5389Message(tw.TurnType.DATA_INDICATION, txid, [[tw.TurnAttr.PEER_ADDRESS, tw.addressValue(peer, true)], [tw.TurnAttr.DATA, rtp.subarray(0, 33)], [0x8095, Buffer.alloc(8, 9)]]),
    tw.msTurnMessage(tw.TurnType.MS_SEND, ms, [[tw.TurnAttr.DESTINATION_ADDRESS, tw.addressValue(peer, false)], [tw.TurnAttr.DATA, rtp]]),
    tw.msTurnMessage(tw.TurnType.MS_DATA_INDICATION, ms, [[tw.TurnAttr.PEER_ADDRESS, tw.addressValue(peer, false)], [tw.TurnAttr.DATA, rtp.subarray(0, 21)]]),
    tw.msTurnMessage(tw.TurnType.ALLOCATE_SUCCESS, ms, [[tw.TurnAttr.MAPPED_ADDRESS, tw.addressValue(peer, false)], [tw.TurnAttr.MS_XOR_MAPPED_ADDRESS, tw.addressValue(peer, true)], [tw.TurnAttr.MS_VERSION, tw.u32(6)]]),
    tw.msTurnMessage(tw.TurnType.MS_SET_ACTIVE_DESTINATION, ms, [[tw.TurnAttr.DESTINATION_ADDRESS, tw.addressValue(peer, false)]]),
    tw.channelData(0x4001, rtp, false),
    tw.channelData(0x4002, rtp.subarray(0, 41), true),
    Buffer.concat([Buffer.from([0xff, 0x10, 0x00, 8 + rtp.length]), Buffer.alloc(8, 3), rtp]),
  ];
});

/** TURN-over-TCP streams: MS-TURN framing behind pseudo-TLS, RFC 6062 STUN stream, RFC 4571. */
export const builtinTurnTcp = cached((): Buffer[] => {
  const turn = builtinTurn();
  const rand = Buffer.alloc(32, 0x42);
  const rtp = rtpPacket({ seq: 9, payload: 60 });
  const len4571 = (p: Buffer): Buffer => Buffer.concat([Buffer.from([p.length >> 8, p.length & 0xff]), p]);
  return [
    Buffer.concat([tw.pseudoTlsClientHello(rand), tw.msTcpFrame(0x02, turn[5] as Buffer), tw.msTcpFrame(0x03, rtp), tw.msTcpFrame(0x02, turn[7] as Buffer)]),
    Buffer.concat([tw.pseudoTlsServerHello(rand), tw.msTcpFrame(0x03, rtp), tw.msTcpFrame(0x03, rtp)]),
    Buffer.concat([turn[0] as Buffer, turn[2] as Buffer, tw.channelData(0x4001, rtp.subarray(0, 61), true), turn[11] as Buffer, turn[4] as Buffer]),
    Buffer.concat([len4571(rtp), len4571(turn[1] as Buffer), len4571(rtp.subarray(0, 12))]),
  ];
});

// ---- HEP, TFWD, VXLAN, TZSP --------------------------------------------------------------------------------

export const builtinHep = cached((): Buffer[] => {
  const sip = SIP_PAYLOAD();
  const base = { src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060, payload: sip };
  return [
    encodeHep3({ ...base, ts: 1_700_000_000_123_456, captureId: 7, nodeName: 'node', correlationId: 'abc', vlan: 3 }),
    encodeHep3({ ...base, src: '2001:db8::1', dst: '2001:db8::2', compress: true, authKey: 'k', srcMac: '00:11:22:33:44:55', dstMac: 'aa-bb-cc-dd-ee-ff', etherType: 0x800, tcpFlags: 0x18, ipTos: 0, mos: 400, rFactor: 90, jitter: 5, tagType: 1, extraChunks: [{ vendor: 0x1234, type: 1, value: Buffer.from('x') }] }),
    encodeHep3({ ...base, payload: Buffer.from('{"CORRELATION_ID":"x"}'), protoType: 5, keepAliveTimer: 30, geoLocation: 'x', transactionType: 'call', payloadJsonKeys: 'a', tagsValues: 'b' }),
    encodeHepV2(base, 2),
    encodeHepV2({ ...base, src: '2001:db8::1', dst: '2001:db8::2' }, 1),
  ];
});

export const builtinTfwd = cached((): { plain: Buffer[]; signed: Buffer[]; key: TfwdKey } => {
  const key = new TfwdKey(3, Buffer.alloc(32, 0x61));
  const frames = callFrames().map((f) => f.subarray(14));
  const collect = (k: TfwdKey | undefined): Buffer[] => {
    const out: Buffer[] = [];
    const enc = new TfwdEncoder({ sensorId: 1, bootId: 9, mtu: 1400, ...(k !== undefined ? { key: k } : {}) }, (d) => out.push(d));
    frames.forEach((f, i) => enc.add(1_700_000_000_000_000 + i * 20_000, f, i === 2));
    enc.flush();
    enc.heartbeat(1_700_000_001_000_000);
    return out;
  };
  return { plain: collect(undefined), signed: collect(key), key };
});

export const builtinVxlanTzsp = cached((): { vxlan: Buffer[]; tzsp: Buffer[] } => {
  const frames = callFrames();
  return {
    vxlan: frames.slice(0, 4).map((f, i) => encodeVxlan(100 + i, f)),
    tzsp: [
      encodeTzsp(frames[0] as Buffer),
      encodeTzsp(frames[1] as Buffer, { tags: [tzspOriginalLength(1514), { tag: 10, value: Buffer.from([1, 2]) }], padding: 3 }),
      encodeTzsp(frames[4] as Buffer, { type: 1 }),
      encodeTzsp(Buffer.alloc(20), { encapsulation: 18 }),
      Buffer.from([1, 4, 0, 0]),
    ],
  };
});

// ---- chat bodies -------------------------------------------------------------------------------------------

const MSGR = Buffer.from('X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=0; CS=0; PF=0\r\n\r\n', 'utf16le').toString('base64');

export const RTF_DOC =
  '{\\rtf1\\fbidis\\ansi\\ansicpg1252\\deff0\\deflang1033{\\fonttbl{\\f0\\fswiss\\fcharset0 Segoe UI;}{\\f1\\fnil\\fcharset128 MS Gothic;}{\\f2\\fnil\\fcharset204 Tahoma;}}\r\n' +
  '{\\colortbl ;\\red0\\green0\\blue0;}{\\*\\generator Msftedit 5.41;}\\viewkind4\\uc1\\pard\\ltrpar\\cf1\\f0\\fs20 Hello \\b bold\\b0 caf\\\'e9 \\u8364?\\par\r\n' +
  '{\\f1 \\\'82\\\'a0}{\\f2 \\\'cf\\\'f0} \\tab x\\line {\\field{\\*\\fldinst HYPERLINK "x"}{\\fldrslt link}}{\\pict\\bin4 abcd} \\{ \\} \\\\ \\~\\_\\-\\emdash\\par\r\n}\r\n';

export const HTML_DOC =
  '<html><head><title>t</title><style>p{}</style></head><body><span style="font-family:Segoe UI;">Hi <b>there</b>&nbsp;&amp; &#8364; &#x1F600;</span>' +
  '<br><img alt=":)" src="x.png"><div>block</div><pre>  keep\n  this </pre><table><tr><td>a</td><td>b</td></tr></table><!-- c --><![CDATA[raw]]><script>x()</script><p>end</p></body></html>';

/** The chat body target's input: Content-Type line, Content-Transfer-Encoding line, then the body. */
export function chatBody(contentType: string, cte: string, body: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${contentType}\n${cte}\n`, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

export const builtinChat = cached((): Buffer[] => {
  const b = 'b1';
  const alt = [`--${b}`, 'Content-Type: text/plain; charset=UTF-8', '', 'plain words', `--${b}`, `Content-Type: text/html; charset=UTF-8;msgr=${MSGR}`, 'Content-Transfer-Encoding: base64', '', Buffer.from(HTML_DOC).toString('base64'), `--${b}`, 'Content-Type: text/rtf', 'Content-Transfer-Encoding: quoted-printable', '', '{\\rtf1 plain =C3=A9 words=\r\n}', `--${b}--`, ''].join(CRLF);
  return [
    chatBody(`text/plain; charset=UTF-8;msgr=${MSGR}`, '', 'Hello, 世界'),
    chatBody('text/html; charset="UTF-8"', '', HTML_DOC),
    chatBody('text/rtf', '', RTF_DOC),
    chatBody(`multipart/alternative;boundary="${b}"`, '', alt),
    chatBody('text/plain; charset=iso-8859-1', 'quoted-printable', Buffer.from('caf=E9 =\r\nsoft =ZZ', 'latin1')),
    chatBody('text/plain; charset=shift_jis', 'base64', Buffer.from([0x82, 0xa0, 0x82, 0xa2]).toString('base64')),
    chatBody('multipart/related; boundary=r', '', '--r\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n--r\r\nContent-Type: text/plain\r\n\r\nx\r\n--r--\r\n'),
    chatBody('application/octet-stream', '7bit', Buffer.from([0, 1, 2, 0xff])),
  ];
});

export const builtinMsTextFormat = cached((): Buffer[] => [
  Buffer.from(`text/plain; charset=UTF-8;msgr=${MSGR};ms-body=${Buffer.from('Hi, 世界').toString('base64')}`),
  Buffer.from(`text/html;ms-body=${Buffer.from(HTML_DOC).toString('base64')}`),
  Buffer.from(`text/rtf; ms-body=${Buffer.from(RTF_DOC).toString('base64')};msgr=WAAt`),
  Buffer.from('text/plain; ms-body=!!!notbase64'),
]);

export const builtinXml = cached((): Buffer[] =>
  [
    '<?xml version="1.0"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active</state><contenttype>text/plain</contenttype></isComposing>',
    '<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>',
    '<?xml version="1.0"?><imdn><message-id>42</message-id><recipient uri="sip:carol@contoso.com"><status>failed</status></recipient><recipient><uri>sip:d@x</uri></recipient></imdn>',
    '<?xml version="1.0" encoding="utf-8"?><conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:focus" state="partial" version="2"><users>' +
      '<user entity="sip:a@x" state="full"><display-text>A &amp; B</display-text><endpoint entity="{1}" session-type="chat"><status>connected</status></endpoint></user>' +
      '<user entity="sip:b@x" state="deleted"/><user entity="sip:c@x"><endpoint session-type="chat" state="deleted"/></user></users></conference-info>',
    '<!DOCTYPE x [<!ENTITY a "aaaa">]><imdn><message-id>&a;&a;</message-id></imdn>',
  ].map((s) => Buffer.from(s)),
);

export const builtinWebSocket = cached((): Buffer[] => {
  const hs = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n';
  const frame = (op: number, payload: Buffer, fin = true, mask = true): Buffer => {
    const len = payload.length;
    const h: number[] = [(fin ? 0x80 : 0) | op];
    if (len < 126) h.push((mask ? 0x80 : 0) | len);
    else if (len < 65536) h.push((mask ? 0x80 : 0) | 126, len >> 8, len & 0xff);
    else h.push((mask ? 0x80 : 0) | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
    const m = Buffer.from([1, 2, 3, 4]);
    const p = Buffer.from(payload);
    if (mask) for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) ^ (m[i & 3] as number);
    return Buffer.concat([Buffer.from(h), mask ? m : Buffer.alloc(0), p]);
  };
  const sip = SIP_PAYLOAD();
  return [
    Buffer.concat([Buffer.from(hs), frame(1, sip), frame(9, Buffer.from('ping')), frame(2, sip.subarray(0, 100), false), frame(0, sip.subarray(100), true, false), frame(8, Buffer.alloc(0))]),
    Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'), frame(1, sip, true, false)]),
  ];
});

// ---- IM sessions (the chat tracker) ------------------------------------------------------------------------

/** Separates the SIP datagrams of one chat-session input. */
export const SESSION_SEPARATOR = Buffer.from('\r\n\x1e\x1e\r\n', 'latin1');

export function sessionInput(messages: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  messages.forEach((m, i) => {
    if (i > 0) parts.push(SESSION_SEPARATOR);
    parts.push(m);
  });
  return Buffer.concat(parts);
}

export const builtinSessions = cached((): Buffer[] => {
  const alice = { uri: 'sip:alice@contoso.com', name: 'Alice', ip: '10.0.0.1', epid: 'e1' };
  const bob = { uri: 'sip:bob@contoso.com', ip: '10.0.0.2' };
  const carol = { uri: 'sip:carol@contoso.com', name: 'Carol "C"', ip: '10.0.0.3' };
  const t0 = 1_700_000_000_000_000;
  const one = oneToOne({ callId: 'im-1', users: [alice, bob], t0, conversationId: 'conv-1', messages: [{ from: 0, text: 'hi' }, { from: 1, text: '<b>yo</b>', form: 'html', typing: true }, { from: 0, text: 'caf\u00e9', form: 'rtf' }, { from: 1, text: 'x', form: 'quoted-printable', charset: 'iso-8859-1' }] });
  const two = oneToOne({ callId: 'im-2', users: [bob, alice], t0, firstInInvite: true, confirmFirst: false, end: 'dangling', messages: [{ from: 0, text: 'first' }, { from: 1, text: 'alt', form: 'alternative' }, { from: 0, text: 'b64', form: 'base64' }] });
  const mcu = mcuChat({ organizer: 'sip:org@contoso.com', conferenceId: 'ABC123', mcuIp: '10.0.0.9', t0, users: [alice, bob, carol], messages: [{ from: 0, text: 'all' }, { from: 2, text: 'hey', form: 'html' }], leave: [1], rosterOnly: { uri: 'sip:dave@contoso.com', ip: '10.0.0.4' }, forwardAlternative: true });
  const multiparty = [
    'INVITE sip:bob@contoso.com SIP/2.0',
    'Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKmp1',
    'From: "Alice" <sip:alice@contoso.com>;tag=mpA;epid=e1',
    'To: <sip:bob@contoso.com>',
    'Call-ID: mp-1',
    'CSeq: 1 INVITE',
    'EndPoints: "Alice" <sip:alice@contoso.com>, <sip:bob@contoso.com>;epid=x, "Carol, C" <sip:carol@contoso.com>',
    'Roster-Manager: <sip:alice@contoso.com>',
    'Require: com.microsoft.rtc-multiparty',
    'Content-Type: application/sdp',
  ].join('\r\n');
  const sdpBody = 'v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=session\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\na=accept-types:text/plain text/html\r\n';
  const mpInvite = Buffer.from(`${multiparty}\r\nContent-Length: ${sdpBody.length}\r\n\r\n${sdpBody}`);
  const mpMessage = Buffer.from('MESSAGE sip:bob@contoso.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKmp2\r\nFrom: <sip:alice@contoso.com>;tag=mpA\r\nTo: <sip:bob@contoso.com>;tag=mpB\r\nCall-ID: mp-1\r\nCSeq: 2 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi');
  return [sessionInput(one.wire.map((w) => w.text)), sessionInput(two.wire.map((w) => w.text)), sessionInput(mcu.wire.map((w) => w.text)), sessionInput([mpInvite, mpMessage])];
});

/** Calls as SIP datagram sequences: the built-in call (offer, early media, answer, re-INVITE on hold, BYE) and corpus calls. */
export const dialogSessions = cached((): Buffer[] => {
  const sdps = builtinSdp();
  const base = { callId: 'call-9@test', fromTag: 'f9' };
  const call = [
    request('INVITE', { ...base, body: sdps[0] as string, headers: ['Session-Expires: 1800;refresher=uac', 'Supported: timer'] }),
    response(100, 'Trying', 'INVITE', base),
    response(183, 'Session Progress', 'INVITE', { ...base, toTag: 't9', body: sdps[1] as string }),
    response(200, 'OK', 'INVITE', { ...base, toTag: 't9', body: sdps[2] as string }),
    request('ACK', { ...base, toTag: 't9' }),
    request('INVITE', { ...base, toTag: 't9', cseq: 2, body: (sdps[0] as string).replace('a=sendrecv', 'a=sendonly') }),
    response(200, 'OK', 'INVITE', { ...base, toTag: 't9', cseq: 2, body: (sdps[1] as string).replace('a=sendonly', 'a=recvonly') }),
    request('INVITE', { callId: 'call-10@test', fromTag: 'f10', headers: ['Replaces: call-9@test;to-tag=t9;from-tag=f9'], body: sdps[3] as string }),
    response(486, 'Busy Here', 'INVITE', { callId: 'call-10@test', fromTag: 'f10', toTag: 'x' }),
    request('BYE', { ...base, toTag: 't9', cseq: 3 }),
    response(200, 'OK', 'BYE', { ...base, toTag: 't9', cseq: 3 }),
  ].map((t) => Buffer.from(t));
  const multi = builtinSip().slice(1, 3);
  const out = [sessionInput(call), sessionInput([...multi, builtinSip()[8] as Buffer])];
  const corpus = corpusPayloads().sipUdp;
  for (let i = 0; i < corpus.length; i += 16) out.push(sessionInput(corpus.slice(i, i + 16)));
  return out;
});
