/**
 * Acceptance of `tapline serve` across hosts: a lab of network namespaces (test/peers/netns.ts) with a caller, a
 * callee, a Kamailio proxy and the recorder, each its own host. The proxy copies the call control to the recorder's
 * net-service feed as plain SIP over TCP; the caller host's NIC is mirrored to the recorder in VXLAN by the Linux
 * kernel (tc mirred into a vxlan device, as cloud traffic mirroring does). The recorder hears only that: each
 * channel of its recording must be what that side played.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baresipPortsFrom, baresipUnavailable, startBaresipPair, type BaresipPair } from '../peers/baresip';
import { kamailioUnavailable, startKamailio, type KamailioProxy } from '../peers/kamailio';
import { createNetLab, netnsUnavailable, type NetLab } from '../peers/netns';
import { CLI, startServe, type ServeProcess } from '../serve-process';
import { makeVoices } from '../voices';
import { assertChannelsMatch, fmtMatch, matchChannels } from '../channel-match';
import { storeWithComplete } from '../recordings-wait';

const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? netnsUnavailable() ?? kamailioUnavailable() ?? baresipUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] serve VXLAN acceptance test skipped: ${unavailable}\n`);
const describeLab = unavailable === undefined ? describe : describe.skip;

describeLab(`tapline serve on its own host, fed by a proxy's SIP copies and a VXLAN mirror${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(90_000);
  let dir: string;
  let lab: NetLab | undefined;
  let serve: ServeProcess | undefined;
  let proxy: KamailioProxy | undefined;
  let pair: BaresipPair | undefined;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-serve-vxlan-'));
  });
  after(async () => {
    await pair?.stop();
    await proxy?.stop();
    await serve?.stop('SIGKILL');
    lab?.destroy();
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it('plain SIP over the 8008 feed from the proxy host, media mirrored in VXLAN from the caller host: each channel is what that side played', async () => {
    const voices = makeVoices(dir);
    lab = createNetLab(['caller', 'callee', 'proxy', 'rec']);
    const rec = lab.host('rec');
    const lan = `${rec.addr.split('.').slice(0, 3).join('.')}.0/24`;
    const recordings = path.join(dir, 'recordings');
    serve = await startServe(
      dir,
      {
        plugins: [
          // The lab's LAN may reach the feed and the VXLAN port; nothing else can.
          { use: 'source-sipfeed', options: { host: rec.addr, port: 8008, allow: [lan] } },
          { use: 'source-forwarded', options: { tfwd: { enabled: false }, vxlan: { enabled: true, host: rec.addr, port: 4789, allow: [lan] }, tzsp: { enabled: false } } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: recordings } },
        ],
      },
      9477,
      { netns: rec.ns },
    );
    lab.mirror({ from: 'caller', to: 'rec', vni: 4321 });
    proxy = await startKamailio({ dir: path.join(dir, 'kam'), host: lab.host('proxy').addr, port: 5060, netns: lab.host('proxy').ns, trace: { encap: 'sip', transport: 'tcp', host: rec.addr, port: 8008 } });
    pair = await startBaresipPair({
      dir: path.join(dir, 'uas'),
      callerWav: voices.caller,
      calleeWav: voices.callee,
      codec: 'PCMA',
      ports: baresipPortsFrom(20000),
      proxy: proxy.address,
      callerHost: lab.host('caller').addr,
      calleeHost: lab.host('callee').addr,
      callerNetns: lab.host('caller').ns,
      calleeNetns: lab.host('callee').ns,
    });
    await pair.call(6);
    const { store, entries } = await storeWithComplete(recordings, 1);
    try {
      assert.equal(entries.length, 1, JSON.stringify(entries));
      const e = entries[0]!;
      assert.equal(e.status, 'complete');
      const meta = store.get(e.id)!.metadata;
      assert.equal(meta.call.endReason, 'bye');
      assert.deepEqual(meta.caller.codecs, ['PCMA/8000']);
      const m = matchChannels(e.audio!, pair.callerSource, pair.calleeSource);
      console.log(`      VXLAN mirror + plain SIP feed: ${fmtMatch(m)} (${voices.kind})`);
      assertChannelsMatch(m);
    } finally {
      store.closeCatalogue();
    }
    const res = await serve.stop('SIGTERM');
    assert.equal(res.code, 0);
  });
});
