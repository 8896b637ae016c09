/**
 * One Lync call through an Edge Server in a network-namespace lab (netns.ts), for the at-edge recorder tests:
 *
 *   internal client (LAN)  ⇄ MS-TURN over UDP ⇄  Edge private:3478 | edge-relay.ts | Edge public:relay  ⇄ plain RTP ⇄  external party (public network)
 *
 * The internal client allocates on the Edge before the call (its SDP's relay candidate is that allocation), then
 * wraps its RTP in Send requests (DESTINATION-ADDRESS = the external party) and gets the external party's RTP back
 * in Data Indications (REMOTE-ADDRESS = the external party); the external party exchanges plain RTP with the relayed
 * address, the one ICE pair of its host candidate and the client's relay candidate. Each party is its own Node
 * process in its own namespace (this file, run as a script), the relay another one in the Edge's.
 *
 * The call control goes to a recorder's SIP feed (source-sipfeed, port 8008) as plain SIP over one TCP connection,
 * as the Lync net service sends it, from a process on a host of the recorder's network: INVITE with the caller's
 * SDP, 180, 200 OK with the callee's, ACK, then (after the media) BYE and its 200. The SDPs are Lync's ICEv19 form
 * with encryption off (RTP/AVP, a=encryption:rejected: the audio is compared with what was played): host
 * candidates, and for the internal client the relay candidate = the Edge's public address and relay port.
 *
 * Each side plays a known signal (default: test/voices.ts speech, cut to `durationSec`) as PCMU, 20 ms a packet.
 * The result names the WAV of what each side played, for matchChannels(recording, callerSource, calleeSource).
 *
 * Script use (by runEdgeCall, through `ip netns exec NS node edge-call.js ROLE JSON`):
 *   party {PartyConfig}  prints `allocated {...}` (internal), `ready`, waits for `go` on stdin, plays, prints `done {...}`
 *   feed {FeedConfig}    prints `connected`; each stdin line is a JSON string sent as is, acknowledged `sent N`; `end` closes
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { encodeUlaw } from '../../core/media/g711';
import { RtpStream } from '../../core/testing/rtp';
import { LYNC_USER_AGENT } from '../../plugins/source-generator/sip-builder';
import { addressValue, msTurnMessage, TurnAttr, TurnType } from '../../plugins/source-generator/turn-wire';
import { readWav, wavHeader } from '../../plugins/storage-local/wav';
import { makeVoices } from '../voices';
import { fmtEndpoint, readMsTurn, readPlainAddress, startEdgeRelay, type EdgeRelayStats, type Endpoint } from './edge-relay';
import type { NetLab } from './netns';
import { onPath, sleep, startProc, type Proc } from './proc';

export type { Endpoint } from './edge-relay';

const RATE = 8000;
const FRAME = 160;
const CRLF = '\r\n';

export type EdgeParty = 'internal' | 'external';

export interface EdgeCallOptions {
  /** Working folder: the played signals (WAV), the processes' logs. */
  dir: string;
  /** The recorder's lab host and its SIP feed port (8008 by default). */
  recorder: { host: string; port?: number };
  /** Lab host names: defaults 'internal', 'edge', 'external'; the SIP feeder defaults to the internal host. */
  hosts?: { internal?: string; edge?: string; external?: string; feeder?: string };
  /** The network of the Edge's public NIC and the external party ('public' by default). */
  publicNetwork?: string;
  /** Who places the call ('internal' by default). */
  caller?: EdgeParty;
  /** Seconds of audio each side plays (4 by default; at most the source's length). */
  durationSec?: number;
  /** WAVs (8 kHz mono 16-bit) each side plays; default: test/voices.ts speech (needs sox), else synthetic signals. */
  sources?: { internal: string; external: string };
  /** Ports: the parties' RTP, the Edge's relay port and TURN listener (27100, 31000, 50000, 3478 by default). */
  ports?: { internal?: number; external?: number; relay?: number; turn?: number };
  /** Pause between the ACK and the first media, so the recorder has the answer first (300 ms by default). */
  settleMs?: number;
}

/** Where everything of an edge call is: resolved from the lab before the call (a recorder needs edgePublic). */
export interface EdgeCallAddresses {
  hosts: { internal: string; edge: string; external: string; feeder: string; recorder: string };
  /** The Edge's public address: mode-atedge's edgePublicIps. */
  edgePublic: string;
  /** The Edge's private address (its NIC on the internal client's network). */
  edgePrivate: string;
  /** The Edge's TURN listener (private side) and the client's relayed address (public side). */
  turn: Endpoint;
  relayed: Endpoint;
  /** The parties' media addresses (SDP c= and host candidate). */
  internal: Endpoint;
  external: Endpoint;
  /** The recorder's SIP feed and the feeder's own address. */
  feed: Endpoint;
  feederAddr: string;
}

