/**
 * The local-disk recording sink: a folder per recording (date layout) holding the audio as a crash-safe WAV, the
 * metadata.json beside it and any attachments, and a SQLite catalogue. Everything the core sends arrives through
 * the sink queue, asynchronously: file writes go through libuv's thread pool, never blocking capture.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  Metrics,
  AudioEncoderProvider,
  AudioFormat,
  CatalogueEntry,
  CatalogueQuery,
  ChatTranscript,
  Counters,
  Logger,
  RecordingLocation,
  RecordingSink,
  RecordingStart,
  TranscriptEntry,
  TranscriptFiles,
  TranscriptRenderings,
  TranscriptStore,
} from '../../core/contract';
import type { RecordingMetadata } from '../../core/media/metadata';
import { PeakAccumulator, PEAKS_FILE } from './peaks';
import { Catalogue, updateFromMetadata } from './catalogue';
import { recordingDir, type Layout } from './paths';
import { ownerTag, readMetadata, recoverRecordings, writeJsonAtomicAsync } from './recover';
import { getTranscript, listTranscripts, saveTranscript } from './transcripts';
import { WavFileWriter } from './wav';
import { ENC_SUFFIX, ENCRYPTED_FORMAT, EncryptedAudioWriter } from './encrypted-audio';
import { OGG_OPUS_FILE, OGG_OPUS_FORMAT, OggOpusWriter } from './ogg-opus';
import { codingFor, type SampleCoding } from './sample-coding';
import type { Publisher, SharedOptions } from './publisher';
import { StaticKeyProvider, type KeyProvider, type KeySource } from './key-provider';
import { callKey } from './identity-schema';
import { applyRetention, type RetentionOptions } from './retention';
import { deleteRecording, hashRecordingFiles, sameCall, saveObjects, setCallKey, writeDueManifests } from './integrity';

export interface LocalStoreOptions {
  /** Absolute folder the recordings go under. */
  root: string;
  /** Absolute path of the SQLite catalogue. */
  catalogue: string;
  layout: Layout;
  log?: Logger;
  counters?: Counters;
  /** Retention rules applied once a day (none: everything is kept). */
  retention?: RetentionOptions;
  /** Audio encrypted at rest with these master keys (the first wraps new recordings; the others only unwrap). */
  encryption?: EncryptionOptions;
  /** How audio is stored (default: 16-bit PCM WAV). */
  audio?: AudioStorageOptions;
  /** The audio encoders codec plugins contribute (resolved when a recording needs one). */
  encoders?: () => readonly AudioEncoderProvider[];
  /** Shared storage (PostgreSQL catalogue, S3 bucket): this folder is then the spool of its uploads. */
  shared?: SharedOptions;
  metrics?: Metrics;
}

export interface AudioStorageOptions {
  /**
   * 'wav': 16-bit PCM at the call's rate; 'g711': a G.711 call's µ-law or A-law kept as received (other calls as
   * 'wav'); 'opus': Ogg Opus archives (needs the Opus plugin's encoder).
   */
  format: 'wav' | 'g711' | 'opus';
  /** Ogg Opus bits per second (default 24 kbit/s a channel). */
  opusBitrate?: number;
}

export interface EncryptionOptions {
  key: KeySource;
  previousKeys?: KeySource[];
}

/** Where a recording's files are. */
export interface RecordingFiles {
  dir: string;
  audio: string;
  metadata: string;
}

const AUDIO_FILE = 'audio.wav';
const METADATA_FILE = 'metadata.json';
/** Attachment names the core uses are plain file names. */
const ATTACHMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface Active {
  files: RecordingFiles;
  wav?: WavFileWriter | EncryptedAudioWriter | OggOpusWriter;
  /** What the audio was written as, when it differs from what locate() foretold (G.711 kept, Opus fallen back). */
  stored?: { file: string; format: string };
  peaks?: PeakAccumulator;
}

