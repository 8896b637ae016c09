import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { PromMetrics } from '../../core/metrics';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import { LinkType, type TransportPacket } from '../../core/net/types';
import { LiveSource, type SourceLiveOptions } from './live-source';
import { InterfaceCapture } from '../../core/net/interface-capture';
import { quietPort, recordingSink, type RecordingSink, sendUdp, skipUnlessCapture, waitFor, wallUs } from './test-support';
import schema from './options.schema.json';

const defaults: SourceLiveOptions = {
  interfaces: ['lo'],
  filter: schema.properties.filter.default,
  snaplen: schema.properties.snaplen.default,
  bufferBytes: schema.properties.bufferBytes.default,
  promiscuous: schema.properties.promiscuous.default,
  statsEverySec: schema.properties.statsEverySec.default,
};

/** Packet-socket rings mapped into this process (one per open capture): lines of /proc/self/maps naming a socket. */
function packetRings(): number {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('socket:')).length;
}

function udp(p: TransportPacket | string): TransportPacket {
  assert.ok(!isSkipReason(p as TransportPacket), `frame did not decode: ${String(p)}`);
  return p as TransportPacket;
}

/** Runs a LiveSource until `body` is done, then aborts it; returns what the sink got and how long stopping took. */
async function capture(options: Partial<SourceLiveOptions>, body: (sink: RecordingSink) => Promise<void>, tuning?: { timeoutMs?: number; budget?: number }) {
  const src = new LiveSource({ ...defaults, ...options }, tuning === undefined ? {} : { tuning });
  const sink = recordingSink();
  const ac = new AbortController();
  let ready = 0;
  let readyResolve!: () => void;
  const isReady = new Promise<void>((r) => (readyResolve = r));
  const run = src.run(sink, ac.signal, {
    ready: () => {
      ready++;
      readyResolve();
    },
  });
  await Promise.race([isReady, run]);
  await body(sink);
  const t0 = Date.now();
  ac.abort();
  const result = await run;
  return { sink, result, ready, stopMs: Date.now() - t0 };
}

