/**
 * The seam between dispatch (signalling, flow → call lookup, policy: the main thread) and the calls' own work
 * (SRTP, codecs, timeline, output): a shard owns some calls and every piece of per-call state of theirs. A shard
 * is the call recorder in this thread (LocalShard) or a call worker thread behind a client (WorkerShard); the
 * dispatcher drives both the same way, each call's events and packets in order.
 */
import type { Call, Side } from '../dialog/types';
import type { TransportPacket } from '../net/types';
import type { PolicyConfig } from '../config/types';
import type { AssociatedRtp, RouteSlot } from '../media/types';
import type { CallRecorder, RecordingControl, RecordingLink, RecordingStartInfo } from '../media/call-recorder';

export interface CallShard {
  /** A recorded call starts (with the call it replaces, when signalling still knows it). */
  start(call: Call, info: RecordingStartInfo, replaced: Call | undefined): void;
  /** The call changed (a SIP message of it was processed). */
  updated(call: Call): void;
  /** Answered: `modeFlag` is the mode's verdict asked again (null: the mode has none). */
  answered(call: Call, modeFlag: string | undefined | null): void;
  /** The recording of call `callKey` (in progress, or finished a little while ago) gains a link. */
  link(callKey: string, link: RecordingLink): void;
  ended(call: Call): void;
  /** Pause, resume or stop the recording of call `callKey` on demand. */
  control(callKey: string, c: RecordingControl): void;
  /** policy.recordSipDialogs: a SIP message of the call, rendered. */
  sipMessage(call: Call, text: string): void;
  /** A packet of one of its calls; `route` stays with the packet's stream (the shard may keep its own routing there). */
  rtp(a: AssociatedRtp, route: RouteSlot): void;
  rtcp(x: { call: Call; sender: Side; pkt: TransportPacket }): void;
  /** The clock moved on (capture time or wall clock). */
  tick(now: number): void;
  storageFailed(id: string, op: string, message: string): void;
  /** Finishes every recording; resolves once all of their output has reached the desk (or `timeoutMs` passed). */
  close(timeoutMs?: number): Promise<void>;
  /** New policy settings after a reload (a worker's codec flags follow them; the main thread's read the policy). */
  reconfigure?(policy: PolicyConfig): void;
  /** Flow control for sources that can wait (a call worker far behind). */
  writable?(): Promise<void> | undefined;
  /** The shard's thread died: it takes no new calls. */
  readonly failed?: boolean;
  /** Per-thread facts for the status and the metrics (undefined in the main thread). */
  readonly thread?: { index: number; behind: number };
}

/** The shard in the main thread (media.workers = 1): the recorder sees the dialog tracker's own Call objects. */
export class LocalShard implements CallShard {
  constructor(readonly recorder: CallRecorder) {}

  start(call: Call, info: RecordingStartInfo): void {
    this.recorder.start(call, info);
  }
  updated(): void {}
  answered(call: Call, modeFlag: string | undefined | null): void {
    this.recorder.answered(call, modeFlag);
  }
  link(callKey: string, link: RecordingLink): void {
    this.recorder.addLink(callKey, link);
  }
  ended(call: Call): void {
    this.recorder.ended(call);
  }
  control(callKey: string, c: RecordingControl): void {
    this.recorder.control(callKey, c);
  }
  sipMessage(call: Call, text: string): void {
    this.recorder.sipMessage(call, text);
  }
  rtp(a: AssociatedRtp, route: RouteSlot): void {
    this.recorder.onRtp(a, route);
  }
  rtcp(x: { call: Call; sender: Side; pkt: TransportPacket }): void {
    this.recorder.onRtcp(x);
  }
  tick(now: number): void {
    this.recorder.tick(now);
  }
  storageFailed(id: string, op: string, message: string): void {
    this.recorder.storageFailed(id, op, message);
  }
  close(): Promise<void> {
    this.recorder.close();
    return Promise.resolve();
  }
}
