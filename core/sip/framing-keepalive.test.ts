import * as assert from 'node:assert/strict';
import { isTaplineError } from '../errors';
import { SipStreamFramer } from './framing';

const body = 'hello';
const MSG = `MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: k1\r\nCSeq: 1 MESSAGE\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

describe('SIP stream framing: CRLF keep-alives (RFC 5626 §4.4.1) and unparsed frames', () => {
  it('reports each CRLFCRLF ping between messages, however the bytes are split', () => {
    const stream = Buffer.from(`\r\n\r\n${MSG}\r\n\r\n\r\n\r\n${MSG}${MSG}\r\n\r\n`, 'latin1');
    for (const step of [stream.length, 1, 2, 3, 7]) {
      let pings = 0;
      const f = new SipStreamFramer({ onKeepAlive: () => pings++ });
      let messages = 0;
      for (let i = 0; i < stream.length; i += step) messages += f.push(stream.subarray(i, i + step)).length;
      assert.deepEqual([messages, pings], [3, 4], `chunks of ${step}`);
    }
  });

  it('does not take a lone CRLF (a pong) or CRLFs inside a message for a ping', () => {
    let pings = 0;
    const f = new SipStreamFramer({ onKeepAlive: () => pings++ });
    const crlfBody = MSG.replace(body, '\r\n\r\n\r'); // a 5-byte body of CRs and LFs
    const out = f.push(Buffer.from(`\r\n${MSG}\r\n${crlfBody}\r\n`, 'latin1'));
    assert.equal(out.filter((m) => !isTaplineError(m)).length, 2);
    assert.equal(pings, 0);
  });

  it('pushFrames returns each message as its own copy of the wire bytes', () => {
    const f = new SipStreamFramer();
    const wire = Buffer.from(`${MSG}\r\n\r\n${MSG}`, 'latin1');
    const frames = f.pushFrames(wire.subarray(0, 100));
    frames.push(...f.pushFrames(wire.subarray(100)));
    assert.equal(frames.length, 2);
    for (const fr of frames) {
      assert.ok(Buffer.isBuffer(fr));
      assert.equal(fr.toString('latin1'), MSG);
    }
    (frames[0] as Buffer).fill(0);
    assert.equal((frames[1] as Buffer).toString('latin1'), MSG, 'frames do not share memory');
  });
});
