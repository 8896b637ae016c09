/** `tapline config check` (every problem, numbered, or --json; exit 1 on problems) and `tapline config print`. */
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load';
import { formatProblem, type ConfigProblem } from '../config/validate';
import { prepareConfig } from '../plugins/loader';
import { ErrorCodes, isTaplineError, type ErrorCode } from '../errors';

export interface ReportedProblem extends ConfigProblem {
  code: ErrorCode;
  /** The problem as one line, as the text output shows it. */
  message: string;
  /** For a JSON syntax error: the line with a caret under the column. */
  excerpt?: string;
}

export interface ConfigCheckReport {
  ok: boolean;
  /** The config file; absent when none was found and built-in defaults apply. */
  file?: string;
  problems: ReportedProblem[];
  /** The plugins that would load, in start order (empty when there are problems). */
  plugins: Array<{ name: string; kind: string }>;
}

function reported(p: ConfigProblem, extra: { excerpt?: string } = {}): ReportedProblem {
  const r: ReportedProblem = { ...p, code: p.code ?? ErrorCodes.CONFIG_INVALID, message: formatProblem(p) };
  if (extra.excerpt !== undefined) r.excerpt = extra.excerpt;
  return r;
}

/** A file that cannot be read or parsed is one problem (there is nothing further to validate). */
function loadProblem(e: { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> }): ReportedProblem {
  const d = e.details;
  if (e.code === ErrorCodes.CONFIG_NOT_FOUND) return reported({ path: '', expected: 'an existing config file', found: `nothing at ${String(d.file)}`, code: e.code });
  if (typeof d.line === 'number' && typeof d.reason === 'string') {
    const p: ConfigProblem = { path: '', expected: 'valid JSON', found: d.reason, code: e.code, line: d.line };
    if (typeof d.column === 'number') p.column = d.column;
    const excerpt = e.message.split('\n').slice(1).join('\n');
    return reported(p, excerpt === '' ? {} : { excerpt });
  }
  return reported({ path: '', expected: 'a config file that loads', found: e.message, code: e.code });
}

/** Loads and validates the config as start-up would, collecting problems instead of throwing them. */
export async function checkConfig(opts: { config?: string }, cwd = process.cwd()): Promise<ConfigCheckReport> {
  let loaded;
  try {
    loaded = await loadConfigFile(opts.config, cwd);
  } catch (e) {
    if (!isTaplineError(e) || (e.code !== ErrorCodes.CONFIG_LOAD && e.code !== ErrorCodes.CONFIG_NOT_FOUND)) throw e;
    const report: ConfigCheckReport = { ok: false, problems: [loadProblem(e)], plugins: [] };
    if (typeof e.details.file === 'string') report.file = e.details.file;
    return report;
  }
  const report: ConfigCheckReport = { ok: true, problems: [], plugins: [] };
  if (loaded.file !== undefined) report.file = loaded.file;
  try {
    const prepared = await prepareConfig(loaded);
    report.plugins = prepared.plugins.map((p) => ({ name: p.manifest.name, kind: p.manifest.kind }));
  } catch (e) {
    if (!isTaplineError(e, ErrorCodes.CONFIG_INVALID) || !Array.isArray(e.details.problems)) throw e;
    report.ok = false;
    report.problems = (e.details.problems as ConfigProblem[]).map((p) => reported(p));
  }
  return report;
}

/**
 * The text `config check` prints: OK and the plugins (for stdout), or every problem as a numbered list under a
 * `tapline: <code>: …` line like any other failure of the command (for stderr).
 */
export function renderCheckReport(r: ConfigCheckReport): string {
  const where = r.file ?? 'no config file found; built-in defaults apply';
  if (r.ok) {
    const plugins = r.plugins.map((p) => `${p.name} (${p.kind})`).join(', ') || 'none';
    return `config OK: ${where}\nplugins: ${plugins}\n`;
  }
  const n = r.problems.length;
  const width = String(n).length;
  const loadCode = r.problems.find((p) => p.code === ErrorCodes.CONFIG_LOAD || p.code === ErrorCodes.CONFIG_NOT_FOUND)?.code;
  const head = loadCode !== undefined ? `${loadCode}: cannot load ${r.file ?? 'the config'}` : `${ErrorCodes.CONFIG_INVALID}: invalid configuration in ${r.file ?? '(built-in defaults)'}`;
  const lines = [`tapline: ${head}: ${n} problem${n === 1 ? '' : 's'}`];
  r.problems.forEach((p, i) => {
    lines.push(`  ${String(i + 1).padStart(width)}. ${p.message}`);
    if (p.excerpt !== undefined) for (const l of p.excerpt.split('\n')) lines.push(`  ${' '.repeat(width + 2)}${l}`);
  });
  return lines.join('\n') + '\n';
}

type Write = (text: string) => void;
export interface Output {
  out: Write;
  err: Write;
}
const stdio: Output = { out: (text) => void process.stdout.write(text), err: (text) => void process.stderr.write(text) };

/** Prints the check and sets the exit code: 0 when clean, 1 when there are problems. --json: the report on stdout either way. */
export async function runConfigCheck(opts: { config?: string; json?: boolean }, io: Output): Promise<void> {
  const report = await checkConfig(opts);
  if (opts.json === true) io.out(JSON.stringify(report, null, 2) + '\n');
  else (report.ok ? io.out : io.err)(renderCheckReport(report));
  if (!report.ok) process.exitCode = 1;
}

export async function runConfigPrint(opts: { config?: string }, io: Output): Promise<void> {
  const loaded = await loadConfigFile(opts.config);
  const prepared = await prepareConfig(loaded);
  io.out(JSON.stringify(prepared.config, null, 2) + '\n');
}

/** Commander actions (called with (options, command)), printing to stdout/stderr. */
export const configCheckCommand = (opts: { config?: string; json?: boolean }): Promise<void> => runConfigCheck(opts, stdio);
export const configPrintCommand = (opts: { config?: string }): Promise<void> => runConfigPrint(opts, stdio);

/** Adds `config check [--json]` and `config print` to the program (main.ts). */
export function addConfigCommands(program: Command, io: Output = stdio): Command {
  const config = program.command('config').description('Check or print the configuration.');
  config
    .command('check')
    .description("Validate the config file, every enabled plugin's options and the files it names; list every problem (exit 1 if any).")
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .option('--json', 'print the result as JSON: { ok, file, problems: [{ path, expected, found, hint, plugin, code, message }], plugins }')
    .action((opts: { config?: string; json?: boolean }) => runConfigCheck(opts, io));
  config
    .command('print')
    .description('Print the effective configuration, defaults filled in, as JSON.')
    .option('-c, --config <file>', 'config file (default: searched from the current folder)')
    .action((opts: { config?: string }) => runConfigPrint(opts, io));
  return config;
}
