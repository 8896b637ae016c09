import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import logSchema from '../schema/defs/log.json';
import { createLogger, createServiceLogger, formatTextLine, LOG_LEVELS, memoryLogger, type LogRecord } from './log';
import { ErrorCodes, isTaplineError, TaplineError } from './errors';

/** A destination that keeps each written line. */
function lines(): { stream: { write(line: string): void }; out: string[]; json(): Array<Record<string, unknown>> } {
  const out: string[] = [];
  return {
    stream: { write: (l: string) => void out.push(l) },
    out,
    json: () => out.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('service logger (pino)', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-log-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('writes one JSON object per line: level as a label, ISO time, msg, pid, bindings and child() bindings', () => {
    const d = lines();
    const log = createServiceLogger({ destination: d, bindings: { service: 'tapline' } });
    log.info('started', { sources: 2 });
    log.child({ plugin: 'source-hep' }).child({ source: 'hep-udp' }).warn('malformed HEP packet', { from: '10.0.0.5' });
    assert.equal(d.out.length, 2);
    assert.ok(d.out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')), 'one line per record');
    const [a, b] = d.json();
    assert.equal(a!.level, 'info');
    assert.equal(a!.msg, 'started');
    assert.equal(a!.sources, 2);
    assert.equal(a!.pid, process.pid);
    assert.equal(a!.service, 'tapline');
    assert.match(String(a!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(String(a!.time)) - Date.now()) < 5000);
    assert.deepEqual(
      { level: b!.level, msg: b!.msg, plugin: b!.plugin, source: b!.source, from: b!.from, service: b!.service },
      { level: 'warn', msg: 'malformed HEP packet', plugin: 'source-hep', source: 'hep-udp', from: '10.0.0.5', service: 'tapline' },
    );
  });

  it('filters by level (children too); silent writes nothing', () => {
    const d = lines();
    const log = createServiceLogger({ level: 'warn', destination: d });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.child({ plugin: 'x' }).info('child info');
    log.child({ plugin: 'x' }).error('child error');
    assert.deepEqual(d.json().map((r) => [r.level, r.msg]), [['warn', 'w'], ['error', 'child error']]);
    const quiet = lines();
    const silent = createServiceLogger({ level: 'silent', destination: quiet });
    silent.error('never');
    silent.child({ a: 1 }).error('never');
    assert.deepEqual(quiet.out, []);
  });

  it('serializes Errors in fields (message, code, stack) and renames fields that would clash with level/time/msg/pid', () => {
    const d = lines();
    const log = createServiceLogger({ destination: d });
    const e = new TaplineError(ErrorCodes.CAPTURE_IO, 'disk gone');
    log.error('store failed', { err: e, cause: new Error('EIO'), level: 'fatal?', msg: 'shadow', time: 1 });
    const [r] = d.json();
    assert.equal(r!.level, 'error');
    assert.equal(r!.msg, 'store failed');
    const err = r!.err as Record<string, unknown>;
    assert.equal(err.message, 'disk gone');
    assert.equal(err.code, ErrorCodes.CAPTURE_IO);
    assert.match(String(err.stack), /disk gone/);
    assert.equal((r!.cause as Record<string, unknown>).message, 'EIO');
    assert.equal(r!._level, 'fatal?');
    assert.equal(r!._msg, 'shadow');
    assert.equal(r!._time, 1);
    assert.equal((d.out[0]!.match(/"level"/g) ?? []).length, 1, 'level written once');
  });

  it('text format writes the `[warn] msg k=v` lines interactive commands print, with the same level filter', () => {
    const d = lines();
    const log = createServiceLogger({ format: 'text', level: 'info', destination: d });
    log.debug('hidden');
    log.warn('capture truncated', { file: 'a.pcap', frames: 12 });
    log.child({ plugin: 'codec-silk' }).error('decoder failed', { err: new Error('bad frame') });
    assert.deepEqual(d.out, ['[warn] capture truncated file=a.pcap frames=12\n', '[error] decoder failed plugin=codec-silk err="bad frame"\n']);
    // The same line the plain logger gives (what `record` prints today).
    const recs: LogRecord[] = [];
    createLogger('info', (r) => recs.push(r)).warn('capture truncated', { file: 'a.pcap', frames: 12 });
    assert.equal(formatTextLine(recs[0]!), d.out[0]);
  });

  it('the plain logger and memoryLogger keep working as before (bindings, child, level)', () => {
    const { log, records } = memoryLogger('info');
    log.debug('no');
    log.child({ plugin: 'p' }).info('yes', { n: 1 });
    assert.deepEqual(records, [{ level: 'info', msg: 'yes', fields: { plugin: 'p', n: 1 } }]);
  });

  it('a file destination appends JSON lines, and reopen() after a logrotate rename writes to a new file', async () => {
    const file = path.join(tmp, 'logs', 'tapline.log');
    const log = createServiceLogger({ destination: { file }, sync: true });
    log.info('one');
    fs.renameSync(file, file + '.1');
    log.info('two'); // still the renamed file: the open descriptor follows it
    log.reopen();
    log.info('three');
    await log.close();
    await log.close(); // idempotent
    log.info('after close'); // counted, not thrown
    const msgs = (f: string): unknown[] => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.deepEqual(msgs(file + '.1'), ['one', 'two']);
    assert.deepEqual(msgs(file), ['three']);
    assert.equal(log.droppedLines, 1);
  });

  it('an unwritable log file is TAPLINE_ERR_LOG_DESTINATION', () => {
    const notADir = path.join(tmp, 'plain-file');
    fs.writeFileSync(notADir, '');
    assert.throws(
      () => createServiceLogger({ destination: { file: path.join(notADir, 'tapline.log') } }),
      (e: unknown) => isTaplineError(e, ErrorCodes.LOG_DESTINATION) && e.message.includes('plain-file'),
    );
  });

  it('asynchronous writes are bounded: a burst beyond the buffer is dropped and counted, never grown', async () => {
    const file = path.join(tmp, 'burst.log');
    const log = createServiceLogger({ destination: { file }, sync: false, maxBufferBytes: 8 * 1024 });
    const N = 2000;
    const pad = 'x'.repeat(100);
    for (let i = 0; i < N; i++) log.info('burst', { i, pad }); // one tick: the disk cannot keep up
    await log.close();
    const written = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.ok(log.droppedLines > N / 2, `most of a ${N}-line burst into an 8 KiB buffer is dropped (dropped ${log.droppedLines})`);
    assert.equal(written.length + log.droppedLines, N, 'every line is either written whole or counted as dropped');
    assert.ok(written.every((l) => (JSON.parse(l) as { msg: string }).msg === 'burst'));
    assert.ok(written.length * 160 <= 8 * 1024 + 4096, `what was written fits the buffer (${written.length} lines)`);
  });

  it('schema/defs/log.json: the levels are the logger\'s, defaults fill in, unknown keys and formats are refused', () => {
    assert.deepEqual(logSchema.properties.level.enum, [...LOG_LEVELS]);
    const validate = new Ajv2020({ useDefaults: true, strict: true, allowUnionTypes: true }).compile(logSchema);
    const filled: Record<string, unknown> = {};
    assert.ok(validate(filled));
    assert.deepEqual(filled, { level: 'info', format: null, file: null });
    assert.ok(validate({ level: 'warn', format: 'json', file: '/var/log/tapline/tapline.log' }));
    for (const bad of [{ format: 'pretty' }, { level: 'trace' }, { file: '' }, { colour: true }]) assert.equal(validate(bad), false, JSON.stringify(bad));
  });
});
