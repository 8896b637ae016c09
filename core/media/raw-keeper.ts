/**
 * Keeps RTP that no codec turns into audio (RTAudio without a licensed decoder, an unknown codec) losslessly
 * beside the recording: the decrypted packets as a pcap (raw IP, original addresses, ports and capture times:
 * Wireshark, rtpengine or a licensed decoder can replay them) and the call's SDPs as text. The bytes go to storage
 * as attachments ('media.pcap', 'sdp.txt'), buffered so storage sees a few large appends, not one per packet.
 */
import type { SdpRecord } from '../dialog/types';
import { PcapMagic } from '../net/pcap-format';
import { ipv4, ipv6, udp } from '../net/packet-builder';

/** LINKTYPE_RAW: each record is an IPv4 or IPv6 packet (no link-layer header to invent). */
const LINKTYPE_RAW = 101;
const FLUSH_BYTES = 32 * 1024;

export const RAW_MEDIA_FILE = 'media.pcap';
export const RAW_SDP_FILE = 'sdp.txt';

export class RawMediaKeeper {
  packets = 0;
  private started = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** `emit` receives the pcap's bytes in order (the first call starts with the file header). */
  constructor(private readonly emit: (bytes: Buffer) => void) {}

  /** One RTP packet (decrypted), as it travelled from src to dst. */
  write(ts: number, src: string, sport: number, dst: string, dport: number, rtp: Buffer): void {
    if (!this.started) this.header();
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

  flush(): void {
    if (this.pendingBytes === 0) return;
    const bytes = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.emit(bytes);
  }

  private header(): void {
    this.started = true;
    const h = Buffer.alloc(24);
    h.writeUInt32LE(PcapMagic.MICRO, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(262144, 16);
    h.writeUInt32LE(LINKTYPE_RAW, 20);
    this.pending.push(h);
    this.pendingBytes += h.length;
  }
}

/** The call's SDPs (every offer and answer, in order), as kept beside undecodable media. */
export function renderSdps(records: readonly SdpRecord[]): string {
  return records.map((r) => `# ${new Date(r.ts / 1000).toISOString()} ${r.from} ${r.role} in ${r.carriedBy}\n${r.text}`).join('\n');
}
