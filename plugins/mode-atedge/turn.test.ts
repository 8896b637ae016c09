/**
 * turn.ts: every wrapping the Edge uses, unwrapped to the exact inner bytes with the peer it names; everything
 * else classified with a reason, and no input (random, truncated, corrupted) makes it throw.
 */
import * as assert from 'node:assert/strict';
import { parseTurn, type TurnUnit } from './turn';
import { readAttributes } from './stun';
import {
  addressValue,
  channelData,
  channelNumber,
  msTurnMessage,
  rfc5389Message,
  TurnAttr,
  TurnType,
  u32,
} from '../source-generator/turn-wire';

const RTP = Buffer.concat([Buffer.from('80000001000000a0deadbeef', 'hex'), Buffer.alloc(171, 0x55)]); // 183 bytes: SRTP-sized, not a multiple of 4
const PEER = { ip: '10.2.0.7', port: 40012 };
const txid12 = Buffer.from('0102030405060708090a0b0c', 'hex');
const txid16 = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex');

function data(u: TurnUnit): Extract<TurnUnit, { kind: 'data' }> {
  assert.equal(u.kind, 'data', JSON.stringify(u));
  return u as Extract<TurnUnit, { kind: 'data' }>;
}

function control(u: TurnUnit): Extract<TurnUnit, { kind: 'control' }>['control'] {
  assert.equal(u.kind, 'control', JSON.stringify(u));
  return (u as Extract<TurnUnit, { kind: 'control' }>).control;
}

function code(u: TurnUnit): string {
  assert.ok(u.kind === 'malformed' || u.kind === 'not-turn', JSON.stringify(u));
  assert.ok(u.reason.length > 10, 'a reason a person can read');
  return `${u.kind}:${u.code}`;
}

