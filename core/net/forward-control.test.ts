import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  encodeControl,
  FORWARD_CONTROL_VERSION,
  helloText,
  LineReader,
  macMatches,
  macOf,
  MAX_LINE,
  newNonce,
  parseControl,
  welcomeText,
  type ControlMessage,
} from './forward-control';
import { TfwdKey } from './tfwd';

const SECRET = Buffer.from('forward-control-test-secret-0123');
const KEY = new TfwdKey(3, SECRET);
const OTHER = new TfwdKey(3, Buffer.from('some-other-secret-of-32-bytes-00'));

describe('forward control protocol: MACs', () => {
  it('helloText and welcomeText name every field, in order, with the version', () => {
    assert.equal(helloText(7, 9, 1234, 'n1'), `tapline-forward-hello|v${FORWARD_CONTROL_VERSION}|7|9|1234|n1`);
    assert.equal(welcomeText(7, 9, 2, 'n1', 'n2'), `tapline-forward-welcome|v${FORWARD_CONTROL_VERSION}|7|9|2|n1|n2`);
  });

  it('macOf is the hex HMAC-SHA256 of the text with the key; macMatches accepts it (either case)', () => {
    const text = helloText(7, 9, Date.now(), newNonce());
    const mac = macOf(KEY, text);
    assert.equal(mac, createHmac('sha256', SECRET).update(text, 'utf8').digest('hex'));
    assert.match(mac, /^[0-9a-f]{64}$/);
    assert.ok(macMatches(KEY, text, mac));
    assert.ok(macMatches(KEY, text, mac.toUpperCase()));
  });

  it('a tampered field, another key, or a malformed MAC is refused (without throwing)', () => {
    const nonce = newNonce();
    const time = 1_700_000_000_000;
    const mac = macOf(KEY, helloText(7, 9, time, nonce));
    assert.ok(!macMatches(KEY, helloText(8, 9, time, nonce), mac), 'deployment changed');
    assert.ok(!macMatches(KEY, helloText(7, 10, time, nonce), mac), 'sensor changed');
    assert.ok(!macMatches(KEY, helloText(7, 9, time + 1, nonce), mac), 'time changed');
    assert.ok(!macMatches(KEY, helloText(7, 9, time, newNonce()), mac), 'nonce changed');
    assert.ok(!macMatches(OTHER, helloText(7, 9, time, nonce), mac), 'other key');
    const flipped = (mac[0] === '0' ? '1' : '0') + mac.slice(1);
    assert.ok(!macMatches(KEY, helloText(7, 9, time, nonce), flipped), 'one hex digit changed');
    for (const bad of ['', 'zz', mac.slice(0, 62), `${mac}00`, `${mac.slice(0, 63)}g`, ' '.repeat(64)]) {
      assert.equal(macMatches(KEY, helloText(7, 9, time, nonce), bad), false, JSON.stringify(bad));
    }
    // The welcome answers the forwarder's nonce: a welcome made for another hello does not match.
    const w = macOf(KEY, welcomeText(7, 9, 2, 'hello-nonce', 'rec-nonce'));
    assert.ok(macMatches(KEY, welcomeText(7, 9, 2, 'hello-nonce', 'rec-nonce'), w));
    assert.ok(!macMatches(KEY, welcomeText(7, 9, 2, 'other-hello', 'rec-nonce'), w));
    assert.ok(!macMatches(KEY, welcomeText(7, 9, 1, 'hello-nonce', 'rec-nonce'), w));
  });

  it('newNonce is 32 hex digits, different each time', () => {
    const a = newNonce();
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.notEqual(a, newNonce());
  });
});

