/**
 * The SRTP scenario builder (test/srtp-scenarios.ts) is right before anything is judged by it: each capture is read
 * back and holds exactly the truth's SIP and media; the keys its SDPs give (RFC 4568 offer/answer, worked out here
 * from the SIP in the capture, not from the truth) decrypt every SRTP and SRTCP packet to the plain packet the truth
 * describes, both with libsrtp2 (unprotect: the independent implementation) and with core/media/srtp's SrtpContext;
 * the plaintext carries the period's tone 30 dB above every other tone of the scenario; and the deliberately broken
 * directions (wrong key, no key) are refused by both, while libsrtp decrypts them with the key that really was used.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../core/net/capture-reader';
import { PacketDecoder, isSkipReason } from '../core/net/decode';
import { findSdpBody, parseSipMessage, type SipMessage } from '../core/sip/index';
import { parseSdp, type SdpMedia } from '../core/sdp/index';
import { parseInlineKey, SrtpContext, type MkiLength } from '../core/media/srtp/index';
import { ULAW_TABLE } from '../core/media/g711';
import { goertzelPower } from '../plugins/source-generator/tones';
import { describeLibsrtp, libsrtpMany, type LibsrtpRequest } from './srtp-reference';
import {
  expectedRtcp,
  expectedRtp,
  LYNC_MKI,
  MID_CALL_OMITTED,
  REKEY_IN_FLIGHT,
  SCENARIOS,
  SIDES,
  SPP,
  SUITE,
  TAG_LENGTH,
  type CallTruth,
  type DirectionTruth,
  type Scenario,
  type ScenarioName,
  type SdesKey,
} from './srtp-scenarios';

// ---------------------------------------------------------------------------------------------------------------
// Reading a capture back.

interface Datagram {
  ts: number;
  src: string;
  dst: string;
  payload: Buffer;
}

interface ReadBack {
  sip: Array<{ ts: number; msg: SipMessage }>;
  /** Non-SIP UDP by "ip:port>ip:port". */
  flows: Map<string, Datagram[]>;
}

const flowKey = (src: { ip: string; port: number }, dst: { ip: string; port: number }): string => `${src.ip}:${src.port}>${dst.ip}:${dst.port}`;

