/**
 * One fuzz target per parser of untrusted bytes, called the way the product calls it (see each comment).
 *
 * `run(input)` parses; it may return a short outcome label (a skip reason, an error reason...), which the runner
 * uses as poor man's feedback: an input that reaches an outcome not seen before is kept as a new seed. `expected(e)`
 * says which thrown errors are the parser's documented "bad input" answer; anything else thrown out of run() is a
 * crash. Targets whose parser is documented as never throwing have `expected` = never. A few cheap invariants that
 * the modules document (bounded buffers, everything released after a flush) are checked and thrown as
 * InvariantError: those are findings too.
 *
 * Each run is self-contained (fresh decoders, reassemblers, framers and SRTP contexts), so a finding replays from
 * its input alone.
 */
import { DialogTracker } from '../../core/dialog/tracker';
import { ErrorCodes, isTaplineError, type ErrorCode } from '../../core/errors';
import { readCaptureBuffer } from '../../core/net/capture-reader';
import { isSkipReason, PacketDecoder } from '../../core/net/decode';
import { decodeHep } from '../../core/net/hep';
import { HepStreamReader } from '../../core/net/hep-stream';
import { TcpReassembler } from '../../core/net/tcp-reassembly';
import { decodeTfwd, tfwdKeyring } from '../../core/net/tfwd';
import { LinkType, type RawFrame, type TcpStreamChunk, type TransportPacket } from '../../core/net/types';
import { WebSocketDeframer } from '../../core/net/websocket';
import { isRtcp, parseRtp, SequenceTracker } from '../../core/media/rtp';
import { parseInlineKey, SrtpContext } from '../../core/media/srtp/index';
import { effectiveRtpMap, mediaEndpoints } from '../../core/sdp/helpers';
import { parseSdp } from '../../core/sdp/parser';
import { SipStreamFramer } from '../../core/sip/framing';
import { findSdpBody, walkMimeParts } from '../../core/sip/multipart';
import { parseSipMessage } from '../../core/sip/parser';
import type { SipMessage } from '../../core/sip/types';
import { decodeMsTextFormat, decodeTextBody, parseContentType } from '../../plugins/chat/body';
import { htmlToText } from '../../plugins/chat/html-text';
import { looksLikeRtf, rtfToText } from '../../plugins/chat/rtf-text';
import { ChatTracker } from '../../plugins/chat/tracker';
import { readConferenceInfo, readImdn, readIsComposing, readKeyboardActivity } from '../../plugins/chat/xml-bodies';
import { readAddress, readAttributes, readHeader, STUN_HEADER } from '../../plugins/mode-atedge/stun';
import { TurnTcpFramer } from '../../plugins/mode-atedge/tcp-framer';
import { parseTurn } from '../../plugins/mode-atedge/turn';
import { decodeTzsp } from '../../plugins/source-forwarded/tzsp';
import { decodeVxlan } from '../../plugins/source-forwarded/vxlan';
import { SrtpProtector } from '../../plugins/source-generator/srtp-protect';
import { BodyError, splitRecordingBody } from '../../plugins/source-siprec/body';
import { MetadataError, parseRecordingMetadata } from '../../plugins/source-siprec/metadata';
import { sessionParties } from '../../plugins/source-siprec/parties';
import { mulberry32 } from './mutate';
import * as seeds from './seeds';

export interface FuzzTarget {
  name: string;
  /** Text format: the mutator mixes line and token mutations in. */
  text?: boolean;
  /** Tokens of the format worth inserting. */
  dictionary?: readonly Buffer[];
  /** Largest input worth generating (default 256 KiB). */
  maxSize?: number;
  /** Async set-up before seeds() (files written with the project's writers). */
  prepare?(): Promise<void>;
  seeds(): Buffer[];
  /** Parse the input the way the product does; may return an outcome label. */
  run(input: Buffer): string | void;
  /** The thrown errors that are the parser's normal answer to bad input. */
  expected(e: unknown): boolean;
}

/** A documented invariant does not hold: always a finding. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

function invariant(ok: boolean, message: string): void {
  if (!ok) throw new InvariantError(message);
}

const never = (): boolean => false;

function taplineCodes(...codes: ErrorCode[]): (e: unknown) => boolean {
  return (e) => isTaplineError(e) && codes.includes(e.code);
}

/** Runs fn; an expected error becomes its reason label, anything else propagates. */
function soft<T>(fn: () => T, ok: (e: unknown) => boolean): T | { failed: string } {
  try {
    return fn();
  } catch (e) {
    if (!ok(e)) throw e;
    const reason = isTaplineError(e) ? String(e.details.reason ?? e.code) : e instanceof Error ? e.name : 'error';
    return { failed: reason };
  }
}

function isFailed<T>(r: T | { failed: string }): r is { failed: string } {
  return typeof r === 'object' && r !== null && 'failed' in r && Object.keys(r).length === 1;
}

