import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { ChatTranscript } from '../../core/contract';
import { Catalogue, SCHEMA_VERSION } from './catalogue';
import { REVIEW_DOWNGRADE } from './test-fixtures';
import { LocalStore } from './store';
import { listTranscripts, getTranscript } from './transcripts';
import { metadataFor, start, tmpDir, us, begin } from './test-fixtures';

let n = 0;
function transcript(over: Partial<ChatTranscript> = {}): ChatTranscript {
  n++;
  return {
    id: `chat-${n}-${Math.random().toString(36).slice(2, 8)}`,
    kind: 'im',
    callId: `im-${n}@pool.contoso.com`,
    callIds: [`im-${n}@pool.contoso.com`],
    start: '2026-03-04T10:00:00.000Z',
    end: '2026-03-04T10:05:00.000Z',
    durationSec: 300,
    endReason: 'bye',
    participants: [
      { uri: 'sip:alice@contoso.com', name: 'Alice Liddell', role: 'initiator', licensed: true },
      { uri: 'sip:bob@contoso.com', role: 'invitee', licensed: false },
    ],
    keptFor: { reason: 'licence', user: 'sip:alice@contoso.com' },
    messages: [{ seq: 1, at: '2026-03-04T10:00:00.000Z', author: { uri: 'sip:alice@contoso.com' }, text: 'hello', contentType: 'text/plain', carriedBy: 'INVITE' }],
    events: [],
    linkedCalls: [],
    warnings: [],
    ...over,
  };
}

describe('storage-local: chat transcripts', () => {
  let tmp: string;
  let store: LocalStore;
  beforeEach(async () => {
    tmp = tmpDir('transcripts');
    store = new LocalStore({ root: tmp, catalogue: path.join(tmp, 'catalogue.sqlite'), layout: 'date' });
  });
  afterEach(async () => {
    store.closeCatalogue();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('writes transcript.json (+ html, txt) under the date layout, the folder name made safe', async () => {
    const t = transcript({ callId: '../../etc/passwd\u0000x' });
    const files = store.saveTranscript(t, { html: '<p>hi</p>', text: 'hi\n' });
    assert.equal(path.dirname(files.dir), path.join(tmp, '2026', '03', '04'));
    assert.match(path.basename(files.dir), /^100000_%2E%2E%2F\.\.%2Fetc%2Fpasswd%00x_chat-/);
    assert.deepEqual(JSON.parse(fs.readFileSync(files.json, 'utf8')), t);
    assert.equal(fs.readFileSync(files.html!, 'utf8'), '<p>hi</p>');
    assert.equal(fs.readFileSync(files.text!, 'utf8'), 'hi\n');
    assert.deepEqual(fs.readdirSync(files.dir).sort(), ['transcript.html', 'transcript.json', 'transcript.txt'], 'no temp files left');
  });

  it('lists newest first, searchable by participant (URI or name, any case) and time; get returns the transcript', async () => {
    const a = transcript({ start: '2026-01-10T08:00:00.000Z' });
    const b = transcript({ start: '2026-02-10T08:00:00.000Z', participants: [{ uri: 'sip:zoë@fabrikam.com', name: 'ZOË Ö', role: 'participant', licensed: true }], kind: 'multiparty' });
    const c = transcript({ start: '2026-03-10T08:00:00.000Z' });
    for (const t of [a, b, c]) store.saveTranscript(t, {});
    assert.deepEqual(store.listTranscripts({}).map((e) => e.id), [c.id, b.id, a.id]);
    assert.deepEqual(store.listTranscripts({ user: 'ALICE' }).map((e) => e.id), [c.id, a.id]);
    assert.deepEqual(store.listTranscripts({ user: 'zoë ö' }).map((e) => e.id), [b.id]);
    assert.deepEqual(store.listTranscripts({ user: 'liddell' }).map((e) => e.id), [c.id, a.id], 'by display name');
    assert.deepEqual(store.listTranscripts({ from: '2026-02-01T00:00Z', to: '2026-03-01T00:00Z' }).map((e) => e.id), [b.id]);
    assert.deepEqual(store.listTranscripts({ limit: 1 }).map((e) => e.id), [c.id]);
    assert.throws(() => store.listTranscripts({ from: '2026-13-01' }), /month 13/);
    const got = store.getTranscript(b.id)!;
    assert.deepEqual(got.transcript, b);
    assert.deepEqual(got.entry.participants, ['sip:zoë@fabrikam.com']);
    assert.equal(got.entry.kind, 'multiparty');
    assert.equal(got.entry.messages, 1);
    assert.equal(got.entry.keptFor, 'sip:alice@contoso.com');
    assert.equal(store.getTranscript('nope'), undefined);
    assert.deepEqual(store.list({}), [], 'transcripts are not call recordings');
  });

  it('links a transcript to the recordings of calls with the same Ms-Conversation-ID', async () => {
    const info = start({ start: us('2026-03-04T10:01:00Z') });
    const files = (await begin(store, info));
    await store.close(metadataFor(info, files.audio, {}, { conversationId: 'CONV-1' }));
    const other = start({ start: us('2026-03-04T10:02:00Z') });
    await store.close(metadataFor(other, (await begin(store, other)).audio, {}, { conversationId: 'CONV-2' }));
    const t = transcript({ conversationId: 'CONV-1' });
    store.saveTranscript(t, {});
    const got = store.getTranscript(t.id)!;
    assert.deepEqual(got.linkedRecordings.map((r) => r.id), [info.id]);
    assert.equal(got.entry.conversationId, 'CONV-1');
  });

  it('migrates a version 1 catalogue (recordings kept), and a read-only open of one lists no chats', async () => {
    const info = start();
    await store.close(metadataFor(info, (await begin(store, info)).audio));
    store.closeCatalogue();
    const file = path.join(tmp, 'catalogue.sqlite');
    const db = new Database(file);
    // Back to version 1: version 5's additions, 4's, 3's, then 2's.
    db.exec(REVIEW_DOWNGRADE); // schema 7
    db.exec('DROP TABLE published;'); // schema 6
    db.exec('DROP TRIGGER participants_fts_insert; DROP TRIGGER participants_fts_delete; DROP TABLE participants_fts;');
    db.exec('DROP TABLE holds; DROP TABLE audit; DROP INDEX IF EXISTS audit_at;');
    db.exec('DROP TABLE objects; DROP TABLE removals; DROP TABLE manifests; DROP INDEX recordings_call_key; ALTER TABLE recordings DROP COLUMN call_key;');
    db.exec('DROP TABLE transcript_participants; DROP TABLE transcripts; DROP INDEX recordings_conversation; ALTER TABLE recordings DROP COLUMN conversation_id;');
    db.pragma('user_version = 1');
    db.close();
    const ro = Catalogue.open(file, { readonly: true });
    assert.deepEqual(listTranscripts(ro, {}), []);
    assert.equal(getTranscript(ro, 'x'), undefined);
    ro.close();
    const t = transcript();
    store.saveTranscript(t, {});
    assert.deepEqual(store.listTranscripts({}).map((e) => e.id), [t.id]);
    assert.deepEqual(store.list({}).map((e) => e.id), [info.id]);
    const db2 = new Database(file, { readonly: true });
    assert.equal(db2.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db2.close();
  });
});
