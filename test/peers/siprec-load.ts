/**
 * Many SIPREC recording sessions at once against `tapline serve`: SIPp (the SRC's signalling) opens them, and
 * for each one answered tells this process's media engine, over a control datagram, which two ports the recorder
 * gave; the engine then sends both participants' speech to them (PCMU, 20 ms) as an SBC forks a call's media.
 * Shared by the SIPREC load test and `npm run bench siprec`.
 */
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeUlaw } from '../../core/media/g711';
import { readWav } from '../../plugins/storage-local/wav';
import { LocalStore } from '../../plugins/storage-local/store';
import { rtpPacket } from '../../core/testing/rtp';
import type { RecordingMetadata } from '../../core/media/metadata';

/** PCMU frames (20 ms) of a voice file. */
export function pcmuFrames(wav: string, frames: number): Buffer[] {
  const s = readWav(wav).samples;
  const out: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    const at = (i * 160) % Math.max(160, s.length - 160);
    out.push(encodeUlaw(s.subarray(at, at + 160)));
  }
  return out;
}

interface Playing {
  ports: [number, number];
  ssrc: number;
  next: number;
}

/**
 * Sends two streams per session to the ports named in control datagrams ("p1 p2"), all sessions from one socket,
 * on one 20 ms clock (late ticks catch up, so every session sends every frame).
 */
export class MediaEngine {
  private readonly control = dgram.createSocket('udp4');
  private readonly media = dgram.createSocket('udp4');
  private readonly playing: Playing[] = [];
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private tick = 0;
  sessions = 0;
  sent = 0;

  constructor(
    private readonly a: readonly Buffer[],
    private readonly b: readonly Buffer[],
  ) {}

  async start(): Promise<number> {
    await new Promise<void>((r) => this.control.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.media.bind(0, '127.0.0.1', () => r()));
    this.control.on('message', (m) => {
      const [p1, p2] = m.toString('latin1').trim().split(/\s+/).map(Number);
      if (!Number.isInteger(p1) || !Number.isInteger(p2)) return;
      this.sessions++;
      this.playing.push({ ports: [p1 as number, p2 as number], ssrc: (0x10000 + this.sessions * 2) >>> 0, next: 0 });
    });
    this.t0 = performance.now();
    this.timer = setInterval(() => this.onTick(), 5);
    return this.control.address().port;
  }

  /** Sessions still sending. */
  get active(): number {
    return this.playing.filter((p) => p.next < this.a.length).length;
  }

