/**
 * Call workers run at a lower scheduling priority than the main thread. On a busy machine every thread becomes
 * runnable at once in bursts; the main thread must drain the sockets (a datagram not read in time is dropped by
 * the kernel, for good) while a worker's backlog only waits in its queue, bounded and counted. Linux applies
 * setpriority() to a single thread when given its id, and /proc/thread-self names the calling thread.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** Nice added to a call worker's thread: weight ~1/3 of the main thread's when both want the CPU. */
export const WORKER_NICE = 5;

/** Lowers the calling thread's priority by `by` (Linux); returns its nice value, or why it could not. */
export function lowerThisThread(by: number): { nice: number } | { error: string } {
  try {
    const tid = Number(pathTail(fs.readlinkSync('/proc/thread-self')));
    if (!Number.isInteger(tid) || tid <= 0) return { error: 'no thread id' };
    const nice = Math.min(19, os.getPriority(tid) + by);
    os.setPriority(tid, nice);
    return { nice: os.getPriority(tid) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function pathTail(link: string): string {
  return link.slice(link.lastIndexOf('/') + 1);
}
