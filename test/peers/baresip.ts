/**
 * A real SIP call between two baresip user agents on 127.0.0.1, captured on `lo`: independent SIP and RTP
 * (G.711, G.722, optionally SRTP/SDES) that nobody in this project wrote, for checking Tapline's recordings.
 *
 * Written against Debian's baresip 1.0.0 (bookworm). What that version needs, found by trying:
 *  - aufile is a source only (no aufile player in 1.0.0), reads the whole WAV at start and wants it mono S16 at the
 *    codec's rate (8000 for G.711, 16000 for G.722), so the WAVs are converted with sox first. When the file runs
 *    out, aufile reports "end of file" to the call, so it is padded with silence past the call's end.
 *  - There is no "null" player module: the player is aubridge with a device name nobody reads from, which simply
 *    discards the audio. The sndfile filter dumps what each side sent and received (…-enc.wav / …-dec.wav).
 *  - `net_interface 127.0.0.1` keeps the SDP on loopback (`net_interface lo` fails: "could not get IPv4 address").
 *  - Commands go through the stdio module on stdin ("/hangup\n" works even though stdin is not a terminal);
 *    the dial is the startup command `-e '/dial sip:…'`.
 *  - Accounts need `regint=0` (no registrar); the callee has `answermode=auto`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type BaresipCodec = 'PCMU' | 'PCMA' | 'G722';

export interface BaresipCallOptions {
  /** Working folder (created): configs, logs, converted WAVs and sndfile dumps go here. No spaces, commas or '#'. */
  dir: string;
  /** What the caller says (any WAV sox reads; converted to mono 16-bit at the codec's rate). */
  callerWav: string;
  calleeWav: string;
  /** Seconds from "call established" to the hang-up. */
  durationSec: number;
  codec: BaresipCodec;
  /** Mandatory SRTP with SDES keys (a=crypto, RTP/SAVP). */
  srtp?: boolean;
  /** Capture file to write; classic pcap when it ends in .pcap, pcapng otherwise. */
  capturePcap: string;
}

export interface BaresipCallResult {
  pcap: string;
  callerLog: string;
  calleeLog: string;
  /** The converted, padded WAVs the UAs actually played (the codec's rate, mono). */
  callerSource: string;
  calleeSource: string;
  /** sndfile dumps: audio each side encoded (sent) and decoded (received), at the codec's rate; absent if sndfile.so is missing. */
  callerSent?: string;
  callerReceived?: string;
  calleeSent?: string;
  calleeReceived?: string;
}

/** SIP and RTP ports; the capture filter is derived from these. */
export const BARESIP_PORTS = {
  callerSip: 15060,
  calleeSip: 15062,
  callerRtp: [20000, 20049],
  calleeRtp: [20050, 20100],
} as const;

export const BARESIP_CAPTURE_FILTER = 'udp portrange 15060-15062 or udp portrange 20000-20100';

const MODULE_PATH = '/usr/lib/baresip/modules';
const CODEC_MODULE: Record<BaresipCodec, string> = { PCMU: 'g711.so', PCMA: 'g711.so', G722: 'g722.so' };
/** Account codec filter; G722 is named with its real rate (baresip looks up 'G722' as G722/8000 and warns). */
const CODEC_FILTER: Record<BaresipCodec, string> = { PCMU: 'PCMU', PCMA: 'PCMA', G722: 'G722/16000/1' };
const CODEC_RATE: Record<BaresipCodec, number> = { PCMU: 8000, PCMA: 8000, G722: 16000 };

const ESTABLISH_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5_000;

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why baresipCall cannot run here (a missing program), or undefined when it can. */
export function baresipUnavailable(): string | undefined {
  const missing = ['baresip', 'dumpcap', 'sox'].filter((c) => !onPath(c));
  if (missing.length > 0) return `not installed: ${missing.join(', ')} (Debian packages: baresip, tshark, sox)`;
  if (!fs.existsSync(path.join(MODULE_PATH, 'aufile.so'))) return `baresip modules not found in ${MODULE_PATH}`;
  return undefined;
}

