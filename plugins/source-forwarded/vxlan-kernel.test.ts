/**
 * Real VXLAN: a Linux vxlan device encapsulates UDP packets sent through it, and the source unwraps them.
 *
 * The device lives in its own network namespace, joined to this one by a veth pair, and sends to our listener
 * across it: a vxlan device also opens a kernel socket on its dstport, so in the listener's own namespace it would
 * take (or be refused) the very port the listener holds. The namespace is the "remote sensor"; the packets are sent
 * from inside it (`ip netns exec`). Needs root and iproute2; skipped, saying why, otherwise. The namespace (and with
 * it the device and both veth ends) is deleted in after(), whatever happened.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PacketDecoder, isSkipReason } from '../../core/net/decode';
import type { TransportPacket } from '../../core/net/types';
import { startSource, waitFor, type Running } from './test-support';

const VNI = 4242;
const TAG = String(process.pid % 100000);
const NS = `tlvxns${TAG}`;
const VETH_HOST = `tlvh${TAG}`;
const VETH_NS = `tlvp${TAG}`;
const VXLAN = `tlvx${TAG}`;
const NET = 16 + (process.pid % 200);
/** The veth link: our side (the listener) and the sensor's side (VXLAN's outer source). */
const LINK = { host: `198.19.${NET}.1`, ns: `198.19.${NET}.2` };
/** Inside the tunnel. */
const V4 = { local: '198.18.42.1', peer: '198.18.42.2' };
const V6 = { local: 'fd00:4242::1', peer: 'fd00:4242::2' };
const PEER_MAC = '02:00:00:00:42:02';
const DPORT = 5004;

/** Runs `ip args`; throws with its stderr on failure. */
function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** Sends UDP payloads to `to`:DPORT from inside the namespace (a node child run by `ip netns exec`). */
function sendFromNamespace(type: 'udp4' | 'udp6', to: string, payloads: string[]): void {
  const script = `
    const s = require('node:dgram').createSocket(${JSON.stringify(type)});
    const list = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    (async () => {
      for (const p of list) await new Promise((r, j) => s.send(Buffer.from(p), ${DPORT}, ${JSON.stringify(to)}, (e) => (e ? j(e) : r())));
      s.close();
    })().catch((e) => { console.error(e.message); process.exit(1); });`;
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { input: JSON.stringify(payloads), encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`sending from ${NS} failed: ${r.error?.message ?? r.stderr}`);
}

describe('source-forwarded: VXLAN encapsulated by the Linux kernel', function () {
  this.timeout(30_000);
  let running: Running | undefined;
  let nsCreated = false;

  after(async () => {
    await running?.stop();
    // Deleting the namespace deletes the vxlan device and the veth pair (both ends) with it.
    if (nsCreated) spawnSync('ip', ['netns', 'del', NS]);
  });

  it('unwraps the frames a kernel vxlan device sends: every UDP packet as sent, IPv4 and IPv6, arrival-stamped', async function () {
    const add = spawnSync('ip', ['netns', 'add', NS], { encoding: 'utf8' });
    if (add.error !== undefined || add.status !== 0) {
      console.warn(`    [tapline] cannot create a network namespace (${add.error?.message ?? add.stderr.trim()}): kernel VXLAN test skipped`);
      this.skip();
    }
    nsCreated = true;
    ip('link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS, 'netns', NS);
    ip('addr', 'add', `${LINK.host}/30`, 'dev', VETH_HOST);
    ip('link', 'set', VETH_HOST, 'up');
    ip('-n', NS, 'addr', 'add', `${LINK.ns}/30`, 'dev', VETH_NS);
    ip('-n', NS, 'link', 'set', VETH_NS, 'up');
    ip('-n', NS, 'link', 'set', 'lo', 'up');

    running = await startSource({
      tfwd: { enabled: false },
      vxlan: { enabled: true, host: LINK.host, allow: [`${LINK.ns}/32`], vnis: [VNI] },
      statsIntervalMs: 100,
    });
    const port = running.port('vxlan');
    const vx = spawnSync('ip', ['-n', NS, 'link', 'add', VXLAN, 'type', 'vxlan', 'id', String(VNI), 'remote', LINK.host, 'dstport', String(port), 'dev', VETH_NS], {
      encoding: 'utf8',
    });
    if (vx.error !== undefined || vx.status !== 0) {
      console.warn(`    [tapline] "ip link add … type vxlan" is not permitted here (${vx.error?.message ?? vx.stderr.trim()}): kernel VXLAN test skipped`);
      this.skip();
    }
    ip('-n', NS, 'addr', 'add', `${V4.local}/24`, 'dev', VXLAN);
    ip('-n', NS, '-6', 'addr', 'add', `${V6.local}/64`, 'dev', VXLAN, 'nodad');
    ip('-n', NS, 'link', 'set', VXLAN, 'up');
    ip('-n', NS, 'neigh', 'add', V4.peer, 'lladdr', PEER_MAC, 'dev', VXLAN, 'nud', 'permanent');
    ip('-n', NS, '-6', 'neigh', 'add', V6.peer, 'lladdr', PEER_MAC, 'dev', VXLAN, 'nud', 'permanent');

    const v4 = Array.from({ length: 100 }, (_, i) => `rtp-like payload v4 #${i} `.padEnd(60 + i, '.'));
    const v6 = Array.from({ length: 30 }, (_, i) => `rtp-like payload v6 #${i} `.padEnd(40 + i, '-'));
    const before = Date.now() * 1000;
    sendFromNamespace('udp4', V4.peer, v4);
    sendFromNamespace('udp6', V6.peer, v6);
    const dec = new PacketDecoder();
    const ours = (): TransportPacket[] =>
      running!.sink.frames.flatMap((f) => {
        const p = dec.decode(f);
        return !isSkipReason(p) && p.proto === 'udp' && p.dport === DPORT ? [{ ...p, payload: Buffer.from(p.payload) }] : [];
      });
    await waitFor(() => ours().length >= v4.length + v6.length, 10_000, 'the encapsulated packets');
    const after = Date.now() * 1000;
    const got = ours();
    assert.deepEqual(
      got.filter((p) => p.ipVersion === 4).map((p) => [p.src, p.dst, p.payload.toString()]),
      v4.map((s) => [V4.local, V4.peer, s]),
    );
    assert.deepEqual(
      got.filter((p) => p.ipVersion === 6).map((p) => [p.src, p.dst, p.payload.toString()]),
      v6.map((s) => [V6.local, V6.peer, s]),
    );
    for (const f of running.sink.frames) assert.ok(f.ts >= before - 1000 && f.ts <= after + 1000, 'stamped with the arrival time');
    // The inner frames are addressed to the static neighbour's MAC.
    const first = running.sink.frames.find((f) => f.data.readUInt16BE(12) === 0x0800)!;
    assert.equal([...first.data.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'), PEER_MAC);
    assert.deepEqual([...running.sink.dropCounts()], []);
  });
});