export interface EdgeCallSide {
  host: string;
  media: Endpoint;
  /** What it played (8 kHz mono 16-bit WAV): the recording's channel for this side must match it. */
  wav: string;
  ssrc: number;
  /** RTP packets it sent, and received from the other side through the Edge. */
  sent: number;
  received: number;
}

export interface EdgeCallResult {
  callId: string;
  caller: EdgeParty;
  /** The played WAVs by role, in matchChannels' order (left = caller). */
  callerSource: string;
  calleeSource: string;
  internal: EdgeCallSide;
  external: EdgeCallSide;
  addresses: EdgeCallAddresses;
  /** The relayed address the Edge's Allocate success gave the client (= addresses.relayed). */
  allocated: Endpoint;
  relay: EdgeRelayStats;
}

/** A host's address on the first network it shares with `other` (other than `except`). */
function sharedAddr(lab: NetLab, host: string, other: string, except?: string): string {
  const theirs = new Set(lab.host(other).ifaces.map((i) => i.network));
  const i = lab.host(host).ifaces.find((x) => x.network !== except && theirs.has(x.network));
  if (i === undefined) throw new Error(`edge call: ${host} and ${other} share no network${except !== undefined ? ` besides ${except}` : ''}`);
  return i.addr;
}

/** The addresses a call with these options uses. */
export function edgeCallAddresses(lab: NetLab, o: Pick<EdgeCallOptions, 'recorder' | 'hosts' | 'publicNetwork' | 'ports'>): EdgeCallAddresses {
  const internal = o.hosts?.internal ?? 'internal';
  const edge = o.hosts?.edge ?? 'edge';
  const external = o.hosts?.external ?? 'external';
  const feeder = o.hosts?.feeder ?? internal;
  const pub = o.publicNetwork ?? 'public';
  const edgePublic = lab.addr(edge, pub);
  const edgePrivate = sharedAddr(lab, edge, internal, pub);
  const p = o.ports ?? {};
  return {
    hosts: { internal, edge, external, feeder, recorder: o.recorder.host },
    edgePublic,
    edgePrivate,
    turn: { ip: edgePrivate, port: p.turn ?? 3478 },
    relayed: { ip: edgePublic, port: p.relay ?? 50000 },
    internal: { ip: sharedAddr(lab, internal, edge, pub), port: p.internal ?? 27100 },
    external: { ip: lab.addr(external, pub), port: p.external ?? 31000 },
    feed: { ip: sharedAddr(lab, o.recorder.host, feeder), port: o.recorder.port ?? 8008 },
    feederAddr: sharedAddr(lab, feeder, o.recorder.host),
  };
}

// ---------------------------------------------------------------------------------------------
// Signals

function writeWav(file: string, pcm: Int16Array): void {
  const data = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) data.writeInt16LE(pcm[i] as number, i * 2);
  fs.writeFileSync(file, Buffer.concat([wavHeader(RATE, 1, data.length), data]));
}

/** Without sox: a chirp with a syllable-like envelope and a little noise, distinct per seed (never periodic enough to alias). */
function synthSignal(seconds: number, f0: number, f1: number, rateHz: number, seed: number): Int16Array {
  const n = seconds * RATE;
  const out = new Int16Array(n);
  let x = seed >>> 0;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const f = f0 + ((f1 - f0) * i) / n;
    phase += (2 * Math.PI * f) / RATE;
    const env = 0.55 + 0.45 * Math.sin((2 * Math.PI * rateHz * i) / RATE);
    out[i] = Math.round(9000 * env * Math.sin(phase) + (x / 2 ** 32 - 0.5) * 1500);
  }
  return out;
}