/** A child process whose output is logged to a file and kept for waiting on log lines. */
class Proc {
  text = '';
  exited = false;
  readonly exit: Promise<void>;
  private readonly log: fs.WriteStream;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    logFile: string,
  ) {
    this.log = fs.createWriteStream(logFile);
    const take = (b: Buffer): void => {
      this.text += b.toString('utf8');
      this.log.write(b);
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    // A failed spawn (ENOENT) emits 'error' and maybe no 'exit'; both settle the promise.
    this.exit = new Promise((resolve) => {
      const done = (): void => {
        if (this.exited) return;
        this.exited = true;
        resolve();
      };
      child.once('exit', done);
      child.once('error', (e) => {
        this.text += `\n[spawn error] ${e.message}\n`;
        done();
      });
    });
  }

  /** Resolves when `pattern` appears in the output; rejects on timeout or if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      if (this.exited) throw new Error(`${this.name} exited before ${what}; its output:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; its output:\n${this.tail()}`);
      await sleep(50);
    }
  }

  tail(): string {
    // Strip baresip's carriage-return status lines and colour codes so the error stays readable.
    const clean = this.text
      .replace(/\r[^\n]*(?=\r|\n|$)/g, '')
      .replace(/\[0:\d\d:\d\d\] audio=\S+ \(bit\/s\)\s*/g, '')
      .replace(/\x1b\[[0-9;]*m|\[;?m|\[31m/g, '');
    return clean.split('\n').slice(-40).join('\n');
  }

  /** SIGINT (baresip sends BYE and quits, dumpcap finishes the file), then SIGKILL after a grace period. */
  async stop(graceMs = EXIT_TIMEOUT_MS): Promise<void> {
    if (this.exited) return this.closeLog();
    this.child.kill('SIGINT');
    const ok = await Promise.race([this.exit.then(() => true), sleep(graceMs).then(() => false)]);
    if (!ok) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exit, sleep(2000)]);
    }
    return this.closeLog();
  }

  private closeLog(): Promise<void> {
    return new Promise((resolve) => this.log.end(resolve));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Mono 16-bit at the codec's rate, padded with silence so aufile never reaches its end during the call. */
function prepareWav(src: string, out: string, rate: number, padSec: number): void {
  const r = spawnSync('sox', [src, '-r', String(rate), '-c', '1', '-b', '16', '-e', 'signed-integer', out, 'pad', '0', String(padSec)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sox could not convert ${src}: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
}

function writeUa(dir: string, o: { user: string; sipPort: number; rtp: readonly [number, number]; wav: string; codec: BaresipCodec; srtp: boolean; answer: 'auto' | 'manual' }): void {
  fs.mkdirSync(dir, { recursive: true });
  const modules = ['stdio.so', CODEC_MODULE[o.codec], 'aufile.so', 'aubridge.so'];
  if (o.srtp) modules.push('srtp.so');
  const haveSndfile = fs.existsSync(path.join(MODULE_PATH, 'sndfile.so'));
  if (haveSndfile) modules.push('sndfile.so');
  const lines = [
    'poll_method\t\tepoll',
    `sip_listen\t\t127.0.0.1:${o.sipPort}`,
    'net_interface\t\t127.0.0.1',
    `rtp_ports\t\t${o.rtp[0]}-${o.rtp[1]}`,
    'rtcp_mux\t\tno',
    `audio_source\t\taufile,${o.wav}`,
    // A bridge device nobody reads from: the received audio is decoded (and dumped by sndfile) then dropped.
    `audio_player\t\taubridge,discard-${o.user}`,
    `audio_alert\t\taubridge,discard-${o.user}`,
    'audio_buffer\t\t20-160',
    'jitter_buffer_delay\t5-10',
    'call_local_timeout\t30',
    `module_path\t\t${MODULE_PATH}`,
    ...modules.map((m) => `module\t\t\t${m}`),
    'module_app\t\taccount.so',
    'module_app\t\tmenu.so',
    ...(haveSndfile ? [`snd_path\t\t${dir}`] : []),
  ];
  fs.writeFileSync(path.join(dir, 'config'), lines.join('\n') + '\n');
  const params = ['regint=0', `answermode=${o.answer}`, `audio_codecs=${CODEC_FILTER[o.codec]}`, ...(o.srtp ? ['mediaenc=srtp-mand'] : [])];
  fs.writeFileSync(path.join(dir, 'accounts'), `<sip:${o.user}@127.0.0.1:${o.sipPort}>;${params.join(';')}\n`);
}

/** The newest sndfile dump of a kind ('enc' = sent, 'dec' = received) in a UA folder. */
function findDump(dir: string, kind: 'enc' | 'dec'): string | undefined {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('dump-') && f.endsWith(`-${kind}.wav`))
    .sort();
  const last = files[files.length - 1];
  return last === undefined ? undefined : path.join(dir, last);
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
/** If the test runner dies mid-call, no baresip or dumpcap may outlive it (they would hold the ports). */
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/**
 * Runs one call: capture on lo, callee (auto-answer), caller dialling it, durationSec of audio both ways, the
 * caller hangs up ("/hangup" → BYE), capture stopped. Every process is stopped before this returns or throws.
 */
export async function baresipCall(opts: BaresipCallOptions): Promise<BaresipCallResult> {
  const why = baresipUnavailable();
  if (why !== undefined) throw new Error(`baresipCall: ${why}`);
  if (!(opts.durationSec > 0)) throw new Error(`baresipCall: durationSec must be positive, got ${opts.durationSec}`);
  const dir = path.resolve(opts.dir);
  // baresip's config format has no quoting: a space, comma or '#' would cut the aufile path.
  if (/[\s,#]/.test(dir)) throw new Error(`baresipCall: dir must not contain spaces, commas or '#': ${dir}`);
  fs.mkdirSync(dir, { recursive: true });
  const srtp = opts.srtp ?? false;
  const rate = CODEC_RATE[opts.codec];
  const callerSource = path.join(dir, 'caller-source.wav');
  const calleeSource = path.join(dir, 'callee-source.wav');
  const pad = opts.durationSec + 10;
  prepareWav(opts.callerWav, callerSource, rate, pad);
  prepareWav(opts.calleeWav, calleeSource, rate, pad);
  const callerDir = path.join(dir, 'caller');
  const calleeDir = path.join(dir, 'callee');
  for (const d of [callerDir, calleeDir]) fs.rmSync(d, { recursive: true, force: true });
  const P = BARESIP_PORTS;
  writeUa(calleeDir, { user: 'callee', sipPort: P.calleeSip, rtp: P.calleeRtp, wav: calleeSource, codec: opts.codec, srtp, answer: 'auto' });
  writeUa(callerDir, { user: 'caller', sipPort: P.callerSip, rtp: P.callerRtp, wav: callerSource, codec: opts.codec, srtp, answer: 'manual' });

  const pcap = path.resolve(opts.capturePcap);
  fs.mkdirSync(path.dirname(pcap), { recursive: true });
  fs.rmSync(pcap, { force: true });
  const callerLog = path.join(dir, 'caller.log');
  const calleeLog = path.join(dir, 'callee.log');
  const procs: Proc[] = [];
  const start = (name: string, cmd: string, args: string[], log: string): Proc => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: dir });
    track(child);
    const p = new Proc(name, child, log);
    procs.push(p);
    return p;
  };

  try {
    const capArgs = ['-i', 'lo', '-f', BARESIP_CAPTURE_FILTER, '-w', pcap, ...(pcap.endsWith('.pcap') ? ['-P'] : [])];
    const cap = start('dumpcap', 'dumpcap', capArgs, path.join(dir, 'dumpcap.log'));
    // dumpcap says "Capturing on" once the interface is open and the filter set: from then on nothing is missed.
    await cap.waitFor(/Capturing on/, READY_TIMEOUT_MS, 'capture start (capturing on lo needs root or CAP_NET_RAW)');
    await sleep(200);

    const callee = start('callee baresip', 'baresip', ['-f', calleeDir], calleeLog);
    await callee.waitFor(/baresip is ready/, READY_TIMEOUT_MS, 'start-up');
    const caller = start('caller baresip', 'baresip', ['-f', callerDir, '-e', `/dial sip:callee@127.0.0.1:${P.calleeSip}`], callerLog);
    await caller.waitFor(/Call established/, ESTABLISH_TIMEOUT_MS, 'established call');
    await callee.waitFor(/Call established/, ESTABLISH_TIMEOUT_MS, 'established call');

    await sleep(opts.durationSec * 1000);
    caller.child.stdin?.write('/hangup\n');
    await caller.waitFor(/terminated \(duration/, EXIT_TIMEOUT_MS, 'hang-up');
    await callee.waitFor(/terminated \(duration/, EXIT_TIMEOUT_MS, 'BYE from the caller');
    // Let the 200 OK to the BYE and the last RTCP reach the capture.
    await sleep(300);
  } finally {
    // UAs first (no more packets), then the capture; on failure too, with SIGKILL as the last resort.
    const [cap, ...uas] = procs;
    await Promise.all(uas.map((p) => p.stop()));
    await cap?.stop();
    // Open stdin pipes would keep the test runner alive.
    for (const p of procs) p.child.stdin?.destroy();
  }

  const res: BaresipCallResult = { pcap, callerLog, calleeLog, callerSource, calleeSource };
  const dumps: Array<[keyof BaresipCallResult, string, 'enc' | 'dec']> = [
    ['callerSent', callerDir, 'enc'],
    ['callerReceived', callerDir, 'dec'],
    ['calleeSent', calleeDir, 'enc'],
    ['calleeReceived', calleeDir, 'dec'],
  ];
  for (const [key, d, kind] of dumps) {
    const f = findDump(d, kind);
    if (f !== undefined) res[key] = f;
  }
  return res;
}
