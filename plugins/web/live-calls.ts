/**
 * Calls in progress as the live view shows them, kept from the lifecycle events (bounded: the oldest are dropped
 * past `max`), with listeners for the server-sent event stream.
 */
import type { LifecycleBus } from '../../core/contract';
import { userKey } from '../../core/policy/users';

export interface LiveCall {
  key: string;
  callId: string;
  from: string;
  to: string;
  state: 'ringing' | 'answered' | 'held' | 'recording' | 'paused' | 'not-recorded';
  startedAt: string;
  recordingId?: string;
  /** User keys of caller and callee (for scoping). */
  parties: string[];
}

export type LiveChange = { kind: 'call'; call: LiveCall } | { kind: 'ended'; key: string; parties: string[] };

export class LiveCalls {
  private readonly calls = new Map<string, LiveCall>();
  private readonly listeners = new Set<(c: LiveChange) => void>();
  private readonly off: Array<() => void> = [];
  /** Calls whose recording is paused on demand; calls not recorded (by policy, or stopped on demand). */
  private readonly paused = new Set<string>();
  private readonly stopped = new Set<string>();

  constructor(events: LifecycleBus, private readonly max: number) {
    this.off.push(
      events.on('callStarted', (e) => this.upsert(e.key, { callId: e.callId, from: e.call.from.uri, to: e.call.to.uri, startedAt: e.at, state: 'ringing' })),
      events.on('callAnswered', (e) => this.patch(e.key, (c) => (c.state = this.recordedState(c)))),
      events.on('callHeld', (e) => this.patch(e.key, (c) => (c.state = 'held'))),
      events.on('callResumed', (e) => this.patch(e.key, (c) => (c.state = this.recordedState(c)))),
      events.on('callNotRecorded', (e) =>
        this.patch(e.key, (c) => {
          this.stopped.add(c.key);
          c.state = 'not-recorded';
        }),
      ),
      events.on('recordingStarted', (e) =>
        this.patch(e.callKey, (c) => {
          c.recordingId = e.id;
          c.state = 'recording';
        }),
      ),
      events.on('recordingControlled', (e) =>
        this.patch(e.callKey, (c) => {
          c.recordingId = e.id;
          if (e.action === 'pause') this.paused.add(c.key);
          else this.paused.delete(c.key);
          if (e.action === 'stop') this.stopped.add(c.key);
          else if (e.action === 'start') this.stopped.delete(c.key);
          c.state = this.recordedState(c);
        }),
      ),
      events.on('callEnded', (e) => this.end(e.key)),
    );
  }

  private recordedState(c: LiveCall): LiveCall['state'] {
    if (this.stopped.has(c.key)) return 'not-recorded';
    if (this.paused.has(c.key)) return 'paused';
    return c.recordingId !== undefined ? 'recording' : 'answered';
  }

  list(): LiveCall[] {
    return [...this.calls.values()];
  }

  subscribe(fn: (c: LiveChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private emit(c: LiveChange): void {
    for (const fn of this.listeners) fn(c);
  }

  private upsert(key: string, c: Omit<LiveCall, 'key' | 'parties'>): void {
    const call: LiveCall = { key, ...c, parties: [userKey(c.from), userKey(c.to)].filter((k): k is string => k !== undefined) };
    this.calls.delete(key);
    this.calls.set(key, call);
    while (this.calls.size > this.max) {
      const oldest = this.calls.keys().next().value as string;
      this.calls.delete(oldest);
      this.paused.delete(oldest);
      this.stopped.delete(oldest);
    }
    this.emit({ kind: 'call', call });
  }

  private patch(key: string, fn: (c: LiveCall) => void): void {
    const c = this.calls.get(key);
    if (c === undefined) return;
    fn(c);
    this.emit({ kind: 'call', call: c });
  }

  private end(key: string): void {
    const c = this.calls.get(key);
    if (c === undefined) return;
    this.calls.delete(key);
    this.paused.delete(key);
    this.stopped.delete(key);
    this.emit({ kind: 'ended', key, parties: c.parties });
  }

  close(): void {
    for (const f of this.off) f();
    this.listeners.clear();
  }
}
