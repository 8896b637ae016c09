/**
 * The generator's TURN media paths (the remote party's leg to the Edge), checked independently: the SDP names the
 * Edge as the remote party's relay candidate and its srflx is where the Edge sees it from; tshark finds as many
 * Allocates, ChannelBinds, Send/Data indications, MS-TURN Send requests / Data Indications and ChannelData as the
 * truth says were written, and the RTP inside them is byte for byte the RTP the same scenario sends direct. For TCP
 * 443, tshark reassembles the streams and reads the pseudo-TLS hellos; the MS-TURN frames are walked here and their
 * control messages handed back to tshark's classic-STUN dissector as datagrams.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import { PcapWriter } from '../../core/net/pcap-writer';
import { haveTshark, tsharkFields, tsharkFollowTcp } from '../../test/tshark';
import { generateCalls, generateFrames } from './generate';
import { udpFrames } from './net-frames';
import { resolveScenario, type GeneratorOptions, type MediaPath } from './scenario';
import type { CallTruth, EdgeTruth } from './truth';

const BASE: GeneratorOptions = { calls: 3, durationSec: 1, lync: true, edgeParty: 'alternate', earlyMedia: true, hold: true, seed: 21 };

function sum(calls: readonly CallTruth[], kind: string): number {
  return calls.reduce((n, c) => n + (c.edge?.messages[kind] ?? 0), 0);
}

/** Hex payloads of the direct capture's RTP, in capture order, and per flow "src:port>dst:port". */
function directRtp(file: string): { all: string[]; byFlow: Map<string, string[]> } {
  const byFlow = new Map<string, string[]>();
  const all: string[] = [];
  for (const [src = '', sport = '', dst = '', dport = '', payload = ''] of tsharkFields(file, ['ip.src', 'udp.srcport', 'ip.dst', 'udp.dstport', 'udp.payload'], ['-Y', 'udp && !sip && !(udp.port == 5060)'])) {
    all.push(payload);
    const k = `${src}:${sport}>${dst}:${dport}`;
    byFlow.set(k, [...(byFlow.get(k) ?? []), payload]);
  }
  return { all, byFlow };
}

