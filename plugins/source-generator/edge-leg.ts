/**
 * A call's leg to the Edge on the wire: a scheduler actor writing the TURN control traffic (TCP handshake and
 * pseudo-TLS, Allocate, ChannelBind or Set Active Destination, TCP close) and the RTP sinks that wrap each media
 * packet as the Edge sees it. The remote party's packets go client → Edge (Send indication / MS-TURN Send request,
 * ChannelData, 0x03 data frame); the other party's come Edge → client (Data indication / 0x0115, ChannelData, 0x03).
 * Every 10th TCP media frame is split over two segments, so a reader's framer must join them.
 */
import type { EdgePlan, Endpoint } from './edge-plan';
import { udpFrames } from './net-frames';
import { Rng } from './random';
import type { RecordSink, RtpPacketSink } from './rtp-builder';
import type { Actor } from './scheduler';
import { TcpConnection } from './sip-stream';
import type { Direction } from './tones';
import type { EdgeTruth } from './truth';
import { addressValue, channelData, channelNumber, msTcpFrame, msTurnMessage, pseudoTlsClientHello, pseudoTlsServerHello, rfc5389Message, TurnAttr, TurnType, u32, type StunAttrs } from './turn-wire';

const MS = 1000;
/** Split every Nth media frame on TCP over two segments. */
const SPLIT_EVERY = 10;

interface ControlEvent {
  t: number;
  fromClient: boolean;
  kind: string;
  /** The bytes (a TURN message, framed for TCP by send()), or a TCP flag event. */
  payload?: Buffer;
  tcp?: 'syn' | 'synack' | 'ack' | 'fin';
}

export class EdgeLeg implements Actor {
  time: number;
  private readonly rng: Rng;
  private readonly tcp: TcpConnection | undefined;
  private readonly events: ControlEvent[] = [];
  private i = 0;
  /** IPv4 ids of the client's and the Edge's datagrams. */
  private readonly ipId: { client: number; server: number };
  private mediaFrames = 0;
  /** When wrapped data switches to ChannelData (turn-udp) or raw 0x03 frames (msturn-tcp). */
  private readonly switched: number;
  /** The client's MS-SEQUENCE-NUMBER connection id and counter. */
  private readonly connectionId: Buffer;
  private seq = 0;
  /** The transaction id drawn last (a response repeats its request's). */
  private lastTxid = Buffer.alloc(0);
  private lastT = 0;
  private closed = false;

  constructor(
    private readonly plan: EdgePlan,
    private readonly out: RecordSink,
    readonly order: number,
    private readonly truth: EdgeTruth,
    private readonly mtu: number,
    private readonly onDone: (lastT: number) => void,
  ) {
    this.rng = new Rng(plan.seed);
    this.ipId = { client: this.rng.u32() & 0xffff, server: this.rng.u32() & 0xffff };
    this.connectionId = this.bytes(16);
    this.tcp = plan.path === 'msturn-tcp' ? new TcpConnection(plan.client, plan.server, this.rng.u32(), this.rng.u32()) : undefined;
    this.switched = plan.path === 'msturn-udp' ? Infinity : plan.switchAt + MS;
    this.schedule();
    this.events.sort((a, b) => a.t - b.t); // stable: same-time events keep their order
    this.time = this.events[0]?.t ?? Infinity;
  }

  step(): void {
    const e = this.events[this.i++];
    if (e !== undefined) this.write(e);
    const next = this.events[this.i];
    if (next === undefined) {
      this.time = Infinity;
      if (!this.closed) {
        this.closed = true;
        this.onDone(this.lastT);
      }
    } else this.time = Math.max(this.time, next.t);
  }

  /** The sink of one RTP direction: the remote party's packets go up to the Edge, the other's come down from it. */
  sink(dir: Direction, protect?: (rtp: Buffer) => Buffer): RtpPacketSink {
    const fromClient = dir === this.plan.party;
    return { packet: (out, t, rtp) => this.media(out, t, fromClient, protect === undefined ? rtp : protect(rtp)) };
  }

