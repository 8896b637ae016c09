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
    for (const seed of ['1', '2', '3', '4']) {
      const r = run(['generate', '--out', `call${seed}.pcap`, '--calls', '1', '--duration', seed >= '3' ? '8' : '5', '--seed', seed], dir);
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
    // 100 packets a second: the calls' own rate (50 RTP packets a second each way), so capture time and audio time agree.
    await sendForwarded({ packets: loaded.packets, host: '127.0.0.1', port: tfwdPort, rate: 100, key: KEY, sensorId: 1, deploymentId: 7, timestamps: 'send' });
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
      // The forwarder's deployment (tenant) is kept with the recording (retention rules by deployment use it).
      const got = await admin.json<{ metadata: { deployments?: number[] } }>('GET', `/api/recordings/${recId}`);
      assert.deepEqual(got.body.metadata.deployments, [7]);
      const expiredBy = (rule: Record<string, unknown>): string[] => {
        const cfg = path.join(dir, `retention-${String(rule.deployment)}.json`);
        fs.writeFileSync(cfg, JSON.stringify({ plugins: [{ use: 'storage-local', options: { dir: 'rec', retention: { rules: [rule], auto: false } } }] }));
        const at = new Date(Date.now() + 3 * 86_400_000).toISOString();
        const r = run(['retention', '--dry-run', '--at', at, '--json', '-c', cfg], dir);
        assert.equal(r.code, 0, r.err);
        return (JSON.parse(r.out) as { expired: Array<{ id: string }> }).expired.map((e) => e.id);
      };
      assert.deepEqual(expiredBy({ days: 1, deployment: 7 }), [recId], "a rule for this recording's deployment expires it");
      assert.deepEqual(expiredBy({ days: 1, deployment: 8 }), [], "another deployment's rule does not");
      const audio = await admin.req('GET', `/api/recordings/${recId}/audio`, undefined, { range: 'bytes=0-3' });
      assert.equal(audio.status, 206);
      assert.equal(Buffer.from(await audio.arrayBuffer()).toString('latin1'), 'RIFF');
      // The agent (caller2) saw none of caller1's calls.
      assert.deepEqual(agentEvents.filter((e) => e.event !== 'snapshot'), []);
      // The users file changed by another process (`tapline web` beside the recorder writes it so): the running
      // recorder re-reads it within a second or two.
      const file = path.join(dir, 'users.json');
      const users = JSON.parse(fs.readFileSync(file, 'utf8')) as { users: Array<Record<string, unknown>> };
      users.users.push({ uri: 'sip:elsewhere@tapline.test', call: true, chat: false });
      fs.writeFileSync(file, JSON.stringify(users));
      let seen = false;
      for (let i = 0; i < 60 && !seen; i++) {
        seen = (await admin.json<{ items: Array<{ uri: string }> }>('GET', '/api/users')).body.items.some((u) => u.uri === 'sip:elsewhere@tapline.test');
        if (!seen) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(seen, 'the recorder took the changed users file');
    } finally {
      abort.abort();
    }
  });
  it('pauses and resumes a recording on demand (silence, marked), stops one and starts another', async () => {
    const admin = await ApiClient.login(webUrl, 'admin');
    const agent = await ApiClient.login(webUrl, 'agent2');
    const events: SseEvent[] = [];
    const abort = new AbortController();
    const cookie = (admin as unknown as { cookie: string }).cookie;
    try {
      await listen(`${webUrl}/api/live`, cookie, events, abort.signal);
      const control = async (action: string): Promise<{ status: number; body: { recordingId?: string; state?: string; error?: string } }> => {
        const key = events.find((e) => e.event === 'call')?.data.key ?? '';
        return admin.json('POST', `/api/live/${encodeURIComponent(key)}/${action}`);
      };
      const sending = send('call3.pcap');
      await until('the call to be recorded', () => events.some((e) => e.data.state === 'recording'));
      await new Promise((r) => setTimeout(r, 1500));
      const key = events.find((e) => e.event === 'call')?.data.key ?? '';
      assert.equal((await agent.req('POST', `/api/live/${encodeURIComponent(key)}/pause`)).status, 403, 'agents do not control recordings');
      const paused = await control('pause');
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      assert.equal(paused.body.state, 'paused');
      await until('the live view to say paused', () => events.some((e) => e.data.state === 'paused'));
      assert.equal((await control('pause')).status, 409, 'already paused');
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal((await control('resume')).body.state, 'recording');
      await sending;
      await until('the call to end', () => events.some((e) => e.event === 'ended'));
      const id = paused.body.recordingId as string;
      let meta: { pauses?: Array<{ start: string; end?: string; by: string }>; audio?: { start: string; sampleRate: number } } = {};
      for (let i = 0; i < 100; i++) {
        const r = await admin.json<{ metadata: typeof meta; recording: { status: string; flags: string[] }; events: Array<{ kind: string }> }>('GET', `/api/recordings/${id}`);
        if (r.status === 200 && r.body.recording.status === 'complete') {
          meta = r.body.metadata;
          assert.ok(r.body.recording.flags.includes('paused'));
          assert.deepEqual(r.body.events.filter((e) => e.kind === 'pause' || e.kind === 'resume').map((e) => e.kind), ['pause', 'resume']);
          break;
        }
        await new Promise((r2) => setTimeout(r2, 100));
      }
      assert.equal(meta.pauses?.length, 1, JSON.stringify(meta));
      assert.equal(meta.pauses?.[0]?.by, 'admin');
      // The paused stretch of the audio is silence on both channels; the audio before it is not.
      const wav = Buffer.from(await (await admin.req('GET', `/api/recordings/${id}/audio?format=wav`)).arrayBuffer());
      const rate = meta.audio?.sampleRate ?? 8000;
      const t0 = Date.parse(meta.audio?.start ?? '');
      const sec = (iso: string): number => (Date.parse(iso) - t0) / 1000;
      const peak = (from: number, to: number): number => {
        let m = 0;
        for (let f = Math.max(0, Math.floor(from * rate)); f < Math.floor(to * rate) && 44 + f * 4 + 3 < wav.length; f++) m = Math.max(m, Math.abs(wav.readInt16LE(44 + f * 4)), Math.abs(wav.readInt16LE(44 + f * 4 + 2)));
        return m;
      };
      const ps = sec(meta.pauses?.[0]?.start ?? '');
      const pe = sec(meta.pauses?.[0]?.end ?? '');
      assert.ok(pe - ps > 1.5, `paused ${ps}..${pe}`);
      assert.equal(peak(ps + 0.3, pe - 0.3), 0, 'silence while paused');
      assert.ok(peak(0, ps - 0.3) > 100, 'audio before the pause');
      assert.ok(peak(pe + 0.3, pe + 1.5) > 100, 'audio after it');
      assert.deepEqual((await admin.json<{ items: Array<{ id: string }> }>('GET', '/api/recordings?flag=paused')).body.items.map((r) => r.id), [id]);

      // Stop, then start again: two recordings of one call, each saying so.
      events.length = 0;
      const sending4 = send('call4.pcap');
      await until('the call to be recorded', () => events.some((e) => e.data.state === 'recording'));
      await new Promise((r) => setTimeout(r, 1000));
      const stopped = await control('stop');
      assert.equal(stopped.body.state, 'stopped');
      await until('the live view to say not recorded', () => events.some((e) => e.data.state === 'not-recorded'));
      assert.equal((await control('stop')).status, 409);
      await new Promise((r) => setTimeout(r, 1000));
      const started = await control('start');
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.notEqual(started.body.recordingId, stopped.body.recordingId);
      await sending4;
      await until('the call to end', () => events.some((e) => e.event === 'ended'));
      const flagsOf = async (rid: string): Promise<string[]> => {
        for (let i = 0; i < 100; i++) {
          const r = await admin.json<{ recording: { status: string; flags: string[] } }>('GET', `/api/recordings/${rid}`);
          if (r.status === 200 && r.body.recording.status === 'complete') return r.body.recording.flags;
          await new Promise((r2) => setTimeout(r2, 100));
        }
        return [];
      };
      assert.ok((await flagsOf(stopped.body.recordingId as string)).includes('stopped'));
      assert.ok((await flagsOf(started.body.recordingId as string)).includes('started-on-demand'));
      const audit = await admin.json<{ items: Array<{ action: string; actor: string }> }>('GET', '/api/audit?limit=50');
      for (const a of ['pause', 'resume', 'stop', 'start']) assert.ok(audit.body.items.some((e) => e.action === a && e.actor === 'admin'), `audit ${a}`);
    } finally {
      abort.abort();
    }
  });
});
