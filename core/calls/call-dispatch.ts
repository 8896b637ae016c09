/**
 * Dispatch by call: the main thread's last stage. The dialog tracker and the associator say which call a SIP
 * message or a media packet belongs to; here the policy decides whether a starting call is recorded (the decision
 * travels with the call), the recording gets its id and catalogue entry, and the call is given to one shard, which
 * then receives its events and packets in order (the least busy shard takes the next call). Links between
 * recordings (a Replaces INVITE, the call a REFER asked for) span calls, and so shards: they are found here and
 * handed to both recordings' shards.
 *
 * Per call it keeps the recording until it is finished (or, for calls not recorded, until the call ends); the last
 * MAX_RECENT finished recordings and the last MAX_REFERRALS REFERs, for the links: bounded.
 */
import { randomUUID } from 'node:crypto';
import type { CallControlAction, CallControlResult, Counters, Logger, RecordingStart } from '../contract';
import { ErrorCodes, TaplineError } from '../errors';
import { noteDeployment, type DialogTracker } from '../dialog/tracker';
import type { Call } from '../dialog/types';
import type { MediaAssociator } from '../media/associator';
import { callEventInfo, type LifecycleHub } from '../lifecycle';
import type { BackupDecision, RecordedUser, RecordingPolicy } from '../policy/recording-policy';
import { callEndpoints } from './call-endpoints';
import { userKey } from '../policy/users';
import { renderSipMessage } from '../sip/render';
import type { RecordingDesk } from '../storage/recording-desk';
import type { CallShard } from './call-shard';
import type { RecordingLink } from '../media/call-recorder';
import type { RouteSlot } from '../media/types';

/** A recording as links name it, and where its recorder runs. */
interface RecRef {
  key: string;
  id: string;
  callId: string;
  shard: CallShard;
  /** False once the recording is finished. */
  live: boolean;
  paused?: boolean;
}

/** What the dispatcher keeps in a stream's route slot: its call's recording, and a slot of the shard's own. */
interface StreamRoute {
  call: Call;
  rec: RecRef;
  shard: RouteSlot;
}

const US = 1_000_000;
/** Finished calls whose shard is remembered (a Replaces INVITE may come after the replaced call ended). */
const MAX_RECENT = 1000;
/** A REFER explains a new call for this long (as the recorder's link rule). */
const REFER_WINDOW_US = 60 * US;
const MAX_REFERRALS = 1000;

export interface CallDispatchOptions {
  /** policy.recordSipDialogs: every SIP message of a recorded call goes to its shard, rendered. */
  recordSipDialogs: boolean;
  /** The forwarder deployment of the packet being dispatched (the ingest's current arrival), if any. */
  deploymentNow?: () => number | undefined;
}

export class CallDispatch {
  /** Recordings of calls in progress (and lingering), by call key and by recording id. */
  private readonly recOf = new Map<string, RecRef>();
  private readonly recById = new Map<string, RecRef>();
  /** Calls not recorded, by key, until they end: their RTP is counted, not reported as unmatched. */
  private readonly skipped = new Set<string>();
  /** Calls of another recorder's users this one stands in for (HA), until they end or are taken over. */
  private readonly backups = new Map<string, BackupDecision>();
  /** Recently finished recordings by call key (a Replaces INVITE may come after the replaced call ended). */
  private readonly recent = new Map<string, RecRef>();
  /** Recent REFERs: the transferee's next call to the target is linked to the recording that carried the REFER. */
  private readonly referrals: Array<{ target: string; ts: number; rec: RecRef }> = [];
  /** Recordings started per shard and not finished (the least busy shard takes the next call). */
  private readonly load: Map<CallShard, number>;
  private next = 0;
  private dialogs: DialogTracker | undefined;

  constructor(
    private readonly shards: readonly CallShard[],
    private readonly desk: RecordingDesk,
    private readonly policy: RecordingPolicy,
    private readonly counters: Counters,
    private readonly log: Logger,
    private readonly opts: CallDispatchOptions,
    private readonly events?: LifecycleHub,
  ) {
    if (shards.length === 0) throw new Error('CallDispatch needs at least one shard');
    this.load = new Map(shards.map((s) => [s, 0]));
  }

