/**
 * SIGHUP on a running `tapline serve`: the users (here a users file) and the policy are read again and apply to the
 * next calls, a call in progress keeps the decision made when it started, nothing is dropped, and a config that
 * has become invalid changes nothing (the running one is kept and the problem logged).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectTcp } from '../ingest-recorder';
import { freePortBlock } from '../peers/ports';
import { sleep } from '../peers/proc';
import { CLI, startServe, type ServeProcess } from '../serve-process';
import { request, response, sdp } from '../sip-text';

const unavailable = fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)';
const describeBuilt = unavailable === undefined ? describe : describe.skip;

describeBuilt('tapline serve: SIGHUP re-reads users and policy', function () {
  this.timeout(60_000);
  let dir: string;
  let serve: ServeProcess | undefined;
  const sockets: Array<{ destroy(): void }> = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-serve-reload-'));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await serve?.stop('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A call's set-up over the feed as plain SIP (INVITE, 200, ACK) from `from`. */
  async function setUp(feed: number, callId: string, from: string): Promise<void> {
    const s = await connectTcp(feed, sockets);
    const o = { callId, from: `<${from}>`, fromTag: `f-${callId}` };
    s.write(request('INVITE', { ...o, body: sdp('10.0.0.1', 4000) }));
    s.write(response(200, 'OK', 'INVITE', { ...o, toTag: `t-${callId}`, body: sdp('10.0.0.2', 5000) }));
    s.write(request('ACK', { ...o, toTag: `t-${callId}` }));
  }

  async function until(what: string, f: () => Promise<boolean>, ms = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!(await f())) {
      if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(50);
    }
  }

  it('a user added to the users file is recorded from the next call; the call in progress is untouched; a broken file changes nothing', async () => {
    const base = await freePortBlock(4);
    const usersFile = path.join(dir, 'users.csv');
    fs.writeFileSync(usersFile, 'uri,name\nsip:alice@example.com,Alice\n');
    serve = await startServe(
      dir,
      {
        plugins: [
          { use: 'source-sipfeed', options: { host: '127.0.0.1', port: base } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: path.join(dir, 'recordings') } },
        ],
        usersFile: 'users.csv',
      },
      base + 1,
    );
    const s = serve;
    await setUp(base, 'alice-1', 'sip:alice@example.com');
    await setUp(base, 'bob-1', 'sip:bob@example.com');
    await until('alice recorded, bob not', async () => (await s.metric('tapline_recordings_started_total')) === 1 && (await s.metric('tapline_calls_not_recorded_total')) === 1);

    fs.writeFileSync(usersFile, 'uri,name\nsip:alice@example.com,Alice\nsip:bob@example.com,Bob\n');
    s.child.kill('SIGHUP');
    await until('the reload is logged', async () => s.logRecords().some((l) => l.msg === 'reload: users: 1 -> 2'));
    await setUp(base, 'bob-2', 'sip:bob@example.com');
    await until('bob recorded now', async () => (await s.metric('tapline_recordings_started_total')) === 2);
    assert.equal(await s.metric('tapline_recordings_active'), 2, "alice's call (in progress since before the reload) is still being recorded");

    // A users file that no longer parses: the running users stay, the problem is logged, the process goes on.
    fs.writeFileSync(usersFile, 'uri,name\nnot a uri,Nobody\n');
    s.child.kill('SIGHUP');
    await until('the refused reload is logged', async () => s.logRecords().some((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP: the config was not reloaded')));
    await setUp(base, 'bob-3', 'sip:bob@example.com');
    await until('bob still recorded', async () => (await s.metric('tapline_recordings_started_total')) === 3);
    assert.equal((await s.get('/healthz')).status, 200);

    const res = await s.stop('SIGTERM');
    assert.equal(res.code, 0);
    assert.ok(res.ms < 5000);
  });
});
