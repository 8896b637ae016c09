/** Option parsing shared by the catalogue commands (`recordings`, `chats`). */
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { CommandOptionSpec } from '../../core/contract';

/** Options of `recordings list` and `chats list`. */
export interface CatalogueListOptions {
  from?: string;
  to?: string;
  user?: string;
  limit?: number;
  json?: boolean;
  config?: string;
  dir?: string;
}

export function parseLimit(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new TaplineError(ErrorCodes.USAGE, 'expected a whole number of at least 1');
  return n;
}

export const DIR_HELP = 'recordings folder (as given to `record --out`); its catalogue.sqlite is read instead of the configured one';

/** The options of a `list` command: a time range (`what` started then), a participant, a limit, JSON. */
export function listOptions(plural: string, what: string): CommandOptionSpec[] {
  return [
    { flags: '--from <date>', description: `${what} at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], optional Z or ±HH:MM)` },
    { flags: '--to <date>', description: `${what} before DATE (exclusive)` },
    { flags: '--user <text>', description: "a participant's URI or display name contains TEXT (case-insensitive)" },
    { flags: '--limit <n>', description: `at most N ${plural}`, parse: parseLimit, default: 100 },
    { flags: '--json', description: 'print the entries as JSON' },
    DIR_OPTION,
    CONFIG_OPTION,
  ];
}

/** Options every catalogue command takes. */
export const CONFIG_OPTION = { flags: '-c, --config <file>', description: 'config file (default: searched from the current folder)' } as const;
export const DIR_OPTION = { flags: '--dir <folder>', description: DIR_HELP } as const;
