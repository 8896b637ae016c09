/**
 * Catalogue schema version 2: chat transcripts beside the recordings, searchable by time and participant, and the
 * recordings' Ms-Conversation-ID so a chat and the calls of the same conversation find each other.
 */
export const TRANSCRIPTS_MIGRATION = `
  ALTER TABLE recordings ADD COLUMN conversation_id TEXT;
  CREATE INDEX recordings_conversation ON recordings(conversation_id) WHERE conversation_id IS NOT NULL;
  CREATE TABLE transcripts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                -- 'im' | 'multiparty'
    call_id TEXT NOT NULL,
    conversation_id TEXT,
    start TEXT NOT NULL,               -- first message, ISO 8601 UTC
    "end" TEXT NOT NULL,
    duration_sec REAL NOT NULL,
    messages INTEGER NOT NULL,
    kept_for TEXT NOT NULL,            -- the licensed user's URI, or 'recordAll'
    dir TEXT NOT NULL,
    transcript TEXT NOT NULL,          -- transcript.json
    html TEXT,
    text TEXT
  );
  CREATE INDEX transcripts_start ON transcripts(start);
  CREATE INDEX transcripts_conversation ON transcripts(conversation_id) WHERE conversation_id IS NOT NULL;
  CREATE TABLE transcript_participants (
    id INTEGER PRIMARY KEY,
    transcript_id TEXT NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    uri TEXT NOT NULL,
    name TEXT,
    role TEXT NOT NULL
  );
  CREATE INDEX transcript_participants_uri ON transcript_participants(uri);
  CREATE INDEX transcript_participants_transcript ON transcript_participants(transcript_id);`;