/**
 * Ogg Opus bits per second a channel unless configured. libopus's own choice for 8 kHz stereo (~19 kbit/s) kept the
 * caller of a real call at r=0.84 against the PCM recording; 24 kbit/s a channel keeps speech at r ≥ 0.99 and is
 * still a fifth of 8 kHz PCM (measured in test/e2e/storage-formats.test.ts).
 */
const OPUS_BITRATE_PER_CHANNEL = 24_000;

/** metadata.audio.format of each sample coding (encrypted: with '+aes-256-gcm'). */
const CODING_FORMAT: Readonly<Record<SampleCoding, string>> = { pcm16: 'wav', ulaw: 'wav/ulaw', alaw: 'wav/alaw' };

export class LocalStore implements RecordingSink, TranscriptStore {
  private cat: Catalogue | undefined;
  /** Recordings opened by this store and not yet closed. */
  private readonly active = new Map<string, Active>();
  private readonly owner = ownerTag();
  /** The UTC day manifests were last brought up to date. */
  private manifestDay: string | undefined;
  private daily: Promise<void> | undefined;

  /** Recordings closed but not yet hashed and catalogued as finished: not for the publisher yet. */
  private readonly sealing = new Set<string>();
  private publisher: Publisher | undefined;

  /** Master keys when audio is encrypted at rest (read at construction: a missing key is a start-up error). */
  private readonly keys: KeyProvider | undefined;

  constructor(readonly opts: LocalStoreOptions) {
    const e = opts.encryption;
    this.keys = e === undefined ? undefined : StaticKeyProvider.fromSources(e.key, e.previousKeys ?? []);
  }

  private get audioFormat(): AudioStorageOptions['format'] {
    return this.opts.audio?.format ?? 'wav';
  }

  /** The Opus encoder, or why there is none (checked at start: a config asking for Opus without the plugin is refused). */
  opusEncoder(): { provider: AudioEncoderProvider } | { missing: string } {
    const p = (this.opts.encoders?.() ?? []).find((x) => x.format === 'opus');
    if (p === undefined) return { missing: "no plugin offers an Opus encoder: add { \"use\": \"@tapline/codec-opus\" } to plugins" };
    if (p.unavailableReason !== undefined) return { missing: p.unavailableReason };
    return { provider: p };
  }

  /** Opens the catalogue (creating folders and schema); called by start(), or lazily on first use. */
  openCatalogue(): Catalogue {
    if (this.cat === undefined || !this.cat.isOpen) {
      fs.mkdirSync(this.opts.root, { recursive: true });
      this.cat = Catalogue.open(this.opts.catalogue);
      this.manifestsDue(new Date().toISOString());
    }
    return this.cat;
  }

  filesOf(start: RecordingStart): RecordingFiles {
    const dir = recordingDir(this.opts.root, this.opts.layout, start.start, start.callId, start.id);
    const audio = (this.audioFormat === 'opus' ? OGG_OPUS_FILE : AUDIO_FILE) + (this.keys !== undefined ? ENC_SUFFIX : '');
    return { dir, audio: path.join(dir, audio), metadata: path.join(dir, METADATA_FILE) };
  }

  locate(start: RecordingStart): RecordingLocation {
    const f = this.filesOf(start);
    const enc = this.keys !== undefined ? '+aes-256-gcm' : '';
    return { base: f.dir, audio: f.audio, format: this.audioFormat === 'opus' ? OGG_OPUS_FORMAT + enc : `wav${enc}` };
  }

  async open(start: RecordingStart): Promise<void> {
    const cat = this.openCatalogue();
    const files = this.filesOf(start);
    await fs.promises.mkdir(files.dir, { recursive: true });
    // The entry is the record of a running call: what a crash recovery starts from.
    await cat.grouped(() => cat.insert({
      id: start.id,
      callId: start.callId,
      start: new Date(Math.floor(start.start / 1000)).toISOString(),
      fromUri: start.from,
      toUri: start.to,
      disposition: '',
      status: 'recording',
      dir: files.dir,
      audio: files.audio,
      metadata: files.metadata,
      owner: this.owner,
      participants: [
        { uri: start.from, role: 'caller' },
        { uri: start.to, role: 'callee' },
      ],
    }));
    this.active.set(start.id, { files });
    this.opts.counters?.inc('begun');
  }

