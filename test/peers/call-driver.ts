/**
 * A scripted SIP + RTP phone pair for recorder tests: real UDP sockets, one process per host (the caller on one
 * lab host, the callee on another), so every packet really crosses the lab's bridge and any capture on the way
 * sees it. No proxy: the caller sends its INVITE straight to the callee's SIP port.
 *
 * Per call: INVITE with SDP (PCMU/8000, the host's address, an RTP port of the call's own) → 100, 180, 200 with
 * SDP → ACK; RTP both ways at 20 ms (160 bytes of PCMU) for `durationSec`; BYE → 200. INVITE, 200 and BYE are
 * retransmitted (RFC 3261 timer A/G/E, T1 = 500 ms) so one lost datagram does not lose a call.
 *
 * Audio: each call and direction sends its own continuous signal, a tone (distinct frequency per call and
 * direction) plus seeded, low-passed noise. There is never digital silence, so any gap in a recording is a run of
 * zero samples; the tone names the call and side; the noise makes every 20 ms of it unique, so cross-correlation
 * against sourceSignal() says exactly which sent samples a recording holds (test/failover-audit.ts does that).
 * Sample k of a direction is in RTP packet floor(k / 160), whose RTP timestamp is firstRtpTs + k - k % 160 and
 * which was due at gridStartUs + 20 ms · floor(k / 160) (the manifest says how late any packet actually left).
 *
 * CLI (compiled: node dist/test/peers/call-driver.js, inside a lab host with `ip netns exec NS …`):
 *   callee --addr A [--sip-port 5060] [--rtp-base 30000] [--expect N] [--timeout-sec S] [--ring-ms 100]
 *          [--answer-ms 200] --manifest FILE
 *   caller --addr A --peer B[:PORT] [--sip-port 5060] [--rtp-base 20000] [--calls N] [--duration-sec D]
 *          [--spacing-ms 300] [--concurrency C] [--call-id-prefix P] [--first-index I] --manifest FILE
 * The callee prints "call-driver callee listening on A:PORT" once bound and exits after --expect calls ended (or
 * on SIGINT/SIGTERM, or after --timeout-sec); the caller exits when its calls are over, 0 if every one completed.
 * Each writes a JSON manifest of its side (SideManifest); mergeManifests() joins the two per Call-ID.
 * From a test: startCallPair() / runCallPair() start both in lab namespaces and return the merged manifest.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { encodeUlaw } from '../../core/media/g711';
import { rtpPacket } from '../../core/testing/rtp';
import { mulberry32 } from '../../core/testing/prng';
import { sleep, startProc, type Proc } from './proc';

export const SAMPLE_RATE = 8000;
export const FRAME_SAMPLES = 160;
export const FRAME_MS = 20;
const PT_PCMU = 0;

export type Role = 'caller' | 'callee';

// ---------------------------------------------------------------------------------------------------------------
// The signal

export interface SignalParams {
  toneHz: number;
  seed: number;
}

/** Tone peak and noise RMS: together they stay below ~21000 (no clipping); the noise holds ~56% of the power. */
const TONE_PEAK = 5000;
const NOISE_RMS = 4000;
/** One-pole low-pass of the noise (smooth, yet its autocorrelation falls to 0.2 within 10 samples). */
const NOISE_POLE = 0.85;
/** Gain making the filtered uniform noise unit-variance: var = g²·(1/3) / (1 - pole²). */
const NOISE_GAIN = Math.sqrt(3 * (1 - NOISE_POLE * NOISE_POLE));
/** 64 tones 40 Hz apart, 300…2820 Hz: calls 0-31 get distinct tones on both sides. */
const TONE_BASE_HZ = 300;
const TONE_STEP_HZ = 40;
const TONE_SLOTS = 64;

/** The signal of call `index`, `role`'s side: what both the driver and an audit derive from the index alone. */
export function signalFor(index: number, role: Role): SignalParams {
  const slot = (2 * index + (role === 'caller' ? 0 : 1)) % TONE_SLOTS;
  const seed = (Math.imul(index + 1, 0x9e3779b1) ^ (role === 'caller' ? 0x0badcafe : 0x5eed1234)) >>> 0;
  return { toneHz: TONE_BASE_HZ + TONE_STEP_HZ * slot, seed };
}

/** Generates a direction's signal sample by sample from sample 0 (the noise filter has state, so it is sequential). */
export class SignalGen {
  private k = 0;
  private y = 0;
  private readonly rnd: () => number;
  private readonly w: number;

  constructor(readonly params: SignalParams) {
    this.rnd = mulberry32(params.seed);
    this.w = (2 * Math.PI * params.toneHz) / SAMPLE_RATE;
  }

