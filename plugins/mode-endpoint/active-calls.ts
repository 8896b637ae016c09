/** The calls each configured user is in right now, from the dialog tracker's start and end events. */
import type { DialogTracker } from '../../core/dialog/tracker';
import type { Call, Side } from '../../core/dialog/types';
import { userKey, type UserDirectory } from '../../core/policy/users';

export interface UserCall {
  call: Call;
  /** The side the user is on. */
  side: Side;
}

export class ActiveCalls {
  private readonly byUser = new Map<string, Set<Call>>();

  constructor(
    private readonly users: UserDirectory,
    dialogs: DialogTracker,
  ) {
    dialogs.on('callStart', (c) => this.add(c));
    dialogs.on('callEnd', (c) => this.remove(c));
  }

  /** The user's calls that have not ended, with the side the user is on (both sides when the user calls itself). */
  of(uri: string): UserCall[] {
    const user = this.users.lookup(uri);
    const set = user === undefined ? undefined : this.byUser.get(userKey(user.uri) as string);
    if (set === undefined) return [];
    const out: UserCall[] = [];
    for (const call of set) {
      if (call.state === 'terminated') continue;
      for (const side of ['caller', 'callee'] as const) if (this.users.lookup(call[side].uri) === user) out.push({ call, side });
    }
    return out;
  }

  private keys(call: Call): string[] {
    const out: string[] = [];
    for (const side of ['caller', 'callee'] as const) {
      const u = this.users.lookup(call[side].uri);
      const key = u === undefined ? undefined : userKey(u.uri);
      if (key !== undefined && !out.includes(key)) out.push(key);
    }
    return out;
  }

  private add(call: Call): void {
    for (const key of this.keys(call)) {
      let set = this.byUser.get(key);
      if (set === undefined) {
        set = new Set();
        this.byUser.set(key, set);
      }
      set.add(call);
    }
  }

  private remove(call: Call): void {
    for (const key of this.keys(call)) {
      const set = this.byUser.get(key);
      set?.delete(call);
      if (set?.size === 0) this.byUser.delete(key);
    }
  }
}
