/**
 * Catalogue schema version 6: the recorder's folder as the spool of shared storage. `published` lists the
 * recordings uploaded to the bucket and catalogued in PostgreSQL that are still kept here (keepLocal, or a
 * `catalogue migrate` that copies); a recording not kept is taken out of this catalogue once published, with its
 * reason in `removals`. Pending = finished here and not published.
 */
export const SPOOL_MIGRATION = `
  CREATE TABLE published (
    recording_id TEXT PRIMARY KEY REFERENCES recordings(id) ON DELETE CASCADE,
    at TEXT NOT NULL,                  -- ISO 8601 UTC
    target TEXT NOT NULL               -- where: s3://bucket/prefix of its objects
  );
`;
