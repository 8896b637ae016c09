/**
 * Logging. Two shapes behind the one Logger contract (core/contract.ts):
 * - createLogger / memoryLogger: a small structured logger writing `[warn] msg k=v` lines (interactive commands,
 *   tests);
 * - createServiceLogger: pino JSON lines for `tapline serve` (level as a label, ISO time, msg, bindings such as the
 *   plugin name via child()), or the same text lines, to stderr, stdout, a file or a stream. The destination is
 *   bounded: when it is slower than the logs (a stalled journald), lines are dropped and counted instead of growing
 *   memory or blocking capture.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import type { Logger } from './contract';
import { ErrorCodes, TaplineError } from './errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface LogRecord {
  level: Exclude<LogLevel, 'silent'>;
  msg: string;
  fields: Record<string, unknown>;
}

export type LogWriter = (rec: LogRecord) => void;

/** One human-readable line: `[warn] message key=value …` (what `record` has always printed). */
export function formatTextLine(rec: LogRecord): string {
  const extra = Object.entries(rec.fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : v instanceof Error ? errorText(v) : JSON.stringify(v)}`)
    .join(' ');
  return `[${rec.level}] ${rec.msg}${extra ? ' ' + extra : ''}\n`;
}

function errorText(e: Error): string {
  const code = (e as { code?: unknown }).code;
  return JSON.stringify(typeof code === 'string' ? `${e.message} (${code})` : e.message);
}

const stderrWriter: LogWriter = (rec) => {
  process.stderr.write(formatTextLine(rec));
};

export function createLogger(level: LogLevel = 'info', writer: LogWriter = stderrWriter, bindings: Record<string, unknown> = {}): Logger {
  const min = RANK[level];
  const emit = (lv: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lv] < min) return;
    writer({ level: lv, msg, fields: { ...bindings, ...fields } });
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => createLogger(level, writer, { ...bindings, ...b }),
  };
}

/** A logger that keeps records in memory (tests, harness). */
export function memoryLogger(level: LogLevel = 'debug'): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { log: createLogger(level, (r) => records.push(r)), records };
}

// ---------------------------------------------------------------------------------------------------------------
// The service logger

export type LogFormat = 'json' | 'text';

/** Where lines go: a standard stream, a file (appended, folder created), or any object with write(line). */
export type LogDestination = 'stderr' | 'stdout' | { file: string } | { stream: { write(line: string): unknown } };

export interface ServiceLoggerOptions {
  /** Default 'info'. */
  level?: LogLevel;
  /** 'json' (default): one pino JSON object per line; 'text': `[warn] msg k=v` lines. */
  format?: LogFormat;
  /** Default 'stderr' (journald reads it under systemd). */
  destination?: LogDestination;
  /** Fields on every line, e.g. { service: 'tapline' }. JSON lines always carry pid. */
  bindings?: Record<string, unknown>;
  /**
   * Write each line before returning. Default: true for text (interactive output stays in order with stdout),
   * false for json (a service must not wait on its log reader; lines are buffered and written by libuv).
   */
  sync?: boolean;
  /** Buffered bytes beyond which new lines are dropped and counted (asynchronous writes only). Default 4 MiB. */
  maxBufferBytes?: number;
}

export interface ServiceLogger extends Logger {
  readonly format: LogFormat;
  readonly level: LogLevel;
  /** Lines dropped because the destination was slower than the logs (asynchronous writes only). */
  readonly droppedLines: number;
  /** Writes out what is buffered, synchronously (before exit, after a fatal error). */
  flush(): void;
  /** Reopens a file destination (after logrotate moved it; wire to SIGHUP); a no-op for other destinations. */
  reopen(): void;
  /** Flushes and closes a file destination; idempotent. Standard streams stay open. */
  close(): Promise<void>;
}

export const DEFAULT_LOG_BUFFER_BYTES = 4 * 1024 * 1024;

/** Keys pino writes itself: a field with one of these names is renamed (`_level`) rather than written twice. */
const RESERVED = ['level', 'time', 'msg', 'pid'] as const;

interface Sink {
  write(line: string): unknown;
  flush(): void;
  reopen(): void;
  close(): Promise<void>;
}

/** A sonic-boom stream (what pino.destination returns) with a bounded buffer and its drops counted. */
function boomSink(dest: string | number, sync: boolean, maxBufferBytes: number, onDrop: () => void): Sink {
  const stream = pino.destination({ dest, sync, mkdir: typeof dest === 'string', append: true, minLength: 0, ...(sync ? {} : { maxLength: maxBufferBytes }) });
  stream.on('drop', onDrop);
  // A write error later on (disk full, EBADF) must not become an uncaught 'error' event that kills the service.
  let reported = false;
  stream.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`[error] the log destination failed, later lines may be lost: ${err.message}\n`);
  });
  const isFile = typeof dest === 'string';
  let closed = false;
  const flushQuietly = (): void => {
    try {
      stream.flushSync();
    } catch {
      // Not open yet (an asynchronous file) or busy: what is buffered is written once the stream is ready.
    }
  };
  return {
    write: (line) => {
      if (closed && isFile) onDrop(); // a line after close(): counted, never a throw into the caller
      else stream.write(line);
    },
    flush: () => {
      if (!closed) flushQuietly();
    },
    reopen: () => {
      if (isFile && !closed) stream.reopen();
    },
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      if (!isFile) {
        flushQuietly();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        stream.once('close', () => resolve());
        stream.end();
      });
    },
  };
}

function openSink(destination: LogDestination, sync: boolean, maxBufferBytes: number, onDrop: () => void): Sink {
  if (destination === 'stderr') return boomSink(2, sync, maxBufferBytes, onDrop);
  if (destination === 'stdout') return boomSink(1, sync, maxBufferBytes, onDrop);
  if ('file' in destination) {
    const file = path.resolve(destination.file);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.closeSync(fs.openSync(file, 'a'));
    } catch (e) {
      throw new TaplineError(ErrorCodes.LOG_DESTINATION, `cannot write the log file ${file}: ${(e as Error).message}`, { file }, e);
    }
    return boomSink(file, sync, maxBufferBytes, onDrop);
  }
  const s = destination.stream;
  return { write: (line) => s.write(line), flush: () => undefined, reopen: () => undefined, close: () => Promise.resolve() };
}

/** Fields as pino should see them: Errors serialized (message, code, stack), reserved names renamed. */
function cleanFields(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k in fields) {
    const v = fields[k];
    const reserved = (RESERVED as readonly string[]).includes(k);
    if (!reserved && !(v instanceof Error)) continue;
    out ??= { ...fields };
    if (reserved) delete out[k];
    out[reserved ? `_${k}` : k] = v instanceof Error ? pino.stdSerializers.err(v) : v;
  }
  return out ?? fields;
}

function wrapPino(p: pino.Logger): Logger {
  return {
    debug: (m, f) => (f === undefined ? p.debug(m) : p.debug(cleanFields(f), m)),
    info: (m, f) => (f === undefined ? p.info(m) : p.info(cleanFields(f), m)),
    warn: (m, f) => (f === undefined ? p.warn(m) : p.warn(cleanFields(f), m)),
    error: (m, f) => (f === undefined ? p.error(m) : p.error(cleanFields(f), m)),
    child: (b) => wrapPino(p.child(cleanFields(b))),
  };
}

/** The logger of `tapline serve` (json) and of interactive commands that want the same options (text). */
export function createServiceLogger(opts: ServiceLoggerOptions = {}): ServiceLogger {
  const level = opts.level ?? 'info';
  const format = opts.format ?? 'json';
  const sync = opts.sync ?? format === 'text';
  let dropped = 0;
  const sink = openSink(opts.destination ?? 'stderr', sync, opts.maxBufferBytes ?? DEFAULT_LOG_BUFFER_BYTES, () => dropped++);
  let root: Logger;
  if (format === 'text') {
    root = createLogger(level, (rec) => sink.write(formatTextLine(rec)), opts.bindings ?? {});
  } else {
    const p = pino(
      {
        level,
        base: { pid: process.pid, ...(opts.bindings !== undefined ? cleanFields(opts.bindings) : {}) },
        timestamp: pino.stdTimeFunctions.isoTime,
        messageKey: 'msg',
        formatters: { level: (label) => ({ level: label }) },
        serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      },
      { write: (line: string) => sink.write(line) },
    );
    root = wrapPino(p);
  }
  return {
    ...root,
    format,
    level,
    get droppedLines() {
      return dropped;
    },
    flush: () => sink.flush(),
    reopen: () => sink.reopen(),
    close: () => sink.close(),
  };
}
