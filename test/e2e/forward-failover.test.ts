/**
 * Failover between recorders (issue: forwarders and high availability). A lab: two phones (the scripted call
 * driver, test/peers/call-driver.ts), two recorders and `tapline forward` on the switch between them, which
 * sniffs the call control (sent to both recorders' 8008 feeds) and sends each call's media to the recorder of its
 * user. When that recorder is killed (-9) the agent sees it within a second, moves the call to the next recorder
 * and replays the call's last seconds there; the audit (test/failover-audit.ts) puts the two parts together by
 * Call-ID and finds where each part's audio sits in what the phones sent.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalLibrary } from '../../plugins/storage-local/library';
import { LocalStore } from '../../plugins/storage-local/store';
import { assertFailoverAudit, auditRecordings, formatAudit } from '../failover-audit';
import { runCallPair, startCallPair, type CallManifest } from '../peers/call-driver';
import { ForwarderProcess } from '../peers/forwarder-process';
import { createNetLab, netnsUnavailable, type NetLab } from '../peers/netns';
import { sleep } from '../peers/proc';
import { CLI, startServe, type ServeProcess } from '../serve-process';

const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? netnsUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] forwarder failover test skipped: ${unavailable}\n`);
const describeLab = unavailable === undefined ? describe : describe.skip;

const KEY = 'hex:00112233445566778899aabbccddeeff';
const USERS = 40;

describeLab(`tapline forward fails over between two recorders${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(180_000);
  let dir: string;
  let lab: NetLab;
  let fwd: ForwarderProcess | undefined;
  const serves = new Map<number, ServeProcess>();
  const folders = new Map<number, string>();

  /**
   * Recorder n (1 or 2) on host recN; users caller<i> belong to recorder 1 for even i, 2 for odd. Both write one
   * recordings folder (a shared catalogue, as two recorders on one storage would): the parts of a call meet there.
   * Recovery at a restart leaves the other recorder's recordings in progress alone (their writer is alive).
   */
  async function startRecorder(n: number): Promise<void> {
    const h = lab.host(`rec${n}`);
    const lan = `${h.addr.split('.').slice(0, 3).join('.')}.0/24`;
    const d = path.join(dir, `rec${n}`);
    fs.mkdirSync(d, { recursive: true });
    const recordings = path.join(dir, 'recordings');
    folders.set(n, recordings);
    const users = Array.from({ length: USERS }, (_v, i) => ({ uri: `sip:caller${i}@${lab.host('a').addr}`, call: true, recorder: (i % 2) + 1 }));
    serves.set(
      n,
      await startServe(
        d,
        {
          users,
          policy: { recorderId: n },
          media: { endLingerSec: 0.5 },
          plugins: [
            { use: 'source-sipfeed', options: { host: h.addr, port: 8008, allow: [lan] } },
            { use: 'source-forwarded', options: { tfwd: { host: h.addr, allow: [lan] }, control: { enabled: true, host: h.addr, allow: [lan] }, keys: { '1': KEY }, deployments: [1] } },
            { use: 'codec-g711' },
            { use: 'storage-local', options: { dir: recordings } },
          ],
        },
        9477,
        { netns: h.ns },
      ),
    );
  }

  async function killRecorder(n: number): Promise<void> {
    await serves.get(n)?.kill();
    serves.delete(n);
  }

  /** Waits until no recording in the shared folder is still being written. */
  async function settled(): Promise<void> {
    const root = folders.get(1)!;
    const store = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
    try {
      for (let i = 0; i < 100 && store.list({}).some((e) => e.status === 'recording'); i++) await sleep(100);
    } finally {
      store.closeCatalogue();
    }
  }

  /** Recordings of a call made by recorder n. */
  const count = (n: number, callId: string): number => {
    const root = folders.get(1)!;
    const store = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
    try {
      return store.list({}).filter((e) => e.callId === callId && store.get(e.id)?.metadata.recorder === n).length;
    } finally {
      store.closeCatalogue();
    }
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-forward-failover-'));
    lab = createNetLab(['a', 'b', 'rec1', 'rec2']);
    await startRecorder(1);
    await startRecorder(2);
    const sw = `${lab.id}-sw`;
    spawnSync('ip', ['-n', sw, 'addr', 'add', '198.18.0.250/24', 'dev', 'br0']);
    fwd = await ForwarderProcess.start(
      path.join(dir, 'fwd'),
      {
        interfaces: ['br0'],
        sip: { sniff: true },
        ops: { enabled: false },
        deployments: [{ id: 1, keys: { '1': KEY }, recorders: [{ host: lab.host('rec1').addr }, { host: lab.host('rec2').addr }] }],
      },
      { netns: sw },
    );
    await fwd.waitLog(/ is up /, 10_000, 2);
  });
  after(async () => {
    fwd?.kill();
    for (const s of serves.values()) await s.kill();
    lab?.destroy();
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it('kill -9 of the first recorder mid-call: the second records the rest with no gap over 100 ms; the first, back, takes the next call', async () => {
    const pair = await startCallPair({ caller: { addr: lab.host('a').addr, ns: lab.host('a').ns }, callee: { addr: lab.host('b').addr, ns: lab.host('b').ns }, calls: 1, durationSec: 8, callIdPrefix: 'fo', dir: path.join(dir, 'drv1') });
    let manifest: CallManifest;
    try {
      await sleep(5000);
      const downs = fwd!.logs().filter((r) => / is down/.test(r.msg ?? '')).length;
      const t0 = Date.now();
      await killRecorder(1);
      await fwd!.waitLog(/recorder 1 .* is down/, 5000, downs + 1);
      const seen = Date.now() - t0;
      console.log(`      the forwarder saw recorder 1 die within ${seen} ms`);
      assert.ok(seen < 1000, `dead recorder seen in ${seen} ms`);
      await sleep(1000);
      await startRecorder(1); // recovers its cut recording
      manifest = await pair.finished;
    } finally {
      await pair.stop();
    }
    await settled();
    await fwd!.waitLog(/recorder 1 .* is up/, 5000, 2);
    const audit = auditRecordings({ folders: [{ root: folders.get(1)!, label: 'shared' }], manifest });
    console.log(formatAudit(audit).replace(/^/gm, '      '));
    assertFailoverAudit(audit, { calls: 1, segments: 2, maxGapMs: 100 });
    // The catalogue links the parts: the same Call-ID, in start order, recorder 1's first, then recorder 2's,
    // which says why it holds the rest.
    const lib = new LocalLibrary({ catalogue: path.join(folders.get(1)!, 'catalogue.sqlite'), encoders: () => [] });
    try {
      // Parts that start together (a replay reaching back to the call's start) are ordered by their end.
      const parts = (await lib.search({ callId: manifest.calls[0]!.callId, sort: 'start', order: 'asc' })).items.sort((a, b) => a.start.localeCompare(b.start) || (a.end ?? '~').localeCompare(b.end ?? '~'));
      const metas = await Promise.all(parts.map(async (p) => (await lib.get(p.id))!.metadata));
      console.log(`      catalogue: ${parts.map((p, i) => `part ${i + 1} ${p.id} recorder ${metas[i]!.recorder} ${p.status} ${p.start}`).join('; ')}`);
      assert.deepEqual(metas.map((m) => m.recorder), [1, 2], 'the first part on recorder 1, the rest on recorder 2');
      assert.ok(metas[1]!.flags.some((f) => f.startsWith('failover: recorded by recorder 2')), metas[1]!.flags.join('; '));
    } finally {
      await lib.close();
    }

    // Recorder 1 is back: the next call of its user goes to it again, and recorder 2 leaves it alone.
    const next = await runCallPair({ caller: { addr: lab.host('a').addr, ns: lab.host('a').ns }, callee: { addr: lab.host('b').addr, ns: lab.host('b').ns }, calls: 1, durationSec: 3, callIdPrefix: 'back', firstIndex: 2, dir: path.join(dir, 'drv2') });
    const id = next.calls[0]!.callId;
    await sleep(1500);
    await settled();
    assert.equal(count(1, id), 1, 'recorder 1 recorded the call after it came back');
    assert.equal(count(2, id), 0, 'recorder 2 did not');
  });

  it('a recorder that freezes (SIGSTOP, its connection still open) is seen dead by its silence within a second; its calls move with no gap', async () => {
    const pair = await startCallPair({ caller: { addr: lab.host('a').addr, ns: lab.host('a').ns }, callee: { addr: lab.host('b').addr, ns: lab.host('b').ns }, calls: 1, durationSec: 7, callIdPrefix: 'frozen', firstIndex: 4, dir: path.join(dir, 'drv-frozen') });
    let manifest: CallManifest;
    const rec1 = serves.get(1)!;
    try {
      await sleep(4000);
      const downs = fwd!.logs().filter((r) => /recorder 1 .* is down/.test(r.msg ?? '')).length;
      const t0 = Date.now();
      rec1.child.kill('SIGSTOP');
      await fwd!.waitLog(/recorder 1 .* is down/, 5000, downs + 1);
      const seen = Date.now() - t0;
      console.log(`      the forwarder saw the frozen recorder 1 as dead after ${seen} ms`);
      assert.ok(seen < 1000, `frozen recorder seen in ${seen} ms`);
      manifest = await pair.finished;
    } finally {
      rec1.child.kill('SIGCONT');
      await pair.stop();
    }
    await fwd!.waitLog(/recorder 1 .* is up/, 5000, 3);
    await sleep(1500);
    await settled();
    const audit = auditRecordings({ folders: [{ root: folders.get(1)!, label: 'shared' }], manifest, include: (id) => id.startsWith('frozen') });
    console.log(formatAudit(audit).replace(/^/gm, '      '));
    assertFailoverAudit(audit, { calls: 1, segments: 2, maxGapMs: 100 });
  });

  it('20 calls while a recorder is killed and restarted every few seconds: no call is lost', async () => {
    const pair = await startCallPair({
      caller: { addr: lab.host('a').addr, ns: lab.host('a').ns },
      callee: { addr: lab.host('b').addr, ns: lab.host('b').ns },
      calls: 20,
      durationSec: 4,
      spacingMs: 700,
      concurrency: 5,
      callIdPrefix: 'churn',
      firstIndex: 10,
      dir: path.join(dir, 'drv3'),
    });
    let manifest: CallManifest;
    let kills = 0;
    try {
      let done = false;
      void pair.finished.then(
        () => (done = true),
        () => (done = true),
      );
      for (let n = 1; !done; n = 3 - n) {
        await sleep(2500);
        if (done) break;
        await killRecorder(n);
        kills++;
        await sleep(1000);
        await startRecorder(n);
      }
      manifest = await pair.finished;
    } finally {
      await pair.stop();
    }
    await sleep(1500);
    const audit = auditRecordings({ folders: [{ root: folders.get(1)!, label: 'shared' }], manifest, include: (id) => id.startsWith('churn') });
    console.log(`      ${kills} recorder kills during 20 calls\n${formatAudit(audit).replace(/^/gm, '      ')}`);
    const parts = audit.calls.map((c) => c.segments.length);
    const gaps = audit.calls.map((c) => c.longestGapMs);
    console.log(`      parts per call: ${parts.join(' ')}; longest gap per call (ms): ${gaps.map((g) => g.toFixed(0)).join(' ')}`);
    assert.equal(audit.calls.length, 20);
    assert.deepEqual(audit.lost, [], 'no call lost');
    assert.ok(kills >= 3, `recorders were killed ${kills} times`);
  });
});
