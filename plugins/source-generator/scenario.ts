/**
 * What the call generator is asked to produce: GeneratorOptions (every field optional) and the defaults that
 * turn it into a ResolvedScenario. Defaults give a small, deterministic, clean capture.
 */
import { ErrorCodes, TaplineError } from '../../core/errors';

export type G711Codec = 'PCMU' | 'PCMA';
export type SipTransport = 'udp' | 'tcp';
/** How media looks where it is captured: plain RTP, or wrapped in TURN on a remote user's leg to the Edge. */
export type MediaPath = 'direct' | 'turn-udp' | 'msturn-udp' | 'msturn-tcp';
export type EdgeParty = 'caller' | 'callee' | 'alternate';

export interface GeneratorAddresses {
  /** First two octets of caller addresses; call i (0-based) gets <prefix>.<(i+1)>>8>.<(i+1)&255>. Default '10.1'. */
  callerPrefix?: string;
  /** Same for callees. Default '10.2'. */
  calleePrefix?: string;
  /** The SIP server/proxy every call signals through. Default '10.0.0.10'. */
  sipServer?: string;
  /** Its SIP port (UDP or TCP). Default 5060. */
  sipPort?: number;
  /** Caller RTP port of call i is callerRtpBase + 2*(i % 10000). Default 20000. */
  callerRtpBase?: number;
  /** Callee RTP port of call i is calleeRtpBase + 2*(i % 10000). Default 40000. */
  calleeRtpBase?: number;
  /** SIP domain of the URIs. Default 'tapline.test'. */
  domain?: string;
  /** With sipTransport 'tcp' and tcpShared: the one client (a gateway) every call's SIP comes from. Default '10.0.0.20'. */
  sharedClient?: string;
  /** With a TURN mediaPath: the Edge's public IP (TURN on UDP 3478 and TCP 443; the remote party's relay candidate). Default '198.51.100.10'. */
  edgePublic?: string;
}

export interface SilencePattern {
  /** Talk-spurt length. Default 2000 ms. */
  talkMs: number;
  /** Silence between spurts. Default 1000 ms. */
  silenceMs: number;
}

/**
 * RTP payloads other than the G.711 tone (programmatic only: not in the plugin's JSON options). Packet slot k
 * of a stream carries frames[(k + a per-stream offset) mod frames.length], announced as
 * `a=rtpmap:<payloadType> <encoding>/<clockRate>`; the RTP clock advances ptime × clockRate per slot.
 */
export interface CustomPayloads {
  /** rtpmap encoding name, e.g. 'SILK'. */
  encoding: string;
  clockRate: number;
  /** One packet's payload each, e.g. 20 ms SILK packets from an encoder; none may be empty. */
  frames: readonly Buffer[];
}

/** The resolved CustomPayloads; a truth file names the frames (count, bytes) instead of holding them. */
export class PayloadFrames implements CustomPayloads {
  constructor(
    readonly encoding: string,
    readonly clockRate: number,
    readonly frames: readonly Buffer[],
  ) {}

  toJSON(): { encoding: string; clockRate: number; frames: number; bytes: number } {
    return { encoding: this.encoding, clockRate: this.clockRate, frames: this.frames.length, bytes: this.frames.reduce((n, f) => n + f.length, 0) };
  }
}

