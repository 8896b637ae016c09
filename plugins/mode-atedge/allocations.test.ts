/**
 * TurnAllocations: the addresses each inner packet travelled between, from what the relay tables (allocation,
 * channels, active destination, sessions) were seen to hold, in both directions.
 */
import * as assert from 'node:assert/strict';
import { TurnAllocations, type OuterFlow, type Unwrapped } from './allocations';
import { parseTurn } from './turn';
import {
  addressValue,
  channelData,
  channelNumber,
  msTcpFrame,
  msTurnMessage,
  rfc5389Message,
  TurnAttr,
  TurnType,
} from '../source-generator/turn-wire';

const CLIENT = { ip: '203.0.113.9', port: 34636 };
const EDGE = { ip: '198.51.100.10', port: 3478 };
const RELAY = { ip: '198.51.100.10', port: 51770 };
const PEER = { ip: '10.2.0.7', port: 40012 };
const up: OuterFlow = { proto: 'udp', src: CLIENT.ip, sport: CLIENT.port, dst: EDGE.ip, dport: EDGE.port };
const down: OuterFlow = { proto: 'udp', src: EDGE.ip, sport: EDGE.port, dst: CLIENT.ip, dport: CLIENT.port };
const RTP = Buffer.concat([Buffer.from('8000000100000000cafebabe', 'hex'), Buffer.alloc(160, 0xd5)]);
const tx = (n: number): Buffer => Buffer.alloc(12, n);
const tx16 = (n: number): Buffer => Buffer.alloc(16, n);

function tables(isServer: (ip: string, port: number) => boolean = (_ip, port) => port === 3478 || port === 443): TurnAllocations {
  return new TurnAllocations({ isServer });
}

function placed(r: ReturnType<TurnAllocations['handle']>): Unwrapped {
  assert.ok(r !== undefined && typeof r !== 'string', `not placed: ${String(r)}`);
  return r;
}

const ends = (u: Unwrapped): string => `${u.src.ip}:${u.src.port} > ${u.dst.ip}:${u.dst.port} (${u.fromClient ? 'client' : 'peer'}, ${u.peerFrom})`;

