/**
 * A stand-in for a Lync Edge Server's A/V relay, for the at-edge lab tests: its own Node process in the Edge host's
 * namespace, one MS-TURN allocation over UDP ([MS-TURN], lync-protocols.md §3):
 *
 *   private side (TURN listener, e.g. 198.18.0.11:3478), with the internal client:
 *     client → Edge  Allocate request 0x0003          → Allocate success 0x0103 (MAPPED-ADDRESS = the relayed
 *                                                       address, XOR-MAPPED-ADDRESS 0x8020 = the client as seen)
 *     client → Edge  Send request 0x0004 (DESTINATION-ADDRESS, DATA)  → DATA sent plain from the relayed address
 *     Edge → client  Data Indication 0x0115 (REMOTE-ADDRESS = the sender, DATA)  ← plain datagram to the relayed address
 *   public side (the relayed address, e.g. 198.19.0.11:50000): plain RTP with the external party.
 *
 * Legacy MS-TURN framing, as Lync clients use it: 16-byte transaction id (no RFC 5389 cookie), MAGIC-COOKIE first,
 * unpadded TLVs, plain addresses. The messages are built with the generator's encoder (source-generator/turn-wire,
 * written from the spec independently of the recorder's parser); the small reader here is this file's own. Not a
 * TURN server: no authentication, no permissions (a test lab has no strangers), no refresh, one client.
 *
 *   node dist/test/peers/edge-relay.js --turn IP:PORT --relay IP:PORT
 *
 * Says `ready {...}` once both sockets are bound; on SIGINT/SIGTERM says `stats {...}` (EdgeRelayStats) and exits.
 */
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { addressValue, msTurnMessage, MS_MAGIC, TurnAttr, TurnType, type Endpoint } from '../../plugins/source-generator/turn-wire';
import { startProc, type Proc } from './proc';

export type { Endpoint } from '../../plugins/source-generator/turn-wire';

/** What the relay did, counted per message kind. */
export interface EdgeRelayStats {
  allocations: number;
  /** Send requests unwrapped and relayed to their destination (public side). */
  toPeer: number;
  /** Plain datagrams from the public side wrapped in Data Indications to the client. */
  toClient: number;
  /** Datagrams not relayed: not MS-TURN, a Send from a client without an allocation, data before any allocation. */
  dropped: number;
}

/** One MS-TURN message as read here: type, 16-byte transaction id, attributes by type (first of each). */
export interface MsTurnMessage {
  type: number;
  txid: Buffer;
  attrs: Map<number, Buffer>;
}

