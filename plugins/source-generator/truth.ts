/**
 * What the generator wrote, call by call: the ground truth tests compare a recorder's output with. All times
 * are capture times in µs since the epoch; RTP numbers are as on the wire (seq mod 2^16, timestamps mod 2^32).
 */
import * as fs from 'node:fs';
import type { ResolvedScenario } from './scenario';

export type Disposition = 'answered' | 'cancelled' | 'busy' | 'no-bye';

export interface SipMessageTruth {
  t: number;
  /** Request method ('INVITE', 'ACK'...) or status code as text ('100', '200'...). */
  label: string;
  /** CSeq header value, e.g. '1 INVITE'. */
  cseq: string;
  /** 'caller' = sent by the caller side to the server; 'server' = sent by the server to the caller side. */
  sender: 'caller' | 'server';
  /** Bytes of the message (as written: over TCP it may span several segments). */
  bytes: number;
}

/** One SSRC's run within a direction (a direction has two when ssrcChange is on). */
export interface SsrcSegmentTruth {
  ssrc: number;
  /** Sequence number and timestamp of the first and last packet sent (lost ones included). */
  firstSeq: number;
  lastSeq: number;
  firstTs: number;
  lastTs: number;
  /** Packets given a sequence number (written + lost). */
  packets: number;
  lost: number;
}

export interface DirectionTruth {
  src: { ip: string; port: number };
  dst: { ip: string; port: number };
  frequencyHz: number;
  ssrcs: number[];
  segments: SsrcSegmentTruth[];
  /** Packets given a sequence number, written and lost. */
  packetsSent: number;
  packetsWritten: number;
  packetsLost: number;
  /** { ssrc, seq } of every lost packet. */
  lost: Array<{ ssrc: number; seq: number }>;
  /** Packets written after their successor (swapped pairs count once). */
  reordered: number;
  /** First and last RTP timestamp sent (first of the first SSRC, last of the last). */
  firstRtpTs: number;
  lastRtpTs: number;
  /** Capture time of the first and last packet written (0 when none was). */
  firstTime: number;
  lastTime: number;
  /** Nominal send time of each marker burst's first sample (bursts falling in a gap are not sent and not listed). */
  burstTimes: number[];
  /** Sequence numbers (of the SSRC then in use) that carry the marker bit. */
  markerSeqs: number[];
}

export interface CallTruth {
  index: number;
  callId: string;
  from: { uri: string; tag: string; epid?: string };
  to: { uri: string; tag: string; epid?: string };
  conversationId?: string;
  caller: { ip: string; sipPort: number; rtpPort: number };
  callee: { ip: string; rtpPort: number };
  server: { ip: string; port: number };
  transport: 'udp' | 'tcp';
  lync: boolean;
  codec: string;
  payloadType: number;
  ptimeMs: number;
  disposition: Disposition;
  /** INVITE time. */
  start: number;
  /** 200 OK time (answered and no-bye calls). */
  answer?: number;
  /** Capture time of the call's last frame (SIP, TCP or RTP). */
  end: number;
  /** Hold (re-INVITE sendonly answered recvonly) to resume (re-INVITE sendrecv answered). */
  hold?: { start: number; end: number };
  /** Who sent the BYE. */
  hangup?: 'caller' | 'callee';
  sip: SipMessageTruth[];
  /** caller = caller → callee stream, callee = callee → caller stream (absent when no media flowed). */
  media: { caller?: DirectionTruth; callee?: DirectionTruth };
  /** SDES (lync or srtp): the key each side sends with. RTP is written clear unless protectMedia; protect it with these. */
  srtp?: { caller: SdesKeyTruth; callee: SdesKeyTruth };
  /** TURN media paths: the remote party's leg to the Edge, which carries both directions' RTP wrapped. */
  edge?: EdgeTruth;
}

