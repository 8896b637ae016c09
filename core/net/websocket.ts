/**
 * SIP over WebSocket (RFC 7118) as seen on the wire: an HTTP/1.1 upgrade (RFC 6455 §4), then frames. Each
 * direction of the TCP connection gets one deframer; every complete text or binary message is one SIP message.
 * Bounded: a frame or message larger than `maxMessage` is reported and skipped, never buffered whole.
 */

export type WsOutput = { message: Buffer } | { error: string };

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BIN = 0x2;
const OP_CLOSE = 0x8;

/** True when a TCP direction starts with an HTTP request or response that upgrades to WebSocket. */
export function isWebSocketUpgrade(data: Buffer): boolean {
  const head = data.subarray(0, Math.min(data.length, 4096)).toString('latin1');
  if (!head.startsWith('GET ') && !head.startsWith('HTTP/1.1 101')) return false;
  return /\r\nupgrade:\s*websocket/i.test(head);
}

export class WebSocketDeframer {
  private buf: Buffer = Buffer.alloc(0);
  private inHandshake = true;
  private parts: Buffer[] = [];
  private partsLen = 0;
  private closed = false;

  constructor(private readonly maxMessage = 1 << 20) {}

  push(chunk: Buffer): WsOutput[] {
    if (this.closed) return [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: WsOutput[] = [];
    if (this.inHandshake) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > 16384) {
          out.push({ error: 'WebSocket upgrade header longer than 16 KiB; direction ignored' });
          this.closed = true;
        }
        return out;
      }
      this.buf = this.buf.subarray(end + 4);
      this.inHandshake = false;
    }
    for (;;) {
      const f = this.frame();
      if (f === undefined) break;
      if (typeof f === 'string') {
        out.push({ error: f });
        this.closed = true;
        break;
      }
      if (f.opcode === OP_CLOSE) {
        this.closed = true;
        break;
      }
      if (f.opcode !== OP_TEXT && f.opcode !== OP_BIN && f.opcode !== OP_CONT) continue; // ping/pong
      if (this.partsLen + f.payload.length > this.maxMessage) {
        out.push({ error: `WebSocket message larger than ${this.maxMessage} bytes skipped` });
        this.parts = [];
        this.partsLen = 0;
        continue;
      }
      this.parts.push(f.payload);
      this.partsLen += f.payload.length;
      if (f.fin) {
        out.push({ message: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts) });
        this.parts = [];
        this.partsLen = 0;
      }
    }
    return out;
  }

  /** One frame off the buffer: undefined when incomplete, a string when the stream is not WebSocket. */
  private frame(): { fin: boolean; opcode: number; payload: Buffer } | string | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const fin = (b[0]! & 0x80) !== 0;
    const opcode = b[0]! & 0x0f;
    if ((b[0]! & 0x70) !== 0) return `bad WebSocket frame header 0x${b[0]!.toString(16)} (reserved bits set)`;
    const masked = (b[1]! & 0x80) !== 0;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const hi = b.readUInt32BE(2);
      if (hi !== 0) return 'WebSocket frame length over 4 GiB';
      len = b.readUInt32BE(6);
      off = 10;
    }
    if (len > this.maxMessage) return `WebSocket frame of ${len} bytes exceeds the ${this.maxMessage}-byte limit`;
    const maskOff = off;
    if (masked) off += 4;
    if (b.length < off + len) return undefined;
    let payload = b.subarray(off, off + len);
    if (masked) {
      const m = b.subarray(maskOff, maskOff + 4);
      const un = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) un[i] = payload[i]! ^ m[i & 3]!;
      payload = un;
    } else {
      payload = Buffer.from(payload); // detach from the shared buffer
    }
    this.buf = b.subarray(off + len);
    return { fin, opcode, payload };
  }
}
