/**
 * storage-local's RecordingLibrary: the review app's read-only view of this folder's catalogue. Audio is served
 * from the stored file when it already is what was asked for (plain 16-bit WAV, plain Ogg Opus); anything else
 * (G.711 kept as received, encrypted at rest, WAV wanted as Ogg Opus) is made in memory, never written to disk
 * decrypted, and kept in a small byte-bounded cache so a player's many range requests decode once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { AudioEncoderProvider, LibraryAudio, LibraryAudioFormat, LibraryChatRow, LibraryPage, LibraryPeaks, LibraryProvider, LibraryQuery, LibraryRow, RecordingLibrary, ChatTranscript } from '../../core/contract';
import type { RecordingMetadata } from '../../core/media/metadata';
import { Catalogue } from './catalogue';
import { chatRowById, recordingRow, searchChats, searchRecordings } from './library-search';
import { getTranscript } from './transcripts';
import { decryptToWav, ENC_SUFFIX } from './encrypted-audio';
import { readWav, wavHeader } from './wav';
import { toLeBytes } from './sample-coding';
import { OggOpusWriter } from './ogg-opus';
import { PEAKS_FILE, peaksOf } from './peaks';
import type { KeyProvider } from './key-provider';

/** Bytes of made audio kept for range requests (a one-hour 8 kHz stereo WAV is 115 MB). */
export const CACHE_BYTES = 256 * 1024 * 1024;
const OPUS_BITRATE_PER_CHANNEL = 24_000;

export interface LocalLibraryOptions {
  catalogue: string;
  keys?: KeyProvider;
  encoders: () => readonly AudioEncoderProvider[];
}

export class ByteCache {
  private readonly map = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly max: number) {}

  get(key: string): Buffer | undefined {
    const b = this.map.get(key);
    if (b !== undefined) {
      this.map.delete(key);
      this.map.set(key, b);
    }
    return b;
  }

  set(key: string, b: Buffer): void {
    if (b.length > this.max) return;
    this.map.set(key, b);
    this.bytes += b.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.max) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
}

export function fileAudio(file: string, contentType: string): LibraryAudio {
  const size = fs.statSync(file).size;
  return { contentType, size, read: (start, end) => fs.createReadStream(file, { start, end }) };
}

export function bufferAudio(b: Buffer, contentType: string): LibraryAudio {
  return { contentType, size: b.length, read: (start, end) => Readable.from([b.subarray(start, end + 1)]) };
}

export class LocalLibrary implements RecordingLibrary {
  private cat: Catalogue | undefined;
  private readonly cache = new ByteCache(CACHE_BYTES);

  constructor(private readonly opts: LocalLibraryOptions) {}

  /** Opened at first use: a web process may start before the recorder has made the catalogue. */
  private catalogue(): Catalogue {
    if (this.cat === undefined || !this.cat.isOpen) this.cat = Catalogue.open(this.opts.catalogue, { readonly: true });
    return this.cat;
  }

  async search(q: LibraryQuery): Promise<LibraryPage<LibraryRow>> {
    if (!fs.existsSync(this.opts.catalogue)) return { items: [] };
    return searchRecordings(this.catalogue(), q);
  }

  async get(id: string): Promise<{ row: LibraryRow; metadata: RecordingMetadata } | undefined> {
    if (!fs.existsSync(this.opts.catalogue)) return undefined;
    const cat = this.catalogue();
    const row = recordingRow(cat, id);
    const entry = cat.get(id);
    if (row === undefined || entry === undefined) return undefined;
    const metadata = JSON.parse(await fs.promises.readFile(entry.metadata, 'utf8')) as RecordingMetadata;
    return { row, metadata };
  }

  async row(id: string): Promise<LibraryRow | undefined> {
    return fs.existsSync(this.opts.catalogue) ? recordingRow(this.catalogue(), id) : undefined;
  }

  private files(id: string): { dir: string; audio?: string } | undefined {
    if (!fs.existsSync(this.opts.catalogue)) return undefined;
    const entry = this.catalogue().get(id);
    if (entry === undefined) return undefined;
    return { dir: path.dirname(entry.metadata), ...(entry.audio !== undefined && fs.existsSync(entry.audio) ? { audio: entry.audio } : {}) };
  }

