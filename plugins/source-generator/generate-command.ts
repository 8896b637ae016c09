/** `tapline generate`: writes a pcap of synthetic calls (and its truth JSON) with the project's call generator. */
import * as path from 'node:path';
import type { CommandSpec } from '../../core/contract';
import type { GeneratorOptions } from './scenario';
import { ErrorCodes, TaplineError } from '../../core/errors';

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
  // Loaded on use: the generator is not needed to list commands.
  const { generateCalls } = require('./generate') as typeof import('./generate');
  const truth = await generateCalls(g, out);
  const truthFile = out.replace(/\.pcap(ng)?$/i, '') + '.truth.json';
  await truth.writeTruth(truthFile);
  process.stdout.write(`wrote ${out} (${truth.totals.frames} frames, ${truth.calls.length} calls) and ${truthFile}\n`);
}

/** Contributed to the CLI by source-generator's manifest. */
export const generateCommandSpec: CommandSpec = {
  name: 'generate',
  description: 'Write a pcap of synthetic SIP calls with RTP (for demos, tests and benchmarks), plus a truth JSON beside it.',
  options: [
    { flags: '-o, --out <file>', description: 'pcap file to write', required: true },
    { flags: '--calls <n>', description: 'number of calls', default: '4' },
    { flags: '--concurrency <n>', description: 'calls in progress at once' },
    { flags: '--duration <sec>', description: 'seconds of audio per call', default: '10' },
    { flags: '--codec <name>', description: 'audio codec', choices: ['PCMU', 'PCMA'], default: 'PCMU' },
    { flags: '--loss <rate>', description: 'packet loss rate 0..1', default: '0' },
    { flags: '--lync', description: 'Lync-style SIP and SDP (multipart bodies, candidates, crypto lines), media SRTP-encrypted with those keys' },
    { flags: '--clear-media', description: 'with --lync: leave the RTP unencrypted (the SDP still offers keys: recordings are then flagged "not decrypted")' },
    {
      flags: '--media-path <path>',
      description: 'how the media reaches the capture point (TURN paths: as the Edge sees them)',
      choices: ['direct', 'turn-udp', 'msturn-udp', 'msturn-tcp'],
      default: 'direct',
    },
    { flags: '--seed <n>', description: 'random seed', default: '1' },
  ],
  run: (_args, o) => generateCommand(o as unknown as GenerateCliOptions),
};