describe('source-live: capture on lo', function () {
  before(function () {
    skipUnlessCapture(this);
  });

  it('hands every UDP datagram sent on loopback to the sink as an Ethernet frame with its payload, ports and a kernel timestamp', async () => {
    const rx = await quietPort();
    let sent: { payloads: Buffer[]; sport: number } = { payloads: [], sport: 0 };
    const before = wallUs();
    const { sink, result, ready } = await capture({ filter: `udp dst port ${rx.port}` }, async (sink) => {
      sent = await sendUdp(rx.port, 300, { gapEvery: 50 });
      await waitFor(() => sink.frames.length >= 300, 3000);
    }).finally(() => rx.close());
    const after = wallUs();
    assert.equal(ready, 1);
    assert.equal(result.frames, 300);
    assert.equal(sink.frames.length, 300);
    let prevTs = 0;
    sink.frames.forEach((f, i) => {
      assert.equal(f.linkType, LinkType.ETHERNET, 'lo is DLT_EN10MB on Linux');
      assert.equal(f.interfaceId, 0);
      assert.equal(f.frameNo, i + 1);
      assert.equal(f.origLen, f.data.length);
      const p = udp(decodeFrame(f));
      assert.deepEqual([p.src, p.sport, p.dst, p.dport], ['127.0.0.1', sent.sport, '127.0.0.1', rx.port]);
      assert.ok(p.payload.equals(sent.payloads[i] as Buffer), `payload of datagram ${i}`);
      // The kernel stamps the packet just after the send call read its clock: within 50 ms of it. The send time is
      // timeOrigin + performance.now() (the monotonic clock), which drifts from the kernel's CLOCK_REALTIME while NTP
      // slews it (seen: 5-10 µs on a machine just booted): a stamp up to 2 ms "before" it is the two clocks, not a bug.
      const sentAt = p.payload.readDoubleBE(4);
      assert.ok(f.ts >= sentAt - 2000 && f.ts - sentAt < 50_000, `frame ${i}: ts ${f.ts} vs sent ${sentAt}`);
      assert.ok(f.ts >= prevTs && f.ts >= before && f.ts <= after);
      prevTs = f.ts;
    });
    // Nanosecond timestamps: µs values with a fraction (all integral would mean µs precision).
    assert.ok(sink.frames.some((f) => f.ts % 1 !== 0), 'timestamps carry sub-microsecond precision');
  });

  it('keeps only what the BPF filter selects', async () => {
    const wanted = await quietPort();
    const other = await quietPort();
    const { sink } = await capture({ filter: `udp dst port ${wanted.port}` }, async (sink) => {
      await sendUdp(other.port, 40);
      await sendUdp(wanted.port, 25);
      await sendUdp(other.port, 40);
      await waitFor(() => sink.frames.length >= 25, 3000);
      await new Promise((r) => setTimeout(r, 100)); // room for anything the filter let through by mistake
    }).finally(() => {
      wanted.close();
      other.close();
    });
    assert.equal(sink.frames.length, 25);
    for (const f of sink.frames) assert.equal(udp(decodeFrame(f)).dport, wanted.port);
  });

  it('captures on several interfaces at once, each frame with its own interface id and link type (lo: Ethernet, any: Linux cooked)', async () => {
    const rx = await quietPort();
    const { sink } = await capture({ interfaces: ['lo', 'any'], filter: `udp dst port ${rx.port}` }, async (sink) => {
      await sendUdp(rx.port, 10);
      await waitFor(() => sink.frames.length >= 20, 3000);
    }).finally(() => rx.close());
    const byId = (id: number) => sink.frames.filter((f) => f.interfaceId === id);
    assert.equal(byId(0).length, 10);
    assert.equal(byId(1).length, 10);
    assert.ok(byId(0).every((f) => f.linkType === LinkType.ETHERNET));
    assert.ok(byId(1).every((f) => f.linkType === LinkType.LINUX_SLL || f.linkType === LinkType.LINUX_SLL2));
    for (const f of sink.frames) assert.equal(udp(decodeFrame(f)).dport, rx.port);
  });

  it('keeps reading across event-loop turns when a wake-up has more packets than its budget', async () => {
    const rx = await quietPort();
    const { sink } = await capture(
      { filter: `udp dst port ${rx.port}` },
      async (sink) => {
        await sendUdp(rx.port, 200);
        await waitFor(() => sink.frames.length >= 200, 3000);
      },
      { budget: 3, timeoutMs: 50 },
    ).finally(() => rx.close());
    assert.equal(sink.frames.length, 200);
    assert.deepEqual(
      sink.frames.map((f) => udp(decodeFrame(f)).payload.readUInt32BE(0)),
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it('a capture closed from inside its own frame callback delivers nothing more and releases the socket', async () => {
    const rx = await quietPort();
    const ringsBefore = packetRings();
    const seen: number[] = [];
    const cap = InterfaceCapture.open(
      { interface: 'lo', filter: `udp dst port ${rx.port}`, snaplen: 65535, bufferBytes: 1 << 20, promiscuous: false, interfaceId: 0 },
      (f) => {
        seen.push(udp(decodeFrame(f)).payload.readUInt32BE(0));
        if (seen.length === 3) cap.close();
      },
      (e) => assert.fail(e),
    );
    try {
      assert.equal(packetRings(), ringsBefore + 1);
      await sendUdp(rx.port, 50); // all queued before the first wake-up: the close lands mid-batch
      await waitFor(() => seen.length >= 3, 3000);
      assert.equal(packetRings(), ringsBefore, 'the ring is unmapped (the socket closed) once the wake-up returned');
      await sendUdp(rx.port, 10);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      cap.close();
      rx.close();
    }
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(cap.open, false);
    assert.equal(cap.frames, 3);
  });

  it('run() resolves promptly once the signal aborts, with the frames counted', async () => {
    const rx = await quietPort();
    const { result, stopMs, sink } = await capture({ filter: `udp dst port ${rx.port}` }, async (s) => {
      await sendUdp(rx.port, 5);
      await waitFor(() => s.frames.length >= 5, 3000);
    }).finally(() => rx.close());
    assert.equal(result.frames, 5);
    assert.equal(sink.frames.length, 5);
    assert.ok(stopMs < 100, `stopped in ${stopMs} ms`);
  });

  it('publishes packets in and per-interface counts, and kernel drops per interface, through ctx.metrics', async () => {
    const rx = await quietPort();
    const metrics = new PromMetrics();
    const src = new LiveSource({ ...defaults, interfaces: ['lo'], filter: `udp dst port ${rx.port}` }, { metrics });
    const sink = recordingSink();
    const ac = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const run = src.run(sink, ac.signal, { ready });
    await isReady;
    await sendUdp(rx.port, 12);
    await waitFor(() => sink.frames.length >= 12, 3000);
    ac.abort();
    await run;
    rx.close();
    const text = await metrics.text();
    assert.match(text, /^tapline_packets_in_total\{source="source-live"\} 12$/m);
    assert.match(text, /^tapline_capture_packets_total\{interface="lo"\} 12$/m);
    assert.match(text, /^# TYPE tapline_capture_kernel_drops_total counter$/m);
    assert.doesNotMatch(text, /^tapline_capture_kernel_drops_total\{/m, 'no drops, no series');
  });

  it('a signal already aborted opens nothing and resolves with no frames', async () => {
    const ac = new AbortController();
    ac.abort();
    let ready = false;
    const res = await new LiveSource(defaults).run(recordingSink(), ac.signal, { ready: () => (ready = true) });
    assert.deepEqual(res, { frames: 0 });
    assert.equal(ready, false);
  });

  it('an interface that does not exist rejects with CAPTURE_NO_INTERFACE naming it and listing those that exist', async () => {
    let ready = false;
    await assert.rejects(new LiveSource({ ...defaults, interfaces: ['lo', 'tapline-none0'] }).run(recordingSink(), new AbortController().signal, { ready: () => (ready = true) }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CAPTURE_NO_INTERFACE));
      assert.match(e.message, /^interface "tapline-none0" not found; interfaces here: .*\blo\b/);
      assert.ok((e.details['interfaces'] as string[]).includes('lo'));
      return true;
    });
    assert.equal(ready, false, 'not ready when an interface failed');
  });

  it('a filter libpcap cannot compile rejects with CAPTURE_FILTER and libpcap\'s message', async () => {
    await assert.rejects(new LiveSource({ ...defaults, filter: 'udp and' }).run(recordingSink(), new AbortController().signal, { ready: () => undefined }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CAPTURE_FILTER));
      assert.equal(e.message, 'BPF filter "udp and" refused on "lo": can\'t parse filter expression: syntax error');
      return true;
    });
    await assert.rejects(new LiveSource({ ...defaults, filter: 'udp port 70000' }).run(recordingSink(), new AbortController().signal, { ready: () => undefined }), /illegal port number 70000 > 65535/);
  });
});

describe('source-live: kernel drops', function () {
  before(function () {
    skipUnlessCapture(this);
  });

  it('a tiny capture buffer and a busy process make ps_drop rise, and the drops reach sink.drop("kernel", "pcap")', async () => {
    const rx = await quietPort();
    const count = 20_000;
    // The sender is another process, so that it keeps sending while this one is busy.
    const sender = `const d=require('node:dgram').createSocket('udp4');const b=Buffer.alloc(200,1);let i=0;
      (function go(){for(let k=0;k<500&&i<${count};k++,i++){b.writeUInt32BE(i,0);d.send(b,${rx.port},'127.0.0.1');}
      if(i<${count})setImmediate(go);else setTimeout(()=>d.close(),100);})();`;
    const src = new LiveSource({ ...defaults, filter: `udp dst port ${rx.port}`, bufferBytes: 65536, statsEverySec: 0.05 });
    const sink = recordingSink();
    const ac = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const run = src.run(sink, ac.signal, { ready });
    await isReady;
    const child = spawn(process.execPath, ['-e', sender], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      // Busy for 400 ms: the kernel fills the 64 KiB ring and drops the rest.
      const end = Date.now() + 400;
      while (Date.now() < end);
      await exited;
      await waitFor(() => sink.dropped('kernel') > 0 && sink.frames.length > 0, 3000);
      await new Promise((r) => setTimeout(r, 200)); // the last stats tick
    } finally {
      child.kill();
      ac.abort();
      await run;
      rx.close();
    }
    const drops = sink.dropped('kernel');
    assert.ok(drops > 0, 'kernel drops reported');
    assert.ok(sink.drops.every((d) => d.stage === 'kernel' && d.reason === 'pcap' && d.count > 0));
    assert.ok(sink.frames.length < count, `captured ${sink.frames.length} of ${count}`);
    // On lo the kernel queues (and drops) each packet twice, outgoing and incoming; libpcap keeps the incoming one.
    const lost = count - sink.frames.length;
    assert.ok(Math.abs(drops / 2 - lost) <= lost * 0.05 + 10, `drops ${drops} (÷2 = ${drops / 2}) vs lost ${lost}`);
  });

  it('stats() unwraps and accumulates libpcap\'s counters, and keeps the last values once closed', async () => {
    const rx = await quietPort();
    const cap = InterfaceCapture.open({ interface: 'lo', filter: `udp dst port ${rx.port}`, snaplen: 65535, bufferBytes: 1 << 20, promiscuous: false, interfaceId: 0 }, () => undefined, (e) => assert.fail(e));
    try {
      await sendUdp(rx.port, 10);
      await waitFor(() => cap.frames >= 10, 3000);
      const s = cap.stats();
      assert.equal(cap.frames, 10);
      assert.equal(s.received, 20, 'lo: each packet seen outgoing and incoming');
      assert.equal(s.dropped, 0);
    } finally {
      cap.close();
      rx.close();
    }
    assert.equal(cap.open, false);
    assert.equal(cap.stats().received, 20);
    cap.close(); // idempotent
  });
});
