/**
 * The review app's HTTP API against `tapline web` running as its own process over a catalogue `tapline record`
 * made: every route, Range requests, and what each role may reach.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { ApiClient, cli, HOSTILE_TEXT, recordCatalogue, run, startWeb, type WebFixture } from '../web-fixture';

interface Row {
  id: string;
  from: string;
  to: string;
  start: string;
  durationSec: number;
  direction: string;
  codecs: string[];
  flags: string[];
  tags: string[];
}
interface Page {
  items: Row[];
  next?: string;
}

describe('web API (tapline web over a recorded catalogue)', function () {
  this.timeout(180_000);
  let web: WebFixture;
  let admin: ApiClient;
  let byCaller: Map<string, Row>;

  before(async function () {
    if (!fs.existsSync(cli)) this.skip();
    const { dir, config } = await recordCatalogue();
    web = await startWeb(dir, config);
    admin = await ApiClient.login(web.url, 'admin');
    const all = await admin.json<Page>('GET', '/api/recordings');
    byCaller = new Map(all.body.items.map((r) => [r.from, r]));
  });
  after(async () => {
    await web?.stop();
    if (web !== undefined) fs.rmSync(web.dir, { recursive: true, force: true });
  });

  const rec = (n: number): Row => {
    const r = byCaller.get(`sip:caller${n}@tapline.test`);
    if (r === undefined) throw new Error(`no recording of caller${n}`);
    return r;
  };

  it('answers nothing but the page and the login without a session or token', async () => {
    const anon = new ApiClient(web.url);
    for (const p of ['/api/recordings', `/api/recordings/${rec(1).id}`, `/api/recordings/${rec(1).id}/audio`, '/api/chats', '/api/audit', '/api/users', '/api/openapi.json', '/api/live', '/api/accounts']) {
      const r = await anon.req('GET', p);
      assert.equal(r.status, 401, p);
      assert.equal(((await r.json()) as { code: string }).code, 'UNAUTHENTICATED');
    }
    assert.equal((await anon.req('GET', '/')).status, 200);
    const js = await anon.req('GET', '/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal((await anon.req('GET', '/assets/../../package.json')).status, 401);
    assert.equal((await anon.req('GET', '/api/session')).status, 401);
    const bad = await new ApiClient(web.url, 'tpl_not-a-token').req('GET', '/api/recordings');
    assert.equal(bad.status, 401);
  });

  it('searches by every filter, sorts, and pages with a cursor', async () => {
    const q = async (s: string): Promise<Row[]> => {
      const r = await admin.json<Page>('GET', `/api/recordings?${s}`);
      assert.equal(r.status, 200, s);
      return r.body.items;
    };
    assert.equal((await q('')).length, 3);
    assert.deepEqual((await q('user=CALLER2')).map((r) => r.from), ['sip:caller2@tapline.test']);
    assert.deepEqual((await q('party=callee3')).map((r) => r.to), ['sip:callee3@tapline.test']);
    const start2 = rec(2).start;
    assert.deepEqual((await q(`from=${encodeURIComponent(start2)}&to=${encodeURIComponent(new Date(Date.parse(start2) + 1).toISOString())}`)).map((r) => r.id), [rec(2).id]);
    assert.equal((await q('direction=outbound')).length, 3, 'the callers are recorded users');
    assert.equal((await q('direction=inbound')).length, 0);
    assert.equal((await q('disposition=answered')).length, 3);
    assert.equal((await q('minDuration=7&maxDuration=9')).length, 3);
    assert.equal((await q('minDuration=9')).length, 0);
    assert.equal((await q('codec=pcmu')).length, 3);
    assert.equal((await q('codec=G722')).length, 0);
    assert.equal((await q('flag=srtp')).length, 3);
    assert.equal((await q('flag=srtp&flag=not-decrypted')).length, 0);
    // Cursor pages: every recording once, newest first.
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const r = await admin.json<Page>('GET', `/api/recordings?limit=1${next !== undefined ? `&cursor=${next}` : ''}`);
      assert.ok(r.body.items.length <= 1);
      seen.push(...r.body.items.map((i) => i.id));
      next = r.body.next;
    } while (next !== undefined);
    assert.deepEqual(seen, (await q('')).map((r) => r.id));
    const asc = await q('sort=start&order=asc');
    assert.deepEqual(asc.map((r) => r.id), [...seen].reverse());
    for (const bad of ['from=yesterday', 'limit=0', 'limit=501', 'cursor=%%%', 'direction=sideways', 'sort=size']) {
      const r = await admin.json<{ error: string; code: string }>('GET', `/api/recordings?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.code, 'BAD_REQUEST');
      assert.ok(r.body.error.length > 0);
    }
  });

  it('gives a recording with its metadata, timeline events, notes and audio forms', async () => {
    const r = await admin.json<{ recording: Row; metadata: { id: string; audio: { channels: number } }; events: unknown[]; sip: boolean; notes: unknown[]; audio: { wav: boolean; ogg: boolean } }>('GET', `/api/recordings/${rec(1).id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.recording.id, rec(1).id);
    assert.equal(r.body.metadata.id, rec(1).id);
    assert.equal(r.body.metadata.audio.channels, 2);
    assert.deepEqual(r.body.audio, { wav: true, ogg: true });
    assert.ok(Array.isArray(r.body.events));
    assert.equal(typeof r.body.sip, 'boolean');
    assert.equal((await admin.req('GET', '/api/recordings/no-such-id')).status, 404);
  });

  it('serves audio with HTTP Range: first, middle and last bytes, 416 beyond the end', async () => {
    const id = rec(1).id;
    const full = await admin.req('GET', `/api/recordings/${id}/audio?format=wav`);
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    assert.equal(full.headers.get('content-type'), 'audio/wav');
    const bytes = Buffer.from(await full.arrayBuffer());
    const onDisk = fs.readFileSync(execOut(['recordings', 'show', id, '-c', web.config], web.dir).match(/(\/\S+audio\.wav)/)?.[1] ?? '');
    assert.ok(bytes.equals(onDisk), 'the WAV served is the WAV stored');
    assert.equal(bytes.toString('latin1', 0, 4), 'RIFF');
    const part = async (range: string): Promise<{ status: number; body: Buffer; contentRange: string | null }> => {
      const r = await admin.req('GET', `/api/recordings/${id}/audio?format=wav`, undefined, { range });
      return { status: r.status, body: Buffer.from(await r.arrayBuffer()), contentRange: r.headers.get('content-range') };
    };
    const first = await part('bytes=0-43');
    assert.equal(first.status, 206);
    assert.equal(first.contentRange, `bytes 0-43/${bytes.length}`);
    assert.ok(first.body.equals(bytes.subarray(0, 44)));
    const middle = await part('bytes=10000-19999');
    assert.equal(middle.status, 206);
    assert.ok(middle.body.equals(bytes.subarray(10000, 20000)));
    const last = await part('bytes=-100');
    assert.equal(last.contentRange, `bytes ${bytes.length - 100}-${bytes.length - 1}/${bytes.length}`);
    assert.ok(last.body.equals(bytes.subarray(bytes.length - 100)));
    const open = await part(`bytes=${bytes.length - 10}-`);
    assert.ok(open.body.equals(bytes.subarray(bytes.length - 10)));
    const beyond = await part(`bytes=${bytes.length}-`);
    assert.equal(beyond.status, 416);
    assert.equal(beyond.contentRange, `bytes */${bytes.length}`);

    const ogg = await admin.req('GET', `/api/recordings/${id}/audio?format=ogg&download=1`);
    assert.equal(ogg.status, 200);
    assert.equal(ogg.headers.get('content-type'), 'audio/ogg');
    assert.match(ogg.headers.get('content-disposition') ?? '', /^attachment; filename=".+\.opus"$/);
    const oggBytes = Buffer.from(await ogg.arrayBuffer());
    assert.ok(oggBytes.length < bytes.length / 3, 'Ogg Opus is smaller than the PCM');
    const file = path.join(web.dir, 'play.opus');
    fs.writeFileSync(file, oggBytes);
    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,channels:format=duration', '-of', 'json', file], { encoding: 'utf8' });
    const info = JSON.parse(probe.stdout) as { streams: Array<{ codec_name: string; channels: number }>; format: { duration: string } };
    assert.equal(info.streams[0]?.codec_name, 'opus');
    assert.equal(info.streams[0]?.channels, 2);
    assert.ok(Math.abs(Number(info.format.duration) - rec(1).durationSec) < 0.1, `duration ${info.format.duration}`);
    const oggTail = await admin.req('GET', `/api/recordings/${id}/audio?format=ogg`, undefined, { range: 'bytes=-10' });
    assert.equal(oggTail.status, 206);
    assert.ok(Buffer.from(await oggTail.arrayBuffer()).equals(oggBytes.subarray(oggBytes.length - 10)));
  });

  it('gives waveform peaks for both channels', async () => {
    const p = await admin.json<{ peaksPerSec: number; durationSec: number; channels: number[][] }>('GET', `/api/recordings/${rec(2).id}/peaks`);
    assert.equal(p.status, 200);
    assert.equal(p.body.channels.length, 2);
    assert.ok(Math.abs(p.body.durationSec - rec(2).durationSec) < 0.1);
    for (const ch of p.body.channels) {
      assert.ok(Math.abs(ch.length - p.body.durationSec * p.body.peaksPerSec) <= 1);
      assert.ok(Math.max(...ch) > 0.01 && Math.max(...ch) <= 1, 'audio, within 0..1');
    }
  });

  it('keeps each role to its own: agents theirs, supervisors their teams, auditors the audit log', async () => {
    const agent1 = await ApiClient.login(web.url, 'agent1');
    const agent2 = await ApiClient.login(web.url, 'agent2');
    const supervisor = await ApiClient.login(web.url, 'supervisor');
    const auditor = await ApiClient.login(web.url, 'auditor');
    const ids = async (c: ApiClient): Promise<string[]> => (await c.json<Page>('GET', '/api/recordings')).body.items.map((r) => r.from).sort();
    assert.deepEqual(await ids(agent1), ['sip:caller1@tapline.test']);
    assert.deepEqual(await ids(agent2), ['sip:caller2@tapline.test']);
    assert.deepEqual(await ids(supervisor), ['sip:caller1@tapline.test'], "the sales team's member");
    for (const p of [`/api/recordings/${rec(2).id}`, `/api/recordings/${rec(2).id}/audio`, `/api/recordings/${rec(2).id}/peaks`, `/api/recordings/${rec(2).id}/sip`]) {
      assert.equal((await agent1.req('GET', p)).status, 404, `agent1 ${p}`);
      assert.equal((await supervisor.req('GET', p)).status, 404, `supervisor ${p}`);
    }
    assert.equal((await agent1.req('GET', `/api/recordings/${rec(1).id}/audio`)).status, 200);
    assert.equal((await agent1.req('POST', '/api/export', { ids: [rec(1).id, rec(2).id] })).status, 404);
    assert.equal((await agent1.req('PUT', `/api/recordings/${rec(2).id}/tags`, { tags: ['x'] })).status, 404);
    assert.equal((await auditor.req('GET', '/api/recordings')).status, 403);
    assert.equal((await auditor.req('GET', `/api/recordings/${rec(1).id}`)).status, 403);
    assert.equal((await auditor.req('GET', '/api/chats')).status, 403);
    assert.equal((await auditor.req('GET', '/api/audit')).status, 200);
    for (const c of [agent1, supervisor]) {
      assert.equal((await c.req('GET', '/api/audit')).status, 403);
      for (const p of ['/api/users', '/api/accounts', '/api/policy']) assert.equal((await c.req('GET', p)).status, 403, p);
      assert.equal((await c.req('POST', '/api/accounts', { username: 'mallory', role: 'admin', password: 'mallory password' })).status, 403);
    }
    assert.equal((await auditor.req('GET', '/api/users')).status, 403);
    // Chats: the agent took part in the one chat; the other agent did not.
    assert.equal((await agent1.json<{ items: unknown[] }>('GET', '/api/chats')).body.items.length, 1);
    assert.equal((await agent2.json<{ items: unknown[] }>('GET', '/api/chats')).body.items.length, 0);
  });

  it('needs the CSRF header for unsafe requests with a cookie; a bearer token needs none', async () => {
    const id = rec(1).id;
    const noCsrf = await admin.req('PUT', `/api/recordings/${id}/tags`, { tags: ['a'] }, { 'x-csrf-token': 'wrong' });
    assert.equal(noCsrf.status, 403);
    const cross = await admin.req('PUT', `/api/recordings/${id}/tags`, { tags: ['a'] }, { origin: 'https://evil.example' });
    assert.equal(cross.status, 403);
    const tok = await admin.json<{ token: string }>('POST', '/api/tokens', { name: 'test' });
    assert.equal(tok.status, 200);
    const bearer = new ApiClient(web.url, tok.body.token);
    assert.equal((await bearer.req('GET', '/api/recordings')).status, 200);
    assert.equal((await bearer.req('PUT', `/api/recordings/${id}/tags`, { tags: ['escalation', 'quality'] })).status, 200);
  });

  it('keeps tags and notes, filters by tag, and saves searches', async () => {
    const id = rec(3).id;
    const t = await admin.json<{ tags: string[] }>('PUT', `/api/recordings/${id}/tags`, { tags: ['complaint', 'complaint', ' vip '] });
    assert.deepEqual(t.body.tags, ['complaint', 'vip']);
    assert.deepEqual((await admin.json<Page>('GET', '/api/recordings?tag=complaint')).body.items.map((r) => r.id), [id]);
    assert.deepEqual((await admin.json<Page>('GET', '/api/recordings?tag=complaint')).body.items[0]?.tags, ['complaint', 'vip']);
    assert.equal((await admin.req('PUT', `/api/recordings/${id}/tags`, { tags: ['a,b'] })).status, 400);
    const n = await admin.json<{ id: number; author: string; text: string }>('POST', `/api/recordings/${id}/notes`, { text: 'Customer asked for a refund' });
    assert.equal(n.body.author, 'admin');
    const got = await admin.json<{ notes: Array<{ text: string }> }>('GET', `/api/recordings/${id}`);
    assert.deepEqual(got.body.notes.map((x) => x.text), ['Customer asked for a refund']);
    const s = await admin.json<{ id: number }>('POST', '/api/searches', { name: 'complaints', query: { tag: 'complaint', flag: ['srtp'] } });
    assert.equal(s.status, 200);
    assert.deepEqual((await admin.json<{ items: Array<{ name: string }> }>('GET', '/api/searches')).body.items.map((x) => x.name), ['complaints']);
    const agent1 = await ApiClient.login(web.url, 'agent1');
    assert.deepEqual((await agent1.json<{ items: unknown[] }>('GET', '/api/searches')).body.items, [], 'saved searches are per user');
    assert.equal((await agent1.req('DELETE', `/api/searches/${s.body.id}`)).status, 404);
    assert.equal((await admin.req('DELETE', `/api/searches/${s.body.id}`)).status, 204);
  });

  it('exports a selection as a zip of audio, metadata and SIP', async () => {
    const r = await admin.req('POST', '/api/export', { ids: [rec(1).id, rec(2).id] });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/zip');
    const zip = path.join(web.dir, 'export.zip');
    fs.writeFileSync(zip, Buffer.from(await r.arrayBuffer()));
    const list = spawnSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print("\\n".join(sorted(z.namelist())))', zip], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const names = list.stdout.trim().split('\n');
    for (const id of [rec(1).id, rec(2).id]) {
      assert.ok(names.includes(`${id}/audio.wav`), names.join(' '));
      assert.ok(names.includes(`${id}/metadata.json`));
    }
    assert.equal((await admin.req('POST', '/api/export', { ids: [] })).status, 400);
  });

  it('shows a chat transcript with its text as sent (markup is text)', async () => {
    const list = await admin.json<{ items: Array<{ id: string; messages: number; participants: string[] }> }>('GET', '/api/chats');
    assert.equal(list.body.items.length, 1);
    const c = list.body.items[0];
    assert.equal(c?.messages, 2);
    const t = await admin.json<{ transcript: { messages: Array<{ text: string; author: { uri: string } }> } }>('GET', `/api/chats/${c?.id ?? ''}`);
    assert.equal(t.body.transcript.messages[0]?.text, HOSTILE_TEXT);
    assert.equal(t.body.transcript.messages[0]?.author.uri, 'sip:customer@fabrikam.com');
    assert.equal((await admin.req('GET', '/api/chats/nope')).status, 404);
  });

  it('edits recorded users in the users file (config users stay read-only) and manages accounts', async () => {
    const u = await admin.json<{ items: Array<{ uri: string; editable: boolean }>; editable: boolean }>('GET', '/api/users');
    assert.equal(u.body.editable, true);
    assert.deepEqual(u.body.items.map((x) => [x.uri, x.editable]).sort(), [
      ['sip:caller1@tapline.test', false],
      ['sip:caller2@tapline.test', false],
      ['sip:caller3@tapline.test', true],
    ]);
    assert.equal((await admin.req('PUT', '/api/users', { uri: 'sip:new@tapline.test', call: true, chat: true, recorder: 2 })).status, 200);
    const file = JSON.parse(fs.readFileSync(path.join(web.dir, 'users.json'), 'utf8')) as { users: Array<{ uri: string; recorder?: number }> };
    assert.deepEqual(file.users.map((x) => x.uri), ['sip:caller3@tapline.test', 'sip:new@tapline.test']);
    assert.equal((await admin.json<{ items: unknown[] }>('GET', '/api/users')).body.items.length, 4, 'in effect at once');
    const cfgUser = await admin.json<{ error: string }>('PUT', '/api/users', { uri: 'sip:caller1@tapline.test', call: false, chat: false });
    assert.equal(cfgUser.status, 409);
    assert.match(cfgUser.body.error, /config file itself/);
    assert.equal((await admin.req('PUT', '/api/users', { uri: 'not a uri', call: true, chat: false })).status, 409);
    assert.equal((await admin.req('DELETE', '/api/users?uri=sip:new@tapline.test')).status, 204);
    assert.equal((await admin.req('DELETE', '/api/users?uri=sip:new@tapline.test')).status, 404);

    const made = await admin.json<{ username: string; role: string }>('POST', '/api/accounts', { username: 'carol', role: 'agent', password: 'carol password', uris: ['sip:caller3@tapline.test'] });
    assert.equal(made.status, 200);
    const carol = new ApiClient(web.url);
    const lr = await carol.req('POST', '/api/login', { username: 'carol', password: 'carol password' });
    assert.equal(lr.status, 200);
    assert.deepEqual((await carol.json<Page>('GET', '/api/recordings')).body.items.map((r) => r.from), ['sip:caller3@tapline.test']);
    assert.equal((await admin.req('PATCH', '/api/accounts/carol', { role: 'auditor' })).status, 200);
    assert.equal((await carol.req('GET', '/api/recordings')).status, 401, 'a changed role ends the sessions made under the old one');
    assert.equal((await admin.req('PATCH', '/api/accounts/admin', { role: 'agent' })).status, 409);
    assert.equal((await admin.req('DELETE', '/api/accounts/admin')).status, 409);
    assert.equal((await admin.req('DELETE', '/api/accounts/carol')).status, 204);
    assert.equal((await admin.req('POST', '/api/accounts', { username: 'weak', role: 'agent', password: 'short' })).status, 400);
    const policy = await admin.json<{ recorderId: number; plugins: Array<{ use: string }> }>('GET', '/api/policy');
    assert.equal(policy.body.recorderId, 1);
    assert.ok(policy.body.plugins.some((p) => p.use === 'storage-local'));
  });

  it('describes every route in the OpenAPI document', async () => {
    const doc = await admin.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>('GET', '/api/openapi.json');
    assert.equal(doc.status, 200);
    assert.match(doc.body.openapi, /^3\./);
    for (const p of ['/api/login', '/api/session', '/api/recordings', '/api/recordings/{id}', '/api/recordings/{id}/audio', '/api/recordings/{id}/peaks', '/api/recordings/{id}/sip', '/api/recordings/{id}/tags', '/api/recordings/{id}/notes', '/api/export', '/api/chats', '/api/chats/{id}', '/api/live', '/api/searches', '/api/users', '/api/accounts', '/api/accounts/{username}', '/api/policy', '/api/audit', '/api/tokens']) {
      assert.ok(doc.body.paths[p] !== undefined, `${p} in the OpenAPI document`);
    }
    assert.ok(JSON.stringify(doc.body.paths['/api/recordings']).includes('minDuration'));
  });

  it('says live calls are the recorder’s: tapline web has none', async () => {
    const r = await admin.json<{ error: string }>('GET', '/api/live');
    assert.equal(r.status, 404);
    assert.match(r.body.error, /tapline serve/);
  });

  it('writes plays, downloads, exports and permission changes to an append-only, hash-chained audit log', async () => {
    const a = await admin.json<{ items: Array<{ actor: string; action: string; target?: string }>; next?: number }>('GET', '/api/audit?limit=500');
    const actions = new Set(a.body.items.map((e) => e.action));
    for (const want of ['login', 'play', 'download', 'export', 'tag', 'note', 'account-created', 'account-changed', 'account-deleted', 'user-saved', 'user-removed', 'token-created', 'view-chat']) assert.ok(actions.has(want), `audit has ${want}`);
    assert.ok(a.body.items.some((e) => e.action === 'play' && e.actor === 'agent1' && e.target === rec(1).id));
    assert.equal(run(['web', 'audit', 'verify', '-c', web.config], web.dir).out.trim(), 'audit log intact');
    const db = new Database(path.join(web.dir, 'web', 'web.sqlite'));
    try {
      assert.throws(() => db.prepare("UPDATE audit SET actor = 'nobody'").run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM audit').run(), /append-only/);
      // Around the triggers (someone with the file): the chain shows where.
      db.exec("DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'nobody' WHERE seq = 3;");
    } finally {
      db.close();
    }
    const v = run(['web', 'audit', 'verify', '-c', web.config], web.dir);
    assert.equal(v.code, 1);
    assert.match(v.out, /altered at entry 3/);
  });

  it('slows password guessing: after five wrong passwords the next attempt waits', async () => {
    const c = new ApiClient(web.url);
    for (let i = 0; i < 5; i++) assert.equal((await c.req('POST', '/api/login', { username: 'agent2', password: `wrong ${i}` })).status, 401);
    const t0 = Date.now();
    const slowed = await c.req('POST', '/api/login', { username: 'agent2', password: 'agent two pass 2' });
    assert.equal(slowed.status, 429, 'not even the right password is checked during the pause');
    const retry = Number(slowed.headers.get('retry-after'));
    assert.ok(retry >= 1, `Retry-After ${retry}`);
    await new Promise((r) => setTimeout(r, retry * 1000 - (Date.now() - t0) + 50));
    assert.equal((await c.req('POST', '/api/login', { username: 'agent2', password: 'wrong again' })).status, 401);
    const longer = await c.req('POST', '/api/login', { username: 'agent2', password: 'agent two pass 2' });
    assert.equal(longer.status, 429);
    assert.ok(Number(longer.headers.get('retry-after')) >= 2, 'the pause doubles');
  });
});

function execOut(args: string[], cwd: string): string {
  const r = run(args, cwd);
  if (r.code !== 0) throw new Error(r.err);
  return r.out;
}
