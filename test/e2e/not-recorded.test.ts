/**
 * `record` says what it did not record and why (the hardening issue): SIP messages it could not read, by reason with
 * examples; frames it skipped; RTP that matched no call. `--fail-on-lost-sip` makes a lost call-control message a
 * non-zero exit, for pipelines that must not pass a capture silently.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../corpus';
import { PcapWriter } from '../../core/net/pcap-writer';
import { udpFrames } from '../../plugins/source-generator/net-frames';
import { rtpPacket } from '../../core/testing/rtp';
import { request, response, sdp } from '../sip-text';

const CLI = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');
const T0 = Date.UTC(2026, 0, 1) * 1000;

async function capture(file: string): Promise<void> {
  const w = new PcapWriter(file);
  let t = T0;
  const sip = (text: string, from: string, to: string): void => {
    for (const f of udpFrames(from, 5060, to, 5060, Buffer.from(text, 'latin1'), 1)) w.write((t += 1000), f);
  };
  // A good call.
  sip(request('INVITE', { body: sdp('10.0.0.1', 4000) }), '10.0.0.1', '10.0.0.2');
  sip(response(200, 'OK', 'INVITE', { toTag: 'b', body: sdp('10.0.0.2', 5000) }), '10.0.0.2', '10.0.0.1');
  for (let i = 0; i < 10; i++) {
    for (const f of udpFrames('10.0.0.1', 4000, '10.0.0.2', 5000, rtpPacket({ pt: 0, seq: i, ts: i * 160, ssrc: 1, payload: Buffer.alloc(160, 0xff) }), 2)) w.write((t += 20_000), f);
  }
  // Two messages no parser can read (a header line without ':', a start line that is no SIP), on the SIP port.
  sip('INVITE sip:bob@example.com SIP/2.0\r\nVia SIP/2.0/UDP 10.0.0.9\r\nCall-ID: x@y\r\n\r\n', '10.0.0.9', '10.0.0.2');
  sip('INVITE sip:carol@example.com SIP/2.0\r\nCall-ID no colon either\r\n\r\n', '10.0.0.9', '10.0.0.2');
  // RTP nobody signalled.
  for (let i = 0; i < 5; i++) {
    for (const f of udpFrames('10.9.9.9', 7000, '10.8.8.8', 7002, rtpPacket({ pt: 0, seq: i, ts: i * 160, ssrc: 99, payload: Buffer.alloc(160, 0xff) }), 3)) w.write((t += 20_000), f);
  }
  // A frame cut short (an IPv4 header that claims more than there is).
  const cut = udpFrames('10.0.0.1', 4000, '10.0.0.2', 5000, Buffer.alloc(100), 4)[0]!.subarray(0, 30);
  w.write((t += 1000), cut);
  sip(request('BYE', { toTag: 'b', cseq: 2 }), '10.0.0.1', '10.0.0.2');
  await w.close();
}

interface Doc {
  notRecorded: { sipMessages: Array<{ reason: string; count: number; examples?: string[] }>; skippedFrames: Array<{ reason: string; count: number }>; unmatchedStreams: number };
  recordings: unknown[];
}

describe('record: what was not recorded, and why', function () {
  this.timeout(60_000);
  let dir: string;
  let pcap: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-notrec-'));
    pcap = path.join(dir, 'mixed.pcap');
    await capture(pcap);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the summary lists SIP losses by reason with examples, skipped frames and unmatched streams; the CLI prints the top reasons', () => {
    const j = spawnSync(process.execPath, [CLI, 'record', '--pcap', pcap, '--out', path.join(dir, 'a'), '--json', '--no-progress'], { encoding: 'utf8' });
    assert.equal(j.status, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as Doc;
    assert.equal(doc.recordings.length, 1, 'the good call is recorded');
    const sip = doc.notRecorded.sipMessages;
    assert.equal(sip.reduce((n, r) => n + r.count, 0), 2);
    assert.ok(sip.every((r) => r.reason === 'header-line'), JSON.stringify(sip));
    assert.match(sip[0]?.examples?.[0] ?? '', /^frame \d+ \(2026-01-01T00:00:00\.\d{3}Z, 10\.0\.0\.9:5060 → 10\.0\.0\.2:5060\): header line '.*' has no ':'/);
    assert.ok(doc.notRecorded.skippedFrames.some((r) => r.count === 1), JSON.stringify(doc.notRecorded.skippedFrames));
    assert.equal(doc.notRecorded.unmatchedStreams, 1);
    const text = spawnSync(process.execPath, [CLI, 'record', '--pcap', pcap, '--out', path.join(dir, 'b'), '--no-progress'], { encoding: 'utf8' });
    assert.equal(text.status, 0);
    assert.match(text.stdout, /^not recorded: 2 SIP messages could not be read:\n  2 × header-line, e\.g\. frame \d+ /m);
    assert.match(text.stdout, /^not recorded: 1 frame skipped \(\S+ 1\)$/m);
    assert.match(text.stdout, /^not recorded: 1 RTP stream matched no call/m);
  });

  it('--fail-on-lost-sip exits 3 when call control was lost, and 0 on a clean capture', () => {
    const lost = spawnSync(process.execPath, [CLI, 'record', '--pcap', pcap, '--out', path.join(dir, 'c'), '--no-progress', '--fail-on-lost-sip'], { encoding: 'utf8' });
    assert.equal(lost.status, 3, lost.stderr);
    assert.match(lost.stderr, /2 SIP message\(s\) could not be read \(--fail-on-lost-sip\)/);
    const clean = path.join(dir, 'clean.pcap');
    const g = spawnSync(process.execPath, [CLI, 'generate', '--out', clean, '--calls', '1', '--duration', '1'], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    const ok = spawnSync(process.execPath, [CLI, 'record', '--pcap', clean, '--out', path.join(dir, 'd'), '--no-progress', '--fail-on-lost-sip'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
  });
});