export interface GeneratorOptions {
  /** Number of calls. Default 1. */
  calls?: number;
  /** How many calls overlap: starts are spaced (ring + duration) / concurrency apart. Default: all of them. */
  concurrency?: number;
  /** Talk time of an answered call (200 OK to BYE). Default 10 s. */
  durationSec?: number;
  /** INVITE to 200 OK. Default 500 ms. */
  ringMs?: number;
  /** Default 'PCMU'. */
  codec?: G711Codec;
  /** RTP payload type. Default the static one (0 PCMU, 8 PCMA); any 96–127 value is announced by rtpmap. */
  payloadType?: number;
  /** Payloads of another codec instead of the tone (then `codec` is ignored and payloadType must be 96–127). */
  payloads?: CustomPayloads;
  /** Packet interval. Default 20 ms. */
  ptimeMs?: number;
  /** Fraction (0–1) of RTP packets not written (seeded). Default 0. */
  lossRate?: number;
  /** Fraction (0–1) of RTP packets written after their successor. Default 0. */
  reorderRate?: number;
  /** Capture-time jitter: each RTP packet is delayed by 0..jitterMs (per stream order kept). Default 0. */
  jitterMs?: number;
  /** Talk-spurts with gaps (marker bit on each spurt's first packet); true = 2000/1000 ms. Default false. */
  silenceSuppression?: boolean | SilencePattern;
  /** Each direction changes SSRC (and seq/timestamp base) at mid-call. Default false. */
  ssrcChange?: boolean;
  /** Caller holds (sendonly/recvonly re-INVITE) at 1/3 of the call, resumes at 2/3; the callee is silent between. Default false. */
  hold?: boolean;
  /** 183 with SDP and callee RTP before the 200. Default false. */
  earlyMedia?: boolean;
  /** Lync/SfB-style signalling (multipart ICEv6/ICEv19 offer, crypto, candidates, epid, Ms-Conversation-ID). Default false. */
  lync?: boolean;
  /**
   * SDES in plain SDP: RTP/SAVP and an a=crypto line with the writer's own key in Lync's `|2^31|1:1` form (MKI 1,
   * 1 byte). The RTP is still written clear: protect it with each sender's key from the truth (CallTruth.srtp),
   * e.g. with libsrtp. Lync calls always carry keys. Default false.
   */
  srtp?: boolean;
  /** Lync offer body: the multipart/alternative alone, or inside multipart/mixed with a call-context part. Default 'alternative'. */
  lyncMultipart?: 'alternative' | 'mixed';
  /** Default 'udp'. */
  sipTransport?: SipTransport;
  /** TCP: one connection for every call (from addresses.sharedClient) instead of one per call. Default false. */
  tcpShared?: boolean;
  /** TCP: largest segment payload; SIP messages longer than it are split. Default 1460. */
  tcpSegmentSize?: number;
  /** UDP: IPv4 packets above this size are fragmented (Lync offers are large). Default 1500. */
  mtu?: number;
  /** Fraction of calls CANCELled while ringing (→ 487 + ACK). Default 0. */
  cancelRate?: number;
  /** Fraction of calls rejected with 486 Busy Here. Default 0. */
  failRate?: number;
  /** Fraction of answered calls that never see a BYE. Default 0. */
  noByeRate?: number;
  /** 100 ms bursts at -10 dBFS every second over a -30 dBFS tone (else a steady -10 dBFS tone). Default true. */
  markerBursts?: boolean;
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Capture time of the first call's INVITE, µs since the epoch. Default 2024-01-15T09:00:00Z. */
  startTime?: number;
  /** Classic pcap with nanosecond timestamps. Default false. */
  nanosecond?: boolean;
  addresses?: GeneratorAddresses;
  /**
   * Each call's media as the capture sees it: 'direct' (plain RTP between the parties), or the remote user's leg to
   * the Edge Server (edgeParty; its SDP's relay candidate is the Edge) wrapped in TURN: 'turn-udp' RFC 5766 Send/Data
   * indications, then ChannelData after a ChannelBind; 'msturn-udp' MS-TURN Send requests / Data Indications 0x0115;
   * 'msturn-tcp' pseudo-TLS then MS-TURN TCP framing on 443 (Send/Data in 0x02 frames, raw media in 0x03 frames after
   * Set Active Destination). The other party's leg (Edge relay ↔ peer) is not in the capture. Default 'direct'.
   */
  mediaPath?: MediaPath;
  /** TURN paths: the remote party behind the Edge; 'alternate' = the caller in even-numbered calls (index 0, 2...). Default 'caller'. */
  edgeParty?: EdgeParty;
  /** TURN paths: media reaches the Edge only this long after the 200 OK (ICE through the relay settles then); audio before it, early media included, is not captured. Default: no delay (early media passes the Edge too). */
  edgeMediaDelayMs?: number;
  /** SRTP-protect the RTP with each sender's own SDP key, MKI 1 (lync or srtp), as a Lync client sends it; else RTP is written clear. Default false. */
  protectMedia?: boolean;
}

