/**
 * A call's SIP as a scheduler actor: writes each planned wire event as UDP datagrams (fragmented above the
 * MTU) or as TCP segments on the call's own or the shared connection. TCP sequence numbers are taken when a
 * segment is written, so a shared connection stays consistent however calls interleave.
 */
import type { WireEvent } from './call-plan';
import { TcpFlag, tcpFrame, udpFrames } from './net-frames';
import type { RecordSink } from './rtp-builder';
import type { Actor } from './scheduler';

export interface Endpoint {
  ip: string;
  port: number;
}

/** Both directions of one TCP connection between a SIP client and the server. */
export class TcpConnection {
  private cSeq: number;
  private sSeq: number;
  private cIpId: number;
  private sIpId: number;
  /** The last ack number each side sent. */
  private cAcked = -1;
  private sAcked = -1;

  constructor(readonly client: Endpoint, readonly server: Endpoint, isnClient: number, isnServer: number) {
    this.cSeq = isnClient >>> 0;
    this.sSeq = isnServer >>> 0;
    this.cIpId = isnClient & 0xffff;
    this.sIpId = isnServer & 0xffff;
  }

  private frame(out: RecordSink, t: number, fromClient: boolean, flags: number, payload: Buffer): void {
    const [src, dst] = fromClient ? [this.client, this.server] : [this.server, this.client];
    const seq = fromClient ? this.cSeq : this.sSeq;
    const ack = flags & TcpFlag.ACK ? (fromClient ? this.sSeq : this.cSeq) : 0;
    if (flags & TcpFlag.ACK) {
      if (fromClient) this.cAcked = ack;
      else this.sAcked = ack;
    }
    const id = fromClient ? this.cIpId++ : this.sIpId++;
    out.write(t, tcpFrame(src.ip, src.port, dst.ip, dst.port, seq, ack, flags, payload, id & 0xffff));
    const used = payload.length + (flags & (TcpFlag.SYN | TcpFlag.FIN) ? 1 : 0); // SYN and FIN take one sequence number
    if (fromClient) this.cSeq = (this.cSeq + used) >>> 0;
    else this.sSeq = (this.sSeq + used) >>> 0;
  }

  /** SYN, SYN-ACK and ACK at t, t+1 ms, t+2 ms (for a connection opened outside any call's plan). */
  open(out: RecordSink, t: number): void {
    this.syn(out, t);
    this.synAck(out, t + 1000);
    this.ack(out, t + 2000, true);
  }

  syn(out: RecordSink, t: number): void {
    this.frame(out, t, true, TcpFlag.SYN, Buffer.alloc(0));
  }

  synAck(out: RecordSink, t: number): void {
    this.frame(out, t, false, TcpFlag.SYN | TcpFlag.ACK, Buffer.alloc(0));
  }

  /** A pure ACK, unless this side has already acknowledged everything (a duplicate ACK would look like loss). */
  ack(out: RecordSink, t: number, fromClient: boolean): void {
    if ((fromClient ? this.cAcked : this.sAcked) === (fromClient ? this.sSeq : this.cSeq)) return;
    this.frame(out, t, fromClient, TcpFlag.ACK, Buffer.alloc(0));
  }

  fin(out: RecordSink, t: number, fromClient: boolean): void {
    this.frame(out, t, fromClient, TcpFlag.FIN | TcpFlag.ACK, Buffer.alloc(0));
  }

  /** A message as segments of at most segSize bytes (PSH on the last), all at capture time t; returns frames. */
  data(out: RecordSink, t: number, fromClient: boolean, msg: Buffer, segSize: number): number {
    let n = 0;
    for (let at = 0; at < msg.length; at += segSize) {
      const end = Math.min(msg.length, at + segSize);
      this.frame(out, t, fromClient, TcpFlag.ACK | (end === msg.length ? TcpFlag.PSH : 0), msg.subarray(at, end));
      n++;
    }
    return n;
  }
}

export interface SipTransportConfig {
  /** UDP: where the caller side's SIP comes from and the server. */
  client: Endpoint;
  server: Endpoint;
  mtu: number;
  /** TCP: the call's own or the shared connection; undefined for UDP. */
  tcp?: TcpConnection;
  tcpSegmentSize: number;
}

export class SipActor implements Actor {
  time: number;
  private i = 0;
  private cIpId: number;
  private sIpId: number;

  constructor(
    private readonly events: readonly WireEvent[],
    private readonly cfg: SipTransportConfig,
    private readonly out: RecordSink,
    readonly order: number,
    private readonly onDone: () => void,
  ) {
    this.cIpId = (order * 7919) & 0xffff;
    this.sIpId = (order * 104729) & 0xffff;
    this.time = events[0]?.t ?? Infinity;
    if (this.time === Infinity) onDone();
  }

  step(): void {
    const e = this.events[this.i++];
    if (e !== undefined) this.write(e);
    const next = this.events[this.i];
    if (next === undefined) {
      this.time = Infinity;
      this.onDone();
    } else this.time = Math.max(this.time, next.t);
  }

  private write(e: WireEvent): void {
    const { tcp, client, server } = this.cfg;
    if (e.kind === 'msg') {
      const bytes = Buffer.from(e.text, 'utf8');
      if (tcp !== undefined) tcp.data(this.out, e.t, e.fromClient, bytes, this.cfg.tcpSegmentSize);
      else {
        const [src, dst] = e.fromClient ? [client, server] : [server, client];
        const id = e.fromClient ? this.cIpId++ : this.sIpId++;
        for (const f of udpFrames(src.ip, src.port, dst.ip, dst.port, bytes, id & 0xffff, this.cfg.mtu)) this.out.write(e.t, f);
      }
      return;
    }
    if (tcp === undefined) return;
    switch (e.kind) {
      case 'syn':
        return tcp.syn(this.out, e.t);
      case 'synack':
        return tcp.synAck(this.out, e.t);
      case 'hsack':
        return tcp.ack(this.out, e.t, true);
      case 'ack':
        return tcp.ack(this.out, e.t, e.fromClient);
      case 'fin':
        return tcp.fin(this.out, e.t, e.fromClient);
    }
  }
}
