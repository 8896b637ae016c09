/**
 * Real Opus captures from the shared corpus, recorded through the public harness (this plugin + storage-local,
 * + mode-atedge for the TURN-relayed WebRTC call), each direction compared with an independent decode of the same
 * payloads: ffmpeg's own Opus decoder (not libopus) on an Ogg Opus file the test writes, and for SRTP, payloads
 * decrypted by libsrtp (pylibsrtp), not by Tapline.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { channelOf, corpusPath, describeCorpus, PluginHarness, readWavFile, type RecordingMetadata } from 'tapline/testing';
import plugin from './index';
import { loadOpusNative, type OpusNative } from './native';
import { alignPcm, ffmpegReference, haveFfmpeg, isRtcp, oggOpus, parseRtp, pythonWithPylibsrtp, tempDir, type ParsedRtp } from './test-support';

const MAIN = 'pcap/ww_sip-rtp-opus.pcap';
const HYBRID = 'pcap/ww_sip-rtp-opus-hybrid.pcap';
const WEBRTC = 'pcap/srtpdecoder_WebRTC_OPUS_Turn_SDES_Call_1.pcap';
/** Against libopus run by ffmpeg (its demuxer, the reference decoder): Tapline's RTP-to-WAV path must not lose anything. */
const MIN_R = 0.99;
/**
 * Against ffmpeg's own Opus decoder (the default of `ffmpeg -i x.opus`), a separate implementation that is not
 * bit-exact with libopus: on these captures the two decoders themselves correlate 0.90-0.98 (ffmpeg -c:a opus vs
 * -c:a libopus on the same Ogg file; 0.983 on ww_sip-rtp-opus, 0.94 on the WebRTC call), so this cross-check of the
 * decoding itself asks only that it is the same audio.
 */
const MIN_R_NATIVE = 0.9;
const PLUGIN = '@tapline/codec-opus';

interface Placed {
  rtp: ParsedRtp;
  samples: number;
}

/** The reference decode laid out on the RTP clock: each packet's ffmpeg audio at (timestamp − first timestamp). */
function referenceTimeline(ref: Int16Array, packets: readonly Placed[]): Int16Array {
  const t0 = packets[0]!.rtp.ts;
  const last = packets[packets.length - 1]!;
  const out = new Int16Array(((last.rtp.ts - t0) >>> 0) + last.samples);
  let from = 0;
  for (const p of packets) {
    out.set(ref.subarray(from, from + p.samples), (p.rtp.ts - t0) >>> 0);
    from += p.samples;
  }
  assert.equal(from, ref.length, 'ffmpeg decoded every sample of every packet');
  return out;
}

/** One channel of a recording (0 caller, 1 callee). */
function recordedChannel(meta: RecordingMetadata, side: 'caller' | 'callee'): Int16Array {
  assert.ok(meta.audio !== undefined, 'the recording has audio');
  const wav = readWavFile(meta.audio.file);
  assert.equal(wav.sampleRate, 48000);
  return channelOf(wav.samples, wav.channels, side === 'caller' ? 0 : 1);
}

/** Distinct RTP packets of one SSRC in sequence order (capture order for equal numbers is irrelevant: duplicates dropped). */
function streamOf(packets: readonly ParsedRtp[], ssrc: number): ParsedRtp[] {
  const seen = new Set<number>();
  const out: ParsedRtp[] = [];
  for (const r of packets) {
    if (r.ssrc !== ssrc || seen.has(r.seq)) continue;
    seen.add(r.seq);
    out.push(r);
  }
  // One short call: no sequence wrap to handle beyond a plain modular sort around the first packet.
  const s0 = out[0]?.seq ?? 0;
  return out.sort((a, b) => ((a.seq - s0) & 0xffff) - ((b.seq - s0) & 0xffff));
}

function describeMatch(label: string, a: { lag: number; corr: number }, extra = ''): string {
  return `${label}: r=${a.corr.toFixed(5)} at lag ${a.lag} samples${extra}`;
}

/**
 * One recorded channel against ffmpeg's decodes of the same payloads (laid out on their RTP timestamps), with
 * libopus (r ≥ MIN_R) and with ffmpeg's own decoder (r ≥ minNative); returns both alignments.
 */
