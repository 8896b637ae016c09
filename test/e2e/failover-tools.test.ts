/**
 * Proves the failover test's tools against today's recorder, before any failover exists: the call driver
 * (test/peers/call-driver.ts) places calls between two lab hosts, the stand-in TFWD forwarder (tcpdump on the
 * caller host's eth0) sends every packet of them, SIP included, to `tapline serve` on a third host, and the audit
 * (test/failover-audit.ts) must find each call once, whole: one segment, no gap, each channel the side it should be.
 * Then the negative: a recorder killed mid-call and restarted (no failover today) must show in the audit as a
 * recovered segment whose start is still exact and whose call misses its rest.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createNetLab, netnsUnavailable, type NetLab } from '../peers/netns';
import { onPath, sleep, startProc, type Proc } from '../peers/proc';
import { runCallPair, startCallPair, type CallManifest } from '../peers/call-driver';
import { CLI, startServe, type ServeProcess } from '../serve-process';
import { assertFailoverAudit, auditRecordings, formatAudit } from '../failover-audit';
import { LocalStore } from '../../plugins/storage-local/store';
import { repoRoot } from '../corpus';

const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npx tsc -p .)') ?? netnsUnavailable() ?? (onPath('tcpdump') ? undefined : 'tcpdump is not installed');
if (unavailable !== undefined) console.warn(`\n  [tapline] failover tools test skipped: ${unavailable}\n`);
const describeLab = unavailable === undefined ? describe : describe.skip;

const KEY_HEX = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const TFWD_PORT = 9070;
const CALLS = 3;
const DURATION_SEC = 4;

/**
 * The stand-in forwarder runs inside the caller's host (its UDP socket must be in the lab to reach the recorder),
 * so it is a small script of its own around test/peers/tfwd-forwarder.ts.
 */
function forwarderScript(o: { rec: string; filter: string; logFile: string }): string {
  const dist = path.join(repoRoot, 'dist');
  return `
const { startTfwdForwarder } = require(${JSON.stringify(path.join(dist, 'test', 'peers', 'tfwd-forwarder.js'))});
const { TfwdKey } = require(${JSON.stringify(path.join(dist, 'core', 'net', 'tfwd.js'))});
(async () => {
  const f = await startTfwdForwarder({ iface: 'eth0', filter: ${JSON.stringify(o.filter)}, to: { host: ${JSON.stringify(o.rec)}, port: ${TFWD_PORT} },
    key: new TfwdKey(1, Buffer.from(${JSON.stringify(KEY_HEX)}, 'hex')), sensorId: 7, logFile: ${JSON.stringify(o.logFile)} });
  console.log('forwarder running');
  const stop = async () => { await f.stop(); console.log('forwarded ' + f.packets() + ' packets'); process.exit(0); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
})().catch((e) => { console.error(e); process.exit(1); });
`;
}

function serveConfig(recAddr: string, recordings: string): Record<string, unknown> {
  const lan = `${recAddr.split('.').slice(0, 3).join('.')}.0/24`;
  return {
    // metadataEverySec 1: a recorder killed mid-call has written its audio's start time (see failover-audit.ts).
    media: { endLingerSec: 0.5, metadataEverySec: 1 },
    plugins: [
      { use: 'source-forwarded', options: { tfwd: { host: recAddr, port: TFWD_PORT, allow: [lan] }, vxlan: { enabled: false }, tzsp: { enabled: false }, keys: { '1': `hex:${KEY_HEX}` } } },
      { use: 'codec-g711' },
      { use: 'storage-local', options: { dir: recordings } },
    ],
  };
}

async function waitComplete(recordings: string, n: number): Promise<void> {
  const store = new LocalStore({ root: recordings, catalogue: path.join(recordings, 'catalogue.sqlite'), layout: 'date' });
  try {
    for (let i = 0; i < 100 && store.list({}).filter((e) => e.status === 'complete').length < n; i++) await sleep(100);
  } finally {
    store.closeCatalogue();
  }
}

