import * as assert from 'node:assert/strict';
import { TaplineError } from '../errors';
import { lyncInvite } from '../../test/bench/sip-bench';
import { SipStreamFramer } from './framing';
import type { FramerOutput } from './framing';
import type { SipMessage } from './types';

function msg(start: string, callId: string, body = ''): Buffer {
  const method = start.startsWith('SIP/') ? 'INVITE' : start.split(' ')[0];
  const lines = [start, 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', `Call-ID: ${callId}`, `CSeq: 1 ${method}`, `l: ${Buffer.byteLength(body)}`];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** Compact description of framer output for deepEqual: Call-IDs of messages, reasons of errors. */
function summary(out: FramerOutput): string[] {
  return out.map((o) => (o instanceof TaplineError ? `error:${String(o.details.reason)}` : o.callId));
}

function pushAll(f: SipStreamFramer, chunks: Buffer[]): FramerOutput {
  const out: FramerOutput = [];
  for (const c of chunks) out.push(...f.push(c));
  out.push(...f.flush());
  return out;
}

const A = msg('INVITE sip:b@example.com SIP/2.0', 'call-a', 'v=0\r\n');
const B = msg('SIP/2.0 200 OK', 'call-b');
const C = lyncInvite();

describe('SipStreamFramer', () => {
  it('frames several messages in one chunk, skipping CRLF keep-alives', () => {
    const stream = Buffer.concat([Buffer.from('\r\n\r\n'), A, Buffer.from('\r\n'), B, Buffer.from('\r\n\r\n'), C]);
    const out = pushAll(new SipStreamFramer(), [stream]);
    assert.deepEqual(summary(out), ['call-a', 'call-b', '1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a']);
    assert.equal((out[0] as SipMessage).body.toString(), 'v=0\r\n');
  });

  it('gives the same messages whatever byte boundary the stream is split at', () => {
    const stream = Buffer.concat([A, Buffer.from('\r\n\r\n'), C, B]);
    const expected = ['call-a', '1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a', 'call-b'];
    for (let i = 0; i <= stream.length; i++) {
      const f = new SipStreamFramer();
      assert.deepEqual(summary(pushAll(f, [stream.subarray(0, i), stream.subarray(i)])), expected, `split at ${i}`);
      assert.equal(f.buffered, 0);
    }
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    assert.deepEqual(summary(pushAll(new SipStreamFramer(), bytes)), expected);
  });

  it('returns messages that do not alias its reusable buffer', () => {
    const f = new SipStreamFramer();
    const [first] = f.push(A);
    f.push(Buffer.alloc(3000, 'z'));
    f.push(B);
    assert.equal((first as SipMessage).body.toString(), 'v=0\r\n');
  });

  it('resynchronises on the next start line after garbage, reporting it once', () => {
    const garbage = Buffer.from('\x16\x03\x01 TLS hello?\r\nHTTP/1.1 200 OK\r\nnot sip at all\r\n');
    const out = pushAll(new SipStreamFramer(), [A, garbage, B, Buffer.from('more junk\r\n'), A]);
    assert.deepEqual(summary(out), ['call-a', 'error:stream-garbage', 'call-b', 'error:stream-garbage', 'call-a']);
    assert.equal((out[1] as TaplineError).details.bytes, garbage.length);
  });

  it('reports a message without Content-Length and carries on with the next one', () => {
    const noCl = Buffer.from(A.toString().replace('l: 5\r\n', ''));
    const out = pushAll(new SipStreamFramer(), [noCl, B]);
    // The lost message's body "v=0" does not look like a start line, so it is dropped as garbage.
    assert.deepEqual(summary(out), ['error:stream-content-length', 'error:stream-garbage', 'call-b']);
  });

  it('passes on parse errors of well-framed messages without losing sync', () => {
    const bad = Buffer.from(msg('OPTIONS sip:b@example.com SIP/2.0', 'bad').toString().replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE'));
    assert.deepEqual(summary(pushAll(new SipStreamFramer(), [bad, B])), ['error:cseq-method-mismatch', 'call-b']);
  });

  it('skips a message larger than maxBuffer without holding it in memory', () => {
    const f = new SipStreamFramer({ maxBuffer: 4096 });
    const huge = msg('MESSAGE sip:b@example.com SIP/2.0', 'huge', 'x'.repeat(100_000));
    const out: FramerOutput = [];
    for (let i = 0; i < huge.length; i += 1000) {
      out.push(...f.push(huge.subarray(i, i + 1000)));
      assert.ok(f.buffered <= 4096);
    }
    out.push(...f.push(B), ...f.flush());
    assert.deepEqual(summary(out), ['error:stream-oversized', 'call-b']);
  });

  it('stays bounded and responsive on endless garbage without line breaks', () => {
    const f = new SipStreamFramer();
    const junk = Buffer.alloc(64 * 1024, 'q');
    const t0 = Date.now();
    const out: FramerOutput = [];
    for (let i = 0; i < 80; i++) {
      out.push(...f.push(junk));
      assert.ok(f.buffered <= 1024 * 1024 + 64 * 1024);
    }
    out.push(...f.push(Buffer.concat([Buffer.from('\r\n'), A])), ...f.flush());
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual(summary(out).slice(-1), ['call-a']);
    assert.ok(summary(out).slice(0, -1).every((s) => s === 'error:stream-garbage'));
  });

  it('an endless header section is cut off at maxBuffer', () => {
    const f = new SipStreamFramer({ maxBuffer: 2048 });
    const out = f.push(Buffer.from(`INVITE sip:b@example.com SIP/2.0\r\n${'X-Pad: yyyyyyyyyyyyyyyyyyyyyyyy\r\n'.repeat(200)}`));
    assert.deepEqual(summary(out).slice(0, 1), ['error:stream-oversized']);
    assert.ok(f.buffered <= 2048);
  });

  it('flush reports a message cut off by the end of the stream', () => {
    const f = new SipStreamFramer();
    assert.deepEqual(f.push(A.subarray(0, A.length - 2)), []);
    assert.deepEqual(summary(f.flush()), ['error:stream-truncated']);
    assert.deepEqual(summary(pushAll(f, [A])), ['call-a']); // usable again after flush
  });
});