  private activeOf(id: string): Active {
    const a = this.active.get(id);
    if (a === undefined) throw new Error(`storage-local: recording ${id} was never opened (or is closed)`);
    return a;
  }

  async openAudio(id: string, format: AudioFormat): Promise<void> {
    const a = this.activeOf(id);
    if (a.wav !== undefined) throw new Error(`storage-local: recording ${id} already has audio`);
    a.peaks = new PeakAccumulator(format.sampleRate, format.channels);
    const wanted = this.audioFormat;
    if (wanted === 'opus') {
      const enc = this.opusEncoder();
      const why = 'provider' in enc ? (enc.provider.sampleRates.includes(format.sampleRate) ? undefined : `Opus does not take ${format.sampleRate} Hz`) : enc.missing;
      if ('provider' in enc && why === undefined) {
        a.wav = await OggOpusWriter.create(a.files.audio, format, enc.provider, this.opts.audio?.opusBitrate ?? OPUS_BITRATE_PER_CHANNEL * format.channels, this.keys);
        return;
      }
      // Never lose a call for want of an encoder: this one is kept as WAV (encrypted when the rest is), and says so.
      this.opts.log?.warn(`storage-local: recording ${id} is stored as WAV, not Ogg Opus: ${why ?? ''}`, { recording: id });
      if (this.keys !== undefined) {
        const file = path.join(a.files.dir, AUDIO_FILE + ENC_SUFFIX);
        a.stored = { file, format: ENCRYPTED_FORMAT };
        a.wav = await EncryptedAudioWriter.create(file, format, this.keys);
      } else {
        const file = path.join(a.files.dir, AUDIO_FILE);
        a.stored = { file, format: 'wav' };
        a.wav = await WavFileWriter.create(file, format);
      }
      return;
    }
    const coding = codingFor(wanted, format.sampleRate, format.encodings);
    const f = { sampleRate: format.sampleRate, channels: format.channels, coding };
    if (coding !== 'pcm16') a.stored = { file: a.files.audio, format: this.keys !== undefined ? `${CODING_FORMAT[coding]}+aes-256-gcm` : CODING_FORMAT[coding] };
    a.wav = this.keys !== undefined ? await EncryptedAudioWriter.create(a.files.audio, f, this.keys) : await WavFileWriter.create(a.files.audio, f);
  }

  async writeAudio(id: string, atFrame: number, pcm: Int16Array): Promise<void> {
    const a = this.activeOf(id);
    if (a.wav === undefined) throw new Error(`storage-local: audio for recording ${id} before its format`);
    a.peaks?.add(atFrame, pcm);
    await a.wav.write(atFrame, pcm);
  }

  async writeAttachment(id: string, name: string, data: Buffer, mode: 'append' | 'replace'): Promise<void> {
    if (!ATTACHMENT_NAME.test(name) || name === AUDIO_FILE || name === AUDIO_FILE + ENC_SUFFIX || name === METADATA_FILE || name === PEAKS_FILE) throw new Error(`storage-local: refusing attachment name ${JSON.stringify(name)}`);
    const file = path.join(this.activeOf(id).files.dir, name);
    if (mode === 'append') await fs.promises.appendFile(file, data);
    else await fs.promises.writeFile(file, data);
  }

  async update(meta: RecordingMetadata): Promise<void> {
    await this.store(meta, false);
  }

  async close(meta: RecordingMetadata): Promise<void> {
    const a = this.active.get(meta.id);
    this.sealing.add(meta.id);
    try {
      try {
        await a?.wav?.close();
        // Before sealing, so the peaks are hashed and published with the rest.
        if (a?.peaks !== undefined) await a.peaks.save(path.join(a.files.dir, PEAKS_FILE));
      } finally {
        await this.store(meta, true);
      }
      if (a !== undefined) await this.seal(meta, a.files.dir);
    } finally {
      this.sealing.delete(meta.id);
    }
    this.publisher?.wake(meta.id);
  }

