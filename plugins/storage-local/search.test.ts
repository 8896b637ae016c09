/**
 * Participant search from the trigram index (schema 5) finds exactly what the folding scan it replaces finds —
 * case, width (NFKC) and accents as before — stays in step when recordings are deleted (a cascade) or their
 * participants replaced, and is built for the rows of an older catalogue when it migrates.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { Catalogue, foldText } from './catalogue';
import { REVIEW_DOWNGRADE } from './test-fixtures';
import { removeRecording } from './integrity';
import { searchRecordings } from './library-search';

const NAMES: Array<[string, string | undefined]> = [
  ['sip:alice@contoso.com', 'Alice Liddell'],
  ['sip:bob@contoso.com', undefined],
  ['sip:+15551234567@pstn.example', 'Renée Ångström'],
  ['sip:ＡＧＥＮＴ７@contoso.com', 'Ｆｕｌｌ Ｗｉｄｔｈ'],
  ['sip:carol@fabrikam.example', 'CAROL "Q" O\'Brien'],
  ['tel:+441234567890', '山田 太郎'],
];

function fill(cat: Catalogue, n: number): void {
  cat.tx(() => {
    for (let i = 0; i < n; i++) {
      const [a, an] = NAMES[i % NAMES.length]!;
      const [b, bn] = NAMES[(i * 7 + 3) % NAMES.length]!;
      cat.insert({
        id: `r${String(i).padStart(4, '0')}`,
        callId: `c${i}@x`,
        start: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
        fromUri: a,
        ...(an !== undefined ? { fromName: an } : {}),
        toUri: b,
        ...(bn !== undefined ? { toName: bn } : {}),
        disposition: 'answered',
        status: 'complete',
        dir: `/tmp/none/r${i}`,
        metadata: `/tmp/none/r${i}/metadata.json`,
        participants: [{ uri: a, ...(an !== undefined ? { name: an } : {}), role: 'caller' }, { uri: b, ...(bn !== undefined ? { name: bn } : {}), role: 'callee' }],
      });
    }
  });
}

/** What the scan (schema 4's path) finds: the reference. */
function scan(cat: Catalogue, user: string): string[] {
  const rows = cat.stmt(
    `SELECT r.id FROM recordings r WHERE r.id IN (SELECT p.recording_id FROM participants p WHERE instr(tl_fold(p.uri), @user) > 0 OR instr(tl_fold(p.name), @user) > 0) ORDER BY r.start DESC, r.id DESC LIMIT 100000`,
  ).all({ user: foldText(user) }) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

describe('storage-local: participant search from the trigram index', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-search-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds what the folding scan finds, for every kind of text', () => {
    const cat = Catalogue.open(path.join(dir, 'c.sqlite'));
    try {
      fill(cat, 240);
      const queries = ['alice', 'ALICE', 'liddell', 'contoso', 'renée', 'RENÉE', 'ångström', 'agent7', 'ａｇｅｎｔ７', 'full width', '"q"', "o'brien", '山田', '5551234', '+1555', 'sip:', 'nobody-here', 'ob'];
      for (const q of queries) {
        const got = cat.list({ user: q, limit: 100000 }).map((e) => e.id);
        assert.deepEqual(got, scan(cat, q), q);
      }
      assert.ok(cat.list({ user: 'agent7', limit: 1000 }).length > 0, 'width folding');
    } finally {
      cat.close();
    }
  });

  it('stays in step: a deleted recording (cascade) and replaced participants leave the index', () => {
    const cat = Catalogue.open(path.join(dir, 'c.sqlite'));
    try {
      fill(cat, 12);
      const alice = cat.list({ user: 'alice' }).map((e) => e.id);
      removeRecording(cat, alice[0]!, 'test', new Date().toISOString());
      assert.deepEqual(cat.list({ user: 'alice' }).map((e) => e.id), alice.slice(1));
      cat.update(alice[1]!, { status: 'complete', disposition: 'answered', fromUri: 'sip:zed@x', toUri: 'sip:yan@x', participants: [{ uri: 'sip:zed@x', role: 'caller' }] });
      assert.deepEqual(cat.list({ user: 'alice' }).map((e) => e.id), alice.slice(2));
      assert.deepEqual(cat.list({ user: 'zed' }).map((e) => e.id), [alice[1]]);
      const fts = (cat.stmt('SELECT count(*) AS n FROM participants_fts').get({}) as { n: number }).n;
      const rows = (cat.stmt('SELECT count(*) AS n FROM participants').get({}) as { n: number }).n;
      assert.equal(fts, rows);
    } finally {
      cat.close();
    }
  });

  it('a version 4 catalogue migrates with its participants indexed', () => {
    const file = path.join(dir, 'c.sqlite');
    const cat = Catalogue.open(file);
    fill(cat, 30);
    cat.close();
    const db = new Database(file);
    db.exec(REVIEW_DOWNGRADE); // schema 7
    db.exec('DROP TABLE published;'); // schema 6
    db.exec('DROP TRIGGER participants_fts_insert; DROP TRIGGER participants_fts_delete; DROP TABLE participants_fts;');
    db.pragma('user_version = 4');
    db.close();
    const ro = Catalogue.open(file, { readonly: true });
    const before = ro.list({ user: 'renée', limit: 1000 }).map((e) => e.id);
    ro.close();
    const up = Catalogue.open(file);
    try {
      assert.ok(up.hasTable('participants_fts'));
      assert.deepEqual(up.list({ user: 'renée', limit: 1000 }).map((e) => e.id), before);
      assert.ok(before.length > 0);
    } finally {
      up.close();
    }
  });
});

describe('storage-local: the parts of one call (library search by Call-ID)', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-parts-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds exactly the recordings with that Call-ID, in start order', () => {
    const cat = Catalogue.open(path.join(dir, 'catalogue.sqlite'));
    try {
      fill(cat, 50);
      // A second part of call c7 (another recorder took it over), later in the call.
      cat.insert({ id: 'r7-part2', callId: 'c7@x', start: new Date(Date.UTC(2026, 0, 1) + 7 * 60_000 + 5000).toISOString(), fromUri: NAMES[7 % NAMES.length]![0], toUri: NAMES[3]![0], disposition: 'answered', status: 'complete', dir: '/tmp/none/p2', metadata: '/tmp/none/p2/metadata.json', participants: [] });
      const page = searchRecordings(cat, { callId: 'c7@x', sort: 'start', order: 'asc' });
      assert.deepEqual(page.items.map((r) => r.id), ['r0007', 'r7-part2']);
      assert.deepEqual(searchRecordings(cat, { callId: 'c7@' }).items, [], 'the Call-ID is matched whole, not as a substring');
    } finally {
      cat.close();
    }
  });
});
