/**
 * A call is known by Call-ID, tags, start and recorder: the same capture recorded twice lists each call once (the
 * second recording replaces the first, whose removal is on record); `recordings show` takes an id prefix or a
 * Call-ID; `tapline verify` finds a flipped byte, a deleted file, an altered manifest; manifests chain day to day.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tapline } from './test-fixtures';
import { Catalogue } from './catalogue';
import { REVIEW_DOWNGRADE } from './test-fixtures';
import { MANIFEST_DIR, objectsOf, removeRecording, verifyCatalogue, writeDueManifests } from './integrity';



describe('storage-local: a call recorded again, and integrity', function () {
  this.timeout(120_000);
  let dir: string;
  let out: string;
  let pcap: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-integrity-'));
    out = path.join(dir, 'rec');
    pcap = path.join(dir, 'calls.pcap');
    const g = tapline(['generate', '--out', pcap, '--calls', '3', '--duration', '2', '--seed', '7'], dir);
    assert.equal(g.code, 0, g.err);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const catalogue = (): Catalogue => Catalogue.open(path.join(out, 'catalogue.sqlite'), { readonly: true });

  it('the same capture recorded twice lists each call once: the second recording replaces the first, on record', () => {
    const first = tapline(['record', '--pcap', pcap, '--out', out, '--no-progress'], dir);
    assert.equal(first.code, 0, first.err);
    let cat = catalogue();
    const before = cat.list({});
    const audio = new Map(before.map((e) => [e.callId, fs.readFileSync(e.audio as string)]));
    cat.close();
    assert.equal(before.length, 3);
    const second = tapline(['record', '--pcap', pcap, '--out', out, '--no-progress'], dir);
    assert.equal(second.code, 0, second.err);
    cat = catalogue();
    try {
      const after = cat.list({});
      assert.equal(after.length, 3, after.map((e) => `${e.callId} ${e.id}`).join('\n'));
      assert.deepEqual(new Set(after.map((e) => e.callId)), new Set(before.map((e) => e.callId)));
      for (const e of after) {
        assert.ok(!before.some((b) => b.id === e.id), 'the new recordings are kept');
        assert.deepEqual(fs.readFileSync(e.audio as string), audio.get(e.callId), 'the same audio, byte for byte');
      }
      for (const b of before) assert.equal(fs.existsSync(path.dirname(b.metadata)), false, `the replaced recording's folder is gone: ${b.metadata}`);
      const removals = cat.stmt('SELECT recording_id, name, reason FROM removals ORDER BY recording_id').all({}) as Array<{ recording_id: string; name: string; reason: string }>;
      assert.deepEqual(new Set(removals.map((r) => r.recording_id)), new Set(before.map((b) => b.id)));
      // Each replaced recording's files: its audio and its waveform peaks.
      assert.deepEqual(new Set(removals.map((r) => r.name)), new Set(['audio.wav', 'peaks.json']));
      assert.ok(removals.every((r) => /replaced by .*the same call \(Call-ID, tags, start, recorder\) recorded again/.test(r.reason)));
    } finally {
      cat.close();
    }
    assert.match(second.err + second.out, /replaces/);
  });

  it('recordings show takes an id, a unique prefix of it, or a Call-ID; an ambiguous prefix lists the matches', () => {
    const cat = catalogue();
    const entries = cat.list({});
    cat.close();
    const e = entries[0]!;
    for (const ref of [e.id, e.id.slice(0, 12), e.callId]) {
      const r = tapline(['recordings', 'show', ref, '--dir', out, '--json'], dir);
      assert.equal(r.code, 0, r.err);
      assert.equal((JSON.parse(r.out) as { entry: { id: string } }).entry.id, e.id, ref);
    }
    const none = tapline(['recordings', 'show', 'zzzz', '--dir', out], dir);
    assert.equal(none.code, 1);
    assert.match(none.err, /no recording with id, id prefix or Call-ID "zzzz"/);
    // Ambiguity, on a catalogue made for it: two ids sharing a prefix, a Call-ID recorded in two parts.
    const file = path.join(dir, 'resolve', 'catalogue.sqlite');
    const w = Catalogue.open(file);
    try {
      for (const id of ['abcd-0001', 'abcd-0002', 'ef01-0003']) {
        w.insert({ id, callId: id === 'ef01-0003' ? 'solo@x' : 'parts@x', start: '2026-11-01T10:00:00.000Z', fromUri: 'sip:a@x', toUri: 'sip:b@x', disposition: 'answered', status: 'complete', dir: path.join(dir, 'resolve', id), metadata: path.join(dir, 'resolve', id, 'metadata.json'), participants: [] });
      }
      assert.equal(w.resolve('ef01')?.id, 'ef01-0003');
      assert.equal(w.resolve('solo@x')?.id, 'ef01-0003');
      assert.equal(w.resolve('abcd-0002')?.id, 'abcd-0002');
      assert.equal(w.resolve('abc'), undefined, 'three characters are no prefix');
      assert.throws(() => w.resolve('abcd'), /id prefix "abcd" matches 2 recordings: abcd-000[12] .*; abcd-000[12] .*give a longer id/);
      assert.throws(() => w.resolve('parts@x'), /Call-ID "parts@x" matches 2 recordings/);
    } finally {
      w.close();
    }
  });

  it('tapline verify: OK on what was recorded; a flipped byte, a deleted file and a forged hash are named, exit 1', () => {
    const ok = tapline(['verify', '--dir', out], dir);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /^OK: 6 files \(.* MiB\) of 3 recordings checked/m, 'audio.wav and peaks.json of each');
    const cat = catalogue();
    const [a, b] = cat.list({});
    const hashed = objectsOf(cat, a!.id);
    cat.close();
    assert.deepEqual(hashed.map((o) => o.name), ['audio.wav', 'peaks.json']);
    const shown = tapline(['recordings', 'show', a!.id, '--dir', out, '--json'], dir);
    assert.deepEqual((JSON.parse(shown.out) as { files: unknown[] }).files, hashed.map((o) => ({ name: o.name, bytes: o.bytes, sha256: o.sha256 })));
    assert.equal(hashed[0]!.bytes, fs.statSync(a!.audio as string).size);
    // One bit of one sample, deep inside the audio.
    const fd = fs.openSync(a!.audio as string, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, 1000);
    byte[0] = byte[0]! ^ 0x01;
    fs.writeSync(fd, byte, 0, 1, 1000);
    fs.closeSync(fd);
    fs.rmSync(b!.audio as string);
    const bad = tapline(['verify', '--dir', out, '--json'], dir);
    assert.equal(bad.code, 1);
    const rep = JSON.parse(bad.out) as { ok: boolean; problems: string[] };
    assert.equal(rep.ok, false);
    assert.equal(rep.problems.length, 2, rep.problems.join('\n'));
    assert.match(rep.problems.find((p) => p.startsWith(a!.id)) ?? '', /audio\.wav was altered: \d+ bytes with SHA-256 [0-9a-f]{64}, catalogued/);
    assert.match(rep.problems.find((p) => p.startsWith(b!.id)) ?? '', /audio\.wav is missing \(ENOENT\)/);
  });

  it('daily manifests: written for past days, chained; an altered one, a broken link or a silent deletion shows', async () => {
    const root = path.join(dir, 'daily');
    fs.mkdirSync(root);
    const file = path.join(root, 'catalogue.sqlite');
    const w = Catalogue.open(file);
    try {
      // Three recordings finished on two days, one day later removed on record, one deleted without a trace.
      for (const [id, day] of [['r1', '2026-11-01'], ['r2', '2026-11-01'], ['r3', '2026-11-03'], ['r4', '2026-11-03']] as const) {
        w.insert({ id, callId: `${id}@x`, start: `${day}T10:00:00.000Z`, fromUri: 'sip:a@x', toUri: 'sip:b@x', disposition: 'answered', status: 'complete', dir: path.join(root, id), metadata: path.join(root, id, 'metadata.json'), participants: [] });
        w.stmt('INSERT INTO objects (recording_id, name, bytes, sha256, finished) VALUES (@id, @n, 4, @h, @f)').run({ id, n: 'audio.wav', h: `${id}`.padEnd(64, '0'), f: `${day}T11:00:00.000Z` });
      }
      assert.deepEqual(await writeDueManifests(w, root, '2026-11-03'), ['2026-11-01'], 'today is not a past day');
      assert.deepEqual(await writeDueManifests(w, root, '2026-11-03'), [], 'written once');
      assert.deepEqual(await writeDueManifests(w, root, '2026-11-04'), ['2026-11-03']);
      // JSON Lines: a header naming the day before, then a file a line.
      const [head, ...lines] = fs.readFileSync(path.join(root, MANIFEST_DIR, '2026-11-03.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal((head!.previous as { day: string }).day, '2026-11-01');
      assert.deepEqual(lines.map((o) => o.recording), ['r3', 'r4']);
      let rep = await verifyCatalogue(w, root);
      // The audio files do not exist in this case: only the manifest problems matter here.
      const manifestProblems = (): string[] => rep.problems.filter((p) => /manifest|gone from the catalogue/.test(p));
      assert.deepEqual(manifestProblems(), []);
      assert.equal(rep.manifests, 2);
      // r3 removed on record (a replacement): explained. r4 deleted behind the catalogue's back: shows.
      removeRecording(w, 'r3', 'replaced by r9', '2026-11-05T00:00:00.000Z');
      w.stmt('DELETE FROM recordings WHERE id = @id').run({ id: 'r4' });
      rep = await verifyCatalogue(w, root);
      assert.deepEqual(manifestProblems(), ['r4: audio.wav, listed in manifest 2026-11-03, is gone from the catalogue with no record of its removal']);
      // The first manifest edited: its hash no longer matches, and the second's link to it is still the old hash.
      const f1 = path.join(root, MANIFEST_DIR, '2026-11-01.json');
      fs.writeFileSync(f1, fs.readFileSync(f1, 'utf8').replace('r2', 'r7'));
      rep = await verifyCatalogue(w, root);
      assert.ok(manifestProblems().some((p) => /^manifest 2026-11-01 was altered: SHA-256 [0-9a-f]{64}, catalogued/.test(p)), rep.problems.join('\n'));
      assert.ok(manifestProblems().some((p) => /r7: audio\.wav, listed in manifest 2026-11-01, is gone/.test(p)));
    } finally {
      w.close();
    }
  });
});

describe('storage-local: a version 2 catalogue', () => {
  it('migrates to version 3 with its recordings kept; verify says they predate hashing; new ones are hashed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-integrity-v2-'));
    try {
      const file = path.join(dir, 'catalogue.sqlite');
      const w = Catalogue.open(file);
      w.insert({ id: 'old-1', callId: 'old@x', start: '2026-01-01T10:00:00.000Z', fromUri: 'sip:a@x', toUri: 'sip:b@x', disposition: 'answered', status: 'complete', dir: path.join(dir, 'old-1'), audio: path.join(dir, 'old-1', 'audio.wav'), metadata: path.join(dir, 'old-1', 'metadata.json'), participants: [] });
      w.close();
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(file);
      db.exec(REVIEW_DOWNGRADE); // schema 7
      db.exec('DROP TABLE published;'); // schema 6
      db.exec('DROP TRIGGER participants_fts_insert; DROP TRIGGER participants_fts_delete; DROP TABLE participants_fts;');
      db.exec('DROP TABLE holds; DROP TABLE audit;');
      db.exec('DROP TABLE objects; DROP TABLE removals; DROP TABLE manifests; DROP INDEX recordings_call_key; ALTER TABLE recordings DROP COLUMN call_key;');
      db.pragma('user_version = 2');
      db.close();
      const ro = Catalogue.open(file, { readonly: true });
      const before = await verifyCatalogue(ro, dir);
      ro.close();
      assert.match(before.problems.join('\n'), /predates file hashes \(schema version < 3\)/);
      const up = Catalogue.open(file);
      try {
        assert.deepEqual(up.list({}).map((e) => e.id), ['old-1']);
        const rep = await verifyCatalogue(up, dir);
        assert.deepEqual(rep.problems, []);
        assert.equal(rep.notHashed, 1);
      } finally {
        up.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('storage-local: a day with more files than a page', () => {
  it('its manifest lists every file once, in order, and verifies', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-integrity-pages-'));
    const w = Catalogue.open(path.join(root, 'catalogue.sqlite'));
    try {
      const n = 2500;
      w.tx(() => {
        for (let i = 0; i < n; i++) {
          const id = `r${String(i).padStart(5, '0')}`;
          w.insert({ id, callId: `${id}@x`, start: '2026-11-01T10:00:00.000Z', fromUri: 'sip:a@x', toUri: 'sip:b@x', disposition: 'answered', status: 'complete', dir: path.join(root, id), metadata: path.join(root, id, 'metadata.json'), participants: [] });
          // Many files share one finishing time: the page boundary must not skip or repeat them.
          w.stmt('INSERT INTO objects (recording_id, name, bytes, sha256, finished) VALUES (@id, @n, 4, @h, @f)').run({ id, n: 'audio.wav', h: 'a'.repeat(64), f: `2026-11-01T11:00:0${i % 3}.000Z` });
        }
      });
      assert.deepEqual(await writeDueManifests(w, root, '2026-11-02'), ['2026-11-01']);
      const lines = fs.readFileSync(path.join(root, MANIFEST_DIR, '2026-11-01.json'), 'utf8').trim().split('\n');
      assert.equal(lines.length, n + 1);
      assert.equal(new Set(lines.slice(1).map((l) => (JSON.parse(l) as { recording: string }).recording)).size, n);
      const rep = await verifyCatalogue(w, root);
      assert.deepEqual(rep.problems.filter((p) => /manifest/.test(p)), []);
    } finally {
      w.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