/** A call's leg to the Edge (mediaPath other than 'direct'); media.caller/callee src/dst stay the RTP's own ends. */
export interface EdgeTruth {
  path: 'turn-udp' | 'msturn-udp' | 'msturn-tcp';
  /** The remote party: its RTP goes client → Edge (Send...), the other party's comes Edge → client (Data...). */
  party: 'caller' | 'callee';
  /** The client's address as the Edge sees it (UDP: its srflx candidate; TCP: that IP, an ephemeral port). */
  client: { ip: string; port: number };
  /** The Edge's TURN listener (public IP, 3478/udp or 443/tcp). */
  server: { ip: string; port: number };
  /** The allocation's relayed address: the party's SDP relay candidate. */
  relay: { ip: string; port: number };
  /** The other party's address, where the Edge relays to and from. */
  peer: { ip: string; port: number };
  /**
   * Messages written, by kind: 'allocate', 'allocate-success', 'channel-bind', 'channel-bind-success',
   * 'send-indication', 'data-indication', 'channel-data', 'ms-send', 'ms-data-indication',
   * 'set-active-destination', 'set-active-destination-success', 'tcp-data' (0x03 frames), 'pseudo-tls' (records).
   */
  messages: Record<string, number>;
}

/** The key a side writes in its own SDP (RFC 4568), i.e. the key it sends with. */
export interface SdesKeyTruth {
  suite: 'AES_CM_128_HMAC_SHA1_80';
  /** Master key ‖ master salt (30 bytes), base64, as after `inline:`. */
  keySalt: string;
  /** MKI value as hex, its length the MKI length ('01' for `|1:1`); absent without an MKI. */
  mki?: string;
}

export interface TruthTotals {
  frames: number;
  rtpPackets: number;
  rtpLost: number;
  sipMessages: number;
  /** Frames carrying no SIP or RTP: TCP handshakes, pure ACKs, FINs, IP fragments after the first, TURN control messages and pseudo-TLS, the second segment of a split TURN TCP frame. */
  otherFrames: number;
  /** By label, e.g. { INVITE: 10, '200': 18 }. */
  sipByLabel: Record<string, number>;
}

export interface TruthJson {
  version: 1;
  file: string;
  format: 'pcap' | 'pcapng' | 'frames';
  linkType: number;
  scenario: ResolvedScenario;
  calls: CallTruth[];
  totals: TruthTotals;
}

export class GeneratedTruth implements TruthJson {
  readonly version = 1 as const;
  readonly linkType = 1;

  constructor(
    readonly file: string,
    readonly format: 'pcap' | 'pcapng' | 'frames',
    readonly scenario: ResolvedScenario,
    readonly calls: CallTruth[],
    readonly totals: TruthTotals,
  ) {}

  toJSON(): TruthJson {
    const { version, file, format, linkType, scenario, calls, totals } = this;
    return { version, file, format, linkType, scenario, calls, totals };
  }

  /** Write the truth as JSON (streamed call by call, so big runs need no giant string). */
  async writeTruth(path: string): Promise<void> {
    const out = fs.createWriteStream(path);
    const done = new Promise<void>((resolve, reject) => {
      out.on('finish', resolve);
      out.on('error', reject);
    });
    const put = async (s: string): Promise<void> => {
      if (!out.write(s)) await new Promise<void>((r) => out.once('drain', () => r()));
    };
    const head = { version: this.version, file: this.file, format: this.format, linkType: this.linkType, scenario: this.scenario, totals: this.totals };
    await put(JSON.stringify(head, null, 1).replace(/\n}$/, ',\n "calls": ['));
    for (let i = 0; i < this.calls.length; i++) await put((i === 0 ? '\n' : ',\n') + JSON.stringify(this.calls[i]));
    out.end('\n]}\n');
    await done;
  }
}

/** Read a truth file back (the CLI and tests). */
export function readTruth(path: string): TruthJson {
  return JSON.parse(fs.readFileSync(path, 'utf8')) as TruthJson;
}
