/**
 * Validates configuration with ajv (JSON Schema 2020-12): the top-level schema, and each enabled plugin's
 * options against that plugin's own schema. Defaults are written in; every error is collected, none hidden.
 * With a base folder, strings marked "x-tapline-path" are checked on disk in the same pass (path-keyword.ts).
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ErrorCodes, TaplineError } from '../errors';
import type { JsonSchema } from '../contract';
import topSchema from '../../schema/tapline.schema.json';
import opsSchema from '../../schema/defs/ops.json';
import logSchema from '../../schema/defs/log.json';
import { pathKeyword, type PathCheckContext } from './path-keyword';
import { toProblems } from './schema-problems';
import type { ConfigProblem } from './problems';

export { configInvalidError, formatProblem, formatProblems, inDocumentOrder, throwIfProblems, type ConfigProblem } from './problems';

// verbose: errors carry their parentSchema (the allowed keys, for "did you mean"); passContext: the path keyword
// gets the config folder as `this`.
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false, verbose: true, passContext: true });
addFormats(ajv);
ajv.addKeyword(pathKeyword);
// Fragments the top-level schema refers to by $id (kept beside the code that owns them).
ajv.addSchema(opsSchema);
ajv.addSchema(logSchema);
const validateTop = ajv.compile(topSchema);
const pluginValidators = new WeakMap<object, ValidateFunction>();

function run(fn: ValidateFunction, data: unknown, baseDir: string | undefined): boolean {
  const ctx: PathCheckContext | undefined = baseDir === undefined ? undefined : { baseDir };
  return fn.call(ctx, data) as boolean;
}

/** Validate the top level, writing defaults in place. Paths are checked against `baseDir` when given. */
export function validateTopLevel(config: unknown, baseDir?: string): ConfigProblem[] {
  return run(validateTop, config, baseDir) ? [] : toProblems(validateTop.errors, config, '', topSchema);
}

/** Compiles (once per schema object) a plugin's options schema; PLUGIN_MANIFEST if it is not a valid schema. */
export function compilePluginSchema(schema: JsonSchema, plugin: string): ValidateFunction {
  let fn = pluginValidators.get(schema);
  if (fn === undefined) {
    try {
      fn = ajv.compile(schema);
    } catch (e) {
      throw new TaplineError(ErrorCodes.PLUGIN_MANIFEST, `plugin ${plugin}: its options schema does not compile: ${(e as Error).message}`, { plugin });
    }
    pluginValidators.set(schema, fn);
  }
  return fn;
}

/**
 * Validate one plugin's options (defaults written in place), reporting paths from the config root (`pointer` is
 * where the options are). Paths marked "x-tapline-path" are checked against `baseDir` when given.
 */
export function validatePluginOptions(schema: JsonSchema, options: unknown, pointer: string, plugin: string, baseDir?: string): ConfigProblem[] {
  const fn = compilePluginSchema(schema, plugin);
  return run(fn, options, baseDir) ? [] : toProblems(fn.errors, options, pointer, schema, plugin);
}