  private onTick(): void {
    const due = Math.floor((performance.now() - this.t0) / 20);
    while (this.tick < due) {
      this.tick++;
      for (const p of this.playing) {
        const i = p.next;
        if (i >= this.a.length) continue;
        p.next++;
        for (const k of [0, 1] as const) {
          const payload = (k === 0 ? this.a : this.b)[i] as Buffer;
          this.media.send(rtpPacket({ pt: 0, seq: i, ts: i * 160, ssrc: p.ssrc + k, payload }), p.ports[k], '127.0.0.1');
          this.sent++;
        }
      }
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.control.close();
    this.media.close();
  }
}

const METADATA = (n: string): string =>
  [
    "<?xml version='1.0' encoding='UTF-8'?>",
    "<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>complete</datamode><session session_id='s[call_number]'/>",
    `<participant participant_id='a'><nameID aor='sip:agent${n}@example.com'/></participant>`,
    `<participant participant_id='b'><nameID aor='sip:customer${n}@example.net'/></participant>`,
    "<stream stream_id='1' session_id='s[call_number]'><label>1</label></stream><stream stream_id='2' session_id='s[call_number]'><label>2</label></stream>",
    "<participantstreamassoc participant_id='a'><send>1</send></participantstreamassoc><participantstreamassoc participant_id='b'><send>2</send></participantstreamassoc>",
    '</recording>',
  ].join('\n');

/** The SRC: open, tell the media engine the ports (bash's /dev/udp: SIPp runs the command with sh -c, and reads no XML entities in it), wait, BYE. */
export function loadScenario(controlPort: number, holdMs: number): string {
  const body = [
    '--B',
    'Content-Type: application/sdp',
    '',
    'v=0',
    'o=SRC 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 16000 RTP/AVP 0',
    'a=label:1',
    'a=sendonly',
    'm=audio 16002 RTP/AVP 0',
    'a=label:2',
    'a=sendonly',
    '',
    '--B',
    'Content-Type: application/rs-metadata+xml',
    '',
    METADATA('[call_number]'),
    '--B--',
    '',
  ].join('\n');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="SIPREC load">
  <send retrans="500">
    <![CDATA[
      INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]T[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:src@[local_ip]:[local_port]>;+sip.src
      Require: siprec
      Max-Forwards: 70
      Content-Type: multipart/mixed;boundary=B
      Content-Length: [len]

${body}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="m=audio ([0-9]+) .*m=audio ([0-9]+) " search_in="body" check_it="true" assign_to="all,p1,p2"/>
      <!-- SIPp refuses a scenario whose variable is assigned and never read: the whole match goes to its log. -->
      <log message="answer [$all]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]T[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec command="bash -c 'echo [$p1] [$p2] >/dev/udp/127.0.0.1/${controlPort}'"/>
    </action>
  </nop>
  <pause milliseconds="${holdMs}"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:srs@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]T[call_number]
      To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
`;
}

/** SIPp as the SRC of `sessions` sessions at once (all opened at `rate` per second). */
export function runSippLoad(dir: string, scenario: string, target: string, sessions: number, rate: number): Promise<{ code: number | null; log: string }> {
  const sf = path.join(dir, 'load.xml');
  fs.writeFileSync(sf, scenario);
  return new Promise((resolve) => {
    const args = ['-sf', sf, '-m', String(sessions), '-l', String(sessions), '-r', String(rate), '-i', '127.0.0.1', '-p', '0', '-t', 'u1', '-timeout', '120s', '-timeout_error', '-trace_err', '-nostdin', '-max_socket', '2048', target];
    const p = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
    p.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8000)));
    p.on('exit', (code) => {
      // SIPp's own account of failed calls (-trace_err) says more than its exit code.
      const errs = fs.readdirSync(dir).filter((f) => f.startsWith('load_') && f.endsWith('_errors.log'));
      const detail = errs.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').slice(-3000)).join('\n');
      resolve({ code, log: `${out}\n${detail}` });
    });
  });
}

export interface LoadCheck {
  complete: number;
  /** Recordings whose two sides each have every frame sent and nothing lost. */
  whole: number;
  lost: number;
  problems: string[];
}

/** Every session's recording, checked against what the engine sent (frames per stream). */
export function checkLoadRecordings(recordings: string, sessions: number, frames: number): LoadCheck {
  const store = new LocalStore({ root: recordings, catalogue: path.join(recordings, 'catalogue.sqlite'), layout: 'date' });
  const out: LoadCheck = { complete: 0, whole: 0, lost: 0, problems: [] };
  try {
    const entries = store.list({ limit: sessions * 2 }).filter((e) => e.status === 'complete');
    out.complete = entries.length;
    for (const e of entries) {
      const meta = store.get(e.id)?.metadata as RecordingMetadata;
      out.lost += meta.caller.lost + meta.callee.lost;
      if (meta.caller.packets === frames && meta.callee.packets === frames && meta.caller.lost === 0 && meta.callee.lost === 0) out.whole++;
      else if (out.problems.length < 5) out.problems.push(`${meta.call.from.uri}: packets ${meta.caller.packets}/${meta.callee.packets} of ${frames}, lost ${meta.caller.lost}/${meta.callee.lost}`);
    }
  } finally {
    store.closeCatalogue();
  }
  return out;
}