  /** Starts uploading finished recordings to shared storage (the service calls it; CLI readers never do). */
  startPublishing(): void {
    if (this.opts.shared === undefined || this.publisher !== undefined) return;
    // Loaded only with shared storage: it brings the PostgreSQL and S3 clients (~0.25 s of start-up a run).
    const { Publisher: PublisherClass } = require('./publisher') as typeof import('./publisher');
    this.publisher = new PublisherClass(this.opts.shared, {
      catalogue: () => this.openCatalogue(),
      root: this.opts.root,
      busy: (id) => this.active.has(id) || this.sealing.has(id),
      ...(this.opts.log !== undefined ? { log: this.opts.log } : {}),
      ...(this.opts.counters !== undefined ? { counters: this.opts.counters } : {}),
      ...(this.opts.metrics !== undefined ? { metrics: this.opts.metrics } : {}),
    });
    this.publisher.start();
  }

  /**
   * A finished recording's files hashed into the catalogue, its call identity set, and an older recording of the
   * same call (the same capture recorded again) replaced: taken out with a record of why, its folder deleted.
   * Runs after the new one is complete and catalogued, so a crash in between leaves two, never none.
   */
  private async seal(meta: RecordingMetadata, dir: string): Promise<void> {
    const objects = await hashRecordingFiles(dir);
    const cat = this.openCatalogue();
    const now = new Date().toISOString();
    const key = callKey(meta);
    const older = await cat.grouped(() => {
      saveObjects(cat, meta.id, objects, now);
      setCallKey(cat, meta.id, key);
      return sameCall(cat, key, meta.id);
    });
    for (const old of older) {
      await deleteRecording(cat, old, `replaced by ${meta.id}: the same call (Call-ID, tags, start, recorder) recorded again`, now, this.opts.root);
      this.opts.counters?.inc('replaced');
      this.opts.log?.info(`storage-local: recording ${meta.id} replaces ${old.id}, the same call recorded again`, { callId: meta.call.callId, replaced: old.id });
    }
    this.manifestsDue(now);
  }

  /**
   * Retention and the manifests of past days, once a day (checked when a recording is sealed and at start), in
   * the background: paged, so capture keeps its turns; shutdown() waits for it.
   */
  private manifestsDue(nowIso: string): void {
    const today = nowIso.slice(0, 10);
    if (this.manifestDay === today || this.daily !== undefined) return;
    this.manifestDay = today;
    this.daily = this.dailyPass(nowIso, today).finally(() => {
      this.daily = undefined;
    });
  }

  private async dailyPass(nowIso: string, today: string): Promise<void> {
    // The catalogue open now: if it is closed meanwhile, the pass stops (it never reopens one).
    const cat = this.cat;
    if (cat === undefined || !cat.isOpen) return;
    const r = this.opts.retention;
    if (r !== undefined && r.auto && r.rules.length > 0) {
      try {
        const res = await applyRetention(cat, r.rules, { now: new Date(nowIso), dryRun: false, collect: false, root: this.opts.root });
        if (res.expiredCount > 0) this.opts.counters?.inc('expired', res.expiredCount);
        if (res.expiredCount + res.heldCount > 0) {
          this.opts.log?.info(`storage-local: retention deleted ${res.expiredCount} recording(s) past their time${res.heldCount > 0 ? `; ${res.heldCount} kept on legal hold` : ''} (each in the audit log)`);
        }
      } catch (e) {
        this.manifestDay = undefined;
        this.opts.log?.error(`storage-local: applying retention failed: ${(e as Error).message}`);
      }
    }
    if (!cat.isOpen) return;
    try {
      const days = await writeDueManifests(cat, this.opts.root, today);
      if (days.length > 0) this.opts.log?.info(`storage-local: integrity manifest${days.length === 1 ? '' : 's'} written for ${days.join(', ')}`);
    } catch (e) {
      this.manifestDay = undefined;
      this.opts.log?.error(`storage-local: writing the daily integrity manifest failed: ${(e as Error).message}`);
    }
  }

