/**
 * Child processes for the peer harnesses (baresip, dumpcap, kamailio, tcpdump): output logged to a file and kept for
 * waiting on log lines, a stop that escalates to SIGKILL, and a last-resort kill when the test runner exits.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a program is on PATH. */
export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Strips baresip's carriage-return status lines and colour codes so the output stays readable in an error. */
function readable(text: string): string {
  return text
    .replace(/\r[^\n]*(?=\r|\n|$)/g, '')
    .replace(/\[0:\d\d:\d\d\] audio=\S+ \(bit\/s\)\s*/g, '')
    .replace(/\x1b\[[0-9;]*m|\[;?m|\[31m/g, '');
}

const EXIT_TIMEOUT_MS = 5_000;

/** A child process whose output is logged to a file and kept for waiting on log lines. */
export class Proc {
  text = '';
  exited = false;
  readonly exit: Promise<void>;
  private readonly log: fs.WriteStream;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    logFile: string,
    /** Spawned as the leader of its own process group: stop() also kills what it forked (kamailio's workers). */
    private readonly group = false,
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

  /**
   * Resolves when `pattern` appears in the output after character `from` (so a second call can wait for its own
   * "Call established"); rejects on timeout or if the process exits first.
   */
  async waitFor(pattern: RegExp, timeoutMs: number, what: string, from = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text.slice(from))) {
      if (this.exited) throw new Error(`${this.name} exited before ${what}; its output:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; its output:\n${this.tail()}`);
      await sleep(50);
    }
  }

  tail(lines = 40): string {
    return readable(this.text).split('\n').slice(-lines).join('\n');
  }

  /** `signal` (SIGINT: baresip sends BYE and quits, dumpcap finishes its file), then SIGKILL after a grace period. */
  async stop(graceMs = EXIT_TIMEOUT_MS, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
    if (!this.exited) {
      this.child.kill(signal);
      const ok = await Promise.race([this.exit.then(() => true), sleep(graceMs).then(() => false)]);
      if (!ok) {
        this.child.kill('SIGKILL');
        await Promise.race([this.exit, sleep(2000)]);
      }
    }
    // The leader may be gone while its children linger (a crashed kamailio main process leaves its workers).
    if (this.group) killGroup(this.child.pid, 'SIGKILL');
    live.delete(this.child);
    // Open stdin pipes would keep the test runner alive.
    this.child.stdin?.destroy();
    return new Promise((resolve) => this.log.end(resolve));
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

const live = new Map<ChildProcess, boolean>();
let exitHookInstalled = false;
/** If the test runner dies mid-test, no peer may outlive it (it would hold the ports and namespaces). */
function track(child: ChildProcess, group: boolean): void {
  live.set(child, group);
  child.once('exit', () => {
    // A group leader's exit does not mean its workers are gone; keep those for the exit hook.
    if (!group) live.delete(child);
  });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [c, g] of live) {
        if (g) killGroup(c.pid, 'SIGKILL');
        else c.kill('SIGKILL');
      }
    });
  }
}

export interface StartOptions {
  cwd?: string;
  /** Run inside this network namespace (`ip netns exec NS cmd …`: exec, so the pid is the program's own). */
  netns?: string;
  /** Own process group, killed as a whole by stop() and at exit (for programs that fork workers). */
  group?: boolean;
  /** Run as this user and group (a server that refuses root: PostgreSQL). */
  uid?: number;
  gid?: number;
}

/** Spawns `cmd args` with stdin/stdout/stderr as pipes, output logged to `logFile`, killed when the runner exits. */
export function startProc(name: string, cmd: string, args: readonly string[], logFile: string, opts: StartOptions = {}): Proc {
  const [file, argv] = opts.netns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', opts.netns, cmd, ...args]];
  const so: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'], detached: opts.group ?? false };
  if (opts.cwd !== undefined) so.cwd = opts.cwd;
  if (opts.uid !== undefined) so.uid = opts.uid;
  if (opts.gid !== undefined) so.gid = opts.gid;
  const child = spawn(file, argv, so);
  track(child, opts.group ?? false);
  return new Proc(name, child, logFile, opts.group ?? false);
}

/**
 * dumpcap on `iface` (inside `netns` when given) writing `file` (pcap when it ends in .pcap, else pcapng), resolved
 * once it says "Capturing on": from then on nothing that matches `filter` is missed. Stop it with stop() (SIGINT).
 */
export async function startCapture(o: { iface: string; filter: string; file: string; logFile: string; netns?: string }): Promise<Proc> {
  const args = ['-i', o.iface, '-f', o.filter, '-w', o.file, ...(o.file.endsWith('.pcap') ? ['-P'] : [])];
  const cap = startProc('dumpcap', 'dumpcap', args, o.logFile, { netns: o.netns });
  try {
    await cap.waitFor(/Capturing on/, 10_000, 'capture start (capturing needs root or CAP_NET_RAW)');
  } catch (e) {
    await cap.stop();
    throw e;
  }
  await sleep(200);
  return cap;
}