async function readBack(file: string): Promise<ReadBack> {
  const dec = new PacketDecoder();
  const out: ReadBack = { sip: [], flows: new Map() };
  await readCapture(file, (f) => {
    const p = dec.decode(f);
    if (isSkipReason(p)) return;
    assert.equal(p.proto, 'udp');
    const payload = Buffer.from(p.payload); // the reader reuses its buffers
    if (p.sport === 5060 || p.dport === 5060) {
      out.sip.push({ ts: p.ts, msg: parseSipMessage(payload) });
      return;
    }
    const k = `${p.src}:${p.sport}>${p.dst}:${p.dport}`;
    const list = out.flows.get(k) ?? [];
    list.push({ ts: p.ts, src: `${p.src}:${p.sport}`, dst: `${p.dst}:${p.dport}`, payload });
    out.flows.set(k, list);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Which key each side sends with, from the SDP in the capture (RFC 4568 §6.1, lync-protocols.md §2): the answer keeps
// one tag; the offerer sends with its own line of that tag, the answerer with its answer's line. In these scenarios
// every offer is an INVITE from the call's caller and every answer the 200 to it.

interface KeyLine {
  tag: number;
  inline: string;
  mkiLength: number;
  mki: number | undefined;
}

interface Negotiated {
  offerTs: number;
  answerTs: number;
  offer: SdpMedia;
  answer: SdpMedia;
  caller: KeyLine | null;
  callee: KeyLine | null;
}

function audioOf(msg: SipMessage): SdpMedia | undefined {
  const body = findSdpBody(msg);
  if (body === undefined) return undefined;
  return parseSdp(body).media.find((m) => m.type === 'audio');
}

function keyLines(m: SdpMedia): KeyLine[] {
  return m.crypto
    .filter((c) => !c.scale)
    .map((c) => {
      const k = c.keys[0];
      assert.ok(k !== undefined && k.method === 'inline', `a=crypto:${c.tag} has an inline key`);
      return { tag: c.tag, inline: k.keySalt, mkiLength: k.mki?.length ?? 0, mki: k.mki?.value };
    });
}

function negotiations(rb: ReadBack): Map<string, Negotiated[]> {
  const offers = new Map<string, { ts: number; media: SdpMedia }>();
  const out = new Map<string, Negotiated[]>();
  for (const { ts, msg } of rb.sip) {
    if (msg.cseq.method !== 'INVITE') continue;
    const media = audioOf(msg);
    if (media === undefined) continue;
    const k = `${msg.callId} ${msg.cseq.seq}`;
    if (msg.kind === 'request') {
      offers.set(k, { ts, media });
      continue;
    }
    if (msg.status !== 200) continue;
    const offer = offers.get(k);
    assert.ok(offer !== undefined, `${k}: an answer without an offer`);
    const answer = keyLines(media);
    const offered = keyLines(offer.media);
    const chosen = answer[0] ?? null;
    // No tag in the answer (DTLS instead): the offerer is taken to send with its first a=crypto line.
    const callerLine = chosen === null ? (offered[0] ?? null) : (offered.find((o) => o.tag === chosen.tag) ?? null);
    const list = out.get(msg.callId) ?? [];
    list.push({ offerTs: offer.ts, answerTs: ts, offer: offer.media, answer: media, caller: callerLine, callee: chosen });
    out.set(msg.callId, list);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Checks.

const ALL: readonly ScenarioName[] = Object.keys(SCENARIOS) as ScenarioName[];

function eachDirection(s: Scenario): Array<{ call: CallTruth; d: DirectionTruth; where: string }> {
  return s.truth.calls.flatMap((call) => SIDES.map((side) => ({ call, d: call[side], where: `${s.truth.name} ${call.callId.slice(0, 22)} ${side}` })));
}

function keyOf(inline: string): SdesKey {
  const { masterKey, masterSalt } = parseInlineKey(inline);
  return { inline, masterKey, masterSalt };
}

/** The key the capture's SDP gives period `k` of `d`, or null. */
function sdpKeyOf(neg: Map<string, Negotiated[]>, call: CallTruth, d: DirectionTruth, k: number): KeyLine | null {
  const x = neg.get(call.callId)?.[k];
  assert.ok(x !== undefined, `${call.callId}: offer/answer ${k + 1} is in the capture`);
  return x[d.side];
}

function packetsOfPeriod(d: DirectionTruth, k: number): Array<{ i: number; p: DirectionTruth['packets'][number] }> {
  return d.packets.map((p, i) => ({ i, p })).filter((x) => x.p.period === k);
}

/** Decoded μ-law of each packet payload, in packet (sequence) order. */
function pcmOf(payloads: readonly Buffer[]): Int16Array {
  const out = new Int16Array(payloads.length * SPP);
  payloads.forEach((b, j) => {
    for (let i = 0; i < SPP; i++) out[j * SPP + i] = ULAW_TABLE[b[i] as number] as number;
  });
  return out;
}

function toneMarginDb(pcm: Int16Array, hz: number, tones: readonly number[]): number {
  const own = goertzelPower(pcm, hz);
  const other = Math.max(...tones.filter((t) => t !== hz).map((t) => goertzelPower(pcm, t)));
  return 10 * Math.log10(own / other);
}

interface Built {
  s: Scenario;
  rb: ReadBack;
  neg: Map<string, Negotiated[]>;
}

describeLibsrtp('SRTP scenarios (test/srtp-scenarios.ts): what each capture holds, and that libsrtp and SrtpContext decrypt it with its SDP keys', function () {
  this.timeout(60_000);
  let tmp = '';
  const built = new Map<ScenarioName, Built>();
  const get = (n: ScenarioName): Built => {
    const b = built.get(n);
    assert.ok(b !== undefined, `scenario ${n} was built`);
    return b;
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-srtp-scen-'));
    for (const n of ALL) {
      const s = await SCENARIOS[n](tmp);
      const rb = await readBack(s.pcapPath);
      built.set(n, { s, rb, neg: negotiations(rb) });
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const name of ALL) {
    it(`${name}: the capture holds the truth's packets, with the SDP keys and MKI the truth says`, () => {
      const { s, rb, neg } = get(name);
      const known = new Set<string>();
      for (const { call, d, where } of eachDirection(s)) {
        // Offers carry Lync's three lines with one key; the answer one.
        for (const x of neg.get(call.callId) ?? []) {
          const tags = x.offer.crypto.map((c) => `${c.scale ? 'cryptoscale' : 'crypto'}:${c.tag}`);
          assert.deepEqual(tags, ['cryptoscale:1', 'crypto:2', 'crypto:3'], `${where}: the offer's crypto lines`);
          assert.equal(new Set(x.offer.crypto.map((c) => c.keys[0]?.keySalt)).size, 1, `${where}: one key on all offer lines`);
          assert.equal(x.offer.proto, 'RTP/SAVP');
          assert.equal(x.answer.proto, 'RTP/SAVP');
          assert.ok(x.answer.crypto.length <= 1, `${where}: the answer keeps at most one tag`);
        }
        d.periods.forEach((period, k) => {
          const line = sdpKeyOf(neg, call, d, k);
          if (period.sdpKey === null) {
            assert.equal(line, null, `${where} period ${k}: no a=crypto for this side`);
            return;
          }
          assert.ok(line !== null, `${where} period ${k}: an a=crypto for this side`);
          assert.equal(line.inline, period.sdpKey.inline, `${where} period ${k}: the SDP key`);
          assert.equal(line.tag, period.tag, `${where} period ${k}: the tag`);
          assert.equal(line.mkiLength, period.mkiLength, `${where} period ${k}: MKI length`);
          if (period.mkiLength === 1) assert.equal(line.mki, 1, `${where}: MKI value 1`);
          assert.equal(period.sdpKey.inline === period.key.inline, d.notDecrypted === undefined, `${where}: the SDP key is the protecting key unless the scenario lies`);
          assert.equal(period.sdpTs, d.side === 'caller' ? neg.get(call.callId)![k]!.offerTs : neg.get(call.callId)![k]!.answerTs, `${where}: sdpTs is the capture time of this side's own SDP`);
        });
        // The SRTP packets: clear headers as the truth says, payload + MKI + 10-byte tag, in capture order.
        const rtp = rb.flows.get(flowKey(d.src, d.dst)) ?? [];
        known.add(flowKey(d.src, d.dst));
        assert.equal(rtp.length, d.packets.length, `${where}: SRTP packets in the capture`);
        rtp.forEach((g, i) => {
          const p = d.packets[i]!;
          const plain = expectedRtp(d, p);
          const period = d.periods[p.period]!;
          assert.equal(g.ts, p.ts, `${where} #${i}: capture time`);
          assert.equal(g.payload.length, plain.length + period.mkiLength + TAG_LENGTH, `${where} seq ${p.seq}: length`);
          assert.deepEqual(g.payload.subarray(0, 12), plain.subarray(0, 12), `${where} seq ${p.seq}: clear RTP header`);
          assert.notDeepEqual(g.payload.subarray(12, plain.length), plain.subarray(12), `${where} seq ${p.seq}: payload encrypted`);
          if (period.mkiLength === 1) assert.equal(g.payload[plain.length], LYNC_MKI[0], `${where} seq ${p.seq}: MKI byte`);
        });
        const rtcpKey = flowKey({ ip: d.src.ip, port: d.src.port + 1 }, { ip: d.dst.ip, port: d.dst.port + 1 });
        const rtcp = rb.flows.get(rtcpKey) ?? [];
        if (d.srtcp.length > 0) known.add(rtcpKey);
        assert.equal(rtcp.length, d.srtcp.length, `${where}: SRTCP packets`);
        rtcp.forEach((g, i) => {
          assert.equal(g.payload[1], 200, `${where} SRTCP #${i}: an SR first`);
          assert.equal(g.payload.readUInt32BE(4), d.ssrc, `${where} SRTCP #${i}: sender SSRC in clear`);
          assert.equal(g.payload.readUInt32BE(g.payload.length - TAG_LENGTH - d.periods[0]!.mkiLength - 4) >>> 31, 1, `${where} SRTCP #${i}: E flag (encrypted)`);
        });
        // Media only once the call is answered.
        const ans = neg.get(call.callId)![0]!.answerTs;
        assert.ok(d.packets.every((p) => p.ts > ans), `${where}: no RTP before the 200`);
      }
      assert.deepEqual([...rb.flows.keys()].filter((k) => !known.has(k)), [], `${name}: no other UDP in the capture`);
    });

    it(`${name}: libsrtp and SrtpContext decrypt every packet with the SDP key to the truth's plain RTP/RTCP and tone`, () => {
      const { s, rb, neg } = get(name);
      // All unprotect jobs of the scenario in one python run: per direction and period, the SDP key (or, for a
      // broken direction, also the key libsrtp really protected with).
      const jobs: LibsrtpRequest[] = [];
      const checks: Array<(res: Array<Buffer | null>[]) => void> = [];
      for (const { call, d, where } of eachDirection(s)) {
        const rtp = rb.flows.get(flowKey(d.src, d.dst)) ?? [];
        const rtcp = rb.flows.get(flowKey({ ip: d.src.ip, port: d.src.port + 1 }, { ip: d.dst.ip, port: d.dst.port + 1 })) ?? [];
        d.periods.forEach((period, k) => {
          const line = sdpKeyOf(neg, call, d, k);
          const mine = packetsOfPeriod(d, k);
          const first = mine[0]?.p;
          const rtcpMine = d.srtcp.map((r, i) => ({ r, i })).filter((x) => x.r.period === k);
          const addJobs = (key: SdesKey, expectOk: boolean, label: string): void => {
            const base = { suite: SUITE, masterKey: key.masterKey, masterSalt: key.masterSalt } as const;
            const mki = period.mkiLength === 1 ? { mki: LYNC_MKI } : {};
            // A capture that starts after a wrap: tell libsrtp the ROC (it cannot guess it; SrtpContext probes).
            const roc = first !== undefined && first.roc !== 0 ? { ssrc: d.ssrc, roc: first.roc } : {};
            const j = jobs.push({ op: 'unprotect', ...base, ...mki, ...roc, packets: mine.map((x) => rtp[x.i]!.payload) }) - 1;
            const jr = jobs.push({ op: 'unprotect_rtcp', ...base, ...mki, packets: rtcpMine.map((x) => rtcp[x.i]!.payload) }) - 1;
            checks.push((res) => {
              const out = res[j]!;
              mine.forEach((x, n) => {
                const got = out[n];
                if (!expectOk) assert.equal(got, null, `${where} seq ${x.p.seq}: libsrtp refuses it with the ${label}`);
                else assert.deepEqual(got, expectedRtp(d, x.p), `${where} seq ${x.p.seq}: libsrtp with the ${label}`);
              });
              rtcpMine.forEach((x, n) => {
                const got = res[jr]![n];
                if (!expectOk) assert.equal(got, null, `${where} SRTCP #${x.i}: libsrtp refuses it with the ${label}`);
                else assert.deepEqual(got, expectedRtcp(d, x.r), `${where} SRTCP #${x.i}: libsrtp with the ${label}`);
              });
              if (expectOk) {
                const pcm = pcmOf(mine.slice().sort((a, b) => a.p.sample - b.p.sample).map((x) => out[mine.indexOf(x)]!.subarray(12)));
                const margin = toneMarginDb(pcm, period.hz, s.truth.tones);
                assert.ok(margin >= 30, `${where} period ${k}: ${period.hz} Hz only ${margin.toFixed(1)} dB above the other tones`);
              }
            });
          };
          if (line !== null) addJobs(keyOf(line.inline), d.notDecrypted === undefined, 'SDP key');
          if (d.notDecrypted !== undefined) addJobs(period.key, true, 'key it was really protected with');

          // SrtpContext, with the SDP key: the same plaintext and the truth's ROC; refusals as 'auth'.
          if (line === null) return;
          const sdpKey = keyOf(line.inline);
          const ctx = new SrtpContext({ suite: SUITE, masterKey: sdpKey.masterKey, masterSalt: sdpKey.masterSalt, mkiLength: line.mkiLength as MkiLength });
          for (const x of mine) {
            const r = ctx.unprotect(rtp[x.i]!.payload);
            if (d.notDecrypted !== undefined) {
              assert.ok(!r.ok && r.reason === 'auth', `${where} seq ${x.p.seq}: SrtpContext refuses the wrong key as 'auth'`);
              continue;
            }
            assert.ok(r.ok, `${where} seq ${x.p.seq}: SrtpContext refused it (${r.ok ? '' : r.reason})`);
            assert.deepEqual(r.rtp, expectedRtp(d, x.p), `${where} seq ${x.p.seq}: SrtpContext plaintext`);
            assert.equal(r.roc, x.p.roc, `${where} seq ${x.p.seq}: ROC`);
          }
          for (const x of rtcpMine) {
            const r = ctx.unprotectRtcp(rtcp[x.i]!.payload);
            if (d.notDecrypted !== undefined) {
              assert.ok(!r.ok && r.reason === 'auth', `${where} SRTCP #${x.i}: SrtpContext refuses it`);
              continue;
            }
            assert.ok(r.ok && r.encrypted, `${where} SRTCP #${x.i}: SrtpContext refused it (${r.ok ? '' : r.reason})`);
            assert.deepEqual(r.rtcp, expectedRtcp(d, x.r), `${where} SRTCP #${x.i}: SrtpContext plaintext`);
          }
        });
      }
      const res = libsrtpMany(jobs).map((r) => r.packets);
      for (const c of checks) c(res);
    });
  }

  it('basic-mki: tag 2 each way (MKI 1 on every SRTP and SRTCP packet), sender reports both ways', () => {
    const { s } = get('basic-mki');
    const c = s.truth.calls[0]!;
    for (const d of [c.caller, c.callee]) {
      assert.deepEqual(d.periods.map((p) => [p.tag, p.mkiLength]), [[2, 1]]);
      assert.ok(d.srtcp.length >= 3 && d.packets.length >= 145, `${d.side}: ~3 s of media, an SR a second`);
      assert.equal(d.srtcp[d.srtcp.length - 1]!.packetCount, d.packets.filter((p) => p.sent < d.srtcp[d.srtcp.length - 1]!.ts).length);
    }
  });

  it('mid-call-join: the SDP is captured, then only packets after both wraps (ROC 1, SEQ near 0)', () => {
    const { s, rb } = get('mid-call-join');
    const c = s.truth.calls[0]!;
    const lastSip = Math.max(...rb.sip.filter((x) => x.msg.cseq.method === 'INVITE').map((x) => x.ts));
    for (const d of [c.caller, c.callee]) {
      const first = d.packets[0]!;
      assert.equal(first.roc, 1, `${d.side}: ROC of the first captured packet`);
      assert.ok(first.seq < 100, `${d.side}: first captured SEQ ${first.seq} is just after the wrap`);
      assert.equal(d.periods[0]!.sent - d.periods[0]!.captured, MID_CALL_OMITTED);
      assert.ok(first.ts - lastSip > 1e6, `${d.side}: the capture of RTP starts over a second after the SDP`);
      assert.ok(d.packets.every((p) => p.roc === 1));
    }
  });

  it('rekey: new keys both ways at 1.5 s, ROC back to 0 with SEQ continuing, 3 old-key packets each way after the new ones', () => {
    const { s, neg } = get('rekey');
    const c = s.truth.calls[0]!;
    const x = neg.get(c.callId)!;
    assert.equal(x.length, 2, 'INVITE and re-INVITE exchanges');
    assert.ok(Math.abs(x[1]!.offerTs - x[0]!.offerTs - 1.5e6) < 1e3, 're-INVITE at +1.5 s');
    for (const d of [c.caller, c.callee]) {
      assert.deepEqual(d.periods.map((p) => p.tag), [2, 3]);
      assert.notEqual(d.periods[0]!.key.inline, d.periods[1]!.key.inline);
      assert.equal(d.inFlight, REKEY_IN_FLIGHT.count, `${d.side}: old-key packets after the first new-key one`);
      const bySent = [...d.packets].sort((a, b) => a.sent - b.sent);
      bySent.forEach((p, i) => i > 0 && assert.equal(p.seq, (bySent[i - 1]!.seq + 1) & 0xffff, `${d.side}: SEQ continues across the re-key`));
      assert.ok(bySent.filter((p) => p.period === 1).every((p) => p.roc === 0), `${d.side}: the new context starts at ROC 0`);
    }
    // The caller started at SEQ 65500: its old context had wrapped to ROC 1 before the re-key.
    assert.equal(c.caller.packets.filter((p) => p.period === 0).at(-1)?.roc, 1);
    // In-flight packets are captured more than 20 ms after the new key's SDP, the rest before it, whether the
    // overlap is counted from the side's own SDP (the caller's re-INVITE) or from the answer.
    for (const d of [c.caller, c.callee]) {
      for (const since of [d.periods[1]!.sdpTs, d.periods[1]!.answerTs]) {
        const late = d.packets.filter((p) => p.period === 0 && p.ts > since + 20_000);
        assert.equal(late.length, REKEY_IN_FLIGHT.count, `${d.side}: old-key packets captured 20 ms after ${since}`);
      }
    }
  });

  it('transfer: C INVITEs A with Replaces naming A–B and fresh keys; B REFERred C; A BYEs the old call after answering', () => {
    const { s, rb } = get('transfer');
    const [c1, c2] = s.truth.calls as [CallTruth, CallTruth];
    assert.ok(c2.replaces !== undefined);
    const inv2 = rb.sip.find((x) => x.msg.kind === 'request' && x.msg.method === 'INVITE' && x.msg.callId === c2.callId)!;
    assert.equal(inv2.msg.headers.get('Replaces'), `${c1.callId};to-tag=${c1.callerTag};from-tag=${c1.calleeTag}`);
    assert.ok(inv2.msg.headers.get('Referred-By') !== undefined);
    const refer = rb.sip.find((x) => x.msg.kind === 'request' && x.msg.method === 'REFER');
    assert.ok(refer !== undefined && /Replaces=/.test(refer.msg.headers.get('Refer-To') ?? ''), 'a REFER whose Refer-To carries Replaces');
    const ok2 = rb.sip.find((x) => x.msg.kind === 'response' && x.msg.callId === c2.callId && x.msg.cseq.method === 'INVITE' && x.msg.status === 200)!;
    const bye1 = rb.sip.find((x) => x.msg.kind === 'request' && x.msg.method === 'BYE' && x.msg.callId === c1.callId)!;
    assert.ok(bye1.ts > ok2.ts, 'the old call is BYEd after the new one is answered');
    const keys = [c1.caller, c1.callee, c2.caller, c2.callee].map((d) => d.periods[0]!.key.inline);
    assert.equal(new Set(keys).size, 4, 'fresh keys on the new call');
    assert.equal(c1.caller.party, c2.callee.party, 'A is the caller of the first call and the callee of the second');
    assert.notEqual(c1.caller.src.port, c2.callee.src.port, "A's new call has media of its own");
    assert.ok(Math.max(...c1.caller.packets.map((p) => p.ts)) <= ok2.ts, 'A stops sending to B once it answers C');
  });

  it('wrong-key and missing-key: one side broken, the other as in any call', () => {
    const e = get('wrong-key');
    const ce = e.s.truth.calls[0]!;
    assert.equal(ce.callee.notDecrypted, 'wrong key');
    assert.equal(ce.caller.notDecrypted, undefined);
    const f = get('missing-key');
    const cf = f.s.truth.calls[0]!;
    assert.equal(cf.callee.notDecrypted, 'no key');
    const answer = f.neg.get(cf.callId)![0]!.answer;
    assert.equal(answer.proto, 'RTP/SAVP');
    assert.deepEqual(answer.crypto, []);
    assert.ok(answer.attributes.some((a) => a.name === 'fingerprint'), 'the answer has a DTLS a=fingerprint');
  });
});
