/** Waiting for a recorder process to finish recordings, as an end-to-end test reads them: from its catalogue. */
import * as path from 'node:path';
import type { CatalogueEntry } from '../core/contract';
import { LocalStore } from '../plugins/storage-local/store';
import { sleep } from './peers/proc';

/**
 * The folder's store, once `complete` recordings number at least `n` (or after `timeoutMs`, whatever is there):
 * the caller reads entries and metadata, then closes it (store.closeCatalogue()).
 */
export async function storeWithComplete(root: string, n: number, timeoutMs = 10_000): Promise<{ store: LocalStore; entries: CatalogueEntry[] }> {
  const store = new LocalStore({ root, catalogue: path.join(root, 'catalogue.sqlite'), layout: 'date' });
  let entries = store.list({});
  for (const t0 = Date.now(); entries.filter((e) => e.status === 'complete').length < n && Date.now() - t0 < timeoutMs; entries = store.list({})) await sleep(100);
  return { store, entries };
}
