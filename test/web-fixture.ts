/**
 * A recorded catalogue and a running review app, as a user gets them: generated Lync calls (SRTP) and IM sessions
 * recorded by `tapline record`, accounts made with `tapline web account add`, and `tapline web` started as its own
 * process on a free loopback port. Shared by the API and browser tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { repoRoot } from './corpus';
import { oneToOne, writeImPcap, type ImUser } from './im-sessions';

export const cli = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

export const PASSWORDS = { admin: 'admin password 1', supervisor: 'supervisor pass 1', agent1: 'agent one pass 1', agent2: 'agent two pass 2', auditor: 'auditor pass 1' } as const;
export type Who = keyof typeof PASSWORDS;

/** The chat's text shows as text, never as markup. */
export const HOSTILE_TEXT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

const CUSTOMER: ImUser = { uri: 'sip:customer@fabrikam.com', name: 'A Customer', ip: '10.20.0.5' };
const AGENT1_IM: ImUser = { uri: 'sip:caller1@tapline.test', name: 'Caller 1', ip: '10.10.0.7' };

export interface WebFixture {
  dir: string;
  config: string;
  url: string;
  proc: ChildProcess;
  log: () => string;
  stop(): Promise<void>;
}

export function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function must(r: { code: number; out: string; err: string }, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.err}${r.out}`);
  return r.out;
}

/** Records the calls and chats and writes the config; the web app is not started. */
export async function recordCatalogue(extraWeb: Record<string, unknown> = {}): Promise<{ dir: string; config: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-web-'));
  must(run(['generate', '--out', 'calls.pcap', '--calls', '3', '--duration', '8', '--lync'], dir), 'generate');
  const im = oneToOne({
    callId: 'web-im-1',
    users: [CUSTOMER, AGENT1_IM],
    t0: Date.UTC(2024, 0, 15, 9, 30) * 1000,
    messages: [
      { from: 0, text: HOSTILE_TEXT },
      { from: 1, text: 'Hello, how can I help?', gapSec: 4 },
    ],
  });
  await writeImPcap(path.join(dir, 'im.pcap'), im.wire);
  fs.writeFileSync(path.join(dir, 'users.json'), JSON.stringify({ users: [{ uri: 'sip:caller3@tapline.test', call: true, chat: false }] }, null, 2));
  const config = path.join(dir, 'tapline.config.json');
  fs.writeFileSync(
    config,
    JSON.stringify(
      {
        users: [
          { uri: 'sip:caller1@tapline.test', call: true, chat: true, name: 'Caller 1' },
          { uri: 'sip:caller2@tapline.test', call: true, chat: false },
        ],
        usersFile: 'users.json',
        plugins: [
          { use: 'chat' },
          { use: 'codec-g711' },
          { use: 'codec-telephone-event' },
          { use: 'codec-cn' },
          { use: '@tapline/codec-opus' },
          { use: 'storage-local', options: { dir: 'rec' } },
          { use: 'web', options: { port: 0, ...extraWeb } },
        ],
      },
      null,
      2,
    ),
  );
  must(run(['record', '--pcap', 'calls.pcap', 'im.pcap', '--no-progress', '--json', '-c', config], dir), 'record');
  const accounts: Array<[Who, string[]]> = [
    ['admin', ['--role', 'admin']],
    ['supervisor', ['--role', 'supervisor', '--teams', 'sales']],
    ['agent1', ['--role', 'agent', '--uris', 'sip:caller1@tapline.test', '--teams', 'sales']],
    ['agent2', ['--role', 'agent', '--uris', 'sip:caller2@tapline.test', '--teams', 'support']],
    ['auditor', ['--role', 'auditor']],
  ];
  for (const [name, args] of accounts) must(run(['web', 'account', 'add', name, ...args, '--password-env', 'PW', '-c', config], dir, { PW: PASSWORDS[name] }), `account ${name}`);
  return { dir, config };
}

/** Starts `tapline web` (or the given command) and waits for the URL it prints. */
export async function startWeb(dir: string, config: string, args: string[] = ['web']): Promise<WebFixture> {
  const proc = spawn(process.execPath, [cli, ...args, '-c', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tapline ${args[0] ?? ''} printed no URL in 20 s:\n${out}`)), 20_000);
    const check = (): void => {
      const m = /review app at (https?:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tapline ${args[0] ?? ''} exited (${String(code)}):\n${out}`));
    });
  });
  return {
    dir,
    config,
    url,
    proc,
    log: () => out,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/** A logged-in API client (cookie + CSRF), or one with a bearer token. */
export class ApiClient {
  private cookie = '';
  csrf = '';

  constructor(readonly base: string, private token?: string) {}

  static async login(base: string, who: Who): Promise<ApiClient> {
    const c = new ApiClient(base);
    const r = await c.req('POST', '/api/login', { username: who, password: PASSWORDS[who] });
    if (r.status !== 200) throw new Error(`login ${who}: ${r.status} ${await r.text()}`);
    c.csrf = ((await r.json()) as { csrf: string }).csrf;
    return c;
  }

  async req(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const h: Record<string, string> = { ...headers };
    if (this.token !== undefined) h['authorization'] = `Bearer ${this.token}`;
    if (this.cookie !== '') h['cookie'] = this.cookie;
    if (this.csrf !== '' && method !== 'GET' && h['x-csrf-token'] === undefined) h['x-csrf-token'] = this.csrf;
    if (body !== undefined) h['content-type'] = 'application/json';
    const r = await fetch(this.base + p, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), redirect: 'manual' });
    const set = r.headers.getSetCookie();
    for (const c of set) if (c.startsWith('tapline_session=')) this.cookie = c.split(';')[0] as string;
    return r;
  }

  async json<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const r = await this.req(method, p, body);
    const text = await r.text();
    return { status: r.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }
}