function hash32(b: Buffer): number {
  let h = 0x811c9dc5 ^ b.length;
  const n = Math.min(b.length, 256);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

/** Deterministic split of a stream input into chunks (sizes from 1 byte to whole), derived from the input itself. */
export function chunksOf(input: Buffer): Buffer[] {
  const r = mulberry32(hash32(input));
  const mode = Math.floor(r() * 4);
  if (mode === 0 || input.length === 0) return [input];
  const out: Buffer[] = [];
  for (let o = 0; o < input.length; ) {
    const k = mode === 1 ? 1 + Math.floor(r() * 8) : mode === 2 ? 1 + Math.floor(r() * 200) : 1 + Math.floor(r() * 4000);
    out.push(input.subarray(o, o + k));
    o += k;
  }
  return out.length > 2000 ? [input.subarray(0, Math.floor(input.length / 2)), input.subarray(Math.floor(input.length / 2))] : out;
}

const words = (...w: string[]): Buffer[] => w.map((s) => Buffer.from(s, 'latin1'));

// ---- capture files ---------------------------------------------------------------------------------------

/** readCaptureBuffer (pcap, pcapng) with every frame decoded, as `tapline record` does frame by frame. */
const capture: FuzzTarget = {
  name: 'capture',
  maxSize: 96 * 1024,
  dictionary: [
    Buffer.from('a1b2c3d4', 'hex'), Buffer.from('d4c3b2a1', 'hex'), Buffer.from('4d3cb2a1', 'hex'), Buffer.from('34cdb2a1', 'hex'),
    Buffer.from('0a0d0d0a', 'hex'), Buffer.from('4d3c2b1a', 'hex'), Buffer.from('1a2b3c4d', 'hex'), Buffer.from('06000000', 'hex'),
    Buffer.from('01000000', 'hex'), Buffer.from('03000000', 'hex'), Buffer.from('02000000', 'hex'), Buffer.from('ad0b0000', 'hex'),
    Buffer.from('09000100', 'hex'), Buffer.from('0e000800', 'hex'), Buffer.from('00040000', 'hex'),
  ],
  prepare: () => seeds.prepareCaptureSeeds(),
  seeds: () => [...seeds.generatedCaptureSeeds(), ...seeds.corpusCaptureHeads()],
  run(input) {
    const dec = new PacketDecoder();
    let frames = 0;
    let skips = 0;
    const r = readCaptureBuffer(
      input,
      (f) => {
        frames++;
        invariant(f.data.length <= 262144 + 65536, `frame ${f.frameNo} of ${f.data.length} bytes`);
        dec.decode(f);
      },
      { onSkip: () => void skips++ },
    );
    invariant(r.frames === frames, `result says ${r.frames} frames, ${frames} delivered`);
    invariant(r.bytes <= input.length, `result says ${r.bytes} bytes parsed of ${input.length}`);
    return `${r.format}:${r.warning?.split(' ').slice(0, 3).join(' ') ?? 'ok'}:${skips > 0}`;
  },
  expected: taplineCodes(ErrorCodes.CAPTURE_FORMAT, ErrorCodes.CAPTURE_TRUNCATED),
};

// ---- link / IP / UDP / TCP -------------------------------------------------------------------------------

function frameList(input: Buffer): RawFrame[] {
  const out: RawFrame[] = [];
  let o = 0;
  let n = 0;
  while (o < input.length && n < 256) {
    const lt = seeds.DECODE_LINK_TYPES[(input[o] as number) % seeds.DECODE_LINK_TYPES.length] as number;
    const len = o + 3 <= input.length ? input.readUInt16BE(o + 1) : 0;
    const data = input.subarray(o + 3, o + 3 + len);
    o += 3 + len;
    n++;
    out.push({ ts: 1_700_000_000_000_000 + n * 1_000_000 * ((input[o - 1] ?? 0) & 3), linkType: lt, data, origLen: data.length + ((input[o - 2] ?? 0) & 1), interfaceId: 0, frameNo: n });
  }
  return out;
}

/** PacketDecoder with IP reassembly on (as capture sources use it), fed a sequence of frames of various link types. */
const decode: FuzzTarget = {
  name: 'decode',
  maxSize: 64 * 1024,
  dictionary: [
    Buffer.from('0800', 'hex'), Buffer.from('86dd', 'hex'), Buffer.from('8100', 'hex'), Buffer.from('88a8', 'hex'), Buffer.from('8847', 'hex'),
    Buffer.from('8864', 'hex'), Buffer.from('6558', 'hex'), Buffer.from('88be', 'hex'), Buffer.from('22eb', 'hex'), Buffer.from('45000000', 'hex'),
    Buffer.from('60000000', 'hex'), Buffer.from('2c', 'hex'), Buffer.from('2000', 'hex'), Buffer.from('3fff', 'hex'), Buffer.from('11', 'hex'), Buffer.from('06', 'hex'),
    Buffer.from('2f', 'hex'), Buffer.from('04', 'hex'), Buffer.from('29', 'hex'),
  ],
  seeds: () => [...seeds.builtinFrameGroups().map(seeds.frameRecords), ...seeds.corpusPayloads().frames.map(seeds.frameRecords)],
  run(input) {
    const dec = new PacketDecoder({ reassembly: { maxDatagrams: 8, maxBytes: 256 * 1024, timeoutSec: 2 } });
    const out: TransportPacket = { ts: 0, frameNo: 0, proto: 'udp', ipVersion: 4, src: '', sport: 0, dst: '', dport: 0, payload: Buffer.alloc(0) };
    const labels = new Set<string>();
    for (const f of frameList(input)) {
      const p = dec.decode(f, (f.frameNo & 1) === 1 ? out : undefined);
      labels.add(isSkipReason(p) ? p : `${p.proto}${p.ipVersion}${p.vlan !== undefined ? 'v' : ''}`);
      if (!isSkipReason(p)) invariant(p.payload.length <= 65535 + 65535, `payload of ${p.payload.length} bytes`);
      const r = dec.reassembler;
      if (r !== null) invariant(r.bufferedBytes >= 0 && r.bufferedBytes <= 256 * 1024 && r.size <= 8, `reassembler holds ${r.bufferedBytes} bytes in ${r.size} datagrams`);
    }
    return [...labels].sort().join(',');
  },
  expected: never,
};

/** TcpReassembler (as the pipeline feeds it) with small bounds, fed segments of four flows, then flushed. */
const tcpReassembly: FuzzTarget = {
  name: 'tcp-reassembly',
  maxSize: 64 * 1024,
  seeds: () => seeds.builtinTcpSeeds(),
  run(input) {
    const r = new TcpReassembler({ idleTimeoutSec: 5, gapTimeoutSec: 1, maxBufferedPerDirection: 8192, maxSegmentsPerDirection: 16, maxBufferedTotal: 16384, maxConnections: 3 });
    const ends = [
      ['10.0.0.1', 40000, '10.0.0.2', 5060],
      ['10.0.0.2', 5060, '10.0.0.1', 40000],
      ['2001:db8::1', 40001, '2001:db8::2', 5061],
      ['2001:db8::2', 5061, '2001:db8::1', 40001],
      ['10.0.0.3', 1, '10.0.0.4', 2],
    ] as const;
    let ts = 1_700_000_000_000_000;
    let o = 0;
    let n = 0;
    let delivered = 0;
    const onChunk = (c: TcpStreamChunk): void => {
      delivered += c.data.length;
    };
    while (o + 10 <= input.length && n < 512) {
      const flags = input[o] as number;
      const [src, sport, dst, dport] = ends[(input[o + 1] as number) % ends.length] as (typeof ends)[number];
      const seq = input.readUInt32BE(o + 2);
      ts += input.readUInt16BE(o + 6) * 1000;
      const len = input.readUInt16BE(o + 8);
      const payload = input.subarray(o + 10, o + 10 + len);
      o += 10 + len;
      n++;
      r.push({ ts, frameNo: n, proto: 'tcp', ipVersion: src.includes(':') ? 6 : 4, src, sport, dst, dport, payload, tcp: { seq, ack: 0, flags } }, onChunk);
      invariant(r.bufferedBytes >= 0 && r.bufferedBytes <= 16384 + 65535, `${r.bufferedBytes} bytes buffered`);
      invariant(r.connections <= 3, `${r.connections} connections tracked (max 3)`);
    }
    r.flush(onChunk);
    invariant(r.connections === 0 && r.bufferedBytes === 0, `after flush: ${r.connections} connections, ${r.bufferedBytes} bytes buffered`);
    invariant(r.stats.bytes === delivered, `stats say ${r.stats.bytes} bytes delivered, chunks carried ${delivered}`);
    return `${r.stats.gaps > 0}:${r.stats.afterClose > 0}:${r.stats.evicted > 0}:${r.stats.duplicateBytes > 0}`;
  },
  expected: never,
};

// ---- SIP, SDP, MIME ----------------------------------------------------------------------------------------

const SIP_DICT = words(
  'INVITE ', 'SIP/2.0', 'SIP/2.0 200 OK\r\n', 'sip:', 'sips:', 'tel:', '<sip:a@[2001:db8::1]:5060;transport=tcp>', 'Via: ', 'v: ', 'From: ', 'f: ',
  'To: ', 't: ', 'Call-ID: ', 'i: ', 'CSeq: ', 'Contact: ', 'm: ', 'Content-Length: ', 'l: ', 'Content-Type: ', 'c: ', 'Max-Forwards: ',
  'Expires: ', 'Date: ', 'Retry-After: ', 'Warning: ', 'Route: ', ';tag=', ';branch=z9hG4bK', ';received=', ';rport', ';lr', ';maddr=',
  ';expires=', '"', '\\"', '<', '>', ',', ';', ':', '@', '%', '%00', '%zz', '[', ']', '::', '?', '&', '=', '*', ' ', '\t', '\r\n', '\r\n ',
  '\r\n\r\n', 'multipart/mixed;boundary=', 'multipart/alternative; boundary="', 'application/sdp', '--', '\r\n--', 'v=0\r\n',
  'Content-Type: multipart/related;boundary=x\r\n\r\n--x\r\n',
);

const SDP_DICT = words(
  'v=0\r\n', 'o=- 1 1 IN IP4 10.0.0.1\r\n', 's=-\r\n', 'c=IN IP4 ', 'c=IN IP6 ', 't=0 0\r\n', 'm=audio ', 'm=video 0 RTP/AVP 0\r\n',
  ' RTP/SAVP ', 'a=rtpmap:', 'a=fmtp:', 'a=crypto:', 'a=cryptoscale:', 'AES_CM_128_HMAC_SHA1_80 ', 'inline:', '|2^31', '|1:1', '|2^',
  'a=candidate:', 'a=x-candidate-ipv6:', ' typ ', ' raddr ', ' rport ', 'a=remote-candidates:', 'a=x-ssrc-range:', 'a=rtcp:',
  'a=ptime:', 'a=label:', 'a=sendonly', 'a=inactive', 'a=rtcp-mux', 'b=AS:', '/8000', '/', ':', '-', ' ', '\r\n', '\n', 'UDP', 'TCP-PASS',
);

function afterParse(msg: SipMessage): string {
  msg.headers.getAll('Via');
  msg.headers.getAll('Route');
  msg.headers.get('Content-Type');
  const sdpBody = soft(() => findSdpBody(msg), taplineCodes(ErrorCodes.SIP_PARSE));
  if (isFailed(sdpBody)) return `mime:${sdpBody.failed}`;
  if (sdpBody === undefined || sdpBody.length === 0) return 'nosdp';
  const s = soft(() => parseSdp(sdpBody), taplineCodes(ErrorCodes.SDP_PARSE));
  return isFailed(s) ? 'sdp-err' : 'sdp';
}

/** parseSipMessage strict and lenient, UDP and stream framing; then findSdpBody and parseSdp as the dialog tracker does. */
const sip: FuzzTarget = {
  name: 'sip',
  text: true,
  dictionary: SIP_DICT,
  seeds: () => [...seeds.builtinSip(), ...seeds.corpusSipMessages(), ...seeds.corpusPayloads().sipUdp],
  run(input) {
    const labels: string[] = [];
    for (const lenient of [false, true]) {
      for (const transport of ['udp', 'stream'] as const) {
        const m = soft(() => parseSipMessage(input, { lenient, transport }), taplineCodes(ErrorCodes.SIP_PARSE));
        if (isFailed(m)) labels.push(m.failed);
        else {
          invariant(m.body.length <= input.length && m.wireLength <= input.length, `body ${m.body.length} / wire ${m.wireLength} bytes of a ${input.length}-byte input`);
          labels.push(afterParse(m));
        }
      }
    }
    return labels.join(',');
  },
  expected: taplineCodes(ErrorCodes.SIP_PARSE),
};

/** SipStreamFramer as the TCP ingest and the SIP feed use it (lenient, maxBuffer small), fed chunks, then flushed. */
const sipStream: FuzzTarget = {
  name: 'sip-stream',
  text: true,
  dictionary: SIP_DICT,
  seeds: () => {
    const s = seeds.builtinSip();
    return [
      Buffer.concat([s[0] as Buffer, Buffer.from('\r\n\r\n'), s[3] as Buffer, Buffer.from('\r\n'), s[6] as Buffer]),
      Buffer.concat([Buffer.from('garbage line\r\n'), s[1] as Buffer, s[12] as Buffer]),
      ...seeds.corpusPayloads().sipTcp,
    ];
  },
  run(input) {
    const maxBuffer = 8192;
    let pings = 0;
    const framer = new SipStreamFramer({ maxBuffer, lenient: true, onKeepAlive: () => void pings++ });
    const raw = new SipStreamFramer({ maxBuffer: 1024 });
    const labels = new Set<string>();
    for (const c of chunksOf(input)) {
      for (const r of framer.push(c)) {
        if (r instanceof Error) labels.add(String(r.details.reason));
        else {
          labels.add(r.kind);
          afterParse(r);
        }
      }
      for (const r of raw.pushFrames(c)) labels.add(Buffer.isBuffer(r) ? 'frame' : String(r.details.reason));
      invariant(framer.buffered <= maxBuffer + 64 * 1024, `framer holds ${framer.buffered} bytes (maxBuffer ${maxBuffer})`);
      invariant(raw.buffered <= 1024 + 64 * 1024, `framer holds ${raw.buffered} bytes (maxBuffer 1024)`);
    }
    for (const r of framer.flush()) labels.add(r instanceof Error ? String(r.details.reason) : r.kind);
    raw.flush();
    invariant(framer.buffered === 0, `framer holds ${framer.buffered} bytes after flush`);
    return [...labels].sort().join(',') + (pings > 0 ? ':ping' : '');
  },
  expected: never,
};

/** walkMimeParts over a body: input = Content-Type value, LF, body (as findSdpBody and the chat plugin call it). */
const multipart: FuzzTarget = {
  name: 'multipart',
  text: true,
  dictionary: [...words('--', '\r\n--', 'boundary=', 'boundary="', '"', ';', 'Content-Type: ', 'multipart/mixed', 'multipart/alternative', 'application/sdp', '\r\n\r\n', '\n\n', '--\r\n', ' \t'), ...SDP_DICT.slice(0, 4)],
  seeds: () => {
    const out: Buffer[] = [];
    for (const m of seeds.builtinSip()) {
      const s = m.toString('latin1');
      const ct = /\r\nContent-Type: (multipart[^\r\n]*)/.exec(s);
      const at = s.indexOf('\r\n\r\n');
      if (ct !== null && at > 0) out.push(Buffer.from(`${ct[1]}\n${s.slice(at + 4)}`, 'latin1'));
    }
    for (const c of seeds.corpusMultipartBodies()) out.push(Buffer.concat([Buffer.from(`${c.contentType}\n`), c.body]));
    return out;
  },
  run(input) {
    const nl = input.indexOf(10);
    const ct = input.toString('latin1', 0, nl < 0 ? input.length : nl);
    const body = nl < 0 ? Buffer.alloc(0) : input.subarray(nl + 1);
    const parts = soft(() => walkMimeParts(ct, body), taplineCodes(ErrorCodes.SIP_PARSE));
    if (isFailed(parts)) return parts.failed;
    for (const p of parts) invariant(p.body.length <= body.length, `part body of ${p.body.length} bytes in a ${body.length}-byte body`);
    return `parts:${Math.min(parts.length, 4)}`;
  },
  expected: taplineCodes(ErrorCodes.SIP_PARSE),
};

/** parseSdp (a Buffer, as the tracker passes it), then the derived views and the SDES keys the recorder uses. */
const sdp: FuzzTarget = {
  name: 'sdp',
  text: true,
  dictionary: SDP_DICT,
  seeds: () => {
    const out: Buffer[] = seeds.builtinSdp().map((s) => Buffer.from(s));
    for (const m of [...seeds.corpusSipMessages(), ...seeds.corpusPayloads().sipUdp]) {
      const at = m.indexOf('\r\n\r\n');
      if (at > 0 && m.indexOf('v=0', at) === at + 4) out.push(m.subarray(at + 4));
    }
    return out.slice(0, 60);
  },
  run(input) {
    const s = soft(() => parseSdp(input), taplineCodes(ErrorCodes.SDP_PARSE));
    if (isFailed(s)) return 'err';
    for (const m of s.media) {
      mediaEndpoints(m);
      for (const f of m.formats) effectiveRtpMap(m, Number(f));
      for (const c of m.crypto) for (const k of c.keys) soft(() => parseInlineKey(k.keySalt), taplineCodes(ErrorCodes.SDP_PARSE));
    }
    return `m:${Math.min(3, s.media.length)}:w:${s.warnings.length > 0}`;
  },
  expected: taplineCodes(ErrorCodes.SDP_PARSE),
};

// ---- RTP / SRTP --------------------------------------------------------------------------------------------

/** parseRtp (both padding modes), isRtcp and the per-SSRC sequence tracker: never throw. */
const rtp: FuzzTarget = {
  name: 'rtp',
  maxSize: 4096,
  seeds: () => [...seeds.builtinRtp(), ...seeds.corpusPayloads().rtp],
  run(input) {
    const rtcp = isRtcp(input);
    const p = parseRtp(input);
    const q = parseRtp(input, true);
    if (p !== undefined) {
      invariant(p.headerLength <= input.length && p.payload.length <= input.length - p.headerLength, `header ${p.headerLength} + payload ${p.payload.length} > ${input.length}`);
      const t = new SequenceTracker();
      t.add(p.seq);
      t.add((p.seq + 1) & 0xffff);
      t.add((p.seq + 40000) & 0xffff);
    }
    return `${rtcp}:${p !== undefined}:${q?.paddingUnchecked === true}`;
  },
  expected: never,
};

const SRTP_KEY = seeds.SRTP_KEY_SALT.subarray(0, 16);
const SRTP_SALT = seeds.SRTP_KEY_SALT.subarray(16);

/**
 * SrtpContext.unprotect / unprotectRtcp on the input as received (TypeScript path and native addon), and the
 * input protected first with the same key (so mutated headers get past authentication into decryption).
 */
const srtp: FuzzTarget = {
  name: 'srtp',
  maxSize: 4096,
  seeds: () => seeds.builtinSrtp(),
  run(input) {
    const labels: string[] = [];
    const native = (input.length & 1) === 0;
    const c = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: SRTP_KEY, masterSalt: SRTP_SALT, mkiLength: 1, native });
    const first = c.unprotect(input);
    labels.push(first.ok ? 'ok' : first.reason);
    const rc = c.unprotectRtcp(input);
    labels.push(rc.ok ? 'rtcp-ok' : rc.reason);
    if (input.length >= 12) {
      const prot = new SrtpProtector(seeds.SRTP_KEY_SALT.toString('base64'), Buffer.from([1]));
      const p = prot.protect(input);
      const r = c.unprotect(p);
      labels.push(r.ok ? 'prot-ok' : `prot-${r.reason}`);
      // The same packet again: a replay, and through the known-stream path.
      const again = c.unprotect(p);
      labels.push(again.ok ? 'again-ok' : `again-${again.reason}`);
      if (r.ok) invariant(r.rtp.length === input.length, `decrypted ${r.rtp.length} bytes of a ${input.length}-byte packet`);
    }
    const c32 = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_32', masterKey: SRTP_KEY, masterSalt: SRTP_SALT, maxRocProbe: 3, native: !native });
    const r32 = c32.unprotect(input);
    labels.push(r32.ok ? 'ok32' : r32.reason);
    return labels.join(',');
  },
  expected: never,
};