export interface ResolvedScenario {
  calls: number;
  concurrency: number;
  durationSec: number;
  ringMs: number;
  codec: G711Codec;
  payloadType: number;
  payloads: PayloadFrames | null;
  ptimeMs: number;
  lossRate: number;
  reorderRate: number;
  jitterMs: number;
  silence: SilencePattern | null;
  ssrcChange: boolean;
  hold: boolean;
  earlyMedia: boolean;
  lync: boolean;
  srtp: boolean;
  lyncMultipart: 'alternative' | 'mixed';
  sipTransport: SipTransport;
  tcpShared: boolean;
  tcpSegmentSize: number;
  mtu: number;
  cancelRate: number;
  failRate: number;
  noByeRate: number;
  markerBursts: boolean;
  seed: number;
  startTime: number;
  nanosecond: boolean;
  addresses: Required<GeneratorAddresses>;
  mediaPath: MediaPath;
  edgeParty: EdgeParty;
  /** null: no delay (early media passes the Edge too). */
  edgeMediaDelayMs: number | null;
  protectMedia: boolean;
}

export const DEFAULT_START_TIME = Date.UTC(2024, 0, 15, 9, 0, 0) * 1000;

export const DEFAULT_ADDRESSES: Readonly<Required<GeneratorAddresses>> = {
  callerPrefix: '10.1',
  calleePrefix: '10.2',
  sipServer: '10.0.0.10',
  sipPort: 5060,
  callerRtpBase: 20000,
  calleeRtpBase: 40000,
  domain: 'tapline.test',
  sharedClient: '10.0.0.20',
  edgePublic: '198.51.100.10',
};

const MEDIA_PATHS: readonly MediaPath[] = ['direct', 'turn-udp', 'msturn-udp', 'msturn-tcp'];
const EDGE_PARTIES: readonly EdgeParty[] = ['caller', 'callee', 'alternate'];

function check(name: string, v: number, min: number, max: number, integer = false): number {
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new TaplineError(ErrorCodes.USAGE, `generator option ${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got ${v})`, { option: name });
  }
  return v;
}

