/**
 * Validates configuration with ajv (JSON Schema 2020-12): the top-level schema, then each enabled plugin's
 * options against that plugin's own schema. Defaults are written in; every error is collected, none hidden.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ErrorCodes, TaplineError } from '../errors';
import type { JsonSchema } from '../contract';
import topSchema from '../../schema/tapline.schema.json';

export interface ConfigProblem {
  /** JSON Pointer into the config file ('/plugins/1/options/port'). */
  path: string;
  /** What the schema expected. */
  expected: string;
  /** What the file holds there (JSON, shortened). */
  found: string;
  /** The plugin whose schema raised it, if any. */
  plugin?: string;
}

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
addFormats(ajv);
const validateTop = ajv.compile(topSchema);
const pluginValidators = new WeakMap<object, ValidateFunction>();

function describeFound(root: unknown, pointer: string): string {
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return 'nothing';
    cur = (cur as Record<string, unknown>)[key];
  }
  if (cur === undefined) return 'nothing';
  const text = JSON.stringify(cur);
  return text.length > 60 ? text.slice(0, 57) + '...' : text;
}

function expectedOf(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return `no property "${String(p.additionalProperty)}" (not a known setting)`;
    case 'required':
      return `property "${String(p.missingProperty)}"`;
    case 'enum':
      return `one of ${JSON.stringify(p.allowedValues)}`;
    case 'type':
      return `${String(p.type)}`;
    default:
      return err.message ?? err.keyword;
  }
}

function toProblems(errors: ErrorObject[] | null | undefined, data: unknown, prefix: string, plugin?: string): ConfigProblem[] {
  return (errors ?? []).map((err) => {
    const p = err.params as Record<string, unknown>;
    const at = err.keyword === 'additionalProperties' ? `${err.instancePath}/${String(p.additionalProperty)}` : err.instancePath;
    const problem: ConfigProblem = {
      path: prefix + (err.instancePath || ''),
      expected: expectedOf(err),
      found: describeFound(data, at),
    };
    if (plugin !== undefined) problem.plugin = plugin;
    return problem;
  });
}

/** Validate the top level, writing defaults in place. */
export function validateTopLevel(config: unknown): ConfigProblem[] {
  return validateTop(config) ? [] : toProblems(validateTop.errors, config, '');
}

/** Validate one plugin's options (defaults written in place), reporting paths from the config root. */
export function validatePluginOptions(schema: JsonSchema, options: unknown, pointer: string, plugin: string): ConfigProblem[] {
  let fn = pluginValidators.get(schema);
  if (fn === undefined) {
    try {
      fn = ajv.compile(schema);
    } catch (e) {
      throw new TaplineError(ErrorCodes.PLUGIN_MANIFEST, `plugin ${plugin}: its options schema does not compile: ${(e as Error).message}`, { plugin });
    }
    pluginValidators.set(schema, fn);
  }
  return fn(options) ? [] : toProblems(fn.errors, options, pointer, plugin);
}

export function formatProblems(file: string | undefined, problems: ConfigProblem[]): string {
  const where = file ?? '(built-in defaults)';
  const lines = problems.map(
    (p) => `  ${p.path || '/'}: expected ${p.expected}; found ${p.found}${p.plugin ? ` (schema of ${p.plugin})` : ''}`,
  );
  return `invalid configuration in ${where}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}`;
}

export function throwIfProblems(file: string | undefined, problems: ConfigProblem[]): void {
  if (problems.length === 0) return;
  throw new TaplineError(ErrorCodes.CONFIG_INVALID, formatProblems(file, problems), { file, problems });
}
