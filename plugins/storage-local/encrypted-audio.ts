/**
 * Audio encrypted at rest: a recording's PCM under its own data key (AES-256-GCM), the data key wrapped by a
 * master key (key-provider.ts). The plaintext is cut into chunks of CHUNK bytes, each sealed on its own (nonce =
 * the file's random prefix and the chunk's index; the header, the index and "last chunk" in the associated data),
 * so any byte range is decrypted by opening only its chunks, a reordered or altered chunk fails its tag, and a
 * file cut short is told apart from a finished one. The associated data holds the header's fixed part (format,
 * nonce prefix), not the wrapped key: a key rotation rewrites the header alone. No WAV header is stored: the format is in the container's
 * header and a WAV is made when the audio is read back (so no file on disk holds a readable RIFF header).
 *
 * File: 'TLENC001', u16 length of the JSON header that follows, the JSON header, then chunks of
 * ciphertext + 16-byte tag (the last may be shorter, and is empty when the audio fills the chunks exactly).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { ErrorCodes, TaplineError } from '../../core/errors';
import type { KeyProvider } from './key-provider';
import { wavHeader, wavHeaderBytes } from './wav';
import { bytesPerSample, encodeSamples, silenceByte, type SampleCoding } from './sample-coding';

export const ENC_MAGIC = Buffer.from('TLENC001');
export const ENC_SUFFIX = '.enc';
/** metadata.audio.format of an encrypted recording. */
export const ENCRYPTED_FORMAT = 'wav+aes-256-gcm';
/** Plaintext bytes per chunk: 2 s of 8 kHz stereo; what a crash can lose at most. */
export const CHUNK = 64 * 1024;
const TAG = 16;
const ZEROS = Buffer.alloc(CHUNK);

export interface EncHeader {
  v: 1;
  cipher: 'aes-256-gcm';
  chunk: number;
  keyId: string;
  /** The data key wrapped by the master key keyId, base64. */
  wrapped: string;
  /** 4 random bytes, hex: the first third of every chunk's nonce. */
  noncePrefix: string;
  sampleRate: number;
  channels: 1 | 2;
  bits: 16 | 8;
  /** G.711 kept as received (absent: 16-bit PCM). */
  coding?: 'ulaw' | 'alaw';
  /** 'ogg': the plaintext is an Ogg Opus file, not samples (absent: samples, a WAV once decrypted). */
  container?: 'ogg';
}

function codingOf(h: EncHeader): SampleCoding {
  return h.coding ?? 'pcm16';
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 4);
  n.writeBigUInt64BE(BigInt(index), 4);
  return n;
}

/** What every chunk is bound to: the header without the key fields (which a rotation changes). */
function aadBase(h: EncHeader): Buffer {
  return Buffer.from(JSON.stringify([h.v, h.cipher, h.chunk, h.noncePrefix, h.sampleRate, h.channels, h.bits, ...(h.coding !== undefined ? [h.coding] : []), ...(h.container !== undefined ? [h.container] : [])]));
}

function aad(base: Buffer, index: number, last: boolean): Buffer {
  const t = Buffer.alloc(9);
  t.writeBigUInt64BE(BigInt(index), 0);
  t[8] = last ? 1 : 0;
  return Buffer.concat([base, t]);
}

function headerFile(header: EncHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(json.length);
  return Buffer.concat([ENC_MAGIC, len, json]);
}

/** Same contract as WavFileWriter: monotonic frames, gaps written as silence, overlaps dropped. */
export class EncryptedAudioWriter {
  private pending = Buffer.alloc(CHUNK);
  private pendingLen = 0;
  private index = 0;
  private dataBytes = 0;
  private closed = false;
  private readonly frameBytes: number;
  private readonly coding: SampleCoding;
  /** A chunk of this coding's silence, for gaps. */
  private readonly silence: Buffer;

