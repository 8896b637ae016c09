/**
 * RTP packets (RFC 3550 §5.1) written straight into the capture writer's chunk: Ethernet/IPv4/UDP header from
 * the flow's template, the 12-byte RTP header, then the payload from the stream's source (tone or frames).
 */
import { UDP_FRAME_OVERHEAD, UdpHeaderTemplate } from './net-frames';

export const RTP_HEADER = 12;

/** Where records go: PcapWriter and PcapngWriter both fit. */
export interface RecordSink {
  readonly buf: Buffer;
  beginRecord(tsMicros: number, len: number): number;
  write(tsMicros: number, frame: Buffer): void;
}

export function writeRtpHeader(b: Buffer, o: number, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void {
  b[o] = 0x80; // V=2, no padding, no extension, no CSRC
  b[o + 1] = (marker ? 0x80 : 0) | pt;
  b[o + 2] = (seq >>> 8) & 0xff;
  b[o + 3] = seq & 0xff;
  b.writeUInt32BE(ts >>> 0, o + 4);
  b.writeUInt32BE(ssrc >>> 0, o + 8);
}

/** A stream's payloads: the packet that starts at stream sample `sample` and spans `n` samples. */
export interface PayloadSource {
  size(sample: number, n: number): number;
  fill(dst: Buffer, off: number, sample: number, n: number): void;
  /** The first marker burst in [sample, sample + n), or -1 (for the truth). */
  burstIn(sample: number, n: number): number;
}

/** Pre-encoded packets (CustomPayloads): packet slot k carries frames[(k + offset) mod frames.length]. */
export class FrameCycle implements PayloadSource {
  constructor(
    private readonly frames: readonly Buffer[],
    /** Samples per packet slot. */
    private readonly spp: number,
    private readonly offset: number,
  ) {}

  private at(sample: number): Buffer {
    return this.frames[(Math.floor(sample / this.spp) + this.offset) % this.frames.length] as Buffer;
  }

  size(sample: number): number {
    return this.at(sample).length;
  }

  fill(dst: Buffer, off: number, sample: number): void {
    this.at(sample).copy(dst, off);
  }

  burstIn(): number {
    return -1;
  }
}

/** One direction's packet writer: fixed flow and payload type. */
export class RtpFlowWriter {
  private readonly udp: UdpHeaderTemplate;
  private ipId: number;

  constructor(
    src: { ip: string; port: number },
    dst: { ip: string; port: number },
    private readonly pt: number,
    private readonly samples: number,
    private readonly payload: PayloadSource,
    ipIdStart: number,
  ) {
    this.udp = new UdpHeaderTemplate(src.ip, src.port, dst.ip, dst.port);
    this.ipId = ipIdStart & 0xffff;
  }

  /** Write one packet carrying stream samples [sample, sample + samples) captured at tsMicros. */
  write(out: RecordSink, tsMicros: number, marker: boolean, seq: number, ts: number, ssrc: number, sample: number): void {
    const len = this.payload.size(sample, this.samples);
    const off = out.beginRecord(tsMicros, UDP_FRAME_OVERHEAD + RTP_HEADER + len);
    const b = out.buf;
    this.udp.write(b, off, RTP_HEADER + len, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeRtpHeader(b, off + UDP_FRAME_OVERHEAD, this.pt, marker, seq, ts, ssrc);
    this.payload.fill(b, off + UDP_FRAME_OVERHEAD + RTP_HEADER, sample, this.samples);
  }
}

/** Where a stream's RTP goes when it is not written as a plain UDP frame (SRTP, TURN-wrapped at the Edge). */
export interface RtpPacketSink {
  /** One RTP packet (a fresh buffer the sink may keep) sent at capture time tsMicros. */
  packet(out: RecordSink, tsMicros: number, rtp: Buffer): void;
}

/** RtpFlowWriter's twin for a sink: builds each RTP packet in its own buffer and hands it on. */
export class RtpPacketBuilder {
  constructor(
    private readonly pt: number,
    private readonly samples: number,
    private readonly payload: PayloadSource,
    private readonly sink: RtpPacketSink,
  ) {}

  write(out: RecordSink, tsMicros: number, marker: boolean, seq: number, ts: number, ssrc: number, sample: number): void {
    const len = this.payload.size(sample, this.samples);
    const b = Buffer.allocUnsafe(RTP_HEADER + len);
    writeRtpHeader(b, 0, this.pt, marker, seq, ts, ssrc);
    this.payload.fill(b, RTP_HEADER, sample, this.samples);
    this.sink.packet(out, tsMicros, b);
  }
}
