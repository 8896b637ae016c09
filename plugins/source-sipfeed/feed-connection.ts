/**
 * One feeder connection to the 8008 port: what it speaks is decided from its first bytes — "HEP3" is HEPv3
 * records (original addresses and capture time); CR/LF or a SIP start line is plain SIP framed by Content-Length
 * (addresses from the message itself, arrival time); anything else (a TLS ClientHello on the plain port, binary
 * junk, HTTP) is dropped as 'parse' and the connection closed. CRLFCRLF pings get a CRLF pong (RFC 5626 §4.4.1).
 * Nothing here depends on the connection beyond its own bytes: a feeder that reconnects mid-call loses no call.
 */
import type { IngestSink } from '../../core/contracts/ingest';
import type { HepFeed } from '../../core/net/hep-feed';
import { hostPort } from '../../core/net/hep-feed';
import type { StreamConnection, StreamHandler } from '../../core/net/stream-server';
import { sipPathOf } from '../../core/sip/feed-addresses';
import { SipStreamFramer } from '../../core/sip/framing';
import { parseSipMessage } from '../../core/sip/parser';
import { isTaplineError } from '../../core/errors';

const HEP3 = Buffer.from('HEP3', 'latin1');
/** A SIP start line longer than this before its LF is not a start line. */
const MAX_START_LINE = 8 * 1024;
const PONG = '\r\n';
const REQUEST_LINE = /^[A-Za-z][A-Za-z0-9.!%*_+`'~-]* \S+ SIP\/2\.0\r?$/;
const STATUS_LINE = /^SIP\/2\.0 \d{3}(?: .*)?\r?$/;

export interface SipFeedOptions {
  maxMessageBytes: number;
  /** Answer CRLFCRLF pings with a CRLF pong. */
  pong: boolean;
  /** Called for every SIP message or HEP record received (tapline_packets_in_total). */
  onPacket?(): void;
}

export class SipFeedConnection implements StreamHandler {
  private mode: 'detect' | 'sip' | 'hep' | 'closed' = 'detect';
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private framer: SipStreamFramer | undefined;
  private hep: StreamHandler | undefined;
  private sipMessages = 0;
  private readonly origin: string;

  constructor(
    private readonly conn: StreamConnection,
    private readonly sink: IngestSink,
    private readonly hepFeed: HepFeed,
    private readonly opts: SipFeedOptions,
    private readonly counters: { delivered: number },
  ) {
    this.origin = `sipfeed ${conn.transport} ${hostPort(conn.remoteAddress, conn.remotePort)}`;
  }

  /** 'sip' or 'hep' once detected. */
  get protocol(): 'detect' | 'sip' | 'hep' | 'closed' {
    return this.mode;
  }

  get buffered(): number {
    if (this.mode === 'sip') return this.framer?.buffered ?? 0;
    if (this.mode === 'hep') return this.hep?.buffered ?? 0;
    return this.pendingBytes;
  }

  get messages(): number {
    if (this.mode === 'hep') return this.hep?.messages ?? 0;
    return this.sipMessages;
  }

  data(chunk: Buffer): void {
    if (this.mode === 'sip') return this.sipData(chunk);
    if (this.mode === 'hep') return (this.hep as StreamHandler).data(chunk);
    if (this.mode === 'closed') return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const head = this.pending.length === 1 ? chunk : Buffer.concat(this.pending);
    this.pending = [head];
    const verdict = detect(head);
    if (verdict === 'wait') return;
    this.pending = [];
    this.pendingBytes = 0;
    if (verdict === 'hep') {
      this.mode = 'hep';
      this.hep = this.hepFeed.stream(this.conn);
      this.hep.data(head);
    } else if (verdict === 'sip') {
      this.mode = 'sip';
      this.framer = new SipStreamFramer({ maxBuffer: this.opts.maxMessageBytes, lenient: true, ...(this.opts.pong ? { onKeepAlive: () => this.conn.write(PONG) } : {}) });
      this.sipData(head);
    } else {
      this.refuse('feed-not-sip-or-hep');
    }
  }

  end(reason: 'peer-closed' | 'stopped'): void {
    if (this.mode === 'hep') this.hep?.end?.(reason);
    if (this.mode === 'sip' && this.framer !== undefined) {
      for (const e of this.framer.flush()) if (isTaplineError(e)) this.sink.drop('parse', `sip-${String(e.details['reason'] ?? 'framing')}`);
    }
  }

  private refuse(reason: string): void {
    this.mode = 'closed';
    this.sink.drop('parse', reason);
    this.conn.close('parse-error');
  }

  private sipData(chunk: Buffer): void {
    const framer = this.framer as SipStreamFramer;
    for (const item of framer.pushFrames(chunk)) {
      if (this.mode === 'closed') return;
      if (!Buffer.isBuffer(item)) {
        const reason = String(item.details['reason'] ?? 'framing');
        // The stream is no longer in step with the feeder's messages: start afresh on a new connection.
        if (reason === 'stream-oversized') {
          this.mode = 'closed';
          this.sink.drop('limit', 'sip-message-too-large');
          this.conn.close('message-too-large');
          return;
        }
        this.refuse(`sip-${reason}`);
        return;
      }
      this.opts.onPacket?.();
      this.sipMessages++;
      this.deliver(item);
    }
  }

  private deliver(raw: Buffer): void {
    let msg;
    try {
      msg = parseSipMessage(raw, { transport: 'stream', lenient: true });
    } catch {
      this.sink.drop('parse', 'sip-unparsable');
      return;
    }
    const path = sipPathOf(msg, { address: this.conn.remoteAddress, port: this.conn.remotePort, transport: this.conn.transport });
    this.sink.sip({ ts: Date.now() * 1000, ...path, data: raw, origin: this.origin });
    this.counters.delivered++;
  }
}

/** What the first bytes of a connection say it speaks; 'wait' while they are too few to tell. */
export function detect(head: Buffer): 'hep' | 'sip' | 'wait' | 'other' {
  const b = head[0];
  if (b === undefined) return 'wait';
  if (b === 13 || b === 10) return 'sip'; // a keep-alive before the first message: SIP (HEP never starts so)
  if (b === 0x48) {
    const n = Math.min(4, head.length);
    if (head.subarray(0, n).equals(HEP3.subarray(0, n))) return n === 4 ? 'hep' : 'wait';
  }
  if (!((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a))) return 'other';
  const lf = head.indexOf(10);
  if (lf < 0) return head.length > MAX_START_LINE ? 'other' : 'wait';
  const line = head.toString('latin1', 0, lf);
  return REQUEST_LINE.test(line) || STATUS_LINE.test(line) ? 'sip' : 'other';
}
