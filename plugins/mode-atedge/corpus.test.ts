/**
 * Real TURN from the shared corpus: a Microsoft Teams client's MS-TURN (Send requests with the cookie header,
 * legacy Data Indications 0x0115, 0xFF10 multiplexed frames) and a WebRTC call relayed through RFC 5766 TURN
 * (Send/Data indications, ChannelBind, ChannelData). Every inner packet turn.ts extracts must equal what tshark's
 * STUN dissectors hold in DATA (or the ChannelData / multiplexed payload), frame by frame; through the mode, the
 * WebRTC call's relayed SRTP must authenticate with the keys the corpus lists (so not one byte is off).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import type { TransportPacket } from '../../core/net/types';
import { parseInlineKey, SrtpContext } from '../../core/media/srtp/index';
import { isRtcp } from '../../core/media/rtp';
import { PluginHarness } from '../../core/testing/index';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { haveTshark, tsharkFields } from '../../test/tshark';
import modeAtedge from './index';
import { parseTurn, type DataFormat } from './turn';

interface Inner {
  format: DataFormat;
  data: Buffer;
}

/** Our unwrapping of every UDP datagram, by frame number. */
async function ours(file: string): Promise<Map<number, Inner>> {
  const out = new Map<number, Inner>();
  await readCapture(corpusPath(file), (f) => {
    const p = decodeFrame(f);
    if (isSkipReason(p) || p.proto !== 'udp') return;
    const u = parseTurn(p.payload);
    if (u.kind === 'data') out.set(f.frameNo, { format: u.format, data: Buffer.from(u.data) });
  });
  return out;
}

/** tshark's: the DATA attribute (STUN: data.data; classic STUN: classicstun.att.data) or ChannelData payload. */
function theirs(file: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const [frame = '', data = '', classic = ''] of tsharkFields(corpusPath(file), ['frame.number', 'data.data', 'classicstun.att.data'], ['-Y', 'stun || classicstun'])) {
    const hex = (data || classic).replace(/:/g, '');
    if (hex !== '') out.set(Number(frame), Buffer.from(hex, 'hex'));
  }
  return out;
}

function tally(m: Map<number, Inner>): Record<string, number> {
  const t: Record<string, number> = {};
  for (const x of m.values()) t[x.format] = (t[x.format] ?? 0) + 1;
  return t;
}

function compare(file: string, mine: Map<number, Inner>): void {
  const ref = theirs(file);
  assert.deepEqual([...mine.keys()], [...ref.keys()], `${file}: the frames carrying relayed data`);
  for (const [frame, want] of ref) assert.ok(mine.get(frame)?.data.equals(want), `${file} frame ${frame}: inner bytes differ from tshark's`);
}

const TEAMS = 'pcap/ndpi_teams.pcap';
const WEBRTC = 'pcap/srtpdecoder_WebRTC_OPUS_Turn_SDES_Call_1.pcap';

describeCorpus('mode-atedge: TURN in real captures', () => {
  before(function () {
    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: corpus TURN comparisons skipped');
      this.skip();
    }
  });

  it(`${TEAMS}: MS-TURN Send requests, Data Indications 0x0115 and 0xFF10 frames, byte for byte as tshark reads them`, async () => {
    const mine = await ours(TEAMS);
    assert.deepEqual(tally(mine), { 'ms-send': 6, 'ms-data-indication': 6, mux: 2 });
    compare(TEAMS, mine);
    // What is relayed there before the call starts: ICE connectivity checks (STUN), not media.
    for (const x of mine.values()) assert.ok((x.data[0] as number) <= 1 && x.data.readUInt32BE(4) === 0x2112a442);
  });

  it(`${WEBRTC}: RFC 5766 Send/Data indications and ChannelData, byte for byte as tshark reads them`, async () => {
    const mine = await ours(WEBRTC);
    assert.deepEqual(tally(mine), { 'send-indication': 18, 'data-indication': 5, 'channel-data': 998 });
    compare(WEBRTC, mine);
  });

  it(`${WEBRTC} through the mode: every relayed SRTP packet authenticates with the corpus keys (501 + 460), between relay and peer`, async () => {
    const h = await PluginHarness.create(modeAtedge);
    const pushed: TransportPacket[] = [];
    h.kernel.associator.on('unmatched', (p) => pushed.push(p));
    await h.pcap(corpusPath(WEBRTC));
    await h.stop();
    const c = h.counters();
    assert.equal(c['mode-atedge.control.allocate-success'], 2);
    assert.equal(c['mode-atedge.control.channel-bind'], 2);
    assert.equal((c['mode-atedge.unwrapped.channel-data'] ?? 0) + (c['mode-atedge.unwrapped.send-indication'] ?? 0) + (c['mode-atedge.unwrapped.data-indication'] ?? 0), 998 + 18 + 5);
    assert.equal(c['mode-atedge.unwrapped.peerUnknown'], undefined, 'every ChannelData had its channel bound');
    assert.equal(c['mode-atedge.pushed'], pushed.length);
    assert.equal((c['mode-atedge.inner.stun'] ?? 0) + pushed.length, 998 + 18 + 5, 'ICE checks stay in the mode; media goes on');
    const keys = new Map<number, string>();
    for (const line of fs.readFileSync(corpusPath('SRTP_KEYS.tsv'), 'utf8').split('\n')) {
      const [file, ssrc, , inline] = line.split('\t');
      if (file === WEBRTC && ssrc !== undefined && inline !== undefined) keys.set(Number(ssrc), inline);
    }
    const ok = new Map<number, number>();
    const flows = new Set<string>();
    for (const [ssrc, inline] of keys) {
      const { masterKey, masterSalt } = parseInlineKey(inline);
      const ctx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt });
      for (const p of pushed) {
        if (isRtcp(p.payload) || p.payload.readUInt32BE(8) !== ssrc) continue;
        assert.ok(ctx.unprotect(p.payload).ok, `SSRC ${ssrc.toString(16)} seq ${p.payload.readUInt16BE(2)}`);
        ok.set(ssrc, (ok.get(ssrc) ?? 0) + 1);
        flows.add(`${p.src}:${p.sport}>${p.dst}:${p.dport}`);
      }
    }
    assert.deepEqual(Object.fromEntries([...ok].map(([s, n]) => [s.toString(16), n])), { '2d830e96': 501, '2c2e32d2': 460 });
    // The client's relayed address (Allocate success) and its peer: one flow each way.
    assert.equal(flows.size, 2, [...flows].join(', '));
  });
});