describe('mode-atedge: turn.ts', () => {
  describe('RFC 5766 (cookie header, padded TLVs, XORed addresses)', () => {
    it('Send indication 0x0016: the DATA bytes, toward the server, XOR-PEER-ADDRESS decoded', () => {
      const u = data(parseTurn(rfc5389Message(TurnType.SEND_INDICATION, txid12, [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, RTP]])));
      assert.equal(u.format, 'send-indication');
      assert.equal(u.toServer, true);
      assert.deepEqual(u.peer, PEER);
      assert.ok(u.data.equals(RTP));
    });

    it('Data indication 0x0017: from the server; a padded DATA of odd length followed by another attribute', () => {
      const fingerprint: readonly [number, Buffer] = [0x8028, u32(0x12345678)];
      const msg = rfc5389Message(TurnType.DATA_INDICATION, txid12, [[TurnAttr.DATA, RTP], [TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], fingerprint]);
      assert.equal(msg.length, 20 + 4 + 184 + 12 + 8, 'DATA padded to 184');
      const u = data(parseTurn(msg));
      assert.equal(u.format, 'data-indication');
      assert.equal(u.toServer, false);
      assert.deepEqual(u.peer, PEER);
      assert.ok(u.data.equals(RTP));
    });

    it('an IPv6 XOR-PEER-ADDRESS is XORed with cookie and transaction id', () => {
      // 2001:db8::1 port 5000 XORed by hand (RFC 5389 §15.2).
      const plain = Buffer.from('20010db8000000000000000000000001', 'hex');
      const mask = Buffer.concat([Buffer.from('2112a442', 'hex'), txid12]);
      const v = Buffer.alloc(20);
      v[1] = 2;
      v.writeUInt16BE(5000 ^ 0x2112, 2);
      for (let i = 0; i < 16; i++) v[4 + i] = (plain[i] as number) ^ (mask[i] as number);
      const u = data(parseTurn(rfc5389Message(TurnType.SEND_INDICATION, txid12, [[TurnAttr.PEER_ADDRESS, v], [TurnAttr.DATA, RTP]])));
      assert.deepEqual(u.peer, { ip: '2001:db8::1', port: 5000 });
    });

    it('ChannelBind request and success, Allocate success: what a relay table needs', () => {
      const bind = control(parseTurn(rfc5389Message(TurnType.CHANNEL_BIND, txid12, [[TurnAttr.CHANNEL_NUMBER, channelNumber(0x4001)], [TurnAttr.PEER_ADDRESS, addressValue(PEER, true)]])));
      assert.deepEqual([bind.name, bind.method, bind.cls, bind.channel, bind.peer, bind.txid], ['channel-bind', 9, 0, 0x4001, PEER, txid12.toString('hex')]);
      assert.equal(control(parseTurn(rfc5389Message(TurnType.CHANNEL_BIND_SUCCESS, txid12, []))).name, 'channel-bind-success');
      const relay = { ip: '198.51.100.10', port: 51770 };
      const mapped = { ip: '203.0.113.9', port: 34636 };
      const alloc = control(parseTurn(rfc5389Message(TurnType.ALLOCATE_SUCCESS, txid12, [[TurnAttr.XOR_RELAYED_ADDRESS, addressValue(relay, true)], [TurnAttr.LIFETIME, u32(600)], [TurnAttr.XOR_MAPPED_ADDRESS, addressValue(mapped, true)]])));
      assert.deepEqual([alloc.name, alloc.relayed, alloc.mapped], ['allocate-success', relay, mapped]);
      assert.equal(control(parseTurn(rfc5389Message(0x0001, txid12, []))).name, 'binding', 'an ICE check is control, not data');
      assert.equal(control(parseTurn(rfc5389Message(0x0004, txid12, []))).name, 'refresh', 'without MAGIC-COOKIE 0x0004 is RFC 5766 Refresh');
    });

    it('ChannelData: over UDP unpadded or with up to 3 padding bytes; over TCP exactly padded', () => {
      for (const pad of [false, true]) {
        const u = data(parseTurn(channelData(0x4abc, RTP, pad)));
        assert.deepEqual([u.format, u.channel, u.toServer, u.peer], ['channel-data', 0x4abc, undefined, undefined]);
        assert.ok(u.data.equals(RTP));
      }
      assert.ok(data(parseTurn(channelData(0x4abc, RTP, true), { stream: true })).data.equals(RTP));
      assert.equal(code(parseTurn(channelData(0x4abc, RTP, false), { stream: true })), 'malformed:trailing', 'over TCP the padding must be there');
      assert.equal(code(parseTurn(Buffer.concat([channelData(0x4abc, RTP, false), Buffer.alloc(4)]))), 'malformed:trailing');
      assert.equal(code(parseTurn(channelData(0x4abc, RTP, false).subarray(0, 100))), 'malformed:truncated');
      assert.equal(code(parseTurn(Buffer.from([0x40, 0x00, 0x00]))), 'malformed:short');
    });
  });

  describe('MS-TURN (MAGIC-COOKIE first, unpadded TLVs, plain addresses)', () => {
    it('legacy Send request 0x0004: DESTINATION-ADDRESS and DATA, with attributes before and after', () => {
      const msg = msTurnMessage(TurnType.MS_SEND, txid16, [
        [TurnAttr.MS_SEQUENCE_NUMBER, Buffer.alloc(20, 7)],
        [TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)],
        [TurnAttr.DATA, RTP],
        [TurnAttr.MESSAGE_INTEGRITY, Buffer.alloc(20, 9)],
      ]);
      assert.equal(msg.length, 20 + 8 + 24 + 12 + 4 + 183 + 24, 'no padding anywhere');
      assert.equal(readAttributes(msg, 20, msg.length, true), undefined, 'read as padded, it does not fit');
      const u = data(parseTurn(msg));
      assert.deepEqual([u.format, u.toServer, u.peer], ['ms-send', true, PEER]);
      assert.ok(u.data.equals(RTP));
    });

    it('Data Indication 0x0115: REMOTE-ADDRESS (plain, not XORed) and DATA', () => {
      const u = data(parseTurn(msTurnMessage(TurnType.MS_DATA_INDICATION, txid16, [[TurnAttr.PEER_ADDRESS, addressValue(PEER, false)], [TurnAttr.DATA, RTP]])));
      assert.deepEqual([u.format, u.toServer, u.peer], ['ms-data-indication', false, PEER]);
      assert.ok(u.data.equals(RTP));
    });

    it('MS-TURN with the RFC 5389 cookie in its header (newer clients) is still MS-TURN: unpadded, plain addresses', () => {
      // What a Teams client sends: cookie header, MAGIC-COOKIE first, a 10-byte REALM with no padding after it.
      const body = Buffer.concat([
        Buffer.from('000f000472c64bc6', 'hex'),
        Buffer.from('0015000a', 'hex'),
        Buffer.from('"rtcmedia"'),
        Buffer.from('0011000800019c4a0a020007', 'hex'), // DESTINATION-ADDRESS 10.2.0.7:40010, plain
        Buffer.from('001300b7', 'hex'),
        RTP,
      ]);
      const h = Buffer.alloc(20);
      h.writeUInt16BE(0x0004, 0);
      h.writeUInt16BE(body.length, 2);
      h.writeUInt32BE(0x2112a442, 4);
      const u = data(parseTurn(Buffer.concat([h, body])));
      assert.deepEqual([u.format, u.peer], ['ms-send', { ip: '10.2.0.7', port: 40010 }]);
      assert.ok(u.data.equals(RTP));
    });

    it('Allocate response: MAPPED-ADDRESS is the relay, 0x8020 the XORed reflexive address, 0x8095 the session id', () => {
      const relay = { ip: '198.51.100.10', port: 52001 };
      const mapped = { ip: '203.0.113.50', port: 61310 };
      const c = control(
        parseTurn(
          msTurnMessage(TurnType.ALLOCATE_SUCCESS, txid16, [
            [TurnAttr.MAPPED_ADDRESS, addressValue(relay, false)],
            [TurnAttr.MS_XOR_MAPPED_ADDRESS, addressValue(mapped, true)],
            [0x8095, Buffer.from('7f20c4dd4f848dfa', 'hex')],
          ]),
        ),
      );
      assert.deepEqual([c.dialect, c.name, c.relayed, c.mapped, c.session, c.txid], ['ms-turn', 'allocate-success', relay, mapped, '7f20c4dd4f848dfa', txid16.toString('hex')]);
      const sad = control(parseTurn(msTurnMessage(TurnType.MS_SET_ACTIVE_DESTINATION, txid16, [[TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)]])));
      assert.deepEqual([sad.name, sad.peer], ['set-active-destination', PEER]);
    });

    it('multiplexed 0xFF10 | length | session id | data', () => {
      const frame = Buffer.concat([Buffer.from([0xff, 0x10, 0x00, 8 + RTP.length]), Buffer.from('deaa296708f708fc', 'hex'), RTP]);
      const u = data(parseTurn(frame));
      assert.deepEqual([u.format, u.session, u.toServer], ['mux', 'deaa296708f708fc', undefined]);
      assert.ok(u.data.equals(RTP));
      assert.equal(code(parseTurn(frame.subarray(0, 11))), 'malformed:short');
      assert.equal(code(parseTurn(frame.subarray(0, 60))), 'malformed:truncated');
      assert.equal(code(parseTurn(Buffer.from('ff10000411223344556677889900', 'hex'))), 'malformed:short', 'a length that cannot hold the session id');
    });
  });

  describe('not TURN, and malformed', () => {
    it('plain RTP, DTLS, other first bytes, classic STUN, empty: not TURN, with a reason', () => {
      assert.equal(code(parseTurn(RTP)), 'not-turn:rtp');
      assert.equal(code(parseTurn(Buffer.from('16fefd0000000000000000', 'hex'))), 'not-turn:dtls');
      assert.equal(code(parseTurn(Buffer.from('c0ffee', 'hex'))), 'not-turn:first-byte');
      assert.equal(code(parseTurn(Buffer.alloc(0))), 'not-turn:empty');
      const classic = Buffer.concat([Buffer.from('00010008', 'hex'), txid16, Buffer.from('0003000400000000', 'hex')]);
      assert.equal(code(parseTurn(classic)), 'not-turn:classic-stun');
    });

    it('lengths that do not add up, overrunning attributes, Send/Data without DATA or peer: malformed', () => {
      const good = rfc5389Message(TurnType.SEND_INDICATION, txid12, [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, RTP]]);
      assert.equal(code(parseTurn(good.subarray(0, 12))), 'malformed:short');
      assert.equal(code(parseTurn(good.subarray(0, good.length - 1))), 'malformed:truncated');
      assert.equal(code(parseTurn(Buffer.concat([good, Buffer.alloc(4)]))), 'malformed:trailing');
      const overrun = Buffer.from(good);
      overrun.writeUInt16BE(0x0fff, 20 + 2); // first attribute claims more than the message holds
      assert.equal(code(parseTurn(overrun)), 'malformed:attributes');
      assert.equal(code(parseTurn(rfc5389Message(TurnType.SEND_INDICATION, txid12, [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)]]))), 'malformed:no-data');
      assert.equal(code(parseTurn(rfc5389Message(TurnType.DATA_INDICATION, txid12, [[TurnAttr.DATA, RTP]]))), 'malformed:no-peer');
      assert.equal(code(parseTurn(msTurnMessage(TurnType.MS_DATA_INDICATION, txid16, [[TurnAttr.DATA, RTP]]))), 'malformed:no-peer');
      assert.equal(code(parseTurn(msTurnMessage(TurnType.MS_SEND, txid16, [[TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)]]))), 'malformed:no-data');
      assert.equal(code(parseTurn(rfc5389Message(TurnType.CHANNEL_BIND, txid12, [[TurnAttr.CHANNEL_NUMBER, channelNumber(0x4001)]]))), 'malformed:channel-bind');
    });

    it('never throws: every truncation and 20,000 random or corrupted inputs', () => {
      const samples = [
        rfc5389Message(TurnType.SEND_INDICATION, txid12, [[TurnAttr.PEER_ADDRESS, addressValue(PEER, true)], [TurnAttr.DATA, RTP]]),
        msTurnMessage(TurnType.MS_SEND, txid16, [[TurnAttr.DESTINATION_ADDRESS, addressValue(PEER, false)], [TurnAttr.DATA, RTP]]),
        channelData(0x4001, RTP, false),
        Buffer.concat([Buffer.from('ff10008f', 'hex'), Buffer.alloc(8, 1), RTP.subarray(0, 135)]),
      ];
      let seed = 12345;
      const rnd = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      };
      const kinds = new Map<string, number>();
      const tally = (u: TurnUnit): void => void kinds.set(u.kind, (kinds.get(u.kind) ?? 0) + 1);
      for (const s of samples) for (let n = 0; n <= s.length; n++) for (const stream of [false, true]) tally(parseTurn(s.subarray(0, n), { stream }));
      for (let i = 0; i < 20_000; i++) {
        const base = samples[rnd(samples.length)] as Buffer;
        const b = rnd(3) === 0 ? Buffer.from(Array.from({ length: rnd(300) }, () => rnd(256))) : Buffer.from(base);
        for (let k = rnd(6); k > 0; k--) if (b.length > 0) b[rnd(b.length)] = rnd(256);
        tally(parseTurn(b, { stream: rnd(2) === 0 }));
      }
      assert.ok((kinds.get('malformed') ?? 0) > 1000 && (kinds.get('data') ?? 0) > 1000 && (kinds.get('not-turn') ?? 0) > 1000, JSON.stringify([...kinds]));
    });
  });
});