/** Apply defaults and check ranges; throws TaplineError(USAGE) naming the bad option. */
export function resolveScenario(o: GeneratorOptions = {}): ResolvedScenario {
  const codec = o.codec ?? 'PCMU';
  if (codec !== 'PCMU' && codec !== 'PCMA') throw new TaplineError(ErrorCodes.USAGE, `generator option codec must be PCMU or PCMA (got ${String(codec)})`);
  const calls = check('calls', o.calls ?? 1, 0, 10_000_000, true);
  const pt = check('payloadType', o.payloadType ?? (codec === 'PCMU' ? 0 : 8), 0, 127, true);
  if (pt !== 0 && pt !== 8 && pt < 96) throw new TaplineError(ErrorCodes.USAGE, `generator option payloadType must be 0, 8 or 96–127 (got ${pt})`);
  const ss = o.silenceSuppression;
  const silence = ss === undefined || ss === false ? null : ss === true ? { talkMs: 2000, silenceMs: 1000 } : ss;
  if (silence !== null) {
    check('silenceSuppression.talkMs', silence.talkMs, 1, 3_600_000);
    check('silenceSuppression.silenceMs', silence.silenceMs, 1, 3_600_000);
  }
  const rates = (o.cancelRate ?? 0) + (o.failRate ?? 0);
  if (rates > 1) throw new TaplineError(ErrorCodes.USAGE, `generator options cancelRate + failRate must not exceed 1 (got ${rates})`);
  const transport = o.sipTransport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp') throw new TaplineError(ErrorCodes.USAGE, `generator option sipTransport must be udp or tcp (got ${String(transport)})`);
  const ptimeMs = check('ptimeMs', o.ptimeMs ?? 20, 5, 200, true);
  const lyncMultipart = o.lyncMultipart ?? 'alternative';
  const payloads = o.payloads === undefined ? null : resolvePayloads(o.payloads, o.payloadType);
  if (lyncMultipart !== 'alternative' && lyncMultipart !== 'mixed') throw new TaplineError(ErrorCodes.USAGE, `generator option lyncMultipart must be alternative or mixed`);
  const mediaPath = o.mediaPath ?? 'direct';
  if (!MEDIA_PATHS.includes(mediaPath)) throw new TaplineError(ErrorCodes.USAGE, `generator option mediaPath must be one of ${MEDIA_PATHS.join(', ')} (got ${String(mediaPath)})`, { option: 'mediaPath' });
  const edgeParty = o.edgeParty ?? 'caller';
  if (!EDGE_PARTIES.includes(edgeParty)) throw new TaplineError(ErrorCodes.USAGE, `generator option edgeParty must be one of ${EDGE_PARTIES.join(', ')} (got ${String(edgeParty)})`, { option: 'edgeParty' });
  const protectMedia = o.protectMedia ?? false;
  if (protectMedia && o.lync !== true && o.srtp !== true) throw new TaplineError(ErrorCodes.USAGE, 'generator option protectMedia needs lync or srtp (the keys come from the SDP)', { option: 'protectMedia' });
  return {
    calls,
    concurrency: check('concurrency', o.concurrency ?? Math.max(1, calls), 1, 10_000_000, true),
    durationSec: check('durationSec', o.durationSec ?? 10, 0.05, 86_400),
    ringMs: check('ringMs', o.ringMs ?? 500, 20, 600_000),
    codec,
    payloadType: pt,
    payloads,
    ptimeMs,
    lossRate: check('lossRate', o.lossRate ?? 0, 0, 1),
    reorderRate: check('reorderRate', o.reorderRate ?? 0, 0, 1),
    jitterMs: check('jitterMs', o.jitterMs ?? 0, 0, 10_000),
    silence,
    ssrcChange: o.ssrcChange ?? false,
    hold: o.hold ?? false,
    earlyMedia: o.earlyMedia ?? false,
    lync: o.lync ?? false,
    srtp: o.srtp ?? false,
    lyncMultipart,
    sipTransport: transport,
    tcpShared: o.tcpShared ?? false,
    tcpSegmentSize: check('tcpSegmentSize', o.tcpSegmentSize ?? 1460, 1, 65_000, true),
    mtu: check('mtu', o.mtu ?? 1500, 576, 65_535, true),
    cancelRate: check('cancelRate', o.cancelRate ?? 0, 0, 1),
    failRate: check('failRate', o.failRate ?? 0, 0, 1),
    noByeRate: check('noByeRate', o.noByeRate ?? 0, 0, 1),
    markerBursts: o.markerBursts ?? true,
    seed: check('seed', o.seed ?? 1, 0, 2 ** 32, true),
    startTime: check('startTime', o.startTime ?? DEFAULT_START_TIME, 0, 2 ** 52, true),
    nanosecond: o.nanosecond ?? false,
    addresses: { ...DEFAULT_ADDRESSES, ...(o.addresses ?? {}) },
    mediaPath,
    edgeParty,
    edgeMediaDelayMs: o.edgeMediaDelayMs === undefined ? null : check('edgeMediaDelayMs', o.edgeMediaDelayMs, 0, 600_000),
    protectMedia,
  };
}

function resolvePayloads(p: CustomPayloads, pt: number | undefined): PayloadFrames {
  const bad = (what: string): never => {
    throw new TaplineError(ErrorCodes.USAGE, `generator option payloads: ${what}`, { option: 'payloads' });
  };
  if (!/^[A-Za-z0-9][\w.-]*$/.test(p.encoding)) bad(`encoding must be an rtpmap name (got "${p.encoding}")`);
  check('payloads.clockRate', p.clockRate, 1000, 192_000, true);
  if (p.frames.length === 0 || p.frames.some((f) => f.length === 0 || f.length > 1400)) bad('frames must be 1 to 1400 bytes each, and at least one');
  if (pt === undefined || pt < 96) bad('need a dynamic payloadType (96–127)');
  return new PayloadFrames(p.encoding, p.clockRate, [...p.frames]);
}
