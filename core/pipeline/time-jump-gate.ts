/**
 * Capture files only: one frame whose capture time is far ahead of everything before it (a corrupt record, a
 * clock step on the capturing host) must not move the capture clock by a day: every call in progress would time
 * out, and their recordings would be padded to it. Such a frame waits for the next one. If the next frame is near it
 * too, time really moved on (a pause in the capture, files recorded apart) and both go on as they are; if not, it was
 * an isolated outlier: it goes on stamped with the capture time so far, and is counted.
 * A frame is held at most until the next frame (or the end of the capture), so nothing is reordered or lost.
 */
import type { RawFrame } from '../net/types';

/** A forward step in capture time this large needs a second frame to confirm it. */
export const CAPTURE_JUMP_US = 600 * 1_000_000;

export class TimeJumpGate {
  private latest = 0;
  private held: RawFrame | undefined;

  constructor(
    private readonly onOutlier: (frame: RawFrame, latest: number) => void,
    private readonly jumpUs = CAPTURE_JUMP_US,
  ) {}

  /** Delivers frames in order, each once; a frame far ahead waits for the next one to confirm or refute it. */
  push(f: RawFrame, deliver: (f: RawFrame) => void): void {
    const held = this.held;
    if (held !== undefined) {
      this.held = undefined;
      if (f.ts > this.latest + this.jumpUs && Math.abs(f.ts - held.ts) <= this.jumpUs) {
        this.latest = held.ts;
      } else {
        this.onOutlier(held, this.latest);
        held.ts = this.latest;
      }
      deliver(held);
    }
    if (this.latest !== 0 && f.ts > this.latest + this.jumpUs) {
      this.held = f;
      return;
    }
    if (f.ts > this.latest) this.latest = f.ts;
    deliver(f);
  }

  /** End of a capture: a frame still waiting goes on as it is (nothing came to refute it). */
  flush(deliver: (f: RawFrame) => void): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.latest = held.ts;
    deliver(held);
  }
}
