/**
 * The forwarder agent (`tapline forward`) on a mirror port: packets/s it forwards on one core with 0 loss, and its
 * CPU per packet beside `tcpdump -w` capturing the same traffic (the reference, in the same run: the ratio is what
 * to compare between runs on this noisy machine).
 *
 * The lab: one network namespace of its own (tpl-<pid>-fwdbench, deleted at the end and at exit) holding a veth pair,
 * sw0 (the switch's mirror port) — eth0 (the agent's NIC). A small C sender (its source is below, compiled with the
 * system's cc into the work folder) writes Ethernet frames on sw0 with an AF_PACKET socket and sendmmsg(), paced in
 * bursts every 0.1 ms: G.711 RTP-sized IPv4/UDP packets (200 bytes of IP), 2 flows per call (one per direction) at
 * 50 packets/s each, so N packets/s are N / 100 calls; 100k/s is the issue's 1,000 calls. The frames are addressed
 * to a MAC that is not eth0's, as a mirror port's are: eth0's stack drops them, captures on eth0 see them all.
 *
 * Each step runs one capturer alone, pinned to the last CPU (the sender and the bench's receiver on CPU 0), for
 * WARM_SEC + STEP_SEC of sending; CPU is measured over the last STEP_SEC (the forwarder's replay ring, 3 s of every
 * call, is full by then: it costs most in that steady state), loss over the whole step:
 *  - `tapline forward` (mirroring mode, default options: replay ring, MTU 1400, HMAC, queue 8192) with a static
 *    interest list naming both endpoints of every call sent ("ip:port"), forwarding to one recorder on 127.0.0.1
 *    (controlPort 0, feedPort 0: always up) where a Node receiver (this file with --sink) counts the TFWD records,
 *    follows their sequence numbers and checks the HMAC and the packets of the first datagrams. 0 loss: everything
 *    sent was captured, forwarded and received (kernel drops, send-queue drops, sequence gaps all 0). The rate is
 *    raised along LADDER until a step loses packets (a failing rung is tried once more: the machine is shared), then
 *    the gap is halved BISECT_STEPS times.
 *  - `tcpdump -i eth0 -w FILE` with the same kernel filter and ring size, at 100k/s and at the 0-loss rate.
 *  - `tapline forward` with interest that matches none of the packets (the calls' RTCP ports), at the 0-loss rate:
 *    the cost of what it captures and leaves.
 * CPU is utime + stime of the capturing process (/proc/<pid>/stat, every thread) from the end of the warm-up to
 * DRAIN_MS after the sender ends, per packet it handled (forwarded, left, written) in that window. How long its main
 * thread waited for its CPU is shown too: on a shared machine, loss below 100% of a core comes from there. The
 * kernel's side (the copy into the capture ring, in softirq on the sender's CPU) is counted for neither; the
 * forwarder's own sends to the receiver over loopback are its own (system time).
 *
 * TAPLINE_BENCH_CPU_PROF=1 adds a step at 100k/s with the forwarder under `node --cpu-prof` and prints its top
 * functions. Needs root (namespace, raw socket), iproute2, a C compiler and the pcap addon; else "not available".
 * Run alone: npm run bench -- forward (or node dist/test/bench/forward-bench.js).
 */
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pcapAddonStatus } from '../../core/net/pcap-addon';
import { decodeTfwd, TFWD_HEADER_LEN, TFWD_MAGIC, TfwdKey, tfwdKeyring } from '../../core/net/tfwd';
import type { ForwardSummary } from '../peers/forwarder-process';
import { LAB_PREFIX, removeStaleLabs } from '../peers/netns';
import { onPath, sleep, startProc, type Proc } from '../peers/proc';
import { CLI } from '../serve-process';
import { procSample, raiseRmemMax, udpSocket, type ProcSample, type RmemChange } from './live-serve';
import { BenchNotAvailable, type BenchResult } from './types';

/** IPv4 20 + UDP 8 + RTP 12 + 160 bytes of G.711 (20 ms). */
const IP_LEN = 200;
const FLOW_PPS = 50;
/** Sent before the measured window: the forwarder's replay ring (3 s of every call) fills, its code is optimised. */
const WARM_SEC = 3;
/** The measured window. */
const STEP_SEC = 5;
/** After the sender ends: what is left in the capture ring is read, the last datagrams sent. */
const DRAIN_MS = 1000;
/** After the capturer is ready, before the window: start-up garbage collected. */
const SETTLE_MS = 500;
const LADDER = [50_000, 100_000, 150_000, 200_000, 300_000, 400_000, 600_000, 800_000, 1_000_000];
const BISECT_STEPS = 2;
/** The issue's load: 1,000 calls × 2 directions × 50 packets/s. */
const REFERENCE_RATE = 100_000;
/** A sender this far under its target rate is the limit, not the capturer. */
const SENDER_SHORT = 0.97;
const TFWD_PORT = 9070;
const KEY_ID = 1;
const SECRET_HEX = '666f72776172642062656e63682c2074686972747920747769206279746573';
const BUFFER_BYTES = 32 * 1024 * 1024;
const SNAPLEN = 65535;
/** The forwarder's kernel filter (captureFilter(): the default "udp or tcp" minus its own sends); tcpdump gets the same. */
const FILTER = `(udp or tcp) and not ((host 127.0.0.1 and (port ${TFWD_PORT})))`;
/** Datagrams the receiver checks whole (HMAC, every packet inside); the rest are counted and sequenced only. */
const CHECK_DATAGRAMS = 500;
const SINK_RCVBUF = 32 * 1024 * 1024;
const NS = `${LAB_PREFIX}${process.pid}-fwdbench`;

