import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/** The 19th field of /proc/<pid>/task/<tid>/stat is the nice value (after the parenthesised name). */
function niceOf(tid: number): number {
  const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

describe('call workers run below the main thread', () => {
  (os.platform() === 'linux' ? it : it.skip)('lowerThisThread in a worker lowers that thread only, not the process', async () => {
    const before = os.getPriority(process.pid);
    const mod = path.join(__dirname, 'thread-priority.js');
    const code = `const { parentPort } = require('node:worker_threads'); const fs = require('node:fs');
      const r = require(${JSON.stringify(mod)}).lowerThisThread(3);
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
      parentPort.postMessage({ r, tid }); setTimeout(() => {}, 500);`;
    const w = new Worker(code, { eval: true });
    const { r, tid } = await new Promise<{ r: { nice?: number; error?: string }; tid: number }>((res, rej) => {
      w.once('message', res);
      w.once('error', rej);
    });
    try {
      assert.equal(r.error, undefined);
      assert.equal(r.nice, Math.min(19, before + 3));
      assert.equal(niceOf(tid), r.nice, 'the worker thread runs at the lower priority');
      assert.equal(niceOf(process.pid), before, 'the main thread keeps its own');
    } finally {
      await w.terminate();
    }
  });
});
