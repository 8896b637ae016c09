/** One list of configuration problems, however many parts of the config (and plugins) found them. */
import { ErrorCodes, TaplineError, type ErrorCode } from '../errors';

export interface ConfigProblem {
  /** JSON Pointer into the config file ('/plugins/1/options/port'); '' for the whole file. */
  path: string;
  /** What was expected there. */
  expected: string;
  /** What the file holds there (JSON, shortened), or what is wrong with it. */
  found: string;
  /** The plugin concerned: whose options schema raised it, or which plugin the problem is about. */
  plugin?: string;
  /** How to fix it, when there is a good guess: 'did you mean "reorderWindowMs"?'. */
  hint?: string;
  /** The kind of problem; absent = a schema problem (CONFIG_INVALID). */
  code?: ErrorCode;
  /** Where in the file, when known (JSON syntax errors). */
  line?: number;
  column?: number;
}

/** `/media/x: expected …; found …; did you mean "y"? (schema of plugin)` — one line, no numbering. */
export function formatProblem(p: ConfigProblem): string {
  const position = p.line === undefined ? '' : `line ${p.line}${p.column === undefined ? '' : `, column ${p.column}`}`;
  // A problem of the file as a whole (a JSON syntax error) is placed by its line; one inside it by its JSON path.
  const at = p.path === '' && position !== '' ? position : `${p.path || '/'}${position === '' ? '' : ` (${position})`}`;
  const schemaProblem = p.code === undefined || p.code === ErrorCodes.CONFIG_INVALID;
  const owner = p.plugin === undefined ? '' : schemaProblem ? ` (schema of ${p.plugin})` : ` (plugin ${p.plugin})`;
  return `${at}: expected ${p.expected}; found ${p.found}${p.hint ? `; ${p.hint}` : ''}${owner}`;
}

export function formatProblems(file: string | undefined, problems: readonly ConfigProblem[]): string {
  const where = file ?? '(built-in defaults)';
  const width = String(problems.length).length;
  const lines = problems.map((p, i) => `  ${String(i + 1).padStart(width)}. ${formatProblem(p)}`);
  return `invalid configuration in ${where}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}`;
}

/** The same problem found twice (e.g. by two validation passes) is listed once. */
export function uniqueProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.expected}\u0000${p.found}\u0000${p.plugin ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Problems in the order their places appear in the file (JSON keeps key order), so the list reads top to bottom
 * alongside it; a problem at a place the file does not have (a missing property) goes with its parent.
 */
export function inDocumentOrder(problems: readonly ConfigProblem[], doc: unknown): ConfigProblem[] {
  const rank = new Map<string, number>();
  const walk = (v: unknown, pointer: string): void => {
    rank.set(pointer, rank.size);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${pointer}/${i}`));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
  };
  walk(doc, '');
  const rankOf = (pointer: string): number => {
    for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const r = rank.get(p);
      if (r !== undefined) return r;
      if (p === '') return 0;
    }
  };
  return problems
    .map((p, i) => ({ p, i, r: rankOf(p.path) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.p);
}

/** One CONFIG_INVALID listing every problem; `details.problems` carries the list for --json. */
export function configInvalidError(file: string | undefined, problems: readonly ConfigProblem[]): TaplineError {
  const list = uniqueProblems(problems);
  return new TaplineError(ErrorCodes.CONFIG_INVALID, formatProblems(file, list), { file, problems: list });
}

export function throwIfProblems(file: string | undefined, problems: readonly ConfigProblem[]): void {
  if (problems.length > 0) throw configInvalidError(file, problems);
}
