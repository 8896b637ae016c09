import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTshark, tshark } from '../tshark';
import { baresipPortsFrom, baresipUnavailable, startBaresipPair, type BaresipPair } from './baresip';
import { kamailioUnavailable, startKamailio, type KamailioProxy } from './kamailio';
import { createNetLab, LAB_PREFIX, netnsUnavailable, removeStaleLabs, type NetLab } from './netns';
import { onPath, startCapture, startProc, type Proc } from './proc';

const unavailable = netnsUnavailable() ?? (haveTshark() && onPath('dumpcap') ? undefined : 'not installed: tshark (dumpcap)');
if (unavailable !== undefined) console.warn(`\n  [tapline] network namespace peer tests skipped: ${unavailable}\n`);
const describeNetns = unavailable === undefined ? describe : describe.skip;

const FLOW_PACKETS = 40;

function namespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** A Node program run on a lab host (the lab's hosts have no Node of their own: the same binary, another namespace). */
function nodeOn(lab: NetLab, host: string, name: string, code: string, log: string): Proc {
  return startProc(name, process.execPath, ['-e', code], log, { netns: lab.host(host).ns });
}

/** UDP echo on port 5000: every datagram goes back to its sender. Says "ready" once bound. */
const ECHO = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(5000,process.argv[1]??'0.0.0.0',()=>console.log('ready'));process.on('SIGINT',()=>process.exit(0));`;
/** A collector on a UDP port (4789 by default): one line per datagram. */
const COLLECT = (port = 4789): string =>
  `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>console.log('got '+m.length));s.bind(${port},()=>console.log('ready'));process.on('SIGINT',()=>process.exit(0));`;
/** Sends FLOW_PACKETS datagrams "flow N" to ADDR:5000, 10 ms apart, counts the echoes, then exits. */
const flowTo = (addr: string): string =>
  `const s=require('dgram').createSocket('udp4');let n=0,back=0;s.on('message',()=>back++);s.bind(6000,()=>{const t=setInterval(()=>{s.send('flow '+n,5000,'${addr}');if(++n===${FLOW_PACKETS}){clearInterval(t);setTimeout(()=>{console.log('echoed '+back);s.close()},300)}},10)});`;

describeNetns(`network namespace lab: hosts on veth and a bridge, VXLAN mirror${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, function () {
  this.timeout(30_000);
  let dir: string;
  const labs: NetLab[] = [];
  const procs: Proc[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-netns-'));
  });

  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop();
    for (const l of labs.splice(0)) l.destroy();
  });

  after(() => {
    if (process.env.TAPLINE_KEEP_PEERS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  it('hosts reach each other by address; destroy() leaves no namespace, link or process behind', async () => {
    const linksBefore = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
    const lab = createNetLab(['alpha', 'beta']);
    labs.push(lab);
    assert.deepEqual(
      lab.hosts.map((h) => h.addr),
      ['198.18.0.10', '198.18.0.11'],
    );
    assert.ok(namespaces().includes(lab.host('alpha').ns));
    assert.match(lab.run('beta', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']), /inet 198\.18\.0\.11\/24/);
    assert.doesNotMatch(lab.run('beta', 'ip', ['-o', 'addr']), /inet6/, 'IPv6 is off in the lab');
    // The machine's own namespace got no interface: the veth pairs were made inside the lab.
    assert.equal(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout, linksBefore);

    const echo = nodeOn(lab, 'beta', 'echo', ECHO, path.join(dir, 'echo.log'));
    procs.push(echo);
    await echo.waitFor(/ready/, 5000, 'echo server');
    const flow = nodeOn(lab, 'alpha', 'flow', flowTo(lab.host('beta').addr), path.join(dir, 'flow.log'));
    procs.push(flow);
    await flow.waitFor(new RegExp(`echoed ${FLOW_PACKETS}\\b`), 5000, 'all echoes');

    // A program left running inside the lab is killed with it.
    const straggler = nodeOn(lab, 'beta', 'straggler', "console.log('ready');setInterval(()=>{},1000)", path.join(dir, 'straggler.log'));
    procs.push(straggler);
    // Only once it runs inside the namespace (before that, `ip netns exec` has not entered it yet).
    await straggler.waitFor(/ready/, 5000, 'start');
    const pid = straggler.child.pid;
    lab.destroy();
    await straggler.exit;
    assert.ok(pid !== undefined && straggler.exited);
    assert.deepEqual(namespaces().filter((n) => n.startsWith(lab.id)), []);
    assert.equal(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout, linksBefore);
  });

  it("removeStaleLabs() deletes a dead run's namespaces and keeps a live run's", async () => {
    // A pid that is certainly gone: a child that has exited and been reaped.
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const staleNs = `${LAB_PREFIX}${dead.pid}-0-leftover`;
    assert.equal(spawnSync('ip', ['netns', 'add', staleNs]).status, 0);
    const lab = createNetLab(['live']);
    labs.push(lab);
    // createNetLab removed it already; a second call finds nothing more.
    assert.ok(!namespaces().includes(staleNs), `${staleNs} still there`);
    assert.deepEqual(removeStaleLabs(), []);
    assert.ok(namespaces().includes(lab.host('live').ns), "the live run's lab stays");
  });

  it('VXLAN mirror: every frame in and out of the call host reaches the recorder encapsulated, decoded by tshark to the original UDP, and never loops', async () => {
    const lab = createNetLab(['call', 'peer', 'rec']);
    labs.push(lab);
    const m = lab.mirror({ from: 'call', to: 'rec', vni: 4242 });
    assert.equal(m.port, 4789);
    const pcap = path.join(dir, 'rec.pcap');
    procs.push(await startCapture({ iface: 'eth0', filter: 'udp', file: pcap, logFile: path.join(dir, 'rec-dumpcap.log'), netns: lab.host('rec').ns }));
    // The recorder listens on 4789, as tapline would: no ICMP port-unreachable goes back.
    const collector = nodeOn(lab, 'rec', 'collector', COLLECT(), path.join(dir, 'collector.log'));
    procs.push(collector);
    await collector.waitFor(/ready/, 5000, 'collector');
    const echo = nodeOn(lab, 'peer', 'echo', ECHO, path.join(dir, 'echo2.log'));
    procs.push(echo);
    await echo.waitFor(/ready/, 5000, 'echo server');

    const flow = nodeOn(lab, 'call', 'flow', flowTo(lab.host('peer').addr), path.join(dir, 'flow2.log'));
    procs.push(flow);
    await flow.waitFor(new RegExp(`echoed ${FLOW_PACKETS}\\b`), 5000, 'all echoes');
    await new Promise((r) => setTimeout(r, 500));
    for (const p of procs.splice(0)) await p.stop();

    const call = lab.host('call').addr;
    const peer = lab.host('peer').addr;
    const rec = lab.host('rec').addr;
    // Outer and inner headers of every VXLAN frame (occurrence=a: "outer,inner").
    const rows = tshark(pcap, ['-d', `udp.port==${m.port},vxlan`, '-Y', 'vxlan', '-T', 'fields', '-E', 'occurrence=a', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'vxlan.vni', '-e', 'udp.payload', '-e', 'frame.protocols'])
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t'));
    const flowCopies = { out: [] as string[], back: [] as string[] };
    const others: string[] = [];
    for (const [src = '', dst = '', dport = '', vni = '', data = '', protocols = ''] of rows) {
      const [outerSrc, innerSrc] = src.split(',');
      const [outerDst, innerDst] = dst.split(',');
      assert.equal(outerSrc, call, 'copies come from the mirrored host');
      assert.equal(outerDst, rec);
      assert.equal(vni, '4242');
      assert.equal(protocols.split(':').filter((p) => p === 'vxlan').length, 1, `a copy of a copy: ${protocols}`);
      assert.notEqual(innerDst, rec, 'traffic with the recorder is not mirrored');
      assert.notEqual(innerSrc, rec, 'traffic with the recorder is not mirrored');
      const inner = dport.split(',')[1];
      const text = Buffer.from((data.split(',').pop() ?? '').replace(/:/g, ''), 'hex').toString('latin1');
      if (innerSrc === call && innerDst === peer && inner === '5000') flowCopies.out.push(text);
      else if (innerSrc === peer && innerDst === call && inner === '6000') flowCopies.back.push(text);
      else others.push(protocols);
    }
    const sent = Array.from({ length: FLOW_PACKETS }, (_, i) => `flow ${i}`);
    // Egress (call → peer) and ingress (the echoes) are both mirrored, each datagram exactly once, payload intact.
    assert.deepEqual(flowCopies.out, sent);
    assert.deepEqual(flowCopies.back, sent);
    // All that arrived besides the flow is the ARP exchange of call and peer: nothing multiplies.
    assert.ok(others.length <= 4 && others.every((p) => p.endsWith('vxlan:eth:ethertype:arp')), `other copies: ${others.join(' | ')}`);
    // The recorder's socket got every one of them.
    const got = collector.text.split('\n').filter((l) => l.startsWith('got ')).length;
    assert.equal(got, rows.length, 'datagrams the collector socket received');
  });

  it('a real call between lab hosts: baresip on caller and callee, kamailio on proxy sending HEP to rec, the caller host mirrored to rec', async function () {
    const missing = baresipUnavailable() ?? kamailioUnavailable();
    if (missing !== undefined) {
      console.warn(`      [tapline] skipped: ${missing}`);
      this.skip();
    }
    const lab = createNetLab(['caller', 'callee', 'proxy', 'rec']);
    labs.push(lab);
    const rec = lab.host('rec');
    lab.mirror({ from: 'caller', to: 'rec', vni: 77 });
    const pcap = path.join(dir, 'call-rec.pcap');
    procs.push(await startCapture({ iface: 'eth0', filter: 'udp', file: pcap, logFile: path.join(dir, 'call-dumpcap.log'), netns: rec.ns }));
    for (const port of [4789, 9060]) {
      const c = nodeOn(lab, 'rec', `collector ${port}`, COLLECT(port), path.join(dir, `collector-${port}.log`));
      procs.push(c);
      await c.waitFor(/ready/, 5000, 'collector');
    }
    const wav = path.join(dir, 'tone.wav');
    spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', wav, 'synth', '4', 'sine', '400-1200', 'vol', '0.4']);
    // Every host has its own address, so the same ports serve all of them.
    const ports = baresipPortsFrom(20000);
    let proxy: KamailioProxy | undefined;
    let pair: BaresipPair | undefined;
    try {
      proxy = await startKamailio({ dir: path.join(dir, 'kam'), host: lab.host('proxy').addr, port: 5060, netns: lab.host('proxy').ns, trace: { encap: 'hep', transport: 'udp', host: rec.addr, port: 9060 } });
      pair = await startBaresipPair({
        dir: path.join(dir, 'uas'),
        callerWav: wav,
        calleeWav: wav,
        codec: 'PCMA',
        ports,
        proxy: proxy.address,
        callerHost: lab.host('caller').addr,
        calleeHost: lab.host('callee').addr,
        callerNetns: lab.host('caller').ns,
        calleeNetns: lab.host('callee').ns,
        maxCallSec: 2,
      });
      const take = await pair.call(2);
      assert.ok(take.calleeReceived !== undefined);
    } finally {
      await pair?.stop();
      await proxy?.stop();
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const p of procs.splice(0)) await p.stop();

    const caller = lab.host('caller').addr;
    const proxyAddr = lab.host('proxy').addr;
    const callee = lab.host('callee').addr;
    // HEP from the proxy: the 13 copies of the call, straight to rec (the proxy host is not mirrored).
    const hep = tshark(pcap, ['-Y', `udp.dstport == 9060 && ip.src == ${proxyAddr}`, '-T', 'fields', '-e', 'frame.number']).split('\n').filter((l) => l !== '');
    assert.equal(hep.length, 13, 'HEP datagrams from the proxy');
    // The mirror: the caller's SIP with the proxy and both RTP directions with the callee, inside VXLAN from the caller host.
    const inner = tshark(pcap, ['-d', 'udp.port==4789,vxlan', '-o', 'rtp.heuristic_rtp:TRUE', '-Y', 'vxlan', '-T', 'fields', '-E', 'occurrence=l', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'rtp.p_type'])
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t'));
    const count = (f: (r: string[]) => boolean): number => inner.filter(f).length;
    const sipUp = count(([s, d, m]) => s === caller && d === proxyAddr && (m ?? '') !== '');
    const sipDown = count(([s, d, , st]) => s === proxyAddr && d === caller && (st ?? '') !== '');
    const rtpOut = count(([s, d, , , pt]) => s === caller && d === callee && pt === '8');
    const rtpIn = count(([s, d, , , pt]) => s === callee && d === caller && pt === '8');
    console.log(`      mirrored from the caller host: SIP ${sipUp} up / ${sipDown} down, RTP (PCMA) ${rtpOut} out / ${rtpIn} in; HEP from the proxy: ${hep.length}`);
    assert.equal(sipUp, 3, 'INVITE, ACK, BYE');
    // 100, 180, 200 (INVITE), 200 (BYE); BYE's 200 and INVITE's 200 carry a status; methods count only requests.
    assert.equal(sipDown, 4);
    // 2 s at 50 packets/s each way, give or take set-up and hang-up.
    for (const n of [rtpOut, rtpIn]) assert.ok(n >= 90 && n <= 130, `RTP copies ${rtpOut} out, ${rtpIn} in`);
    // Inner IP addresses (occurrence=a gives "outer,inner"; ARP copies have no inner IP).
    const innerAddrs = tshark(pcap, ['-d', 'udp.port==4789,vxlan', '-Y', 'vxlan', '-T', 'fields', '-E', 'occurrence=a', '-e', 'ip.src', '-e', 'ip.dst'])
      .split('\n')
      .flatMap((l) => l.split('\t').map((f) => f.split(',')[1] ?? ''));
    assert.ok(!innerAddrs.includes(rec.addr), 'nothing exchanged with rec is mirrored');
  });
});
