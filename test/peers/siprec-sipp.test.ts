/**
 * SIPREC with a real SRC: SIPp (Debian sip-tester) opens a recording session with `tapline serve` (source-siprec):
 * an INVITE with two labelled send-only PCMU m-lines and RFC 7865 metadata naming two participants; once answered it
 * plays two speech streams from a capture to the ports of the answer (rtp-play.js, run by SIPp's exec: SIPp itself
 * plays media to one audio m-line only); a re-INVITE swaps the second participant; then BYE. The recording's left
 * channel must be the first stream's speech and its right the second's (r >= 0.99), the parties named from the
 * metadata, and the swap said as events.
 *
 * Needs the built CLI, sipp, espeak-ng and sox (bootstrap.sh installs them); skipped visibly otherwise.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onPath, sleep } from './proc';
import { freePortBlock } from './ports';
import { CLI, freeTcpPort, freeUdpPort, startServe } from '../serve-process';
import { makeVoices } from '../voices';
import { assertChannelsMatch, fmtMatch, matchChannels } from '../channel-match';
import { repoRoot } from '../corpus';
import { LocalStore } from '../../plugins/storage-local/store';
import { readWav } from '../../plugins/storage-local/wav';
import { encodeUlaw } from '../../core/media/g711';
import { PcapWriter } from '../../core/net/pcap-writer';
import { udpFrames } from '../../plugins/source-generator/net-frames';
import { RtpStream } from '../../core/testing/rtp';
import type { RecordingMetadata } from '../../core/media/metadata';

const missing = ['sipp', 'sox'].filter((c) => !onPath(c));
const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? (missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined);
if (unavailable !== undefined) console.warn(`\n  [tapline] SIPREC tests with SIPp skipped: ${unavailable}\n`);
const describePeers = unavailable === undefined ? describe : describe.skip;

const PLAYER = path.join(repoRoot, 'dist', 'test', 'peers', 'rtp-play.js');
/** libsrtp (Debian python3-pylibsrtp) protects the SRTP variant's capture: not Tapline's own SRTP code. */
const PROTECT = path.join(repoRoot, 'test', 'bench', 'srtp-protect.py');
const srtpUnavailable = spawnSync('/usr/bin/python3', ['-c', 'import pylibsrtp'], { stdio: 'ignore' }).status === 0 ? undefined : 'python3-pylibsrtp is not installed';

function metadata(second: { id: string; aor: string; name: string }): string {
  return [
    "<?xml version='1.0' encoding='UTF-8'?>",
    "<recording xmlns='urn:ietf:params:xml:ns:recording:1'>",
    '<datamode>complete</datamode>',
    "<session session_id='c2Vzc2lvbi0x'><sipSessionID>ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID></session>",
    "<participant participant_id='cGFydC1h'><nameID aor='sip:alice@example.com'><name>Alice Agent</name></nameID></participant>",
    `<participant participant_id='${second.id}'><nameID aor='${second.aor}'><name>${second.name}</name></nameID></participant>`,
    "<stream stream_id='c3RyZWFtLTE=' session_id='c2Vzc2lvbi0x'><label>1</label></stream>",
    "<stream stream_id='c3RyZWFtLTI=' session_id='c2Vzc2lvbi0x'><label>2</label></stream>",
    "<participantstreamassoc participant_id='cGFydC1h'><send>c3RyZWFtLTE=</send><recv>c3RyZWFtLTI=</recv></participantstreamassoc>",
    `<participantstreamassoc participant_id='${second.id}'><send>c3RyZWFtLTI=</send><recv>c3RyZWFtLTE=</recv></participantstreamassoc>`,
    '</recording>',
  ].join('\n');
}

