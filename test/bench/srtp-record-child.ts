/**
 * The recorder process of the srtp bench: `tapline record --pcap FILE --out DIR --json` (the CLI's own
 * recordCommand, default plugins, no config file in its working folder), then its CPU time by process.cpuUsage()
 * (the whole process: start-up, main thread, GC and libuv threads) and peak RSS, sent to the parent over IPC.
 *
 *   fork(this file, ['--pcap', FILE, '--out', DIR]) → { kind: 'done', ... } | { kind: 'error', message }
 */
import 'reflect-metadata';
import { recordCommand } from '../../core/cli/record';

export type RecordChildMessage =
  | {
      kind: 'done';
      /** CPU of the whole process, s. */
      cpuSec: number;
      /** CPU of recordCommand alone (start-up and module loading excluded), s. */
      recordCpuSec: number;
      recordWallSec: number;
      maxRssKiB: number;
    }
  | { kind: 'error'; message: string };

async function main(argv: string[]): Promise<RecordChildMessage> {
  const arg = (name: string): string => {
    const i = argv.indexOf(name);
    const v = i < 0 ? undefined : argv[i + 1];
    if (v === undefined) throw new Error(`${name} missing`);
    return v;
  };
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await recordCommand({ pcap: [arg('--pcap')], out: arg('--out'), json: true, progress: false });
  const recordWallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const d = process.cpuUsage(c0);
  const all = process.cpuUsage();
  if (process.exitCode !== undefined && process.exitCode !== 0) throw new Error(`record set exit code ${process.exitCode}`);
  return {
    kind: 'done',
    cpuSec: (all.user + all.system) / 1e6,
    recordCpuSec: (d.user + d.system) / 1e6,
    recordWallSec,
    maxRssKiB: process.resourceUsage().maxRSS,
  };
}

if (require.main === module) {
  const send = (m: RecordChildMessage): void => {
    if (process.send === undefined) {
      console.error(JSON.stringify(m));
      process.exit(m.kind === 'done' ? 0 : 1);
    }
    process.send(m, undefined, {}, () => process.exit(0));
  };
  main(process.argv.slice(2)).then(send, (e: unknown) => send({ kind: 'error', message: (e as Error)?.stack ?? String(e) }));
}
