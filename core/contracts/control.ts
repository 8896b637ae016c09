/**
 * On-demand control of calls in progress (the review app's buttons): start recording a call policy left alone,
 * stop a recording, pause and resume one (a card number read out must not be kept; paused time is silence and
 * marked). Offered by a running recorder under Tokens.CallControl; a process that only reads has none.
 */
export type CallControlAction = 'start' | 'stop' | 'pause' | 'resume';

export interface CallControlResult {
  recordingId: string;
  /** The recording's state afterwards. */
  state: 'recording' | 'paused' | 'stopped';
}

export interface CallControl {
  /** Throws a TaplineError (USAGE) saying why it cannot: no such call in progress, not recorded, already paused. */
  control(callKey: string, action: CallControlAction, by: string): CallControlResult;
}