/** The PCM each side plays: the sources cut to whole 20 ms frames of at most `seconds`. */
function signals(dir: string, seconds: number, sources: EdgeCallOptions['sources']): Record<EdgeParty, Int16Array> {
  const cut = (pcm: Int16Array): Int16Array => pcm.slice(0, Math.floor(Math.min(pcm.length, seconds * RATE) / FRAME) * FRAME);
  const read = (file: string): Int16Array => {
    const w = readWav(file);
    if (w.sampleRate !== RATE || w.channels !== 1) throw new Error(`${file}: ${w.sampleRate} Hz × ${w.channels}; 8 kHz mono needed`);
    return w.samples;
  };
  if (sources !== undefined) return { internal: cut(read(sources.internal)), external: cut(read(sources.external)) };
  if (onPath('sox')) {
    const v = makeVoices(dir);
    return { internal: cut(read(v.caller)), external: cut(read(v.callee)) };
  }
  return { internal: cut(synthSignal(seconds, 250, 900, 3.7, 1)), external: cut(synthSignal(seconds, 1500, 450, 2.9, 2)) };
}

// ---------------------------------------------------------------------------------------------
// SIP and SDP as the net service would copy them

interface SipParty {
  uri: string;
  name: string;
  addr: string;
  epid: string;
  tag: string;
  sdp: string;
}

