/** Option parsing shared by the catalogue commands (`recordings`, `chats`). */
import { ErrorCodes, TaplineError } from '../../core/errors';

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

/** Options every catalogue command takes. */
export const CONFIG_OPTION = { flags: '-c, --config <file>', description: 'config file (default: searched from the current folder)' } as const;
export const DIR_OPTION = { flags: '--dir <folder>', description: DIR_HELP } as const;