  private constructor(
    readonly path: string,
    private readonly fh: fs.promises.FileHandle,
    private readonly key: Buffer,
    private readonly prefix: Buffer,
    private readonly headerBytes: Buffer,
    private readonly base: Buffer,
    readonly format: { sampleRate: number; channels: 1 | 2; coding?: SampleCoding; container?: 'ogg' },
  ) {
    this.coding = format.coding ?? 'pcm16';
    this.frameBytes = format.channels * bytesPerSample(this.coding);
    this.silence = this.coding === 'pcm16' ? ZEROS : Buffer.alloc(CHUNK, silenceByte(this.coding));
  }

  static async create(path: string, format: { sampleRate: number; channels: 1 | 2; coding?: SampleCoding; container?: 'ogg' }, keys: KeyProvider): Promise<EncryptedAudioWriter> {
    const dataKey = randomBytes(32);
    const prefix = randomBytes(4);
    const w = keys.wrap(dataKey);
    const header: EncHeader = { v: 1, cipher: 'aes-256-gcm', chunk: CHUNK, keyId: w.keyId, wrapped: w.wrapped.toString('base64'), noncePrefix: prefix.toString('hex'), sampleRate: format.sampleRate, channels: format.channels, bits: format.coding === undefined || format.coding === 'pcm16' ? 16 : 8, ...(format.coding === 'ulaw' || format.coding === 'alaw' ? { coding: format.coding } : {}), ...(format.container !== undefined ? { container: format.container } : {}) };
    const headerBytes = headerFile(header);
    const fh = await fs.promises.open(path, 'w');
    try {
      await fh.write(headerBytes, 0, headerBytes.length, 0);
    } catch (e) {
      await fh.close();
      throw e;
    }
    return new EncryptedAudioWriter(path, fh, dataKey, prefix, headerBytes, aadBase(header), format);
  }

  get frames(): number {
    return this.dataBytes / this.frameBytes;
  }

  async write(atFrame: number, interleaved: Int16Array): Promise<void> {
    if (this.closed) throw new Error(`${this.path} is closed`);
    if (interleaved.length % this.format.channels !== 0) throw new Error(`a write of ${interleaved.length} samples is not a whole number of frames`);
    const at = atFrame * this.frameBytes;
    // A gap: silence, encrypted like the rest (a chunk of zeros at a time, never one buffer the gap's size).
    while (this.dataBytes < at) await this.append(this.silence.subarray(0, Math.min(CHUNK, at - this.dataBytes)));
    let bytes = encodeSamples(this.coding, interleaved);
    if (at < this.dataBytes) bytes = bytes.subarray(Math.min(bytes.length, this.dataBytes - at));
    if (bytes.length > 0) await this.append(bytes);
  }

  /** Bytes of a container written whole (an Ogg Opus file's pages), encrypted like samples. */
  async appendBytes(bytes: Buffer): Promise<void> {
    if (this.closed) throw new Error(`${this.path} is closed`);
    if (this.format.container === undefined) throw new Error(`${this.path} holds samples: write them with write()`);
    await this.append(bytes);
  }

  private async append(bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(CHUNK - this.pendingLen, bytes.length - off);
      bytes.copy(this.pending, this.pendingLen, off, off + n);
      this.pendingLen += n;
      this.dataBytes += n;
      off += n;
      if (this.pendingLen === CHUNK) await this.seal(false);
    }
  }

  private async seal(last: boolean): Promise<void> {
    const c = createCipheriv('aes-256-gcm', this.key, nonce(this.prefix, this.index));
    c.setAAD(aad(this.base, this.index, last));
    const out = Buffer.concat([c.update(this.pending.subarray(0, this.pendingLen)), c.final(), c.getAuthTag()]);
    const pos = this.headerBytes.length + this.index * (CHUNK + TAG);
    let done = 0;
    while (done < out.length) done += (await this.fh.write(out, done, out.length - done, pos + done)).bytesWritten;
    this.index++;
    this.pendingLen = 0;
  }

  /** The last chunk (marked last), then close; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.seal(true);
      await this.fh.sync();
    } finally {
      await this.fh.close();
      this.key.fill(0);
    }
  }
}

export interface EncInfo {
  header: EncHeader;
  headerBytes: Buffer;
  /** Whole chunks in the file (the last one complete or not). */
  chunks: number;
  /** Bytes after the last whole chunk (a crash mid-write). */
  tail: number;
}

