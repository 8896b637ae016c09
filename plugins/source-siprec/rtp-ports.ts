/**
 * The recording server's media ports: an even port for RTP and the next one for RTCP per stream, taken from a
 * configured range and bound on the media address. Only the session's SRC may send to them: datagrams from any
 * other address are dropped and counted (a port of a recorder is no open relay for junk). Ports are handed back
 * when their session ends (after a short linger for trailing packets) and reused after everything else in the range.
 */
import * as dgram from 'node:dgram';
import { isIP } from 'node:net';
import { unmapIpv4 } from '../../core/net/ip-parse';

export interface MediaDatagram {
  payload: Buffer;
  src: string;
  sport: number;
  /** The local port it reached. */
  dport: number;
}

export interface PortPair {
  rtp: number;
  close(): void;
}

export class PortPool {
  private next: number;
  private readonly inUse = new Set<number>();

  constructor(
    private readonly host: string,
    private readonly min: number,
    private readonly max: number,
  ) {
    this.min = min + (min % 2);
    this.next = this.min;
  }

  get used(): number {
    return this.inUse.size;
  }

  /**
   * Binds the next free even port and the odd one above it. `accept(src)` says whether a datagram's source may send
   * here. Rejects when the range has no free pair left (every port in use or taken by another program).
   */
  async open(onDatagram: (d: MediaDatagram) => void, accept: (src: string) => boolean, onRefused: () => void): Promise<PortPair> {
    const span = Math.floor((this.max - this.min + 1) / 2);
    for (let tries = 0; tries < span; tries++) {
      const port = this.next;
      this.next = port + 2 > this.max - 1 ? this.min : port + 2;
      if (this.inUse.has(port)) continue;
      const sockets = await this.bindPair(port, onDatagram, accept, onRefused);
      if (sockets === undefined) continue;
      this.inUse.add(port);
      let closed = false;
      return {
        rtp: port,
        close: () => {
          if (closed) return;
          closed = true;
          for (const s of sockets) s.close();
          this.inUse.delete(port);
        },
      };
    }
    throw new Error(`no free media port pair in ${this.min}-${this.max} (${this.inUse.size} pairs in use)`);
  }

  private async bindPair(port: number, onDatagram: (d: MediaDatagram) => void, accept: (src: string) => boolean, onRefused: () => void): Promise<dgram.Socket[] | undefined> {
    const out: dgram.Socket[] = [];
    for (const p of [port, port + 1]) {
      const s = dgram.createSocket({ type: isIP(this.host) === 6 ? 'udp6' : 'udp4' });
      const ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.bind({ address: this.host, port: p, exclusive: true }, () => resolve(true));
      });
      if (!ok) {
        s.close();
        for (const o of out) o.close();
        return undefined;
      }
      s.on('error', () => undefined);
      s.on('message', (payload, rinfo) => {
        const src = unmapIpv4(rinfo.address);
        if (!accept(src)) return onRefused();
        onDatagram({ payload, src, sport: rinfo.port, dport: p });
      });
      out.push(s);
    }
    return out;
  }
}
