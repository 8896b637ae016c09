/**
 * Start-up recovery after an unclean shutdown: recordings left 'recording' get their WAV header repaired from
 * the file's size, their duration from the audio, status 'recovered' and a flag; recording folders the catalogue
 * does not know (catalogue lost or restored from an older copy) are catalogued again from their metadata.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../../core/contract';
import type { RecordingMetadata } from '../../core/media/metadata';
import { repairWav } from './wav';
import { ENC_SUFFIX, ENCRYPTED_FORMAT, repairEncrypted } from './encrypted-audio';
import { OGG_OPUS_FILE, OGG_OPUS_FORMAT, repairOggOpus } from './ogg-opus';
import { updateFromMetadata, type Catalogue, type CatalogueRecord, type RecordingUpdate } from './catalogue';

export const RECOVERED_FLAG = 'recovered after an unclean shutdown';
const METADATA = 'metadata.json';
const AUDIO = 'audio.wav';
/** date layout: YYYY/MM/DD/<recording>; a little slack for hand-made trees, never unbounded. */
const MAX_SCAN_DEPTH = 6;

let tmpCounter = 0;

/** Write JSON by temp file + rename, so a reader (or a crash) never sees a half-written file. */
export function writeJsonAtomic(file: string, value: unknown, durable: boolean): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
  const fd = fs.openSync(tmp, 'wx');
  try {
    try {
      fs.writeSync(fd, JSON.stringify(value, null, 2) + '\n');
      if (durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** writeJsonAtomic through libuv's thread pool (the storage queue's path: never blocks capture). */
export async function writeJsonAtomicAsync(file: string, value: unknown, durable: boolean): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
  const fh = await fs.promises.open(tmp, 'wx');
  try {
    try {
      await fh.writeFile(JSON.stringify(value, null, 2) + '\n');
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

function isMetadata(v: unknown): v is RecordingMetadata {
  if (v === null || typeof v !== 'object') return false;
  const m = v as Partial<RecordingMetadata>;
  const c = m.call;
  return (
    typeof m.id === 'string' &&
    (m.status === 'recording' || m.status === 'complete' || m.status === 'recovered') &&
    c !== null &&
    typeof c === 'object' &&
    typeof c.callId === 'string' &&
    typeof c.start === 'string' &&
    typeof c.from?.uri === 'string' &&
    typeof c.to?.uri === 'string' &&
    Array.isArray(m.flags)
  );
}

/** Parses a metadata.json, with a message naming the file when it is not one. */
export function readMetadata(file: string): RecordingMetadata {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read recording metadata ${file}: ${(e as Error).message}`);
  }
  if (!isMetadata(v)) throw new Error(`${file} is not Tapline recording metadata`);
  // Older or hand-edited files may lack lists the rest of the code iterates.
  v.call.refers ??= [];
  return v;
}

let bootId: string | undefined;
function currentBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = ''; // not Linux: fall back to the pid check alone
    }
  }
  return bootId;
}

/** Identifies the writing process: host | boot | pid. */
export function ownerTag(): string {
  return `${os.hostname()}|${currentBootId()}|${process.pid}`;
}

/**
 * True when the owner is another process that is still running here (another recorder sharing the catalogue):
 * its recordings are not crashed and must be left alone. This process's own rows (a store dropped without
 * close) and rows from other hosts or earlier boots are recoverable.
 */
export function ownerIsOtherLiveProcess(owner: string | undefined): boolean {
  if (owner === undefined) return false;
  const [host, boot, pidText] = owner.split('|');
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  if (boot !== '' && currentBootId() !== '' && boot !== currentBootId()) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Metadata rebuilt from the catalogue row when the process died before the first metadata.json was written. */
function skeletonMetadata(r: CatalogueRecord): RecordingMetadata {
  const stats = { packets: 0, expected: 0, lost: 0, late: 0, duplicates: 0, ssrcs: [], codecs: [], undecoded: 0 };
  return {
    id: r.id,
    status: 'recording',
    call: {
      callId: r.callId,
      from: { uri: r.from },
      to: { uri: r.to },
      callerAddr: '',
      calleeAddr: '',
      transport: '',
      disposition: 'unanswered',
      start: r.start,
      legs: [],
      sdp: [],
      holds: [],
      refers: [],
      messages: {},
      warnings: [],
    },
    direction: 'unknown',
    caller: { ...stats },
    callee: { ...stats },
    dtmf: [],
    flags: ['metadata was lost in the shutdown; rebuilt from the catalogue'],
  };
}

/** Repairs the audio and marks the metadata recovered (written back to disk). */
function repairRecording(dir: string, meta: RecordingMetadata, log: Logger | undefined): RecordingMetadata {
  const audioFile = meta.audio?.file ?? audioIn(dir) ?? path.join(dir, AUDIO);
  const out: RecordingMetadata = { ...meta, status: 'recovered', flags: [...meta.flags] };
  if (fs.existsSync(audioFile)) {
    try {
      const encrypted = audioFile.endsWith(ENC_SUFFIX);
      const opus = path.basename(audioFile, ENC_SUFFIX) === OGG_OPUS_FILE;
      // Encrypted audio: the torn chunk is cut off (no key needed); Ogg: the torn page. What the writer still held
      // in memory is lost.
      const wav = encrypted ? repairEncrypted(audioFile) : opus ? repairOggOpus(audioFile) : repairWav(audioFile);
      const durationSec = Math.round((wav.frames / wav.sampleRate) * 1000) / 1000;
      if (out.audio !== undefined) out.audio = { ...out.audio, durationSec };
      else if (wav.channels === 1 || wav.channels === 2) {
        // The first sample's capture time was never written: the call's start is the best estimate.
        out.audio = {
          file: audioFile,
          format: opus ? OGG_OPUS_FORMAT + (encrypted ? '+aes-256-gcm' : '') : encrypted ? ENCRYPTED_FORMAT : 'wav',
          channels: wav.channels,
          layout: wav.channels === 2 ? 'stereo-caller-left' : 'mono-mixed',
          sampleRate: wav.sampleRate,
          durationSec,
          start: meta.call.start,
        };
      }
    } catch (e) {
      const why = (e as Error).message;
      out.flags.push(`audio could not be repaired: ${why}`);
      log?.warn(`recovery: cannot repair ${audioFile}: ${why}`, { recording: meta.id });
    }
  }
  if (!out.flags.includes(RECOVERED_FLAG)) out.flags.push(RECOVERED_FLAG);
  writeJsonAtomic(path.join(dir, METADATA), out, true);
  removeStaleTemps(dir);
  return out;
}

/** Temp files of an interrupted writeJsonAtomic. */
function removeStaleTemps(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(`.${METADATA}.`) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
  }
}

function rowUpdate(meta: RecordingMetadata, dir: string): RecordingUpdate {
  return updateFromMetadata(meta, meta.audio?.file ?? audioIn(dir));
}

/** The recording's audio file in its folder, plain or encrypted, if there is one. */
function audioIn(dir: string): string | undefined {
  for (const name of [AUDIO, AUDIO + ENC_SUFFIX, OGG_OPUS_FILE, OGG_OPUS_FILE + ENC_SUFFIX]) if (fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  return undefined;
}

/** Folders under root holding a metadata.json (not descending into them, nor into hidden folders or symlinks). */
function findRecordingDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (depth > 0 && entries.some((e) => e.isFile() && e.name === METADATA)) {
      out.push(dir);
      return;
    }
    if (depth >= MAX_SCAN_DEPTH) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(path.join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return out;
}

export interface RecoverOptions {
  root: string;
  /** Recordings this process is writing right now. */
  skip?: ReadonlySet<string>;
  log?: Logger;
}

export interface RecoverResult {
  /** Crashed recordings repaired and marked 'recovered'. */
  recovered: string[];
  /** Finished recordings found on disk but missing from the catalogue, catalogued again unchanged. */
  recatalogued: string[];
}

export function recoverRecordings(cat: Catalogue, opts: RecoverOptions): RecoverResult {
  const { log } = opts;
  const res: RecoverResult = { recovered: [], recatalogued: [] };

  for (const row of cat.unfinished()) {
    if (opts.skip?.has(row.id)) continue;
    if (ownerIsOtherLiveProcess(row.owner)) {
      log?.debug(`recovery: ${row.id} is being written by a running process (${row.owner ?? '?'}); left alone`);
      continue;
    }
    try {
      const metaFile = path.join(row.dir, METADATA);
      let meta: RecordingMetadata;
      if (fs.existsSync(metaFile)) meta = readMetadata(metaFile);
      else {
        fs.mkdirSync(row.dir, { recursive: true });
        meta = skeletonMetadata(row);
      }
      const fixed = repairRecording(row.dir, meta, log);
      cat.update(row.id, rowUpdate(fixed, row.dir));
      res.recovered.push(row.id);
      log?.warn(`recovered recording ${row.id} (call ${row.callId}) after an unclean shutdown`, { dir: row.dir });
    } catch (e) {
      log?.error(`recovery of ${row.id} failed: ${(e as Error).message}`, { dir: row.dir });
    }
  }

  const known = cat.dirs();
  for (const dir of findRecordingDirs(opts.root)) {
    if (known.has(dir)) continue;
    let meta: RecordingMetadata;
    try {
      meta = readMetadata(path.join(dir, METADATA));
    } catch (e) {
      log?.warn(`recovery: skipping ${dir}: ${(e as Error).message}`);
      continue;
    }
    if (opts.skip?.has(meta.id) || cat.record(meta.id) !== undefined) continue; // catalogued under another folder
    try {
      const crashed = meta.status === 'recording';
      const fixed = crashed ? repairRecording(dir, meta, log) : meta;
      const u = rowUpdate(fixed, dir);
      cat.insert({
        ...u,
        id: fixed.id,
        callId: fixed.call.callId,
        start: fixed.call.start,
        dir,
        metadata: path.join(dir, METADATA),
        participants: u.participants ?? [],
      });
      (crashed ? res.recovered : res.recatalogued).push(fixed.id);
      log?.warn(`${crashed ? 'recovered' : 're-catalogued'} recording ${fixed.id} found on disk but not in the catalogue`, { dir });
    } catch (e) {
      log?.error(`recovery: cannot catalogue ${dir}: ${(e as Error).message}`);
    }
  }
  return res;
}
