/** A small structured logger to stderr: level filter, bindings per child, one line per event. */
import type { Logger } from './contract';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface LogRecord {
  level: Exclude<LogLevel, 'silent'>;
  msg: string;
  fields: Record<string, unknown>;
}

export type LogWriter = (rec: LogRecord) => void;

const stderrWriter: LogWriter = (rec) => {
  const extra = Object.entries(rec.fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  process.stderr.write(`[${rec.level}] ${rec.msg}${extra ? ' ' + extra : ''}\n`);
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
