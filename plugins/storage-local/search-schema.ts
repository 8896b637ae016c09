/**
 * Catalogue schema version 5: participant search by substring through an index. `--user alice` used to fold and
 * scan every participant row (a JavaScript call per row: seconds at a million recordings); an FTS5 trigram index
 * over the folded URI and name answers substrings of three characters or more from the index (shorter ones still
 * scan). Triggers keep it in step with `participants`, including rows a deleted recording cascades away.
 * tl_fold() (case and width folding, catalogue.ts) must be registered on the connection that writes.
 */
export const SEARCH_MIGRATION = `
  CREATE VIRTUAL TABLE participants_fts USING fts5(uri, name, tokenize = 'trigram');
  INSERT INTO participants_fts (rowid, uri, name) SELECT id, tl_fold(uri), tl_fold(coalesce(name, '')) FROM participants;
  CREATE TRIGGER participants_fts_insert AFTER INSERT ON participants BEGIN
    INSERT INTO participants_fts (rowid, uri, name) VALUES (new.id, tl_fold(new.uri), tl_fold(coalesce(new.name, '')));
  END;
  CREATE TRIGGER participants_fts_delete AFTER DELETE ON participants BEGIN
    DELETE FROM participants_fts WHERE rowid = old.id;
  END;`;

/** Shortest folded text the trigram index answers. */
export const MIN_INDEXED_CHARS = 3;

/** An FTS5 query for `folded` as one literal substring (a phrase, quotes doubled). */
export function substringQuery(folded: string): string {
  return `"${folded.replace(/"/g, '""')}"`;
}
