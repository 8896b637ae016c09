/**
 * Calls and participants, as the dialog tracker lists them, against tshark (an independent SIP decoder): for every
 * public Lync/SfB capture in ../shared/corpus (MANIFEST.tsv says which), for every other corpus capture that
 * holds INVITEs, and for the generated Lync captures of the recording-mode tests. Per initial INVITE (Call-ID and
 * From-tag): caller and callee URIs (with Lync's URI parameters: user=phone, gruu, opaque=app:conf...), display
 * names, and the call's kind (conference, queue, call).
 *
 * The corpus holds no Lync/SfB SIP signalling (its README says so: "Not in the corpus ... real Skype for Business
 * calls"): its Lync/SfB captures are MS-ICE/MS-TURN media only. For them the test checks that they parse without
 * error and that, like tshark, we find no calls in them; their media is reported unmatched, not dropped.
 */
import * as assert from 'node:assert/strict';
import { corpusPath, describeCorpus, haveCorpus, readManifest } from '../corpus';
import { haveTshark, SIP_DECODE_AS, tshark } from '../tshark';
import { PluginHarness } from '../../core/testing/index';
import { summarizeCall } from '../../core/dialog/summary';
import { endpointCapture, mirroringCapture, type ModeCapture } from '../mode-scenarios';
import { scratchDir } from '../mode-assert';

interface Participants {
  callId: string;
  fromTag: string;
  from: string;
  fromName?: string;
  to: string;
  toName?: string;
}

const LYNC = /\b(Lync|SfB|Skype for Business|Skype\/SfB|Skype)\b|MS-TURN|MS-ICE|\bTeams\b/;

function unquote(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  let t = s.trim();
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) t = t.slice(1, -1).replace(/\\(.)/g, '$1');
  return t === '' ? undefined : t;
}

function row(p: Participants): string {
  return `${p.callId} ${p.fromTag} | ${p.from} "${p.fromName ?? ''}" -> ${p.to} "${p.toName ?? ''}"`;
}

/** Initial INVITEs (no To-tag) as tshark decodes them, the first per Call-ID and From-tag. */
function tsharkCalls(file: string, extra: string[] = []): Participants[] {
  const out = tshark(file, [...extra, '-Y', 'sip.Request-Line && sip.Method == "INVITE" && !sip.to.tag', '-T', 'fields', '-E', 'occurrence=f', '-e', 'sip.Call-ID', '-e', 'sip.from.tag', '-e', 'sip.from.addr', '-e', 'sip.from.display.info', '-e', 'sip.to.addr', '-e', 'sip.to.display.info']);
  const seen = new Map<string, Participants>();
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const [callId = '', fromTag = '', from = '', fromName, to = '', toName] = line.split('\t');
    const key = `${callId}|${fromTag}`;
    if (seen.has(key)) continue;
    const p: Participants = { callId, fromTag, from, to };
    const fn = unquote(fromName);
    const tn = unquote(toName);
    if (fn !== undefined) p.fromName = fn;
    if (tn !== undefined) p.toName = tn;
    seen.set(key, p);
  }
  return [...seen.values()].sort((a, b) => row(a).localeCompare(row(b)));
}

/** The calls the pipeline tracked in a capture, with their summaries' kinds. */
async function ourCalls(file: string): Promise<{ calls: Participants[]; kinds: Map<string, string>; sipErrors: string[]; media: number; unmatched: number }> {
  const h = await PluginHarness.core();
  const res = await h.pcap(file);
  assert.equal(res.warning, undefined);
  const rec = await h.stop();
  const kinds = new Map<string, string>();
  const calls = rec.callsStarted.map((c) => {
    kinds.set(c.callId, summarizeCall(c).kind ?? 'call');
    const p: Participants = { callId: c.callId, fromTag: c.caller.tag ?? '', from: c.caller.uri, to: c.callee.uri };
    if (c.caller.displayName !== undefined) p.fromName = c.caller.displayName;
    if (c.callee.displayName !== undefined) p.toName = c.callee.displayName;
    return p;
  });
  calls.sort((a, b) => row(a).localeCompare(row(b)));
  const counters = h.counters();
  return { calls, kinds, sipErrors: rec.sipErrors.map((e) => e.err.message), media: rec.media.length, unmatched: counters['core.media.unmatched'] ?? 0 };
}