// ---- STUN / TURN / MS-TURN ---------------------------------------------------------------------------------

/** parseTurn for a datagram and for a framed TCP unit, and the STUN primitives under it: never throw. */
const turn: FuzzTarget = {
  name: 'turn',
  maxSize: 8192,
  dictionary: [Buffer.from('2112a442', 'hex'), Buffer.from('000f000472c64bc6', 'hex'), Buffer.from('0013', 'hex'), Buffer.from('0012', 'hex'), Buffer.from('0020', 'hex'), Buffer.from('8020', 'hex'), Buffer.from('8095', 'hex'), Buffer.from('0001', 'hex'), Buffer.from('0002', 'hex'), Buffer.from('ff10', 'hex')],
  seeds: () => [...seeds.builtinTurn(), ...seeds.corpusPayloads().stun],
  run(input) {
    const a = parseTurn(input);
    const b = parseTurn(input, { stream: true });
    const h = readHeader(input);
    if (h !== undefined) {
      const end = Math.min(input.length, STUN_HEADER + h.length);
      for (const padded of [true, false]) {
        const attrs = readAttributes(input, STUN_HEADER, end, padded);
        for (const at of attrs ?? []) {
          readAddress(at.value);
          readAddress(at.value, h.txid);
          readAddress(at.value, '');
        }
      }
    }
    return `${a.kind}:${'code' in a ? a.code : ''}:${b.kind}`;
  },
  expected: never,
};