/** The SRC's offer: two labelled send-only PCMU streams, SRTP (one SDES key per stream, base64) when keys are given. */
function sdp(keys?: readonly [string, string]): string[] {
  const proto = keys === undefined ? 'RTP/AVP' : 'RTP/SAVP';
  const crypto = (k: 0 | 1): string[] => (keys === undefined ? [] : [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${keys[k]}`]);
  return ['v=0', 'o=SRC 1 [cseq] IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio 16000 ${proto} 0`, 'a=rtpmap:0 PCMU/8000', ...crypto(0), 'a=label:1', 'a=sendonly', `m=audio 16002 ${proto} 0`, 'a=rtpmap:0 PCMU/8000', ...crypto(1), 'a=label:2', 'a=sendonly'];
}

function body(meta: string, keys?: readonly [string, string]): string {
  return ['--SIPREC-boundary', 'Content-Type: application/sdp', '', ...sdp(keys), '', '--SIPREC-boundary', 'Content-Type: application/rs-metadata+xml', 'Content-Disposition: recording-session', '', meta, '--SIPREC-boundary--', ''].join('\n');
}

function invite(cseq: number, meta: string, inDialog: boolean, keys?: readonly [string, string]): string {
  return `
    <send retrans="500">
      <![CDATA[
        INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0
        Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
        From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
        To: <sip:srs@[remote_ip]:[remote_port]>${inDialog ? '[peer_tag_param]' : ''}
        Call-ID: [call_id]
        CSeq: ${cseq} INVITE
        Contact: <sip:src@[local_ip]:[local_port]>;+sip.src
        Require: siprec
        Max-Forwards: 70
        Content-Type: multipart/mixed;boundary=SIPREC-boundary
        Content-Length: [len]

${body(meta, keys).replace('[cseq]', String(cseq))}
      ]]>
    </send>
    <recv response="100" optional="true"/>
    <recv response="200" rtd="true">
      <action>
        <ereg regexp="m=audio ([0-9]+) .*m=audio ([0-9]+) " search_in="body" check_it="true" assign_to="all,p1,p2"/>
      </action>
    </recv>
    ${ack(cseq, false)}`;
}

/** The ACK of INVITE `cseq`: a new transaction after a 2xx, the INVITE's own Via after a non-2xx (RFC 3261 §17.1.1.3). */
function ack(cseq: number, afterFailure: boolean): string {
  return `<send>
      <![CDATA[
        ACK sip:srs@[remote_ip]:[remote_port] SIP/2.0
        ${afterFailure ? '[last_Via:]' : 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]'}
        From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
        To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
        Call-ID: [call_id]
        CSeq: ${cseq} ACK
        Max-Forwards: 70
        Content-Length: 0

      ]]>
    </send>`;
}

/** BYE (CSeq 3) and its 200. */
function bye(): string {
  return `<send retrans="500">
    <![CDATA[
      BYE sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>`;
}

function scenario(capture: string, playMs: number, keys?: readonly [string, string]): string {
  const bob = { id: 'cGFydC1i', aor: 'sip:bob@example.net', name: 'Bob Customer' };
  const carol = { id: 'cGFydC1j', aor: 'sip:carol@example.net', name: 'Carol Supervisor' };
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="SIPREC SRC: open, swap a participant, close">
  ${invite(1, metadata(bob), false, keys)}
  <!-- SIPp passes the command to sh -c as written: no XML entities (and so no redirections) in it. -->
  <nop>
    <action>
      <exec command="${process.execPath} ${PLAYER} ${capture} 127.0.0.1 [$p1] [$p2]"/>
    </action>
  </nop>
  <pause milliseconds="${Math.round(playMs / 2)}"/>
  ${invite(2, metadata(carol), true, keys)}
  <pause milliseconds="${Math.round(playMs / 2) + 800}"/>
  ${bye()}
</scenario>
`;
}

/** An SRC that answers the recorder's digest challenge (SIPp's [authentication]): then a short session and BYE. */
function digestScenario(password: string, expect: 200 | 403): string {
  const inviteHead = (cseq: number, auth: boolean): string => `
      INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: ${cseq} INVITE
      Contact: <sip:src@[local_ip]:[local_port]>;+sip.src
      Require: siprec
      Max-Forwards: 70${auth ? `\n      [authentication username=sbc1 password=${password}]` : ''}
      Content-Type: multipart/mixed;boundary=SIPREC-boundary
      Content-Length: [len]

${body(metadata({ id: 'cGFydC1i', aor: 'sip:bob@example.net', name: 'Bob Customer' })).replace('[cseq]', String(cseq))}`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="SIPREC SRC with digest authentication">
  <send retrans="500"><![CDATA[${inviteHead(1, false)}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  ${ack(1, true)}
  <send retrans="500"><![CDATA[${inviteHead(2, true)}
  ]]></send>
  <recv response="100" optional="true"/>
  ${expect === 403 ? `<recv response="403"/>${ack(2, true)}` : `<recv response="200"/>${ack(2, false)}
  <pause milliseconds="500"/>
  ${bye()}`}
</scenario>
`;
}

/** Two RTP streams (PCMU, 20 ms) of the two voices, as an SRC forks them: the capture rtp-play.js plays. */
async function voiceCapture(file: string, voices: { caller: string; callee: string }): Promise<number> {
  const a = readWav(voices.caller).samples;
  const b = readWav(voices.callee).samples;
  const frames = Math.floor(Math.min(a.length, b.length) / 160);
  const w = new PcapWriter(file);
  const sa = new RtpStream(0x11111111);
  const sb = new RtpStream(0x22222222);
  const t0 = Date.UTC(2026, 0, 1) * 1000;
  for (let i = 0; i < frames; i++) {
    const ts = t0 + i * 20_000;
    for (const f of udpFrames('127.0.0.1', 16000, '127.0.0.1', 6000, sa.next(0, encodeUlaw(a.subarray(i * 160, i * 160 + 160)), 160), i)) w.write(ts, f);
    for (const f of udpFrames('127.0.0.1', 16002, '127.0.0.1', 6002, sb.next(0, encodeUlaw(b.subarray(i * 160, i * 160 + 160)), 160), i)) w.write(ts + 100, f);
  }
  await w.close();
  return frames * 20;
}

function runSipp(dir: string, scenarioFile: string, target: string, transport: 'u1' | 't1'): Promise<{ code: number | null; log: string }> {
  return new Promise((resolve) => {
    const args = ['-sf', scenarioFile, '-m', '1', '-l', '1', '-i', '127.0.0.1', '-p', '0', '-t', transport, '-timeout', '40s', '-timeout_error', '-trace_err', '-trace_msg', '-nostdin', target];
    const p = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, log: out.slice(-4000) }));
  });
}