describeCorpus('corpus: calls and participants as tshark lists them', function () {
  this.timeout(120_000);
  const rows = haveCorpus ? readManifest() : [];
  const lync = rows.filter((r) => r.file.startsWith('pcap/') && LYNC.test(r.description));
  const others = rows.filter((r) => r.file.startsWith('pcap/') && !LYNC.test(r.description) && !r.file.endsWith('ww_c07-sip-r2.cap'));
  let compared = 0;
  let named = 0;

  before(function () {
    if (!haveTshark()) {
      console.warn('  [tapline] tshark is not installed: corpus participants comparison skipped');
      this.skip();
    }
  });

  it('the manifest marks its Lync/SfB captures (MS-ICE / MS-TURN media, no SIP)', () => {
    assert.deepEqual(lync.map((r) => r.file).sort(), ['pcap/ndpi_skype-conference-call.pcap', 'pcap/ndpi_teams.pcap']);
  });

  for (const r of lync) {
    it(`${r.file} (Lync/SfB): parses without error; like tshark, no calls; its media counted unmatched`, async () => {
      const file = corpusPath(r.file);
      const ours = await ourCalls(file);
      assert.deepEqual(ours.sipErrors, []);
      assert.deepEqual(ours.calls, tsharkCalls(file));
      assert.equal(ours.calls.length, 0);
      assert.ok(ours.media > 0, 'it has media');
    });
  }

  for (const r of others) {
    it(`${r.file}: caller, callee and display names of every call equal tshark's`, async () => {
      const file = corpusPath(r.file);
      const ours = await ourCalls(file);
      const theirs = tsharkCalls(file, SIP_DECODE_AS[r.file.slice('pcap/'.length)] ?? []);
      assert.deepEqual(ours.calls.map(row), theirs.map(row));
      for (const k of ours.kinds.values()) assert.equal(k, 'call');
      compared += ours.calls.length;
      named += ours.calls.filter((c) => c.fromName !== undefined || c.toName !== undefined).length;
    });
  }

  it('the comparison was not empty: the corpus calls were all compared', () => {
    assert.ok(compared >= 30, `${compared} calls compared`);
    assert.ok(named >= 10, `${named} calls with display names`);
    console.log(`      (${compared} calls in ${others.length} captures compared with tshark; ${named} with display names)`);
  });
});

describe('generated Lync/SfB captures: calls, participants and kinds as tshark and the truth say', function () {
  this.timeout(120_000);
  const caps: Array<[string, () => Promise<ModeCapture>]> = [
    ['mirroring', () => mirroringCapture(scratchDir('lync-mirroring'))],
    ['endpoint', () => endpointCapture(scratchDir('lync-endpoint'))],
  ];

  for (const [name, make] of caps) {
    it(`${name} capture: every INVITE dialog with its Lync URIs (user=phone, opaque=app:conf) and names`, async function () {
      if (!haveTshark()) this.skip();
      const cap = await make();
      const ours = await ourCalls(cap.file);
      assert.deepEqual(ours.sipErrors, []);
      const theirs = tsharkCalls(cap.file);
      assert.deepEqual(ours.calls.map(row), theirs.map(row));
      // Every call of the truth but the disallowed user agent's (its call control is ignored, by policy of the mode
      // tests; here no policy is set, so it is listed too).
      assert.equal(ours.calls.length, cap.calls.size);
      for (const e of cap.calls.values()) assert.equal(ours.kinds.get(e.callId), e.kind ?? 'call', e.label);
      if (name === 'mirroring') {
        assert.ok(ours.calls.some((c) => /;gruu;opaque=app:conf:audio-video:id:K7Q2LM9W$/.test(c.to) && c.toName === 'Conference'));
        assert.ok(ours.calls.some((c) => c.from.endsWith(';user=phone') && c.fromName === undefined));
      }
    });
  }
});