  /** Listens to the tracker and the associator (once, from the kernel). */
  attach(dialogs: DialogTracker, associator: MediaAssociator): void {
    this.dialogs = dialogs;
    dialogs.on('callStart', (c) => this.onCallStart(c, dialogs));
    dialogs.on('callUpdate', (c, what) => this.onCallUpdate(c, what));
    dialogs.on('callMessage', (c, msg) => {
      const shard = this.recOf.get(c.key)?.shard;
      if (shard === undefined) return;
      shard.updated(c);
      if (this.opts.recordSipDialogs) shard.sipMessage(c, renderSipMessage(msg));
    });
    dialogs.on('callEnd', (c) => {
      this.backups.delete(c.key);
      if (this.skipped.delete(c.key)) return;
      this.recOf.get(c.key)?.shard.ended(c);
    });
    associator.on('rtp', (a) => {
      // The stream's route, kept in its binding: no lookup by call key per packet while it holds.
      const r = a.route.value as StreamRoute | undefined;
      if (r !== undefined && r.call === a.call && r.rec.live) return r.rec.shard.rtp(a, r.shard);
      // A stream binds once: which forwarder deployment (tenant) sent it is noted then, not per packet.
      const d = this.opts.deploymentNow?.();
      const rec = this.recOf.get(a.call.key) ?? (d !== undefined ? this.takeOver(a.call, d, a.pkt.ts) : undefined);
      if (rec === undefined) {
        this.counters.inc(this.skipped.has(a.call.key) ? 'media.notRecorded' : 'media.afterRecording');
        return;
      }
      if (d !== undefined) noteDeployment(a.call, d);
      const route: StreamRoute = { call: a.call, rec, shard: { value: undefined } };
      a.route.value = route;
      rec.shard.rtp(a, route.shard);
    });
    associator.on('rtcp', (x) => this.recOf.get(x.call.key)?.shard.rtcp(x));
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** Per call worker thread: bytes it is behind and recordings it holds (empty when calls run in the main thread). */
  threadStats(): Array<{ worker: string; behind: number; recordings: number }> {
    const out: Array<{ worker: string; behind: number; recordings: number }> = [];
    for (const s of this.shards) {
      if (s.thread !== undefined) out.push({ worker: String(s.thread.index), behind: s.thread.behind, recordings: this.load.get(s) ?? 0 });
    }
    return out;
  }

  /** The shards, in order (the main thread's, or one per call worker). */
  get shardList(): readonly CallShard[] {
    return this.shards;
  }

  /** Recordings started and not yet finished. */
  get recordingsInProgress(): number {
    return this.desk.inProgress;
  }

  /** What is kept for calls no longer in progress (bounded): remembered shards and REFERs. */
  get retainedForLinks(): number {
    return this.recent.size + this.referrals.length;
  }

  /** The desk closed a recording: it is remembered a while for links, then forgotten. */
  finished(id: string): void {
    const rec = this.recById.get(id);
    if (rec === undefined) return;
    rec.live = false;
    this.recById.delete(id);
    // A recording stopped on demand and started again: the call's current one stays.
    if (this.recOf.get(rec.key) === rec) this.recOf.delete(rec.key);
    this.load.set(rec.shard, Math.max(0, (this.load.get(rec.shard) ?? 1) - 1));
    this.recent.set(rec.key, rec);
    if (this.recent.size > MAX_RECENT) this.recent.delete(this.recent.keys().next().value as string);
  }

  /** A storage operation of a recording failed: its recorder flags it. */
  storageFailed(id: string, op: string, err: Error): void {
    this.recById.get(id)?.shard.storageFailed(id, op, err.message);
  }

  tick(now: number): void {
    for (const s of this.shards) s.tick(now);
  }

  /** For sources that can wait: a promise while a call worker is far behind. */
  writable(): Promise<void> | undefined {
    for (const s of this.shards) {
      const w = s.writable?.();
      if (w !== undefined) return w;
    }
    return undefined;
  }

  /** End of input or shutdown: every shard finishes its recordings (their output reaches the desk). */
  async close(timeoutMs = Infinity): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close(timeoutMs)));
  }

  private onCallStart(call: Call, dialogs: DialogTracker): void {
    const decision = this.policy.decide(call);
    if (!decision.record) {
      this.skipped.add(call.key);
      this.counters.inc('recordings.notRecorded');
      this.log.debug(`call ${call.callId} not recorded: ${decision.reason}`);
      this.events?.emit('callNotRecorded', { ...callEventInfo(call, call.times.start), reason: decision.reason });
      if (decision.backup !== undefined) {
        this.backups.set(call.key, decision.backup);
        this.announceMedia(call);
      }
      return;
    }
    this.startRecording(call, decision.users, decision.flags, dialogs);
    this.announceMedia(call);
  }

  /**
   * Forwarded media arrived for a call this recorder only stands in for: a forwarder failed over to it because the
   * users' own recorder is unreachable. It records the call from here on (the forwarder replays its last seconds
   * first, so the two recorders' parts overlap rather than leave a gap); the parts share the Call-ID.
   */
  private takeOver(call: Call, deployment: number, ts: number): RecRef | undefined {
    const b = this.backups.get(call.key);
    if (b === undefined || call.times.end !== undefined || this.dialogs === undefined) return undefined;
    this.backups.delete(call.key);
    this.skipped.delete(call.key);
    const at = new Date(ts / 1000).toISOString();
    const flag = `failover: recorded by recorder ${this.policy.cfg.recorderId} from ${at}, forwarded by deployment ${deployment} when the users' own recorder was unreachable; the call before it is on that recorder`;
    const rec = this.startRecording(call, b.users, [...b.flags, flag], this.dialogs);
    this.counters.inc('recordings.takenOver');
    this.log.warn(`call ${call.callId}: taken over from another recorder (forwarded media arrived here)`, { recording: rec.id, deployment });
    this.announceMedia(call);
    return rec;
  }

  /** Tells forwarders (through the lifecycle event) where a recorded or stood-in-for call's media flows. */
  private announceMedia(call: Call): void {
    if (this.events === undefined || !this.events.hasListeners('callMedia')) return;
    const recording = this.recOf.has(call.key);
    const backup = recording ? undefined : this.backups.get(call.key);
    if (!recording && backup === undefined) return;
    const endpoints = callEndpoints(call);
    if (endpoints.length === 0) return;
    this.events.emit('callMedia', {
      key: call.key,
      callId: call.callId,
      at: new Date(call.times.start / 1000).toISOString(),
      endpoints,
      role: recording ? 'recording' : 'backup',
      rank: backup?.rank ?? 0,
    });
  }

  private startRecording(call: Call, users: RecordedUser[], flags: string[], dialogs: DialogTracker): RecRef {
    const id = randomUUID();
    const start: RecordingStart = { id, callId: call.callId, start: call.times.start, from: call.caller.uri, to: call.callee.uri };
    const location = this.desk.locate(start);
    const shard = this.pick();
    const rec: RecRef = { key: call.key, id, callId: call.callId, shard, live: true };
    this.recOf.set(call.key, rec);
    this.recById.set(id, rec);
    this.load.set(shard, (this.load.get(shard) ?? 0) + 1);
    this.desk.open(start, call);
    const rk = call.replaces?.key;
    const links = this.link(call, rec);
    shard.start(call, { start, location, users, flags, links }, rk !== undefined ? dialogs.get(rk) : undefined);
    this.events?.emit('recordingStarted', {
      id,
      callKey: call.key,
      callId: call.callId,
      at: new Date(call.times.start / 1000).toISOString(),
      audio: location?.audio ?? '',
      users: users.map((u) => ({ uri: u.uri, side: u.side })),
      joinedMidCall: call.joinedMidCall !== undefined,
    });
    return rec;
  }

  /**
   * On-demand control of a call in progress (`now`: the service clock, µs). Start records a call policy left alone
   * (or one stopped) from now on; stop finishes its recording now and leaves the rest of the call unrecorded.
   */
  control(callKey: string, action: CallControlAction, by: string, now: number): CallControlResult {
    const refuse = (why: string): never => {
      throw new TaplineError(ErrorCodes.USAGE, why, { callKey, action });
    };
    const call = this.dialogs?.get(callKey);
    if (call === undefined || call.times.end !== undefined) return refuse(`no call in progress with key ${callKey}`);
    const at = new Date(now / 1000).toISOString();
    let rec = this.recOf.get(callKey);
    if (action === 'start') {
      if (rec !== undefined) return refuse(`call ${call.callId} is already being recorded (${rec.id})`);
      const decision = this.policy.decide(call);
      const users = decision.record ? decision.users : [];
      this.skipped.delete(callKey);
      rec = this.startRecording(call, users, [...(decision.record ? decision.flags : []), `recording started on demand by ${by} at ${at}: the call before it is not recorded`], this.dialogs as DialogTracker);
      this.counters.inc('recordings.startedOnDemand');
    } else {
      if (rec === undefined) return refuse(`call ${call.callId} is not being recorded`);
      if (action === 'pause' && rec.paused === true) return refuse(`the recording of call ${call.callId} is already paused`);
      if (action === 'resume' && rec.paused !== true) return refuse(`the recording of call ${call.callId} is not paused`);
      rec.shard.control(callKey, { action, at: now, by });
      if (action === 'stop') {
        // Its later packets are counted as not recorded; the shard has finished the recording.
        rec.live = false;
        this.recOf.delete(callKey);
        this.skipped.add(callKey);
      } else rec.paused = action === 'pause';
    }
    this.log.info(`recording ${rec.id} of call ${call.callId}: ${action} on demand by ${by}`, { recording: rec.id, action, by });
    this.events?.emit('recordingControlled', { id: rec.id, callKey, callId: call.callId, action, by, at });
    return { recordingId: rec.id, state: action === 'stop' ? 'stopped' : rec.paused === true ? 'paused' : 'recording' };
  }

  private onCallUpdate(call: Call, what: string): void {
    if (what.startsWith('sdp-')) this.announceMedia(call);
    const shard = this.recOf.get(call.key)?.shard;
    if (shard === undefined) return;
    if (what === 'refer') this.noteReferral(call);
    if (what === 'answered') shard.answered(call, this.policy.mode?.recordable !== undefined ? this.policy.modeFlag(call) : null);
    else shard.updated(call);
  }

  private noteReferral(call: Call): void {
    const r = call.refers[call.refers.length - 1];
    const target = r !== undefined ? userKey(r.referTo) : undefined;
    const rec = this.recOf.get(call.key);
    if (rec === undefined || r === undefined || target === undefined) return;
    this.referrals.push({ target, ts: r.ts, rec });
    if (this.referrals.length > MAX_REFERRALS) this.referrals.shift();
  }

  /**
   * Links a new call's recording to the recording(s) it continues, on both sides: the call its Replaces header
   * names (attended transfer), and the call whose recent REFER sent the transferee to this callee (blind, and the
   * transferor's leg of an attended transfer). A REFER is used up by the first call it explains, so it cannot be
   * pinned on a later call.
   */
  private link(call: Call, rec: RecRef): RecordingLink[] {
    const links: RecordingLink[] = [];
    const rk = call.replaces?.key;
    const replaced = rk !== undefined ? (this.recOf.get(rk) ?? this.recent.get(rk)) : undefined;
    if (replaced !== undefined) {
      links.push({ recordingId: replaced.id, callId: replaced.callId, relation: 'replaces' });
      replaced.shard.link(replaced.key, { recordingId: rec.id, callId: rec.callId, relation: 'replaced-by' });
    }
    const callee = userKey(call.callee.uri);
    for (let i = this.referrals.length - 1; i >= 0; i--) {
      const r = this.referrals[i]!;
      if (call.times.start - r.ts > REFER_WINDOW_US) break;
      if (r.target !== callee || r.rec === rec) continue;
      this.referrals.splice(i, 1);
      if (r.rec === replaced) break; // the REFER came in the replaced call itself: 'replaces' says it all
      links.push({ recordingId: r.rec.id, callId: r.rec.callId, relation: 'transferred-from' });
      r.rec.shard.link(r.rec.key, { recordingId: rec.id, callId: rec.callId, relation: 'transferred-to' });
      break;
    }
    return links;
  }

  /** The least busy shard that is alive (ties in turn). */
  private pick(): CallShard {
    if (this.shards.length === 1) return this.shards[0]!;
    let best = this.shards[this.next % this.shards.length]!;
    let bestLoad = best.failed === true ? Infinity : (this.load.get(best) ?? 0);
    for (let k = 1; k < this.shards.length; k++) {
      const s = this.shards[(this.next + k) % this.shards.length]!;
      const l = s.failed === true ? Infinity : (this.load.get(s) ?? 0);
      if (l < bestLoad) {
        best = s;
        bestLoad = l;
      }
    }
    this.next++;
    return best;
  }
}