function compareWithFfmpeg(label: string, dir: string, name: string, rec: Int16Array, stream: readonly ParsedRtp[], samplesOf: (p: Buffer) => number, maxLag: number, minNative = MIN_R_NATIVE): { lib: { lag: number; corr: number }; native: { lag: number; corr: number } } {
  const placed = stream.map((r) => ({ rtp: r, samples: samplesOf(r.payload) }));
  const payloads = stream.map((r) => r.payload);
  const lib = alignPcm(referenceTimeline(ffmpegReference(dir, `${name}-libopus`, payloads, samplesOf, 'libopus'), placed), rec, maxLag);
  const native = alignPcm(referenceTimeline(ffmpegReference(dir, `${name}-native`, payloads, samplesOf, 'opus'), placed), rec, maxLag);
  console.log(`      ${describeMatch(`${label} ~ ffmpeg -c:a libopus`, lib)}; ${describeMatch('~ ffmpeg -c:a opus (own decoder)', native)}`);
  assert.ok(lib.corr >= MIN_R, describeMatch(`${label} vs ffmpeg's libopus decode`, lib));
  assert.ok(native.corr >= minNative, describeMatch(`${label} vs ffmpeg's own decoder`, native));
  return { lib, native };
}

describeCorpus('@tapline/codec-opus: real Opus captures against an independent decoder', function () {
  this.timeout(120_000);
  let n: OpusNative;
  const dirs: string[] = [];

  before(function () {
    const l = loadOpusNative();
    if (l.native === undefined) throw new Error(`the addon did not load: ${l.reason}`);
    n = l.native;
    if (!haveFfmpeg) {
      console.warn('    [tapline] ffmpeg (with its Opus decoder) not installed: Opus corpus comparisons skipped (Debian package: ffmpeg)');
      this.skip();
    }
  });

  after(() => {
    if (process.env.TAPLINE_KEEP_OPUS === undefined) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    else console.log(`    kept ${dirs.join(', ')}`);
  });

  const scratch = (tag: string): string => {
    const d = tempDir(tag);
    dirs.push(d);
    return d;
  };
  const samplesOf = (p: Buffer): number => n.packetSamples(p, 48000);

  it(`${MAIN}: 425 hybrid-mode packets, one way; the recording matches ffmpeg's decode (r ≥ ${MIN_R}) and spans the RTP time (±20 ms)`, async () => {
    const dir = scratch('main');
    const h = await PluginHarness.create(plugin, { with: [{ plugin: 'storage-local', options: { dir } }] });
    await h.pcap(corpusPath(MAIN));
    await h.stop();
    assert.equal(h.recorded.recordings.length, 1);
    const meta = h.recorded.recordings[0]!;
    const rtp = h.recorded.media.map((p) => parseRtp(p.payload)).filter((r): r is ParsedRtp => r !== undefined && r.pt === 99);
    assert.equal(rtp.length, 425);
    const stream = streamOf(rtp, rtp[0]!.ssrc);
    // The sender is the answerer (FreeSWITCH): the callee's channel.
    assert.equal(meta.callee.packets, 425, JSON.stringify(meta.callee));
    assert.equal(meta.callee.lost, 0);
    assert.equal(meta.callee.undecoded, 0);
    assert.deepEqual(meta.callee.codecs.map((c) => c.toUpperCase()), ['OPUS/48000']);
    assert.equal(meta.caller.packets, 0);
    assert.deepEqual(meta.flags, []);
    const modes = new Set(stream.map((r) => n.packetInfo(r.payload).mode));
    assert.deepEqual([...modes], ['hybrid']);

    const rec = recordedChannel(meta, 'callee');
    compareWithFfmpeg('callee channel', dir, 'main', rec, stream, samplesOf, 4800);
    const last = stream[stream.length - 1]!;
    const span = (((last.ts - stream[0]!.ts) >>> 0) + samplesOf(last.payload)) / 48000;
    console.log(`      recording ${meta.audio?.durationSec} s, RTP span ${span.toFixed(3)} s`);
    assert.ok(Math.abs((meta.audio?.durationSec ?? 0) - span) <= 0.02, `audio ${meta.audio?.durationSec} s, RTP span ${span} s`);
  });

  it(`${HYBRID}: multi-frame packets (TOC codes 1 and 2) decode as ffmpeg decodes them; the two malformed code-3 packets are refused by both and flagged`, async () => {
    // Default options: the 140 ms gap after the first packet (7 lost) is concealed, its last 20 ms from FEC.
    const dir = scratch('hybrid');
    const h = await PluginHarness.create(plugin, { with: [{ plugin: 'storage-local', options: { dir } }] });
    await h.pcap(corpusPath(HYBRID));
    await h.stop();
    const c = h.counters();
    assert.equal(c[`${PLUGIN}.concealed`], 6, JSON.stringify(c));
    assert.equal(c[`${PLUGIN}.fecRecovered`], 1, JSON.stringify(c));
    assert.equal(c[`${PLUGIN}.gapsNotFilled`], 3, 'the gaps of 240 ms and more stay silent');
    assert.equal(c['core.media.decodeErrors'], 2);
    const meta = h.recorded.recordings[0]!;
    assert.ok(meta.flags.some((f) => /OPUS\/48000 payloads that failed to decode \(first: opus_decode: corrupted stream/i.test(f)), meta.flags.join('; '));

    const rtp = h.recorded.media.map((p) => parseRtp(p.payload)).filter((r): r is ParsedRtp => r !== undefined && r.pt === 99);
    assert.equal(rtp.length, 5);
    const good = rtp.filter((r) => {
      try {
        n.packetInfo(r.payload);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(
      good.map((r) => [r.payload[0]! & 3, n.packetInfo(r.payload).frames, n.packetInfo(r.payload).mode]),
      [
        [0, 1, 'hybrid'],
        [1, 2, 'hybrid'],
        [2, 2, 'hybrid'],
      ],
    );
    // ffmpeg refuses the two others as well (independently of libopus).
    for (const bad of rtp.filter((r) => !good.includes(r))) {
      const out = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-c:a', 'opus', '-i', writeOgg(dir, `bad-${bad.seq}`, [bad.payload]), '-f', 's16le', '-'], { maxBuffer: 1 << 24 });
      assert.ok(out.status !== 0 || (out.stdout as Buffer).length === 0 || /invalid|error/i.test(String(out.stderr)), `ffmpeg decoded packet ${bad.seq}`);
    }
    // Audio where the decodable packets are, and FEC/PLC audio in the first gap.
    const rec = recordedChannel(meta, 'callee');
    const span = ((good[2]!.ts - good[0]!.ts) >>> 0) / 48000 + 1920 / 48000;
    assert.ok(Math.abs((meta.audio?.durationSec ?? 0) - span) <= 0.02, `audio ${meta.audio?.durationSec} s, RTP span of the decodable packets ${span} s`);

    // Against ffmpeg: without concealment between packets the decoder state runs packet to packet as in ffmpeg's
    // decode of the same three payloads back to back.
    const dir2 = scratch('hybrid-plain');
    const h2 = await PluginHarness.create(plugin, { options: { fec: false, maxConcealMs: 0 }, with: [{ plugin: 'storage-local', options: { dir: dir2 } }] });
    await h2.pcap(corpusPath(HYBRID));
    await h2.stop();
    const rec2 = recordedChannel(h2.recorded.recordings[0]!, 'callee');
    // The capture's multi-frame packets are re-labelled 20 ms hybrid frames (TOC codes changed, not re-encoded):
    // the two decoders agree least on those (0.90).
    const { lib: a } = compareWithFfmpeg('callee channel (3 decodable packets on their RTP positions)', dir, 'hybrid', rec2, good, samplesOf, 4800, 0.85);
    // With concealment, the 140 ms between the first two packets has audio; the plain recording has none there.
    const gapFrom = 960 + a.lag;
    const gapTo = gapFrom + 6720;
    const energy = (x: Int16Array): number => x.subarray(gapFrom, gapTo).reduce((s, v) => s + Math.abs(v), 0);
    assert.ok(energy(rec) > 0, 'the filled gap has audio');
    assert.equal(energy(rec2), 0, 'maxConcealMs 0: silence');
  });

  it(`${WEBRTC}: SDES-SRTP Opus relayed by TURN (ChannelData), with a synthetic SIP dialog giving its keys: every packet authenticates, both directions match libsrtp + ffmpeg (r ≥ ${MIN_R})`, async function () {
    const py = pythonWithPylibsrtp();
    if (py === undefined) {
      console.warn('    [tapline] python3 with pylibsrtp not found: the independent SRTP reference is unavailable (pip install pylibsrtp, or Debian python3-pylibsrtp)');
      this.skip();
    }
    const dir = scratch('webrtc');
    const file = corpusPath(WEBRTC);
    const keys = new Map<number, string>();
    for (const line of fs.readFileSync(corpusPath('SRTP_KEYS.tsv'), 'utf8').split('\n')) {
      const [f, ssrc, suite, inline] = line.split('\t');
      if (f === WEBRTC && ssrc !== undefined && inline !== undefined) {
        assert.equal(suite, 'AES_CM_128_HMAC_SHA1_80');
        keys.set(Number(ssrc), inline);
      }
    }
    assert.equal(keys.size, 2);

    // What the capture shows, read here from the TURN messages themselves: the client's relayed address
    // (Allocate success, XOR-RELAYED-ADDRESS), its peer (ChannelBind, XOR-PEER-ADDRESS), and which SSRC each sends.
    const turn = readTurn(file);
    assert.ok(turn.relayed !== undefined && turn.peer !== undefined, JSON.stringify(turn));
    const clientSsrc = [...turn.fromClient.keys()].find((s) => keys.has(s));
    const peerSsrc = [...turn.toClient.keys()].find((s) => keys.has(s));
    assert.ok(clientSsrc !== undefined && peerSsrc !== undefined && clientSsrc !== peerSsrc);
    const [relayIp, relayPort] = turn.relayed;
    const [peerIp, peerPort] = turn.peer;

    // The client placed the call (caller, its relay candidate in its SDP); its peer answered.
    const sdp = (ip: string, port: number, inline: string, id: number): string =>
      [
        'v=0',
        `o=- ${id} 2 IN IP4 ${ip}`,
        's=-',
        't=0 0',
        `m=audio ${port} RTP/SAVPF 111`,
        `c=IN IP4 ${ip}`,
        'a=rtcp-mux',
        'a=sendrecv',
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${inline}`,
        'a=rtpmap:111 opus/48000/2',
        'a=fmtp:111 minptime=10;useinbandfec=1',
        `a=candidate:1 1 udp 41885439 ${ip} ${port} typ relay raddr 0.0.0.0 rport 0`,
        '',
      ].join('\r\n');
    const offer = sdp(relayIp, relayPort, keys.get(clientSsrc)!, 1);
    const answer = sdp(peerIp, peerPort, keys.get(peerSsrc)!, 2);
    const callId = 'webrtc-opus-sdes@corpus';
    const head = (first: string, cseq: string, toTag: boolean): string[] => [
      first,
      'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-webrtc-1',
      'From: <sip:client@example.org>;tag=c1',
      `To: <sip:peer@example.org>${toTag ? ';tag=p1' : ''}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq}`,
      'Contact: <sip:x@192.0.2.10:5060>',
    ];
    const msg = (lines: string[], body: string): string => [...lines, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n') + '\r\n\r\n' + body;
    const t0 = firstPacketTime(file);
    const sipAddr = { src: '192.0.2.10', sport: 5060, dst: '192.0.2.20', dport: 5060 };
    const back = { src: '192.0.2.20', sport: 5060, dst: '192.0.2.10', dport: 5060 };

    const h = await PluginHarness.create(plugin, { with: [{ plugin: 'storage-local', options: { dir } }, { plugin: 'mode-atedge' }] });
    h.sip(msg(head('INVITE sip:peer@example.org SIP/2.0', '1 INVITE', false), offer), { ...sipAddr, ts: t0 - 2_000_000 });
    h.sip(msg(head('SIP/2.0 200 OK', '1 INVITE', true), answer), { ...back, ts: t0 - 1_000_000 });
    await h.pcap(file);
    await h.stop();
    assert.equal(h.recorded.recordings.length, 1);
    const meta = h.recorded.recordings[0]!;
    const c = h.counters();
    // Every relayed SRTP packet authenticated with its key: nothing refused, in the metadata and the counters.
    const nFrom = turn.fromClient.get(clientSsrc)!.length;
    const nTo = turn.toClient.get(peerSsrc)!.length;
    assert.equal(meta.srtp?.caller?.decrypted, nFrom, JSON.stringify(meta.srtp));
    assert.equal(meta.srtp?.callee?.decrypted, nTo, JSON.stringify(meta.srtp));
    assert.deepEqual(meta.srtp?.caller?.failed, {});
    assert.deepEqual(meta.srtp?.callee?.failed, {});
    assert.deepEqual(Object.fromEntries([...keys.keys()].map((s) => [s.toString(16), (turn.fromClient.get(s) ?? turn.toClient.get(s) ?? []).length])), { '2d830e96': 501, '2c2e32d2': 460 });
    assert.equal(
      Object.keys(c).filter((k) => /^core\.srtp\.(auth|mki|short|not-rtp|no-key)/.test(k)).length,
      0,
      JSON.stringify(c),
    );
    assert.ok(!meta.flags.some((f) => /not decrypted|failed to decode|no decoder/.test(f)), meta.flags.join('; '));

    // The independent reference: libsrtp decrypts the packets our own TURN reading found; ffmpeg decodes.
    const plain = srtpDecrypt(py!, dir, keys, [...turn.fromClient.get(clientSsrc)!, ...turn.toClient.get(peerSsrc)!]);
    for (const [side, ssrc] of [
      ['caller', clientSsrc],
      ['callee', peerSsrc],
    ] as const) {
      const stream = streamOf(plain, ssrc);
      assert.ok(stream.every((r) => r.pt === 111));
      const rec = recordedChannel(meta, side);
      console.log(`      ${side}: ${stream.length} packets, ${meta[side].lost} lost, modes ${[...new Set(stream.map((r) => n.packetInfo(r.payload).mode))].join('/')}`);
      compareWithFfmpeg(`${side} channel, libsrtp-decrypted`, dir, `webrtc-${side}`, rec, stream, samplesOf, 48000);
    }
  });
});

function writeOgg(dir: string, name: string, payloads: Buffer[]): string {
  const file = path.join(dir, `${name}.opus`);
  fs.writeFileSync(file, oggOpus(payloads, 1, () => 960));
  return file;
}

// ---------------------------------------------------------------------------------------------------------------
// The capture, read without Tapline: classic pcap, Ethernet/IPv4/UDP, TURN (RFC 5766) messages and ChannelData.

interface Udp {
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
}

function readPcapUdp(file: string): Udp[] {
  const b = fs.readFileSync(file);
  assert.equal(b.readUInt32LE(0), 0xa1b2c3d4, 'classic little-endian µs pcap');
  assert.equal(b.readUInt32LE(20), 1, 'Ethernet');
  const out: Udp[] = [];
  for (let off = 24; off + 16 <= b.length; ) {
    const ts = b.readUInt32LE(off) * 1_000_000 + b.readUInt32LE(off + 4);
    const len = b.readUInt32LE(off + 8);
    const f = b.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    let e = 14;
    let type = f.readUInt16BE(12);
    if (type === 0x8100) {
      type = f.readUInt16BE(16);
      e = 18;
    }
    if (type !== 0x0800 || f[e + 9] !== 17) continue;
    const ihl = ((f[e] as number) & 0x0f) * 4;
    const ip = (o: number): string => [...f.subarray(e + o, e + o + 4)].join('.');
    const u = e + ihl;
    out.push({ ts, src: ip(12), dst: ip(16), sport: f.readUInt16BE(u), dport: f.readUInt16BE(u + 2), payload: Buffer.from(f.subarray(u + 8, u + f.readUInt16BE(u + 4))) });
  }
  return out;
}

function firstPacketTime(file: string): number {
  const b = fs.readFileSync(file);
  return b.readUInt32LE(24) * 1_000_000 + b.readUInt32LE(28);
}

const MAGIC = 0x2112a442;

/** RFC 5389 attributes of a STUN message, by type (first occurrence). */
function stunAttributes(m: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let o = 20; o + 4 <= Math.min(m.length, 20 + m.readUInt16BE(2)); ) {
    const t = m.readUInt16BE(o);
    const l = m.readUInt16BE(o + 2);
    if (!out.has(t)) out.set(t, m.subarray(o + 4, o + 4 + l));
    o += 4 + l + ((4 - (l % 4)) % 4);
  }
  return out;
}

function xorAddress(v: Buffer): [string, number] {
  const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
  const a = v.readUInt32BE(4) ^ MAGIC;
  return [[a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff].join('.'), port];
}

interface TurnView {
  relayed?: [string, number];
  peer?: [string, number];
  /** SRTP packets the client sent through the relay / received from it, by SSRC, in capture order. */
  fromClient: Map<number, Buffer[]>;
  toClient: Map<number, Buffer[]>;
}

function readTurn(file: string): TurnView {
  const view: TurnView = { fromClient: new Map(), toClient: new Map() };
  const add = (m: Map<number, Buffer[]>, inner: Buffer): void => {
    if (inner.length < 12 || (inner[0] as number) >> 6 !== 2 || isRtcp(inner)) return;
    const ssrc = inner.readUInt32BE(8);
    const list = m.get(ssrc) ?? [];
    list.push(inner);
    m.set(ssrc, list);
  };
  for (const u of readPcapUdp(file)) {
    const p = u.payload;
    if (p.length < 4 || (u.sport !== 3478 && u.dport !== 3478)) continue;
    const toServer = u.dport === 3478;
    const first = p[0] as number;
    if (first >= 0x40 && first <= 0x7f) {
      // ChannelData: channel number, length, data.
      add(toServer ? view.fromClient : view.toClient, p.subarray(4, 4 + p.readUInt16BE(2)));
      continue;
    }
    if (p.length < 20 || p.readUInt32BE(4) !== MAGIC) continue;
    const type = p.readUInt16BE(0);
    const attrs = stunAttributes(p);
    if (type === 0x0103 && attrs.has(0x0016)) view.relayed = xorAddress(attrs.get(0x0016)!);
    if (type === 0x0009 && attrs.has(0x0012)) view.peer = xorAddress(attrs.get(0x0012)!);
    if ((type === 0x0016 || type === 0x0017) && attrs.has(0x0013)) add(type === 0x0016 ? view.fromClient : view.toClient, attrs.get(0x0013)!);
  }
  return view;
}

/** libsrtp (pylibsrtp) unprotects each packet with its SSRC's key; returns the plain RTP parsed (failures dropped and counted). */
function srtpDecrypt(py: string, dir: string, keys: Map<number, string>, packets: Buffer[]): ParsedRtp[] {
  const script = `
import base64, json, sys
from pylibsrtp import Policy, Session
job = json.load(sys.stdin)
sessions = {}
out = []
for hexpkt in job['packets']:
    pkt = bytes.fromhex(hexpkt)
    ssrc = int.from_bytes(pkt[8:12], 'big')
    if ssrc not in sessions:
        key = base64.b64decode(job['keys'][str(ssrc)])
        sessions[ssrc] = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
    try:
        out.append(sessions[ssrc].unprotect(pkt).hex())
    except Exception as e:
        out.append(None)
json.dump(out, sys.stdout)
`;
  const job = { keys: Object.fromEntries([...keys].map(([s, k]) => [String(s), k])), packets: packets.map((p) => p.toString('hex')) };
  fs.writeFileSync(path.join(dir, 'srtp-job.json'), JSON.stringify(job));
  const r = spawnSync(py, ['-c', script], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as Array<string | null>;
  const failed = res.filter((x) => x === null).length;
  assert.equal(failed, 0, `libsrtp refused ${failed} packets`);
  return res.map((x) => parseRtp(Buffer.from(x as string, 'hex'))).filter((x): x is ParsedRtp => x !== undefined);
}
