import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTshark, tshark } from '../tshark';
import { baresipCall, baresipPortsFrom, baresipUnavailable, BARESIP_PORT_BLOCK, type BaresipPorts } from './baresip';
import { freePortBlock } from './ports';

const haveEspeak = spawnSync('sh', ['-c', 'command -v espeak-ng'], { stdio: 'ignore' }).status === 0;

/** Two different speech-like signals: espeak-ng speech when installed, else syllable-like gated tone sweeps. */
function makeVoices(dir: string): { a: string; b: string } {
  const a = path.join(dir, 'voice-a.wav');
  const b = path.join(dir, 'voice-b.wav');
  if (haveEspeak) {
    execFileSync('espeak-ng', ['-w', a, '-s', '150', 'The quick brown fox jumps over the lazy dog. Tapline records this call on the loopback interface.']);
    execFileSync('espeak-ng', ['-w', b, '-v', 'en+f3', '-s', '140', 'Hello, this is the callee answering. One two three four five six seven eight nine ten.']);
  } else {
    // A rising and a falling sweep, each chopped into ~4 Hz "syllables" by tremolo so level and pitch keep moving.
    execFileSync('sox', ['-n', '-r', '16000', '-c', '1', '-b', '16', a, 'synth', '6', 'sine', '220-880', 'tremolo', '4', '90', 'vol', '0.5']);
    execFileSync('sox', ['-n', '-r', '16000', '-c', '1', '-b', '16', b, 'synth', '6', 'sine', '1400-500', 'tremolo', '3', '90', 'vol', '0.5']);
  }
  return { a, b };
}

interface RtpStreamRow {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: string;
  packets: number;
}

