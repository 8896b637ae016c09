/**
 * Catalogue schema version 3: what identifies a call's recording, and what proves its files unaltered.
 * - `call_key`: a hash of Call-ID, both tags, the call's start and the recorder. The same capture recorded again
 *   gives the same keys, so the new recording replaces the old one instead of listing the call twice.
 * - `objects`: the SHA-256 and size of each finished file of a recording (audio, attachments), hashed when the
 *   recording closed; `tapline verify` checks files against it, daily manifests list it chained day to day.
 * - `manifests`: the hash of each day's manifest file, so the newest link of the chain is held in two places.
 * - `removals`: files taken out on purpose (a recording replaced by a new recording of the same call), so a
 *   manifest that lists them can tell a deletion it knows of from tampering.
 */
import { createHash } from 'node:crypto';
import type { RecordingMetadata } from '../../core/media/metadata';

export const IDENTITY_MIGRATION = `
  ALTER TABLE recordings ADD COLUMN call_key TEXT;
  CREATE INDEX recordings_call_key ON recordings(call_key) WHERE call_key IS NOT NULL;
  CREATE TABLE objects (
    recording_id TEXT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    name TEXT NOT NULL,                -- a file of the recording's folder
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,              -- lowercase hex
    finished TEXT NOT NULL,            -- when it was hashed, ISO 8601 UTC: the day whose manifest lists it
    PRIMARY KEY (recording_id, name)
  );
  CREATE INDEX objects_finished ON objects(finished);
  CREATE TABLE removals (
    recording_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    removed TEXT NOT NULL,             -- ISO 8601 UTC
    reason TEXT NOT NULL,
    PRIMARY KEY (recording_id, name)
  );
  CREATE TABLE manifests (
    day TEXT PRIMARY KEY,              -- YYYY-MM-DD (UTC): the objects hashed that day
    sha256 TEXT NOT NULL,              -- of the manifest file's bytes: the chain's anchor outside the files
    objects INTEGER NOT NULL,
    written TEXT NOT NULL
  );`;

/**
 * The identity of a recording of a call: Call-ID, From and To tags, the call's start (capture time, so the same
 * capture gives the same start) and the recorder. Two recorders recording the same call keep two recordings.
 */
export function callKey(meta: RecordingMetadata): string {
  const c = meta.call;
  return createHash('sha256')
    .update(JSON.stringify([c.callId, c.from.tag ?? '', c.to.tag ?? '', c.start, meta.recorder ?? 1]))
    .digest('hex');
}
