import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { Catalogue, parseQueryDate, SCHEMA_VERSION } from './catalogue';
import { LocalStore } from './store';
import { metadataFor, start, tmpDir, us, begin } from './test-fixtures';

const usage = (re: RegExp) => (e: unknown): boolean => isTaplineError(e, ErrorCodes.USAGE) && re.test(e.message);

describe('storage-local: catalogue queries', () => {
  const tmp = tmpDir('catalogue');
  const store = new LocalStore({ root: tmp, catalogue: path.join(tmp, 'catalogue.sqlite'), layout: 'date' });
  const ids: Record<string, string> = {};
  after(async () => {
    store.closeCatalogue();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  before(async () => {
    const calls: Array<[string, string, string, string, string | undefined, string?]> = [
      // key, start, from, to, to display name, transfer target
      ['jan', '2026-01-15T09:00:00Z', 'sip:alice@example.com', 'sip:bob@example.com', undefined],
      ['feb', '2026-02-01T00:00:00Z', 'sip:carol@example.com', 'sip:dave@example.com', 'Dave Müller'],
      ['feb2', '2026-02-28T23:59:59.999Z', 'sip:ALICE@EXAMPLE.COM', 'tel:+15551234', undefined, '<sip:erin@example.com>'],
      ['mar', '2026-03-01T00:00:00Z', 'sip:frank@example.com', 'sip:zoë@example.com', 'ZOË'],
    ];
    for (const [key, iso, from, to, toName, referTo] of calls) {
      const info = start({ start: us(iso), from, to });
      ids[key] = info.id;
      const files = (await begin(store, info));
      await store.close(
        metadataFor(info, files.audio, {}, {
          from: key === 'feb' ? { uri: from, displayName: 'Carol Ng' } : { uri: from },
          to: { uri: to, ...(toName ? { displayName: toName } : {}) },
          refers: referTo ? [{ at: iso, by: 'callee', referTo }] : [],
        }),
      );
    }
  });

  const listIds = (q: Parameters<LocalStore['list']>[0]): string[] => store.list(q).map((e) => e.id);

  it('lists newest first, default limit 100', async () => {
    assert.deepEqual(listIds({}), [ids.mar, ids.feb2, ids.feb, ids.jan]);
    assert.deepEqual(listIds({ limit: 2 }), [ids.mar, ids.feb2]);
  });

  it('from/to select [from, to) on the start time, dates or date-times, with zones', async () => {
    assert.deepEqual(listIds({ from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }), [ids.feb2, ids.feb]);
    assert.deepEqual(listIds({ from: '2026-02-01T00:00:00.001Z' }), [ids.mar, ids.feb2]);
    assert.deepEqual(listIds({ to: '2026-02-01T01:00+01:00' }), [ids.jan]); // = 00:00Z, when feb started: exclusive
    assert.deepEqual(listIds({ from: '2026-01-15T10:00:00+01:00', to: '2026-01-15T10:00:00.001+01:00' }), [ids.jan]);
  });

  it('parses dates without a zone as local time', async () => {
    assert.equal(parseQueryDate('2026-02-03', 'from'), new Date(2026, 1, 3).toISOString());
    assert.equal(parseQueryDate('2026-02-03T04:05', 'from'), new Date(2026, 1, 3, 4, 5).toISOString());
    assert.equal(parseQueryDate('2026-02-03 04:05:06.7', 'from'), new Date(2026, 1, 3, 4, 5, 6, 700).toISOString());
    assert.equal(parseQueryDate('2026-02-03T04:05:06Z', 'from'), '2026-02-03T04:05:06.000Z');
    assert.equal(parseQueryDate('2026-02-03T04:05:06-0230', 'from'), '2026-02-03T06:35:06.000Z');
    assert.equal(parseQueryDate('2024-02-29', 'from'), new Date(2024, 1, 29).toISOString());
  });

  it('invalid dates and limits are clear usage errors', async () => {
    for (const bad of ['yesterday', '2026-02-30', '2026-13-01', '2026-1-5', '2026-01-01T24:00', '2026-01-01T10:00+25:00', '', '2026-01-01T10:00:00Zjunk', '1e9']) {
      assert.throws(() => store.list({ from: bad }), usage(/invalid from/), bad);
    }
    assert.throws(() => store.list({ to: '2025-02-29' }), usage(/invalid to "2025-02-29": day 29 does not exist/));
    assert.throws(() => store.list({ from: '2026-03-01', to: '2026-02-01' }), usage(/from .* is after to/));
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => store.list({ limit: bad }), usage(/invalid limit/));
  });

  it('user matches a participant URI or display name, as a substring, ignoring case (Unicode too)', async () => {
    assert.deepEqual(listIds({ user: 'alice' }), [ids.feb2, ids.jan]);
    assert.deepEqual(listIds({ user: 'ALICE@example' }), [ids.feb2, ids.jan]);
    assert.deepEqual(listIds({ user: 'müller' }), [ids.feb]);
    assert.deepEqual(listIds({ user: 'carol ng' }), [ids.feb]);
    assert.deepEqual(listIds({ user: 'MÜLLER' }), [ids.feb]);
    assert.deepEqual(listIds({ user: 'zoë' }), [ids.mar]); // URI and name
    assert.deepEqual(listIds({ user: '5551234' }), [ids.feb2]);
    assert.deepEqual(listIds({ user: 'erin' }), [ids.feb2]); // transfer target
    assert.deepEqual(listIds({ user: 'alice', from: '2026-02-01T00:00Z' }), [ids.feb2]);
    assert.deepEqual(listIds({ user: "' OR 1=1 --" }), []);
    assert.deepEqual(listIds({ user: '%' }), []); // no LIKE wildcards
    assert.deepEqual(listIds({ user: '_' }), []);
  });

  it('participants table indexed on uri; recordings indexed on start', async () => {
    const db = new Database(path.join(tmp, 'catalogue.sqlite'), { readonly: true });
    try {
      const idx = db.prepare<[], { name: string; tbl_name: string }>("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").all();
      assert.ok(idx.some((i) => i.name === 'participants_uri' && i.tbl_name === 'participants'));
      assert.ok(idx.some((i) => i.name === 'recordings_start' && i.tbl_name === 'recordings'));
      const roles = db.prepare<[string], { role: string; uri: string; name: string | null }>('SELECT role, uri, name FROM participants WHERE recording_id = ? ORDER BY id').all(ids.feb as string);
      assert.deepEqual(roles, [
        { role: 'caller', uri: 'sip:carol@example.com', name: 'Carol Ng' },
        { role: 'callee', uri: 'sip:dave@example.com', name: 'Dave Müller' },
      ]);
    } finally {
      db.close();
    }
  });

  it('read-only open: works alongside the writer, refuses a missing file, a non-catalogue and a newer schema', async () => {
    const ro = Catalogue.open(path.join(tmp, 'catalogue.sqlite'), { readonly: true });
    try {
      assert.equal(ro.list({}).length, 4);
      assert.throws(() => ro.insert({ ...start(), fromUri: '', toUri: '', start: '2026-01-01T00:00:00.000Z', disposition: '', status: 'recording', dir: tmp, metadata: tmp, participants: [] }), /readonly/i);
    } finally {
      ro.close();
    }
    const missing = path.join(tmp, 'nope', 'catalogue.sqlite');
    assert.throws(() => Catalogue.open(missing, { readonly: true }), usage(/no recordings catalogue at/));
    assert.equal(fs.existsSync(path.dirname(missing)), false);

    const junk = path.join(tmp, 'junk.sqlite');
    fs.writeFileSync(junk, 'this is not a database, just text '.repeat(100));
    assert.throws(() => Catalogue.open(junk, { readonly: true }), usage(/not a usable recordings catalogue|not a Tapline/));
    assert.throws(() => Catalogue.open(junk), usage(/not a usable recordings catalogue/));

    const empty = path.join(tmp, 'empty.sqlite');
    new Database(empty).close();
    assert.throws(() => Catalogue.open(empty, { readonly: true }), usage(/not a Tapline recordings catalogue/));

    const future = path.join(tmp, 'future.sqlite');
    const db = new Database(future);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => Catalogue.open(future), usage(/newer than this Tapline understands/));
  });

  it('grouped writes share one commit, seen by other connections once it is made; a failing one undoes only itself', async () => {
    const file = path.join(tmp, 'grouped.sqlite');
    const cat = Catalogue.open(file);
    const other = Catalogue.open(file, { readonly: true });
    try {
      const row = (n: number) => ({ id: `g${n}`, callId: `c${n}`, fromUri: 'sip:a@x', toUri: 'sip:b@x', start: '2026-01-01T00:00:00.000Z', disposition: '', status: 'recording' as const, dir: tmp, metadata: tmp, participants: [{ uri: 'sip:a@x', role: 'caller' }] });
      const writes = [0, 1, 2].map((n) => cat.grouped(() => cat.insert(row(n))));
      const failing = cat.grouped(() => {
        cat.insert(row(3));
        throw new Error('half-way');
      });
      assert.equal(other.list({}).length, 0, 'nothing committed before the loop turns');
      await assert.rejects(failing, /half-way/);
      await Promise.all(writes);
      assert.deepEqual(other.list({}).map((e) => e.id).sort(), ['g0', 'g1', 'g2'], 'the group, without the failed write');
      // A later write opens a new group; close() commits one still open.
      void cat.grouped(() => cat.insert(row(4)));
      cat.close();
      assert.equal(other.list({}).length, 4);
    } finally {
      other.close();
      cat.close();
    }
  });

  it('reopening a current catalogue keeps its rows (no re-migration)', async () => {
    const again = Catalogue.open(path.join(tmp, 'catalogue.sqlite'));
    try {
      assert.equal(again.list({}).length, 4);
    } finally {
      again.close();
    }
  });
});