/** Rows of `tshark -z rtp,streams` (heuristic RTP, since the ports are not known without the SDP). */
function rtpStreams(pcap: string): RtpStreamRow[] {
  const out = tshark(pcap, ['-o', 'rtp.heuristic_rtp:TRUE', '-q', '-z', 'rtp,streams']);
  const rows: RtpStreamRow[] = [];
  const re = /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x[0-9a-f]+\s+(.+?)\s+(\d+)\s+-?\d+ \(/i;
  for (const line of out.split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    rows.push({ src: m[1] ?? '', sport: Number(m[2]), dst: m[3] ?? '', dport: Number(m[4]), payload: m[5] ?? '', packets: Number(m[6]) });
  }
  return rows;
}

/** Message counts from `tshark -z sip,stat`: methods by name, responses as 'SIP 200 OK'. */
function sipStat(pcap: string): Map<string, number> {
  const out = tshark(pcap, ['-q', '-z', 'sip,stat']);
  const counts = new Map<string, number>();
  for (const m of out.matchAll(/^\s*(SIP \d{3} [^:]*?|[A-Z]+)\s*:\s*(\d+) Packets/gm)) counts.set((m[1] ?? '').trim(), Number(m[2]));
  return counts;
}

/** Seconds of audio in a WAV and its RMS, read with sox's `stat`. */
function wavStats(file: string): { seconds: number; rms: number } {
  const r = spawnSync('sox', [file, '-n', 'stat'], { encoding: 'utf8' });
  const num = (label: string): number => Number(new RegExp(`^${label}:\\s+(\\S+)`, 'm').exec(r.stderr)?.[1]);
  return { seconds: num('Length \\(seconds\\)'), rms: num('RMS\\s+amplitude') };
}

const unavailable = baresipUnavailable() ?? (haveTshark() ? undefined : 'not installed: tshark');
if (unavailable !== undefined) console.warn(`\n  [tapline] baresip peer tests skipped: ${unavailable}\n`);
const describePeers = unavailable === undefined ? describe : describe.skip;

describePeers(`baresip peers (real SIP calls on lo)${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(90_000);
  let dir: string;
  let voices: { a: string; b: string };
  // Ports nobody else uses right now: another session's tests may be running baresip on this machine too.
  let ports: BaresipPorts;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-baresip-'));
    voices = makeVoices(dir);
    ports = baresipPortsFrom(await freePortBlock(BARESIP_PORT_BLOCK));
  });

  after(() => {
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it('a 5 s PCMU call: INVITE/200/ACK/BYE and two RTP streams of ~250 packets', async () => {
    const res = await baresipCall({ dir: path.join(dir, 'pcmu'), callerWav: voices.a, calleeWav: voices.b, durationSec: 5, codec: 'PCMU', capturePcap: path.join(dir, 'pcmu.pcap'), ports });
    assert.ok(fs.statSync(res.pcap).size > 0);

    const sip = sipStat(res.pcap);
    assert.equal(sip.get('INVITE'), 1, `sip,stat: ${JSON.stringify([...sip])}`);
    assert.equal(sip.get('ACK'), 1);
    assert.equal(sip.get('BYE'), 1);
    assert.equal(sip.get('SIP 200 OK'), 2, 'one 200 for the INVITE, one for the BYE');

    const streams = rtpStreams(res.pcap);
    assert.equal(streams.length, 2, `rtp,streams: ${JSON.stringify(streams)}`);
    for (const s of streams) {
      assert.match(s.payload, /g711U/);
      assert.equal(s.src, '127.0.0.1');
      // 5 s at 20 ms; the hang-up lands within a few packets of 5 s.
      assert.ok(s.packets >= 235 && s.packets <= 275, `${s.sport}->${s.dport}: ${s.packets} packets`);
    }
    const rtpPorts = streams.map((s) => s.sport).sort((x, y) => x - y);
    assert.ok(rtpPorts[0] !== undefined && rtpPorts[0] >= ports.callerRtp[0] && rtpPorts[0] <= ports.callerRtp[1], `caller RTP port ${rtpPorts[0]}`);
    assert.ok(rtpPorts[1] !== undefined && rtpPorts[1] >= ports.calleeRtp[0] && rtpPorts[1] <= ports.calleeRtp[1], `callee RTP port ${rtpPorts[1]}`);

    // Each side received about 5 s of real audio (sndfile's dump of what it decoded).
    for (const f of [res.callerReceived, res.calleeReceived]) {
      assert.ok(f !== undefined, 'sndfile dumps');
      const st = wavStats(f);
      assert.ok(st.seconds > 4.5 && st.seconds < 5.6, `${f}: ${st.seconds} s`);
      assert.ok(st.rms > 0.01, `${f}: RMS ${st.rms}`);
    }
    assert.match(fs.readFileSync(res.callerLog, 'utf8'), /Call established/);
    assert.match(fs.readFileSync(res.calleeLog, 'utf8'), /answering call/);
  });

  it('a G.722 call with mandatory SRTP (SDES): RTP/SAVP with a=crypto, two G.722 streams', async () => {
    const res = await baresipCall({ dir: path.join(dir, 'g722'), callerWav: voices.a, calleeWav: voices.b, durationSec: 3, codec: 'G722', srtp: true, capturePcap: path.join(dir, 'g722.pcapng'), ports });
    const sdp = tshark(res.pcap, ['-Y', 'sdp', '-T', 'fields', '-e', 'sdp.media', '-e', 'sdp.media_attr']);
    const lines = sdp.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 2, 'offer and answer');
    for (const l of lines) {
      assert.match(l, /RTP\/SAVP 9\b/);
      assert.match(l, /crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:/);
    }
    const streams = rtpStreams(res.pcap);
    assert.equal(streams.length, 2, `rtp,streams: ${JSON.stringify(streams)}`);
    for (const s of streams) {
      assert.match(s.payload, /g722/i);
      assert.ok(s.packets >= 135 && s.packets <= 170, `${s.sport}->${s.dport}: ${s.packets} packets`);
    }
    assert.ok(res.calleeReceived !== undefined && wavStats(res.calleeReceived).rms > 0.01, 'SRTP decrypted and G.722 decoded at the callee');
  });

  it('cleans up and reports the output when the callee cannot be reached', async () => {
    // Hold the callee's SIP port with a foreign socket so its baresip fails to start.
    const dgram = await import('node:dgram');
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(ports.calleeSip, '127.0.0.1', resolve));
    try {
      await assert.rejects(
        baresipCall({ dir: path.join(dir, 'fail'), callerWav: voices.a, calleeWav: voices.b, durationSec: 1, codec: 'PCMA', capturePcap: path.join(dir, 'fail.pcap'), ports }),
        /callee baresip exited before start-up|callee baresip: no start-up/,
      );
    } finally {
      sock.close();
    }
    const left = spawnSync('sh', ['-c', `ps -eo args | grep -F ${JSON.stringify(path.join(dir, 'fail'))} | grep -v grep`], { encoding: 'utf8' }).stdout;
    assert.equal(left.trim(), '', 'no baresip left running');
  });
});