  /** The daily pass in progress, if any (tests, shutdown). */
  whenIdle(): Promise<void> {
    return this.daily ?? Promise.resolve();
  }

  /** metadata.json and the catalogue entry; a finished recording is complete (a recovered one stays recovered). */
  private async store(meta: RecordingMetadata, done: boolean): Promise<void> {
    const cat = this.openCatalogue();
    const a = this.active.get(meta.id);
    const files = a?.files ?? cat.record(meta.id);
    if (files === undefined) throw new Error(`storage-local: update for recording ${meta.id}, which was never opened`);
    let final: RecordingMetadata = done && meta.status === 'recording' ? { ...meta, status: 'complete' } : meta;
    if (a?.stored !== undefined && final.audio !== undefined) final = { ...final, audio: { ...final.audio, ...a.stored } };
    // fsync only the final write: a process crash cannot tear a rename; a power cut may cost a refresh, not the file.
    await writeJsonAtomicAsync(files.metadata, final, done);
    // No audio file once done without one (no media seen); while running, the file the audio will go to.
    const update = updateFromMetadata(final, final.audio?.file ?? (done || a?.wav === undefined ? undefined : (a.stored?.file ?? files.audio)));
    if (!(await cat.grouped(() => cat.update(meta.id, update)))) throw new Error(`storage-local: recording ${meta.id} is not in the catalogue ${cat.file}`);
    if (done && this.active.delete(meta.id)) this.opts.counters?.inc('completed');
  }

  async recover(): Promise<string[]> {
    const res = recoverRecordings(this.openCatalogue(), { root: this.opts.root, skip: new Set(this.active.keys()), ...(this.opts.log ? { log: this.opts.log } : {}) });
    if (res.recovered.length > 0) this.opts.counters?.inc('recovered', res.recovered.length);
    if (res.recatalogued.length > 0) this.opts.counters?.inc('recatalogued', res.recatalogued.length);
    // A recovered recording is finished as it stands: its files are hashed like any other's.
    const cat = this.openCatalogue();
    const now = new Date().toISOString();
    for (const id of res.recovered) {
      const rec = cat.record(id);
      if (rec !== undefined) saveObjects(cat, id, await hashRecordingFiles(rec.dir), now);
    }
    this.publisher?.wake();
    return res.recovered;
  }

  async shutdown(): Promise<void> {
    // Recordings the queue never closed (a stop past its deadline) keep a consistent WAV header.
    for (const a of this.active.values()) await a.wav?.close().catch(() => undefined);
    await this.whenIdle();
    // Pending uploads get drainMs to finish; what is left waits in the spool for the next start.
    await this.publisher?.stop();
    this.publisher = undefined;
    this.closeCatalogue();
  }

  list(q: CatalogueQuery): CatalogueEntry[] {
    return this.openCatalogue().list(q);
  }

  get(id: string): { entry: CatalogueEntry; metadata: RecordingMetadata } | undefined {
    const entry = this.openCatalogue().get(id);
    if (entry === undefined) return undefined;
    return { entry, metadata: readMetadata(entry.metadata) };
  }

  saveTranscript(t: ChatTranscript, renderings: TranscriptRenderings): TranscriptFiles {
    const files = saveTranscript(this.openCatalogue(), this.opts.root, this.opts.layout, t, renderings);
    this.opts.counters?.inc('transcripts');
    return files;
  }

  listTranscripts(q: CatalogueQuery): TranscriptEntry[] {
    return listTranscripts(this.openCatalogue(), q);
  }

  getTranscript(id: string): { entry: TranscriptEntry; transcript: ChatTranscript; linkedRecordings: CatalogueEntry[] } | undefined {
    return getTranscript(this.openCatalogue(), id);
  }

  /** Closes the catalogue. Idempotent; a later call reopens lazily. */
  closeCatalogue(): void {
    this.cat?.close();
    this.cat = undefined;
  }
}
