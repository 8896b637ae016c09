/**
 * Gathering buffers used again once storage has written them. Each recording hands storage a second of audio at a
 * time (32 KiB at 8 kHz stereo); made afresh, 2,000 calls turn over 64 MB a second that only a full garbage
 * collection gives back, so the process's memory grew with the backlog of dead buffers, not with the calls. A
 * buffer comes back when the storage queue has finished with it (written, failed or dropped); in a call worker the
 * buffer moves to the main thread instead and does not come back (the worker makes a new one).
 */
export class AudioChunkPool {
  /** Free buffers by length in samples. */
  private readonly free = new Map<number, Int16Array[]>();
  private freeBytes = 0;

  /** `maxFreeBytes`: free buffers kept at most; beyond it a returned buffer is left to the garbage collector. */
  constructor(private readonly maxFreeBytes = 16 * 1024 * 1024) {}

  /** A buffer of `samples` samples (old contents: the caller overwrites what it uses). */
  take(samples: number): Int16Array {
    const a = this.free.get(samples)?.pop();
    if (a === undefined) return new Int16Array(samples);
    this.freeBytes -= a.byteLength;
    return a;
  }

  /** A buffer from take() that nobody reads any more. */
  give(a: Int16Array): void {
    if (this.freeBytes + a.byteLength > this.maxFreeBytes) return;
    let list = this.free.get(a.length);
    if (list === undefined) this.free.set(a.length, (list = []));
    list.push(a);
    this.freeBytes += a.byteLength;
  }

  /** Bytes held in free buffers. */
  get bytes(): number {
    return this.freeBytes;
  }
}
