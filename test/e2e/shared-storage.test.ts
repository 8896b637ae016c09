/**
 * Shared storage with real servers started here: PostgreSQL (initdb into a temp folder) and OpenStack Swift with
 * its s3api middleware. Two recorders (two processes) publish into one catalogue and one bucket; a third process
 * lists and searches across both; each object is byte-identical to what a recorder without shared storage writes
 * for the same capture. Then faults: the object store stopped and started again while a recorder runs, the
 * database restarted while another runs, and a recorder killed between writing and uploading that finishes the
 * upload at its next start. Nothing may be lost.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI } from '../serve-process';
import { startPostgres, postgresUnavailable, type PostgresServer } from '../peers/postgres';
import { startSwift, swiftUnavailable, type SwiftS3 } from '../peers/swift';
import { PgCatalogue } from '../../plugins/storage-local/pg-catalogue';
import { S3Media } from '../../plugins/storage-local/s3-media';
import { Catalogue } from '../../plugins/storage-local/catalogue';
import { sleep } from '../peers/proc';
import { PutObjectCommand } from '@aws-sdk/client-s3';

const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? postgresUnavailable() ?? swiftUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] shared storage tests (PostgreSQL + Swift s3api) skipped: ${unavailable}\n`);
const describeShared = unavailable === undefined ? describe : describe.skip;

const BUCKET = 'tapline-shared';

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

function finished(child: ChildProcess): Promise<Done> {
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, out })));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describeShared(`shared storage: PostgreSQL catalogue + S3 bucket (Swift)${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(300_000);
  let tmp: string;
  let pg: PostgresServer;
  let swift: SwiftS3;
  let env: NodeJS.ProcessEnv;
  const caps: Record<string, string> = {};

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-shared-'));
    [pg, swift] = await Promise.all([startPostgres(), startSwift()]);
    env = { ...process.env, AWS_ACCESS_KEY_ID: swift.accessKeyId, AWS_SECRET_ACCESS_KEY: swift.secretAccessKey, TAPLINE_TEST_PG: pg.url };
    // Two recorders' captures (the same users in both: search must find both), a call long enough for a multipart
    // upload (200 s of 8 kHz stereo: 6.4 MB, two 5 MiB parts), and the fault runs' captures.
    for (const [name, args] of [
      ['a', ['--calls', '6', '--duration', '3', '--seed', '1']],
      ['b', ['--calls', '6', '--duration', '3', '--seed', '2']],
      ['long', ['--calls', '1', '--duration', '200', '--seed', '3']],
      ['f1', ['--calls', '12', '--duration', '2', '--seed', '4']],
      ['f2', ['--calls', '12', '--duration', '2', '--seed', '5']],
      ['f3', ['--calls', '5', '--duration', '8', '--seed', '6']],
    ] as const) {
      caps[name] = path.join(tmp, `${name}.pcap`);
      const r = spawnSync(process.execPath, [CLI, 'generate', '--out', caps[name]!, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    await Promise.all([pg?.destroy(), swift?.destroy()]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A config: the recorder's folder, shared storage (the URL from the environment), policy.recorderId. */
  function config(name: string, recorder: number, shared: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): string {
    const file = path.join(tmp, `${name}.json`);
    const storage: Record<string, unknown> = { dir: path.join(tmp, name), ...extra };
    if (shared !== null) storage.shared = { postgres: { urlEnv: 'TAPLINE_TEST_PG' }, s3: { endpoint: swift.endpoint, bucket: BUCKET, partSizeMiB: 5 }, drainSec: 120, ...shared };
    fs.writeFileSync(file, JSON.stringify({ policy: { recorderId: recorder }, plugins: [{ use: 'codec-g711' }, { use: 'storage-local', options: storage }] }, null, 2));
    return file;
  }

  function record(cfg: string, capture: string, extra: string[] = []): ChildProcess {
    return spawn(process.execPath, [CLI, 'record', '-c', cfg, '--pcap', capture, '--no-progress', ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** A recorder without shared storage, for what the objects must equal. */
  function recordLocally(name: string, capture: string): Map<string, Buffer> {
    const dir = path.join(tmp, name);
    const r = spawnSync(process.execPath, [CLI, 'record', '--pcap', capture, '--out', dir, '--no-progress'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const cat = Catalogue.open(path.join(dir, 'catalogue.sqlite'), { readonly: true });
    try {
      return new Map(cat.list({ limit: 1000 }).filter((e) => e.audio !== undefined).map((e) => [e.callId, fs.readFileSync(e.audio!)]));
    } finally {
      cat.close();
    }
  }

  async function withShared<T>(fn: (cat: PgCatalogue, s3: S3Media) => Promise<T>): Promise<T> {
    const cat = await PgCatalogue.open(pg.url, undefined, { migrate: false, max: 1 });
    const s3 = new S3Media({ endpoint: swift.endpoint, region: 'us-east-1', bucket: BUCKET, prefix: '', accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey, forcePathStyle: true, partSize: 5 << 20 });
    try {
      return await fn(cat, s3);
    } finally {
      s3.close();
      await cat.close();
    }
  }

  /** `tapline web` over a config (the web plugin added, an admin account made): its URL and a logged-in GET. */
  async function withWeb<T>(cfgFile: string, fn: (get: (p: string, headers?: Record<string, string>) => Promise<Response>) => Promise<T>): Promise<T> {
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as { plugins: Array<Record<string, unknown>> };
    if (!cfg.plugins.some((p) => p.use === 'web')) cfg.plugins.push({ use: '@tapline/codec-opus' }, { use: 'web', options: { port: 0 } });
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    const add = spawnSync(process.execPath, [CLI, 'web', 'account', 'add', 'admin', '--role', 'admin', '--password-env', 'PW', '-c', cfgFile], { env: { ...env, PW: 'admin password 1' }, encoding: 'utf8' });
    assert.equal(add.status, 0, add.stderr);
    const web = spawn(process.execPath, [CLI, 'web', '-c', cfgFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    web.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    web.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    try {
      let url = '';
      for (let i = 0; i < 200 && url === ''; i++) {
        url = /review app at (\S+)/.exec(out)?.[1] ?? '';
        await sleep(50);
      }
      assert.ok(url !== '', out);
      const login = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin password 1' }) });
      assert.equal(login.status, 200, await login.clone().text());
      const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
      return await fn((p, headers = {}) => fetch(url + p, { headers: { cookie, ...headers } }));
    } finally {
      web.kill('SIGTERM');
      await new Promise((r) => web.once('exit', r));
    }
  }

  /** Every catalogued object of these calls is in the bucket with the SHA-256 the catalogue holds. */
  async function assertStored(callIds: readonly string[]): Promise<number> {
    return withShared(async (cat, s3) => {
      const all = await cat.list({ limit: 1000 });
      let objects = 0;
      for (const callId of callIds) {
        const e = all.find((x) => x.callId === callId);
        assert.ok(e !== undefined, `call ${callId} is in the shared catalogue`);
        const got = await cat.get(e.id);
        for (const o of got!.objects) {
          const body = await s3.getBuffer(o.key);
          assert.equal(sha(body), o.sha256, `${o.key}: the object's SHA-256`);
          assert.equal(body.length, o.bytes);
          objects++;
        }
        assert.ok(got!.objects.some((o) => o.name === 'audio.wav'), `${callId}: its audio is stored`);
      }
      return objects;
    });
  }

  function truthCallIds(capture: string): string[] {
    const truth = JSON.parse(fs.readFileSync(capture.replace(/\.pcap$/, '.truth.json'), 'utf8')) as { calls: Array<{ callId: string }> };
    return truth.calls.map((c) => c.callId);
  }

  it('two recorders publish into one catalogue and one bucket; a third process lists and searches both; objects byte-identical to a local recording (multipart for a long call)', async () => {
    const [ra, rb] = await Promise.all([finished(record(config('rec1', 1), caps.a!)), finished(record(config('rec2', 2), caps.b!))]);
    assert.equal(ra.code, 0, ra.out);
    assert.equal(rb.code, 0, rb.out);
    const rl = await finished(record(config('rec1', 1), caps.long!));
    assert.equal(rl.code, 0, rl.out);
    // The readers' view: `recordings list` from another process, over the shared catalogue.
    const list = (args: string[]): Array<{ id: string; callId: string; recorder: string; audio?: string }> => {
      const r = spawnSync(process.execPath, [CLI, 'recordings', 'list', '--json', '-c', config('reader', 3), ...args], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Array<{ id: string; callId: string; recorder: string; audio?: string }>;
    };
    const everything = list([]);
    const expected = [...truthCallIds(caps.a!), ...truthCallIds(caps.b!), ...truthCallIds(caps.long!)];
    assert.deepEqual(new Set(everything.map((e) => e.callId)), new Set(expected), 'every call of both recorders is listed');
    assert.equal(new Set(everything.map((e) => e.recorder.split('@')[0])).size, 2, 'from two recorders');
    const caller1 = list(['--user', 'CALLER1@tapline']);
    assert.ok(caller1.length >= 2 && new Set(caller1.map((e) => e.recorder)).size === 2, `caller1's calls found on both recorders: ${JSON.stringify(caller1.map((e) => e.recorder))}`);
    assert.ok(caller1.every((e) => everything.some((x) => x.id === e.id)));
    // One of them in full, by a prefix of its id: the metadata as published names its audio by its object.
    const one = everything[0]!;
    const shown = spawnSync(process.execPath, [CLI, 'recordings', 'show', one.id.slice(0, 8), '--json', '-c', config('reader', 3)], { env, encoding: 'utf8' });
    assert.equal(shown.status, 0, shown.stderr);
    const sj = JSON.parse(shown.stdout) as { entry: { id: string }; metadata: { audio: { file: string } }; files: Array<{ name: string; sha256: string }> };
    assert.equal(sj.entry.id, one.id);
    assert.match(sj.metadata.audio.file, new RegExp(`^s3://${BUCKET}/.+/audio\\.wav$`));
    assert.ok(sj.files.some((f) => f.name === 'audio.wav' && /^[0-9a-f]{64}$/.test(f.sha256)));
    // The spool is empty once everything is published (keepLocal false): no recording folder left.
    for (const d of ['rec1', 'rec2']) assert.deepEqual(fs.readdirSync(path.join(tmp, d)).filter((n) => /^\d{4}$/.test(n)), [], `${d}'s spool is empty`);
    // Byte-identical to a recorder without shared storage.
    const local = new Map([...recordLocally('local-a', caps.a!), ...recordLocally('local-b', caps.b!), ...recordLocally('local-long', caps.long!)]);
    let compared = 0;
    await withShared(async (cat, s3) => {
      for (const e of everything) {
        const got = await cat.get(e.id);
        const audio = got!.objects.find((o) => o.name === 'audio.wav')!;
        const body = await s3.getBuffer(audio.key);
        assert.ok(body.equals(local.get(e.callId)!), `${e.callId}: the object equals the local recording's audio.wav`);
        compared += body.length;
      }
    });
    const objects = await assertStored(expected);
    console.log(`      ${everything.length} recordings from 2 recorders, ${objects} objects, ${(compared / 1048576).toFixed(1)} MiB of audio byte-identical (the long call's in multipart)`);
  });

  it('the review app over shared storage: tapline web searches every recorder, plays from the bucket by range, draws its peaks', async () => {
    // The reader's config with the web plugin (its own folder is an empty spool).
    await withWeb(config('webview', 3), async (get) => {
      const all = (await (await get('/api/recordings?limit=500')).json()) as { items: Array<{ id: string; callId: string; codecs: string[]; direction: string }> };
      const expected = [...truthCallIds(caps.a!), ...truthCallIds(caps.b!), ...truthCallIds(caps.long!)];
      assert.deepEqual(new Set(all.items.map((r) => r.callId)), new Set(expected), 'both recorders, from the shared catalogue');
      assert.ok(all.items.every((r) => r.codecs.includes('PCMU')), 'codecs published');
      const byUser = (await (await get('/api/recordings?user=caller1&codec=PCMU&limit=500')).json()) as { items: unknown[] };
      assert.ok(byUser.items.length >= 2);
      // Paged with a cursor over PostgreSQL: every recording once.
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const page = (await (await get(`/api/recordings?limit=4${next !== undefined ? `&cursor=${next}` : ''}`)).json()) as { items: Array<{ id: string }>; next?: string };
        seen.push(...page.items.map((r) => r.id));
        next = page.next;
      } while (next !== undefined);
      assert.deepEqual(seen, all.items.map((r) => r.id));
      // The long call's audio, by range, equals its object in the bucket.
      const longId = all.items.find((r) => r.callId === truthCallIds(caps.long!)[0])!.id;
      const body = await withShared(async (cat, s3) => s3.getBuffer((await cat.get(longId))!.objects.find((o) => o.name === 'audio.wav')!.key));
      const mid = await get(`/api/recordings/${longId}/audio?format=wav`, { range: 'bytes=3000000-3099999' });
      assert.equal(mid.status, 206);
      assert.equal(mid.headers.get('content-range'), `bytes 3000000-3099999/${body.length}`);
      assert.ok(Buffer.from(await mid.arrayBuffer()).equals(body.subarray(3_000_000, 3_100_000)));
      const last = await get(`/api/recordings/${longId}/audio?format=wav`, { range: 'bytes=-16' });
      assert.ok(Buffer.from(await last.arrayBuffer()).equals(body.subarray(body.length - 16)));
      assert.equal((await get(`/api/recordings/${longId}/audio?format=wav`, { range: `bytes=${body.length}-` })).status, 416);
      const peaks = (await (await get(`/api/recordings/${longId}/peaks`)).json()) as { channels: number[][]; durationSec: number };
      assert.equal(peaks.channels.length, 2);
      assert.ok(Math.abs(peaks.durationSec - 200) < 1, `peaks of ${peaks.durationSec} s`);
      const ogg = await get(`/api/recordings/${longId}/audio?format=ogg`);
      assert.equal(ogg.status, 200);
      assert.equal(Buffer.from(await ogg.arrayBuffer()).toString('latin1', 0, 4), 'OggS');
    });
  });

  it('catalogue migrate copies a SQLite catalogue and its files in (local files kept); run again, it copies nothing more', async () => {
    const local = recordLocally('to-migrate', caps.f3!);
    const cfg = config('migrator', 1);
    const run = (): { copied: number; alreadyShared: number; failed: number } => {
      const r = spawnSync(process.execPath, [CLI, 'catalogue', 'migrate', '--from', path.join(tmp, 'to-migrate'), '--json', '-c', cfg], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      return JSON.parse(r.stdout) as { copied: number; alreadyShared: number; failed: number };
    };
    const first = run();
    assert.deepEqual(first, { copied: local.size, alreadyShared: 0, failed: 0, failures: [] } as unknown as typeof first);
    const again = run();
    assert.equal(again.copied, 0);
    assert.equal(again.alreadyShared, local.size);
    await assertStored([...local.keys()]);
    await withShared(async (cat, s3) => {
      const all = await cat.list({ limit: 1000 });
      for (const [callId, audio] of local) {
        const e = all.filter((x) => x.callId === callId && x.recorder.startsWith('1@'));
        assert.ok(e.length >= 1, `${callId} migrated`);
        const got = await cat.get(e[0]!.id);
        assert.ok((await s3.getBuffer(got!.objects.find((o) => o.name === 'audio.wav')!.key)).equals(audio));
      }
    });
    // The source keeps its recordings.
    const c = Catalogue.open(path.join(tmp, 'to-migrate', 'catalogue.sqlite'), { readonly: true });
    try {
      assert.equal(c.list({ limit: 100 }).filter((e) => e.audio !== undefined && fs.existsSync(e.audio)).length, local.size);
    } finally {
      c.close();
    }
    console.log(`      ${first.copied} recordings migrated, byte-identical; a second run copied 0 (${again.alreadyShared} already shared)`);
  });

  it('the object store stopped mid-run and started again, then the database restarted mid-run: every recording uploaded and catalogued, 0 lost', async () => {
    // Object store down while the recorder runs.
    const run1 = finished(record(config('f1', 1), caps.f1!));
    await sleep(300);
    await swift.stop();
    await sleep(4000);
    await swift.start();
    const r1 = await run1;
    assert.equal(r1.code, 0, r1.out);
    // Database down while the next recorder runs.
    const run2 = finished(record(config('f2', 1), caps.f2!));
    await sleep(300);
    await pg.stop();
    await sleep(4000);
    await pg.start();
    const r2 = await run2;
    assert.equal(r2.code, 0, r2.out);
    const objects = await assertStored([...truthCallIds(caps.f1!), ...truthCallIds(caps.f2!)]);
    for (const d of ['f1', 'f2']) assert.deepEqual(fs.readdirSync(path.join(tmp, d)).filter((n) => /^\d{4}$/.test(n)), [], `${d}'s spool is empty`);
    const failed = /publishing recording \S+ failed/.test(r1.out) && /publishing recording \S+ failed/.test(r2.out);
    console.log(`      24 recordings, ${objects} objects all stored; failures seen and retried: ${failed ? 'yes, in both runs' : 'not in both runs'}`);
    assert.ok(failed, `each run met the outage:\n${r1.out.slice(-2000)}\n---\n${r2.out.slice(-2000)}`);
  });

  it('a recorder killed between writing and uploading finishes the upload at its next start; a spool past its size is reported, nothing deleted', async () => {
    await swift.stop();
    // 5 calls of 8 s: 1.3 MB of audio, over a 1 MiB spool.
    const cfg = config('f3', 1, { spoolMaxMiB: 1 });
    const child = record(cfg, caps.f3!);
    let seen = '';
    child.stderr?.on('data', (b: Buffer) => (seen += b.toString()));
    child.stdout?.on('data', (b: Buffer) => (seen += b.toString()));
    const out = (): string => seen;
    const run = finished(child);
    // Wait until every call is finished in the local spool (written, not uploaded: the store is down), then kill -9.
    const catFile = path.join(tmp, 'f3', 'catalogue.sqlite');
    const want = truthCallIds(caps.f3!).length;
    for (let t0 = Date.now(); ; await sleep(100)) {
      let done = 0;
      if (fs.existsSync(catFile)) {
        const c = Catalogue.open(catFile, { readonly: true });
        try {
          done = c.list({ limit: 100 }).filter((e) => e.status === 'complete').length;
        } finally {
          c.close();
        }
      }
      if (done === want) break;
      assert.ok(Date.now() - t0 < 60_000, `only ${done} of ${want} recordings finished locally`);
    }
    // The spool's report comes after the first failed attempt counts it: give it that moment.
    for (let t0 = Date.now(); Date.now() - t0 < 10_000 && !/over its 1 MiB limit/.test(out()); ) await sleep(100);
    child.kill('SIGKILL');
    const killed = await run;
    assert.equal(killed.signal, 'SIGKILL');
    assert.match(killed.out, /the spool holds 1\.\d MiB in 5 recording\(s\) not yet uploaded, over its 1 MiB limit; nothing is deleted/);
    await swift.start();
    // The next start (the same recorder on an empty capture) resumes the spool before it stops.
    const empty = path.join(tmp, 'empty.pcap');
    spawnSync(process.execPath, [CLI, 'generate', '--out', empty, '--calls', '1', '--duration', '1', '--seed', '9']);
    const again = await finished(record(cfg, empty));
    assert.equal(again.code, 0, again.out);
    const objects = await assertStored(truthCallIds(caps.f3!));
    console.log(`      ${want} recordings written before the kill, all uploaded at the next start (${objects} objects)`);
  });

  it('tapline verify checks every object in the bucket against the shared catalogue and finds a flipped byte', async () => {
    const verify = (): { code: number | null; report: { ok: boolean; files: number; problems: string[] } } => {
      const r = spawnSync(process.execPath, [CLI, 'verify', '--json', '-c', config('verifier', 3)], { env, encoding: 'utf8' });
      return { code: r.status, report: JSON.parse(r.stdout) as { ok: boolean; files: number; problems: string[] } };
    };
    const clean = verify();
    assert.equal(clean.code, 0, JSON.stringify(clean.report.problems));
    assert.ok(clean.report.ok && clean.report.files > 20, `${clean.report.files} objects checked`);
    // Someone with write access to the bucket alters one byte of a recording (keeping its stated hash).
    const victim = await withShared(async (cat, s3) => {
      const e = (await cat.list({ limit: 1 }))[0]!;
      const o = (await cat.get(e.id))!.objects.find((x) => x.name === 'audio.wav')!;
      const body = await s3.getBuffer(o.key);
      body[body.length >> 1] = (body[body.length >> 1]! ^ 0x01) & 0xff;
      await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: o.key, Body: body, Metadata: { sha256: o.sha256 } }));
      return e.id;
    });
    const tampered = verify();
    assert.equal(tampered.code, 1);
    assert.equal(tampered.report.problems.length, 1, tampered.report.problems.join('\n'));
    assert.match(tampered.report.problems[0]!, new RegExp(`recording ${victim}: audio.wav has SHA-256 [0-9a-f]{64}, catalogued as`));
    console.log(`      ${clean.report.files} objects verified; the flipped byte found: ${tampered.report.problems[0]!.slice(0, 90)}…`);
  });

  it('retention on shared storage deletes exactly the expired set (objects and rows), keeps the legal hold, and the audit log names each deletion', async () => {
    const cfg = config('retention', 3, {}, { retention: { rules: [{ days: 30, user: 'sip:caller2@tapline.test' }], auto: false } });
    const cli = (args: string[]): string => {
      const r = spawnSync(process.execPath, [CLI, ...args, '-c', cfg], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      return r.stdout;
    };
    // What the rule covers: every shared recording with caller2 (all started in 2024: past 30 days).
    const covered = await withShared(async (cat) => (await cat.list({ user: 'caller2@tapline.test', limit: 1000 })).map((e) => e.id));
    const total = await withShared((cat) => cat.count());
    assert.ok(covered.length >= 4, `${covered.length} recordings of caller2`);
    const held = covered[0]!;
    cli(['recordings', 'hold', held, '--reason', 'case 1234']);
    const dry = JSON.parse(cli(['retention', '--dry-run', '--json'])) as { expired: Array<{ id: string }>; held: Array<{ id: string; reason: string }> };
    assert.deepEqual(new Set(dry.expired.map((c) => c.id)), new Set(covered.slice(1)));
    assert.deepEqual(dry.held.map((c) => [c.id, c.reason]), [[held, 'case 1234']]);
    assert.equal(await withShared((cat) => cat.count()), total, 'a dry run deletes nothing');
    const keysOf = async (ids: string[]): Promise<string[]> => withShared(async (cat) => (await Promise.all(ids.map(async (id) => (await cat.get(id))!.objects.map((o) => o.key)))).flat());
    const doomedKeys = await keysOf(covered.slice(1));
    const run = JSON.parse(cli(['retention', '--json'])) as { expired: Array<{ id: string }> };
    assert.equal(run.expired.length, covered.length - 1);
    await withShared(async (cat, s3) => {
      assert.equal(await cat.count(), total - (covered.length - 1), 'exactly the expired set is gone');
      assert.ok((await cat.get(held)) !== undefined, 'the held recording is kept');
      for (const k of (await cat.get(held))!.objects) assert.ok((await s3.getBuffer(k.key)).length > 0);
      for (const k of doomedKeys) await assert.rejects(s3.getBuffer(k), (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404, `${k} deleted`);
    });
    const auditLog = JSON.parse(cli(['audit', '--json', '--limit', '1000'])) as Array<{ action: string; recording: string; detail: string }>;
    const deletions = auditLog.filter((a) => a.action === 'delete');
    assert.deepEqual(new Set(deletions.map((a) => a.recording)), new Set(covered.slice(1)));
    assert.ok(deletions.every((a) => /retention rule 1 \(30 days, user sip:caller2@tapline.test\)/.test(a.detail)), deletions[0]?.detail);
    assert.ok(auditLog.some((a) => a.action === 'hold' && a.recording === held && a.detail === 'case 1234'));
    // Released, it goes at the next run.
    cli(['recordings', 'release', held]);
    assert.deepEqual((JSON.parse(cli(['retention', '--json'])) as { expired: Array<{ id: string }> }).expired.map((c) => c.id), [held]);
    console.log(`      ${covered.length - 1} of ${total} recordings expired and deleted (objects and rows, each audited), 1 kept on hold, then deleted once released`);
  });

  it('encrypted at rest: no object and no spool file holds a RIFF header; export and playback through the API give the local recording; after a key rotation and rewrap old recordings still play and verify', async () => {
    const k1 = path.join(tmp, 'k1.key');
    const k2 = path.join(tmp, 'k2.key');
    fs.writeFileSync(k1, randomBytes(32).toString('hex'), { mode: 0o600 });
    fs.writeFileSync(k2, randomBytes(32).toString('hex'), { mode: 0o600 });
    const enc = (keys: Record<string, unknown>): string => config('enc', 3, {}, { encryption: keys });
    const r = await finished(record(enc({ keyFile: k1 }), caps.a!));
    assert.equal(r.code, 0, r.out);
    const ids = await withShared(async (cat) => (await cat.list({ limit: 1000 })).filter((e) => e.recorder.startsWith('3@')).map((e) => e.id));
    assert.equal(ids.length, truthCallIds(caps.a!).length);
    let objects = 0;
    await withShared(async (cat, s3) => {
      for (const id of ids) {
        const got = (await cat.get(id))!;
        assert.equal(got.entry.audioFormat, 'wav+aes-256-gcm');
        for (const o of got.objects) {
          assert.equal((await s3.getBuffer(o.key)).indexOf('RIFF'), -1, `${o.key} holds no RIFF header`);
          objects++;
        }
      }
    });
    const spoolFiles = spawnSync('grep', ['-rl', 'RIFF', path.join(tmp, 'enc')], { encoding: 'utf8' }).stdout.trim();
    assert.equal(spoolFiles, '', 'no file in the spool holds a RIFF header');
    const local = recordLocally('local-a-enc', caps.a!);
    const exportOne = (cfg: string, id: string): Buffer => {
      const out = path.join(tmp, `export-${id}.wav`);
      const x = spawnSync(process.execPath, [CLI, 'recordings', 'export', id.slice(0, 8), '--out', out, '-c', cfg], { env, encoding: 'utf8' });
      assert.equal(x.status, 0, x.stderr);
      return fs.readFileSync(out);
    };
    const callOf = async (id: string): Promise<string> => withShared(async (cat) => (await cat.get(id))!.entry.callId);
    for (const id of ids) assert.ok(exportOne(enc({ keyFile: k1 }), id).equals(local.get(await callOf(id))!), `${id}: exported == the local recording`);
    // Played through the review app's API: the same samples as the local recording (decrypted in memory).
    const playAll = async (keys: Record<string, unknown>): Promise<void> =>
      withWeb(enc(keys), async (get) => {
        for (const id of ids) {
          const r = await get(`/api/recordings/${id}/audio?format=wav`);
          assert.equal(r.status, 200, `${id}: ${r.status}`);
          const wav = Buffer.from(await r.arrayBuffer());
          assert.ok(wav.subarray(44).equals(local.get(await callOf(id))!.subarray(44)), `${id}: played == the local recording's samples`);
          const mid = await get(`/api/recordings/${id}/audio?format=wav`, { range: 'bytes=1000-1999' });
          assert.ok(Buffer.from(await mid.arrayBuffer()).equals(wav.subarray(1000, 2000)));
        }
      });
    await playAll({ keyFile: k1 });
    // Rotation: k2 is current, k1 only unwraps; rewrap moves every object to k2; then k1 is gone and they still play.
    const rw = spawnSync(process.execPath, [CLI, 'keys', 'rewrap', '-c', enc({ keyFile: k2, previousKeyFiles: [k1] })], { env, encoding: 'utf8' });
    assert.equal(rw.status, 0, rw.stderr);
    assert.match(rw.stdout, new RegExp(`shared storage: ${ids.length} recordings re-wrapped`));
    for (const id of ids) assert.ok(exportOne(enc({ keyFile: k2 }), id).equals(local.get(await callOf(id))!), `${id}: still plays with the new key alone`);
    await playAll({ keyFile: k2 });
    const v = spawnSync(process.execPath, [CLI, 'verify', '--json', '--from', '2024-01-01', '-c', enc({ keyFile: k2 })], { env, encoding: 'utf8' });
    const report = JSON.parse(v.stdout) as { problems: string[] };
    assert.ok(report.problems.every((p) => !ids.some((id) => p.includes(id))), `the re-wrapped objects verify: ${report.problems.join('; ')}`);
    console.log(`      ${ids.length} encrypted recordings (${objects} objects), none with a RIFF header; exported == local recording, before and after a key rotation`);
  });

  it('wrong S3 credentials or a missing secret: a clear error, nothing lost; fixed, the next start uploads the spool', async () => {
    // A secret variable that is not set stops the start, naming it.
    const noSecret = spawnSync(process.execPath, [CLI, 'record', '-c', config('badenv', 2, { s3: { endpoint: swift.endpoint, bucket: BUCKET, secretAccessKeyEnv: 'TAPLINE_NO_SUCH_SECRET' } }), '--pcap', caps.f3!, '--no-progress'], { env, encoding: 'utf8' });
    assert.notEqual(noSecret.status, 0);
    assert.match(noSecret.stderr, /the S3 secret access key is read from the environment variable TAPLINE_NO_SUCH_SECRET, which is not set/);
    // A wrong secret: every upload is refused; the recorder says why, keeps the spool and exits after drainSec.
    const cfg = config('badkey', 2, { drainSec: 3 });
    const wrong = spawnSync(process.execPath, [CLI, 'record', '-c', cfg, '--pcap', caps.f3!, '--no-progress'], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' }, encoding: 'utf8' });
    assert.equal(wrong.status, 0, wrong.stderr);
    const said = wrong.stdout + wrong.stderr;
    assert.match(said, /publishing recording \S+ failed \(attempt 1\); kept in the spool, retrying: access denied: check the S3 credentials and the bucket's permissions \(HTTP 403/);
    assert.match(said, /5 recording\(s\) \([\d.]+ MiB\) not yet uploaded stay in .*badkey; they are uploaded at the next start/);
    const spool = Catalogue.open(path.join(tmp, 'badkey', 'catalogue.sqlite'), { readonly: true });
    try {
      assert.equal(spool.list({ limit: 100 }).filter((e) => e.audio !== undefined && fs.existsSync(e.audio)).length, 5, 'all 5 kept with their audio');
    } finally {
      spool.close();
    }
    // The right secret: the next start (an empty capture) uploads them.
    const empty = path.join(tmp, 'empty2.pcap');
    spawnSync(process.execPath, [CLI, 'generate', '--out', empty, '--calls', '1', '--duration', '1', '--seed', '11']);
    const fixed = await finished(record(cfg, empty));
    assert.equal(fixed.code, 0, fixed.out);
    await withShared(async (cat) => {
      const mine = (await cat.list({ limit: 1000 })).filter((e) => e.recorder.startsWith('2@') && truthCallIds(caps.f3!).includes(e.callId));
      assert.equal(mine.length, 5, 'the 5 spooled recordings are in the shared catalogue');
    });
    console.log('      a missing secret stops the start naming its variable; a wrong one keeps 5 recordings spooled, uploaded at the next start');
  });
});
