/**
 * The recorded users (requirements, "Users"): who holds the call-recording and the chat (text) recording licence,
 * which of up to three recorders records them, and their endpoint IP (0.0.0.0 = learn it). Configured in the
 * top-level `users` list and/or a `usersFile` (JSON or CSV), looked up by SIP URI: case-insensitive, the `sip:`
 * prefix optional, display names, angle brackets, URI parameters and ports ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes, TaplineError } from '../errors';
import { throwIfProblems, validatePluginOptions } from '../config/validate';
import type { TaplineConfig } from '../config/types';
import topSchema from '../../schema/tapline.schema.json';

export interface UserEntry {
  /** As configured ('sip:alice@example.com'). */
  uri: string;
  name?: string;
  /** Holds the call-recording licence. */
  call: boolean;
  /** Holds the chat (text) recording licence. */
  chat: boolean;
  /** Which recorder (1..3) records this user. */
  recorder?: number;
  /** '0.0.0.0' (or '::') means: learn it from the signalling. */
  endpointIp: string;
}

export type Licence = 'call' | 'chat';

/** The top-level config keys this module reads (schema/tapline.schema.json). */
export interface UsersConfig {
  users: UserEntry[];
  usersFile?: string;
  localDomains: string[];
}

/**
 * 'user@host' of a SIP URI, lower-cased, for comparing users: '"Alice" <SIP:Alice@Example.com:5061;transport=tls>'
 * and 'alice@example.com' give the same key. Other schemes keep theirs ('tel:+15551234'). Undefined for text
 * that is not a URI at all.
 */
export function userKey(uri: string): string | undefined {
  let s = uri.trim();
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt);
    s = s.slice(lt + 1, gt < 0 ? undefined : gt);
  }
  s = s.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(s);
  let prefix = '';
  if (scheme !== null) {
    const name = scheme[1]!.toLowerCase();
    s = s.slice(scheme[0].length);
    if (name !== 'sip' && name !== 'sips') prefix = `${name}:`;
  }
  // Parameters and headers end the user@host part (';' may not appear in a host; in a user part it is rare and
  // would be %-escaped by a well-formed client).
  const end = s.search(/[;?]/);
  if (end >= 0) s = s.slice(0, end);
  const at = s.lastIndexOf('@');
  if (at >= 0) {
    let user = s.slice(0, at);
    try {
      user = decodeURIComponent(user);
    } catch {
      // a lone '%': keep it as written
    }
    let host = s.slice(at + 1);
    // A port is not part of who the user is; an IPv6 host keeps its brackets.
    host = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
    s = `${user}@${host}`;
  }
  s = s.normalize('NFC').toLowerCase();
  if (s === '' || /\s/.test(s)) return undefined;
  return prefix + s;
}

/** A server application's GRUU (opaque=app:..., lync-protocols.md §7): a conference focus or MCU, not a person. */
export function isApplicationUri(uri: string): boolean {
  return /[;?]opaque=app:/i.test(uri);
}

/** The users, by URI. */
export class UserDirectory {
  private byKey = new Map<string, UserEntry>();
  private domains: readonly string[];

