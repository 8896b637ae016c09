/**
 * Two deployments (tenants) through one `tapline forward` (issue: forwarders and high availability). Each has its
 * own recorder, key and users; the forwarder on the switch receives the proxy's HEPv3, carries it to both
 * recorders' feeds, and forwards each
 * call's media only to the deployment whose recorder asked for it, tagged with that deployment's id and signed
 * with its key. A second forwarder that signs deployment 1's packets with the wrong key is refused and counted.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { storeWithComplete } from '../recordings-wait';
import { assertChannelsMatch, fmtMatch, matchChannels } from '../channel-match';
import { baresipPortsFrom, baresipUnavailable, startBaresipPair, type BaresipPair } from '../peers/baresip';
import { ForwarderProcess } from '../peers/forwarder-process';
import { kamailioUnavailable, startKamailio, type KamailioProxy } from '../peers/kamailio';
import { createNetLab, netnsUnavailable, type NetLab } from '../peers/netns';
import { nsGet } from '../peers/ns-http';
import { sumSamples } from '../prom-text';
import { CLI, startServe, type ServeProcess } from '../serve-process';
import { makeVoices } from '../voices';

const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? netnsUnavailable() ?? kamailioUnavailable() ?? baresipUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] forwarder deployments test skipped: ${unavailable}\n`);
const describeLab = unavailable === undefined ? describe : describe.skip;

const KEY_A = 'hex:0123456789abcdef0123456789abcdef';
const KEY_B = 'hex:fedcba9876543210fedcba9876543210';

describeLab(`two deployments through one tapline forward${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(150_000);
  let dir: string;
  let lab: NetLab | undefined;
  const serves: ServeProcess[] = [];
  let proxy: KamailioProxy | undefined;
  const pairs: BaresipPair[] = [];
  const fwds: ForwarderProcess[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-forward-tenants-'));
  });
  after(async () => {
    for (const p of pairs) await p.stop();
    await proxy?.stop();
    for (const f of fwds) f.kill();
    for (const s of serves) await s.stop('SIGKILL');
    lab?.destroy();
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it("each recorder records only its own deployment's call; a packet signed with the wrong key is refused and counted", async () => {
    const voices = makeVoices(dir);
    lab = createNetLab(['a1', 'b1', 'a2', 'b2', 'proxy', 'reca', 'recb']);
    const l = lab;
    const lan = `${l.host('reca').addr.split('.').slice(0, 3).join('.')}.0/24`;
    const recorder = async (name: 'reca' | 'recb', deployment: number, key: string, user: string): Promise<string> => {
      const h = l.host(name);
      const recordings = path.join(dir, name, 'recordings');
      fs.mkdirSync(recordings, { recursive: true });
      serves.push(
        await startServe(
          path.join(dir, name),
          {
            users: [{ uri: user, call: true }],
            plugins: [
              { use: 'source-sipfeed', options: { host: h.addr, port: 8008, allow: [lan] } },
              { use: 'source-forwarded', options: { tfwd: { host: h.addr, allow: [lan] }, control: { enabled: true, host: h.addr, allow: [lan] }, keys: { '1': key }, deployments: [deployment] } },
              { use: 'codec-g711' },
              { use: 'storage-local', options: { dir: recordings } },
            ],
          },
          9477,
          { netns: h.ns },
        ),
      );
      return recordings;
    };
    const recA = await recorder('reca', 1, KEY_A, `sip:caller@${l.host('a1').addr}`);
    const recB = await recorder('recb', 2, KEY_B, `sip:caller@${l.host('a2').addr}`);
    const sw = `${l.id}-sw`;
    spawnSync('ip', ['-n', sw, 'addr', 'add', '198.18.0.250/24', 'dev', 'br0']);
    // Call control from the proxy as HEPv3 (its siptrace), received by the forwarder and carried to both tenants' feeds.
    const fwd = await ForwarderProcess.start(path.join(dir, 'fwd'), {
      interfaces: ['br0'],
      sip: { hep: { enabled: true, host: '198.18.0.250', port: 9060, allow: [lan] } },
      ops: { port: 9478 },
      deployments: [
        { id: 1, keys: { '1': KEY_A }, recorders: [{ host: l.host('reca').addr }] },
        { id: 2, keys: { '1': KEY_B }, recorders: [{ host: l.host('recb').addr }] },
      ],
    }, { netns: sw });
    fwds.push(fwd);
    await fwd.waitLog(/recorder 1 .* is up/, 10_000, 2);
    // A forwarder of deployment 1 holding deployment 2's key: everything it sends is refused.
    const rogue = await ForwarderProcess.start(path.join(dir, 'rogue'), {
      mode: 'endpoint',
      interfaces: ['eth0'],
      ops: { enabled: false },
      deployments: [{ id: 1, keys: { '1': KEY_B }, recorders: [{ host: l.host('reca').addr, controlPort: 0, feedPort: 0 }], static: [l.host('a1').addr] }],
    }, { netns: l.host('a1').ns, name: 'rogue' });
    fwds.push(rogue);
    proxy = await startKamailio({ dir: path.join(dir, 'kam'), host: l.host('proxy').addr, port: 5060, netns: l.host('proxy').ns, trace: { encap: 'hep', transport: 'udp', host: '198.18.0.250', port: 9060 } });
    for (const [i, [a, b]] of ([['a1', 'b1'], ['a2', 'b2']] as const).entries()) {
      const pair = await startBaresipPair({
        dir: path.join(dir, `uas${i}`),
        callerWav: voices.caller,
        calleeWav: voices.callee,
        codec: 'PCMU',
        ports: baresipPortsFrom(20000 + i * 200),
        proxy: proxy.address,
        callerHost: l.host(a).addr,
        calleeHost: l.host(b).addr,
        callerNetns: l.host(a).ns,
        calleeNetns: l.host(b).ns,
      });
      pairs.push(pair);
      await pair.call(6);
    }
    // The agent's own metrics, read on its host's loopback (the ops port's default restriction).
    const fm = nsGet(sw, 'http://127.0.0.1:9478/metrics');
    const perTenant = [1, 2].map((dep) => sumSamples(fm, 'tapline_forward_packets_total', { deployment: String(dep) }));
    console.log(`      forwarder /metrics: packets per deployment ${perTenant.join(', ')}, recorders up ${sumSamples(fm, 'tapline_forward_recorder_up')}, HEP relayed ${sumSamples(fm, 'tapline_forward_sip_total', { how: 'hep' })}, filtered ${sumSamples(fm, 'tapline_forward_filtered_total')}`);
    assert.equal(sumSamples(fm, 'tapline_forward_recorder_up'), 2);
    assert.ok(perTenant.every((n) => n > 300));
    assert.ok(sumSamples(fm, 'tapline_forward_sip_total', { how: 'hep' }) >= 12, 'the proxy\'s HEP was carried on');
    const rogueSummary = await rogue.stop();
    const summary = await fwd.stop();
    const recorded = async (root: string): Promise<Array<{ id: string; audio: string; from: string }>> => {
      const { store, entries } = await storeWithComplete(root, 1);
      try {
        return entries.map((e) => ({ id: e.id, audio: e.audio!, from: store.get(e.id)!.metadata.call.from.uri }));
      } finally {
        store.closeCatalogue();
      }
    };
    const a = await recorded(recA);
    const b = await recorded(recB);
    assert.equal(a.length, 1, `deployment 1's recorder: ${JSON.stringify(a)}`);
    assert.equal(b.length, 1, `deployment 2's recorder: ${JSON.stringify(b)}`);
    assert.match(a[0]!.from, new RegExp(`caller@${l.host('a1').addr.replace(/\./g, '\\.')}`));
    assert.match(b[0]!.from, new RegExp(`caller@${l.host('a2').addr.replace(/\./g, '\\.')}`));
    for (const [i, r] of [a[0]!, b[0]!].entries()) {
      const m = matchChannels(r.audio, pairs[i]!.callerSource, pairs[i]!.calleeSource);
      console.log(`      deployment ${i + 1}: ${fmtMatch(m)}`);
      assertChannelsMatch(m);
    }
    const [d1, d2] = summary.deployments;
    assert.ok(summary.sip.relayed >= 12 && summary.sip.sniffed === 0);
    console.log(`      forwarder: deployment 1 got ${d1!.forwarded} packets, deployment 2 got ${d2!.forwarded}; the rogue sent ${rogueSummary.deployments[0]!.forwarded}`);
    // Each call's media went to its own deployment only (about 300 packets a side for 6 s).
    assert.ok(d1!.forwarded > 300 && d2!.forwarded > 300);
    const metricsA = nsGet(l.host('reca').ns, 'http://127.0.0.1:9477/metrics');
    const badMac = sumSamples(metricsA, 'tapline_drops_total', { reason: 'tfwd-bad-hmac' });
    console.log(`      deployment 1's recorder refused ${badMac} datagrams with a bad tag (tapline_drops_total{reason="tfwd-bad-hmac"})`);
    assert.ok(rogueSummary.deployments[0]!.forwarded > 0, 'the rogue forwarder sent something');
    assert.ok(badMac > 0, 'refused and counted');
    for (const s of serves.splice(0)) assert.equal((await s.stop('SIGTERM')).code, 0);
  });
});