/** TurnTcpFramer as the at-edge mode uses it (joinMidStream on and off), gaps included, units parsed as framed. */
const turnTcp: FuzzTarget = {
  name: 'turn-tcp',
  maxSize: 64 * 1024,
  seeds: () => seeds.builtinTurnTcp(),
  run(input) {
    const labels = new Set<string>();
    for (const joinMidStream of [false, true]) {
      const f = new TurnTcpFramer({ joinMidStream });
      const chunks = chunksOf(input);
      chunks.forEach((c, i) => {
        const gap = joinMidStream && i > 0 && (c[0] ?? 0) % 7 === 0 ? 1 + (c[0] ?? 0) : undefined;
        for (const u of f.push(c, gap)) {
          labels.add(u.kind === 'frame' ? u.framing : u.kind);
          if (u.kind === 'frame') parseTurn(u.payload, { stream: true });
        }
      });
      for (const u of f.flush()) labels.add(u.kind);
    }
    return [...labels].sort().join(',');
  },
  expected: never,
};

// ---- HEP, TFWD, VXLAN, TZSP --------------------------------------------------------------------------------

/** decodeHep (v1, v2, v3; deflated payloads inflated under a small cap): never throws. */
const hep: FuzzTarget = {
  name: 'hep',
  maxSize: 70 * 1024,
  dictionary: [Buffer.from('HEP3'), Buffer.from('0000000f', 'hex'), Buffer.from('00000010', 'hex'), Buffer.from('78da', 'hex'), Buffer.from('1f8b08', 'hex'), Buffer.from('000000010007', 'hex'), Buffer.from('0210', 'hex'), Buffer.from('0228', 'hex')],
  seeds: () => seeds.builtinHep(),
  run(input) {
    const a = decodeHep(input);
    const b = decodeHep(input, { maxDecompressedBytes: 64, maxBytes: 1024 });
    if (a.ok && a.packet.compressed) invariant(a.packet.payload.length <= 256 * 1024, `inflated payload of ${a.packet.payload.length} bytes`);
    if (b.ok && b.packet.compressed) invariant(b.packet.payload.length <= 64, `inflated payload of ${b.packet.payload.length} bytes (cap 64)`);
    return `${a.ok ? `v${a.packet.version}` : a.reason}:${b.ok ? 'ok' : b.reason}`;
  },
  expected: never,
};

