/**
 * HEP as a feed into the core's ingest, whatever carries it: a UDP datagram, a TCP or TLS stream (source-hep),
 * or a net-service connection that turned out to speak HEP (source-sipfeed). Decodes, checks the auth key, hands
 * SIP and media to the IngestSink and counts everything else as a drop. Never throws on what peers send.
 */
import type { IngestSink } from '../contracts/ingest';
import { decodeHep, type HepDecodeResult, type HepErrorReason } from './hep';
import { hepArrival } from './hep-arrival';
import { HepStreamReader } from './hep-stream';
import type { StreamConnection, StreamHandler } from './stream-server';

export interface HepFeedOptions {
  /** When set, every packet's chunk 14 must equal it ('auth' drops otherwise; a stream is then closed). */
  authKey?: Buffer;
  /** Largest record (TCP/TLS) or datagram accepted. */
  maxRecordBytes: number;
  maxDecompressedBytes: number;
  /** Hand RTP and raw RTCP to sink.media (else they are dropped as 'hep-media-disabled'). */
  media: boolean;
  /** First word of each arrival's origin, e.g. 'hep' → 'hep udp 10.0.0.5:40120'. */
  originPrefix: string;
  /** Called for every HEP record or datagram received, before any check (tapline_packets_in_total). */
  onPacket?(): void;
}

/** "10.0.0.5:5060", "[2001:db8::1]:5060". */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Decode failures that are about size are limits; the rest are malformed input. */
function failureStage(reason: HepErrorReason): 'limit' | 'parse' {
  return reason === 'oversize' ? 'limit' : 'parse';
}

export class HepFeed {
  /** SIP messages and media packets handed to the sink. */
  delivered = 0;

  constructor(
    private readonly sink: IngestSink,
    private readonly opts: HepFeedOptions,
  ) {}

  /** One UDP datagram. */
  datagram(msg: Buffer, peer: { address: string; port: number }): void {
    this.opts.onPacket?.();
    this.handle(decodeHep(msg, { maxBytes: this.opts.maxRecordBytes, maxDecompressedBytes: this.opts.maxDecompressedBytes }), `${this.opts.originPrefix} udp ${hostPort(peer.address, peer.port)}`);
  }

  /** The protocol handler of a TCP/TLS connection carrying HEPv3 records. */
  stream(conn: StreamConnection): StreamHandler {
    const reader = new HepStreamReader({ maxRecordBytes: this.opts.maxRecordBytes, decode: { maxDecompressedBytes: this.opts.maxDecompressedBytes } });
    const origin = `${this.opts.originPrefix} ${conn.transport} ${hostPort(conn.remoteAddress, conn.remotePort)}`;
    let open = true;
    return {
      data: (chunk: Buffer): void => {
        if (!open) return;
        const out = reader.push(chunk);
        for (const r of out.results) {
          this.opts.onPacket?.();
          if (!this.handle(r, origin)) {
            // A peer that fails authentication is not read any further.
            open = false;
            conn.close('auth-failed');
            return;
          }
        }
        if (out.fatal !== undefined) {
          open = false;
          this.sink.drop(failureStage(out.fatal.reason), `hep-${out.fatal.reason}`);
          conn.close(out.fatal.reason === 'oversize' ? 'message-too-large' : 'parse-error');
        }
      },
      get buffered(): number {
        return reader.buffered;
      },
      get messages(): number {
        return reader.records;
      },
      end: (): void => {
        const f = reader.end();
        if (f !== undefined) this.sink.drop('parse', `hep-${f.reason}`);
      },
    };
  }

  /** Hands one decoded record on; false when it failed authentication. */
  private handle(r: HepDecodeResult, origin: string): boolean {
    if (!r.ok) {
      this.sink.drop(failureStage(r.reason), `hep-${r.reason}`);
      return true;
    }
    const a = hepArrival(r.packet, { origin, nowUs: Date.now() * 1000, ...(this.opts.authKey !== undefined ? { authKey: this.opts.authKey } : {}) });
    switch (a.kind) {
      case 'sip':
        this.sink.sip(a.sip);
        this.delivered++;
        return true;
      case 'media':
        if (!this.opts.media) {
          this.sink.drop('parse', 'hep-media-disabled');
          return true;
        }
        this.sink.media(a.media);
        this.delivered++;
        return true;
      case 'keepalive':
        return true;
      case 'drop':
        this.sink.drop(a.stage, a.reason);
        return a.stage !== 'auth';
    }
  }
}