/**
 * The sender: IFACE RATE SECONDS CALLS IPLEN MARK. Frame f is flow f of 2 × CALLS (call f / 2, direction f % 2), sent
 * round-robin. Prints {"mark": packets sent so far} once MARK seconds have passed (the start of the measured window),
 * then at the end one JSON line: packets sent, send errors, wall and CPU seconds, most packets it was behind.
 */
const SENDER_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
static volatile sig_atomic_t stopping = 0;
static void on_signal(int s) { (void)s; stopping = 1; }
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec; }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint16_t ip_checksum(const uint8_t *p, int n) {
  uint32_t s = 0;
  for (int i = 0; i < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

int main(int argc, char **argv) {
  if (argc != 7) { fprintf(stderr, "usage: %s IFACE RATE SECONDS CALLS IPLEN MARK\n", argv[0]); return 2; }
  double rate = atof(argv[2]), secs = atof(argv[3]), mark = atof(argv[6]);
  int marked = mark <= 0;
  int calls = atoi(argv[4]), iplen = atoi(argv[5]);
  if (rate <= 0 || secs <= 0 || calls < 1 || calls > 65536 || iplen < 40 || iplen > 1500) { fprintf(stderr, "bad arguments\n"); return 2; }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  /* Protocol 0: this socket sends only, it receives nothing. */
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("socket(AF_PACKET)"); return 1; }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = (int)if_nametoindex(argv[1]);
  if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) { perror(argv[1]); return 1; }
  int one = 1, sndbuf = 4 << 20;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  int flows = 2 * calls, flen = 14 + iplen;
  uint8_t *frames = calloc((size_t)flows, (size_t)flen);
  if (frames == NULL) { fprintf(stderr, "out of memory\n"); return 1; }
  static const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02}, src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  for (int f = 0; f < flows; f++) {
    int call = f / 2, back = f % 2;
    /* Call c: 10.1.(c >> 8).(c & 255):20000 + 2 (c % 10000) <-> 10.2.(c >> 8).(c & 255):40000 + 2 (c % 10000). */
    uint32_t a = (10u << 24) | (1u << 16) | (uint32_t)call, b = (10u << 24) | (2u << 16) | (uint32_t)call;
    uint32_t pa = 20000 + 2 * (uint32_t)(call % 10000), pb = 40000 + 2 * (uint32_t)(call % 10000);
    uint8_t *e = frames + (size_t)f * (size_t)flen, *ip = e + 14, *udp = ip + 20, *rtp = udp + 8;
    memcpy(e, dst_mac, 6);
    memcpy(e + 6, src_mac, 6);
    put16(e + 12, 0x0800);
    ip[0] = 0x45; ip[1] = 0xb8; put16(ip + 2, (uint32_t)iplen); put16(ip + 4, (uint32_t)f & 0xffff); put16(ip + 6, 0x4000);
    ip[8] = 64; ip[9] = 17;
    put32(ip + 12, back ? b : a); put32(ip + 16, back ? a : b);
    put16(ip + 10, ip_checksum(ip, 20));
    put16(udp, back ? pb : pa); put16(udp + 2, back ? pa : pb); put16(udp + 4, (uint32_t)iplen - 20); put16(udp + 6, 0);
    rtp[0] = 0x80; rtp[1] = 0; put32(rtp + 8, 0x10000000u + (uint32_t)f);
    memset(rtp + 12, 0xff, (size_t)(iplen - 40));
  }
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) { iov[i].iov_len = (size_t)flen; msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1; }
  uint64_t sent = 0, errors = 0, max_behind = 0, next = 0;
  const uint64_t total = (uint64_t)(rate * secs);
  const uint64_t t0 = now_ns();
  while (!stopping && sent < total) {
    uint64_t due = (uint64_t)((double)(now_ns() - t0) * rate / 1e9);
    if (due > total) due = total;
    if (due > sent && due - sent > max_behind) max_behind = due - sent;
    if (!marked && (double)(now_ns() - t0) >= mark * 1e9) {
      marked = 1;
      printf("{\"mark\":%llu}\n", (unsigned long long)sent);
      fflush(stdout);
    }
    while (!stopping && sent < due) {
      int n = (int)(due - sent < BATCH ? due - sent : BATCH);
      for (int i = 0; i < n; i++) iov[i].iov_base = frames + (size_t)((next + (uint64_t)i) % (uint64_t)flows) * (size_t)flen;
      int r = sendmmsg(fd, msgs, (unsigned)n, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        errors++;
        if (errno == ENOBUFS || errno == EAGAIN) { usleep(50); continue; }
        perror("sendmmsg");
        stopping = 1;
        break;
      }
      sent += (uint64_t)r;
      next += (uint64_t)r;
    }
    struct timespec pause = {0, 100000};
    nanosleep(&pause, NULL);
  }
  double wall = (double)(now_ns() - t0) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  printf("{\"sent\":%llu,\"errors\":%llu,\"wallSec\":%.6f,\"cpuSec\":%.3f,\"maxBehind\":%llu}\n",
         (unsigned long long)sent, (unsigned long long)errors, wall, cpu, (unsigned long long)max_behind);
  return 0;
}
`;

// ---------------------------------------------------------------------------------------------------------------
// The traffic and the interest.

function callAddr(side: 1 | 2, call: number): string {
  return `10.${side}.${call >> 8}.${call & 255}`;
}

function callPort(side: 1 | 2, call: number): number {
  return (side === 1 ? 20000 : 40000) + 2 * (call % 10000);
}

function callsAt(rate: number): number {
  return Math.min(65536, Math.max(1, Math.round(rate / (2 * FLOW_PPS))));
}

/** Both endpoints of every call sent (`rtcp`: the ports next to them, which no packet uses: nothing is of interest). */
function staticInterest(calls: number, rtcp: boolean): string[] {
  const out: string[] = [];
  const d = rtcp ? 1 : 0;
  for (let c = 0; c < calls; c++) out.push(`${callAddr(1, c)}:${callPort(1, c) + d}`, `${callAddr(2, c)}:${callPort(2, c) + d}`);
  return out;
}

function forwarderOptions(calls: number, rtcp: boolean): Record<string, unknown> {
  return {
    mode: 'mirroring',
    interfaces: ['eth0'],
    bufferBytes: BUFFER_BYTES,
    snaplen: SNAPLEN,
    ops: { enabled: false },
    deployments: [
      {
        id: 1,
        keys: { [String(KEY_ID)]: `hex:${SECRET_HEX}` },
        recorders: [{ host: '127.0.0.1', port: TFWD_PORT, controlPort: 0, feedPort: 0 }],
        static: staticInterest(calls, rtcp),
        sip: false,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The receiver (this file with --sink, inside the namespace): counts TFWD records, follows the sequence.

interface SinkReport {
  datagrams: number;
  records: number;
  heartbeats: number;
  notTfwd: number;
  /** Packets missing by the sequence numbers (gaps). */
  gaps: number;
  /** Datagrams whose sequence went back (a duplicate or reordering: none expected on loopback). */
  backwards: number;
  checked: number;
  authFailures: number;
  badPackets: number;
  socketDrops: number;
}

function runSink(port: number, secretHex: string, ipLen: number): void {
  const keys = tfwdKeyring([new TfwdKey(KEY_ID, Buffer.from(secretHex, 'hex'))]);
  const r: SinkReport = { datagrams: 0, records: 0, heartbeats: 0, notTfwd: 0, gaps: 0, backwards: 0, checked: 0, authFailures: 0, badPackets: 0, socketDrops: 0 };
  let boot = -1;
  let next = 0;
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: SINK_RCVBUF });
  sock.on('message', (m: Buffer) => {
    r.datagrams++;
    if (m.length < TFWD_HEADER_LEN || m.readUInt32BE(0) !== TFWD_MAGIC) {
      r.notTfwd++;
      return;
    }
    const count = m.readUInt16BE(10);
    const bootId = m.readUInt32BE(20);
    const seq = m.readUInt32BE(24);
    if (bootId !== boot) {
      boot = bootId;
      next = seq;
    }
    const d = (seq - next) >>> 0;
    if (d !== 0) {
      if (d < 0x80000000) r.gaps += d;
      else r.backwards++;
    }
    next = (seq + count) >>> 0;
    r.records += count;
    if (count === 0) {
      r.heartbeats++;
      return;
    }
    if (r.checked >= CHECK_DATAGRAMS) return;
    r.checked++;
    const dec = decodeTfwd(m, { keys });
    if (!dec.ok) {
      r.authFailures++;
      return;
    }
    for (const rec of dec.records) {
      const p = rec.data;
      const ok = p.length === ipLen && p[0] === 0x45 && p[9] === 17 && p[12] === 10 && (p[13] === 1 || p[13] === 2) && p.readUInt16BE(24) === ipLen - 20;
      if (!ok) r.badPackets++;
    }
  });
  sock.on('error', (e) => {
    console.error(`sink: ${e.message}`);
    process.exit(1);
  });
  sock.bind(port, '127.0.0.1', () => console.log(`ready ${port}`));
  const done = (): void => {
    r.socketDrops = udpSocket(port)?.drops ?? -1;
    process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
  };
  process.once('SIGTERM', done);
  process.once('SIGINT', done);
}

// ---------------------------------------------------------------------------------------------------------------
// The lab.

function sh(cmd: string, args: readonly string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr || r.error?.message || '' };
}

function must(cmd: string, args: readonly string[]): string {
  const r = sh(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.err.trim()}`);
  return r.out;
}

