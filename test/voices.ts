/** Speech for real calls: what each UA plays, distinct enough that a swapped channel shows. */
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

const RATE = 8000;

/** TAPLINE_NO_ESPEAK=1 exercises the fallback signals even where espeak-ng is installed. */
const haveEspeak = process.env.TAPLINE_NO_ESPEAK === undefined && spawnSync('sh', ['-c', 'command -v espeak-ng'], { stdio: 'ignore' }).status === 0;

/**
 * Two different sentences in two different voices, each ~8 s so speech fills the call; converted to 8 kHz mono
 * 16-bit with sox (baresipCall converts again, a no-op then). Without espeak-ng: two distinct synthetic signals.
 *
 * Peaks are normalised to -6 dBFS: espeak-ng's loudest samples reach full scale, sox's resampling then clips to
 * -32768, and baresip 1.0.0's G.711 encoder turns -32768 into ~0 (the sign flip overflows in int16) — one such
 * sample costs a whole 0.5 s window ~0.008 of correlation. Real phones never send full-scale audio anyway, and
 * G.711 saturates above ±32124 (μ-law) / ±32256 (A-law) regardless.
 */
export function makeVoices(dir: string): { caller: string; callee: string; kind: string } {
  const out = { caller: path.join(dir, 'caller-voice.wav'), callee: path.join(dir, 'callee-voice.wav') };
  const raw = { caller: path.join(dir, 'caller-espeak.wav'), callee: path.join(dir, 'callee-espeak.wav') };
  if (haveEspeak) {
    execFileSync('espeak-ng', ['-w', raw.caller, '-v', 'en-us', '-s', '150', '-p', '35', 'This is the caller speaking from the first baresip. The recorder should keep my words on the left channel, clearly and without any gaps.']);
    execFileSync('espeak-ng', ['-w', raw.callee, '-v', 'en-gb+f3', '-s', '160', '-p', '70', 'Good afternoon, you have reached the callee. Seven, eight, nine, ten. My voice belongs on the right channel of the recording.']);
    for (const k of ['caller', 'callee'] as const) execFileSync('sox', [raw[k], '-r', String(RATE), '-c', '1', '-b', '16', '-e', 'signed-integer', out[k], 'gain', '-n', '-6']);
    return { ...out, kind: 'espeak-ng speech' };
  }
  console.warn('  [tapline] espeak-ng not available: using sox-synthesised signals instead of speech (bootstrap.sh installs espeak-ng)');
  // Chirps chopped into "syllables" by tremolo, plus a little noise so neither is periodic enough to alias.
  execFileSync('sox', ['-n', '-r', String(RATE), '-c', '1', '-b', '16', out.caller, 'synth', '7', 'sine', '200-900', 'synth', '7', 'pinknoise', 'mix', 'tremolo', '3.7', '90', 'vol', '0.4']);
  execFileSync('sox', ['-n', '-r', String(RATE), '-c', '1', '-b', '16', out.callee, 'synth', '7', 'sine', '1500-400', 'synth', '7', 'brownnoise', 'mix', 'tremolo', '2.9', '90', 'vol', '0.4']);
  return { ...out, kind: 'sox-synthesised signals' };
}

