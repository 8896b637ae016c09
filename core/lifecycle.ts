/**
 * The lifecycle event hub (contracts/lifecycle.ts) and the bridge that turns the dialog tracker's events into call
 * events: JSON-safe facts emitted and forgotten, so nothing about a finished call stays in memory.
 */
import { Emitter } from './events';
import type { CallEventInfo, LifecycleBus, LifecycleEvents } from './contracts/lifecycle';
import type { DialogTracker } from './dialog/tracker';
import type { Call } from './dialog/types';
import { summarizeCall } from './dialog/summary';

export class LifecycleHub extends Emitter<LifecycleEvents> implements LifecycleBus {}

export function callEventInfo(call: Call, at: number): CallEventInfo {
  return { key: call.key, callId: call.callId, at: new Date(at / 1000).toISOString(), call: summarizeCall(call) };
}

/** Call events from the dialog tracker; summaries are built only while someone listens. */
export function bridgeCallEvents(dialogs: DialogTracker, hub: LifecycleHub): void {
  dialogs.on('callStart', (c) => {
    if (hub.hasListeners('callStarted')) hub.emit('callStarted', callEventInfo(c, c.times.start));
  });
  dialogs.on('callUpdate', (c, what) => {
    if (what === 'answered' && hub.hasListeners('callAnswered')) hub.emit('callAnswered', callEventInfo(c, c.times.answer ?? c.times.lastActivity));
    else if (what === 'hold' && hub.hasListeners('callHeld')) {
      const h = c.holds[c.holds.length - 1];
      hub.emit('callHeld', { ...callEventInfo(c, h?.start ?? c.times.lastActivity), by: h?.by ?? 'caller' });
    } else if (what === 'resume' && hub.hasListeners('callResumed')) hub.emit('callResumed', callEventInfo(c, c.holds[c.holds.length - 1]?.end ?? c.times.lastActivity));
  });
  dialogs.on('callEnd', (c) => {
    if (hub.hasListeners('callEnded')) hub.emit('callEnded', callEventInfo(c, c.times.end ?? c.times.lastActivity));
  });
}
