/**
 * `tapline sdp suppress`: the codec-suppression rewrite (core/sdp/suppress.ts) on a SIP message or a bare SDP, for
 * scripts in the signalling path and for trying a rule out. The result goes to stdout, byte for byte apart from
 * the rewrite; what was removed goes to stderr.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ErrorCodes, TaplineError } from '../errors';
import { suppressCodecs, suppressCodecsInSip, type SuppressOptions, type SuppressResult } from '../sdp/suppress';

export interface SdpSuppressOptions {
  codec: string[];
  pt: number[];
  allowed: string[];
  quiet?: boolean;
}

/** What is removed when neither --codec nor --pt is given: RTAudio, which no open decoder handles. */
export const DEFAULT_SUPPRESSED = ['x-msrta'];

function collectCodec(v: string, prev: string[]): string[] {
  if (!/^[^\s/]+(\/\d+(\/\d+)?)?$/.test(v)) throw new InvalidArgumentError('expected an encoding name, or name/clock rate[/channels] (x-msrta, x-msrta/8000)');
  return [...prev, v];
}

function collectPt(v: string, prev: number[]): number[] {
  if (!/^\d{1,3}$/.test(v) || Number(v) > 127) throw new InvalidArgumentError('expected a payload type 0-127');
  return [...prev, Number(v)];
}

export function addSdpCommands(program: Command): void {
  const sdp = program.command('sdp').description('SDP tools for components in the signalling path.');
  sdp
    .command('suppress')
    .description(
      'Remove codecs from the audio m= lines of a SIP message (application/sdp or multipart, Content-Length fixed) or a bare SDP, ' +
        'so the call falls back to a codec Tapline decodes. Without --codec or --pt, removes x-msrta (RTAudio). Writes the result to stdout.',
    )
    .argument('[file]', 'the SIP message or SDP; "-" or nothing reads stdin')
    .option('--codec <name>', 'rtpmap encoding to remove, case-insensitive (x-msrta, or x-msrta/8000); repeatable', collectCodec, [])
    .option('--pt <n>', 'payload type to remove, whatever its rtpmap (Lync "uncommon suppressed codecs"); repeatable', collectPt, [])
    .option('--allowed <name>', 'a codec allowed in the environment (policy.allowedCodecs): every other audio codec is removed; repeatable', collectCodec, [])
    .option('--quiet', 'do not report what was removed on stderr')
    .action(sdpSuppressCommand);
}

function readInput(file: string | undefined): Buffer {
  const from = file === undefined || file === '-' ? 0 : file;
  try {
    return fs.readFileSync(from);
  } catch (e) {
    throw new TaplineError(ErrorCodes.USAGE, `cannot read ${from === 0 ? 'stdin' : from}: ${(e as Error).message}`, { file });
  }
}

/** A bare SDP starts with v= (after an optional BOM and blank lines); anything else is taken as a SIP message. */
function isBareSdp(input: Buffer): boolean {
  let i = input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf ? 3 : 0;
  while (input[i] === 13 || input[i] === 10 || input[i] === 32 || input[i] === 9) i++;
  return input[i] === 0x76 /* v */ && input[i + 1] === 0x3d /* = */;
}

function report(results: SuppressResult[]): string[] {
  const lines: string[] = [];
  const part = (i: number): string => (results.length > 1 ? `SDP ${i + 1}: ` : '');
  results.forEach((r, i) => {
    for (const f of r.removed) lines.push(`${part(i)}media ${f.media}: removed payload type ${f.payloadType}${f.encoding === undefined ? '' : ` (${f.encoding})`}`);
    for (const u of r.unchanged) {
      lines.push(`${part(i)}media ${u.media}: left unchanged: removing payload type(s) ${u.payloadTypes.join(', ')} would leave it no audio codec`);
    }
  });
  if (results.length === 0) lines.push('no SDP body: message unchanged');
  else if (lines.length === 0) lines.push('nothing matched: unchanged');
  return lines;
}

export function sdpSuppressCommand(file: string | undefined, o: SdpSuppressOptions): void {
  const allowed = o.allowed ?? [];
  const opts: SuppressOptions =
    o.codec.length === 0 && o.pt.length === 0 && allowed.length === 0 ? { encodings: DEFAULT_SUPPRESSED } : { encodings: o.codec, payloadTypes: o.pt, allowed };
  const input = readInput(file);
  let out: Buffer;
  let results: SuppressResult[];
  if (isBareSdp(input)) {
    // latin1 both ways: every byte comes out as it went in.
    const r = suppressCodecs(input.toString('latin1'), opts);
    out = r.changed ? Buffer.from(r.sdp, 'latin1') : input;
    results = [r];
  } else {
    const r = suppressCodecsInSip(input, opts);
    out = r.message;
    results = r.sdps;
  }
  process.stdout.write(out);
  if (o.quiet !== true) for (const line of report(results)) process.stderr.write(`tapline sdp suppress: ${line}\n`);
}