describeLab(`failover test tools: call driver + TFWD stand-in + audit against today's serve${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(60_000);
  let dir: string;
  let lab: NetLab;
  const serves: ServeProcess[] = [];
  let forwarder: Proc | undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-failover-tools-'));
    lab = createNetLab(['a', 'b', 'rec']);
    const script = path.join(dir, 'forwarder.js');
    // Only the calls' traffic (a <-> b): not the TFWD datagrams the forwarder itself sends from this host.
    fs.writeFileSync(script, forwarderScript({ rec: lab.host('rec').addr, filter: `udp and host ${lab.host('b').addr}`, logFile: path.join(dir, 'tcpdump.log') }));
    forwarder = startProc('tfwd forwarder', process.execPath, [script], path.join(dir, 'forwarder.log'), { netns: lab.host('a').ns });
    await forwarder.waitFor(/forwarder running/, 15_000, 'the forwarder running');
  });
  after(async () => {
    await forwarder?.stop(3000, 'SIGTERM');
    for (const s of serves) await s.stop('SIGKILL');
    lab?.destroy();
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  async function serveIn(sub: string): Promise<{ serve: ServeProcess; recordings: string }> {
    const d = path.join(dir, sub);
    fs.mkdirSync(d, { recursive: true });
    const recordings = path.join(d, 'recordings');
    const serve = await startServe(d, serveConfig(lab.host('rec').addr, recordings), 9477, { netns: lab.host('rec').ns });
    serves.push(serve);
    return { serve, recordings };
  }

  it(`${CALLS} driven calls of ${DURATION_SEC} s, forwarded in TFWD: one segment each, no gap, each channel its side's tone`, async () => {
    const { serve, recordings } = await serveIn('whole');
    const t0 = Date.now();
    const manifest: CallManifest = await runCallPair({
      caller: { addr: lab.host('a').addr, ns: lab.host('a').ns },
      callee: { addr: lab.host('b').addr, ns: lab.host('b').ns },
      calls: CALLS,
      durationSec: DURATION_SEC,
      spacingMs: 400,
      callIdPrefix: 'tools',
      dir: path.join(dir, 'whole', 'driver'),
    });
    const driveMs = Date.now() - t0;
    assert.equal(manifest.calls.length, CALLS, JSON.stringify(manifest));
    for (const c of manifest.calls) {
      assert.ok(c.ok, `call ${c.index} ${c.callId}: ${c.errors.join('; ')}`);
      // 4 s at 20 ms: 200 packets each way, a few more or less with timer granularity.
      for (const d of [c.caller, c.callee]) assert.ok(d !== undefined && Math.abs(d.packets - DURATION_SEC * 50) <= 3 && d.received >= d.packets - 5, JSON.stringify(d));
    }
    await waitComplete(recordings, CALLS);
    const res = await serve.stop('SIGTERM');
    assert.equal(res.code, 0, serve.output());

    const t1 = Date.now();
    const audit = auditRecordings({ folders: [{ root: recordings, label: 'rec' }], manifest });
    const late = Math.max(...manifest.calls.flatMap((c) => [c.caller?.maxLateMs ?? 0, c.callee?.maxLateMs ?? 0]));
    console.log(`      driver ${driveMs} ms (latest packet ${late} ms behind its time), audit ${Date.now() - t1} ms\n${formatAudit(audit).replace(/^/gm, '      ')}`);
    assert.equal(audit.calls.length, CALLS);
    assert.deepEqual(audit.lost, []);
    for (const c of audit.calls) {
      assert.equal(c.segments.length, 1, c.callId);
      for (const ch of c.segments[0]!.channels) assert.ok(ch.content?.toneFound === true && ch.content.matched === ch.content.expected, JSON.stringify(ch));
    }
    assertFailoverAudit(audit, { calls: CALLS, segments: 1, maxGapMs: 100 });
  });

  it('the audit sees what a recorder killed mid-call (today: no failover) loses: the call\'s rest', async () => {
    const first = await serveIn('killed');
    const pair = await startCallPair({
      caller: { addr: lab.host('a').addr, ns: lab.host('a').ns },
      callee: { addr: lab.host('b').addr, ns: lab.host('b').ns },
      calls: 1,
      durationSec: 6,
      callIdPrefix: 'killed',
      dir: path.join(dir, 'killed', 'driver'),
    });
    let manifest: CallManifest;
    let second: ServeProcess;
    try {
      await sleep(3000);
      await first.serve.kill(); // SIGKILL: no shutdown, the WAV header and metadata as they were
      await sleep(500);
      // Restarted on the same folder: start-up recovery marks the torn recording 'recovered'.
      second = (await serveIn('killed')).serve;
      manifest = await pair.finished;
    } finally {
      await pair.stop();
    }
    await sleep(1500); // endLingerSec and more, for anything the restarted recorder might have picked up
    assert.equal((await second.stop('SIGTERM')).code, 0, second.output());

    const audit = auditRecordings({ folders: [{ root: first.recordings, label: 'killed' }], manifest });
    console.log(formatAudit(audit).replace(/^/gm, '      '));
    assert.equal(audit.calls.length, 1, formatAudit(audit));
    const c = audit.calls[0]!;
    assert.equal(c.lost, false);
    const seg = c.segments[0]!;
    assert.equal(seg.status, 'recovered');
    assert.equal(seg.start.precise, true, 'metadataEverySec 1: the killed recording wrote its audio start');
    // What was written before the kill is intact and placed right; the rest of the call is missing.
    assert.ok(c.content !== undefined && c.content.caller !== undefined && c.content.callee !== undefined);
    for (const d of [c.content.caller, c.content.callee]) {
      assert.ok(d.headMissingMs <= 40, JSON.stringify(d));
      assert.ok(d.tailMissingMs > 2000, JSON.stringify(d));
    }
    assert.throws(() => assertFailoverAudit(audit, { calls: 1, segments: 1 }), /not recorded/);
  });
});