  // ---------------------------------------------------------------------------------------------

  private schedule(): void {
    const p = this.plan;
    const ev = (t: number, fromClient: boolean, kind: string, payload?: Buffer): void => {
      this.events.push(payload === undefined ? { t, fromClient, kind } : { t, fromClient, kind, payload });
    };
    let t = p.allocateAt;
    if (p.path === 'msturn-tcp') {
      this.events.push({ t: t - 3 * MS, fromClient: true, kind: 'syn', tcp: 'syn' }, { t: t - 2.5 * MS, fromClient: false, kind: 'synack', tcp: 'synack' }, { t: t - 2 * MS, fromClient: true, kind: 'ack', tcp: 'ack' });
      ev(t - 1.5 * MS, true, 'pseudo-tls', pseudoTlsClientHello(this.bytes(32)));
      ev(t - MS, false, 'pseudo-tls', pseudoTlsServerHello(this.bytes(32)));
    }
    if (p.path === 'turn-udp') {
      ev(t, true, 'allocate', rfc5389Message(TurnType.ALLOCATE, this.bytes(12), [[TurnAttr.REQUESTED_TRANSPORT, u32(17 << 24)]]));
      const tx = this.lastTxid;
      t += MS;
      ev(t, false, 'allocate-success', rfc5389Message(TurnType.ALLOCATE_SUCCESS, tx, [[TurnAttr.XOR_RELAYED_ADDRESS, addressValue(p.relay, true)], [TurnAttr.LIFETIME, u32(600)], [TurnAttr.XOR_MAPPED_ADDRESS, addressValue(p.client, true)]]));
      if (p.switchAt !== Infinity) {
        ev(p.switchAt, true, 'channel-bind', rfc5389Message(TurnType.CHANNEL_BIND, this.bytes(12), [[TurnAttr.CHANNEL_NUMBER, channelNumber(p.channel)], [TurnAttr.PEER_ADDRESS, addressValue(p.peer, true)]]));
        ev(p.switchAt + MS, false, 'channel-bind-success', rfc5389Message(TurnType.CHANNEL_BIND_SUCCESS, this.lastTxid, []));
      }
      return;
    }
    ev(t, true, 'allocate', msTurnMessage(TurnType.ALLOCATE, this.bytes(16), [[TurnAttr.MS_VERSION, u32(3)]]));
    const tx = this.lastTxid;
    // MS-TURN: MAPPED-ADDRESS is the relayed address, XOR-MAPPED-ADDRESS (0x8020) the client's reflexive one.
    ev(t + MS, false, 'allocate-success', msTurnMessage(TurnType.ALLOCATE_SUCCESS, tx, [[TurnAttr.MAPPED_ADDRESS, addressValue(p.relay, false)], [TurnAttr.MS_XOR_MAPPED_ADDRESS, addressValue(p.client, true)], [TurnAttr.LIFETIME, u32(600)]]));
    if (p.path !== 'msturn-tcp') return;
    if (p.switchAt !== Infinity) {
      ev(p.switchAt, true, 'set-active-destination', msTurnMessage(TurnType.MS_SET_ACTIVE_DESTINATION, this.bytes(16), [[TurnAttr.DESTINATION_ADDRESS, addressValue(p.peer, false)]]));
      ev(p.switchAt + MS, false, 'set-active-destination-success', msTurnMessage(TurnType.MS_SET_ACTIVE_DESTINATION_SUCCESS, this.lastTxid, []));
    }
    const c = Math.max(p.closeAt, (this.events[this.events.length - 1]?.t ?? 0) + MS);
    this.events.push({ t: c, fromClient: true, kind: 'fin', tcp: 'fin' }, { t: c + MS, fromClient: false, kind: 'fin', tcp: 'fin' }, { t: c + 2 * MS, fromClient: true, kind: 'ack', tcp: 'ack' });
  }

