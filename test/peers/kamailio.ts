/**
 * A Kamailio 5.6 stateful proxy on 127.0.0.1 (Debian's package) whose siptrace module copies every SIP message it
 * receives and sends to a collector the test names: HEPv3 or the plain SIP message, over UDP or TCP. The baresip
 * UAs use it as outbound proxy (baresip.ts `proxy`), so a test gets a real call plus a real HEP/SIP feed of it.
 *
 * What Debian's kamailio 5.6.3 sends, found by experiment (a baresip call through this proxy, the collector a Node
 * socket, the wire captured with tshark; proven again by kamailio.test.ts) and by reading siptrace 5.6.3's source:
 *  - Tracing uses the core network callbacks (`trace_mode`, 5.3+): every message as it arrives on or leaves a
 *    socket, so a call through the proxy gives each message twice (in from the UA, out to the other UA):
 *    INVITE, 100 (made by the proxy), INVITE, 180, 180, 200, 200, ACK, ACK, BYE, BYE, 200, 200 — 13 copies for a
 *    call, in wire order. Script tracing (`sip_trace_mode("t")` per request, trace_mode 0) missed the relayed ACK
 *    (ACK to a 2xx is forwarded statelessly; siptrace's docs say to call sip_trace() in onsend_route for it) and
 *    sent the relayed BYE after the 200 to it, so it is not used. The copies of messages the proxy sends are sent
 *    with a flag that skips the callbacks, so tracing never traces itself.
 *  - HEPv3 (`hep_mode_on=1`, `hep_version=3`, trace_mode 1): chunks 1 (family 2), 2 (IP protocol of the SIP
 *    transport: 17), 3/4 src/dst IPv4 (5/6 for IPv6), 7/8 ports, 9/10 seconds/microseconds, 11 (1 = SIP),
 *    12 capture id (`hep_capture_id`), 15 the SIP message; 14 (auth key) when `auth_key` is set; 17 (correlation
 *    id) only from sip_trace()'s second argument, never in this mode. No node name chunk (0x13): 5.6 has no
 *    parameter for it. The addresses are the original ones (UA → proxy, proxy → UA). The time is the proxy's
 *    gettimeofday() when it made the copy (measured ~0.1 ms before the HEP datagram is captured on lo).
 *  - Over UDP: one datagram per message, from the proxy's own SIP socket (source port = the proxy's port).
 *  - Over TCP: `duplicate_uri=sip:HOST:PORT;transport=tcp` works in 5.6 (siptrace takes the transport from the URI;
 *    the proxy needs a TCP listen socket, so it always listens on TCP too). The proxy connects from an ephemeral
 *    port on the first message, then reuses that connection; messages queued while it connects arrive in one
 *    segment (HEP's length field frames them). The connection closes when the proxy stops, or after
 *    tcp_connection_lifetime (120 s) idle, and is opened again for the next message. A collector that is not
 *    listening costs only an error in the proxy's log.
 *  - Plain SIP (`hep_mode_on=0`, trace_mode 4): the message bytes as they were on the wire, UDP one per datagram,
 *    TCP back to back (Content-Length frames them). No addresses or time, unless `xheaders_write=1`, which adds
 *    X-Siptrace-Fromip/-Toip ("udp:127.0.0.1:25060"), -Time, -Method and -Dir (in/out) headers before the blank
 *    line; in 5.6 trace_mode it fills Time with "0 0" and Method with nothing, and it only writes them when an
 *    event_route[siptrace:msg] exists (siptrace_exec_evcb_msg returns early otherwise), so the config adds one.
 *  - Wireshark 4.0 (Debian 12's tshark) has no HEP dissector (`-d udp.port==N,hep` is refused: "Unknown protocol");
 *    sngrep 1.6 (`-E`, EEP/HEP parsing) reads a pcap of HEP datagrams and writes the SIP inside as packets with
 *    the original addresses and times (`-O`), which tshark then decodes as SIP (hep-decode.ts). It writes every
 *    message twice and reads HEP over UDP only.
 *
 * Start-up: `kamailio -DD -E` keeps the main process in the foreground (its workers are forked: 1 UDP, 1 TCP,
 * plus timers) and logs to stderr; the config, pid file and runtime dir are in the test's folder, the system
 * config is never read. Ready when its UDP and TCP sockets are bound (`ss`): requests that arrive before the
 * workers run wait in the socket. stop() sends SIGTERM (kamailio stops its workers itself), then kills the
 * process group: when the main process dies by SIGKILL its 6 forked processes stay (reparented to init, still
 * holding the ports), measured; the group kill ends them, and so does the exit hook if the test runner dies.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onPath, sleep, startProc, type Proc } from './proc';

export const KAMAILIO_MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';

/** Where siptrace sends its copies, and how. */
export interface SiptraceTarget {
  /** 'hep': HEPv3 (trace_mode 1); 'sip': the SIP message itself (trace_mode 4). */
  encap: 'hep' | 'sip';
  transport: 'udp' | 'tcp';
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  /** HEP capture agent id (chunk 12). Default 2001. */
  captureId?: number;
  /** HEP auth key (chunk 14): letters, digits, '.', '_' and '-'. */
  authKey?: string;
  /** Plain SIP only: add the X-Siptrace-Fromip/-Toip/-Time/-Method/-Dir headers. */
  xheaders?: boolean;
}

