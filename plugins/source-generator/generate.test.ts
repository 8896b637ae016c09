/**
 * The generator's captures checked against tshark (an independent dissector): SIP counts, RTP streams and
 * loss, Lync multipart SDP, TCP reassembly, IPv4 checksums. Skipped (with a message) without tshark.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTshark } from '../../test/tshark';
import { tsharkSipMessages } from '../../test/tshark';
import { generateCalls } from './generate';
import type { GeneratorOptions } from './scenario';
import type { CallTruth, DirectionTruth } from './truth';
import { tsharkRtpStreams, tsharkSipStat, tsharkText } from './tshark-views';

function directions(c: CallTruth): DirectionTruth[] {
  return [c.media.caller, c.media.callee].filter((d): d is DirectionTruth => d !== undefined);
}

describe('source-generator: captures as tshark sees them', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-gen-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  before(function () {
    if (!haveTshark()) {
      console.log('      tshark not installed (/usr/bin/tshark): skipping the tshark comparisons');
      this.skip();
    }
  });

  async function gen(name: string, o: GeneratorOptions): Promise<{ file: string; truth: Awaited<ReturnType<typeof generateCalls>> }> {
    const file = path.join(tmp, name);
    return { file, truth: await generateCalls(o, file) };
  }

  it('SIP statistics and RTP streams (packets, loss) match the truth for mixed dispositions', async () => {
    const { file, truth } = await gen('mixed.pcap', { calls: 12, durationSec: 3, cancelRate: 0.25, failRate: 0.1, noByeRate: 0.2, lossRate: 0.03, seed: 7 });
    const byDisp = (d: string): number => truth.calls.filter((c) => c.disposition === d).length;
    assert.deepEqual([byDisp('cancelled'), byDisp('busy'), byDisp('no-bye')], [3, 1, 2]);
    assert.deepEqual(tsharkSipStat(file), truth.totals.sipByLabel);
    assert.equal(truth.totals.sipByLabel.BYE, byDisp('answered'));
    assert.equal(truth.totals.sipByLabel['487'], 3);
    assert.equal(truth.totals.sipByLabel['486'], 1);

    const rows = tsharkRtpStreams(file);
    const dirs = truth.calls.flatMap(directions);
    assert.equal(rows.length, dirs.length);
    let lost = 0;
    for (const d of dirs) {
      const row = rows.find((r) => r.ssrc === d.ssrcs[0]);
      assert.ok(row !== undefined, `stream ${d.ssrcs[0]} not found by tshark`);
      assert.deepEqual([row.src, row.sport, row.dst, row.dport], [d.src.ip, d.src.port, d.dst.ip, d.dst.port]);
      assert.equal(row.payload, 'g711U');
      assert.equal(row.packets, d.packetsWritten);
      // tshark counts lost packets from sequence gaps: a loss at either end of a stream is invisible to it.
      const seg = d.segments[0];
      const edge = d.lost.filter((l) => l.seq === seg?.firstSeq || l.seq === seg?.lastSeq).length;
      assert.equal(row.lost, d.packetsLost - edge);
      lost += d.packetsLost;
    }
    assert.ok(lost > 0, 'some packets were lost');
    assert.equal(lost, truth.totals.rtpLost);
  });

  it('every IPv4 header checksum is correct', async () => {
    const { file } = await gen('csum.pcap', { calls: 2, durationSec: 1, lync: true, mtu: 1500 });
    const bad = tsharkText(file, ['-o', 'ip.check_checksum:TRUE', '-Y', 'ip.checksum.status != 1', '-T', 'fields', '-e', 'frame.number']);
    assert.equal(bad.trim(), '');
  });

  for (const multipart of ['alternative', 'mixed'] as const) {
    it(`Lync multipart/${multipart} INVITE is dissected as SIP with both SDP parts and the Lync attributes`, async () => {
      const { file, truth } = await gen(`lync-${multipart}.pcap`, { calls: 2, durationSec: 1, lync: true, lyncMultipart: multipart });
      const out = tsharkText(file, ['-Y', 'sdp && sip.Method == "INVITE"', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=~', '-e', 'sip.Call-ID', '-e', 'sdp.media', '-e', 'sdp.media_attr', '-e', 'sip.Content-Type', '-e', 'sip.User-Agent']);
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 2);
      for (const line of lines) {
        const [callId = '', media = '', attrs = '', ctype = '', ua = ''] = line.split('\t');
        const call = truth.calls.find((c) => c.callId === callId);
        assert.ok(call !== undefined);
        const ssrc = call.media.caller?.ssrcs[0];
        assert.equal(media.split('~').length, 2, 'ICEv6 and ICEv19 parts');
        assert.match(media, /^audio \d+ RTP\/SAVP /);
        const a = attrs.split('~'); // '~' never occurs in our SDP ('|' does, in crypto lines)
        assert.ok(a.includes(`x-ssrc-range:${ssrc}-${ssrc}`));
        assert.ok(a.includes('label:main-audio'));
        assert.ok(a.some((x) => /^crypto:2 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}\|2\^31\|1:1$/.test(x)));
        assert.ok(a.some((x) => / typ relay raddr /.test(x)) && a.some((x) => / typ srflx /.test(x)) && a.some((x) => /^x-candidate-ipv6:/.test(x)));
        assert.ok(a.some((x) => /^candidate:\S+ 1 \S+ UDP 0\.830 /.test(x)), 'draft-6 candidate in the ICEv6 part');
        assert.match(ctype, new RegExp(`^multipart/${multipart}`));
        assert.match(ua, /^UCCAPI\/16\.0/);
      }
      for (const line of tsharkText(file, ['-Y', 'sip.Method == "INVITE"', '-T', 'fields', '-e', 'sip.From', '-e', 'sip.msg_hdr']).trim().split('\n')) {
        const [from = '', hdr = ''] = line.split('\t');
        assert.match(from, /;tag=[0-9a-f]{10};epid=[0-9a-f]{10}$/);
        assert.match(hdr, /\\r\\nMs-Conversation-ID: Ad\w+==\\r\\n/);
        assert.match(hdr, /Contact: <sip:caller\d+@tapline\.test;opaque=user:epid:[0-9a-f]{10};gruu>/);
      }
      assert.deepEqual(tsharkSipStat(file), truth.totals.sipByLabel);
      assert.equal(tsharkRtpStreams(file).length, 4);
    });
  }

  for (const shared of [false, true]) {
    it(`SIP over TCP (${shared ? 'one shared connection' : 'a connection per call'}, 200-byte segments) reassembles into the expected messages`, async () => {
      const { file, truth } = await gen(`tcp-${shared}.pcap`, { calls: 3, durationSec: 1, sipTransport: 'tcp', tcpShared: shared, tcpSegmentSize: 200, lync: true, hold: true });
      const msgs = tsharkSipMessages(file);
      const want = truth.calls.flatMap((c) => c.sip.map((m) => `${c.callId} ${m.label}`)).sort();
      assert.deepEqual(msgs.map((m) => `${m.callId} ${m.label}`).sort(), want);
      assert.ok(truth.totals.otherFrames > truth.totals.sipMessages, 'segments, handshakes and ACKs');
      const conv = tsharkText(file, ['-q', '-z', 'conv,tcp']).split('\n').filter((l) => /<->/.test(l));
      assert.equal(conv.length, shared ? 1 : 3);
      const flagged = tsharkText(file, ['-Y', 'tcp.analysis.flags && !tcp.analysis.window_update', '-T', 'fields', '-e', 'frame.number']);
      assert.equal(flagged.trim(), '', 'tshark sees no TCP sequence problems');
    });
  }

  it('a Lync offer over UDP is fragmented and reassembled by tshark', async () => {
    const { file, truth } = await gen('frag.pcap', { calls: 1, durationSec: 1, lync: true, lyncMultipart: 'mixed' });
    const frags = tsharkText(file, ['-Y', 'ip.flags.mf == 1', '-T', 'fields', '-e', 'frame.number']).trim().split('\n');
    assert.ok(frags.length >= 2);
    assert.deepEqual(tsharkSipStat(file), truth.totals.sipByLabel);
  });

  it('is deterministic: the same options give the same bytes; another seed does not', async () => {
    const o: GeneratorOptions = { calls: 3, durationSec: 1, lossRate: 0.1, reorderRate: 0.1, jitterMs: 3, seed: 42 };
    const a = await gen('det-a.pcap', o);
    const b = await gen('det-b.pcap', o);
    const c = await gen('det-c.pcap', { ...o, seed: 43 });
    assert.ok(fs.readFileSync(a.file).equals(fs.readFileSync(b.file)));
    assert.ok(!fs.readFileSync(a.file).equals(fs.readFileSync(c.file)));
    assert.deepEqual(JSON.parse(JSON.stringify(a.truth.calls)), JSON.parse(JSON.stringify(b.truth.calls)));
  });
});