  private bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.rng.u32() & 0xff;
    this.lastTxid = b;
    return b;
  }

  private write(e: ControlEvent): void {
    this.lastT = e.t;
    const tcp = this.tcp;
    if (e.tcp !== undefined && tcp !== undefined) {
      if (e.tcp === 'syn') tcp.syn(this.out, e.t);
      else if (e.tcp === 'synack') tcp.synAck(this.out, e.t);
      else if (e.tcp === 'ack') tcp.ack(this.out, e.t, e.fromClient);
      else tcp.fin(this.out, e.t, e.fromClient);
      return;
    }
    if (e.payload === undefined) return;
    this.count(e.kind);
    // Pseudo-TLS records go as they are; TURN messages over TCP in 0x02 control frames.
    const bytes = tcp !== undefined && e.kind !== 'pseudo-tls' ? msTcpFrame(0x02, e.payload) : e.payload;
    this.send(this.out, e.t, e.fromClient, bytes, false);
  }

  private media(out: RecordSink, t: number, fromClient: boolean, rtp: Buffer): void {
    const p = this.plan;
    if (t > this.lastT) this.lastT = t;
    let bytes: Buffer;
    if (t >= this.switched) {
      bytes = p.path === 'turn-udp' ? channelData(p.channel, rtp, false) : msTcpFrame(0x03, rtp);
      this.count(p.path === 'turn-udp' ? 'channel-data' : 'tcp-data');
    } else if (p.path === 'turn-udp') {
      const type = fromClient ? TurnType.SEND_INDICATION : TurnType.DATA_INDICATION;
      bytes = rfc5389Message(type, this.bytes(12), [[TurnAttr.PEER_ADDRESS, addressValue(p.peer, true)], [TurnAttr.DATA, rtp]]);
      this.count(fromClient ? 'send-indication' : 'data-indication');
    } else {
      bytes = this.msData(fromClient, rtp);
      this.count(fromClient ? 'ms-send' : 'ms-data-indication');
      if (p.path === 'msturn-tcp') bytes = msTcpFrame(0x02, bytes);
    }
    this.send(out, t, fromClient, bytes, true);
  }

  /** MS-TURN Send request (with a sequence number and an integrity attribute after DATA) or Data Indication. */
  private msData(fromClient: boolean, rtp: Buffer): Buffer {
    const peer = addressValue(this.plan.peer, false);
    if (!fromClient) return msTurnMessage(TurnType.MS_DATA_INDICATION, this.bytes(16), [[TurnAttr.PEER_ADDRESS, peer], [TurnAttr.DATA, rtp]]);
    const attrs: StunAttrs = [
      [TurnAttr.MS_SEQUENCE_NUMBER, Buffer.concat([this.connectionId, u32(++this.seq)])],
      [TurnAttr.DESTINATION_ADDRESS, peer],
      [TurnAttr.DATA, rtp],
      [TurnAttr.MESSAGE_INTEGRITY, this.bytes(20)],
    ];
    return msTurnMessage(TurnType.MS_SEND, this.bytes(16), attrs);
  }

  private send(out: RecordSink, t: number, fromClient: boolean, bytes: Buffer, media: boolean): void {
    const { client, server } = this.plan;
    if (this.tcp !== undefined) {
      const split = media && ++this.mediaFrames % SPLIT_EVERY === 0;
      this.tcp.data(out, t, fromClient, bytes, split ? Math.ceil(bytes.length / 2) : 65_535);
      return;
    }
    const [src, dst]: [Endpoint, Endpoint] = fromClient ? [client, server] : [server, client];
    const id = fromClient ? this.ipId.client++ : this.ipId.server++;
    for (const f of udpFrames(src.ip, src.port, dst.ip, dst.port, bytes, id & 0xffff, this.mtu)) out.write(t, f);
  }

  private count(kind: string): void {
    this.truth.messages[kind] = (this.truth.messages[kind] ?? 0) + 1;
  }
}
