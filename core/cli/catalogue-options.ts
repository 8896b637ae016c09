/** Option parsing shared by the catalogue commands (`recordings`, `chats`). */
import { InvalidArgumentError } from 'commander';

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
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

export const DIR_HELP = 'recordings folder (as given to `record --out`); its catalogue.sqlite is read instead of the configured one';