/** HepStreamReader over a TCP stream of records (as the HEP feed reads it), fed chunks, then ended. */
const hepStream: FuzzTarget = {
  name: 'hep-stream',
  maxSize: 160 * 1024,
  dictionary: [Buffer.from('HEP3'), Buffer.from('HEP3ffff', 'latin1'), Buffer.from('4845503300', 'hex')],
  seeds: () => {
    const h = seeds.builtinHep().filter((b) => b.toString('latin1', 0, 4) === 'HEP3');
    return [Buffer.concat(h), Buffer.concat([h[0] as Buffer, h[0] as Buffer, (h[1] as Buffer).subarray(0, 40)])];
  },
  run(input) {
    const r = new HepStreamReader({ maxRecordBytes: 4096 + ((input[5] ?? 0) & 1) * 61439 });
    const labels = new Set<string>();
    for (const c of chunksOf(input)) {
      const out = r.push(c);
      for (const x of out.results) labels.add(x.ok ? 'ok' : x.reason);
      if (out.fatal !== undefined) labels.add(`fatal-${out.fatal.reason}`);
      invariant(r.buffered <= 65535, `${r.buffered} bytes buffered`);
    }
    const end = r.end();
    if (end !== undefined) labels.add('truncated-end');
    return [...labels].sort().join(',');
  },
  expected: never,
};