  async audio(id: string, format: LibraryAudioFormat): Promise<LibraryAudio | undefined> {
    const f = this.files(id);
    if (f?.audio === undefined) return undefined;
    const contentType = format === 'wav' ? 'audio/wav' : 'audio/ogg';
    const encrypted = f.audio.endsWith(ENC_SUFFIX);
    const ogg = path.basename(f.audio).startsWith('audio.opus');
    if (!encrypted && ogg === (format === 'ogg') && (ogg || readWavCoding(f.audio) === 'pcm16')) return fileAudio(f.audio, contentType);
    if (ogg && format === 'wav') return undefined; // an Opus archive is played as it is
    const key = `${id}:${format}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return bufferAudio(cached, contentType);
    const made = await convertAudio(f.audio, { encrypted, ogg }, format, this.opts);
    if (made === undefined) return undefined;
    this.cache.set(key, made);
    return bufferAudio(made, contentType);
  }

  async formats(id: string): Promise<Record<LibraryAudioFormat, boolean>> {
    const f = this.files(id);
    if (f?.audio === undefined) return { wav: false, ogg: false };
    return storedFormats(path.basename(f.audio), this.opts);
  }

  async peaks(id: string): Promise<LibraryPeaks | undefined> {
    const f = this.files(id);
    if (f === undefined) return undefined;
    try {
      return JSON.parse(await fs.promises.readFile(path.join(f.dir, PEAKS_FILE), 'utf8')) as LibraryPeaks;
    } catch {
      // Recorded before peaks were kept: from the audio, when it is WAV.
      const a = await this.audio(id, 'wav');
      if (a === undefined) return undefined;
      const bytes = await readAll(a.read(0, a.size - 1));
      const channels = bytes.readUInt16LE(22);
      const rate = bytes.readUInt32LE(24);
      const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length - ((bytes.length - 44) % 2)));
      return peaksOf(pcm, rate, channels);
    }
  }

  async attachment(id: string, name: string): Promise<Buffer | undefined> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) return undefined;
    const f = this.files(id);
    if (f === undefined) return undefined;
    try {
      return await fs.promises.readFile(path.join(f.dir, name));
    } catch {
      return undefined;
    }
  }

  async chats(q: Pick<LibraryQuery, 'from' | 'to' | 'user' | 'participants' | 'limit' | 'cursor'>): Promise<LibraryPage<LibraryChatRow>> {
    if (!fs.existsSync(this.opts.catalogue)) return { items: [] };
    return searchChats(this.catalogue(), q);
  }

  async chat(id: string): Promise<{ row: LibraryChatRow; transcript: ChatTranscript } | undefined> {
    if (!fs.existsSync(this.opts.catalogue)) return undefined;
    const cat = this.catalogue();
    const row = chatRowById(cat, id);
    const t = getTranscript(cat, id);
    return row === undefined || t === undefined ? undefined : { row, transcript: t.transcript };
  }

  async close(): Promise<void> {
    this.cat?.close();
    this.cat = undefined;
  }
}

/** What a stored audio file (by its name) can be served as here: its keys and encoders decide. */
export function storedFormats(name: string, o: { keys?: KeyProvider; encoders: () => readonly AudioEncoderProvider[] }): Record<LibraryAudioFormat, boolean> {
  if (name.endsWith(ENC_SUFFIX) && o.keys === undefined) return { wav: false, ogg: false };
  if (name.startsWith('audio.opus')) return { wav: false, ogg: true };
  return { wav: true, ogg: o.encoders().some((p) => p.format === 'opus' && p.unavailableReason === undefined) };
}

/**
 * A stored audio file in the format asked for, in memory (decrypted bytes never touch the disk beyond a private
 * temporary file removed at once); undefined when it cannot be made here (no key, no Opus encoder).
 */
export async function convertAudio(file: string, stored: { encrypted: boolean; ogg: boolean }, format: LibraryAudioFormat, o: { keys?: KeyProvider; encoders: () => readonly AudioEncoderProvider[] }): Promise<Buffer | undefined> {
  return withTempDir(async (tmp) => {
    let plain = file;
    if (stored.encrypted) {
      if (o.keys === undefined) return undefined;
      plain = path.join(tmp, stored.ogg ? 'audio.opus' : 'audio.wav');
      decryptToWav(file, plain, o.keys);
    }
    if (stored.ogg) return format === 'ogg' ? fs.readFileSync(plain) : undefined;
    const wav = readWav(plain);
    if (format === 'wav') return Buffer.concat([wavHeader(wav.sampleRate, wav.channels, wav.samples.length * 2), toLeBytes(wav.samples)]);
    const enc = o.encoders().find((p) => p.format === 'opus' && p.unavailableReason === undefined && p.sampleRates.includes(wav.sampleRate));
    if (enc === undefined) return undefined;
    const out = path.join(tmp, 'play.opus');
    const channels = wav.channels === 1 ? 1 : 2;
    const w = await OggOpusWriter.create(out, { sampleRate: wav.sampleRate, channels }, enc, OPUS_BITRATE_PER_CHANNEL * channels);
    await w.write(0, wav.samples);
    await w.close();
    return fs.readFileSync(out);
  });
}

export function readWavCoding(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(36);
    fs.readSync(fd, h, 0, 36, 0);
    return h.toString('latin1', 0, 4) === 'RIFF' && h.readUInt16LE(20) === 1 && h.readUInt16LE(34) === 16 ? 'pcm16' : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'tapline-play-'));
  try {
    return await fn(dir);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export function localLibraryProvider(opts: LocalLibraryOptions): LibraryProvider {
  return { describe: opts.catalogue, open: async () => new LocalLibrary(opts) };
}
