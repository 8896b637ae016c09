/**
 * Call control the agent carries to its recorders' SIP feeds (source-sipfeed, port 8008) as HEPv3 over TCP: SIP
 * it captures in clear over UDP, and HEPv3 a proxy or SBC sends it over UDP (passed on as received, after a check
 * that it is HEPv3 of the length it says). TCP SIP is not reassembled here: a proxy's HEP carries it.
 */
import * as dgram from 'node:dgram';
import type { Logger } from '../../core/contract';
import type { AllowList } from '../../core/net/allow-list';
import { encodeHep3 } from '../../core/net/hep-encode';
import { endText, type PacketEnds } from './packet-ends';
import type { RecorderLink } from './recorder-link';

export interface SipCounts {
  sniffed: number;
  relayed: number;
  refused: { notAllowed: number; malformed: number };
}

export class SipCarrier {
  readonly counts: SipCounts = { sniffed: 0, relayed: 0, refused: { notAllowed: 0, malformed: 0 } };
  private sock: dgram.Socket | undefined;

  constructor(
    private readonly links: readonly RecorderLink[],
    private readonly captureId: number,
    private readonly log: Logger,
  ) {}

  /** A captured UDP SIP datagram (its ends read already). */
  sniffed(ts: number, e: PacketEnds, frame: Buffer): void {
    if (this.links.length === 0 || e.payloadOff < 0) return;
    const hep = encodeHep3({
      ipProto: 17,
      src: endText(e.srcAddr),
      sport: e.sport,
      dst: endText(e.dstAddr),
      dport: e.dport,
      ts: Math.floor(ts),
      captureId: this.captureId,
      payload: frame.subarray(e.payloadOff),
    });
    this.counts.sniffed++;
    for (const l of this.links) l.sendSip(hep);
  }

  /** Receives HEPv3 from proxies (allow-listed) and passes each record on. */
  async listen(host: string, port: number, allow: AllowList): Promise<number> {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.sock = sock;
    sock.on('message', (msg, rinfo) => {
      if (!allow.allows(rinfo.address)) {
        this.counts.refused.notAllowed++;
        return;
      }
      // "HEP3" and the total length in bytes 4-5: a record that says otherwise is not passed on (it would desync the stream).
      if (msg.length < 6 || msg.readUInt32BE(0) !== 0x48455033 || msg.readUInt16BE(4) !== msg.length) {
        this.counts.refused.malformed++;
        return;
      }
      this.counts.relayed++;
      for (const l of this.links) l.sendSip(msg);
    });
    sock.on('error', (e) => this.log.warn(`HEP listener: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    return sock.address().port;
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}
