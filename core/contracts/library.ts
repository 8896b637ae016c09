/**
 * The recording library: what readers (the web app and its HTTP API, exports) need of a catalogue, whichever
 * storage plugin keeps it. A storage plugin contributes a LibraryProvider (Points.Library); readers open a library
 * from it, read-only, so a web process beside a running recorder never writes the recorder's files.
 */
import type { Readable } from 'node:stream';
import type { RecordingMetadata } from '../media/metadata';
import type { ChatTranscript } from '../contract';

export interface LibraryQuery {
  /** ISO date-times: recordings that started within [from, to). */
  from?: string;
  to?: string;
  /** Substring of a participant's URI or display name, ignoring case. */
  user?: string;
  /** Substring of the caller's or callee's URI (a phone number). */
  party?: string;
  direction?: string;
  disposition?: string;
  minDurationSec?: number;
  maxDurationSec?: number;
  /** An encoding name the call used ('PCMU'), ignoring case. */
  codec?: string;
  /** Every one of these metadata flags. */
  flags?: readonly string[];
  /** Only recordings of this call (its Call-ID, exactly): the parts one call left on several recorders (failover). */
  callId?: string;
  /** Only these recordings (a tag's, say). */
  ids?: readonly string[];
  /** Only recordings one of these users took part in (user keys as core/policy userKey gives them). */
  participants?: readonly string[];
  sort?: 'start' | 'duration';
  order?: 'asc' | 'desc';
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string;
}

export interface LibraryRow {
  id: string;
  callId: string;
  start: string;
  end?: string;
  durationSec?: number;
  from: string;
  fromName?: string;
  to: string;
  toName?: string;
  direction?: string;
  disposition: string;
  status: string;
  codecs: string[];
  flags: string[];
  /** Participant user keys (caller, callee, transfer targets). */
  participants: string[];
}

export interface LibraryPage<T> {
  items: T[];
  /** Cursor of the next page; absent on the last. */
  next?: string;
}

/** 'wav': 16-bit PCM WAV; 'ogg': Ogg Opus, what a browser plays from a small download. */
export type LibraryAudioFormat = 'wav' | 'ogg';

/** Audio bytes a reader can serve by range (HTTP Range). */
export interface LibraryAudio {
  contentType: string;
  size: number;
  /** Bytes [start, end] (inclusive). */
  read(start: number, end: number): Readable;
}

/** Per-channel peaks (0..1) at a fixed rate, so a page draws the waveform without the audio. */
export interface LibraryPeaks {
  peaksPerSec: number;
  durationSec: number;
  channels: number[][];
}

export interface LibraryChatRow {
  id: string;
  start: string;
  end?: string;
  participants: string[];
  messages: number;
}

export interface RecordingLibrary {
  search(q: LibraryQuery): Promise<LibraryPage<LibraryRow>>;
  get(id: string): Promise<{ row: LibraryRow; metadata: RecordingMetadata } | undefined>;
  /** The row alone (who took part, for an access check before every audio request), without the metadata. */
  row(id: string): Promise<LibraryRow | undefined>;
  /** Undefined when the recording has no audio, or none that can be given in this format. */
  audio(id: string, format: LibraryAudioFormat): Promise<LibraryAudio | undefined>;
  /** Which formats audio() can give, without making any (a page asks before it plays). */
  formats(id: string): Promise<Record<LibraryAudioFormat, boolean>>;
  peaks(id: string): Promise<LibraryPeaks | undefined>;
  /** A file kept beside the recording ('sip.txt'). */
  attachment(id: string, name: string): Promise<Buffer | undefined>;
  chats(q: Pick<LibraryQuery, 'from' | 'to' | 'user' | 'participants' | 'limit' | 'cursor'>): Promise<LibraryPage<LibraryChatRow>>;
  chat(id: string): Promise<{ row: LibraryChatRow; transcript: ChatTranscript } | undefined>;
  close(): Promise<void>;
}

/** What a storage plugin contributes: opens read-only libraries over its catalogue. */
export interface LibraryProvider {
  /** Where the catalogue is, for messages ('/var/lib/tapline/catalogue.sqlite', 'postgres://db/tapline'). */
  readonly describe: string;
  open(): Promise<RecordingLibrary>;
}
