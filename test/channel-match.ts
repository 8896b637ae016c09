/**
 * Does a stereo recording carry what each side of a real call played? Left against the caller's source, right
 * against the callee's (normalised correlation after alignment, over each side's active span), and the crossed
 * pairs for swapped or mixed channels. Shared by the end-to-end tests of real calls.
 */
import * as assert from 'node:assert/strict';
import { readWav } from '../plugins/storage-local/wav';
import { activeSpan, align, channel, type Alignment } from './audio-compare';

export interface ChannelMatch {
  left: Alignment;
  right: Alignment;
  leftCross: Alignment;
  rightCross: Alignment;
  seconds: number;
}

function mono(file: string, rate: number): Float64Array {
  const w = readWav(file);
  assert.equal(w.sampleRate, rate, `${file}: sample rate`);
  return channel(w.samples, w.channels, 0);
}

export function matchChannels(recording: string, callerSource: string, calleeSource: string, rate = 8000): ChannelMatch {
  const wav = readWav(recording);
  assert.equal(wav.sampleRate, rate, `${recording}: sample rate`);
  assert.equal(wav.channels, 2, `${recording}: stereo`);
  const left = channel(wav.samples, 2, 0);
  const right = channel(wav.samples, 2, 1);
  const caller = mono(callerSource, rate);
  const callee = mono(calleeSource, rate);
  const ls = activeSpan(left);
  const rs = activeSpan(right);
  return {
    left: align(left, caller, rate, { span: ls }),
    right: align(right, callee, rate, { span: rs }),
    leftCross: align(left, callee, rate, { span: ls }),
    rightCross: align(right, caller, rate, { span: rs }),
    seconds: left.length / rate,
  };
}

export const fmtMatch = (m: ChannelMatch): string =>
  `left~caller r=${m.left.r.toFixed(5)}, right~callee r=${m.right.r.toFixed(5)}, crosstalk ${m.leftCross.r.toFixed(3)}/${m.rightCross.r.toFixed(3)}, ${m.seconds.toFixed(2)} s`;

/** Each channel matches its side (r ≥ minR) and not the other one (|r| < maxCross). */
export function assertChannelsMatch(m: ChannelMatch, minR = 0.99, maxCross = 0.3): void {
  assert.ok(m.left.r >= minR, `left channel vs the caller's WAV: ${fmtMatch(m)}`);
  assert.ok(m.right.r >= minR, `right channel vs the callee's WAV: ${fmtMatch(m)}`);
  assert.ok(Math.abs(m.leftCross.r) < maxCross && Math.abs(m.rightCross.r) < maxCross, `swapped or mixed channels: ${fmtMatch(m)}`);
  assert.ok(m.left.speechCovered > 0.5 && m.right.speechCovered > 0.5, `too little of the speech is in the recording: ${fmtMatch(m)}`);
}
