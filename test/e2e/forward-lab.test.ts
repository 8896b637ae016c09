/**
 * Acceptance of `tapline forward` across hosts (issue: forwarders and high availability). A lab of network
 * namespaces: a caller, a callee, a Kamailio proxy and a recorder, each a host on one switch. Two baresip clients
 * call through the proxy; `tapline forward` runs on the switch (every packet of the call crosses it, as on a
 * Mediation server), sniffs the call control and sends it to the recorder's 8008 feed as HEPv3, asks the
 * recorder over its control connection which media it wants, and forwards only that in TFWD. An independent
 * tcpdump on the recorder host sees what the forwarder sent: every packet must be media of the call.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import { decodeTfwd, TfwdKey } from '../../core/net/tfwd';
import { LinkType } from '../../core/net/types';
import { storeWithComplete } from '../recordings-wait';
import { assertChannelsMatch, fmtMatch, matchChannels } from '../channel-match';
import { baresipPortsFrom, baresipUnavailable, startBaresipPair, type BaresipPair } from '../peers/baresip';
import { ForwarderProcess } from '../peers/forwarder-process';
import { kamailioUnavailable, startKamailio, type KamailioProxy } from '../peers/kamailio';
import { createNetLab, netnsUnavailable, type NetLab } from '../peers/netns';
import { sleep, startProc, type Proc } from '../peers/proc';
import { CLI, startServe, type ServeProcess } from '../serve-process';
import { makeVoices } from '../voices';

const unavailable = (fs.existsSync(CLI) ? undefined : 'dist/ is not built (npm run build)') ?? netnsUnavailable() ?? kamailioUnavailable() ?? baresipUnavailable();
if (unavailable !== undefined) console.warn(`\n  [tapline] forwarder lab test skipped: ${unavailable}\n`);
const describeLab = unavailable === undefined ? describe : describe.skip;

const SECRET = '00112233445566778899aabbccddeeff';

/** The "ip:port" ends of every media line in a recording's SDPs ("audio 198.18.0.10:20000 RTP/AVP …"). */
function sdpEndpoints(meta: { call: { sdp: Array<{ media: string[] }> } }): Set<string> {
  const out = new Set<string>();
  for (const r of meta.call.sdp) {
    for (const m of r.media) {
      const hit = /^\S+ ([\d.]+):(\d+) /.exec(m);
      if (hit === null) continue;
      out.add(`${hit[1]}:${hit[2]}`);
      out.add(`${hit[1]}:${Number(hit[2]) + 1}`);
    }
  }
  return out;
}

/** Every IP packet inside the TFWD datagrams a capture holds, as "src:sport>dst:dport". */
async function forwardedPackets(pcap: string): Promise<{ datagrams: number; refused: number; packets: string[] }> {
  const key = new TfwdKey(1, Buffer.from(SECRET, 'hex'));
  const out = { datagrams: 0, refused: 0, packets: [] as string[] };
  await readCapture(pcap, (f) => {
    const p = decodeFrame(f);
    if (isSkipReason(p) || p.dport !== 9070) return;
    out.datagrams++;
    const d = decodeTfwd(p.payload, { keys: new Map([[1, key]]), requireAuth: true });
    if (!d.ok) {
      out.refused++;
      return;
    }
    for (const r of d.records) {
      const inner = decodeFrame({ ts: r.ts, linkType: LinkType.RAW, data: r.data, origLen: r.data.length, interfaceId: 0, frameNo: 0 });
      if (!isSkipReason(inner)) out.packets.push(`${inner.src}:${inner.sport}>${inner.dst}:${inner.dport}`);
    }
  });
  return out;
}

