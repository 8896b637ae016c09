/**
 * Plays the RTP streams of a capture file to a recorder, as an SRC forks a call's media: stream k (in the order
 * of their first packets, by SSRC) goes to port k of the list, with the capture's own timing. Run by SIPp's
 * `exec` action once the recording session is answered (SIPp cannot send two audio m-lines' media itself):
 *
 *   node rtp-play.js CAPTURE HOST PORT1 [PORT2 ...]
 */
import * as dgram from 'node:dgram';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame } from '../../core/net/decode';

interface Pkt {
  ts: number;
  stream: number;
  payload: Buffer;
}

async function main(): Promise<void> {
  const [file, host, ...portArgs] = process.argv.slice(2);
  const ports = portArgs.map(Number);
  if (file === undefined || host === undefined || ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p <= 0)) {
    process.stderr.write('usage: rtp-play.js CAPTURE HOST PORT1 [PORT2 ...]\n');
    process.exit(2);
  }
  const streams = new Map<number, number>();
  const pkts: Pkt[] = [];
  await readCapture(file, (f) => {
    const p = decodeFrame(f);
    if (typeof p === 'string' || p.proto !== 'udp' || p.payload.length < 12) return;
    const ssrc = p.payload.readUInt32BE(8);
    let k = streams.get(ssrc);
    if (k === undefined) streams.set(ssrc, (k = streams.size));
    if (k < ports.length) pkts.push({ ts: p.ts, stream: k, payload: Buffer.from(p.payload) });
  });
  const sock = dgram.createSocket('udp4');
  const t0 = pkts[0]?.ts ?? 0;
  const start = performance.now();
  for (const p of pkts) {
    const due = (p.ts - t0) / 1000 - (performance.now() - start);
    if (due > 1) await new Promise((r) => setTimeout(r, due));
    sock.send(p.payload, ports[p.stream] as number, host);
  }
  await new Promise((r) => setTimeout(r, 50));
  sock.close();
}

void main();