const TFWD_KEYS = (): ReturnType<typeof tfwdKeyring> => tfwdKeyring([seeds.builtinTfwd().key]);

/** decodeTfwd without and with authentication, every record decoded as the raw IP packet it carries. */
const tfwd: FuzzTarget = {
  name: 'tfwd',
  maxSize: 66 * 1024,
  dictionary: [Buffer.from('TFWD'), Buffer.from('0101', 'hex'), Buffer.from('0028', 'hex')],
  seeds: () => [...seeds.builtinTfwd().plain, ...seeds.builtinTfwd().signed],
  run(input) {
    const a = decodeTfwd(input, { requireAuth: false });
    const b = decodeTfwd(input, { keys: TFWD_KEYS() });
    if (a.ok) {
      const dec = new PacketDecoder();
      for (const rec of a.records) {
        invariant(rec.data.length > 0 && rec.data.length <= input.length, `record of ${rec.data.length} bytes`);
        dec.decode({ ts: rec.ts, linkType: LinkType.RAW, data: rec.data, origLen: rec.data.length, interfaceId: 0, frameNo: 1 });
      }
    }
    return `${a.ok ? 'ok' : a.error}:${b.ok ? 'ok' : b.error}`;
  },
  expected: never,
};

function decodeEthernet(data: Buffer): string {
  const p = new PacketDecoder().decode({ ts: 1, linkType: LinkType.ETHERNET, data, origLen: data.length, interfaceId: 0, frameNo: 1 });
  return isSkipReason(p) ? p : p.proto;
}

/** decodeVxlan (with and without a VNI filter), then the inner Ethernet frame decoded. */
const vxlan: FuzzTarget = {
  name: 'vxlan',
  maxSize: 9000,
  seeds: () => seeds.builtinVxlanTzsp().vxlan,
  run(input) {
    const r = decodeVxlan(input);
    decodeVxlan(input, new Set([100, 101]));
    if (!r.ok) return r.error;
    invariant(r.frameOffset <= input.length, `frame offset ${r.frameOffset} beyond ${input.length}`);
    return decodeEthernet(input.subarray(r.frameOffset));
  },
  expected: never,
};

/** decodeTzsp, then the inner Ethernet frame decoded. */
const tzsp: FuzzTarget = {
  name: 'tzsp',
  maxSize: 9000,
  seeds: () => seeds.builtinVxlanTzsp().tzsp,
  run(input) {
    const r = decodeTzsp(input);
    if (!r.ok) return r.error;
    invariant(r.frameOffset <= input.length, `frame offset ${r.frameOffset} beyond ${input.length}`);
    return decodeEthernet(input.subarray(r.frameOffset));
  },
  expected: never,
};

// ---- chat bodies -------------------------------------------------------------------------------------------

const CHAT_DICT = words(
  'text/plain', 'text/html', 'text/rtf', 'multipart/alternative;boundary=', 'charset=', 'charset="', 'utf-8', 'iso-8859-1', 'shift_jis', 'utf-16',
  'msgr=', 'ms-body=', 'base64', 'quoted-printable', '=', '=\r\n', '=ZZ', ';', '"', '\\', '--', '\r\n\r\n', 'Content-Type: ', 'Content-Transfer-Encoding: ',
  '<b>', '</b>', '<br>', '<pre>', '</pre>', '<img alt="', '<!--', '<![CDATA[', '<script>', '</script>', '&amp;', '&#', '&#x', '<', '>',
  '{\\rtf1', '{', '}', '\\par ', "\\'e9", '\\u8364?', '\\uc2', '\\bin', '\\*', '{\\fonttbl{\\f0\\fcharset128 x;}}', '\\f0', '\\ansicpg932',
);

const KNOWN_TYPES = new Set(['text/plain', 'text/html', 'text/rtf', 'application/rtf', 'application/xhtml+xml', 'multipart/alternative', 'multipart/mixed', 'multipart/related', '']);

/** Outcome label of a content type: known ones by name, anything else as one label (mutated names are endless). */
function typeLabel(t: string): string {
  return KNOWN_TYPES.has(t) ? t : t.startsWith('text/') ? 'text/other' : 'other';
}

/** decodeTextBody as the chat tracker calls it: input = Content-Type line, Content-Transfer-Encoding line, body. */
const chatBody: FuzzTarget = {
  name: 'chat-body',
  text: true,
  dictionary: CHAT_DICT,
  seeds: () => seeds.builtinChat(),
  run(input) {
    const nl1 = input.indexOf(10);
    const nl2 = nl1 < 0 ? -1 : input.indexOf(10, nl1 + 1);
    const ct = input.toString('latin1', 0, nl1 < 0 ? input.length : nl1);
    const cte = nl1 < 0 ? undefined : input.toString('latin1', nl1 + 1, nl2 < 0 ? input.length : nl2);
    const body = nl2 < 0 ? Buffer.alloc(0) : input.subarray(nl2 + 1);
    parseContentType(ct);
    const d = decodeTextBody(ct || 'text/plain', body, cte === '' ? undefined : cte);
    return `${typeLabel(d.contentType)}:${d.warnings.length > 0}:${d.rich !== undefined}:${d.format?.decoded !== undefined}`;
  },
  expected: never,
};

