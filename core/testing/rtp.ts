/** Hand-built RTP for tests (RFC 3550 §5.1 fixed header + payload), a stream that numbers them, and test tones. */

export interface RtpFields {
  pt: number;
  seq: number;
  /** RTP timestamp (mod 2^32). */
  ts: number;
  ssrc: number;
  marker?: boolean;
  payload: Buffer;
}

/** One RTP packet: V=2, no padding, no extension, no CSRC. */
export function rtpPacket(f: RtpFields): Buffer {
  const b = Buffer.alloc(12 + f.payload.length);
  b[0] = 0x80;
  b[1] = (f.marker === true ? 0x80 : 0) | (f.pt & 0x7f);
  b.writeUInt16BE(f.seq & 0xffff, 2);
  b.writeUInt32BE(f.ts >>> 0, 4);
  b.writeUInt32BE(f.ssrc >>> 0, 8);
  f.payload.copy(b, 12);
  return b;
}

/** Numbers one RTP stream's packets: the sequence number goes up by one per packet, the timestamp as told. */
export class RtpStream {
  seq: number;
  ts: number;

  constructor(
    readonly ssrc: number,
    opts: { seq?: number; ts?: number } = {},
  ) {
    this.seq = opts.seq ?? 1000;
    this.ts = opts.ts ?? 50_000;
  }

  /** The next packet; its timestamp is the current one, then the timestamp advances by `advance` ticks. */
  next(pt: number, payload: Buffer, advance: number, marker = false): Buffer {
    const b = rtpPacket({ pt, seq: this.seq, ts: this.ts, ssrc: this.ssrc, marker, payload });
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + advance) >>> 0;
    return b;
  }
}

/** n samples of a sine at `hz`, starting at sample `from` of a continuous tone (so packets join without a seam). */
export function tone(hz: number, from: number, n: number, rate = 8000, dbfs = -10): Int16Array {
  const amp = 32767 * 10 ** (dbfs / 20);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * (from + i)) / rate));
  return out;
}