describe('mode-atedge: TurnAllocations', () => {
  it('Send / Data indications: client end → peer and peer → client end; the relayed address once the Allocate success is seen', () => {
    const t = tables();
    const send = parseTurn(rfc5389Message(TurnType.SEND_INDICATION, tx(1), [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, RTP]]));
    const dataInd = parseTurn(rfc5389Message(TurnType.DATA_INDICATION, tx(2), [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, RTP]]));
    assert.equal(ends(placed(t.handle(up, send, 1))), '203.0.113.9:34636 > 10.2.0.7:40012 (client, message)', 'before the Allocate: the client outer address');
    assert.equal(ends(placed(t.handle(down, dataInd, 2))), '10.2.0.7:40012 > 203.0.113.9:34636 (peer, message)');
    t.handle(down, parseTurn(rfc5389Message(TurnType.ALLOCATE_SUCCESS, tx(3), [[TurnAttr.XOR_RELAYED_ADDRESS, addressValue(RELAY, true)], [TurnAttr.XOR_MAPPED_ADDRESS, addressValue(CLIENT, true)]])), 3);
    assert.equal(ends(placed(t.handle(up, send, 4))), '198.51.100.10:51770 > 10.2.0.7:40012 (client, message)');
    assert.equal(ends(placed(t.handle(down, dataInd, 5))), '10.2.0.7:40012 > 198.51.100.10:51770 (peer, message)');
    assert.equal(t.size, 1);
    assert.deepEqual(t.get('udp', CLIENT, EDGE)?.mapped, CLIENT);
  });

  it('ChannelData: the peer of the channel the client bound, both ways; an unbound channel has the Edge for its peer', () => {
    const t = tables();
    t.handle(up, parseTurn(rfc5389Message(TurnType.CHANNEL_BIND, tx(1), [[TurnAttr.CHANNEL_NUMBER, channelNumber(0x4001)], [TurnAttr.PEER_ADDRESS, addressValue(PEER, true)]])), 1);
    t.handle(down, parseTurn(rfc5389Message(TurnType.CHANNEL_BIND_SUCCESS, tx(1), [])), 2);
    assert.equal(ends(placed(t.handle(up, parseTurn(channelData(0x4001, RTP, false)), 3))), '203.0.113.9:34636 > 10.2.0.7:40012 (client, channel)');
    assert.equal(ends(placed(t.handle(down, parseTurn(channelData(0x4001, RTP, false)), 4))), '10.2.0.7:40012 > 203.0.113.9:34636 (peer, channel)');
    assert.equal(ends(placed(t.handle(down, parseTurn(channelData(0x4002, RTP, false)), 5))), '198.51.100.10:3478 > 203.0.113.9:34636 (peer, unknown)');
  });

  it('a refused ChannelBind (error response) unbinds the channel again', () => {
    const t = tables();
    t.handle(up, parseTurn(rfc5389Message(TurnType.CHANNEL_BIND, tx(7), [[TurnAttr.CHANNEL_NUMBER, channelNumber(0x4001)], [TurnAttr.PEER_ADDRESS, addressValue(PEER, true)]])), 1);
    t.handle(down, parseTurn(rfc5389Message(0x0119, tx(7), [])), 2);
    assert.equal(placed(t.handle(up, parseTurn(channelData(0x4001, RTP, false)), 3)).peerFrom, 'unknown');
  });

  it('ChannelData direction: from the allocation, else from which end is a TURN server; neither: unplaced', () => {
    const t = tables(() => false);
    assert.equal(t.handle(up, parseTurn(channelData(0x4001, RTP, false)), 1), 'direction-unknown');
    // A response from the server teaches which end serves.
    t.handle(down, parseTurn(rfc5389Message(TurnType.ALLOCATE_SUCCESS, tx(1), [[TurnAttr.XOR_RELAYED_ADDRESS, addressValue(RELAY, true)]])), 2);
    assert.equal(placed(t.handle(up, parseTurn(channelData(0x4001, RTP, false)), 3)).fromClient, true);
    assert.equal(placed(t.handle(down, parseTurn(channelData(0x4001, RTP, false)), 4)).fromClient, false);
    const edgeByIp = tables((ip) => ip === EDGE.ip);
    assert.equal(placed(edgeByIp.handle({ ...down, sport: 5555 }, parseTurn(channelData(0x4001, RTP, false)), 1)).fromClient, false);
  });

  it('MS-TURN over TCP: Send requests to DESTINATION-ADDRESS, then raw 0x03 data to and from the active destination', () => {
    const t = tables();
    const tcpUp: OuterFlow = { proto: 'tcp', src: CLIENT.ip, sport: 50123, dst: EDGE.ip, dport: 443 };
    const tcpDown: OuterFlow = { proto: 'tcp', src: EDGE.ip, sport: 443, dst: CLIENT.ip, dport: 50123 };
    const raw = { kind: 'data' as const, format: 'tcp-data' as const, toServer: undefined, peer: undefined, data: RTP };
    assert.equal(ends(placed(t.handle(tcpUp, raw, 1))), '203.0.113.9:50123 > 198.51.100.10:443 (client, unknown)', 'no active destination yet: the Edge stands in for the peer');
    t.handle(tcpDown, parseTurn(msTurnMessage(TurnType.ALLOCATE_SUCCESS, tx16(1), [[TurnAttr.MAPPED_ADDRESS, addressValue(RELAY, false)]])), 2);
    assert.equal(ends(placed(t.handle(tcpUp, parseTurn(msTurnMessage(TurnType.MS_SEND, tx16(2), [[TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)], [TurnAttr.DATA, RTP]])), 3))), '198.51.100.10:51770 > 10.2.0.7:40012 (client, message)');
    t.handle(tcpUp, parseTurn(msTurnMessage(TurnType.MS_SET_ACTIVE_DESTINATION, tx16(3), [[TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)]])), 4);
    t.handle(tcpDown, parseTurn(msTurnMessage(TurnType.MS_SET_ACTIVE_DESTINATION_SUCCESS, tx16(3), [])), 5);
    assert.equal(ends(placed(t.handle(tcpUp, raw, 6))), '198.51.100.10:51770 > 10.2.0.7:40012 (client, active-destination)');
    assert.equal(ends(placed(t.handle(tcpDown, raw, 7))), '10.2.0.7:40012 > 198.51.100.10:51770 (peer, active-destination)');
    assert.ok(msTcpFrame(0x03, RTP).length === RTP.length + 4);
  });

  it('0xFF10: the session an Allocate announced goes to that client; one an ICE check announced goes to the check sender', () => {
    const t = tables(() => false);
    const session = Buffer.from('7f20c4dd4f848dfa', 'hex');
    t.handle(up, parseTurn(msTurnMessage(TurnType.ALLOCATE, tx16(1), [[0x8095, session]])), 1);
    t.handle(down, parseTurn(msTurnMessage(TurnType.ALLOCATE_SUCCESS, tx16(1), [[TurnAttr.MAPPED_ADDRESS, addressValue(RELAY, false)], [0x8095, session]])), 2);
    const mux = (s: Buffer): ReturnType<typeof parseTurn> => parseTurn(Buffer.concat([Buffer.from([0xff, 0x10, 0, 8 + RTP.length]), s, RTP]));
    // Delivered to the client on another server port than the allocation's: the session says where.
    assert.equal(ends(placed(t.handle({ ...down, sport: 3479 }, mux(session), 3))), '198.51.100.10:3479 > 198.51.100.10:51770 (peer, unknown)');
    const relayed = { ip: '52.114.252.8', port: 3479 };
    const theirs = Buffer.from('deaa296708f708fc', 'hex');
    const check = rfc5389Message(0x0001, tx(9), [[0x8095, theirs]]);
    t.handle({ proto: 'udp', src: relayed.ip, sport: relayed.port, dst: CLIENT.ip, dport: CLIENT.port }, parseTurn(check), 4);
    const u = placed(t.handle({ proto: 'udp', src: CLIENT.ip, sport: CLIENT.port, dst: relayed.ip, dport: relayed.port }, mux(theirs), 5));
    assert.equal(ends(u), '203.0.113.9:34636 > 52.114.252.8:3479 (client, unknown)');
  });

  it('bounded: the least recently used allocations go first', () => {
    const t = new TurnAllocations({ isServer: (_ip, port) => port === 3478, maxAllocations: 100 });
    const keep: OuterFlow = { ...up, sport: 1 };
    const send = parseTurn(rfc5389Message(TurnType.SEND_INDICATION, tx(1), [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, RTP]]));
    for (let i = 0; i < 1000; i++) {
      t.handle({ ...up, sport: 1000 + i }, send, i);
      t.handle(keep, send, i);
    }
    assert.equal(t.size, 100);
    assert.ok(t.get('udp', { ip: CLIENT.ip, port: 1 }, EDGE) !== undefined, 'the busy allocation stayed');
  });
});
