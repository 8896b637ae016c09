import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { PluginHarness } from '../../core/testing/index';
import { Tokens } from '../../core/tokens';
import storageLocalDefault, { resolveStoragePaths, storageLocalManifest } from './index';
import { LocalStore } from './store';
import { SCHEMA_VERSION } from './catalogue';
import { readWav } from './wav';
import { metadataFor, start, tmpDir, us, begin } from './test-fixtures';

describe('storage-local: plugin and store', () => {
  let tmp: string;
  let h: PluginHarness | undefined;
  beforeEach(async () => {
    tmp = tmpDir('store');
  });
  afterEach(async () => {
    await h?.stop();
    h = undefined;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function harness(options: Record<string, unknown> = { dir: tmp }): Promise<LocalStore> {
    h = await PluginHarness.create(storageLocalManifest, { options });
    const stores = h.resolveAll(Tokens.Storage);
    assert.equal(stores.length, 1);
    return stores[0] as LocalStore;
  }

  it('exports its manifest as default and named, kind storage', async () => {
    assert.equal(storageLocalDefault, storageLocalManifest);
    assert.equal(storageLocalManifest.kind, 'storage');
    assert.equal(storageLocalManifest.name, 'storage-local');
  });

  it('options: defaults, relative paths from the config folder, unknown options refused', async () => {
    assert.deepEqual(resolveStoragePaths({ dir: 'recordings', layout: 'date' }, '/etc/tapline'), {
      root: '/etc/tapline/recordings',
      catalogue: '/etc/tapline/recordings/catalogue.sqlite',
      layout: 'date',
      retention: { rules: [], auto: true },
    });
    assert.equal(resolveStoragePaths({ dir: '/srv/rec', layout: 'flat', catalogue: 'db/cat.sqlite' }, '/etc/tapline').catalogue, '/etc/tapline/db/cat.sqlite');
    await assert.rejects(PluginHarness.create(storageLocalManifest, { options: { dir: tmp, colour: 'red' } }), /colour/);
    await assert.rejects(PluginHarness.create(storageLocalManifest, { options: { dir: tmp, layout: 'by-user' } }), /layout/);
    await assert.rejects(PluginHarness.create(storageLocalManifest, { options: { dir: tmp, retention: { rules: [{ days: 0 }] } } }), /retention\/rules\/0\/days/);
  });

  it('opens the catalogue at start (WAL, current schema version), not at register', async () => {
    h = await PluginHarness.create(storageLocalManifest, { options: { dir: tmp }, start: false });
    assert.equal(fs.existsSync(path.join(tmp, 'catalogue.sqlite')), false);
    await h.kernel.start();
    const db = new Database(path.join(tmp, 'catalogue.sqlite'), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it('begin makes the date folder and a "recording" row; update writes metadata.json atomically and the row', async () => {
    const store = await harness();
    const info = start({ callId: 'abc@pbx', start: us('2026-03-04T23:59:58.250Z') });
    const files = (await begin(store, info));
    assert.equal(files.dir, path.join(tmp, '2026', '03', '04', `235958_abc@pbx_${info.id}`));
    assert.equal(files.audio, path.join(files.dir, 'audio.wav'));
    assert.equal(files.metadata, path.join(files.dir, 'metadata.json'));
    assert.ok(fs.statSync(files.dir).isDirectory());
    let [entry] = store.list({});
    assert.equal(entry?.status, 'recording');
    assert.equal(entry?.start, '2026-03-04T23:59:58.250Z');
    assert.equal(entry?.audio, files.audio);

    const running = metadataFor(info, files.audio);
    await store.update(running);
    assert.deepEqual(JSON.parse(fs.readFileSync(files.metadata, 'utf8')), running);
    [entry] = store.list({});
    assert.equal(entry?.status, 'recording');
    assert.equal(entry?.disposition, 'answered');
    assert.equal(entry?.durationSec, 0.5);

    const final = metadataFor(info, files.audio, {}, { end: '2026-03-05T00:01:00.000Z', durationSec: 61.75, endReason: 'bye' });
    if (final.audio) final.audio.durationSec = 61.5;
    await store.close(final);
    const written = JSON.parse(fs.readFileSync(files.metadata, 'utf8')) as typeof final;
    assert.equal(written.status, 'complete'); // done: complete even though the caller passed 'recording'
    assert.deepEqual(fs.readdirSync(files.dir).sort(), ['metadata.json']); // no temp files left behind
    const got = store.get(info.id);
    assert.ok(got);
    assert.deepEqual(got.entry, {
      id: info.id,
      callId: 'abc@pbx',
      start: '2026-03-04T23:59:58.250Z',
      end: '2026-03-05T00:01:00.000Z',
      durationSec: 61.5,
      from: 'sip:alice@example.com',
      to: 'sip:bob@example.com',
      disposition: 'answered',
      status: 'complete',
      audio: files.audio,
      metadata: files.metadata,
    });
    assert.equal(got.metadata.call.endReason, 'bye');
    assert.equal(store.get('no-such-id'), undefined);
  });

  it('a call that ended without audio has no audio in the catalogue, and duration from the call', async () => {
    const store = await harness();
    const info = start();
    const files = (await begin(store, info));
    await store.close(metadataFor(info, undefined, { flags: ['no audio was seen for this call'] }, { disposition: 'busy', durationSec: 3.2 }));
    const entry = store.get(info.id)?.entry;
    assert.equal(entry?.audio, undefined);
    assert.equal(entry?.durationSec, 3.2);
    assert.equal(entry?.disposition, 'busy');
    assert.equal(entry?.metadata, files.metadata);
  });

  it('refuses update of a recording never opened, audio before its format, a bad attachment name, and a second open of the same id', async () => {
    const store = await harness();
    const info = start();
    await assert.rejects(store.update(metadataFor(info, undefined)), /never opened/);
    await begin(store, info);
    await assert.rejects(store.writeAudio(info.id, 0, new Int16Array(2)), /before its format/);
    await assert.rejects(store.writeAttachment(info.id, '../escape.txt', Buffer.from('x'), 'replace'), /refusing attachment name/);
    await assert.rejects(begin(store, info), /UNIQUE|constraint/i);
  });

  it('audio, attachments and metadata through the sink contract: a WAV with silence where audio was dropped', async () => {
    const store = await harness();
    const info = start();
    const loc = store.locate(info);
    const files = await begin(store, info);
    assert.equal(loc.audio, files.audio);
    assert.equal(loc.format, 'wav');
    await store.openAudio(info.id, { sampleRate: 8000, channels: 2 });
    await store.writeAudio(info.id, 0, new Int16Array([1, 2, 3, 4]));
    await store.writeAudio(info.id, 10, new Int16Array([5, 6]));
    await store.writeAttachment(info.id, 'media.pcap', Buffer.from('ab'), 'append');
    await store.writeAttachment(info.id, 'media.pcap', Buffer.from('cd'), 'append');
    await store.writeAttachment(info.id, 'sip.txt', Buffer.from('old'), 'replace');
    await store.writeAttachment(info.id, 'sip.txt', Buffer.from('INVITE'), 'replace');
    await store.close(metadataFor(info, files.audio));
    assert.deepEqual([...readWav(files.audio).samples], [1, 2, 3, 4, ...new Array(16).fill(0), 5, 6]);
    assert.equal(fs.readFileSync(path.join(files.dir, 'media.pcap'), 'utf8'), 'abcd');
    assert.equal(fs.readFileSync(path.join(files.dir, 'sip.txt'), 'utf8'), 'INVITE');
    assert.equal(store.get(info.id)?.entry.status, 'complete');
    await assert.rejects(store.writeAudio(info.id, 11, new Int16Array(2)), /never opened|closed/);
  });

  it('flat layout', async () => {
    const store = await harness({ dir: tmp, layout: 'flat', catalogue: path.join(tmp, 'db', 'cat.sqlite') });
    const info = start({ callId: 'x/y', start: us('2026-12-31T01:02:03Z') });
    const files = (await begin(store, info));
    assert.equal(files.dir, path.join(tmp, `20261231T010203_x%2Fy_${info.id}`));
    assert.ok(fs.existsSync(path.join(tmp, 'db', 'cat.sqlite')));
  });

  it('stop closes the catalogue (idempotent); a store reopens lazily', async () => {
    const store = await harness();
    const info = start();
    (await begin(store, info));
    await h?.stop();
    store.closeCatalogue();
    assert.equal(store.list({}).length, 1); // reopened on use
    store.closeCatalogue();
  });

  it('paths in the catalogue are relative: recordings and catalogue can move together', async () => {
    const a = path.join(tmp, 'a');
    const store = new LocalStore({ root: a, catalogue: path.join(a, 'catalogue.sqlite'), layout: 'date' });
    const info = start();
    (await begin(store, info));
    store.closeCatalogue();
    const b = path.join(tmp, 'b');
    fs.renameSync(a, b);
    const moved = new LocalStore({ root: b, catalogue: path.join(b, 'catalogue.sqlite'), layout: 'date' });
    try {
      const [e] = moved.list({});
      assert.ok(e?.metadata.startsWith(b + path.sep));
      assert.ok(fs.existsSync(path.dirname(e?.metadata ?? '')));
    } finally {
      moved.closeCatalogue();
    }
  });
});