describe('source-generator: TURN media paths (the Edge leg)', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-gen-edge-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('options: a bad mediaPath or edgeParty is refused, protectMedia needs keys; direct is the default', () => {
    const refused = (o: GeneratorOptions, option: string): void => {
      assert.throws(() => resolveScenario(o), (e: unknown) => isTaplineError(e) && e.code === ErrorCodes.USAGE && e.message.includes(option));
    };
    refused({ mediaPath: 'turn-tcp' as MediaPath }, 'mediaPath');
    refused({ mediaPath: 'turn-udp', edgeParty: 'both' as 'caller' }, 'edgeParty');
    refused({ protectMedia: true }, 'protectMedia');
    const s = resolveScenario({});
    assert.deepEqual([s.mediaPath, s.edgeParty, s.edgeMediaDelayMs, s.protectMedia, s.addresses.edgePublic], ['direct', 'caller', null, false, '198.51.100.10']);
  });

  it('the SDP agrees with the leg: the remote party offers the Edge relay and the srflx the Edge sees; the other party is untouched', async () => {
    const sip: string[] = [];
    const truth = await generateFrames({ ...BASE, mediaPath: 'msturn-udp', mtu: 65535 }, (f) => {
      const p = decodeFrame(f);
      if (!isSkipReason(p) && (p.sport === 5060 || p.dport === 5060)) sip.push(p.payload.toString('latin1'));
    });
    const direct = await generateFrames({ ...BASE, mediaPath: 'direct', mtu: 65535 }, () => undefined);
    for (const call of truth.calls) {
      const e = call.edge as EdgeTruth;
      assert.equal(e.party, call.index % 2 === 0 ? 'caller' : 'callee');
      const mine = sip.filter((t) => t.includes(call.callId) && t.includes(`o=- `) && t.includes(`c=IN IP4 ${call[e.party].ip}`));
      assert.ok(mine.length >= 2, `call ${call.index}: the remote party's SDPs`);
      for (const t of mine) {
        assert.match(t, new RegExp(`a=candidate:3 1 UDP \\d+ ${e.relay.ip.replace(/\./g, '\\.')} ${e.relay.port} typ relay`));
        assert.match(t, new RegExp(`a=candidate:2 1 UDP \\d+ ${e.client.ip.replace(/\./g, '\\.')} ${e.client.port} typ srflx`));
      }
      assert.equal(e.relay.ip, '198.51.100.10');
      const other = e.party === 'caller' ? 'callee' : 'caller';
      assert.deepEqual(e.peer, { ip: call[other].ip, port: call[other].rtpPort });
      assert.deepEqual(e.server, { ip: '198.51.100.10', port: 3478 });
      // Same RTP either way: the path wraps it, nothing else changes.
      const d = direct.calls[call.index] as CallTruth;
      for (const dir of ['caller', 'callee'] as const) assert.deepEqual(call.media[dir], d.media[dir], `call ${call.index} ${dir}`);
    }
  });

  it('edgeMediaDelayMs: nothing reaches the Edge before answer + delay, early media included', async () => {
    const truth = await generateFrames({ ...BASE, mediaPath: 'turn-udp', edgeMediaDelayMs: 300, ringMs: 600 }, () => undefined);
    for (const call of truth.calls) {
      for (const dir of ['caller', 'callee'] as const) {
        const d = call.media[dir];
        assert.ok(d !== undefined && d.firstTime >= (call.answer as number) + 300_000, `call ${call.index} ${dir}`);
        assert.equal(d.packetsWritten, d.packetsSent);
      }
    }
  });

  describe('as tshark reads them', function () {
    before(function () {
      if (!haveTshark()) {
        console.log('      tshark not installed: skipping the TURN framing comparisons');
        this.skip();
      }
    });

    async function pair(mediaPath: MediaPath): Promise<{ file: string; truth: Awaited<ReturnType<typeof generateCalls>>; direct: ReturnType<typeof directRtp> }> {
      const file = path.join(tmp, `${mediaPath}.pcap`);
      const directFile = path.join(tmp, `direct-for-${mediaPath}.pcap`);
      const truth = await generateCalls({ ...BASE, mediaPath }, file);
      const d = await generateCalls({ ...BASE, mediaPath: 'direct' }, directFile);
      assert.equal(d.totals.rtpPackets, truth.totals.rtpPackets);
      return { file, truth, direct: directRtp(directFile) };
    }

    it('turn-udp: Allocate, ChannelBind, Send/Data indications and ChannelData as written; inside, the direct capture\'s RTP', async () => {
      const { file, truth, direct } = await pair('turn-udp');
      const rows = tsharkFields(file, ['stun.type', 'stun.channel', 'data.data'], ['-Y', 'stun']);
      const count = (type: string): number => rows.filter((r) => r[0] === type).length;
      assert.deepEqual(
        [count('0x0003'), count('0x0103'), count('0x0009'), count('0x0109'), count('0x0016'), count('0x0017'), rows.filter((r) => (r[1] ?? '') !== '').length],
        [sum(truth.calls, 'allocate'), sum(truth.calls, 'allocate-success'), sum(truth.calls, 'channel-bind'), sum(truth.calls, 'channel-bind-success'), sum(truth.calls, 'send-indication'), sum(truth.calls, 'data-indication'), sum(truth.calls, 'channel-data')],
      );
      assert.ok(sum(truth.calls, 'send-indication') > 0 && sum(truth.calls, 'channel-data') > 100);
      const inner = rows.filter((r) => (r[2] ?? '') !== '').map((r) => r[2]);
      assert.equal(inner.length, truth.totals.rtpPackets);
      assert.deepEqual(inner, direct.all);
    });

    it('msturn-udp: legacy Send requests and Data Indications 0x0115 as written (classic STUN); inside, the direct capture\'s RTP', async () => {
      const { file, truth, direct } = await pair('msturn-udp');
      const rows = tsharkFields(file, ['classicstun.type', 'classicstun.att.magic.cookie', 'classicstun.att.data'], ['-Y', 'classicstun']);
      const count = (type: string): number => rows.filter((r) => r[0] === type).length;
      assert.deepEqual([count('0x0003'), count('0x0103'), count('0x0004'), count('0x0115')], [sum(truth.calls, 'allocate'), sum(truth.calls, 'allocate-success'), sum(truth.calls, 'ms-send'), sum(truth.calls, 'ms-data-indication')]);
      assert.ok(rows.every((r) => r[1] === '0x72c64bc6'), 'MAGIC-COOKIE in every message');
      assert.deepEqual(rows.filter((r) => (r[2] ?? '') !== '').map((r) => r[2]), direct.all);
    });

    it('msturn-tcp: clean TCP, pseudo-TLS hellos, then 0x02/0x03 frames whose contents are the direct capture\'s RTP, per direction', async () => {
      const { file, truth, direct } = await pair('msturn-tcp');
      assert.equal(tsharkFields(file, ['frame.number'], ['-Y', 'tcp.analysis.flags && !tcp.analysis.window_update']).length, 0, 'no retransmission, loss or overlap');
      const hellos = tsharkFields(file, ['tcp.stream', 'tls.handshake.type'], ['-Y', 'tls.handshake', '-E', 'occurrence=a']);
      assert.equal(hellos.length, 2 * truth.calls.length);
      assert.deepEqual(hellos.map((r) => r[1]).sort(), [...Array(truth.calls.length).fill('1'), ...Array(truth.calls.length).fill('2,14')], 'ClientHello; ServerHello and ServerHelloDone in one record');
      const streams = [...new Set(hellos.map((r) => Number(r[0])))];
      const control: Buffer[] = [];
      for (const index of streams) {
        const f = tsharkFollowTcp(file, index);
        const client = f.node0;
        const call = truth.calls.find((c) => `${c.edge?.client.ip}:${c.edge?.client.port}` === client) as CallTruth;
        assert.ok(call !== undefined, `stream ${index} (${client}) belongs to a call`);
        const e = call.edge as EdgeTruth;
        for (const [bytes, fromClient] of [[f.fwd, true], [f.rev, false]] as const) {
          // One pseudo-TLS record, then frames: type(1) 0x00 length(2) payload.
          assert.equal(bytes[0], 0x16);
          let at = 5 + bytes.readUInt16BE(3);
          const media: string[] = [];
          let frames = 0;
          while (at < bytes.length) {
            const type = bytes[at] as number;
            assert.ok((type === 2 || type === 3) && bytes[at + 1] === 0, `stream ${index}: frame header at ${at}`);
            const len = bytes.readUInt16BE(at + 2);
            const payload = bytes.subarray(at + 4, at + 4 + len);
            if (type === 2) control.push(Buffer.from(payload));
            else media.push(payload.toString('hex'));
            at += 4 + len;
            frames++;
          }
          assert.equal(at, bytes.length, 'the stream ends on a frame boundary');
          assert.ok(frames > 10);
          // Raw 0x03 frames after Set Active Destination: the tail of this direction's RTP in the direct capture.
          const dir = fromClient ? e.party : e.party === 'caller' ? 'callee' : 'caller';
          const d = call.media[dir];
          assert.ok(d !== undefined);
          const flow = direct.byFlow.get(`${d.src.ip}:${d.src.port}>${d.dst.ip}:${d.dst.port}`) ?? [];
          assert.deepEqual(media, flow.slice(flow.length - media.length), `call ${call.index} ${dir}: raw frames`);
        }
      }
      // The 0x02 payloads as datagrams, for tshark's classic-STUN dissector to read.
      const ctl = path.join(tmp, 'msturn-tcp-control.pcap');
      const w = new PcapWriter(ctl);
      control.forEach((p, i) => {
        for (const fr of udpFrames('203.0.113.200', 40000, '198.51.100.10', 3478, p, i, 65535)) w.write(1_700_000_000_000_000 + i * 1000, fr);
      });
      await w.close();
      const rows = tsharkFields(ctl, ['classicstun.type', 'classicstun.att.data'], ['-Y', 'classicstun']);
      const count = (type: string): number => rows.filter((r) => r[0] === type).length;
      assert.deepEqual(
        [count('0x0003'), count('0x0103'), count('0x0004'), count('0x0115'), count('0x0006'), count('0x0106')],
        ['allocate', 'allocate-success', 'ms-send', 'ms-data-indication', 'set-active-destination', 'set-active-destination-success'].map((k) => sum(truth.calls, k)),
      );
      const wrapped = new Set(rows.map((r) => r[1] ?? '').filter((x) => x !== ''));
      assert.equal(wrapped.size, sum(truth.calls, 'ms-send') + sum(truth.calls, 'ms-data-indication'));
      for (const x of wrapped) assert.ok(direct.all.includes(x), 'a wrapped payload that the direct capture does not send');
      assert.equal(wrapped.size + sum(truth.calls, 'tcp-data'), truth.totals.rtpPackets);
    });
  });
});