describePeers(`SIPREC recording server with SIPp as the SRC${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(120_000);
  let root: string;
  let voices: { caller: string; callee: string; kind: string };
  let capture: string;
  let playMs: number;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-siprec-'));
    voices = makeVoices(root);
    capture = path.join(root, 'voices.pcap');
    playMs = await voiceCapture(capture, voices);
  });
  after(() => {
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(root, { recursive: true, force: true });
  });

  it('digest authentication: SIPp answers the 401 challenge with the right password and records; with a wrong one it gets 403, counted', async () => {
    const dir = path.join(root, 'digest');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'srcs.txt'), '# SRCs allowed to open recording sessions\nsbc1:correct-horse-battery\n', { mode: 0o600 });
    const sipPort = await freeUdpPort();
    const rtp = await freePortBlock(40);
    const serve = await startServe(
      dir,
      {
        plugins: [
          { use: 'source-siprec', options: { host: '127.0.0.1', mediaAddress: '127.0.0.1', udp: { port: sipPort }, tcp: { enabled: false }, rtpPorts: { min: rtp, max: rtp + 39 }, digest: { realm: 'recorder.example.com', credentialsFile: 'srcs.txt', algorithms: ['MD5'] } } }, // SIPp computes MD5 only, from the first challenge
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: path.join(dir, 'recordings') } },
        ],
      },
      await freeTcpPort(),
    );
    try {
      for (const [password, expect] of [['correct-horse-battery', 200], ['wrong', 403]] as const) {
        const sf = path.join(dir, `digest-${expect}.xml`);
        fs.writeFileSync(sf, digestScenario(password, expect));
        const r = await runSipp(dir, sf, `127.0.0.1:${sipPort}`, 'u1');
        assert.equal(r.code, 0, `sipp (${expect}): ${r.log}`);
      }
      assert.equal(await serve.metric('tapline_siprec_sessions_total', { result: 'accepted' }), 1);
      assert.equal(await serve.metric('tapline_siprec_sessions_total', { result: 'challenged' }), 2);
      assert.equal(await serve.metric('tapline_siprec_sessions_total', { result: 'refused-403' }), 1);
      assert.equal(await serve.metricSum('tapline_drops_total', { stage: 'auth' }), 1);
    } finally {
      await serve.stop();
    }
  });

  const variants = [
    { name: 'over UDP', transport: 'u1', srtp: false },
    { name: 'over TCP', transport: 't1', srtp: false },
    { name: 'SRTP (SDES, a key per stream, protected by libsrtp) over UDP', transport: 'u1', srtp: true },
  ] as const;
  for (const v of variants) {
    const transport = v.transport;
    (v.srtp && srtpUnavailable !== undefined ? it.skip : it)(`${v.name}: each channel is its participant's stream, the parties come from the metadata, the swap is an event${v.srtp && srtpUnavailable !== undefined ? ` (skipped: ${srtpUnavailable})` : ''}`, async () => {
      const dir = path.join(root, `${transport}${v.srtp ? '-srtp' : ''}`);
      fs.mkdirSync(dir);
      const sipPort = transport === 'u1' ? await freeUdpPort() : await freeTcpPort();
      const rtp = await freePortBlock(40);
      const ops = await freeTcpPort();
      const serve = await startServe(
        dir,
        {
          plugins: [
            { use: 'source-siprec', options: { host: '127.0.0.1', mediaAddress: '127.0.0.1', udp: { enabled: transport === 'u1', port: sipPort }, tcp: { enabled: transport === 't1', port: sipPort }, rtpPorts: { min: rtp, max: rtp + 39 } } },
            { use: 'codec-g711' },
            { use: 'storage-local', options: { dir: path.join(dir, 'recordings') } },
          ],
        },
        ops,
      );
      try {
        const sf = path.join(dir, 'src.xml');
        let played = capture;
        let keys: [string, string] | undefined;
        if (v.srtp) {
          const k = [randomBytes(30), randomBytes(30)] as const;
          keys = [k[0].toString('base64'), k[1].toString('base64')];
          played = path.join(dir, 'voices-srtp.pcap');
          const keyFile = path.join(dir, 'keys.json');
          fs.writeFileSync(keyFile, JSON.stringify({ flows: [{ src: '127.0.0.1:16000', key: k[0].toString('hex'), mki: '' }, { src: '127.0.0.1:16002', key: k[1].toString('hex'), mki: '' }] }));
          const p = spawnSync('/usr/bin/python3', [PROTECT, capture, played, keyFile], { encoding: 'utf8' });
          assert.equal(p.status, 0, p.stderr);
        }
        fs.writeFileSync(sf, scenario(played, playMs, keys));
        const r = await runSipp(dir, sf, `127.0.0.1:${sipPort}`, transport);
        assert.equal(r.code, 0, `sipp failed:\n${r.log}`);
        // The BYE ended the session: the recording is finished a moment later.
        let done: { audio: string; meta: RecordingMetadata } | undefined;
        for (let i = 0; i < 100 && done === undefined; i++) {
          const store = new LocalStore({ root: path.join(dir, 'recordings'), catalogue: path.join(dir, 'recordings', 'catalogue.sqlite'), layout: 'date' });
          try {
            const e = store.list({}).find((x) => x.status === 'complete' && x.audio !== undefined);
            if (e !== undefined) done = { audio: e.audio as string, meta: store.get(e.id)?.metadata as RecordingMetadata };
          } finally {
            store.closeCatalogue();
          }
          if (done === undefined) await sleep(100);
        }
        assert.ok(done !== undefined, 'a complete recording');
        const m = matchChannels(done.audio, voices.caller, voices.callee);
        process.stdout.write(`      SIPREC ${v.name} (${voices.kind}): ${fmtMatch(m)}\n`);
        if (v.srtp) {
          // Every packet of each stream opened by its own m-line's key, none failed.
          const srtp = done.meta.srtp;
          for (const side of ['caller', 'callee'] as const) {
            assert.equal(srtp?.[side]?.decrypted, done.meta[side].packets, `${side}: ${JSON.stringify(srtp?.[side])}`);
            assert.deepEqual(srtp?.[side]?.failed, {}, side);
          }
          assert.match(srtp?.caller?.keys.join() ?? '', /m-line 1, label 1/);
          assert.match(srtp?.callee?.keys.join() ?? '', /m-line 2, label 2/);
        }
        assertChannelsMatch(m);
        const call = done.meta.call;
        assert.equal(call.from.uri, 'sip:alice@example.com');
        assert.equal(call.from.displayName, 'Alice Agent');
        assert.equal(call.to.uri, 'sip:carol@example.net', 'the callee channel is now the participant who joined');
        const source = call.source;
        assert.equal(source?.kind, 'siprec');
        assert.equal(source?.facts.siprecSessionId, 'c2Vzc2lvbi0x');
        assert.deepEqual(source?.facts.sipSessionId, ['ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2']);
        assert.deepEqual(
          source?.events.map((e) => e.text),
          ['Bob Customer <sip:bob@example.net> left (callee channel)', 'Carol Supervisor <sip:carol@example.net> joined (callee channel)'],
        );
        assert.equal(done.meta.caller.lost, 0);
        assert.equal(done.meta.callee.lost, 0);
      } finally {
        await serve.stop();
      }
    });
  }
});