/** Lync's ICEv19 SDP, encryption off: host candidates, and the relay candidate (the Edge allocation) when it has one. */
function lyncSdp(media: Endpoint, sessionId: number, ssrc: number, relay?: Endpoint): string {
  const { ip, port } = media;
  const lines = [
    'v=0',
    `o=- ${sessionId} 0 IN IP4 ${ip}`,
    's=session',
    `c=IN IP4 ${ip}`,
    'b=CT:99980',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    `a=x-ssrc-range:${ssrc}-${ssrc}`,
    'a=label:main-audio',
    'a=x-source:main-audio',
    `a=ice-ufrag:${randomBytes(3).toString('hex')}`,
    `a=ice-pwd:${randomBytes(12).toString('base64')}`,
    `a=candidate:1 1 UDP 2130706431 ${ip} ${port} typ host`,
    `a=candidate:1 2 UDP 2130705918 ${ip} ${port + 1} typ host`,
  ];
  if (relay !== undefined) {
    lines.push(`a=candidate:3 1 UDP 184548351 ${relay.ip} ${relay.port} typ relay raddr ${ip} rport ${port}`, `a=candidate:3 2 UDP 184547838 ${relay.ip} ${relay.port + 1} typ relay raddr ${ip} rport ${port + 1}`);
  }
  lines.push('a=encryption:rejected', 'a=maxptime:200', `a=rtcp:${port + 1}`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', '');
  return lines.join(CRLF);
}

const nameAddr = (p: SipParty, tag: boolean): string => `"${p.name}" <${p.uri}>${tag ? `;tag=${p.tag}` : ''};epid=${p.epid}`;
const contactUri = (p: SipParty): string => `sip:${p.addr}:5061;transport=tls;ms-opaque=${p.epid}`;

/** The dialog's messages; `answered` adds the callee's tag to To. */
class SipDialog {
  readonly callId = `${randomBytes(8).toString('hex')}@contoso.com`;
  private readonly conversation = `AdZ${randomBytes(12).toString('base64')}`;
  private inviteVia = '';

  constructor(
    readonly caller: SipParty,
    readonly callee: SipParty,
  ) {}

  private body(lines: string[], sdp?: string): string {
    const b = sdp ?? '';
    if (b !== '') lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(b)}`);
    return lines.join(CRLF) + CRLF + CRLF + b;
  }

  private request(method: string, from: SipParty, to: SipParty, cseq: number, uri: string, sdp?: string): string {
    const via = `Via: SIP/2.0/TLS ${from.addr}:5061;branch=z9hG4bK${randomBytes(6).toString('hex')}`;
    if (method === 'INVITE') this.inviteVia = via;
    const toTag = method !== 'INVITE';
    return this.body(
      [
        `${method} ${uri} SIP/2.0`,
        via,
        'Max-Forwards: 70',
        `From: ${nameAddr(from, true)}`,
        `To: ${nameAddr(to, toTag)}`,
        `Call-ID: ${this.callId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <${contactUri(from)}>`,
        `User-Agent: ${LYNC_USER_AGENT}`,
        `Ms-Conversation-ID: ${this.conversation}`,
        ...(method === 'INVITE' ? ['Supported: ms-dialog-route-set-update, timer, histinfo, ms-safe-transfer, ms-sender, ms-early-media', 'ms-keep-alive: UAC;hop-hop=yes'] : []),
      ],
      sdp,
    );
  }

  private response(status: string, via: string, cseq: string, sdp?: string): string {
    return this.body([`SIP/2.0 ${status}`, via, `From: ${nameAddr(this.caller, true)}`, `To: ${nameAddr(this.callee, true)}`, `Call-ID: ${this.callId}`, `CSeq: ${cseq}`, `Contact: <${contactUri(this.callee)}>`, `User-Agent: ${LYNC_USER_AGENT}`], sdp);
  }

  invite(): string {
    return this.request('INVITE', this.caller, this.callee, 1, this.callee.uri, this.caller.sdp);
  }
  ringing(): string {
    return this.response('180 Ringing', this.inviteVia, '1 INVITE');
  }
  ok(): string {
    return this.response('200 OK', this.inviteVia, '1 INVITE', this.callee.sdp);
  }
  ack(): string {
    return this.request('ACK', this.caller, this.callee, 1, contactUri(this.callee));
  }
  /** The caller's BYE and the callee's 200 for it. */
  bye(): [string, string] {
    const bye = this.request('BYE', this.caller, this.callee, 2, contactUri(this.callee));
    const via = /^Via: .*$/m.exec(bye)?.[0] ?? '';
    return [bye, this.response('200 OK', via, '2 BYE')];
  }
}

// ---------------------------------------------------------------------------------------------
// The call

export interface PartyConfig {
  role: EdgeParty;
  /** Its socket: the SDP's c= address and port. */
  bind: Endpoint;
  /** internal: the Edge's TURN listener; external: the client's relayed address. */
  to: Endpoint;
  /** internal: DESTINATION-ADDRESS of its Send requests (the external party). */
  peer?: Endpoint;
  /** Raw 16-bit little-endian 8 kHz mono PCM to play. */
  pcm: string;
  ssrc: number;
  seq: number;
  ts: number;
  /** How long to keep receiving after its last packet. */
  tailMs: number;
}

interface PartyReport {
  sent: number;
  received: number;
  /** Datagrams that were not the other side's RTP as expected (wrong sender, wrong REMOTE-ADDRESS, not RTP). */
  unexpected: number;
}

interface FeedConfig {
  to: Endpoint;
  from: string;
}

const SCRIPT = (): string => path.join(__dirname, 'edge-call.js');

function line<T>(p: Proc, label: string): T {
  const m = new RegExp(`^${label} (\\{.*\\})$`, 'm').exec(p.text);
  if (m === null) throw new Error(`${p.name}: no "${label}" line; its output:\n${p.tail()}`);
  return JSON.parse(m[1] as string) as T;
}

/**
 * Runs one call (see the header) and returns what each side played and counted. The recorder and anything
 * capturing must be up before: the client's Allocate comes first, before the INVITE.
 */
export async function runEdgeCall(lab: NetLab, o: EdgeCallOptions): Promise<EdgeCallResult> {
  const a = edgeCallAddresses(lab, o);
  const caller = o.caller ?? 'internal';
  const seconds = o.durationSec ?? 4;
  fs.mkdirSync(o.dir, { recursive: true });
  const pcm = signals(o.dir, seconds, o.sources);
  const wav = { internal: path.join(o.dir, 'internal-played.wav'), external: path.join(o.dir, 'external-played.wav') };
  const raw = { internal: path.join(o.dir, 'internal-played.s16'), external: path.join(o.dir, 'external-played.s16') };
  for (const k of ['internal', 'external'] as const) {
    writeWav(wav[k], pcm[k]);
    const b = Buffer.alloc(pcm[k].length * 2);
    for (let i = 0; i < pcm[k].length; i++) b.writeInt16LE(pcm[k][i] as number, i * 2);
    fs.writeFileSync(raw[k], b);
  }
  const ssrc = { internal: randomBytes(4).readUInt32BE(0), external: randomBytes(4).readUInt32BE(0) };
  const procs: Proc[] = [];
  const stopAll = async (): Promise<void> => {
    for (const p of procs.splice(0).reverse()) await p.stop(2000);
  };
  const ns = (host: string): string => lab.host(host).ns;
  const party = (role: EdgeParty, cfg: Omit<PartyConfig, 'role' | 'pcm' | 'ssrc' | 'seq' | 'ts' | 'tailMs'>): Proc => {
    const full: PartyConfig = { role, ...cfg, pcm: raw[role], ssrc: ssrc[role], seq: randomBytes(2).readUInt16BE(0), ts: randomBytes(4).readUInt32BE(0), tailMs: 600 };
    const p = startProc(role, process.execPath, [SCRIPT(), 'party', JSON.stringify(full)], path.join(o.dir, `${role}.log`), { netns: ns(a.hosts[role]) });
    procs.push(p);
    return p;
  };

  const relay = await startEdgeRelay({ netns: ns(a.hosts.edge), turn: a.turn, relay: a.relayed, logFile: path.join(o.dir, 'edge-relay.log') });
  procs.push(relay.proc);
  let relayStats: EdgeRelayStats | undefined;
  try {
    // The client allocates first: its offer or answer lists the relayed address.
    const internal = party('internal', { bind: a.internal, to: a.turn, peer: a.external });
    await internal.waitFor(/^ready$/m, 10_000, 'allocation on the Edge');
    const allocated = line<{ relayed: Endpoint }>(internal, 'allocated').relayed;
    if (fmtEndpoint(allocated) !== fmtEndpoint(a.relayed)) throw new Error(`the Edge allocated ${fmtEndpoint(allocated)}, expected ${fmtEndpoint(a.relayed)}`);
    const external = party('external', { bind: a.external, to: a.relayed });
    await external.waitFor(/^ready$/m, 10_000, 'external party start');

    const feedCfg: FeedConfig = { to: a.feed, from: a.feederAddr };
    const feed = startProc('sip-feed', process.execPath, [SCRIPT(), 'feed', JSON.stringify(feedCfg)], path.join(o.dir, 'sip-feed.log'), { netns: ns(a.hosts.feeder) });
    procs.push(feed);
    await feed.waitFor(/^connected$/m, 10_000, `connection to the SIP feed ${fmtEndpoint(a.feed)}`);
    let n = 0;
    const sip = async (msg: string): Promise<void> => {
      feed.child.stdin?.write(`${JSON.stringify(msg)}\n`);
      await feed.waitFor(new RegExp(`^sent ${++n}$`, 'm'), 5000, `SIP message ${n} sent`);
    };

    const session = 1000 + (randomBytes(2).readUInt16BE(0) % 9000);
    const parties: Record<EdgeParty, SipParty> = {
      internal: { uri: 'sip:alice@contoso.com', name: 'Alice Internal', addr: a.internal.ip, epid: randomBytes(5).toString('hex'), tag: randomBytes(5).toString('hex'), sdp: lyncSdp(a.internal, session, ssrc.internal, a.relayed) },
      external: { uri: 'sip:frank@fabrikam.com', name: 'Frank External', addr: a.external.ip, epid: randomBytes(5).toString('hex'), tag: randomBytes(5).toString('hex'), sdp: lyncSdp(a.external, session + 1, ssrc.external) },
    };
    const callee: EdgeParty = caller === 'internal' ? 'external' : 'internal';
    const dialog = new SipDialog(parties[caller], parties[callee]);
    await sip(dialog.invite());
    await sip(dialog.ringing());
    await sip(dialog.ok());
    await sip(dialog.ack());
    await sleep(o.settleMs ?? 300);

    for (const p of [internal, external]) p.child.stdin?.write('go\n');
    for (const p of [internal, external]) await p.waitFor(/^done /m, seconds * 1000 + 10_000, 'media played');
    const reports = { internal: line<PartyReport>(internal, 'done'), external: line<PartyReport>(external, 'done') };

    const [bye, byeOk] = dialog.bye();
    await sip(bye);
    await sip(byeOk);
    feed.child.stdin?.write('end\n');
    await Promise.race([feed.exit, sleep(3000)]);
    relayStats = await relay.stop();
    await stopAll();

    const side = (k: EdgeParty): EdgeCallSide => ({ host: a.hosts[k], media: a[k], wav: wav[k], ssrc: ssrc[k], sent: reports[k].sent, received: reports[k].received });
    return {
      callId: dialog.callId,
      caller,
      callerSource: wav[caller],
      calleeSource: wav[callee],
      internal: side('internal'),
      external: side('external'),
      addresses: a,
      allocated,
      relay: relayStats,
    };
  } finally {
    if (relayStats === undefined) await relay.stop().catch(() => undefined);
    await stopAll();
  }
}

// ---------------------------------------------------------------------------------------------
// The party and feeder processes

async function playParty(c: PartyConfig): Promise<void> {
  const sock = dgram.createSocket('udp4');
  const report: PartyReport = { sent: 0, received: 0, unexpected: 0 };
  let allocated: ((relayed: Endpoint) => void) | undefined;
  sock.on('message', (buf, r) => {
    if (c.role === 'external') {
      // Plain RTP from the client's relayed address.
      if (r.address === c.to.ip && r.port === c.to.port && buf.length >= 12 && (buf[0] as number) >> 6 === 2) report.received++;
      else report.unexpected++;
      return;
    }
    const m = readMsTurn(buf);
    if (m?.type === TurnType.ALLOCATE_SUCCESS) {
      const relayed = readPlainAddress(m.attrs.get(TurnAttr.MAPPED_ADDRESS));
      if (relayed !== undefined) allocated?.(relayed);
      return;
    }
    const remote = m?.type === TurnType.MS_DATA_INDICATION ? readPlainAddress(m.attrs.get(TurnAttr.PEER_ADDRESS)) : undefined;
    const data = m?.attrs.get(TurnAttr.DATA);
    if (remote !== undefined && c.peer !== undefined && fmtEndpoint(remote) === fmtEndpoint(c.peer) && data !== undefined && data.length >= 12 && (data[0] as number) >> 6 === 2) report.received++;
    else report.unexpected++;
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(c.bind.port, c.bind.ip, () => resolve());
  });

  if (c.role === 'internal') {
    // MS-TURN Allocate (no authentication: the stand-in relay asks for none), resent until answered.
    const got = new Promise<Endpoint>((resolve) => (allocated = resolve));
    const req = msTurnMessage(TurnType.ALLOCATE, randomBytes(16), [[TurnAttr.MS_VERSION, Buffer.from([0, 0, 0, 1])]]);
    let relayed: Endpoint | undefined;
    for (let i = 0; i < 20 && relayed === undefined; i++) {
      sock.send(req, c.to.port, c.to.ip);
      relayed = await Promise.race([got, sleep(250).then(() => undefined)]);
    }
    if (relayed === undefined) throw new Error(`no Allocate success from ${fmtEndpoint(c.to)}`);
    console.log(`allocated ${JSON.stringify({ relayed })}`);
  }
  console.log('ready');
  await new Promise<void>((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      if (l.trim() === 'go') {
        rl.close();
        resolve();
      }
    });
  });

  const raw = fs.readFileSync(c.pcm);
  const pcm = new Int16Array(raw.length / 2);
  for (let i = 0; i < pcm.length; i++) pcm[i] = raw.readInt16LE(i * 2);
  const stream = new RtpStream(c.ssrc, { seq: c.seq, ts: c.ts });
  const dest = c.peer;
  const start = performance.now();
  for (let f = 0; f * FRAME < pcm.length; f++) {
    // Paced on the clock, not on timers: 20 ms apart on average whatever a timer's lateness.
    const due = start + f * 20 - performance.now();
    if (due > 1) await sleep(due);
    const rtp = stream.next(0, encodeUlaw(pcm.subarray(f * FRAME, (f + 1) * FRAME)), FRAME, f === 0);
    const out = c.role === 'internal' && dest !== undefined ? msTurnMessage(TurnType.MS_SEND, randomBytes(16), [[TurnAttr.DESTINATION_ADDRESS, addressValue(dest, false)], [TurnAttr.DATA, rtp]]) : rtp;
    sock.send(out, c.to.port, c.to.ip);
    report.sent++;
  }
  await sleep(c.tailMs);
  console.log(`done ${JSON.stringify(report)}`);
  sock.close();
}

async function feedSip(c: FeedConfig): Promise<void> {
  const sock = net.connect({ host: c.to.ip, port: c.to.port, localAddress: c.from });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.once('connect', () => resolve());
  });
  // The recorder may answer keep-alives; nothing it says matters here.
  sock.on('data', () => undefined);
  console.log('connected');
  let n = 0;
  const rl = readline.createInterface({ input: process.stdin });
  for await (const l of rl) {
    if (l.trim() === 'end') break;
    const msg = JSON.parse(l) as string;
    await new Promise<void>((resolve, reject) => sock.write(msg, (e) => (e ? reject(e) : resolve())));
    console.log(`sent ${++n}`);
  }
  rl.close();
  await new Promise<void>((resolve) => sock.end(() => resolve()));
  console.log('closed');
}

if (require.main === module) {
  const [role, json] = process.argv.slice(2);
  const run = role === 'party' ? playParty(JSON.parse(json ?? '{}') as PartyConfig) : role === 'feed' ? feedSip(JSON.parse(json ?? '{}') as FeedConfig) : Promise.reject(new Error('usage: edge-call.js party|feed JSON'));
  run.then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? e.stack : String(e));
      process.exit(1);
    },
  );
}
