/** Finds and reads the config file: lilconfig search, or an explicit --config path. */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { lilconfig, defaultLoaders, type Loader } from 'lilconfig';
import { ErrorCodes, TaplineError } from '../errors';
import type { LoadedConfig } from './types';
import { explainJsonError, stripBom } from './json-syntax';

export const SEARCH_PLACES = [
  'package.json',
  '.taplinerc',
  '.taplinerc.json',
  'tapline.config.json',
  'tapline.config.js',
  'tapline.config.cjs',
  'tapline.config.mjs',
];

/**
 * JSON (tapline.config.json, .taplinerc(.json), package.json): a BOM is allowed; a syntax error names the file,
 * line and column, says what is wrong (a trailing comma, a comment...) and shows the line with a caret.
 */
const jsonLoader: Loader = (filepath, content) => {
  const text = stripBom(content);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const at = explainJsonError(text, (e as Error).message);
    throw new TaplineError(ErrorCodes.CONFIG_LOAD, `${filepath}:${at.line}:${at.column}: not valid JSON: ${at.reason}\n${at.excerpt}`, {
      file: filepath,
      line: at.line,
      column: at.column,
      offset: at.offset,
      reason: at.reason,
    });
  }
};

const explorer = lilconfig('tapline', {
  cache: false, // a changed file must be read again (long-running service reloads, tests)
  searchPlaces: SEARCH_PLACES,
  loaders: { ...defaultLoaders, '.json': jsonLoader, noExt: jsonLoader },
});

/** ES module configs export their object as default; CommonJS ones as module.exports. */
function unwrapDefault(config: unknown): unknown {
  if (config !== null && typeof config === 'object' && 'default' in config && Object.keys(config).length === 1) {
    return (config as { default: unknown }).default;
  }
  return config;
}

export async function loadConfigFile(explicitPath?: string, cwd = process.cwd()): Promise<LoadedConfig> {
  if (explicitPath !== undefined) {
    const abs = path.resolve(cwd, explicitPath);
    if (!fs.existsSync(abs)) {
      throw new TaplineError(ErrorCodes.CONFIG_NOT_FOUND, `config file not found: ${abs}`, { file: abs });
    }
    const res = await wrapLoad(() => explorer.load(abs), abs);
    return { file: abs, dir: path.dirname(abs), raw: unwrapDefault(res?.config ?? {}) };
  }
  const res = await wrapLoad(() => explorer.search(cwd), cwd);
  if (res === null) return { dir: cwd, raw: {} };
  return { file: res.filepath, dir: path.dirname(res.filepath), raw: unwrapDefault(res.config ?? {}) };
}

async function wrapLoad<T>(fn: () => Promise<T>, where: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TaplineError) throw e;
    throw new TaplineError(ErrorCodes.CONFIG_LOAD, `cannot load config ${where}: ${(e as Error).message}`, { file: where }, e);
  }
}