  constructor(entries: readonly UserEntry[] = [], localDomains: readonly string[] = [], sources: readonly string[] = []) {
    const firstAt = new Map<string, number>();
    entries.forEach((u, i) => {
      const key = userKey(u.uri);
      if (key === undefined) throw new TaplineError(ErrorCodes.CONFIG_INVALID, `user ${sources[i] ?? `#${i + 1}`}: "${u.uri}" is not a SIP URI`, { uri: u.uri });
      const prior = firstAt.get(key);
      if (prior !== undefined) {
        const first = sources[prior] ?? `#${prior + 1}`;
        throw new TaplineError(ErrorCodes.CONFIG_INVALID, `user ${key} is listed twice (${first} and ${sources[i] ?? `#${i + 1}`}); keep one entry per user`, { uri: key });
      }
      firstAt.set(key, i);
      this.byKey.set(key, Object.freeze({ ...u }));
    });
    this.domains = Object.freeze(localDomains.map((d) => d.toLowerCase()));
  }

  get localDomains(): readonly string[] {
    return this.domains;
  }

  /**
   * Takes another directory's users and domains (SIGHUP reload): everyone holding this object (policy, chat,
   * modes) sees the new list at once, and calls in progress keep the decision made when they started.
   */
  replaceWith(other: UserDirectory): void {
    this.byKey = other.byKey;
    this.domains = other.domains;
  }

  /** From the effective config (users, usersFile, localDomains); the file is read now, relative to configDir. */
  static fromConfig(config: TaplineConfig, configDir: string): UserDirectory {
    // The validated config holds these keys (schema defaults); TaplineConfig predates them.
    const c = config as TaplineConfig & Partial<UsersConfig>;
    const entries: UserEntry[] = [...(c.users ?? [])];
    const sources = entries.map((_, i) => `users[${i}]`);
    if (c.usersFile !== undefined) {
      const file = path.resolve(configDir, c.usersFile);
      const fromFile = readUsersFile(file);
      entries.push(...fromFile.users);
      sources.push(...fromFile.sources);
    }
    return new UserDirectory(entries, c.localDomains ?? [], sources);
  }

  get size(): number {
    return this.byKey.size;
  }

  all(): UserEntry[] {
    return [...this.byKey.values()];
  }

  /**
   * The user a URI names. An application endpoint's URI (a conference focus or MCU,
   * 'sip:organizer@domain;gruu;opaque=app:conf:audio-video:id:...') carries its organizer's user@host but is not
   * that user: it names nobody.
   */
  lookup(uri: string): UserEntry | undefined {
    if (isApplicationUri(uri)) return undefined;
    const key = userKey(uri);
    return key === undefined ? undefined : this.byKey.get(key);
  }

  has(uri: string, licence: Licence): boolean {
    return this.lookup(uri)?.[licence] === true;
  }

  /** The first URI (in the order given) whose user holds `licence`. */
  firstLicensed(uris: Iterable<string>, licence: Licence): UserEntry | undefined {
    for (const uri of uris) {
      const u = this.lookup(uri);
      if (u?.[licence] === true) return u;
    }
    return undefined;
  }

  /** True when the URI's domain is one of localDomains (false when none are configured). */
  isLocal(uri: string): boolean {
    const key = userKey(uri);
    if (key === undefined) return false;
    const host = key.slice(key.lastIndexOf('@') + 1);
    return this.localDomains.includes(host);
  }
}

const USER_LIST_SCHEMA = { type: 'array', items: topSchema.$defs.user } as const;

/** Reads a users file: JSON (array, or { users: [...] }) or CSV (header row). Entries are schema-checked, defaults filled. */
export function readUsersFile(file: string): { users: UserEntry[]; sources: string[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TaplineError(ErrorCodes.CONFIG_LOAD, `cannot read the users file ${file}: ${(e as Error).message}`, { file }, e);
  }
  text = text.replace(/^\uFEFF/, '');
  let list: unknown;
  let sources: string[];
  if (/\.json$/i.test(file) || /^\s*[[{]/.test(text)) {
    try {
      list = JSON.parse(text) as unknown;
    } catch (e) {
      throw new TaplineError(ErrorCodes.CONFIG_LOAD, `${file}: not valid JSON: ${(e as Error).message}`, { file });
    }
    if (list !== null && typeof list === 'object' && !Array.isArray(list) && 'users' in list) list = (list as { users: unknown }).users;
    sources = Array.isArray(list) ? list.map((_, i) => `${path.basename(file)}[${i}]`) : [];
  } else {
    const rows = parseUsersCsv(text, file);
    list = rows.map((r) => r.entry);
    sources = rows.map((r) => `${path.basename(file)} line ${r.line}`);
  }
  throwIfProblems(file, validatePluginOptions(USER_LIST_SCHEMA, list, '', 'users file'));
  return { users: list as UserEntry[], sources };
}

const CSV_COLUMNS: Record<string, keyof UserEntry> = { uri: 'uri', sipuri: 'uri', name: 'name', call: 'call', chat: 'chat', recorder: 'recorder', endpointip: 'endpointIp' };

/** CSV (RFC 4180 quoting, ',' or ';' separated, '#' comment lines) to user objects; values are typed, not validated. */
export function parseUsersCsv(text: string, file = 'users.csv'): Array<{ line: number; entry: Record<string, unknown> }> {
  const lines = text.split(/\r?\n/);
  let header: Array<keyof UserEntry | undefined> | undefined;
  let sep = ',';
  const out: Array<{ line: number; entry: Record<string, unknown> }> = [];
  lines.forEach((raw, i) => {
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    if (header === undefined) {
      sep = raw.includes(';') && !raw.includes(',') ? ';' : ',';
      header = splitCsvLine(raw, sep).map((h) => CSV_COLUMNS[h.trim().toLowerCase().replace(/[\s_-]/g, '')]);
      const unknown = splitCsvLine(raw, sep).filter((_, j) => header?.[j] === undefined);
      if (unknown.length > 0 || !header.includes('uri')) {
        throw new TaplineError(
          ErrorCodes.CONFIG_INVALID,
          `${file} line ${i + 1}: the header row must name the columns (uri, name, call, chat, recorder, endpointIp)${unknown.length > 0 ? `; unknown: ${unknown.join(', ')}` : '; "uri" is missing'}`,
          { file, line: i + 1 },
        );
      }
      return;
    }
    const cells = splitCsvLine(raw, sep);
    const entry: Record<string, unknown> = {};
    header.forEach((col, j) => {
      const v = (cells[j] ?? '').trim();
      if (col === undefined || v === '') return;
      entry[col] = col === 'call' || col === 'chat' ? csvBoolean(v) : col === 'recorder' ? (/^\d+$/.test(v) ? Number(v) : v) : v;
    });
    out.push({ line: i + 1, entry });
  });
  return out;
}

function csvBoolean(v: string): boolean | string {
  const s = v.toLowerCase();
  if (['true', 'yes', 'y', '1', 'x'].includes(s)) return true;
  if (['false', 'no', 'n', '0', '-'].includes(s)) return false;
  return v; // left for the schema to report
}

function splitCsvLine(line: string, sep: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"' && cur.trim() === '') {
      quoted = true;
      cur = '';
    } else if (ch === sep) {
      cells.push(cur);
      cur = '';
    } else cur += ch;
  }
  cells.push(cur);
  return cells;
}
