/**
 * RTP packets (RFC 3550 §5.1) written straight into the capture writer's chunk: Ethernet/IPv4/UDP header from
 * the flow's template, the 12-byte RTP header, then the payload from the stream's tone.
 */
import { UDP_FRAME_OVERHEAD, UdpHeaderTemplate } from './net-frames';
import type { ToneSource } from './tones';

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

/** One direction's packet writer: fixed flow, payload type and payload size. */
export class RtpFlowWriter {
  private readonly udp: UdpHeaderTemplate;
  private ipId: number;
  readonly frameLen: number;

  constructor(
    src: { ip: string; port: number },
    dst: { ip: string; port: number },
    private readonly pt: number,
    private readonly samples: number,
    private readonly tone: ToneSource,
    ipIdStart: number,
  ) {
    this.udp = new UdpHeaderTemplate(src.ip, src.port, dst.ip, dst.port);
    this.ipId = ipIdStart & 0xffff;
    this.frameLen = UDP_FRAME_OVERHEAD + RTP_HEADER + samples;
  }

  /** Write one packet carrying stream samples [sample, sample + samples) captured at tsMicros. */
  write(out: RecordSink, tsMicros: number, marker: boolean, seq: number, ts: number, ssrc: number, sample: number): void {
    const off = out.beginRecord(tsMicros, this.frameLen);
    const b = out.buf;
    this.udp.write(b, off, RTP_HEADER + this.samples, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeRtpHeader(b, off + UDP_FRAME_OVERHEAD, this.pt, marker, seq, ts, ssrc);
    this.tone.fill(b, off + UDP_FRAME_OVERHEAD + RTP_HEADER, sample, this.samples);
  }
}
