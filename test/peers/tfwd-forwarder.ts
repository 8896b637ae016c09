/**
 * A stand-in packet forwarder for end-to-end tests (the real one, `tapline forward`, is the next issue): tcpdump
 * captures on an interface (an independent capture), its pcap stream is parsed as it arrives, and every IP packet
 * is sent to a recorder as TFWD (Tapline's documented encapsulation, core/net/tfwd.ts) with its capture time.
 */
import * as dgram from 'node:dgram';
import { openCapture, DETECT_LEN } from '../../core/net/capture-detect';
import type { RecordParser } from '../../core/net/record-parser';
import type { RawFrame } from '../../core/net/types';
import { TfwdEncoder, type TfwdKey } from '../../core/net/tfwd';
import { startProc, type Proc } from './proc';

export interface TfwdForwarderOptions {
  iface: string;
  filter: string;
  to: { host: string; port: number };
  key: TfwdKey;
  sensorId: number;
  logFile: string;
  netns?: string;
}

export interface TfwdForwarder {
  /** IP packets sent so far. */
  packets(): number;
  stop(): Promise<void>;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;

/** The IP packet of an Ethernet frame (lo on Linux is DLT_EN10MB), or undefined. */
function ipOf(f: RawFrame): Buffer | undefined {
  if (f.linkType !== 1 || f.data.length < 14) return undefined;
  const type = f.data.readUInt16BE(12);
  return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? f.data.subarray(14) : undefined;
}

export async function startTfwdForwarder(o: TfwdForwarderOptions): Promise<TfwdForwarder> {
  const sock = dgram.createSocket(o.to.host.includes(':') ? 'udp6' : 'udp4');
  let sent = 0;
  const enc = new TfwdEncoder({ sensorId: o.sensorId, mtu: 1400, key: o.key }, (d) => sock.send(d, o.to.port, o.to.host));
  // tcpdump -U: each packet written as it is captured; -w -: the pcap stream on stdout.
  const proc: Proc = startProc('tcpdump', 'tcpdump', ['-i', o.iface, '-U', '-w', '-', '-s', '0', o.filter], o.logFile, o.netns !== undefined ? { netns: o.netns } : {});
  let buf: Buffer = Buffer.alloc(0);
  let parser: RecordParser | undefined;
  proc.child.stdout?.removeAllListeners('data');
  proc.child.stdout?.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let pos = 0;
    if (parser === undefined) {
      if (buf.length < DETECT_LEN) return;
      const opened = openCapture(buf, buf.length, 'tcpdump stream');
      parser = opened.parser;
      pos = opened.headerLen;
    }
    pos = parser.parse(buf, pos, buf.length, 0, (f) => {
      const ip = ipOf(f);
      if (ip === undefined) return;
      enc.add(f.ts, Buffer.from(ip));
      sent++;
    });
    buf = buf.subarray(pos);
    enc.flush(); // forward at once: a forwarder batches only what arrives together
  });
  const timer = setInterval(() => enc.heartbeat(Date.now() * 1000), 1000);
  await proc.waitFor(/listening on/, 10_000, 'tcpdump start (needs root or CAP_NET_RAW)');
  return {
    packets: () => sent,
    stop: async () => {
      clearInterval(timer);
      await proc.stop(2000, 'SIGINT');
      enc.flush();
      await new Promise<void>((r) => sock.close(() => r()));
    },
  };
}