function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'Linux only (network namespace, AF_PACKET)';
  if (process.getuid?.() !== 0) return 'needs root (a network namespace, raw packets, captures)';
  if (!onPath('ip')) return 'needs iproute2 (ip)';
  if (!onPath('cc')) return 'needs a C compiler (cc) for the packet sender';
  const pcap = pcapAddonStatus();
  if (!pcap.loaded) return `the pcap addon is not loaded: ${pcap.reason ?? '?'}`;
  if (!fs.existsSync(CLI)) return `${CLI} is missing (npm run build)`;
  return undefined;
}

function makeLab(): void {
  removeStaleLabs();
  sh('ip', ['netns', 'del', NS]);
  must('ip', ['netns', 'add', NS]);
  // Before any interface exists, so that none has IPv6 (router solicitations, MLD would be captured too).
  must('ip', ['netns', 'exec', NS, 'sh', '-c', 'for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; [ ! -e $f ] || echo 1 > $f; done']);
  must('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  must('ip', ['-n', NS, 'link', 'add', 'sw0', 'type', 'veth', 'peer', 'name', 'eth0']);
  must('ip', ['-n', NS, 'link', 'set', 'sw0', 'up']);
  must('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
}

function deleteLab(): void {
  sh('ip', ['netns', 'del', NS]);
}

/** `argv` run on `cpu` (taskset), or as it is. */
function pinned(cpu: number | undefined, argv: readonly string[]): [string, string[]] {
  if (cpu === undefined) return [argv[0] as string, argv.slice(1)];
  return ['taskset', ['-c', String(cpu), ...argv]];
}

/** The same module again, in a child: node, the loader flags (tsx), this file. */
function selfArgv(): string[] {
  return [process.execPath, ...process.execArgv.filter((a) => !a.startsWith('--expose-gc') && !a.startsWith('--cpu-prof')), __filename];
}

function lastJson<T>(text: string, startsWith: string): T | undefined {
  const line = text
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(startsWith));
  return line === undefined ? undefined : (JSON.parse(line) as T);
}


// ---------------------------------------------------------------------------------------------------------------
// Steps.

interface SenderReport {
  sent: number;
  errors: number;
  wallSec: number;
  cpuSec: number;
  maxBehind: number;
}

interface Step {
  what: 'forward' | 'filtered' | 'tcpdump' | 'profile';
  target: number;
  calls: number;
  sender: SenderReport;
  /** Achieved: packets sent ÷ the sender's wall time. */
  rate: number;
  /** Packets sent in the measured window (after the warm-up). */
  windowPackets: number;
  /** The capturer's CPU (user + system, every thread) from the mark to DRAIN_MS after the sender's end. */
  cpuSec: number;
  windowSec: number;
  /** Share of a core the capturer used while the sender sent (mark to the sender's end). */
  busy: number;
  /** Seconds its main thread was runnable but waited for a CPU (others on its core) in the window. */
  waitSec: number;
  /** CPU per packet it handled (forwarded, or captured and left, or written) in the window. */
  usPerPacket: number;
  /** Packets that did not make it (over the whole step, warm-up included), and where they went. */
  lost: number;
  where: string;
  ok: boolean;
  senderShort: boolean;
  problems: string[];
  summary?: ForwardSummary;
  sink?: SinkReport;
}

interface Ctx {
  work: string;
  sender: string;
  capCpu: number | undefined;
  loadCpu: number | undefined;
  procs: Set<Proc>;
  steps: Step[];
}

function progress(msg: string): void {
  console.log(`  forward: ${msg}`);
}

interface Window {
  sender: SenderReport;
  windowPackets: number;
  cpuSec: number;
  windowSec: number;
  busy: number;
  waitSec: number;
}

function sampleOf(pid: number | undefined): ProcSample {
  const s = pid === undefined ? undefined : procSample(pid, performance.now() / 1000);
  if (s === undefined) throw new Error(`the capturer (pid ${pid}) is gone`);
  return s;
}

/**
 * Sends WARM_SEC + STEP_SEC at `rate` while `pid` captures. The window opens at the sender's mark (WARM_SEC in: the
 * replay ring has filled, the code is optimised) and closes DRAIN_MS after its end.
 */
async function captureWindow(ctx: Ctx, pid: number | undefined, rate: number, calls: number): Promise<Window> {
  await sleep(SETTLE_MS);
  const argv = [ctx.sender, 'sw0', String(rate), String(WARM_SEC + STEP_SEC), String(calls), String(IP_LEN), String(WARM_SEC)];
  const [cmd, args] = pinned(ctx.loadCpu, argv);
  const p = startProc('sender', cmd, args, path.join(ctx.work, 'sender.log'), { netns: NS });
  ctx.procs.add(p);
  try {
    const deadline = Date.now() + WARM_SEC * 1000 + 15_000;
    let mark: RegExpExecArray | null;
    while ((mark = /\{"mark":(\d+)\}/.exec(p.text)) === null) {
      if (p.exited) throw new Error(`the sender ended before its mark:\n${p.tail()}`);
      if (Date.now() > deadline) throw new Error(`no mark from the sender:\n${p.tail()}`);
      await sleep(2);
    }
    const s0 = sampleOf(pid);
    const ended = await Promise.race([p.exit.then(() => true), sleep(STEP_SEC * 1000 + 15_000).then(() => false)]);
    if (!ended) throw new Error(`the sender did not finish:\n${p.tail()}`);
    const s1 = sampleOf(pid);
    await sleep(DRAIN_MS);
    const s2 = sampleOf(pid);
    const r = lastJson<SenderReport>(p.text, '{"sent"');
    if (r === undefined) throw new Error(`the sender printed no report:\n${p.tail()}`);
    if (r.sent === 0) throw new Error(`the sender sent nothing:\n${p.tail()}`);
    return {
      sender: r,
      windowPackets: r.sent - Number(mark[1]),
      cpuSec: s2.cpuSec - s0.cpuSec,
      windowSec: s2.t - s0.t,
      busy: (s1.cpuSec - s0.cpuSec) / (s1.t - s0.t),
      waitSec: s2.mainWaitSec - s0.mainWaitSec,
    };
  } finally {
    await p.stop(2000, 'SIGTERM');
    ctx.procs.delete(p);
  }
}

/** `handled`: packets it forwarded, left or wrote, of the sender's total. */
function baseStep(what: Step['what'], target: number, calls: number, w: Window, handled: number): Step {
  const s = w.sender;
  const rate = s.sent / s.wallSec;
  const inWindow = w.windowPackets * (handled / s.sent);
  return {
    what,
    target,
    calls,
    sender: s,
    rate,
    windowPackets: w.windowPackets,
    cpuSec: w.cpuSec,
    windowSec: w.windowSec,
    busy: w.busy,
    waitSec: w.waitSec,
    usPerPacket: inWindow > 0 ? (w.cpuSec * 1e6) / inWindow : NaN,
    lost: 0,
    where: '',
    ok: true,
    senderShort: rate < SENDER_SHORT * target,
    problems: [],
  };
}

async function forwardStep(ctx: Ctx, what: 'forward' | 'filtered' | 'profile', target: number): Promise<Step> {
  const calls = callsAt(target);
  const tag = `${what}-${target}`;
  const [sinkCmd, sinkArgs] = pinned(ctx.loadCpu, [...selfArgv(), '--sink', String(TFWD_PORT), SECRET_HEX, String(IP_LEN)]);
  const sink = startProc('receiver', sinkCmd, sinkArgs, path.join(ctx.work, `${tag}.sink.log`), { netns: NS });
  ctx.procs.add(sink);
  let fwd: Proc | undefined;
  try {
    await sink.waitFor(/^ready/m, 15_000, 'the receiver ready');
    const cfg = path.join(ctx.work, `${tag}.config.json`);
    fs.writeFileSync(cfg, JSON.stringify({ plugins: [{ use: 'forwarder', options: forwarderOptions(calls, what === 'filtered') }] }));
    const flags = what === 'profile' ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ctx.work, 'profile')}`] : [];
    const [cmd, args] = pinned(ctx.capCpu, [process.execPath, ...flags, CLI, 'forward', '-c', cfg, '--log-format', 'json']);
    fwd = startProc('tapline forward', cmd, args, path.join(ctx.work, `${tag}.forward.log`), { netns: NS, cwd: ctx.work });
    ctx.procs.add(fwd);
    await fwd.waitFor(/forwarder running/, 30_000, 'the forwarder running');
    const w = await captureWindow(ctx, fwd.child.pid, target, calls);
    await fwd.stop(15_000, 'SIGTERM');
    ctx.procs.delete(fwd);
    const summary = lastJson<ForwardSummary>(fwd.text, '{"captured"');
    if (summary === undefined) throw new Error(`tapline forward printed no summary:\n${fwd.tail()}`);
    await sleep(200);
    await sink.stop(5000, 'SIGTERM');
    ctx.procs.delete(sink);
    const got = lastJson<SinkReport>(sink.text, '{"datagrams"');
    if (got === undefined) throw new Error(`the receiver printed no report:\n${sink.tail()}`);
    const step = baseStep(what, target, calls, w, what === 'filtered' ? (summary.filtered['not-of-interest'] ?? 0) : (summary.deployments[0]?.forwarded ?? 0));
    step.summary = summary;
    step.sink = got;
    const sent = w.sender.sent;
    const dep = summary.deployments[0];
    const rec = dep?.recorders[0];
    const forwarded = dep?.forwarded ?? 0;
    const notOfInterest = summary.filtered['not-of-interest'] ?? 0;
    const otherFiltered = Object.entries(summary.filtered).reduce((n, [k, v]) => (k === 'not-of-interest' ? n : n + v), 0);
    if (what === 'filtered') {
      step.lost = sent - summary.captured;
      step.ok = summary.captured === sent && notOfInterest === sent && forwarded === 0;
      step.where = `captured ${summary.captured} of ${sent} (kernel drops ${summary.kernelDrops}), ${notOfInterest} not of interest, ${forwarded} forwarded`;
    } else {
      step.lost = sent - got.records;
      step.ok = summary.captured === sent && forwarded === sent && got.records === sent && got.gaps === 0;
      step.where =
        `captured ${summary.captured} of ${sent} (kernel drops ${summary.kernelDrops}), forwarded ${forwarded}` +
        ` (send-queue drops ${rec?.dropped.queue ?? '?'}, replay refused ${summary.replayRefused}), received ${got.records} in ${got.datagrams - got.heartbeats} datagrams` +
        ` (sequence gaps ${got.gaps}, receiver socket drops ${got.socketDrops})`;
    }
    if (otherFiltered > 0) step.problems.push(`${otherFiltered} captured packets filtered as not routable: ${JSON.stringify(summary.filtered)}`);
    if (got.authFailures > 0) step.problems.push(`${got.authFailures} of ${got.checked} datagrams checked failed to decode or authenticate`);
    if (got.badPackets > 0) step.problems.push(`${got.badPackets} forwarded packets are not the ones sent`);
    if (got.backwards > 0) step.problems.push(`${got.backwards} datagrams with a sequence number that went back`);
    if (got.notTfwd > 0) step.problems.push(`${got.notTfwd} datagrams that are not TFWD`);
    if (got.records > sent) step.problems.push(`${got.records - sent} more packets received than sent`);
    return step;
  } finally {
    if (fwd !== undefined && ctx.procs.has(fwd)) {
      await fwd.stop(2000, 'SIGKILL');
      ctx.procs.delete(fwd);
    }
    if (ctx.procs.has(sink)) {
      await sink.stop(2000, 'SIGKILL');
      ctx.procs.delete(sink);
    }
  }
}

async function tcpdumpStep(ctx: Ctx, target: number): Promise<Step> {
  const calls = callsAt(target);
  const file = path.join(ctx.work, `tcpdump-${target}.pcap`);
  const argv = ['tcpdump', '-i', 'eth0', '-n', '-s', String(SNAPLEN), '-B', String(BUFFER_BYTES / 1024), '-Z', 'root', '-w', file, FILTER];
  const [cmd, args] = pinned(ctx.capCpu, argv);
  const p = startProc('tcpdump', cmd, args, path.join(ctx.work, `tcpdump-${target}.log`), { netns: NS });
  ctx.procs.add(p);
  try {
    await p.waitFor(/listening on/, 15_000, 'tcpdump listening');
    const w = await captureWindow(ctx, p.child.pid, target, calls);
    await p.stop(10_000, 'SIGINT');
    ctx.procs.delete(p);
    const num = (re: RegExp): number => Number(re.exec(p.text)?.[1] ?? NaN);
    const captured = num(/(\d+) packets? captured/);
    const dropped = num(/(\d+) packets? dropped by kernel/);
    const step = baseStep('tcpdump', target, calls, w, captured);
    step.lost = w.sender.sent - captured;
    step.ok = captured === w.sender.sent;
    step.where = `tcpdump: ${captured} captured of ${w.sender.sent} sent, ${dropped} dropped by kernel; file ${(fs.statSync(file).size / 1e6).toFixed(0)} MB`;
    return step;
  } finally {
    if (ctx.procs.has(p)) {
      await p.stop(2000, 'SIGKILL');
      ctx.procs.delete(p);
    }
    fs.rmSync(file, { force: true });
  }
}

function stepLine(s: Step): string {
  const who = s.what === 'tcpdump' ? 'tcpdump -w' : s.what === 'filtered' ? 'forward, none of interest' : s.what === 'profile' ? 'forward --cpu-prof' : 'tapline forward';
  return (
    `${who.padEnd(25)} ${fmt(s.target).padStart(9)} ${fmt(Math.round(s.rate)).padStart(9)} ${fmt(s.calls).padStart(6)} ` +
    `${fmt(s.sender.sent).padStart(10)} ${fmt(s.lost).padStart(8)} ${`${(s.busy * 100).toFixed(0)}%`.padStart(5)} ${s.waitSec.toFixed(2).padStart(6)} ${s.usPerPacket.toFixed(3).padStart(8)}  ` +
    `${s.ok ? 'ok' : 'LOSS'}${s.senderShort ? ' (sender short)' : ''}`
  );
}

const STEP_HEADER =
  `${'capturer'.padEnd(25)} ${'target/s'.padStart(9)} ${'sent/s'.padStart(9)} ${'calls'.padStart(6)} ${'sent'.padStart(10)} ${'lost'.padStart(8)} ` +
  `${'CPU'.padStart(5)} ${'wait s'.padStart(6)} ${'µs/pkt'.padStart(8)}  0 loss`;

/** What the columns say. */
const STEP_LEGEND =
  `sent: over ${WARM_SEC} s of warm-up + ${STEP_SEC} s measured; lost: sent but not received by the recorder's side (tcpdump: not written; none of interest: not captured); ` +
  `CPU: share of a core the capturer used while the measured ${STEP_SEC} s were sent; wait s: its main thread runnable but waiting for its CPU (other load on that core); ` +
  `µs/pkt: its CPU (user + system) per packet handled, from the end of the warm-up to ${DRAIN_MS} ms after the last packet`;

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function kLabel(rate: number): string {
  return rate >= 1000 ? `${round(rate / 1000, 1)}k` : String(rate);
}

// ---------------------------------------------------------------------------------------------------------------

export async function benchForward(): Promise<BenchResult[]> {
  const why = unavailable();
  if (why !== undefined) throw new BenchNotAvailable(`forward bench: ${why}`);
  const cpus = os.cpus().length;
  const taskset = onPath('taskset') && cpus >= 2;
  const ctx: Ctx = {
    work: fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-forward-bench-')),
    sender: '',
    capCpu: taskset ? cpus - 1 : undefined,
    loadCpu: taskset ? 0 : undefined,
    procs: new Set(),
    steps: [],
  };
  let rmem: RmemChange | undefined;
  let rmemNote = '';
  // Stopped from outside (the runner's SIGTERM makes this process exit): the children, the namespace and
  // net.core.rmem_max go too.
  const onExit = (): void => {
    for (const p of ctx.procs) p.child.kill('SIGKILL');
    deleteLab();
    if (rmem !== undefined && rmemNote === '') rmem.restore();
    fs.rmSync(ctx.work, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  const load0 = os.loadavg()[0] ?? 0;
  try {
    ctx.sender = path.join(ctx.work, 'sender');
    fs.writeFileSync(`${ctx.sender}.c`, SENDER_C);
    const cc = sh('cc', ['-O2', '-Wall', '-o', ctx.sender, `${ctx.sender}.c`]);
    if (!cc.ok) throw new BenchNotAvailable(`forward bench: the packet sender does not compile: ${cc.err.trim().split('\n').slice(0, 5).join(' / ')}`);
    makeLab();
    rmem = raiseRmemMax(SINK_RCVBUF);
    progress(`lab ${NS}: sw0 -> eth0 (veth), ${IP_LEN}-byte IP packets, ${FLOW_PPS} packets/s per flow, ${WARM_SEC} + ${STEP_SEC} s per step; ` +
      (ctx.capCpu === undefined ? 'not pinned (one CPU or no taskset)' : `capturer on CPU ${ctx.capCpu}, sender and receiver on CPU ${ctx.loadCpu}`));

    const run = async (p: Promise<Step>): Promise<Step> => {
      const s = await p;
      ctx.steps.push(s);
      const more = [...(s.ok ? [] : [s.where]), ...s.problems];
      progress(`${stepLine(s)}${more.length > 0 ? ` — ${more.join('; ')}` : ''}`);
      return s;
    };
    progress(STEP_HEADER);

    // 1. The ladder, then halving the gap between the last rate without loss and the first with.
    let best: Step | undefined;
    let bad: Step | undefined;
    let retried = false;
    let senderLimited = false;
    for (const target of LADDER) {
      let s = await run(forwardStep(ctx, 'forward', target));
      if (!s.ok && !retried) {
        retried = true;
        s = await run(forwardStep(ctx, 'forward', target));
      }
      if (!s.ok) {
        bad = s;
        break;
      }
      best = s;
      if (s.senderShort) {
        senderLimited = true;
        break;
      }
    }
    if (bad !== undefined) {
      let lo = best?.target ?? 0;
      let hi = bad.target;
      for (let i = 0; i < BISECT_STEPS; i++) {
        const mid = Math.round((lo + hi) / 2 / 5000) * 5000;
        if (mid <= lo || mid >= hi) break;
        const s = await run(forwardStep(ctx, 'forward', mid));
        if (s.ok) {
          lo = mid;
          best = s;
        } else {
          hi = mid;
          bad = s;
        }
      }
    }
    const atRef = [...ctx.steps].reverse().find((s) => s.what === 'forward' && s.target === REFERENCE_RATE);
    const zeroRate = best?.target;

    // 2. tcpdump -w on the same traffic: at 100k/s and at the 0-loss rate.
    const tdRates = [...new Set([REFERENCE_RATE, ...(zeroRate !== undefined ? [zeroRate] : [])])];
    const td = new Map<number, Step>();
    if (onPath('tcpdump')) for (const r of tdRates) td.set(r, await run(tcpdumpStep(ctx, r)));
    else progress('tcpdump is not installed: no reference');

    // 3. Nothing of interest, at the 0-loss rate (or 100k/s).
    const filteredRate = zeroRate ?? REFERENCE_RATE;
    const filtered = await run(forwardStep(ctx, 'filtered', filteredRate));

    // 4. Optionally, a profile at 100k/s.
    let profileLines: string[] | undefined;
    if (process.env['TAPLINE_BENCH_CPU_PROF'] !== undefined && process.env['TAPLINE_BENCH_CPU_PROF'] !== '0') {
      await run(forwardStep(ctx, 'profile', REFERENCE_RATE));
      const dir = path.join(ctx.work, 'profile');
      const file = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
      if (file !== undefined) {
        const { summariseProfile, inclusiveProfile } = require('./recording-bench') as typeof import('./recording-bench');
        profileLines = [...summariseProfile(path.join(dir, file), 25), ...inclusiveProfile(path.join(dir, file), 25)];
        console.log(profileLines.join('\n'));
      }
    }
    rmemNote = rmem.restore();

    // ---- Results.
    const load = `load average ${load0.toFixed(2)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at the end, ${cpus} CPUs`;
    const pin = ctx.capCpu === undefined ? 'not pinned' : `the capturer pinned to CPU ${ctx.capCpu} (taskset), the sender and the receiver to CPU ${ctx.loadCpu}`;
    const share = (s: Step): string => `${(s.busy * 100).toFixed(0)}% of a core${s.waitSec >= 0.05 ? `, waited ${s.waitSec.toFixed(2)} s for it` : ''}`;
    const ladder = ctx.steps
      .filter((s) => s.what === 'forward')
      .map((s) => `${kLabel(s.target)}/s ${s.ok ? 'ok' : `LOST ${fmt(s.lost)}`} (${share(s)}, ${s.usPerPacket.toFixed(2)} µs/packet)`)
      .join(', ');
    const results: BenchResult[] = [];
    results.push({
      name: `forward: packets/s forwarded on one core with 0 loss (mirror port, ${IP_LEN}-byte RTP, TFWD to one recorder)`,
      value: best === undefined ? 0 : Math.round(best.rate),
      unit: 'packets/s',
      notes:
        `highest rate of the steps with 0 loss over ${WARM_SEC + STEP_SEC} s (everything sent captured, forwarded and received by the recorder's side), a failing rung tried twice: ${ladder}` +
        (senderLimited ? '; the SENDER could not go faster: the forwarder was not the limit' : '') +
        (bad !== undefined ? `; first loss at ${kLabel(bad.target)}/s: ${bad.where}` : '') +
        (best === undefined ? '' : `; at the 0-loss rate: ${best.where}; ~${fmt(Math.round(1e6 / best.usPerPacket))} packets per CPU-second (what a core to itself would carry)`) +
        `; calls = rate ÷ 100 (2 flows of ${FLOW_PPS} packets/s), static interest on both endpoints of each; default options (replay ring 3 s, MTU 1400, HMAC-SHA256, ` +
        `queue 8192 datagrams, 32 MiB capture buffer); ${pin}; a busy machine lowers this (see "waited"); ${load}`,
    });
    const cpuRow = (s: Step | undefined, label: string): void => {
      if (s === undefined) return;
      const ref = td.get(s.target);
      const row: BenchResult = {
        name: `forward: CPU per forwarded packet at ${kLabel(s.target)} packets/s (${fmt(s.calls)} calls)${label}`,
        value: round(s.usPerPacket, 3),
        unit: 'µs/packet',
        notes:
          `tapline forward: ${s.cpuSec.toFixed(2)} CPU-s (user + system, every thread, /proc/<pid>/stat) for ${fmt(s.windowPackets)} packets sent in the measured ${STEP_SEC} s after ${WARM_SEC} s of warm-up (${share(s)}); ` +
          `${s.ok ? '0 loss' : `LOST ${fmt(s.lost)}`}: ${s.where}` +
          (ref === undefined ? '' : `; reference tcpdump -w (same kernel filter, 32 MiB ring, file on ${os.tmpdir()}): ${ref.cpuSec.toFixed(2)} CPU-s for ${fmt(ref.windowPackets)} packets (${share(ref)}); ${ref.where}`),
      };
      if (ref !== undefined) {
        row.reference = { name: 'tcpdump -w, same traffic', value: round(ref.usPerPacket, 3), unit: 'µs/packet' };
        row.ratio = round(s.usPerPacket / ref.usPerPacket, 1);
      }
      results.push(row);
    };
    cpuRow(atRef, '');
    if (best !== undefined && best !== atRef) cpuRow(best, ', the 0-loss rate');
    if (atRef !== undefined) {
      results.push({
        name: `forward: packets lost at ${kLabel(REFERENCE_RATE)} packets/s (${fmt(atRef.calls)} calls) over ${WARM_SEC + STEP_SEC} s`,
        value: atRef.lost,
        unit: 'packets',
        notes: `${atRef.where}; sender: ${fmt(atRef.sender.sent)} packets in ${atRef.sender.wallSec.toFixed(2)} s, at most ${((atRef.sender.maxBehind / atRef.target) * 1000).toFixed(1)} ms behind its schedule; forwarder ${share(atRef)}`,
      });
    }
    const fref = td.get(filtered.target);
    const frow: BenchResult = {
      name: `forward: CPU per packet of no interest (captured, left) at ${kLabel(filtered.target)} packets/s`,
      value: round(filtered.usPerPacket, 3),
      unit: 'µs/packet',
      notes:
        `static interest on the ${fmt(2 * filtered.calls)} RTCP ports of the calls sent, so no packet matches: ${filtered.cpuSec.toFixed(2)} CPU-s for ${fmt(filtered.windowPackets)} packets ` +
        `(${share(filtered)}: ~${fmt(Math.round(1e6 / filtered.usPerPacket))} packets per CPU-second); ${filtered.ok ? 'none lost' : `LOST ${fmt(filtered.lost)}`}: ${filtered.where}`,
    };
    if (fref !== undefined) {
      frow.reference = { name: 'tcpdump -w, same traffic', value: round(fref.usPerPacket, 3), unit: 'µs/packet' };
      frow.ratio = round(filtered.usPerPacket / fref.usPerPacket, 1);
    }
    results.push(frow);
    const problems = ctx.steps.flatMap((s) => s.problems.map((p) => `${s.what} at ${kLabel(s.target)}/s: ${p}`));
    const checked = ctx.steps.reduce((n, s) => n + (s.sink?.checked ?? 0), 0);
    results.push({
      name: 'forward: correctness problems',
      value: problems.length,
      unit: 'problems',
      notes:
        (problems.length === 0 ? 'none' : problems.join('; ')) +
        `: the receiver checked ${checked} datagrams whole (HMAC, every packet one of those sent) and followed the TFWD sequence of all; the forwarder captured nothing but the sender's packets; ${rmemNote}`,
    });
    if (profileLines !== undefined) results.push({ name: 'forward: CPU profile at 100k/s (under --cpu-prof: slower)', value: 1, unit: 'profile', notes: profileLines.slice(0, 40).join(' | ') });

    progress('all steps:');
    progress(STEP_HEADER);
    for (const s of ctx.steps) progress(stepLine(s));
    progress(STEP_LEGEND);
    return results;
  } finally {
    for (const p of [...ctx.procs]) await p.stop(2000, 'SIGKILL');
    ctx.procs.clear();
    deleteLab();
    if (rmem !== undefined && rmemNote === '') rmemNote = rmem.restore();
    fs.rmSync(ctx.work, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--sink') {
    runSink(Number(argv[1]), argv[2] ?? '', Number(argv[3]));
  } else {
    benchForward().then(
      (rs) => {
        for (const r of rs) console.log(JSON.stringify(r));
      },
      (e: unknown) => {
        console.error(e);
        process.exitCode = 1;
      },
    );
  }
}