/** decodeMsTextFormat on an INVITE's ms-text-format header value. */
const msTextFormat: FuzzTarget = {
  name: 'ms-text-format',
  text: true,
  dictionary: CHAT_DICT,
  seeds: () => seeds.builtinMsTextFormat(),
  run(input) {
    const d = decodeMsTextFormat(input.toString('latin1'));
    return d === undefined ? 'none' : `${typeLabel(d.contentType)}:${d.warnings.length > 0}:${d.format?.decoded !== undefined}`;
  },
  expected: never,
};

/** htmlToText on a text/html body (UTF-8). */
const html: FuzzTarget = {
  name: 'html',
  text: true,
  dictionary: CHAT_DICT.slice(24, 37),
  seeds: () => [Buffer.from(seeds.HTML_DOC), Buffer.from('<span style="x">Hi <b>there</b></span>'), Buffer.from('a &lt; b <pre>\r\n x </pre>')],
  run(input) {
    const text = htmlToText(input.toString('utf8'));
    return `${text.length > 0}:${text.includes('\n')}:${text.includes('\t')}`;
  },
  expected: never,
};

/** rtfToText on a text/rtf body (latin1: every byte one character, as the chat plugin reads RTF). */
const rtf: FuzzTarget = {
  name: 'rtf',
  text: true,
  dictionary: CHAT_DICT.slice(37),
  seeds: () => [Buffer.from(seeds.RTF_DOC, 'latin1'), Buffer.from('{\\rtf1\\ansi hello {\\b world'), Buffer.from("{\\rtf1\\u99999999999\\'zz\\bin5 }}}}")],
  run(input) {
    const s = input.toString('latin1');
    const r = rtfToText(s);
    return `${looksLikeRtf(s)}:${r.warnings.length > 0}`;
  },
  expected: never,
};

/** The XML event bodies (is-composing, KeyboardActivity, ms-imdn, conference-info): undefined, never a throw. */
const chatXml: FuzzTarget = {
  name: 'chat-xml',
  text: true,
  dictionary: words('<', '>', '</', '/>', '<?xml version="1.0"?>', '<!DOCTYPE x [<!ENTITY a "', '">]>', '&a;', '&amp;', '&#', '<![CDATA[', ']]>', '<!--', '-->', '="', '"', "'", 'xmlns:x="y"', 'x:', '<users>', '<user entity="', '<endpoint session-type="chat"', '<status>', '<recipient uri="', '__proto__', 'constructor'),
  seeds: () => seeds.builtinXml(),
  run(input) {
    const s = input.toString('utf8');
    const a = readIsComposing(s);
    const b = readKeyboardActivity(s);
    const c = readImdn(s);
    const d = readConferenceInfo(s);
    return `${a !== undefined}${b !== undefined}${c !== undefined}${d !== undefined}`;
  },
  expected: never,
};

/**
 * ChatTracker (the chat plugin's SIP follower) fed a sequence of SIP datagrams, each parsed leniently as the UDP
 * ingest does; then every conversation closed. Headers (EndPoints, Ms-Sender, ms-text-format...) and bodies are
 * read here the way a recording reads them.
 */
const chatSession: FuzzTarget = {
  name: 'chat-session',
  text: true,
  dictionary: [...CHAT_DICT.slice(0, 24), ...SIP_DICT, ...words('EndPoints: ', 'Roster-Manager: ', 'Ms-Sender: ', 'Ms-Conversation-ID: ', 'ms-text-format: ', 'Supported: ms-text-format', 'Require: com.microsoft.rtc-multiparty', 'MESSAGE ', 'INFO ', 'BYE ', 'NOTIFY ', ';gruu;opaque=app:conf:chat:id:', 'application/im-iscomposing+xml', 'application/ms-imdn+xml', 'application/conference-info+xml'), seeds.SESSION_SEPARATOR],
  seeds: () => seeds.builtinSessions(),
  run(input) {
    const tracker = new ChatTracker({ idleTimeoutSec: 30, typingEvents: true });
    let ended = 0;
    tracker.on('end', () => void ended++);
    let ts = 1_700_000_000_000_000;
    let parsed = 0;
    for (const dgram of datagrams(input)) {
      ts += 1_000_000;
      const m = soft(() => parseSipMessage(dgram, { lenient: true, transport: 'udp' }), taplineCodes(ErrorCodes.SIP_PARSE));
      if (isFailed(m)) continue;
      parsed++;
      tracker.onSip(m, { ts, src: '10.0.0.1', sport: 5061, dst: '10.0.0.2', dport: 5061, transport: 'udp' });
    }
    const open = tracker.open().length;
    tracker.closeAll(ts + 1_000_000);
    invariant(tracker.open().length === 0, `${tracker.open().length} conversations open after closeAll`);
    return `${Math.min(parsed, 8)}:${Math.min(open, 3)}:${Math.min(ended, 3)}:${tracker.stats.sessions > 0}:${tracker.stats.orphans > 0}`;
  },
  expected: never,
};

/** The SIP datagrams of a session input (separated by seeds.SESSION_SEPARATOR), at most 64. */
function datagrams(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let from = 0; from <= input.length && out.length < 64; ) {
    let sep = input.indexOf(seeds.SESSION_SEPARATOR, from);
    if (sep < 0) sep = input.length;
    out.push(input.subarray(from, sep));
    from = sep + seeds.SESSION_SEPARATOR.length;
  }
  return out;
}

/**
 * DialogTracker (calls: INVITE transactions, re-INVITEs, Replaces, SDP offers and answers, hold) fed a sequence of
 * SIP datagrams parsed leniently as the UDP ingest does, its timers ticked with capture time, then closed.
 */
