/**
 * Retention: rules by participant and flag, the longest matching one wins, unmatched recordings are kept, a legal
 * hold exempts; the dry run lists exactly the set the real run deletes; each deletion takes audio and metadata,
 * is in the audit log and in `removals` (so `tapline verify` stays clean). Through the CLI, as an operator runs it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalogue } from './catalogue';
import { LocalStore } from './store';
import { longestRule, ruleText } from './retention';
import { begin, crashedWav, metadataFor, start, tmpDir, tapline } from './test-fixtures';

const DAY = 86_400_000;


describe('storage-local: retention, legal hold and the audit log', function () {
  this.timeout(60_000);
  const tmp = tmpDir('retention');
  const root = path.join(tmp, 'rec');
  const config = path.join(tmp, 'tapline.config.json');
  const ids: Record<string, string> = {};
  const rules = [
    { days: 365, user: 'sip:CEO@example.com' },
    { days: 30, user: 'sip:alice@example.com' },
    { days: 7, flag: 'no audio was seen' },
  ];

  before(async () => {
    // auto: false, so the recorder's own daily pass does not run before the test's.
    fs.writeFileSync(config, JSON.stringify({ plugins: [{ use: 'codec-g711' }, { use: 'storage-local', options: { dir: 'rec', retention: { rules, auto: false } } }] }));
    const store = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
    const now = Date.now();
    const cases: Array<[string, number, string, string, string[]]> = [
      ['aliceOld', 40, 'sip:alice@example.com', 'sip:bob@example.com', []],
      ['aliceNew', 20, 'sip:alice@example.com', 'sip:bob@example.com', []],
      ['withCeo', 40, 'sip:ceo@example.com', 'sip:alice@example.com', []],
      ['silent', 10, 'sip:bob@example.com', 'sip:carol@example.com', ['no audio was seen for this call']],
      ['nobody', 1000, 'sip:bob@example.com', 'sip:carol@example.com', []],
      ['held', 400, 'sip:alice@example.com', 'sip:bob@example.com', []],
    ];
    for (const [name, age, from, to, flags] of cases) {
      const info = start({ start: (now - age * DAY) * 1000, from, to });
      ids[name] = info.id;
      const files = await begin(store, info);
      crashedWav(files.audio, 800, 2, 8000);
      await store.close(metadataFor(info, files.audio, { flags }));
    }
    store.closeCatalogue();
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a legal hold is set through the CLI and audited', () => {
    const r = tapline(['recordings', 'hold', ids.held!, '-c', config, '--reason', 'case 2026-117'], tmp);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /is on legal hold/);
    assert.match(tapline(['recordings', 'show', ids.held!, '-c', config], tmp).out, /^Legal hold\s+case 2026-117 \(since .*, by .*@.*\)$/m);
  });

  it('the dry run lists exactly what the rules expire (the longest matching rule wins; no rule: kept; hold: kept) and changes nothing', () => {
    const r = tapline(['retention', '--dry-run', '--json', '-c', config], tmp);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out) as { dryRun: boolean; expired: Array<{ id: string; rule: number; days: number }>; held: Array<{ id: string; reason: string }> };
    assert.equal(res.dryRun, true);
    assert.deepEqual(new Set(res.expired.map((e) => e.id)), new Set([ids.aliceOld, ids.silent]));
    assert.deepEqual(res.expired.find((e) => e.id === ids.silent)?.rule, 2);
    assert.deepEqual(res.held.map((h) => [h.id, h.reason]), [[ids.held, 'case 2026-117']]);
    const cat = Catalogue.open(path.join(root, 'catalogue.sqlite'), { readonly: true });
    assert.equal(cat.list({}).length, 6);
    cat.close();
    // As of 30 days from now, the recording that is 20 days old today will have expired too.
    const later = tapline(['retention', '--dry-run', '--json', '--at', new Date(Date.now() + 30 * DAY).toISOString(), '-c', config], tmp);
    assert.deepEqual(new Set((JSON.parse(later.out) as { expired: Array<{ id: string }> }).expired.map((e) => e.id)), new Set([ids.aliceOld, ids.silent, ids.aliceNew]));
    assert.match(tapline(['retention', '--at', '2030-01-01', '-c', config], tmp).err, /--at is for --dry-run only/);
  });

  it('the real run deletes that set, audio and metadata together, each deletion in the audit log; verify stays clean', () => {
    const cat0 = Catalogue.open(path.join(root, 'catalogue.sqlite'), { readonly: true });
    const dirs = Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, path.dirname(cat0.get(id)!.metadata)]));
    cat0.close();
    const r = tapline(['retention', '-c', config], tmp);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /2 recordings deleted, 1 kept on legal hold/);
    const cat = Catalogue.open(path.join(root, 'catalogue.sqlite'), { readonly: true });
    try {
      assert.deepEqual(new Set(cat.list({}).map((e) => e.id)), new Set([ids.aliceNew, ids.withCeo, ids.nobody, ids.held]));
    } finally {
      cat.close();
    }
    for (const k of ['aliceOld', 'silent']) assert.equal(fs.existsSync(dirs[k]!), false, `${k}: folder deleted`);
    for (const k of ['aliceNew', 'withCeo', 'nobody', 'held']) assert.ok(fs.existsSync(path.join(dirs[k]!, 'audio.wav')), `${k}: kept`);
    const log = JSON.parse(tapline(['audit', '--json', '-c', config], tmp).out) as Array<{ action: string; recording: string; detail: string; actor: string }>;
    const deletes = log.filter((e) => e.action === 'delete');
    assert.deepEqual(new Set(deletes.map((d) => d.recording)), new Set([ids.aliceOld, ids.silent]));
    assert.match(deletes.find((d) => d.recording === ids.silent)!.detail, /retention rule 3 \(7 days, flag "no audio was seen"\): started .*; Call-ID .*, sip:bob@example\.com → sip:carol@example\.com; audio and metadata deleted/);
    assert.ok(log.some((e) => e.action === 'hold' && e.recording === ids.held && e.detail === 'case 2026-117' && /@/.test(e.actor)));
    const v = tapline(['verify', '-c', config], tmp);
    assert.equal(v.code, 0, v.out + v.err);
    // Nothing left to do: a second run deletes nothing.
    assert.match(tapline(['retention', '-c', config], tmp).out, /0 recordings deleted, 1 kept on legal hold/);
  });

  it('released, the held recording goes at the next run; releasing what is not held is an error', () => {
    assert.equal(tapline(['recordings', 'release', ids.held!, '-c', config], tmp).code, 0);
    assert.match(tapline(['recordings', 'release', ids.held!, '-c', config], tmp).err, /is not on hold/);
    assert.match(tapline(['retention', '-c', config], tmp).out, /1 recording deleted, 0 kept on legal hold/);
    const log = JSON.parse(tapline(['audit', '--json', '-c', config], tmp).out) as Array<{ action: string; recording: string }>;
    assert.deepEqual(log.slice(0, 2).map((e) => [e.action, e.recording]), [['delete', ids.held], ['release', ids.held]]);
  });

  it('no rules: the command says so and deletes nothing', () => {
    const r = tapline(['retention', '--dir', root], tmp);
    assert.equal(r.code, 1);
    assert.match(r.err, /no retention rules/);
  });
});

describe('storage-local: retention in the running recorder', () => {
  it('applies the rules once a day, when the store opens its catalogue and at its first recording of a new day', async () => {
    const tmp = tmpDir('retention-auto');
    try {
      const root = path.join(tmp, 'rec');
      const catalogue = path.join(root, 'catalogue.sqlite');
      const plain = new LocalStore({ root, catalogue, layout: 'date' });
      const old = start({ start: (Date.now() - 3 * DAY) * 1000 });
      const files = await begin(plain, old);
      crashedWav(files.audio, 800, 2, 8000);
      await plain.close(metadataFor(old, files.audio));
      plain.closeCatalogue();
      const store = new LocalStore({ root, catalogue, layout: 'date', retention: { rules: [{ days: 1 }], auto: true } });
      const cat = store.openCatalogue();
      await store.whenIdle();
      assert.equal(cat.get(old.id), undefined);
      assert.equal(fs.existsSync(files.dir), false);
      const row = cat.stmt(`SELECT actor, action FROM audit WHERE recording_id = @id`).get({ id: old.id }) as { actor: string; action: string };
      assert.deepEqual(row, { actor: 'retention', action: 'delete' });
      store.closeCatalogue();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('storage-local: retention rules by forwarder deployment', () => {
  it('a deployment rule matches only recordings whose media or signalling came through that deployment', () => {
    const rules = [{ days: 90, deployment: 7 }, { days: 10, deployment: 8 }, { days: 30 }];
    const none = new Set<string>();
    assert.deepEqual(longestRule(rules, none, [], [7]), { rule: 0, days: 90 }, 'tenant 7 keeps 90 days');
    assert.deepEqual(longestRule(rules, none, [], [8]), { rule: 2, days: 30 }, 'tenant 8: the longer general rule wins');
    assert.deepEqual(longestRule(rules, none, [], [7, 8]), { rule: 0, days: 90 });
    assert.deepEqual(longestRule(rules, none, [], []), { rule: 2, days: 30 }, 'not forwarded: only the general rule');
    assert.deepEqual(longestRule([{ days: 5, deployment: 3 }], none, [], [4]), undefined);
    assert.equal(ruleText({ days: 90, deployment: 7 }), '90 days, deployment 7');
  });
});