/** Reads the container's header and counts its chunks; throws a TaplineError naming what is wrong. */
export function readEncInfo(fd: number, file: string): EncInfo {
  const size = fs.fstatSync(fd).size;
  const head = Buffer.alloc(10);
  if (fs.readSync(fd, head, 0, 10, 0) < 10 || !head.subarray(0, 8).equals(ENC_MAGIC)) throw new TaplineError(ErrorCodes.USAGE, `${file} is not an encrypted Tapline recording`);
  const jsonLen = head.readUInt16BE(8);
  const headerBytes = Buffer.alloc(10 + jsonLen);
  if (fs.readSync(fd, headerBytes, 0, headerBytes.length, 0) < headerBytes.length) throw new TaplineError(ErrorCodes.USAGE, `${file}: the header is cut short`);
  let header: EncHeader;
  try {
    header = JSON.parse(headerBytes.subarray(10).toString('utf8')) as EncHeader;
  } catch (e) {
    throw new TaplineError(ErrorCodes.USAGE, `${file}: the header is not JSON (${(e as Error).message})`);
  }
  if (header.v !== 1 || header.cipher !== 'aes-256-gcm' || header.chunk !== CHUNK) throw new TaplineError(ErrorCodes.USAGE, `${file}: an encryption format this Tapline does not read (${JSON.stringify({ v: header.v, cipher: header.cipher, chunk: header.chunk })})`);
  const body = size - headerBytes.length;
  const whole = Math.floor(body / (CHUNK + TAG));
  const rest = body - whole * (CHUNK + TAG);
  // A short last chunk (>= its tag) is a chunk; fewer bytes than a tag are a torn write.
  const chunks = whole + (rest >= TAG ? 1 : 0);
  return { header, headerBytes, chunks, tail: rest >= TAG ? 0 : rest };
}

export interface DecryptResult {
  sampleRate: number;
  channels: 1 | 2;
  /** PCM bytes written. */
  bytes: number;
  /** False when the file ends without its last chunk (the recorder stopped before closing it). */
  complete: boolean;
  /** 'ogg' when what was written is an Ogg Opus file (not a WAV). */
  container?: 'ogg';
}

/**
 * Decrypts a recording into a WAV file (an Ogg Opus file when that is what was encrypted), chunk by chunk (memory stays at one chunk). Throws a TaplineError naming
 * the chunk that fails its tag (altered, or reordered).
 */