const dialog: FuzzTarget = {
  name: 'dialog',
  text: true,
  dictionary: [...SIP_DICT, ...SDP_DICT.slice(0, 12), ...words('Replaces: ', 'Refer-To: ', 'Referred-By: ', 'Session-Expires: ', 'a=sendonly', 'a=inactive', 'CANCEL ', 'ACK ', 'BYE ', 'UPDATE ', 'PRACK ', 'SIP/2.0 487 Request Terminated\r\n', 'SIP/2.0 401 Unauthorized\r\n', ';to-tag=', ';from-tag=', ';early-only'), seeds.SESSION_SEPARATOR],
  seeds: () => seeds.dialogSessions(),
  run(input) {
    const tracker = new DialogTracker();
    let ended = 0;
    tracker.on('callEnd', () => void ended++);
    let ts = 1_700_000_000_000_000;
    let parsed = 0;
    for (const d of datagrams(input)) {
      ts += 500_000 + (d.length & 0xff) * 100_000;
      const m = soft(() => parseSipMessage(d, { lenient: true, transport: 'udp' }), taplineCodes(ErrorCodes.SIP_PARSE));
      if (isFailed(m)) continue;
      parsed++;
      tracker.onMessage(m, { ts, src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5060, transport: 'udp' });
      tracker.tick(ts);
    }
    const open = tracker.size;
    tracker.closeAll(ts + 1_000_000);
    invariant(tracker.size === 0, `${tracker.size} calls open after closeAll`);
    return `${Math.min(parsed, 8)}:${Math.min(open, 3)}:${Math.min(ended, 3)}:${tracker.stats.badSdp > 0}:${tracker.stats.orphanMessages > 0}:${tracker.stats.imSessions > 0}`;
  },
  expected: never,
};

/** WebSocketDeframer (SIP over WebSocket, RFC 7118) fed one direction's bytes in chunks. */
const websocket: FuzzTarget = {
  name: 'websocket',
  maxSize: 96 * 1024,
  dictionary: [Buffer.from('\r\n\r\n'), Buffer.from([0x81, 0xfe]), Buffer.from([0x82, 0x7f, 0, 0, 0, 0]), Buffer.from([0x88, 0x00]), Buffer.from([0x89, 0x80])],
  seeds: () => [...seeds.builtinWebSocket(), ...seeds.corpusPayloads().websocket],
  run(input) {
    const d = new WebSocketDeframer(16 * 1024);
    const labels = new Set<string>();
    for (const c of chunksOf(input)) {
      for (const o of d.push(c)) {
        if ('message' in o) {
          labels.add('msg');
          invariant(o.message.length <= 16 * 1024, `message of ${o.message.length} bytes (max 16 KiB)`);
        } else labels.add(o.error.split(' ').slice(0, 3).join(' '));
      }
    }
    return [...labels].sort().join(',');
  },
  expected: never,
};

/**
 * A SIPREC recording INVITE as the recording server reads it: the SIP message, its body split into SDP and
 * metadata (vendor habits tolerated), the SDP, the RFC 7865 metadata, and the channel mapping made of them.
 * Refusals are BodyError / MetadataError (answered 4xx) or the SIP and SDP parsers' own errors; nothing else.
 */
const siprec: FuzzTarget = {
  name: 'siprec',
  text: true,
  dictionary: words('<recording xmlns="urn:ietf:params:xml:ns:recording:1">', '</recording>', '<participant participant_id="', '<stream stream_id="', '<label>', '</label>', '<send>', '</send>', '<participantstreamassoc participant_id="', '<nameID aor="', '<name>', 'session_id="', 'tns:', 'a=label:', 'a=sendonly', 'm=audio 0 RTP/SAVP 0', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:', '--b\r\n', 'Content-Type: application/rs-metadata+xml', 'Content-Disposition: recording-session', '<?xml version="1.0"?>', '&amp;', '__proto__'),
  seeds: () => {
    const out: Buffer[] = [];
    const invite = (ct: string, body: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:src@x>;tag=a\r\nTo: <sip:srs@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nRequire: siprec\r\nContent-Type: ${ct}\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
    for (const c of seeds.corpusMultipartBodies()) out.push(invite(c.contentType, c.body));
    out.push(invite('multipart/mixed;boundary=b', Buffer.from(seeds.SIPREC_BUILTIN_BODY, 'utf8')));
    return out;
  },
  run(input) {
    const msg = soft(() => parseSipMessage(input, { transport: 'udp', lenient: true }), taplineCodes(ErrorCodes.SIP_PARSE));
    if (isFailed(msg)) return msg.failed;
    if (msg.kind !== 'request') return 'response';
    let body;
    try {
      body = splitRecordingBody(msg);
    } catch (e) {
      if (e instanceof BodyError) return `body-${e.status}`;
      throw e;
    }
    const sdpSession = body.sdp === undefined ? undefined : soft(() => parseSdp(body.sdp as Buffer), taplineCodes(ErrorCodes.SDP_PARSE));
    if (sdpSession !== undefined && isFailed(sdpSession)) return sdpSession.failed;
    let md;
    if (body.metadata !== undefined) {
      try {
        md = parseRecordingMetadata(body.metadata);
      } catch (e) {
        if (e instanceof MetadataError) return 'metadata-refused';
        throw e;
      }
    }
    if (sdpSession === undefined) return `no-sdp:${md !== undefined}`;
    const parties = sessionParties(msg, sdpSession, md, undefined);
    invariant((parties.annotation.mediaSenders ?? []).length === sdpSession.media.length, 'one sender per m-line');
    return `ok:${sdpSession.media.length}:${md?.participants.length ?? -1}:${parties.caller !== undefined}`;
  },
  expected: never,
};

/** Every target, in round-robin order. */
export function allTargets(): FuzzTarget[] {
  return [capture, decode, tcpReassembly, sip, sipStream, multipart, sdp, rtp, srtp, turn, turnTcp, hep, hepStream, tfwd, vxlan, tzsp, chatBody, msTextFormat, html, rtf, chatXml, chatSession, dialog, websocket, siprec];
}

export function targetByName(name: string): FuzzTarget | undefined {
  return allTargets().find((t) => t.name === name);
}
