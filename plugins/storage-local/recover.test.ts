import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { RecordingStart } from '../../core/contract';
import type { RecordingFiles } from './store';
import type { RecordingMetadata } from '../../core/media/metadata';
import { readWav } from './wav';
import { PluginHarness } from '../../core/testing/index';
import { Tokens } from '../../core/tokens';
import { storageLocalManifest } from './index';
import { ownerIsOtherLiveProcess, ownerTag, RECOVERED_FLAG } from './recover';
import { LocalStore } from './store';
import { crashedWav, metadataFor, start, tmpDir, begin } from './test-fixtures';

function headerSizes(file: string): { riff: number; data: number; length: number } {
  const b = fs.readFileSync(file);
  return { riff: b.readUInt32LE(4), data: b.readUInt32LE(40), length: b.length };
}

function readMeta(file: string): RecordingMetadata {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RecordingMetadata;
}

describe('storage-local: recovery after an unclean shutdown', () => {
  let root: string;
  const open: LocalStore[] = [];
  const newStore = (): LocalStore => {
    const s = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
    open.push(s);
    return s;
  };
  beforeEach(async () => {
    root = tmpDir('recover');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) s.closeCatalogue();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** A call in progress: begun, metadata refreshed once, WAV written without its final header. */
  async function crashedCall(store: LocalStore, frames: number, over: Partial<RecordingStart> = {}): Promise<{ info: RecordingStart; files: RecordingFiles }> {
    const info = start(over);
    const files = (await begin(store, info));
    await store.update(metadataFor(info, files.audio));
    crashedWav(files.audio, frames, 2, 8000, 3); // 3 bytes of a torn frame at the end
    return { info, files };
  }

  it('repairs the WAV, sets the duration from the audio, marks row and metadata recovered; nothing lost', async () => {
    const a = newStore();
    const { info, files } = await crashedCall(a, 12_000);
    const other = await crashedCall(a, 800);
    const done = start();
    const doneFiles = (await begin(a, done));
    await a.close(metadataFor(done, doneFiles.audio));
    assert.deepEqual(headerSizes(files.audio), { riff: 0, data: 0, length: 44 + 12_000 * 4 + 3 });
    // "Crash": store a is dropped without close(); a new store (a new process would be the same) recovers.

    const b = newStore();
    assert.deepEqual((await b.recover()).sort(), [info.id, other.info.id].sort());

    assert.deepEqual(headerSizes(files.audio), { riff: 36 + 48_000, data: 48_000, length: 44 + 48_000 });
    const wav = readWav(files.audio);
    assert.equal(wav.channels, 2);
    assert.equal(wav.sampleRate, 8000);
    assert.equal(wav.samples.length, 24_000); // every whole frame kept

    const got = b.get(info.id);
    assert.ok(got);
    assert.equal(got.entry.status, 'recovered');
    assert.equal(got.entry.durationSec, 1.5); // 12000 frames / 8000 Hz
    assert.equal(got.entry.audio, files.audio);
    const meta = readMeta(files.metadata);
    assert.equal(meta.status, 'recovered');
    assert.ok(meta.flags.includes(RECOVERED_FLAG));
    assert.equal(meta.audio?.durationSec, 1.5);
    assert.equal(meta.call.from.displayName, 'Alice Liddell'); // what the metadata had is kept
    assert.equal(b.get(other.info.id)?.entry.durationSec, 0.1);
    assert.equal(b.get(done.id)?.entry.status, 'complete'); // finished recordings untouched

    // Idempotent: a second start-up finds nothing more to do, and the flag is not repeated.
    assert.deepEqual(await newStore().recover(), []);
    assert.equal(readMeta(files.metadata).flags.filter((f) => f === RECOVERED_FLAG).length, 1);
    assert.equal(b.list({}).length, 3);
  });

  it('a crash before the first metadata write: metadata rebuilt from the row; no audio is not an error', async () => {
    const a = newStore();
    const withAudio = start({ callId: 'early@x' });
    const f1 = (await begin(a, withAudio));
    crashedWav(f1.audio, 400, 1, 16000);
    const noAudio = start();
    const f2 = (await begin(a, noAudio));

    const b = newStore();
    assert.deepEqual((await b.recover()).sort(), [withAudio.id, noAudio.id].sort());
    const m1 = readMeta(f1.metadata);
    assert.equal(m1.status, 'recovered');
    assert.equal(m1.call.callId, 'early@x');
    assert.deepEqual(m1.audio && { ch: m1.audio.channels, rate: m1.audio.sampleRate, dur: m1.audio.durationSec, layout: m1.audio.layout }, { ch: 1, rate: 16000, dur: 0.025, layout: 'mono-mixed' });
    assert.ok(m1.flags.includes(RECOVERED_FLAG));
    assert.ok(m1.flags.some((f) => /rebuilt from the catalogue/.test(f)));
    assert.equal(headerSizes(f1.audio).data, 800);
    const m2 = readMeta(f2.metadata);
    assert.equal(m2.audio, undefined);
    assert.equal(b.get(noAudio.id)?.entry.audio, undefined);
    assert.equal(b.get(noAudio.id)?.entry.status, 'recovered');
  });

  it('an audio file that cannot be repaired is flagged, the recording still recovered', async () => {
    const a = newStore();
    const info = start();
    const files = (await begin(a, info));
    await a.update(metadataFor(info, files.audio));
    fs.writeFileSync(files.audio, 'RIFF'); // killed while writing the header
    assert.deepEqual(await newStore().recover(), [info.id]);
    const meta = readMeta(files.metadata);
    assert.ok(meta.flags.some((f) => f.startsWith('audio could not be repaired')));
    assert.ok(meta.flags.includes(RECOVERED_FLAG));
  });

  it('catalogue lost: folders with metadata are catalogued again (crashed ones repaired)', async () => {
    const a = newStore();
    const { info, files } = await crashedCall(a, 8000, { from: 'sip:lost@example.com' });
    const done = start({ from: 'sip:kept@example.com' });
    const doneFiles = (await begin(a, done));
    await a.close(metadataFor(done, doneFiles.audio, {}, { end: '2026-03-04T10:21:00.000Z' }));
    a.closeCatalogue();
    for (const f of fs.readdirSync(root)) if (f.startsWith('catalogue.sqlite')) fs.rmSync(path.join(root, f));
    // Junk that must be ignored: a folder with broken metadata, and a hidden one.
    fs.mkdirSync(path.join(root, '2026', 'junk'), { recursive: true });
    fs.writeFileSync(path.join(root, '2026', 'junk', 'metadata.json'), '{ not json');
    fs.mkdirSync(path.join(root, '.trash', 'x'), { recursive: true });
    fs.writeFileSync(path.join(root, '.trash', 'x', 'metadata.json'), fs.readFileSync(doneFiles.metadata));

    const b = newStore();
    assert.deepEqual(await b.recover(), [info.id]); // only the crashed one counts as recovered
    assert.equal(b.get(info.id)?.entry.status, 'recovered');
    assert.equal(b.get(info.id)?.entry.durationSec, 1);
    assert.equal(headerSizes(files.audio).data, 32_000);
    const kept = b.get(done.id)?.entry;
    assert.equal(kept?.status, 'complete');
    assert.equal(kept?.end, '2026-03-04T10:21:00.000Z');
    assert.equal(kept?.metadata, doneFiles.metadata);
    assert.deepEqual(b.list({ user: 'lost@' }).map((e) => e.id), [info.id]); // participants rebuilt too
    assert.deepEqual(await newStore().recover(), []);
    assert.equal(b.list({}).length, 2);
  });

  it('leaves alone recordings another running process is writing', async () => {
    const a = newStore();
    const live = await crashedCall(a, 100);
    const dead = await crashedCall(a, 100);
    const oldBoot = await crashedCall(a, 100);
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const [host, boot] = ownerTag().split('|');
    const db = new Database(path.join(root, 'catalogue.sqlite'));
    const setOwner = db.prepare<[string, string]>('UPDATE recordings SET owner = ? WHERE id = ?');
    setOwner.run(`${host}|${boot}|${process.ppid}`, live.info.id); // our parent: alive, not us
    setOwner.run(`${host}|${boot}|${deadPid}`, dead.info.id);
    setOwner.run(`${host}|some-earlier-boot|${process.ppid}`, oldBoot.info.id);
    db.close();
    assert.equal(ownerIsOtherLiveProcess(`${host}|${boot}|${process.ppid}`), true);
    assert.equal(ownerIsOtherLiveProcess(ownerTag()), false);

    assert.deepEqual((await newStore().recover()).sort(), [dead.info.id, oldBoot.info.id].sort());
    assert.equal(newStore().get(live.info.id)?.entry.status, 'recording');
  });

  it('the plugin, started in a kernel, recovers what a killed process left (a real SIGKILL mid-call)', async () => {
    const tsxLoader = require.resolve('tsx');
    const script = path.join(root, 'child.ts');
    const here = __dirname.split(path.sep).join('/');
    fs.writeFileSync(
      script,
      `import * as fs from 'node:fs';
       import { LocalStore } from '${here}/store';
       import { begin, crashedWav, metadataFor, start } from '${here}/test-fixtures';
       const store = new LocalStore({ root: ${JSON.stringify(root)}, catalogue: ${JSON.stringify(path.join(root, 'catalogue.sqlite'))}, layout: 'date' });
       (async () => {
         const info = start({ callId: 'killed@pbx' });
         const files = await begin(store, info);
         await store.update(metadataFor(info, files.audio));
         crashedWav(files.audio, 16000, 2, 8000, 1);
         fs.writeFileSync(${JSON.stringify(path.join(root, 'child-id'))}, info.id);
         process.kill(process.pid, 'SIGKILL');
       })();`,
    );
    const res = spawnSync(process.execPath, ['--import', tsxLoader, script], { encoding: 'utf8', timeout: 30_000 });
    if (res.error) throw res.error;
    assert.equal(res.signal, 'SIGKILL', res.stderr);
    const id = fs.readFileSync(path.join(root, 'child-id'), 'utf8');

    const h = await PluginHarness.create(storageLocalManifest, { options: { dir: root } });
    try {
      const [store] = h.resolveAll(Tokens.Storage) as LocalStore[];
      assert.ok(store);
      // The kernel calls recover() at start; it is idempotent, so a second call finds nothing left.
      assert.equal(h.counters()['storage-local.recovered'], 1);
      assert.ok(h.recorded.logs.some((l) => l.level === 'warn' && l.msg.includes(id)));
      assert.deepEqual(await store.recover(), []);
      const got = store.get(id);
      assert.equal(got?.entry.status, 'recovered');
      assert.equal(got?.entry.durationSec, 2);
      assert.equal(got?.metadata.status, 'recovered');
      assert.ok(got?.metadata.flags.includes(RECOVERED_FLAG));
      assert.equal(readWav(got?.entry.audio ?? '').samples.length, 32_000);
    } finally {
      await h.stop();
    }
  });
});