describe('forward control protocol: parseControl', () => {
  const hello = { t: 'hello', v: 1, deployment: 7, sensor: 9, keyId: 3, time: 1_700_000_000_000, nonce: 'n', mac: 'm' };

  it('round-trips every message through encodeControl (one line, newline-terminated)', () => {
    const msgs: ControlMessage[] = [
      { t: 'hello', v: 1, deployment: 7, sensor: 9, keyId: 3, time: 1_700_000_000_000, nonce: 'abc', mac: 'def' },
      { t: 'welcome', v: 1, recorder: 2, nonce: 'abc', mac: 'def' },
      { t: 'refused', reason: 'bad mac' },
      { t: 'interest', calls: [{ call: 'c1', endpoints: ['10.0.0.1:4000', '[2001:db8::1]:5000'], rank: 0 }] },
      { t: 'interest', calls: [] },
      { t: 'call', call: 'c2', endpoints: [], rank: 2 },
      { t: 'end', call: 'c2' },
      { t: 'hb' },
    ];
    for (const m of msgs) {
      const line = encodeControl(m);
      assert.ok(line.endsWith('\n') && line.indexOf('\n') === line.length - 1);
      assert.deepEqual(parseControl(line.slice(0, -1)), m);
    }
  });

  it('keeps only the known fields of a message (extra fields are dropped)', () => {
    assert.deepEqual(parseControl(JSON.stringify({ t: 'hb', extra: 1 })), { t: 'hb' });
    assert.deepEqual(parseControl(JSON.stringify({ t: 'end', call: 'x', more: [1] })), { t: 'end', call: 'x' });
    assert.deepEqual(parseControl(JSON.stringify({ t: 'call', call: 'x', endpoints: ['a'], rank: 1, z: true })), { t: 'call', call: 'x', endpoints: ['a'], rank: 1 });
  });

  it('rejects what is not JSON, not an object, or not a known message', () => {
    for (const line of ['', 'hb', '{', '{"t":"hb"', 'null', '42', '"hb"', 'true', '[]', '[{"t":"hb"}]', '{}', '{"t":"HB"}', '{"t":"bye"}', '{"t":1}']) {
      assert.equal(parseControl(line), undefined, line);
    }
  });

  it('rejects a hello with a missing, negative, fractional, too large or mistyped field', () => {
    assert.ok(parseControl(JSON.stringify(hello)) !== undefined);
    const bad: Array<Record<string, unknown>> = [
      { v: undefined },
      { v: -1 },
      { v: 1.5 },
      { v: '1' },
      { deployment: 2 ** 32 },
      { deployment: -7 },
      { sensor: null },
      { keyId: 1.25 },
      { time: '1700000000000' },
      { time: undefined },
      { nonce: 5 },
      { nonce: 'x'.repeat(257) },
      { mac: undefined },
      { mac: ['m'] },
    ];
    for (const change of bad) {
      const o: Record<string, unknown> = { ...hello, ...change };
      for (const k of Object.keys(change)) if (change[k] === undefined) delete o[k];
      assert.equal(parseControl(JSON.stringify(o)), undefined, JSON.stringify(change));
    }
    // Bounds are inclusive: u32 max and a 256-character string are fine.
    assert.ok(parseControl(JSON.stringify({ ...hello, deployment: 0xffffffff, nonce: 'x'.repeat(256) })) !== undefined);
  });

  it('rejects malformed welcome, refused, end and call messages', () => {
    for (const o of [
      { t: 'welcome', v: 1, recorder: -1, nonce: 'n', mac: 'm' },
      { t: 'welcome', v: 1, nonce: 'n', mac: 'm' },
      { t: 'welcome', v: 1, recorder: 1, nonce: 'n' },
      { t: 'refused' },
      { t: 'refused', reason: 'r'.repeat(257) },
      { t: 'end' },
      { t: 'end', call: 7 },
      { t: 'call', call: 'c', endpoints: ['a'] },
      { t: 'call', call: 'c', endpoints: 'a', rank: 0 },
      { t: 'call', call: 'c', endpoints: [1], rank: 0 },
      { t: 'call', call: 'c', endpoints: ['a'], rank: -1 },
      { t: 'call', call: 'c', endpoints: ['a'], rank: 0.5 },
      { t: 'call', call: 'c'.repeat(257), endpoints: ['a'], rank: 0 },
      { t: 'call', call: 'c', endpoints: ['e'.repeat(257)], rank: 0 },
    ]) {
      assert.equal(parseControl(JSON.stringify(o)), undefined, JSON.stringify(o).slice(0, 120));
    }
  });

  it('rejects oversized shapes: more than 4096 endpoints in an entry, an interest with one bad entry', () => {
    const many = Array.from({ length: 4097 }, (_v, i) => `10.0.${i >> 8}.${i & 255}:4000`);
    assert.equal(parseControl(JSON.stringify({ t: 'call', call: 'c', endpoints: many, rank: 0 })), undefined);
    assert.ok(parseControl(JSON.stringify({ t: 'call', call: 'c', endpoints: many.slice(0, 4096), rank: 0 })) !== undefined);
    assert.equal(parseControl(JSON.stringify({ t: 'interest', calls: [{ call: 'c', endpoints: many, rank: 0 }] })), undefined);
    const good = { call: 'a', endpoints: ['10.0.0.1:4000'], rank: 0 };
    assert.equal(parseControl(JSON.stringify({ t: 'interest', calls: [good, { call: 'b', endpoints: ['x'] }] })), undefined);
    assert.equal(parseControl(JSON.stringify({ t: 'interest', calls: [good, null] })), undefined);
    assert.equal(parseControl(JSON.stringify({ t: 'interest', calls: { 0: good } })), undefined);
    assert.equal(parseControl(JSON.stringify({ t: 'interest' })), undefined);
  });
});

