/** The local-disk RecordingStore: a folder per recording (date layout), metadata.json beside the audio, a SQLite catalogue. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  CatalogueEntry,
  CatalogueQuery,
  ChatTranscript,
  Counters,
  Logger,
  RecordingFiles,
  RecordingStart,
  RecordingStore,
  TranscriptEntry,
  TranscriptFiles,
  TranscriptRenderings,
  TranscriptStore,
} from '../../core/contract';
import type { RecordingMetadata } from '../../core/media/metadata';
import { Catalogue, updateFromMetadata } from './catalogue';
import { recordingDir, type Layout } from './paths';
import { ownerTag, readMetadata, recoverRecordings, writeJsonAtomic } from './recover';
import { getTranscript, listTranscripts, saveTranscript } from './transcripts';

export interface LocalStoreOptions {
  /** Absolute folder the recordings go under. */
  root: string;
  /** Absolute path of the SQLite catalogue. */
  catalogue: string;
  layout: Layout;
  log?: Logger;
  counters?: Counters;
}

export class LocalStore implements RecordingStore, TranscriptStore {
  private cat: Catalogue | undefined;
  /** Recordings begun by this store and not yet done: their files, without a catalogue read per update. */
  private readonly active = new Map<string, RecordingFiles>();
  private readonly owner = ownerTag();

  constructor(readonly opts: LocalStoreOptions) {}

  /** Opens the catalogue (creating folders and schema); called by start(), or lazily on first use. */
  open(): Catalogue {
    if (this.cat === undefined || !this.cat.isOpen) {
      fs.mkdirSync(this.opts.root, { recursive: true });
      this.cat = Catalogue.open(this.opts.catalogue);
    }
    return this.cat;
  }

  begin(info: RecordingStart): RecordingFiles {
    const cat = this.open();
    const dir = recordingDir(this.opts.root, this.opts.layout, info.start, info.callId, info.id);
    fs.mkdirSync(dir, { recursive: true });
    const files: RecordingFiles = { dir, audio: path.join(dir, 'audio.wav'), metadata: path.join(dir, 'metadata.json') };
    cat.insert({
      id: info.id,
      callId: info.callId,
      start: new Date(Math.floor(info.start / 1000)).toISOString(),
      fromUri: info.from,
      toUri: info.to,
      disposition: '',
      status: 'recording',
      dir,
      audio: files.audio,
      metadata: files.metadata,
      owner: this.owner,
      participants: [
        { uri: info.from, role: 'caller' },
        { uri: info.to, role: 'callee' },
      ],
    });
    this.active.set(info.id, files);
    this.opts.counters?.inc('begun');
    return files;
  }

  update(meta: RecordingMetadata, done: boolean): void {
    const cat = this.open();
    const files = this.active.get(meta.id) ?? cat.record(meta.id);
    if (files === undefined) throw new Error(`storage-local: update for recording ${meta.id}, which was never begun`);
    // A finished recording is complete even if the caller forgot to say so; a recovered one stays recovered.
    const final: RecordingMetadata = done && meta.status === 'recording' ? { ...meta, status: 'complete' } : meta;
    // fsync only the final write: a process crash cannot tear a rename; a power cut may cost a refresh, not the file.
    writeJsonAtomic(files.metadata, final, done);
    // No audio file once done without one (no media seen); while running, the file the core will write.
    const update = updateFromMetadata(final, final.audio?.file ?? (done ? undefined : files.audio));
    if (!cat.update(meta.id, update)) throw new Error(`storage-local: recording ${meta.id} is not in the catalogue ${cat.file}`);
    if (done) {
      this.active.delete(meta.id);
      this.opts.counters?.inc('completed');
    }
  }

  recover(): string[] {
    const res = recoverRecordings(this.open(), { root: this.opts.root, skip: new Set(this.active.keys()), ...(this.opts.log ? { log: this.opts.log } : {}) });
    if (res.recovered.length > 0) this.opts.counters?.inc('recovered', res.recovered.length);
    if (res.recatalogued.length > 0) this.opts.counters?.inc('recatalogued', res.recatalogued.length);
    return res.recovered;
  }

  list(q: CatalogueQuery): CatalogueEntry[] {
    return this.open().list(q);
  }

  get(id: string): { entry: CatalogueEntry; metadata: RecordingMetadata } | undefined {
    const entry = this.open().get(id);
    if (entry === undefined) return undefined;
    return { entry, metadata: readMetadata(entry.metadata) };
  }

  saveTranscript(t: ChatTranscript, renderings: TranscriptRenderings): TranscriptFiles {
    const files = saveTranscript(this.open(), this.opts.root, this.opts.layout, t, renderings);
    this.opts.counters?.inc('transcripts');
    return files;
  }

  listTranscripts(q: CatalogueQuery): TranscriptEntry[] {
    return listTranscripts(this.open(), q);
  }

  getTranscript(id: string): { entry: TranscriptEntry; transcript: ChatTranscript; linkedRecordings: CatalogueEntry[] } | undefined {
    return getTranscript(this.open(), id);
  }

  /** Idempotent; a later call reopens lazily. */
  close(): void {
    this.cat?.close();
    this.cat = undefined;
  }
}
