/**
 * ajv's errors (allErrors, verbose) as ConfigProblems an operator can act on: the JSON path of the offending
 * key, what was expected in words, what the file holds, and a likely fix ("did you mean …?") when there is one.
 */
import type { ErrorObject } from 'ajv/dist/2020';
import type { ConfigProblem } from './problems';
import { closest } from './suggest';
import { PATH_KEYWORD, PATH_KINDS, type PathErrorParams } from './path-keyword';

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The value at a JSON Pointer, or undefined. */
export function valueAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[unescapePointer(raw)];
  }
  return cur;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

/** What was expected, in words; other keywords keep ajv's message ("must be >= 1"), which tests and operators know. */
function expectedOf(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return `no property "${String(p.additionalProperty)}" (not a known setting)`;
    case 'required':
      return `property "${String(p.missingProperty)}"`;
    case 'enum':
      return `one of ${JSON.stringify(p.allowedValues)}`;
    case 'const':
      return JSON.stringify(p.allowedValue);
    case 'type':
      return Array.isArray(p.type) ? p.type.join(' or ') : String(p.type).split(',').join(' or ');
    case 'format':
      return `a valid ${String(p.format)}`;
    case PATH_KEYWORD:
      return PATH_KINDS[(p as unknown as PathErrorParams).kind];
    default:
      return err.message ?? err.keyword;
  }
}

/** Where `key` is a known setting elsewhere in the schema ('/dialogs'), for a key put in the wrong object. */
function homeOf(schema: unknown, key: string, at = ''): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  const props = (schema as { properties?: unknown }).properties;
  if (props === null || typeof props !== 'object') return undefined;
  if (Object.prototype.hasOwnProperty.call(props, key)) return at;
  for (const [name, sub] of Object.entries(props as Record<string, unknown>)) {
    const found = homeOf(sub, key, `${at}/${escapePointer(name)}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function allowedKeys(parentSchema: unknown): string[] {
  const props = (parentSchema as { properties?: unknown } | undefined)?.properties;
  return props !== null && typeof props === 'object' ? Object.keys(props) : [];
}

/** A likely fix for one error: a close spelling, the right home of a misplaced key, or the right JSON type. */
function hintFor(err: ErrorObject, value: unknown, rootSchema: unknown, prefix: string): string | undefined {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const near = closest(key, allowedKeys(err.parentSchema));
      if (near !== undefined) return `did you mean "${near}"?`;
      // Only for keys in plain nested objects: inside a list item (a plugin entry, a user) the guess would mislead.
      const home = /\/\d+(\/|$)/.test(err.instancePath) ? undefined : homeOf(rootSchema, key);
      if (home !== undefined && home !== err.instancePath) return `"${key}" is a setting of ${prefix}${home || '/'}; move it there`;
      return undefined;
    }
    case 'enum': {
      if (typeof value !== 'string') return undefined;
      const allowed = (p.allowedValues as unknown[]).filter((v): v is string => typeof v === 'string');
      const near = closest(value, allowed);
      return near === undefined ? undefined : `did you mean "${near}"?`;
    }
    case 'type': {
      const want = (Array.isArray(p.type) ? p.type : String(p.type).split(',')) as string[];
      if (typeof value === 'string') {
        const t = value.trim();
        if ((want.includes('number') || want.includes('integer')) && t !== '' && Number.isFinite(Number(t))) return `write it as a number, without quotes: ${Number(t)}`;
        if (want.includes('boolean') && /^(true|false)$/i.test(t)) return `write it without quotes: ${t.toLowerCase()}`;
      }
      if (want.includes('array') && value !== undefined && !Array.isArray(value) && (value === null || typeof value !== 'object')) {
        return `write it as a list: [${JSON.stringify(value)}]`;
      }
      if (want.includes('string') && typeof value === 'number') return `write it in quotes: "${value}"`;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Errors under one anyOf/oneOf become one problem naming the alternatives, not one problem per branch. */
function collapseAlternatives(errors: readonly ErrorObject[]): Array<{ err: ErrorObject; alternatives?: string[] }> {
  const combinators = errors
    .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  const absorbed = new Set<ErrorObject>();
  const alternatives = new Map<ErrorObject, string[]>();
  for (const c of combinators) {
    if (absorbed.has(c)) continue;
    const alts: string[] = [];
    for (const e of errors) {
      if (e === c || absorbed.has(e) || !e.schemaPath.startsWith(`${c.schemaPath}/`)) continue;
      absorbed.add(e);
      if (e.instancePath === c.instancePath && e.keyword !== 'anyOf' && e.keyword !== 'oneOf') {
        const text = expectedOf(e);
        if (!alts.includes(text)) alts.push(text);
      }
    }
    alternatives.set(c, alts);
  }
  return errors
    .filter((e) => !absorbed.has(e) && e.keyword !== 'if') // 'if' only says "must match then": the 'then' errors say why
    .map((err) => {
      const alts = alternatives.get(err);
      return alts === undefined ? { err } : { err, alternatives: alts };
    });
}

/**
 * ajv errors → problems. `prefix` is the JSON Pointer of the validated value in the config file; `rootSchema`
 * is the schema that was validated (for "this key belongs elsewhere" hints).
 */
export function toProblems(errors: readonly ErrorObject[] | null | undefined, data: unknown, prefix: string, rootSchema: unknown, plugin?: string): ConfigProblem[] {
  return collapseAlternatives(errors ?? []).map(({ err, alternatives }) => {
    const p = err.params as Record<string, unknown>;
    // An unknown key is reported at the key itself, so the path leads straight to it.
    const at = err.keyword === 'additionalProperties' ? `${err.instancePath}/${escapePointer(String(p.additionalProperty))}` : err.instancePath;
    const value = valueAt(data, at);
    let expected = expectedOf(err);
    if (alternatives !== undefined) {
      expected =
        err.keyword === 'oneOf' && Array.isArray(p.passingSchemas)
          ? 'exactly one of the allowed forms (it matches several)'
          : alternatives.length > 0
            ? alternatives.join(' or ')
            : 'one of the allowed forms';
    }
    let found = describeValue(value);
    if (err.keyword === PATH_KEYWORD) {
      const pp = p as unknown as PathErrorParams;
      found += ` (${pp.resolved}: ${pp.reason})`;
    }
    const problem: ConfigProblem = { path: prefix + at, expected, found };
    const hint = hintFor(err, value, rootSchema, prefix);
    if (hint !== undefined) problem.hint = hint;
    if (plugin !== undefined) problem.plugin = plugin;
    return problem;
  });
}