describeLab(`tapline forward on the media path, to tapline serve on another host${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(120_000);
  let dir: string;
  let lab: NetLab | undefined;
  let serve: ServeProcess | undefined;
  let proxy: KamailioProxy | undefined;
  let pair: BaresipPair | undefined;
  let fwd: ForwarderProcess | undefined;
  let tap: Proc | undefined;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-forward-lab-'));
  });
  after(async () => {
    await pair?.stop();
    await proxy?.stop();
    fwd?.kill();
    await tap?.stop(2000, 'SIGINT');
    await serve?.stop('SIGKILL');
    lab?.destroy();
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it('mirroring: the call is recorded from what the forwarder sent (r >= 0.99 per channel), and it sent nothing that was not media of the call', async () => {
    const voices = makeVoices(dir);
    lab = createNetLab(['caller', 'callee', 'proxy', 'rec']);
    const rec = lab.host('rec');
    const sw = `${lab.id}-sw`;
    const lan = `${rec.addr.split('.').slice(0, 3).join('.')}.0/24`;
    const recordings = path.join(dir, 'recordings');
    serve = await startServe(
      dir,
      {
        plugins: [
          { use: 'source-sipfeed', options: { host: rec.addr, port: 8008, allow: [lan] } },
          {
            use: 'source-forwarded',
            options: { tfwd: { host: rec.addr, allow: [lan] }, control: { enabled: true, host: rec.addr, allow: [lan] }, keys: { '1': `hex:${SECRET}` }, deployments: [1] },
          },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: recordings } },
        ],
      },
      9477,
      { netns: rec.ns },
    );
    // What leaves for the recorder, seen on its own host by an independent capture.
    const tapFile = path.join(dir, 'to-recorder.pcap');
    tap = startProc('tcpdump', 'tcpdump', ['-i', 'eth0', '-U', '-w', tapFile, '-s', '0', 'udp dst port 9070'], path.join(dir, 'tcpdump.log'), { netns: rec.ns });
    await tap.waitFor(/listening on/, 10_000, 'tcpdump start');
    // The forwarder reaches the LAN from the switch: give its bridge an address of its own.
    spawnSync('ip', ['-n', sw, 'addr', 'add', '198.18.0.250/24', 'dev', 'br0']);
    fwd = await ForwarderProcess.start(path.join(dir, 'fwd'), {
      mode: 'mirroring',
      interfaces: ['br0'],
      sip: { sniff: true },
      ops: { enabled: false },
      deployments: [{ id: 1, keys: { '1': `hex:${SECRET}` }, recorders: [{ host: rec.addr }] }],
    }, { netns: sw });
    await fwd.waitLog(/recorder 1 .* is up/, 10_000);
    proxy = await startKamailio({ dir: path.join(dir, 'kam'), host: lab.host('proxy').addr, port: 5060, netns: lab.host('proxy').ns });
    pair = await startBaresipPair({
      dir: path.join(dir, 'uas'),
      callerWav: voices.caller,
      calleeWav: voices.callee,
      codec: 'PCMU',
      ports: baresipPortsFrom(20000),
      proxy: proxy.address,
      callerHost: lab.host('caller').addr,
      calleeHost: lab.host('callee').addr,
      callerNetns: lab.host('caller').ns,
      calleeNetns: lab.host('callee').ns,
    });
    // Traffic of no interest crossing the same switch while the call runs: the forwarder must leave it alone.
    const junk = startProc('junk', 'python3', ['-c', `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(2000):\n  s.sendto(b'x'*160,('${lab.host('callee').addr}',40000))\n  time.sleep(0.002)`], path.join(dir, 'junk.log'), { netns: lab.host('caller').ns });
    await pair.call(6);
    await junk.stop(10_000, 'SIGTERM').catch(() => undefined);
    const { store, entries } = await storeWithComplete(recordings, 1);
    let endpoints: Set<string>;
    try {
      assert.equal(entries.length, 1, JSON.stringify(entries));
      const e = entries[0]!;
      assert.equal(e.status, 'complete');
      const meta = store.get(e.id)!.metadata;
      assert.equal(meta.call.endReason, 'bye');
      assert.deepEqual(meta.caller.codecs, ['PCMU/8000']);
      const m = matchChannels(e.audio!, pair.callerSource, pair.calleeSource);
      console.log(`      forwarded by tapline forward: ${fmtMatch(m)} (${voices.kind})`);
      assertChannelsMatch(m);
      endpoints = sdpEndpoints(meta as unknown as { call: { sdp: Array<{ media: string[] }> } });
    } finally {
      store.closeCatalogue();
    }
    const summary = await fwd.stop();
    fwd = undefined;
    await sleep(300);
    await tap.stop(2000, 'SIGINT');
    tap = undefined;
    const sent = await forwardedPackets(tapFile);
    const d = summary.deployments[0]!;
    const ofCall = sent.packets.filter((p) => {
      const [a, b] = p.split('>') as [string, string];
      return endpoints.has(a) || endpoints.has(b);
    });
    console.log(
      `      forwarder: captured ${summary.captured}, forwarded ${d.forwarded} (${d.recorders[0]!.packets} to recorder 1), not of interest ${summary.filtered['not-of-interest']}, SIP messages sniffed ${summary.sip.sniffed}; ` +
        `seen arriving at the recorder: ${sent.datagrams} TFWD datagrams, ${sent.packets.length} packets, ${ofCall.length} of them media of the call`,
    );
    assert.equal(sent.refused, 0, 'every datagram carries a valid tag');
    assert.ok(sent.packets.length > 400, `the call's media was forwarded (${sent.packets.length} packets)`);
    assert.equal(ofCall.length, sent.packets.length, `nothing but the call's media was sent: ${sent.packets.filter((p) => !ofCall.includes(p)).slice(0, 5).join(', ')}`);
    assert.equal(sent.packets.length, d.recorders[0]!.packets, 'the capture saw what the forwarder counted');
    // The junk goes to the callee's host: once the call made that host of interest, the kernel filter lets it
    // through and the agent leaves it out by port (before that, the kernel dropped it).
    assert.ok(summary.filtered['not-of-interest']! >= 1000, `the junk flow was filtered out (${summary.filtered['not-of-interest']})`);
    assert.ok(summary.kernelFilterUpdates >= 1, 'the kernel filter followed the interest');
    assert.ok(summary.sip.sniffed >= 6, 'the call control was carried to the feed');
    const res = await serve.stop('SIGTERM');
    serve = undefined;
    assert.equal(res.code, 0);
  });

  it('endpoint mode: a collector on the agent PC forwards that PC\'s media only, though another call crosses its NIC', async () => {
    lab?.destroy();
    const voices = makeVoices(dir);
    lab = createNetLab(['agent', 'peer', 'c', 'd', 'proxy', 'rec']);
    const l = lab;
    const rec = l.host('rec');
    const sw = `${l.id}-sw`;
    const lan = `${rec.addr.split('.').slice(0, 3).join('.')}.0/24`;
    // A hub, not a switch: every frame reaches every port, so the agent PC's NIC sees the other call as well.
    spawnSync('ip', ['-n', sw, 'link', 'set', 'br0', 'type', 'bridge', 'ageing_time', '0']);
    const recordings = path.join(dir, 'endpoint-recordings');
    fs.mkdirSync(path.join(dir, 'endpoint'), { recursive: true });
    serve = await startServe(
      path.join(dir, 'endpoint'),
      {
        plugins: [
          { use: 'source-sipfeed', options: { host: rec.addr, port: 8008, allow: [lan] } },
          { use: 'source-forwarded', options: { tfwd: { host: rec.addr, allow: [lan] }, control: { enabled: true, host: rec.addr, allow: [lan] }, keys: { '1': `hex:${SECRET}` }, deployments: [1] } },
          { use: 'codec-g711' },
          { use: 'storage-local', options: { dir: recordings } },
        ],
      },
      9477,
      { netns: rec.ns },
    );
    // The proxy copies the call control to the recorder (the collector carries media only).
    proxy = await startKamailio({ dir: path.join(dir, 'kam2'), host: l.host('proxy').addr, port: 5060, netns: l.host('proxy').ns, trace: { encap: 'sip', transport: 'tcp', host: rec.addr, port: 8008 } });
    const collector = await ForwarderProcess.start(
      path.join(dir, 'collector'),
      { mode: 'endpoint', interfaces: ['eth0'], ops: { enabled: false }, deployments: [{ id: 1, keys: { '1': `hex:${SECRET}` }, recorders: [{ host: rec.addr, feedPort: 0 }] }] },
      { netns: l.host('agent').ns, name: 'collector' },
    );
    fwd = collector;
    await collector.waitLog(/recorder 1 .* is up/, 10_000);
    // A second collector beside it with the kernel filter off (its TFWD to a port nobody reads): the agent itself must
    // then leave the other call out, packet by packet.
    const unfiltered = await ForwarderProcess.start(
      path.join(dir, 'collector2'),
      { mode: 'endpoint', interfaces: ['eth0'], interestFilter: false, sensorId: 2, ops: { enabled: false }, deployments: [{ id: 1, keys: { '1': `hex:${SECRET}` }, recorders: [{ host: rec.addr, port: 9999, feedPort: 0 }] }] },
      { netns: l.host('agent').ns, name: 'collector2' },
    );
    await unfiltered.waitLog(/recorder 1 .* is up/, 10_000);
    const pairs: BaresipPair[] = [];
    for (const [i, [a, b]] of ([['agent', 'peer'], ['c', 'd']] as const).entries()) {
      pairs.push(
        await startBaresipPair({
          dir: path.join(dir, `ep-uas${i}`),
          callerWav: voices.caller,
          calleeWav: voices.callee,
          codec: 'PCMU',
          ports: baresipPortsFrom(22000 + i * 200),
          proxy: proxy.address,
          callerHost: l.host(a).addr,
          calleeHost: l.host(b).addr,
          callerNetns: l.host(a).ns,
          calleeNetns: l.host(b).ns,
        }),
      );
    }
    try {
      await Promise.all(pairs.map((p) => p.call(6)));
      const summary = await collector.stop();
      fwd = undefined;
      const plain = await unfiltered.stop();
      console.log(`      collector without the kernel filter: captured ${plain.captured}, forwarded ${plain.deployments[0]!.forwarded}, not this PC's ${plain.filtered['not-local']}`);
      assert.ok(plain.filtered['not-local']! > 500, "it saw the other call and left it alone");
      assert.ok(Math.abs(plain.deployments[0]!.forwarded - summary.deployments[0]!.forwarded) <= 5, 'both forwarded the same packets');
      const d = summary.deployments[0]!;
      console.log(`      collector: captured ${summary.captured}, forwarded ${d.forwarded}, not this PC's ${summary.filtered['not-local']}, of no interest ${summary.filtered['not-of-interest']}`);

      const { store, entries } = await storeWithComplete(recordings, 2);
      try {
        assert.equal(entries.length, 2, JSON.stringify(entries));
        const mine = entries.find((e) => store.get(e.id)!.metadata.call.from.uri.includes(l.host('agent').addr))!;
        const other = entries.find((e) => e !== mine)!;
        const m = matchChannels(mine.audio!, pairs[0]!.callerSource, pairs[0]!.calleeSource);
        console.log(`      the agent PC's call: ${fmtMatch(m)}`);
        assertChannelsMatch(m);
        const o = store.get(other.id)!.metadata;
        console.log(`      the other call: ${o.caller.packets} + ${o.callee.packets} packets recorded`);
        assert.equal(o.caller.packets + o.callee.packets, 0, "the other call's media was not forwarded by this PC's collector");
      } finally {
        store.closeCatalogue();
      }
      // The other call's ~600 packets crossed the PC's NIC; the kernel filter (this PC's addresses) left them out.
      // (What else it captured is this PC's own: the second collector's datagrams, of no interest.)
      assert.equal(summary.filtered['not-local'], 0, "the kernel never handed it another PC's packet");
      assert.ok(summary.captured - summary.filtered['not-of-interest']! < 700, `captured ${summary.captured}`);
      assert.ok(d.forwarded >= 590 && d.forwarded <= 640, `only this PC's call (about 600 packets): ${d.forwarded}`);
    } finally {
      for (const p of pairs) await p.stop();
    }
    const res = await serve.stop('SIGTERM');
    serve = undefined;
    assert.equal(res.code, 0);
  });
});
