/**
 * The recorder as a service, driven by a live source by hand (test/scripted-source.ts): the wall clock ends idle
 * calls, stop() finishes every active recording within its bound, a slow disk never blocks capture, SIGHUP's
 * reload applies users and policy to new calls only, readiness follows the sources, and a recorder started during
 * a call records it from its next re-INVITE.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../contract';
import type { CallShard } from '../calls/call-shard';
import type { RecordingMetadata } from '../media/metadata';
import { Tokens } from '../tokens';
import { memoryLogger } from '../log';
import { prepareForTest } from '../testing/index';
import { RecorderService } from './recorder-service';
import { ScriptedLiveSource, sourcePlugin } from '../../test/scripted-source';
import { request, response, sdp } from '../../test/sip-text';
import { pcmu, RtpStream, tone } from '../../test/rtp-build';
import storageLocal from '../../plugins/storage-local/index';
import { LocalStore } from '../../plugins/storage-local/store';
import g711 from '../../plugins/codec-g711/index';
import { readWav } from '../../plugins/storage-local/wav';

const A = { ip: '10.0.0.1', port: 5060 };
const B = { ip: '10.0.0.2', port: 5060 };
const A_RTP = { ip: '10.0.0.1', port: 4000 };
const B_RTP = { ip: '10.0.0.2', port: 5000 };

interface Rig {
  service: RecorderService;
  src: ScriptedLiveSource;
  dir: string;
  finished: RecordingMetadata[];
  started: Array<{ id: string; joinedMidCall: boolean }>;
  notRecorded: string[];
}

async function rig(config: Record<string, unknown> = {}, opts: { storage?: unknown; src?: ScriptedLiveSource } = {}): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-service-'));
  const src = opts.src ?? new ScriptedLiveSource();
  const storage = opts.storage === undefined ? [{ plugin: storageLocal, options: { dir } }] : opts.storage === null ? [] : [{ plugin: opts.storage }];
  const prepared = prepareForTest([{ plugin: sourcePlugin(src) }, { plugin: g711 }, ...storage], config, dir);
  const service = await RecorderService.create(prepared, { logger: memoryLogger('debug').log });
  const r: Rig = { service, src, dir, finished: [], started: [], notRecorded: [] };
  service.events.on('recordingFinished', (m) => r.finished.push(m));
  service.events.on('recordingStarted', (e) => r.started.push({ id: e.id, joinedMidCall: e.joinedMidCall }));
  service.events.on('callNotRecorded', (e) => r.notRecorded.push(e.callId));
  await service.start();
  return r;
}

/** Media ports of the n-th call (every call its own, as in life: the newest SDP naming an address owns it). */
const rtpOf = (n: number): { a: { ip: string; port: number }; b: { ip: string; port: number } } => ({ a: { ...A_RTP, port: A_RTP.port + 2 * n }, b: { ...B_RTP, port: B_RTP.port + 2 * n } });

/** INVITE / 200 / ACK of call number `n` from `from` (a URI) with G.711 μ-law SDPs on both sides. */
function setUp(src: ScriptedLiveSource, callId: string, t0: number, from = '<sip:alice@example.com>', n = 0): void {
  const o = { callId, from, fromTag: `f-${callId}` };
  const m = rtpOf(n);
  src.sip(request('INVITE', { ...o, body: sdp(m.a.ip, m.a.port) }), A, B, t0);
  src.sip(response(200, 'OK', 'INVITE', { ...o, toTag: `t-${callId}`, body: sdp(m.b.ip, m.b.port) }), B, A, t0 + 1000);
  src.sip(request('ACK', { ...o, toTag: `t-${callId}` }), A, B, t0 + 2000);
}

/** `sec` seconds of 20 ms μ-law packets both ways of calls 0..calls-1, stamped from t0. */
function talk(src: ScriptedLiveSource, t0: number, sec: number, calls = 1): void {
  const streams = Array.from({ length: calls }, (_, n) => ({ a: new RtpStream(0x1111 + n), b: new RtpStream(0x2222 + n), m: rtpOf(n) }));
  for (let i = 0; i < sec * 50; i++) {
    const ts = t0 + i * 20_000;
    const a = pcmu(tone(440, i * 160, 160));
    const b = pcmu(tone(1000, i * 160, 160));
    for (const s of streams) {
      src.media(s.a.next(0, a, 160), s.m.a, s.m.b, ts);
      src.media(s.b.next(0, b, 160), s.m.b, s.m.a, ts);
    }
  }
}