export interface KamailioOptions {
  /** Working folder (created): kamailio.cfg, kamailio.pid, run/, kamailio.log. */
  dir: string;
  /** SIP port, UDP and TCP. */
  port: number;
  /** Listen address, default 127.0.0.1 (a lab host's address when `netns` is set). */
  host?: string;
  /** Copy every SIP message to this collector. Without it the proxy traces nothing. */
  trace?: SiptraceTarget;
  /** Run inside this network namespace (netns.ts). */
  netns?: string;
  /** Kamailio's debug level (2 = info, the default; 3 = debug). */
  debug?: number;
}

/** A request the routing script handled, or a reply it relayed, from the script's log lines. */
export interface KamailioSeen {
  kind: 'request' | 'reply';
  /** Request method, or the reply's CSeq method. */
  method: string;
  /** The Request-URI, or the reply's status code as text. */
  what: string;
  /** Where the message came from, "ip:port". */
  from: string;
  callId: string;
}

export interface KamailioProxy {
  readonly host: string;
  readonly port: number;
  /** The proxy as an outbound proxy for baresip.ts: `{ host, port }`. */
  readonly address: { host: string; port: number };
  readonly logFile: string;
  readonly pid: number;
  /** Requests and replies the script saw so far, in order. */
  seen(): KamailioSeen[];
  /** Everything kamailio logged so far. */
  log(): string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/** Why kamailio cannot run here, or undefined when it can. */
export function kamailioUnavailable(): string | undefined {
  const missing = ['kamailio', 'ss'].filter((c) => !onPath(c));
  if (missing.length > 0) return `not installed: ${missing.join(', ')} (Debian packages: kamailio, iproute2)`;
  for (const m of ['tm', 'sl', 'rr', 'siptrace', 'siputils', 'textops', 'xlog', 'pv', 'maxfwd']) {
    if (!fs.existsSync(path.join(KAMAILIO_MODULES, `${m}.so`))) return `kamailio module ${m}.so not found in ${KAMAILIO_MODULES}`;
  }
  return undefined;
}

const LOG_TAG = 'tapline-proxy';

function traceParams(t: SiptraceTarget): string[] {
  const host = t.host ?? '127.0.0.1';
  if (!/^[0-9a-fA-F.:]+$/.test(host)) throw new Error(`kamailio: trace host must be an IP address, got ${JSON.stringify(host)}`);
  if (!Number.isInteger(t.port) || t.port <= 0 || t.port > 65535) throw new Error(`kamailio: bad trace port ${t.port}`);
  const uri = `sip:${host.includes(':') ? `[${host}]` : host}:${t.port}${t.transport === 'tcp' ? ';transport=tcp' : ''}`;
  const mp = (name: string, v: string | number): string => `modparam("siptrace", "${name}", ${typeof v === 'number' ? v : JSON.stringify(v)})`;
  const lines = [mp('duplicate_uri', uri), mp('trace_on', 1), mp('trace_to_database', 0)];
  if (t.encap === 'hep') {
    const id = t.captureId ?? 2001;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new Error(`kamailio: HEP capture id must be a 32-bit unsigned integer, got ${id}`);
    lines.push(mp('hep_mode_on', 1), mp('hep_version', 3), mp('hep_capture_id', id), mp('trace_mode', 1));
    if (t.authKey !== undefined) {
      if (!/^[A-Za-z0-9._-]+$/.test(t.authKey)) throw new Error('kamailio: the HEP auth key may only hold letters, digits, ".", "_" and "-"');
      lines.push(mp('auth_key', t.authKey));
    }
  } else {
    lines.push(mp('hep_mode_on', 0), mp('trace_mode', 4));
    if (t.xheaders === true) lines.push(mp('xheaders_write', 1));
  }
  return lines;
}

/** The whole kamailio.cfg for these options (exported so a test can show or check it). */
export function kamailioConfig(o: Pick<KamailioOptions, 'port' | 'host' | 'trace' | 'debug'>): string {
  const host = o.host ?? '127.0.0.1';
  if (!/^[0-9.]+$/.test(host)) throw new Error(`kamailio: listen host must be an IPv4 address, got ${JSON.stringify(host)}`);
  if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) throw new Error(`kamailio: bad port ${o.port}`);
  const xheaders = o.trace?.encap === 'sip' && o.trace.xheaders === true;
  const modules = ['tm', 'sl', 'rr', 'pv', 'xlog', 'maxfwd', 'siputils', 'textops', ...(o.trace !== undefined ? ['siptrace'] : [])];
  return [
    '#!KAMAILIO',
    `debug=${o.debug ?? 2}`,
    'log_stderror=yes',
    // One UDP worker: messages are handled in the order they arrive. With two, the callee's 180 and 200 (sent
    // 0.3 ms apart) raced, and when the 200 was relayed first tm dropped the late 180: 12 copies instead of 13.
    'children=1',
    'tcp_children=1',
    'auto_aliases=no',
    'dns=no',
    'rev_dns=no',
    `listen=udp:${host}:${o.port}`,
    // Always TCP too: siptrace can only send over TCP from a TCP listen socket.
    `listen=tcp:${host}:${o.port}`,
    `alias="${host}:${o.port}"`,
    `mpath="${KAMAILIO_MODULES}/"`,
    ...modules.map((m) => `loadmodule "${m}.so"`),
    ...(o.trace !== undefined ? traceParams(o.trace) : []),
    '',
    // Present only for the X-Siptrace headers, which 5.6 writes only when this route exists.
    ...(xheaders ? ['event_route[siptrace:msg] {', '  xlog("L_DBG", "siptrace copy\\n");', '}', ''] : []),
    'request_route {',
    `  xlog("L_NOTICE", "${LOG_TAG}: request $rm $ru from $si:$sp ci=$ci\\n");`,
    '  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }',
    '  if (has_totag()) {',
    '    # In-dialog (ACK for 2xx, BYE, re-INVITE): follow the Route set our Record-Route put there.',
    '    if (loose_route()) { t_relay(); exit; }',
    '    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }',
    '    sl_send_reply("404", "Not here");',
    '    exit;',
    '  }',
    '  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }',
    '  # An outbound-proxy UA preloads Route: <sip:proxy;lr>; loose_route() takes it off.',
    '  loose_route();',
    '  record_route();',
    '  if (!t_relay()) sl_reply_error();',
    '}',
    '',
    'onreply_route {',
    `  xlog("L_NOTICE", "${LOG_TAG}: reply $rs $cs $rm from $si:$sp ci=$ci\\n");`,
    '}',
    '',
  ].join('\n');
}

