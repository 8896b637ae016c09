/**
 * Recorded users edited from the admin page: kept in the config's `usersFile` (JSON), and handed to the running
 * recorder's UserDirectory at once (replaceWith: calls in progress keep the decision made when they started).
 * Users listed in the config file itself are read-only here: the config is the operator's, not the app's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaplineConfig } from '../../core/config/types';
import { readUsersFile, userKey, UserDirectory, type UserEntry } from '../../core/policy/users';

interface UsersConfigView {
  users?: UserEntry[];
  usersFile?: string;
  localDomains?: string[];
}

export class UsersEditor {
  constructor(
    private readonly config: TaplineConfig,
    private readonly configDir: string,
    private readonly directory: UserDirectory,
  ) {}

  private get view(): UsersConfigView {
    return this.config as TaplineConfig & UsersConfigView;
  }

  /** The JSON users file edits go to, or why there is none. */
  editableFile(): { file: string } | { why: string } {
    const f = this.view.usersFile;
    if (f === undefined) return { why: 'the config has no usersFile: set usersFile to a .json file to edit users here' };
    if (!/\.json$/i.test(f)) return { why: `the users file ${f} is CSV: edit it, or point usersFile at a .json file to edit users here` };
    return { file: path.resolve(this.configDir, f) };
  }

  /** Whether a user comes from the config itself (read-only). */
  fromConfig(uri: string): boolean {
    const k = userKey(uri);
    return (this.view.users ?? []).some((u) => userKey(u.uri) === k);
  }

  /** Adds or replaces a user in the users file, then the running directory. Throws with the reason it cannot. */
  save(u: UserEntry): void {
    const target = this.editableFile();
    if ('why' in target) throw new Error(target.why);
    if (this.fromConfig(u.uri)) throw new Error(`${u.uri} is listed in the config file itself; change it there`);
    const list = this.fileUsers(target.file).filter((x) => userKey(x.uri) !== userKey(u.uri));
    list.push(u);
    this.write(target.file, list);
  }

  remove(uri: string): boolean {
    const target = this.editableFile();
    if ('why' in target) throw new Error(target.why);
    if (this.fromConfig(uri)) throw new Error(`${uri} is listed in the config file itself; change it there`);
    const before = this.fileUsers(target.file);
    const list = before.filter((x) => userKey(x.uri) !== userKey(uri));
    if (list.length === before.length) return false;
    this.write(target.file, list);
    return true;
  }

  private fileUsers(file: string): UserEntry[] {
    return fs.existsSync(file) ? readUsersFile(file).users : [];
  }

  private write(file: string, list: UserEntry[]): void {
    // Checked as a whole before anything is written: a bad entry leaves file and recorder as they were.
    const next = new UserDirectory([...(this.view.users ?? []), ...list], this.view.localDomains ?? []);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ users: list }, null, 2) + '\n');
    fs.renameSync(tmp, file);
    this.directory.replaceWith(next);
  }
}
