/**
 * Free port blocks on 127.0.0.1, so peer tests of two sessions (or two mocha runs) on one machine do not take each
 * other's SIP and RTP ports. A block is checked by binding every port (UDP and TCP) and releasing it: another
 * program may still take a port in between, which the peers then report as "Address already in use".
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** Below Linux's ephemeral range (32768–60999), where the kernel picks local ports for outgoing connections. */
const LOW = 20_000;
const HIGH = 32_000;
const TRIES = 40;

/**
 * The first of `size` consecutive ports that are free for UDP and TCP on `host`, from a random start in 20000–32000.
 */
export async function freePortBlock(size: number, host = '127.0.0.1'): Promise<number> {
  if (!(size >= 1 && size <= 1000)) throw new Error(`freePortBlock: size ${size} out of 1..1000`);
  for (let t = 0; t < TRIES; t++) {
    // Aligned to 10 so the ports read well in logs.
    const base = LOW + Math.floor((Math.random() * (HIGH - LOW - size)) / 10) * 10;
    let ok = true;
    for (let p = base; p < base + size && ok; p++) ok = (await udpFree(p, host)) && (await tcpFree(p, host));
    if (ok) return base;
  }
  throw new Error(`freePortBlock: no ${size} free consecutive ports on ${host} after ${TRIES} tries`);
}