  next(n: number): Int16Array {
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      this.y = NOISE_POLE * this.y + NOISE_GAIN * (this.rnd() * 2 - 1);
      const v = TONE_PEAK * Math.sin(this.w * this.k) + NOISE_RMS * this.y;
      out[i] = Math.max(-32767, Math.min(32767, Math.round(v)));
      this.k++;
    }
    return out;
  }
}

/** Samples 0 … n-1 of a direction's signal (linear, before µ-law). */
export function sourceSignal(params: SignalParams, n: number): Int16Array {
  return new SignalGen(params).next(n);
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests

/** One direction of one call, as its sender saw it. Times are wall clock, µs since the epoch. */
export interface DirectionRecord {
  from: Role;
  toneHz: number;
  seed: number;
  ssrc: number;
  /** RTP timestamp of packet 0 (sample 0 of the signal). */
  firstRtpTs: number;
  /** RTP packets sent (each 160 samples: the signal's samples 0 … packets·160 - 1). */
  packets: number;
  /**
   * Wall time at which packet 0 was due: packet i is due at gridStartUs + 20 ms · i. This, not firstSentUs, is
   * where sample 0 belongs (a recorder anchors a stream on its least-delayed packets; packet 0 may leave late).
   */
  gridStartUs: number;
  /** Send time of packet 0 and of the last packet (0 when none was sent). */
  firstSentUs: number;
  lastSentUs: number;
  /** Largest lateness of a packet behind its due time, ms (a stalled driver, not the network or the recorder). */
  maxLateMs: number;
  /** RTP packets this side received from the other on the same socket. */
  received: number;
  local: string;
  remote: string;
}

export interface SideCallRecord {
  callId: string;
  index: number;
  role: Role;
  /** INVITE sent / received. */
  inviteUs: number;
  /** 200 OK to the INVITE received / sent. */
  answerUs: number;
  /** BYE sent / received, and its 200 received / sent (0 when it never came). */
  byeUs: number;
  endUs: number;
  ok: boolean;
  error?: string;
  sent: DirectionRecord;
}

export interface SideManifest {
  tool: 'tapline-call-driver';
  version: 1;
  role: Role;
  addr: string;
  sipPort: number;
  startedUs: number;
  finishedUs: number;
  calls: SideCallRecord[];
}

/** One call, both sides joined. */
export interface CallManifestEntry {
  callId: string;
  index: number;
  /** The caller's INVITE and the end of the call (the BYE's 200), µs and ISO. */
  startUs: number;
  endUs: number;
  start: string;
  end: string;
  /** Both sides completed the call. */
  ok: boolean;
  errors: string[];
  caller?: DirectionRecord;
  callee?: DirectionRecord;
}

export interface CallManifest {
  calls: CallManifestEntry[];
}

export function readSideManifest(file: string): SideManifest {
  const v = JSON.parse(fs.readFileSync(file, 'utf8')) as SideManifest;
  if (v.tool !== 'tapline-call-driver' || !Array.isArray(v.calls)) throw new Error(`${file} is not a call-driver manifest`);
  return v;
}

/** Joins the caller's and the callee's manifests per Call-ID (a call only one side knows is kept, not ok). */
export function mergeManifests(...sides: SideManifest[]): CallManifest {
  const byId = new Map<string, CallManifestEntry>();
  for (const side of sides) {
    for (const c of side.calls) {
      let e = byId.get(c.callId);
      if (e === undefined) {
        e = { callId: c.callId, index: c.index, startUs: c.inviteUs, endUs: c.endUs, start: '', end: '', ok: true, errors: [] };
        byId.set(c.callId, e);
      }
      if (c.role === 'caller') {
        // The caller's clock of the call is the reference: it sent the INVITE and got the BYE's answer.
        e.startUs = c.inviteUs;
        e.endUs = c.endUs;
        e.caller = c.sent;
      } else {
        e.callee = c.sent;
        if (e.startUs === 0) e.startUs = c.inviteUs;
        if (e.endUs === 0) e.endUs = c.endUs;
      }
      if (!c.ok) e.ok = false;
      if (c.error !== undefined) e.errors.push(`${c.role}: ${c.error}`);
    }
  }
  const calls = [...byId.values()].sort((a, b) => a.index - b.index || a.startUs - b.startUs);
  for (const e of calls) {
    if (e.caller === undefined || e.callee === undefined) {
      e.ok = false;
      e.errors.push(`only the ${e.caller === undefined ? 'callee' : 'caller'} knows this call`);
    }
    e.start = e.startUs > 0 ? new Date(e.startUs / 1000).toISOString() : '';
    e.end = e.endUs > 0 ? new Date(e.endUs / 1000).toISOString() : '';
  }
  return { calls };
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------------------------
// Clocks and RTP

/** Wall clock in µs, finer than Date.now() (a recorder's capture times are µs). */
export function wallUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

interface Stream {
  sock: dgram.Socket;
  host: string;
  port: number;
  gen: SignalGen;
  ssrc: number;
  seq: number;
  rtpTs: number;
  /** performance.now() at which packet 0 was due. */
  t0: number;
  rec: DirectionRecord;
}

/**
 * Sends every stream's packets on a 20 ms grid (packet i due at t0 + 20·i ms). One timer for all streams, set to
 * the earliest due packet; a late timer sends what is due at once (consecutive timestamps: the recorder places by
 * timestamp, so a late burst is not a gap).
 */
class RtpPump {
  private readonly streams = new Set<Stream>();
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    // The first encode builds lookup tables and compiles: done here, not late on a call's first packet.
    rtpPacket({ pt: PT_PCMU, seq: 0, ts: 0, ssrc: 0, payload: encodeUlaw(new SignalGen({ toneHz: 1000, seed: 1 }).next(FRAME_SAMPLES)) });
  }

  start(sock: dgram.Socket, host: string, port: number, rec: DirectionRecord, params: SignalParams): Stream {
    const t0 = performance.now();
    rec.gridStartUs = Math.round((performance.timeOrigin + t0) * 1000);
    const s: Stream = { sock, host, port, gen: new SignalGen(params), ssrc: rec.ssrc, seq: randomBytes(2).readUInt16BE(0), rtpTs: rec.firstRtpTs, t0, rec };
    this.streams.add(s);
    this.tick();
    return s;
  }

  stop(s: Stream): void {
    this.streams.delete(s);
  }

  private tick(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    let nextDue = Infinity;
    for (const s of this.streams) {
      while (s.t0 + s.rec.packets * FRAME_MS <= now) this.send(s);
      nextDue = Math.min(nextDue, s.t0 + s.rec.packets * FRAME_MS);
    }
    if (nextDue !== Infinity) this.timer = setTimeout(() => this.tick(), Math.max(1, nextDue - performance.now()));
  }

  private send(s: Stream): void {
    const payload = encodeUlaw(s.gen.next(FRAME_SAMPLES));
    const pkt = rtpPacket({ pt: PT_PCMU, seq: s.seq, ts: s.rtpTs, ssrc: s.ssrc, marker: s.rec.packets === 0, payload });
    s.sock.send(pkt, s.port, s.host);
    const late = performance.now() - (s.t0 + s.rec.packets * FRAME_MS);
    if (late > s.rec.maxLateMs) s.rec.maxLateMs = Math.round(late * 10) / 10;
    const t = wallUs();
    if (s.rec.packets === 0) s.rec.firstSentUs = t;
    s.rec.lastSentUs = t;
    s.rec.packets++;
    s.seq = (s.seq + 1) & 0xffff;
    s.rtpTs = (s.rtpTs + FRAME_SAMPLES) >>> 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SIP text

interface SipMsg {
  request?: { method: string; uri: string };
  status?: number;
  headers: Map<string, string[]>;
  body: string;
}

const COMPACT: Readonly<Record<string, string>> = { i: 'call-id', f: 'from', t: 'to', v: 'via', m: 'contact', l: 'content-length', c: 'content-type' };

function parseSip(text: string): SipMsg | undefined {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 4);
  const lines = head.split('\r\n');
  const first = lines.shift() ?? '';
  const msg: SipMsg = { headers: new Map(), body };
  const st = /^SIP\/2\.0 (\d{3}) /.exec(first);
  const rq = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(first);
  if (st !== null) msg.status = Number(st[1]);
  else if (rq !== null) msg.request = { method: rq[1] as string, uri: rq[2] as string };
  else return undefined;
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const raw = l.slice(0, c).trim().toLowerCase();
    const name = COMPACT[raw] ?? raw;
    const list = msg.headers.get(name) ?? [];
    list.push(l.slice(c + 1).trim());
    msg.headers.set(name, list);
  }
  return msg;
}

const hdr = (m: SipMsg, name: string): string => m.headers.get(name)?.[0] ?? '';

function cseqOf(m: SipMsg): { n: number; method: string } {
  const [n, method] = hdr(m, 'cseq').split(/\s+/);
  return { n: Number(n), method: method ?? '' };
}

function tagOf(value: string): string | undefined {
  return /;\s*tag=([^;>\s]+)/i.exec(value)?.[1];
}

function build(first: string, headers: string[], body = ''): string {
  const lines = [first, ...headers];
  if (body !== '') lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

function sdpOffer(addr: string, port: number, sessionId: number): string {
  return ['v=0', `o=tapline-driver ${sessionId} 1 IN IP4 ${addr}`, 's=call-driver', `c=IN IP4 ${addr}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
}

/** The audio address of an SDP (session or media c= line). */
function sdpAudio(body: string): { addr: string; port: number } | undefined {
  const c = /^c=IN IP4 (\S+)/m.exec(body);
  const m = /^m=audio (\d+) /m.exec(body);
  if (c === null || m === null) return undefined;
  return { addr: c[1] as string, port: Number(m[1]) };
}

const token = (): string => randomBytes(6).toString('hex');

/** RFC 3261 timer A/E: T1, doubling up to T2 (4 s), until `done` or the total wait passes `giveUpMs`. */
async function retransmit(send: () => void, done: () => boolean, giveUpMs: number): Promise<boolean> {
  const t0 = Date.now();
  let wait = 500;
  send();
  while (!done()) {
    const left = giveUpMs - (Date.now() - t0);
    if (left <= 0) return false;
    const until = Date.now() + Math.min(wait, left);
    while (!done() && Date.now() < until) await sleep(10);
    if (done()) break;
    if (Date.now() - t0 >= giveUpMs) return false;
    send();
    wait = Math.min(wait * 2, 4000);
  }
  return true;
}

function bindUdp(addr: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind({ address: addr, port, exclusive: true }, () => {
      s.removeListener('error', reject);
      s.on('error', () => undefined); // ICMP port unreachable after the peer closed: nothing to do
      resolve(s);
    });
  });
}

function closeUdp(s: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // closed already
    }
  });
}

function newDirection(from: Role, params: SignalParams, local: string): DirectionRecord {
  return { from, toneHz: params.toneHz, seed: params.seed, ssrc: randomBytes(4).readUInt32BE(0), firstRtpTs: randomBytes(4).readUInt32BE(0), packets: 0, gridStartUs: 0, firstSentUs: 0, lastSentUs: 0, maxLateMs: 0, received: 0, local, remote: '' };
}

// ---------------------------------------------------------------------------------------------------------------
// Callee

export interface CalleeOptions {
  addr: string;
  sipPort?: number;
  /** Call n (in INVITE arrival order) gets RTP port rtpBase + 2n. */
  rtpBase?: number;
  /** Resolve after this many calls ended (BYE answered). */
  expect?: number;
  ringMs?: number;
  answerMs?: number;
  log?: (line: string) => void;
}

export interface CalleeHandle {
  readonly done: Promise<SideManifest>;
  /** Ends every call still running (no BYE), and resolves `done`. */
  stop(): void;
  manifest(): SideManifest;
}

interface CalleeCall {
  rec: SideCallRecord;
  sock: dgram.Socket;
  stream?: Stream;
  responses: string[];
  final?: string;
  acked: boolean;
  ended: boolean;
  peer: { addr: string; port: number };
}

export async function runCallee(o: CalleeOptions): Promise<CalleeHandle> {
  const sipPort = o.sipPort ?? 5060;
  const rtpBase = o.rtpBase ?? 30000;
  const log = o.log ?? ((l: string) => console.log(l));
  const sip = await bindUdp(o.addr, sipPort);
  const pump = new RtpPump();
  const calls = new Map<string, CalleeCall>();
  const started = wallUs();
  let slots = 0;
  let ended = 0;
  let finish: (m: SideManifest) => void = () => undefined;
  const done = new Promise<SideManifest>((r) => (finish = r));
  let finished = false;

  const manifest = (): SideManifest => ({ tool: 'tapline-call-driver', version: 1, role: 'callee', addr: o.addr, sipPort, startedUs: started, finishedUs: wallUs(), calls: [...calls.values()].map((c) => c.rec) });
  const end = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    for (const c of calls.values()) {
      if (c.stream !== undefined) pump.stop(c.stream);
      if (!c.ended) {
        c.rec.ok = false;
        c.rec.error ??= 'stopped before the BYE';
      }
      await closeUdp(c.sock);
    }
    await closeUdp(sip);
    finish(manifest());
  };

  const send = (text: string, to: { addr: string; port: number }): void => {
    sip.send(text, to.port, to.addr);
  };
  const reply = (req: SipMsg, status: number, reason: string, toTag: string | undefined, extra: string[] = [], body = ''): string => {
    const to = hdr(req, 'to');
    const headers = [...(req.headers.get('via') ?? []).map((v) => `Via: ${v}`), `From: ${hdr(req, 'from')}`, `To: ${toTag !== undefined && tagOf(to) === undefined ? `${to};tag=${toTag}` : to}`, `Call-ID: ${hdr(req, 'call-id')}`, `CSeq: ${hdr(req, 'cseq')}`, ...extra];
    return build(`SIP/2.0 ${status} ${reason}`, headers, body);
  };

  const onInvite = async (req: SipMsg, from: { addr: string; port: number }): Promise<void> => {
    const callId = hdr(req, 'call-id');
    const known = calls.get(callId);
    if (known !== undefined) {
      // A retransmitted INVITE: the latest answer again.
      const last = known.final ?? known.responses[known.responses.length - 1];
      if (last !== undefined) send(last, from);
      return;
    }
    const slot = slots++;
    const headerIndex = Number(hdr(req, 'x-tapline-call-index'));
    const index = hdr(req, 'x-tapline-call-index') !== '' && Number.isInteger(headerIndex) ? headerIndex : slot;
    const port = rtpBase + 2 * slot;
    const params = signalFor(index, 'callee');
    const rec: SideCallRecord = { callId, index, role: 'callee', inviteUs: wallUs(), answerUs: 0, byeUs: 0, endUs: 0, ok: false, sent: newDirection('callee', params, `${o.addr}:${port}`) };
    let sock: dgram.Socket;
    try {
      sock = await bindUdp(o.addr, port);
    } catch (e) {
      rec.error = `RTP port ${port}: ${(e as Error).message}`;
      send(reply(req, 503, 'Service Unavailable', token()), from);
      return;
    }
    const call: CalleeCall = { rec, sock, responses: [], acked: false, ended: false, peer: from };
    calls.set(callId, call);
    sock.on('message', () => rec.sent.received++);
    const offer = sdpAudio(req.body);
    if (offer === undefined) {
      rec.error = 'INVITE without a usable SDP offer';
      call.final = reply(req, 488, 'Not Acceptable Here', token());
      send(call.final, from);
      return;
    }
    rec.sent.remote = `${offer.addr}:${offer.port}`;
    const toTag = token();
    const respond = (status: number, reason: string, extra: string[] = [], body = ''): string => {
      const text = reply(req, status, reason, status === 100 ? undefined : toTag, extra, body);
      call.responses.push(text);
      send(text, from);
      return text;
    };
    respond(100, 'Trying');
    await sleep(o.ringMs ?? 100);
    if (call.ended) return;
    respond(180, 'Ringing', [`Contact: <sip:callee${index}@${o.addr}:${sipPort}>`]);
    await sleep(o.answerMs ?? 200);
    if (call.ended) return;
    const ok = respond(200, 'OK', [`Contact: <sip:callee${index}@${o.addr}:${sipPort}>`], sdpOffer(o.addr, port, 2000 + index));
    call.final = ok;
    rec.answerUs = wallUs();
    // Media from the answer on, as phones do (not from the ACK).
    call.stream = pump.start(sock, offer.addr, offer.port, rec.sent, params);
    log(`callee: call ${index} ${callId} answered, RTP ${o.addr}:${port} -> ${offer.addr}:${offer.port}`);
    // Timer G: the 200 again until the ACK (or the BYE) comes.
    void retransmit(
      () => send(ok, from),
      () => call.acked || call.ended || finished,
      32_000,
    );
  };

  const onBye = async (req: SipMsg, from: { addr: string; port: number }): Promise<void> => {
    const call = calls.get(hdr(req, 'call-id'));
    if (call === undefined) {
      send(reply(req, 481, 'Call/Transaction Does Not Exist', undefined), from);
      return;
    }
    send(reply(req, 200, 'OK', undefined), from);
    if (call.ended) return; // a retransmitted BYE: answered again
    call.ended = true;
    call.rec.byeUs = wallUs();
    if (call.stream !== undefined) pump.stop(call.stream);
    call.rec.endUs = wallUs();
    call.rec.ok = call.rec.error === undefined && call.rec.sent.packets > 0;
    log(`callee: call ${call.rec.index} ${call.rec.callId} ended, sent ${call.rec.sent.packets} received ${call.rec.sent.received}`);
    // Late RTP from the caller still counts for a moment; then the port is given back.
    await sleep(200);
    ended++;
    if (o.expect !== undefined && ended >= o.expect) await end();
  };

  sip.on('message', (buf, rinfo) => {
    const m = parseSip(buf.toString('utf8'));
    if (m?.request === undefined) return;
    const from = { addr: rinfo.address, port: rinfo.port };
    switch (m.request.method) {
      case 'INVITE':
        void onInvite(m, from);
        break;
      case 'ACK': {
        const c = calls.get(hdr(m, 'call-id'));
        if (c !== undefined) c.acked = true;
        break;
      }
      case 'BYE':
        void onBye(m, from);
        break;
      default:
        send(reply(m, 501, 'Not Implemented', token()), from);
    }
  });
  log(`call-driver callee listening on ${o.addr}:${sipPort}`);
  return { done, stop: () => void end(), manifest };
}

// ---------------------------------------------------------------------------------------------------------------
// Caller

export interface CallerOptions {
  addr: string;
  /** The callee's SIP address. */
  peer: { addr: string; port: number };
  sipPort?: number;
  /** Call i gets RTP port rtpBase + 2i. */
  rtpBase?: number;
  calls: number;
  durationSec: number;
  /** Call i starts spacingMs·i after the first (later when `concurrency` calls are already up). */
  spacingMs?: number;
  concurrency?: number;
  callIdPrefix?: string;
  /** Index of the first call (signals and tones follow the index). */
  firstIndex?: number;
  log?: (line: string) => void;
}

interface Pending {
  onResponse: (m: SipMsg) => void;
}

export async function runCaller(o: CallerOptions): Promise<SideManifest> {
  const sipPort = o.sipPort ?? 5060;
  const rtpBase = o.rtpBase ?? 20000;
  const prefix = o.callIdPrefix ?? 'tapline-drv';
  const log = o.log ?? ((l: string) => console.log(l));
  const sip = await bindUdp(o.addr, sipPort);
  const pump = new RtpPump();
  const pending = new Map<string, Pending>();
  const records: SideCallRecord[] = [];
  const started = wallUs();
  const runId = token();

  sip.on('message', (buf) => {
    const m = parseSip(buf.toString('utf8'));
    if (m?.status === undefined) return;
    pending.get(hdr(m, 'call-id'))?.onResponse(m);
  });
  const send = (text: string): void => {
    sip.send(text, o.peer.port, o.peer.addr);
  };

  const oneCall = async (i: number): Promise<void> => {
    const index = (o.firstIndex ?? 0) + i;
    const callId = `${prefix}-${index}-${runId}@${o.addr}`;
    const port = rtpBase + 2 * i;
    const params = signalFor(index, 'caller');
    const rec: SideCallRecord = { callId, index, role: 'caller', inviteUs: 0, answerUs: 0, byeUs: 0, endUs: 0, ok: false, sent: newDirection('caller', params, `${o.addr}:${port}`) };
    records.push(rec);
    let sock: dgram.Socket;
    try {
      sock = await bindUdp(o.addr, port);
    } catch (e) {
      rec.error = `RTP port ${port}: ${(e as Error).message}`;
      return;
    }
    sock.on('message', () => rec.sent.received++);
    const fromTag = token();
    const fromHdr = `"Caller ${index}" <sip:caller${index}@${o.addr}>;tag=${fromTag}`;
    const toUri = `sip:callee${index}@${o.peer.addr}:${o.peer.port}`;
    const via = (branch: string): string => `Via: SIP/2.0/UDP ${o.addr}:${sipPort};branch=z9hG4bK${branch};rport`;
    const inviteBranch = token();
    const invite = build(
      `INVITE ${toUri} SIP/2.0`,
      [via(inviteBranch), 'Max-Forwards: 70', `From: ${fromHdr}`, `To: <sip:callee${index}@${o.peer.addr}>`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE', `Contact: <sip:caller${index}@${o.addr}:${sipPort}>`, `X-Tapline-Call-Index: ${index}`, 'User-Agent: tapline-call-driver'],
      sdpOffer(o.addr, port, 1000 + index),
    );
    let provisional = false;
    let answer: SipMsg | undefined;
    let byeAnswered = false;
    let failed: string | undefined;
    let ack: string | undefined;
    pending.set(callId, {
      onResponse: (m) => {
        const cs = cseqOf(m);
        const status = m.status ?? 0;
        if (cs.method === 'INVITE') {
          if (status < 200) provisional = true;
          else if (status < 300) {
            if (answer === undefined) answer = m;
            if (ack !== undefined) send(ack); // a retransmitted 200: ACK again
          } else if (failed === undefined) {
            failed = `INVITE answered ${status}`;
            // ACK of a failure response belongs to the INVITE transaction (same branch).
            send(build(`ACK ${toUri} SIP/2.0`, [via(inviteBranch), 'Max-Forwards: 70', `From: ${fromHdr}`, `To: ${hdr(m, 'to')}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK']));
          }
        } else if (cs.method === 'BYE' && status >= 200) byeAnswered = true;
      },
    });
    try {
      rec.inviteUs = wallUs();
      // Timer A until a provisional or final answer; Timer B (32 s) bounds it.
      const answered = await retransmit(
        () => send(invite),
        () => provisional || answer !== undefined || failed !== undefined,
        32_000,
      );
      if (!answered) throw new Error('no answer to the INVITE');
      while (answer === undefined && failed === undefined) {
        if (wallUs() - rec.inviteUs > 32_000_000) throw new Error('no final answer to the INVITE');
        await sleep(5);
      }
      if (failed !== undefined) throw new Error(failed);
      const ok = answer as SipMsg;
      rec.answerUs = wallUs();
      const toHdr = hdr(ok, 'to');
      const remote = sdpAudio(ok.body);
      if (remote === undefined) throw new Error('200 OK without a usable SDP answer');
      rec.sent.remote = `${remote.addr}:${remote.port}`;
      ack = build(`ACK ${toUri} SIP/2.0`, [via(token()), 'Max-Forwards: 70', `From: ${fromHdr}`, `To: ${toHdr}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK']);
      send(ack);
      const stream = pump.start(sock, remote.addr, remote.port, rec.sent, params);
      log(`caller: call ${index} ${callId} up, RTP ${o.addr}:${port} -> ${remote.addr}:${remote.port}`);
      await sleep(o.durationSec * 1000);
      pump.stop(stream);
      const bye = build(`BYE ${toUri} SIP/2.0`, [via(token()), 'Max-Forwards: 70', `From: ${fromHdr}`, `To: ${toHdr}`, `Call-ID: ${callId}`, 'CSeq: 2 BYE']);
      rec.byeUs = wallUs();
      // Timer E until the 200 (Timer F: 32 s).
      if (!(await retransmit(() => send(bye), () => byeAnswered, 32_000))) throw new Error('no answer to the BYE');
      rec.endUs = wallUs();
      rec.ok = true;
      log(`caller: call ${index} ${callId} ended, sent ${rec.sent.packets} received ${rec.sent.received}`);
    } catch (e) {
      rec.error = (e as Error).message;
      rec.endUs = wallUs();
      log(`caller: call ${index} ${callId} failed: ${rec.error}`);
    } finally {
      pending.delete(callId);
      await sleep(100); // the callee's last packets
      await closeUdp(sock);
    }
  };

  const spacing = o.spacingMs ?? 300;
  const limit = o.concurrency ?? Infinity;
  const t0 = Date.now();
  const running = new Set<Promise<void>>();
  for (let i = 0; i < o.calls; i++) {
    const wait = t0 + i * spacing - Date.now();
    if (wait > 0) await sleep(wait);
    while (running.size >= limit) await Promise.race(running);
    const p: Promise<void> = oneCall(i).finally(() => running.delete(p));
    running.add(p);
  }
  await Promise.all(running);
  await closeUdp(sip);
  return { tool: 'tapline-call-driver', version: 1, role: 'caller', addr: o.addr, sipPort, startedUs: started, finishedUs: wallUs(), calls: records.sort((a, b) => a.index - b.index) };
}

// ---------------------------------------------------------------------------------------------------------------
// Both sides from a test: two processes in lab namespaces

export interface CallPairOptions {
  caller: { addr: string; ns?: string };
  callee: { addr: string; ns?: string };
  calls: number;
  durationSec: number;
  spacingMs?: number;
  concurrency?: number;
  sipPort?: number;
  callerRtpBase?: number;
  calleeRtpBase?: number;
  callIdPrefix?: string;
  firstIndex?: number;
  /** Manifests and logs go here (caller.json, callee.json, caller.log, callee.log). */
  dir: string;
}

export interface CallPair {
  caller: Proc;
  callee: Proc;
  /** Both sides' manifests, merged; rejects when a driver fails to produce its manifest. */
  finished: Promise<CallManifest>;
  /** Kills both (cleanup after a failure). */
  stop(): Promise<void>;
}

const SCRIPT = path.join(__dirname, 'call-driver.js');

/** Starts the callee, waits until it listens, then the caller; `finished` resolves when both wrote their manifests. */
export async function startCallPair(o: CallPairOptions): Promise<CallPair> {
  if (!fs.existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: build with npx tsc -p .`);
  fs.mkdirSync(o.dir, { recursive: true });
  const sipPort = o.sipPort ?? 5060;
  const files = { caller: path.join(o.dir, 'caller.json'), callee: path.join(o.dir, 'callee.json') };
  const opt = (ns: string | undefined): { netns?: string } => (ns !== undefined ? { netns: ns } : {});
  const callee = startProc(
    'call-driver callee',
    process.execPath,
    [SCRIPT, 'callee', '--addr', o.callee.addr, '--sip-port', String(sipPort), '--rtp-base', String(o.calleeRtpBase ?? 30000), '--expect', String(o.calls), '--manifest', files.callee],
    path.join(o.dir, 'callee.log'),
    opt(o.callee.ns),
  );
  try {
    await callee.waitFor(/call-driver callee listening/, 10_000, 'the callee listening');
  } catch (e) {
    await callee.stop(1000, 'SIGKILL');
    throw e;
  }
  const args = [SCRIPT, 'caller', '--addr', o.caller.addr, '--peer', `${o.callee.addr}:${sipPort}`, '--sip-port', String(sipPort), '--rtp-base', String(o.callerRtpBase ?? 20000)];
  args.push('--calls', String(o.calls), '--duration-sec', String(o.durationSec), '--spacing-ms', String(o.spacingMs ?? 300), '--manifest', files.caller);
  if (o.concurrency !== undefined) args.push('--concurrency', String(o.concurrency));
  if (o.callIdPrefix !== undefined) args.push('--call-id-prefix', o.callIdPrefix);
  if (o.firstIndex !== undefined) args.push('--first-index', String(o.firstIndex));
  const caller = startProc('call-driver caller', process.execPath, args, path.join(o.dir, 'caller.log'), opt(o.caller.ns));
  const finished = (async (): Promise<CallManifest> => {
    await caller.exit;
    // The callee ends by itself after the last BYE; give it a moment, then make it write what it has.
    await Promise.race([callee.exit, sleep(3000)]);
    if (!callee.exited) await callee.stop(3000, 'SIGTERM');
    for (const [p, f] of [
      [caller, files.caller],
      [callee, files.callee],
    ] as const) {
      if (!fs.existsSync(f)) throw new Error(`${p.name} wrote no manifest ${f}; its output:\n${p.tail()}`);
    }
    return mergeManifests(readSideManifest(files.caller), readSideManifest(files.callee));
  })();
  finished.catch(() => undefined); // observed by the caller of startCallPair; no unhandled rejection meanwhile
  return {
    caller,
    callee,
    finished,
    stop: async () => {
      await caller.stop(1000, 'SIGKILL');
      await callee.stop(1000, 'SIGKILL');
    },
  };
}

/** startCallPair, then the merged manifest once every call is over. */
export async function runCallPair(o: CallPairOptions): Promise<CallManifest> {
  const pair = await startCallPair(o);
  try {
    return await pair.finished;
  } finally {
    await pair.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

function hostPort(s: string, defPort: number): { addr: string; port: number } {
  const m = /^([^:]+)(?::(\d+))?$/.exec(s);
  if (m === null) throw new Error(`bad address ${s} (expected A.B.C.D[:PORT])`);
  return { addr: m[1] as string, port: m[2] !== undefined ? Number(m[2]) : defPort };
}

function num(v: string | undefined, name: string, def?: number): number {
  if (v === undefined) {
    if (def === undefined) throw new Error(`--${name} is required`);
    return def;
  }
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [role, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      addr: { type: 'string' },
      peer: { type: 'string' },
      'sip-port': { type: 'string' },
      'rtp-base': { type: 'string' },
      calls: { type: 'string' },
      'duration-sec': { type: 'string' },
      'spacing-ms': { type: 'string' },
      concurrency: { type: 'string' },
      'call-id-prefix': { type: 'string' },
      'first-index': { type: 'string' },
      expect: { type: 'string' },
      'timeout-sec': { type: 'string' },
      'ring-ms': { type: 'string' },
      'answer-ms': { type: 'string' },
      manifest: { type: 'string' },
    },
    strict: true,
  });
  const addr = values.addr;
  const manifestFile = values.manifest;
  if (addr === undefined || manifestFile === undefined) throw new Error('usage: call-driver caller|callee --addr A --manifest FILE [options] (see the header of test/peers/call-driver.ts)');
  const sipPort = num(values['sip-port'], 'sip-port', 5060);
  if (role === 'callee') {
    const h = await runCallee({
      addr,
      sipPort,
      rtpBase: num(values['rtp-base'], 'rtp-base', 30000),
      ...(values.expect !== undefined ? { expect: num(values.expect, 'expect') } : {}),
      ringMs: num(values['ring-ms'], 'ring-ms', 100),
      answerMs: num(values['answer-ms'], 'answer-ms', 200),
    });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => h.stop());
    const timeout = values['timeout-sec'] !== undefined ? setTimeout(() => h.stop(), num(values['timeout-sec'], 'timeout-sec') * 1000) : undefined;
    const m = await h.done;
    if (timeout !== undefined) clearTimeout(timeout);
    writeJsonAtomic(manifestFile, m);
    console.log(`call-driver callee done: ${m.calls.filter((c) => c.ok).length}/${m.calls.length} calls ok`);
    return 0;
  }
  if (role === 'caller') {
    if (values.peer === undefined) throw new Error('caller: --peer is required');
    const calls = num(values.calls, 'calls', 1);
    const m = await runCaller({
      addr,
      peer: hostPort(values.peer, 5060),
      sipPort,
      rtpBase: num(values['rtp-base'], 'rtp-base', 20000),
      calls,
      durationSec: num(values['duration-sec'], 'duration-sec', 4),
      spacingMs: num(values['spacing-ms'], 'spacing-ms', 300),
      ...(values.concurrency !== undefined ? { concurrency: Math.max(1, num(values.concurrency, 'concurrency')) } : {}),
      ...(values['call-id-prefix'] !== undefined ? { callIdPrefix: values['call-id-prefix'] } : {}),
      firstIndex: num(values['first-index'], 'first-index', 0),
    });
    writeJsonAtomic(manifestFile, m);
    const ok = m.calls.filter((c) => c.ok).length;
    console.log(`call-driver caller done: ${ok}/${m.calls.length} calls ok`);
    return ok === calls ? 0 : 1;
  }
  throw new Error(`call-driver: unknown role ${JSON.stringify(role)} (caller or callee)`);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`call-driver: ${(e as Error).message}`);
      process.exit(2);
    },
  );
}
