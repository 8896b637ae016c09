/** `tapline generate`: writes a pcap of synthetic calls (and its truth JSON) with the project's call generator. */
import * as path from 'node:path';
import { generateCalls } from '../../plugins/source-generator/generate';
import type { GeneratorOptions } from '../../plugins/source-generator/scenario';
import { ErrorCodes, TaplineError } from '../errors';

export interface GenerateCliOptions {
  out: string;
  calls: string;
  concurrency?: string;
  duration: string;
  codec: 'PCMU' | 'PCMA';
  loss: string;
  lync?: boolean;
  clearMedia?: boolean;
  mediaPath?: 'direct' | 'turn-udp' | 'msturn-udp' | 'msturn-tcp';
  seed: string;
}

function num(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new TaplineError(ErrorCodes.USAGE, `--${name} must be a number from ${min} to ${max} (got "${v}")`);
  return n;
}

export async function generateCommand(opts: GenerateCliOptions): Promise<void> {
  const out = path.resolve(opts.out);
  const g: GeneratorOptions = {
    calls: num('calls', opts.calls, 1, 1_000_000),
    durationSec: num('duration', opts.duration, 0.1, 86_400),
    codec: opts.codec,
    lossRate: num('loss', opts.loss, 0, 1),
    seed: num('seed', opts.seed, 0, 2 ** 31),
    lync: opts.lync === true,
    // Lync SDP offers SRTP keys: the media is encrypted with them, as a real client's would be.
    protectMedia: opts.lync === true && opts.clearMedia !== true,
    mediaPath: opts.mediaPath ?? 'direct',
  };
  if (opts.concurrency !== undefined) g.concurrency = num('concurrency', opts.concurrency, 1, 1_000_000);
  const truth = await generateCalls(g, out);
  const truthFile = out.replace(/\.pcap(ng)?$/i, '') + '.truth.json';
  await truth.writeTruth(truthFile);
  process.stdout.write(`wrote ${out} (${truth.totals.frames} frames, ${truth.calls.length} calls) and ${truthFile}\n`);
}
