/**
 * Keeps RTP that no codec turns into audio (RTAudio without a licensed decoder, an unknown codec) losslessly
 * beside the recording: the decrypted packets in `media.pcap` (raw IP, original addresses, ports and capture
 * times: Wireshark, rtpengine or a licensed decoder can replay them) and the call's SDPs in `sdp.txt`.
 * Synchronous and buffered like the WAV writer, so a killed recorder loses at most one buffer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SdpRecord } from '../dialog/types';
import { PcapMagic } from '../net/pcap-format';
import { ipv4, ipv6, udp } from '../net/packet-builder';

/** LINKTYPE_RAW: each record is an IPv4 or IPv6 packet (no link-layer header to invent). */
const LINKTYPE_RAW = 101;
const FLUSH_BYTES = 32 * 1024;

export class RawMediaKeeper {
  readonly pcapPath: string;
  readonly sdpPath: string;
  packets = 0;
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(dir: string) {
    this.pcapPath = path.join(dir, 'media.pcap');
    this.sdpPath = path.join(dir, 'sdp.txt');
  }

  /** One RTP packet (decrypted), as it travelled from src to dst. */
  write(ts: number, src: string, sport: number, dst: string, dport: number, rtp: Buffer): void {
    if (this.fd === undefined) this.open();
    const dgram = udp(sport, dport, rtp);
    const ip = src.includes(':') ? ipv6(17, dgram, { src, dst }) : ipv4(17, dgram, { src, dst, id: this.packets & 0xffff });
    const rec = Buffer.allocUnsafe(16);
    const sec = Math.floor(ts / 1e6);
    rec.writeUInt32LE(sec, 0);
    rec.writeUInt32LE(Math.round(ts - sec * 1e6), 4);
    rec.writeUInt32LE(ip.length, 8);
    rec.writeUInt32LE(ip.length, 12);
    this.pending.push(rec, ip);
    this.pendingBytes += 16 + ip.length;
    this.packets++;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  /** Writes the call's SDPs (every offer and answer, in order) next to the packets. */
  writeSdp(records: readonly SdpRecord[], render: (r: SdpRecord) => string): void {
    const text = records.map((r) => `# ${new Date(r.ts / 1000).toISOString()} ${r.from} ${r.role} in ${r.carriedBy}\n${render(r)}`).join('\n');
    fs.writeFileSync(this.sdpPath, text);
  }

  flush(): void {
    if (this.fd === undefined || this.pendingBytes === 0) return;
    fs.writeSync(this.fd, Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    this.fd = fs.openSync(this.pcapPath, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(PcapMagic.MICRO, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(262144, 16);
    h.writeUInt32LE(LINKTYPE_RAW, 20);
    fs.writeSync(this.fd, h);
  }
}