/** Reads a legacy MS-TURN message (MAGIC-COOKIE first, unpadded TLVs); undefined for anything else. */
export function readMsTurn(buf: Buffer): MsTurnMessage | undefined {
  if (buf.length < 28 || (buf[0] as number) > 3) return undefined;
  const end = 20 + buf.readUInt16BE(2);
  if (end !== buf.length) return undefined;
  const attrs = new Map<number, Buffer>();
  for (let off = 20; off < end; ) {
    if (off + 4 > end) return undefined;
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    if (off + 4 + len > end) return undefined;
    if (!attrs.has(type)) attrs.set(type, buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  const magic = attrs.get(TurnAttr.MAGIC_COOKIE);
  if (magic === undefined || magic.length !== 4 || magic.readUInt32BE(0) !== MS_MAGIC || buf.readUInt16BE(20) !== TurnAttr.MAGIC_COOKIE) return undefined;
  return { type: buf.readUInt16BE(0), txid: buf.subarray(4, 20), attrs };
}

/** A plain IPv4 transport address attribute (MS-TURN's are not XORed, except XOR-MAPPED-ADDRESS). */
export function readPlainAddress(v: Buffer | undefined): Endpoint | undefined {
  if (v === undefined || v.length < 8 || v[1] !== 1) return undefined;
  return { ip: [...v.subarray(4, 8)].join('.'), port: v.readUInt16BE(2) };
}

export function parseEndpoint(s: string): Endpoint {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(s);
  if (m === null) throw new Error(`not IPv4:port: ${s}`);
  return { ip: m[1] as string, port: Number(m[2]) };
}

export const fmtEndpoint = (e: Endpoint): string => `${e.ip}:${e.port}`;

export interface EdgeRelay {
  readonly proc: Proc;
  /** Stops the relay (SIGINT) and returns what it counted. */
  stop(): Promise<EdgeRelayStats>;
}

/** Starts the relay in `netns` (the Edge host's namespace); resolves once it listens on both sides. */
export async function startEdgeRelay(o: { netns: string; turn: Endpoint; relay: Endpoint; logFile: string }): Promise<EdgeRelay> {
  const proc = startProc('edge-relay', process.execPath, [path.join(__dirname, 'edge-relay.js'), '--turn', fmtEndpoint(o.turn), '--relay', fmtEndpoint(o.relay)], o.logFile, { netns: o.netns });
  try {
    await proc.waitFor(/^ready /m, 10_000, 'edge relay start');
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return {
    proc,
    async stop() {
      await proc.stop(3000, 'SIGINT');
      const m = /^stats (\{.*\})$/m.exec(proc.text);
      if (m === null) throw new Error(`edge relay said no stats; its output:\n${proc.tail()}`);
      return JSON.parse(m[1] as string) as EdgeRelayStats;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The relay process

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string): Endpoint => {
    const i = args.indexOf(name);
    const v = i >= 0 ? args[i + 1] : undefined;
    if (v === undefined) {
      process.stderr.write('usage: edge-relay.js --turn IP:PORT --relay IP:PORT\n');
      process.exit(2);
    }
    return parseEndpoint(v);
  };
  const turnAddr = opt('--turn');
  const relayAddr = opt('--relay');
  const stats: EdgeRelayStats = { allocations: 0, toPeer: 0, toClient: 0, dropped: 0 };
  let client: Endpoint | undefined;
  const turn = dgram.createSocket('udp4');
  const relay = dgram.createSocket('udp4');

  turn.on('message', (buf, r) => {
    const m = readMsTurn(buf);
    const from = { ip: r.address, port: r.port };
    if (m?.type === TurnType.ALLOCATE) {
      // One allocation: a new Allocate (a client restarting) takes it over.
      client = from;
      stats.allocations++;
      const ok = msTurnMessage(TurnType.ALLOCATE_SUCCESS, Buffer.from(m.txid), [
        [TurnAttr.MAPPED_ADDRESS, addressValue(relayAddr, false)],
        [TurnAttr.MS_XOR_MAPPED_ADDRESS, addressValue(from, true)],
      ]);
      turn.send(ok, from.port, from.ip);
      return;
    }
    const dest = m?.type === TurnType.MS_SEND ? readPlainAddress(m.attrs.get(TurnAttr.DESTINATION_ADDRESS)) : undefined;
    const data = m?.attrs.get(TurnAttr.DATA);
    if (dest === undefined || data === undefined || client === undefined || client.ip !== from.ip || client.port !== from.port) {
      stats.dropped++;
      return;
    }
    relay.send(data, dest.port, dest.ip);
    stats.toPeer++;
  });

  relay.on('message', (data, r) => {
    if (client === undefined) {
      stats.dropped++;
      return;
    }
    const txid = Buffer.alloc(16);
    txid.writeUInt32BE(stats.toClient, 12);
    const di = msTurnMessage(TurnType.MS_DATA_INDICATION, txid, [
      [TurnAttr.PEER_ADDRESS, addressValue({ ip: r.address, port: r.port }, false)],
      [TurnAttr.DATA, data],
    ]);
    turn.send(di, client.port, client.ip);
    stats.toClient++;
  });

  let bound = 0;
  const up = (): void => {
    if (++bound === 2) console.log(`ready ${JSON.stringify({ turn: turnAddr, relay: relayAddr })}`);
  };
  for (const [s, a] of [
    [turn, turnAddr],
    [relay, relayAddr],
  ] as const) {
    s.on('error', (e) => {
      console.error(`edge-relay: ${e.message}`);
      process.exit(1);
    });
    s.bind(a.port, a.ip, up);
  }
  const stop = (): void => {
    console.log(`stats ${JSON.stringify(stats)}`);
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) main();
