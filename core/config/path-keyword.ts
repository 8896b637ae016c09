/**
 * `"x-tapline-path"`: a JSON Schema annotation any schema (the top level's, any plugin's) puts on a string
 * that names a file or folder, so the files a config names are checked in the same pass as the rest of it:
 *
 *   "usersFile": { "type": "string", "x-tapline-path": "file" }
 *
 * Relative paths resolve against the config file's folder (the base passed to validation). The check runs as an
 * ajv keyword, so it sees the value after defaults are applied and obeys anyOf/oneOf like any other keyword.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FuncKeywordDefinition, SchemaValidateFunction } from 'ajv';

export const PATH_KEYWORD = 'x-tapline-path';

/** What the named path must be, phrased as what the plugin does with it. */
export const PATH_KINDS = {
  /** Read: an existing, readable file. */
  file: 'an existing, readable file',
  /** Read: an existing, readable folder. */
  dir: 'an existing, readable folder',
  /** Written: a folder, created (with its parents) when missing. */
  'creatable-dir': 'a folder that exists or can be created',
  /** Written: a file whose folder must already exist (the writer does not create it). */
  'parent-dir': 'a file in an existing folder',
  /** Written: a file whose folder is created when missing. */
  'creatable-parent-dir': 'a file whose folder exists or can be created',
} as const;

export type PathKind = keyof typeof PATH_KINDS;

/** The `this` of a validation call (ajv passContext): where relative paths start. No context = no path checks. */
export interface PathCheckContext {
  baseDir: string;
}

/** Error params the keyword reports (ajv ErrorObject.params). */
export interface PathErrorParams {
  kind: PathKind;
  /** The absolute path that was checked. */
  resolved: string;
  /** What is wrong with it: 'no such file', 'a folder, not a file'... */
  reason: string;
}

type Stat = fs.Stats | undefined;

function statOf(p: string): Stat {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function canAccess(p: string, mode: number): boolean {
  try {
    fs.accessSync(p, mode);
    return true;
  } catch {
    return false;
  }
}

/** Why a folder that does not exist yet could not be created, or undefined if it could. */
function whyNotCreatable(dir: string): string | undefined {
  let cur = dir;
  for (;;) {
    const parent = path.dirname(cur);
    const st = statOf(parent);
    if (st !== undefined) {
      if (!st.isDirectory()) return `${parent} is a file, so the folder cannot be created`;
      if (!canAccess(parent, fs.constants.W_OK | fs.constants.X_OK)) return `${parent} is not writable, so the folder cannot be created`;
      return undefined;
    }
    if (parent === cur) return `no part of ${dir} exists`;
    cur = parent;
  }
}

/**
 * What is wrong with `abs` for `kind`, or undefined when it is fine. Things read must be readable; write permission
 * of existing paths is not checked, because read-only commands (`recordings list` as another user) prepare the
 * same config: only a folder that must be created needs a writable parent.
 */
export function checkPath(kind: PathKind, abs: string): string | undefined {
  const st = statOf(abs);
  switch (kind) {
    case 'file':
      if (st === undefined) return 'no such file';
      if (st.isDirectory()) return 'a folder, not a file';
      if (!canAccess(abs, fs.constants.R_OK)) return 'not readable (permission denied)';
      return undefined;
    case 'dir':
      if (st === undefined) return 'no such folder';
      if (!st.isDirectory()) return 'a file, not a folder';
      if (!canAccess(abs, fs.constants.R_OK | fs.constants.X_OK)) return 'not readable (permission denied)';
      return undefined;
    case 'creatable-dir':
      if (st === undefined) return whyNotCreatable(abs);
      return st.isDirectory() ? undefined : 'a file, not a folder';
    case 'parent-dir':
    case 'creatable-parent-dir': {
      if (st?.isDirectory()) return 'a folder, not a file';
      const parent = path.dirname(abs);
      const pst = statOf(parent);
      if (pst === undefined) return kind === 'parent-dir' ? `its folder ${parent} does not exist` : whyNotCreatable(parent);
      return pst.isDirectory() ? undefined : `${parent} is a file, not a folder`;
    }
  }
}

const validatePath: SchemaValidateFunction = function (this: PathCheckContext | undefined, kind: PathKind, data: unknown): boolean {
  validatePath.errors = undefined;
  if (typeof data !== 'string' || data === '' || typeof this?.baseDir !== 'string') return true;
  const resolved = path.resolve(this.baseDir, data);
  let reason = checkPath(kind, resolved);
  if (reason === undefined) return true;
  // A shell would expand "~"; Node does not, and the resulting path is rarely what was meant.
  if (/^~[/\\]/.test(data)) reason += '; "~" is not expanded: write the full path';
  const params: PathErrorParams = { kind, resolved, reason };
  validatePath.errors = [{ keyword: PATH_KEYWORD, message: `must be ${PATH_KINDS[kind]} (${reason})`, params: { ...params } }];
  return false;
};

/** Register with ajv (`new Ajv({ passContext: true })`); a schema with an unknown kind fails to compile. */
export const pathKeyword: FuncKeywordDefinition = {
  keyword: PATH_KEYWORD,
  type: 'string',
  schemaType: 'string',
  metaSchema: { enum: Object.keys(PATH_KINDS) },
  errors: true,
  validate: validatePath,
};