export function decryptToWav(src: string, dst: string, keys: KeyProvider): DecryptResult {
  // Into a temporary file renamed at the end: a refused key or chunk leaves `dst` as it was.
  const tmp = `${dst}.${process.pid}.partial`;
  const fd = fs.openSync(src, 'r');
  let out: number;
  try {
    out = fs.openSync(tmp, 'w');
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  let ok = false;
  try {
    const info = readEncInfo(fd, src);
    const h = info.header;
    const dataKey = keys.unwrap(h.keyId, Buffer.from(h.wrapped, 'base64'));
    const prefix = Buffer.from(h.noncePrefix, 'hex');
    const base = aadBase(h);
    const coding = codingOf(h);
    // An encrypted Ogg Opus file decrypts to itself; samples become a WAV.
    const headerLen = h.container === 'ogg' ? 0 : wavHeaderBytes(coding);
    fs.writeSync(out, Buffer.alloc(headerLen), 0, headerLen, 0);
    let written = 0;
    let complete = false;
    const buf = Buffer.alloc(CHUNK + TAG);
    for (let i = 0; i < info.chunks; i++) {
      const n = fs.readSync(fd, buf, 0, CHUNK + TAG, info.headerBytes.length + i * (CHUNK + TAG));
      const ct = buf.subarray(0, n - TAG);
      const tag = buf.subarray(n - TAG, n);
      // The last chunk says it is the last; any other says it is not: try the one its length allows.
      let plain: Buffer | undefined;
      for (const last of n < CHUNK + TAG ? [true] : [false, true]) {
        const d = createDecipheriv('aes-256-gcm', dataKey, nonce(prefix, i));
        d.setAAD(aad(base, i, last));
        d.setAuthTag(tag);
        try {
          plain = Buffer.concat([d.update(ct), d.final()]);
          if (last) complete = i === info.chunks - 1;
          break;
        } catch {
          plain = undefined;
        }
      }
      if (plain === undefined) throw new TaplineError(ErrorCodes.USAGE, `${src}: chunk ${i} of ${info.chunks} fails authentication (altered, reordered or from another file)`, { chunk: i });
      fs.writeSync(out, plain, 0, plain.length, headerLen + written);
      written += plain.length;
    }
    dataKey.fill(0);
    if (h.container === undefined) {
      const header = wavHeader(h.sampleRate, h.channels, written - (written % (h.channels * bytesPerSample(coding))), coding);
      fs.writeSync(out, header, 0, header.length, 0);
    }
    ok = true;
    return { sampleRate: h.sampleRate, channels: h.channels, bytes: written, complete, ...(h.container !== undefined ? { container: h.container } : {}) };
  } finally {
    fs.closeSync(fd);
    fs.closeSync(out);
    if (ok) fs.renameSync(tmp, dst);
    else fs.rmSync(tmp, { force: true });
  }
}

/** After a crash: the torn bytes after the last whole chunk cut off; the frames kept (without reading any key). */
export function repairEncrypted(file: string): { repaired: boolean; frames: number; sampleRate: number; channels: number } {
  const fd = fs.openSync(file, 'r+');
  try {
    const info = readEncInfo(fd, file);
    const size = fs.fstatSync(fd).size;
    if (info.tail > 0) fs.ftruncateSync(fd, size - info.tail);
    const body = size - info.tail - info.headerBytes.length;
    const plainBytes = body - info.chunks * TAG;
    const frameBytes = info.header.channels * bytesPerSample(codingOf(info.header));
    // An Ogg container's length says nothing of its frames without the key: 0 (the metadata keeps the duration).
    const frames = info.header.container === 'ogg' ? 0 : Math.floor(plainBytes / frameBytes);
    return { repaired: info.tail > 0, frames, sampleRate: info.header.sampleRate, channels: info.header.channels };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Re-wraps a recording's data key with the provider's current master key: a new header, the chunks copied as
 * they are (they do not depend on the wrapped key), renamed over the old file. Returns false when it is already
 * wrapped by the current key.
 */
export function rewrapFile(file: string, keys: KeyProvider): boolean {
  const fd = fs.openSync(file, 'r');
  const tmp = `${file}.rewrap-${process.pid}.tmp`;
  try {
    const info = readEncInfo(fd, file);
    if (info.header.keyId === keys.currentId) return false;
    const dataKey = keys.unwrap(info.header.keyId, Buffer.from(info.header.wrapped, 'base64'));
    const w = keys.wrap(dataKey);
    dataKey.fill(0);
    const headerBytes = headerFile({ ...info.header, keyId: w.keyId, wrapped: w.wrapped.toString('base64') });
    const out = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(out, headerBytes);
      const buf = Buffer.alloc(1 << 20);
      let pos = info.headerBytes.length;
      let at = headerBytes.length;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        fs.writeSync(out, buf, 0, n, at);
        pos += n;
        at += n;
      }
      fs.fsyncSync(out);
    } finally {
      fs.closeSync(out);
    }
    fs.renameSync(tmp, file);
    return true;
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}