function parseSeen(text: string): KamailioSeen[] {
  const out: KamailioSeen[] = [];
  const re = new RegExp(`${LOG_TAG}: (request|reply) (\\S+) (\\S+)(?: (\\S+))? from (\\S+) ci=(\\S*)`, 'g');
  for (const m of text.matchAll(re)) {
    if (m[1] === 'request') out.push({ kind: 'request', method: m[2] ?? '', what: m[3] ?? '', from: m[5] ?? '', callId: m[6] ?? '' });
    // reply: $rs $cs $rm → status, CSeq number, method.
    else out.push({ kind: 'reply', method: m[4] ?? '', what: m[2] ?? '', from: m[5] ?? '', callId: m[6] ?? '' });
  }
  return out;
}

/** Whether the UDP and TCP sockets on host:port are bound (inside `netns` when given). */
function listening(host: string, port: number, netns: string | undefined): boolean {
  const args = ['-H', '-l', '-n', '-u', '-t', `sport = :${port}`];
  const r = netns === undefined ? spawnSync('ss', args, { encoding: 'utf8' }) : spawnSync('ip', ['netns', 'exec', netns, 'ss', ...args], { encoding: 'utf8' });
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.includes(`${host}:${port}`));
  return lines.some((l) => l.startsWith('udp')) && lines.some((l) => l.startsWith('tcp'));
}

/** Starts the proxy and waits until its sockets are bound. Stop it with stop() (in a finally or after hook). */
export async function startKamailio(o: KamailioOptions): Promise<KamailioProxy> {
  const why = kamailioUnavailable();
  if (why !== undefined) throw new Error(`startKamailio: ${why}`);
  const dir = path.resolve(o.dir);
  const host = o.host ?? '127.0.0.1';
  fs.mkdirSync(path.join(dir, 'run'), { recursive: true });
  const cfg = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfg, kamailioConfig(o));
  const pidFile = path.join(dir, 'kamailio.pid');
  fs.rmSync(pidFile, { force: true });
  const logFile = path.join(dir, 'kamailio.log');
  // -DD: the main process stays in the foreground; -E: log to stderr; -f/-P/-Y: our config, pid file, runtime dir.
  const args = ['-DD', '-E', '-f', cfg, '-P', pidFile, '-Y', path.join(dir, 'run'), '-m', '32', '-M', '8', '-w', dir];
  const proc: Proc = startProc('kamailio', 'kamailio', args, logFile, { cwd: dir, netns: o.netns, group: true });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!listening(host, o.port, o.netns)) {
      if (proc.exited) throw new Error(`kamailio exited during start-up; its output:\n${proc.tail()}`);
      if (Date.now() > deadline) throw new Error(`kamailio: not listening on ${host}:${o.port} (UDP and TCP) within ${READY_TIMEOUT_MS} ms; its output:\n${proc.tail()}`);
      await sleep(50);
    }
  } catch (e) {
    await proc.stop(3000, 'SIGTERM');
    throw e;
  }
  return {
    host,
    port: o.port,
    address: { host, port: o.port },
    logFile,
    pid: proc.child.pid ?? -1,
    seen: () => parseSeen(proc.text),
    log: () => proc.text,
    stop: () => proc.stop(5000, 'SIGTERM'),
  };
}