const nowUs = (): number => Date.now() * 1000;

function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      const v = fn();
      if (v !== undefined) return resolve(v);
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`${what}: not within ${timeoutMs} ms`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

describe('RecorderService: a live recorder', function () {
  this.timeout(20_000);
  const rigs: Rig[] = [];
  afterEach(async () => {
    for (const r of rigs.splice(0)) {
      await r.service.stop(2000);
      fs.rmSync(r.dir, { recursive: true, force: true });
    }
  });
  const make = async (...a: Parameters<typeof rig>): Promise<Rig> => {
    const r = await rig(...a);
    rigs.push(r);
    return r;
  };

  it('a call worker that dies: its recordings are left for recovery, counted and logged; new calls go to the other worker until a replacement starts', async () => {
    const r = await make({ media: { workers: 2, endLingerSec: 0.2 } });
    const shards = r.service.kernel.calls.shardList as ReadonlyArray<CallShard & { terminate?: () => Promise<void> }>;
    assert.equal(shards.length, 2);
    const t0 = nowUs() - 10_000_000;
    setUp(r.src, 'w-0', t0, undefined, 0);
    setUp(r.src, 'w-1', t0, undefined, 1);
    talk(r.src, t0 + 3000, 1, 2);
    await waitFor('2 recordings started', () => (r.started.length === 2 ? true : undefined), 5000);
    await shards[0]!.terminate!();
    await waitFor('the dead worker counted', () => (r.service.kernel.counters.get('core.workers.failed') === 1 ? true : undefined), 5000);
    assert.equal(shards[0]!.failed, true);
    assert.equal(r.service.kernel.calls.recordingsInProgress, 1, 'the other worker still records its call');
    setUp(r.src, 'w-2', t0 + 2_000_000, undefined, 2);
    await waitFor('a third recording', () => (r.started.length === 3 ? true : undefined), 5000);
    assert.deepEqual(r.service.kernel.calls.threadStats().map((t) => t.recordings), [0, 2], 'the new call went to the live worker');
    // A replacement starts a second later and takes the next call (the least busy).
    await waitFor('the worker restarted', () => (r.service.kernel.counters.get('core.workers.restarted') === 1 ? true : undefined), 5000);
    assert.equal(shards[0]!.failed, false);
    setUp(r.src, 'w-3', t0 + 3_000_000, undefined, 3);
    await waitFor('a fourth recording', () => (r.started.length === 4 ? true : undefined), 5000);
    assert.deepEqual(r.service.kernel.calls.threadStats().map((t) => t.recordings), [1, 2], 'the replacement took the new call');
    assert.equal(await r.service.stop(5000).then((s) => s.drained), true);
    assert.deepEqual(r.finished.map((m) => m.call.callId).sort(), ['w-1', 'w-2', 'w-3'], 'the calls of the live workers are finished and catalogued');
  });

  it('keeps wall-clock time: a call whose BYE never comes is closed by the idle timer on an idle link', async () => {
    const r = await make({ dialogs: { idleTimeoutSec: 1 }, media: { endLingerSec: 0.2 } });
    assert.equal(r.service.kernel.clock.mode, 'wall');
    const t0 = nowUs() - 1_000_000; // a second of audio that has just happened
    setUp(r.src, 'idle-1', t0);
    talk(r.src, t0, 1);
    // Nothing more arrives: only the clock's ticks can end the call.
    const m = await waitFor('the idle call is finished', () => r.finished[0], 5000);
    assert.equal(m.call.endReason, 'idle-timeout');
    assert.equal(m.status, 'complete');
    assert.ok(m.audio !== undefined && Math.abs(m.audio.durationSec - 1) < 0.1, `audio ${m.audio?.durationSec} s`);
    assert.equal(r.service.kernel.dialogs.size, 0);
    assert.equal(r.service.kernel.calls.recordingsInProgress, 0);
  });

  it('stop() finishes and catalogues every active recording within its bound', async () => {
    const r = await make();
    const t0 = nowUs() - 3_000_000;
    ['s1', 's2', 's3'].forEach((id, n) => setUp(r.src, id, t0, undefined, n));
    talk(r.src, t0, 2, 3);
    assert.equal(r.service.kernel.calls.recordingsInProgress, 3);
    const res = await r.service.stop(5000);
    assert.equal(res.drained, true);
    assert.ok(res.ms < 5000, `${res.ms} ms`);
    assert.equal(r.finished.length, 3);
    const store = new LocalStore({ root: r.dir, catalogue: path.join(r.dir, 'catalogue.sqlite'), layout: 'date' });
    try {
      const entries = store.list({});
      assert.equal(entries.length, 3);
      for (const e of entries) {
        assert.equal(e.status, 'complete');
        const w = readWav(e.audio ?? '');
        assert.equal(w.channels, 2);
        assert.ok(Math.abs(w.samples.length / 2 / 8000 - 2) < 0.1);
      }
      assert.equal(r.finished[0]?.call.endReason, 'end-of-input');
    } finally {
      store.closeCatalogue();
    }
    // Idempotent: a second stop returns the first one's result.
    assert.deepEqual(await r.service.stop(5000), res);
  });

  it('a slow disk never blocks capture: audio past the queue is dropped, counted, flagged, and the WAV keeps its length', async () => {
    class SlowStore extends LocalStore {
      /** The disk is slow while the audio comes in, then recovers (so the test can read what was stored). */
      slow = true;
      override async writeAudio(id: string, at: number, pcm: Int16Array): Promise<void> {
        if (this.slow) await new Promise((res) => setTimeout(res, 25));
        return super.writeAudio(id, at, pcm);
      }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-slow-'));
    const slow = new SlowStore({ root: dir, catalogue: path.join(dir, 'catalogue.sqlite'), layout: 'date' });
    const slowPlugin = definePlugin({
      name: 'slow-storage',
      kind: 'storage',
      api: TAPLINE_API,
      optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
      register(ctx) {
        ctx.container.register(Tokens.Storage, { useValue: slow });
      },
    });
    // One thread: the queue fills while the test feeds (a call worker would produce the audio after the disk recovered).
    const r = await make({ storage: { queueMaxBytes: 1024 * 1024 }, media: { workers: 1 } }, { storage: slowPlugin });
    const t0 = nowUs() - 30_000_000;
    for (let c = 0; c < 4; c++) setUp(r.src, `slow-${c}`, t0, undefined, c);
    const started = performance.now();
    talk(r.src, t0, 30, 4); // 4 calls of 30 s: 3.8 MB of audio, far more than the 1 MiB queue
    const feedMs = performance.now() - started;
    assert.ok(feedMs < 5000, `feeding took ${feedMs.toFixed(0)} ms: capture waited for the disk`);
    slow.slow = false;
    assert.equal((await r.service.stop(15_000)).drained, true);
    const counters = r.service.kernel.counters.snapshot();
    assert.ok((counters['core.storage.dropped.audio'] ?? 0) > 0, 'audio was dropped');
    const m = r.finished.find((x) => x.audio !== undefined);
    assert.ok(m?.audio !== undefined);
    assert.ok(m.flags.some((f) => /s of audio were dropped \(silence in the file\)/.test(f)), m.flags.join(' | '));
    const w = readWav(m.audio.file);
    assert.equal(w.samples.length / 2, Math.round(m.audio.durationSec * 8000), 'the WAV is as long as the call, silence where audio was dropped');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reload (SIGHUP) applies users and policy to new calls; a call in progress keeps its decision', async () => {
    const users = { users: [{ uri: 'sip:alice@example.com' }] };
    const r = await make(users);
    const t0 = nowUs() - 2_000_000;
    setUp(r.src, 'before', t0);
    talk(r.src, t0, 1);
    setUp(r.src, 'carol-before', t0, '<sip:carol@example.com>');
    assert.deepEqual(r.notRecorded, ['carol-before']);
    const next = prepareForTest([], { users: [{ uri: 'sip:carol@example.com' }], policy: { disallowedUserAgents: ['Bad Phone'] } }, r.dir);
    const report = await r.service.reload(next);
    assert.ok(report.changes.includes('users: 1 -> 1'));
    assert.ok(report.changes.includes('policy.disallowedUserAgents changed'));
    setUp(r.src, 'alice-after', nowUs(), '<sip:alice@example.com>');
    setUp(r.src, 'carol-after', nowUs(), '<sip:carol@example.com>');
    assert.deepEqual(r.notRecorded, ['carol-before', 'alice-after']);
    await r.service.stop(5000);
    assert.deepEqual(r.finished.map((m) => m.call.callId).sort(), ['before', 'carol-after']);
    assert.ok(r.finished.find((m) => m.call.callId === 'before')?.audio !== undefined, 'the call in progress kept its recording');
  });

  it('is ready only when every live source listens, and not once stopping', async () => {
    const src = new ScriptedLiveSource('late listener', false);
    const r = await make({}, { src });
    const before = r.service.readiness();
    assert.equal(before.ready, false);
    assert.match(before.reasons.join(), /late listener\) is not listening yet/);
    src.ready();
    assert.deepEqual(r.service.readiness(), { ready: true, reasons: [] });
    const stopping = r.service.stop(2000);
    assert.equal(r.service.readiness().ready, false);
    await stopping;
  });

  it('started during a call, records it from its next re-INVITE (flagged joined mid-call)', async () => {
    const r = await make();
    const t0 = nowUs() - 2_000_000;
    const o = { callId: 'midcall', fromTag: 'f-mid', toTag: 't-mid', cseq: 7 };
    // The recorder never saw the INVITE: the callee refreshes the session with a re-INVITE.
    r.src.sip(request('INVITE', { ...o, from: '<sip:bob@example.com>', to: '<sip:alice@example.com>', body: sdp(B_RTP.ip, B_RTP.port) }), B, A, t0);
    r.src.sip(response(200, 'OK', 'INVITE', { ...o, from: '<sip:bob@example.com>', to: '<sip:alice@example.com>', body: sdp(A_RTP.ip, A_RTP.port) }), A, B, t0 + 1000);
    talk(r.src, t0 + 10_000, 1);
    r.src.sip(request('BYE', { callId: 'midcall', fromTag: 't-mid', toTag: 'f-mid', cseq: 3, from: '<sip:alice@example.com>', to: '<sip:bob@example.com>' }), A, B, t0 + 1_100_000);
    await r.service.stop(5000);
    assert.deepEqual(r.started.map((s) => s.joinedMidCall), [true]);
    const m = r.finished[0];
    assert.ok(m !== undefined);
    assert.equal(m.call.joinedMidCall, 're-INVITE');
    assert.equal(m.call.endReason, 'bye');
    assert.ok(m.flags.some((f) => f.startsWith('joined mid-call')), m.flags.join(' | '));
    assert.ok(m.audio !== undefined && m.audio.durationSec > 0.9);
    assert.ok(m.caller.packets >= 49 && m.callee.packets >= 49, `${m.caller.packets}/${m.callee.packets} packets`);
  });

  it('memory follows the calls in progress, not the calls handled: 1,200 calls leave nothing behind', async () => {
    // No storage: what is measured is the core's state (storage's own pace is another test's business).
    const r = await make({ media: { endLingerSec: 0 } }, { storage: null });
    const k = r.service.kernel;
    const t0 = nowUs() - 100_000_000;
    for (let c = 0; c < 1200; c++) {
      const id = `many-${c}`;
      const t = t0 + c * 20_000;
      setUp(r.src, id, t, undefined, c);
      const a = new RtpStream(c + 1);
      r.src.media(a.next(0, pcmu(tone(440, 0, 160)), 160), rtpOf(c).a, rtpOf(c).b, t + 3000);
      r.src.sip(request('BYE', { callId: id, fromTag: `f-${id}`, toTag: `t-${id}`, cseq: 2 }), A, B, t + 4000);
    }
    k.clock.tick(nowUs() + 10_000_000); // linger over for every call
    await waitFor('every recording is finished', () => (r.finished.length === 1200 ? true : undefined), 10_000);
    assert.equal(k.dialogs.size, 0);
    assert.equal(k.calls.recordingsInProgress, 0);
    assert.ok(k.calls.retainedForLinks <= 1000, `${k.calls.retainedForLinks} finished recordings kept for transfer links`);
    assert.equal(k.associator.cachedFlows <= 2400, true);
  });
});