describe('forward control protocol: LineReader', () => {
  function reader(): { r: LineReader; lines: string[] } {
    const lines: string[] = [];
    return { r: new LineReader((l) => lines.push(l)), lines };
  }

  it('splits lines within a chunk and across chunks, keeping an unfinished tail for the next chunk', () => {
    const { r, lines } = reader();
    assert.ok(r.push(Buffer.from('{"t":"hb"}\n{"t":"e')));
    assert.deepEqual(lines, ['{"t":"hb"}']);
    assert.ok(r.push(Buffer.from('nd","ca')));
    assert.ok(r.push(Buffer.from('ll":"x"}\n\nlast')));
    assert.deepEqual(lines, ['{"t":"hb"}', '{"t":"end","call":"x"}', '']);
    assert.ok(r.push(Buffer.from('\n')));
    assert.deepEqual(lines, ['{"t":"hb"}', '{"t":"end","call":"x"}', '', 'last']);
    assert.deepEqual(parseControl(lines[1]!), { t: 'end', call: 'x' });
  });

  it('one byte at a time, a multi-byte UTF-8 character split across chunks comes out whole', () => {
    const { r, lines } = reader();
    const text = encodeControl({ t: 'end', call: 'appel-é-通話' });
    for (const b of Buffer.from(text, 'utf8')) assert.ok(r.push(Buffer.from([b])));
    assert.deepEqual(lines.map((l) => parseControl(l)), [{ t: 'end', call: 'appel-é-通話' }]);
  });

  it('accepts a line of exactly MAX_LINE bytes (in pieces) and refuses one byte more', () => {
    const ok = reader();
    assert.ok(ok.r.push(Buffer.alloc(MAX_LINE - 10, 0x61)));
    assert.ok(ok.r.push(Buffer.alloc(10, 0x61)));
    assert.ok(ok.r.push(Buffer.from('\n')));
    assert.equal(ok.lines.length, 1);
    assert.equal(ok.lines[0]!.length, MAX_LINE);

    const pieces = reader();
    assert.ok(pieces.r.push(Buffer.alloc(MAX_LINE, 0x61)));
    assert.equal(pieces.r.push(Buffer.from('a')), false, 'unfinished line grew past MAX_LINE');
    assert.equal(pieces.lines.length, 0);

    const whole = reader();
    assert.equal(whole.r.push(Buffer.concat([Buffer.from('{"t":"hb"}\n'), Buffer.alloc(MAX_LINE + 1, 0x61), Buffer.from('\n')])), false, 'a whole line over MAX_LINE in one chunk');
    assert.deepEqual(whole.lines, ['{"t":"hb"}'], 'lines before the oversized one were delivered');

    const tail = reader();
    assert.ok(tail.r.push(Buffer.alloc(MAX_LINE - 1, 0x61)));
    assert.equal(tail.r.push(Buffer.concat([Buffer.alloc(2, 0x61), Buffer.from('\n')])), false, 'completed by a chunk that makes it too long');
    assert.equal(tail.lines.length, 0);
  });

  it('the size of an unfinished line is reset by each newline (many short lines never add up)', () => {
    const { r, lines } = reader();
    const chunk = Buffer.from(`${'x'.repeat(1000)}\n`.repeat(100));
    for (let i = 0; i < 20; i++) assert.ok(r.push(chunk));
    assert.equal(lines.length, 2000);
  });
});
