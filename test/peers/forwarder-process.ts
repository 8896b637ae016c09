/**
 * A `tapline forward` child process for end-to-end tests: its config written to a folder, started (inside a
 * network namespace when asked), ready when it logs "forwarder running", its recorders' up/down log lines
 * watched, and its summary (the JSON line it prints when it stops) returned by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI } from '../serve-process';

export interface ForwardSummary {
  captured: number;
  turnControl: number;
  filtered: Record<string, number>;
  kernelDrops: number;
  kernelFilterUpdates: number;
  deployments: Array<{
    id: number;
    forwarded: number;
    failovers: number;
    replayed: number;
    noRecorder: number;
    recorders: Array<{ number: number; up: boolean; packets: number; dropped: { queue: number; down: number; feed: number }; sip: number }>;
  }>;
  sip: { sniffed: number; relayed: number; refused: { notAllowed: number; malformed: number } };
  replayRefused: number;
}

interface LogLine {
  msg?: string;
  level?: string;
}

export class ForwarderProcess {
  private text = '';
  private exit: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    const keep = (c: Buffer): void => {
      this.text += c.toString('utf8');
      if (this.text.length > 4 << 20) this.text = this.text.slice(-(2 << 20));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(dir: string, options: Record<string, unknown>, opts: { netns?: string; name?: string } = {}): Promise<ForwarderProcess> {
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(dir, `${opts.name ?? 'forward'}.config.json`);
    fs.writeFileSync(config, JSON.stringify({ plugins: [{ use: 'forwarder', options }] }, null, 2));
    const argv = [CLI, 'forward', '-c', config, '--log-format', 'json'];
    const [cmd, args] = opts.netns === undefined ? [process.execPath, argv] : ['ip', ['netns', 'exec', opts.netns, process.execPath, ...argv]];
    const p = new ForwarderProcess(spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    await p.waitLog(/forwarder running/, 15_000);
    return p;
  }

  output(): string {
    return this.text.slice(-8000);
  }

  logs(): LogLine[] {
    const out: LogLine[] = [];
    for (const l of this.text.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as LogLine);
      } catch {
        // a partial line
      }
    }
    return out;
  }

  /** Resolves once a log message matches (counting those already written). */
  async waitLog(re: RegExp, ms: number, count = 1): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      if (this.logs().filter((r) => re.test(r.msg ?? '')).length >= count) return;
      if (this.child.exitCode !== null) throw new Error(`tapline forward exited (${this.child.exitCode}) before logging ${re}:\n${this.output()}`);
      if (Date.now() - t0 > ms) throw new Error(`tapline forward did not log ${re} within ${ms} ms:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM, then its summary line. */
  async stop(): Promise<ForwardSummary> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exit;
    clearTimeout(timer);
    const line = this.text.split('\n').find((l) => l.startsWith('{"captured"'));
    if (line === undefined) throw new Error(`tapline forward printed no summary (exit ${code}):\n${this.output()}`);
    return JSON.parse(line) as ForwardSummary;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
