/**
 * The review app inside a running recorder (`tapline serve` with the web plugin): calls in progress as
 * server-sent events, and a user licensed on the admin page recorded from the next call on, without a restart.
 * The calls reach the recorder as a packet forwarder sends them (TFWD over UDP), paced in real time.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TfwdKey } from '../../core/net/tfwd';
import { loadIpPackets, sendForwarded } from '../forward-sender';
import { freePorts, ServeProcess } from '../serve-process';
import { ApiClient, cli, PASSWORDS, run } from '../web-fixture';

const KEY = new TfwdKey(7, Buffer.alloc(32, 0x42));

interface SseEvent {
  event: string;
  data: { key?: string; state?: string; from?: string; recordingId?: string; calls?: unknown[] };
}

/** Reads a text/event-stream into `events` until aborted. */
async function listen(url: string, cookie: string, events: SseEvent[], signal: AbortSignal): Promise<number> {
  const r = await fetch(url, { headers: { cookie }, signal });
  if (r.status !== 200 || r.body === null) return r.status;
  void (async () => {
    let buf = '';
    const dec = new TextDecoder();
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev !== undefined && data !== undefined) events.push({ event: ev, data: JSON.parse(data) as SseEvent['data'] });
        }
      }
    } catch {
      // aborted
    }
  })();
  return 200;
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('web app in tapline serve: live calls and users edited at run time', function () {
  this.timeout(180_000);
  let dir = '';
  let serve: ServeProcess | undefined;
  let webUrl = '';
  let tfwdPort = 0;

  before(async function () {
    if (!fs.existsSync(cli)) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-web-live-'));
    for (const seed of ['1', '2']) {
      const r = run(['generate', '--out', `call${seed}.pcap`, '--calls', '1', '--duration', '5', '--seed', seed], dir);
      assert.equal(r.code, 0, r.err);
    }
    const [ops, web, tfwd] = [...(await freePorts('tcp', 2)), ...(await freePorts('udp', 1))] as [number, number, number];
    tfwdPort = tfwd;
    // Someone else is recorded: caller1's first call is not (an empty list would record every call).
    fs.writeFileSync(path.join(dir, 'users.json'), JSON.stringify({ users: [{ uri: 'sip:caller2@tapline.test', call: true, chat: false }] }));
    const config = path.join(dir, 'tapline.config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        usersFile: 'users.json',
        plugins: [
          { use: 'source-forwarded', options: { tfwd: { host: '127.0.0.1', port: tfwd, allow: ['127.0.0.1/32'] }, keys: { '7': `hex:${'42'.repeat(32)}` } } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: 'rec' } },
          { use: 'web', options: { port: web } },
        ],
        service: { stopTimeoutSec: 5, ops: { host: '127.0.0.1', port: ops } },
      }),
    );
    for (const [name, role, uris] of [['admin', 'admin', ''], ['agent2', 'agent', 'sip:caller2@tapline.test']] as const) {
      const r = run(['web', 'account', 'add', name, '--role', role, ...(uris !== '' ? ['--uris', uris] : []), '--password-env', 'PW', '-c', config], dir, { PW: PASSWORDS[name] });
      assert.equal(r.code, 0, r.err);
    }
    serve = await ServeProcess.start(config, { url: `http://127.0.0.1:${ops}` });
    webUrl = `http://127.0.0.1:${web}`;
  });
  after(async () => {
    await serve?.stop();
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  async function send(pcap: string): Promise<void> {
    const loaded = await loadIpPackets(path.join(dir, pcap), { udpOnly: true });
    await sendForwarded({ packets: loaded.packets, host: '127.0.0.1', port: tfwdPort, rate: 120, key: KEY, sensorId: 1, timestamps: 'send' });
  }

  it('streams a call in progress, then records the next call of a user licensed on the admin page', async () => {
    const admin = await ApiClient.login(webUrl, 'admin');
    const agent = await ApiClient.login(webUrl, 'agent2');
    const cookie = (c: ApiClient): string => (c as unknown as { cookie: string }).cookie;
    const events: SseEvent[] = [];
    const agentEvents: SseEvent[] = [];
    const abort = new AbortController();
    try {
      assert.equal(await listen(`${webUrl}/api/live`, cookie(admin), events, abort.signal), 200);
      assert.equal(await listen(`${webUrl}/api/live`, cookie(agent), agentEvents, abort.signal), 200);
      await until('the snapshot', () => events.some((e) => e.event === 'snapshot'));

      // caller1 holds no licence yet: the call is shown, and not recorded.
      await send('call1.pcap');
      await until('the first call to end', () => events.some((e) => e.event === 'ended'));
      const first = events.filter((e) => e.event === 'call').map((e) => e.data.state);
      assert.ok(first.includes('ringing'), JSON.stringify(first));
      assert.ok(first.includes('not-recorded'), JSON.stringify(first));
      assert.equal((await admin.json<{ items: unknown[] }>('GET', '/api/recordings')).body.items.length, 0);

      // Licensed on the admin page: in effect for the next call, no restart.
      const put = await admin.req('PUT', '/api/users', { uri: 'sip:caller1@tapline.test', call: true, chat: false });
      assert.equal(put.status, 200);
      events.length = 0;
      await send('call2.pcap');
      await until('the second call to end', () => events.some((e) => e.event === 'ended'));
      const states = events.filter((e) => e.event === 'call').map((e) => e.data.state);
      assert.ok(states.includes('recording'), JSON.stringify(states));
      const recId = events.find((e) => e.data.recordingId !== undefined)?.data.recordingId;
      assert.ok(recId !== undefined);
      // Catalogued once storage has closed it (a moment after the call's end).
      let items: Array<{ id: string; status: string }> = [];
      for (let i = 0; i < 100 && !items.some((x) => x.id === recId && x.status === 'complete'); i++) {
        items = (await admin.json<{ items: Array<{ id: string; status: string }> }>('GET', '/api/recordings')).body.items;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(items.some((x) => x.id === recId && x.status === 'complete'), JSON.stringify(items));
      const audio = await admin.req('GET', `/api/recordings/${recId}/audio`, undefined, { range: 'bytes=0-3' });
      assert.equal(audio.status, 206);
      assert.equal(Buffer.from(await audio.arrayBuffer()).toString('latin1'), 'RIFF');
      // The agent (caller2) saw none of caller1's calls.
      assert.deepEqual(agentEvents.filter((e) => e.event !== 'snapshot'), []);
    } finally {
      abort.abort();
    }
  });
});
