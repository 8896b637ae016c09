/**
 * Every real capture in ../shared/corpus parses without an error, and the SIP it holds is what tshark (an
 * independent decoder) sees: the same messages by method and status, and the same INVITE dialogs.
 */
import * as assert from 'node:assert/strict';
import { corpusPath, describeCorpus, readManifest } from '../corpus';
import { haveTshark, SIP_DECODE_AS, tsharkSipMessages } from '../tshark';
import { PluginHarness } from '../../core/testing/index';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { readCapture } from '../../core/net/capture-reader';

function tally(labels: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of labels) out[l] = (out[l] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

describeCorpus('corpus captures: SIP as tshark lists it', function () {
  this.timeout(120_000);
  const files = readManifest()
    .map((r) => r.file)
    .filter((f) => f.startsWith('pcap/') && !f.endsWith('ww_c07-sip-r2.cap'));

  before(function () {
    if (!haveTshark()) {
      console.warn('  [tapline] tshark is not installed: corpus comparison skipped (npm run test:all installs it)');
      this.skip();
    }
  });

  for (const rel of files) {
    it(`${rel}: parses without error; SIP messages and INVITE dialogs equal tshark's`, async () => {
      const file = corpusPath(rel);
      const h = await PluginHarness.core();
      const res = await h.pcap(file);
      const rec = await h.stop();
      assert.equal(res.warning, undefined, `reading ${rel} warned: ${res.warning}`);
      assert.deepEqual(rec.sipErrors.map((e) => `${e.meta.frameNo}: ${e.err.message}`), [], 'no SIP parse errors');
      const base = rel.slice('pcap/'.length);
      const theirs = tsharkSipMessages(file, SIP_DECODE_AS[base] ?? []);
      const ours = rec.sip.map(({ msg }) => (msg.kind === 'request' ? msg.method : String(msg.status)));
      assert.deepEqual(tally(ours), tally(theirs.map((l) => l.label)), 'SIP messages by method/status');
      const theirDialogs = [...new Set(theirs.filter((l) => l.label === 'INVITE').map((l) => l.callId))].sort();
      const ourDialogs = [...new Set(rec.callsStarted.map((c) => c.callId))].sort();
      assert.deepEqual(ourDialogs, theirDialogs, 'INVITE dialogs (Call-IDs)');
      assert.equal(rec.callsEnded.length, rec.callsStarted.length, 'every call is closed by the end of input');
    });
  }

  it('the Network Monitor capture is refused with a clear "unsupported format" error', async () => {
    await assert.rejects(readCapture(corpusPath('pcap/ww_c07-sip-r2.cap'), () => undefined), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CAPTURE_FORMAT));
      assert.match(e.message, /Network Monitor/);
      return true;
    });
  });

  it('dispositions of known calls match the manifest descriptions', async () => {
    const run = async (rel: string) => {
      const h = await PluginHarness.core();
      await h.pcap(corpusPath(rel));
      return (await h.stop()).callsEnded;
    };
    // "INVITE/401/INVITE(auth)/100/183/200/ACK/BYE": one answered call ended by BYE.
    const magic = await run('pcap/ww_MagicJack-_short_call.pcap');
    assert.deepEqual(magic.map((c) => [c.disposition, c.endReason]), [['answered', 'bye']]);
    // "INVITE/100/183(early media)/200/ACK/BYE"
    const nb6 = await run('pcap/ww_nb6-telephone.pcap');
    assert.equal(nb6[0]!.disposition, 'answered');
    assert.ok(nb6[0]!.times.earlyMedia !== undefined, 'early media seen');
    // "no BYE in capture": closed at end of input, still answered.
    const g711 = await run('pcap/ww_SIP_CALL_RTP_G711.pcap');
    assert.ok(g711.some((c) => c.disposition === 'answered' && c.endReason === 'end-of-input'));
    // aaa.pcap has CANCEL and 403/408/480 failures.
    const aaa = await run('pcap/ww_aaa.pcap');
    const disp = new Set(aaa.map((c) => c.disposition));
    assert.ok(disp.has('cancelled') || disp.has('failed') || disp.has('no-answer'), `dispositions: ${[...disp].join(', ')}`);
    // REFER transfer and hold re-INVITEs in the ERSPAN capture.
    const erspan = await run('pcap/heplify_erspan_sip_ipv4_udp.pcapng');
    assert.ok(erspan.some((c) => c.refers.length > 0), 'a REFER is linked to its call');
    assert.ok(erspan.some((c) => c.holds.length > 0), 'a hold re-INVITE is seen');
  });
});

