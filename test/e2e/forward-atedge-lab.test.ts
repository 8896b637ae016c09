/**
 * Acceptance of the at-edge scenario with a packet forwarder on the Edge Server: a lab of network namespaces
 * (test/peers/netns.ts) where the Edge host has two NICs, eth0 on the LAN (private side, with the internal client
 * and the recorder) and eth1 on a public network (with the external party). The internal client's media reaches
 * the Edge in MS-TURN (Send requests / Data Indications to the Edge's private address, port 3478); the Edge relays
 * it as plain RTP on its public side (test/peers/edge-relay.ts). A forwarder on the Edge captures both NICs and
 * sends every packet to the recorder in TFWD, so the recorder hears each packet twice: plain on the public side,
 * wrapped on the private side. `tapline serve` in mode atedge, call control on its 8008 feed, must record each
 * direction once: one recording, each channel what that side played, packet counts equal to what was sent.
 *
 * Needs root (namespaces, capture), iproute2, tcpdump and the built CLI (dist/); skipped visibly otherwise.
 * TAPLINE_KEEP_PEERS=1 keeps the working folder.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { edgeCallAddresses, runEdgeCall, type Endpoint } from '../peers/edge-call';
import { createNetLab, netnsUnavailable, type NetLab } from '../peers/netns';
import { onPath, sleep } from '../peers/proc';
import { ForwarderProcess } from '../peers/forwarder-process';
import { CLI, startServe, type ServeProcess } from '../serve-process';
import { assertChannelsMatch, fmtMatch, matchChannels } from '../channel-match';
import { storeWithComplete } from '../recordings-wait';

const unavailable =
  (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ??
  netnsUnavailable() ??
  (onPath('tcpdump') ? undefined : 'not installed: tcpdump') ??
  (process.getuid?.() === 0 ? undefined : 'capturing needs root');
if (unavailable !== undefined) console.warn(`\n  [tapline] forwarder at-edge lab test skipped: ${unavailable}\n`);
const describeLab = unavailable === undefined ? describe : describe.skip;

const KEY_ID = 1;
const KEY_HEX = '7461706c696e652d656467652d6c61622d6b65792d30313233343536373839';
const TFWD_PORT = 9070;

interface EdgeForwarder {
  /** Stops forwarding; returns the IP packets forwarded. */
  stop(): Promise<number>;
}

/**
 * `tapline forward` in atedge mode on the Edge, one process capturing both NICs: the interest comes from the
 * recorder (the call's SDP addresses, the relay candidate included), so it sends each RTP packet twice (wrapped on
 * the private side, plain on the public side) and nothing else.
 */
async function startEdgeForwarder(lab: NetLab, host: string, ifaces: readonly string[], to: Endpoint, dir: string): Promise<EdgeForwarder> {
  const f = await ForwarderProcess.start(
    path.join(dir, 'fwd'),
    {
      mode: 'atedge',
      interfaces: [...ifaces],
      ops: { enabled: false },
      deployments: [{ id: 0, keys: { [String(KEY_ID)]: `hex:${KEY_HEX}` }, recorders: [{ host: to.ip, port: to.port, feedPort: 0 }] }],
    },
    { netns: lab.host(host).ns },
  );
  await f.waitLog(/recorder 1 .* is up/, 10_000);
  return {
    async stop() {
      const s = await f.stop();
      return s.deployments[0]!.forwarded;
    },
  };
}

describeLab(`a forwarder on the Edge's two NICs feeding tapline serve in mode atedge${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(120_000);
  let dir: string;
  let lab: NetLab | undefined;
  let serve: ServeProcess | undefined;
  let forwarder: EdgeForwarder | undefined;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-forward-atedge-'));
  });
  after(async () => {
    await forwarder?.stop().catch(() => undefined);
    await serve?.stop('SIGKILL');
    lab?.destroy();
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it('internal client in MS-TURN, external party in plain RTP, both NICs forwarded: one recording, each direction once, each channel what that side played', async () => {
    // The internal client and the recorder on the LAN with the Edge's eth0; the external party only on the public network.
    lab = createNetLab(['internal', 'edge', 'external', 'rec'], { lan: ['internal', 'edge', 'rec'], networks: [{ name: 'public', hosts: ['edge', 'external'] }] });
    const rec = lab.host('rec');
    const lan = lab.network('lan').subnet;
    const a = edgeCallAddresses(lab, { recorder: { host: 'rec' } });
    const recordings = path.join(dir, 'recordings');
    serve = await startServe(
      dir,
      {
        plugins: [
          { use: 'source-sipfeed', options: { host: rec.addr, port: 8008, allow: [lan] } },
          { use: 'source-forwarded', options: { tfwd: { host: rec.addr, port: TFWD_PORT, allow: [lan] }, control: { enabled: true, host: rec.addr, allow: [lan] }, keys: { [String(KEY_ID)]: `hex:${KEY_HEX}` } } },
          { use: 'mode-atedge', options: { edgePublicIps: [a.edgePublic] } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: recordings } },
        ],
      },
      9477,
      { netns: rec.ns },
    );
    const edge = lab.host('edge');
    assert.deepEqual(
      edge.ifaces.map((i) => `${i.iface} ${i.network} ${i.addr}`),
      [`eth0 lan ${a.edgePrivate}`, `eth1 public ${a.edgePublic}`],
    );
    // Only through the Edge can the two parties reach each other.
    assert.deepEqual(
      lab.host('external').ifaces.map((i) => i.network),
      ['public'],
    );
    forwarder = await startEdgeForwarder(lab, 'edge', ['eth0', 'eth1'], { ip: rec.addr, port: TFWD_PORT }, dir);

    const call = await runEdgeCall(lab, { dir: path.join(dir, 'call'), recorder: { host: 'rec' }, durationSec: 4 });
    await sleep(300);
    const forwarded = await forwarder.stop();
    forwarder = undefined;
    const { internal, external } = call;
    console.log(
      `      sent: internal ${internal.sent} (MS-TURN), external ${external.sent} (plain); received through the Edge: internal ${internal.received}, external ${external.received}; relay ${JSON.stringify(call.relay)}; forwarded ${forwarded} IP packets`,
    );
    // The relay carried every packet both ways (so each one crossed both NICs).
    assert.equal(call.relay.allocations, 1);
    assert.equal(call.relay.toPeer, internal.sent);
    assert.equal(call.relay.toClient, external.sent);
    assert.equal(internal.received, external.sent);
    assert.equal(external.received, internal.sent);
    // Each RTP packet twice (wrapped on eth0, plain on eth1), and at most a few TURN exchanges: nothing else.
    assert.ok(forwarded >= 2 * (internal.sent + external.sent), `forwarded ${forwarded}`);
    assert.ok(forwarded <= 2 * (internal.sent + external.sent) + 10, `forwarded ${forwarded}: nothing but the call's media`);

    const { store, entries } = await storeWithComplete(recordings, 1);
    try {
      assert.equal(entries.length, 1, JSON.stringify(entries));
      const e = entries[0]!;
      assert.equal(e.status, 'complete');
      const meta = store.get(e.id)!.metadata;
      assert.equal(meta.call.callId, call.callId);
      assert.equal(meta.call.endReason, 'bye');
      assert.equal(meta.mode?.name, 'atedge');
      const sides = { caller: call[call.caller], callee: call[call.caller === 'internal' ? 'external' : 'internal'] };
      for (const who of ['caller', 'callee'] as const) {
        const d = meta[who];
        console.log(`      ${who} (${sides[who].host}): sent ${sides[who].sent}, recorded ${d.packets} packets, ${d.duplicates} duplicates, ${d.lost} lost, ssrcs ${d.ssrcs.join(',')}`);
        assert.deepEqual(d.ssrcs, [sides[who].ssrc], `${who}: one stream, its own`);
        assert.equal(d.packets, sides[who].sent, `${who}: each packet recorded once`);
        assert.equal(d.lost, 0, `${who}: nothing lost`);
        // The other copy of every packet reached the recorder too, and was recognised as the same packet.
        assert.equal(d.duplicates, sides[who].sent, `${who}: every packet's second copy counted as a duplicate`);
        assert.deepEqual(d.codecs, ['PCMU/8000']);
      }
      assert.deepEqual(meta.flags, [], 'no flags');
      const m = matchChannels(e.audio!, call.callerSource, call.calleeSource);
      console.log(`      at-edge, both NICs forwarded: ${fmtMatch(m)}`);
      assertChannelsMatch(m);
    } finally {
      store.closeCatalogue();
    }
    const res = await serve.stop('SIGTERM');
    assert.equal(res.code, 0);
  });
});
