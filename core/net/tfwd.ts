/**
 * TFWD, Tapline's forwarding encapsulation: captured IP packets batched into UDP datagrams, from a sensor (a
 * forwarder on a Mediation/Edge server, a collector on an agent PC) to the recorder. Public wire format, version 1,
 * documented field by field in plugins/source-forwarded/README.md; all integers are big-endian.
 *
 *   datagram = header (headerLen bytes, 40 in v1) · record × count · tag (16 bytes, when flags.AUTH)
 *   header   = magic 'TFWD' · version · flags · headerLen · keyId · count · sensorId · deploymentId · bootId ·
 *              seq (of the first record) · baseTime (µs since the epoch, u64) · sensorDrops
 *   record   = tsDelta (i32 µs from baseTime) · length (u16) · recordFlags (u8) · reserved (u8) · IP packet
 *   tag      = HMAC-SHA256(key[keyId], every byte before the tag), first 16 bytes
 *
 * Sequence numbers count packets, not datagrams: record i of a datagram is seq + i (mod 2^32), so a gap is the
 * exact number of packets lost. Decoding never throws: a datagram is accepted whole or refused with a reason.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
// The SRTP addon also holds HMAC-SHA256 (the same OpenSSL midstate technique): one native hot path to build.
import { hmac256Native, type NativeHmacKey } from '../media/srtp/native';

/** 'TFWD' in ASCII. */
export const TFWD_MAGIC = 0x54465744;
export const TFWD_VERSION = 1;
export const TFWD_HEADER_LEN = 40;
export const TFWD_RECORD_HEADER_LEN = 8;
export const TFWD_TAG_LEN = 16;
/** Default UDP port of the recorder's TFWD listener (not IANA-registered; chosen clear of SIP 5060-5061 and HEP 9060). */
export const TFWD_DEFAULT_PORT = 9070;
/** Largest UDP payload over IPv4 (65535 − 20 − 8): the hard ceiling of a datagram. */
export const TFWD_MAX_DATAGRAM = 65507;
/** Smallest useful secret; shorter keys are refused (RFC 2104 §3: less than the hash output weakens the MAC). */
export const TFWD_MIN_KEY_BYTES = 16;

/** Datagram flags (header byte 5). */
export const TfwdFlags = {
  /** A 16-byte HMAC tag ends the datagram; keyId names its key. */
  AUTH: 0x01,
} as const;
const KNOWN_FLAGS = TfwdFlags.AUTH;
const MAGIC_BYTES = [0x54, 0x46, 0x57, 0x44];

/** Record flags (record byte 6). */
export const TfwdRecordFlags = {
  /** The sensor captured fewer bytes than were on the wire (snap length): the IP packet is cut short. */
  TRUNCATED: 0x01,
} as const;

/** Why a datagram was refused. 'unauthenticated', 'unknown-key-id' and 'bad-hmac' are auth failures; the rest are parse failures. */
export type TfwdError =
  | 'bad-magic'
  | 'unsupported-version'
  | 'unsupported-flags'
  | 'truncated'
  | 'bad-header-length'
  | 'bad-record-length'
  | 'bad-record-count'
  | 'unauthenticated'
  | 'unknown-key-id'
  | 'bad-hmac';

export const TFWD_AUTH_ERRORS: ReadonlySet<TfwdError> = new Set<TfwdError>(['unauthenticated', 'unknown-key-id', 'bad-hmac']);

/** A shared HMAC key with its id (u16); keys rotate by giving the new one a new id and accepting both for a while. */
export class TfwdKey {
  readonly id: number;
  private readonly key: KeyObject;
  /** The same key in the native addon (HMAC midstates: no per-datagram object), when it is built. */
  private readonly native: NativeHmacKey | undefined;

  constructor(id: number, secret: Buffer) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`TFWD key id ${id} is not a u16`);
    if (secret.length < TFWD_MIN_KEY_BYTES) throw new RangeError(`TFWD key ${id} has ${secret.length} bytes; at least ${TFWD_MIN_KEY_BYTES} are needed`);
    this.id = id;
    // A KeyObject skips re-importing the secret on every datagram (~35% cheaper than createHmac with a Buffer).
    this.key = createSecretKey(secret);
    this.native = hmac256Native?.hmac256Key(secret);
  }

  /** Whether buf[end, end + tagLen) is the truncated HMAC of buf[0, end) (constant time). */
  verify(buf: Buffer, end: number, tagLen: number): boolean {
    if (this.native !== undefined) return (hmac256Native as NonNullable<typeof hmac256Native>).hmac256Tag(this.native, buf, end, tagLen, true);
    return timingSafeEqual(this.mac(buf, 0, end).subarray(0, tagLen), buf.subarray(end, end + tagLen));
  }

  /** Writes the truncated HMAC of buf[0, end) at buf[end, end + tagLen). */
  sign(buf: Buffer, end: number, tagLen: number): void {
    if (this.native !== undefined) (hmac256Native as NonNullable<typeof hmac256Native>).hmac256Tag(this.native, buf, end, tagLen, false);
    else this.mac(buf, 0, end).copy(buf, end, 0, tagLen);
  }

  /** The full 32-byte HMAC-SHA256 of buf[start, end). */
  mac(buf: Buffer, start: number, end: number): Buffer {
    return createHmac('sha256', this.key).update(buf.subarray(start, end)).digest();
  }
}

/** Keys the receiver accepts, by id. */
export type TfwdKeyring = ReadonlyMap<number, TfwdKey>;

export function tfwdKeyring(keys: Iterable<TfwdKey>): TfwdKeyring {
  const m = new Map<number, TfwdKey>();
  for (const k of keys) m.set(k.id, k);
  return m;
}

/** The header of the datagram last decoded (fields overwritten by each decode()). */
export interface TfwdHeader {
  version: number;
  flags: number;
  headerLen: number;
  keyId: number;
  count: number;
  sensorId: number;
  deploymentId: number;
  bootId: number;
  seq: number;
  /** µs since the epoch. */
  baseTime: number;
  sensorDrops: number;
  /** The tag was present and verified. */
  authenticated: boolean;
}

export interface TfwdDecoderOptions {
  /** Keys to verify tags with. */
  keys?: TfwdKeyring;
  /**
   * true (default): a datagram must carry a tag made with one of `keys`. false: tags are not checked at all
   * (the listener relies on its IP allow-list); `authenticated` is then always false.
   */
  requireAuth?: boolean;
}

function u16(d: Buffer, o: number): number {
  return ((d[o] as number) << 8) | (d[o + 1] as number);
}

function u32(d: Buffer, o: number): number {
  return (((d[o] as number) << 24) | ((d[o + 1] as number) << 16) | ((d[o + 2] as number) << 8) | (d[o + 3] as number)) >>> 0;
}

function i32(d: Buffer, o: number): number {
  return ((d[o] as number) << 24) | ((d[o + 1] as number) << 16) | ((d[o + 2] as number) << 8) | (d[o + 3] as number);
}

/**
 * Reusable, allocation-light decoder: decode() validates a whole datagram (header, tag, every record's bounds)
 * and fills `header`; then next() walks the records, leaving each one's time and bounds in fields. The packet
 * bytes are never copied: `buf.subarray(recordOffset, recordOffset + recordLength)` is the caller's view.
 */
export class TfwdDecoder {
  readonly header: TfwdHeader = {
    version: 0,
    flags: 0,
    headerLen: 0,
    keyId: 0,
    count: 0,
    sensorId: 0,
    deploymentId: 0,
    bootId: 0,
    seq: 0,
    baseTime: 0,
    sensorDrops: 0,
    authenticated: false,
  };
  /** After next(): the record's capture time (µs since the epoch), bounds in the datagram, and flags. */
  recordTs = 0;
  recordOffset = 0;
  recordLength = 0;
  recordFlags = 0;

  private readonly keys: TfwdKeyring;
  private readonly requireAuth: boolean;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private left = 0;

  constructor(opts: TfwdDecoderOptions = {}) {
    this.keys = opts.keys ?? new Map();
    this.requireAuth = opts.requireAuth ?? true;
  }

  /** Validates `buf` as one datagram: null when it is accepted (then call next()), else why not. */
  decode(buf: Buffer): TfwdError | null {
    this.left = 0;
    const len = buf.length;
    for (let i = 0; i < 4; i++) {
      if (i === len) return 'truncated';
      if (buf[i] !== MAGIC_BYTES[i]) return 'bad-magic';
    }
    if (len < 8) return 'truncated';
    const h = this.header;
    h.version = buf[4] as number;
    if (h.version !== TFWD_VERSION) return 'unsupported-version';
    h.flags = buf[5] as number;
    if ((h.flags & ~KNOWN_FLAGS) !== 0) return 'unsupported-flags';
    h.headerLen = u16(buf, 6);
    if (h.headerLen < TFWD_HEADER_LEN) return 'bad-header-length';
    const tagLen = (h.flags & TfwdFlags.AUTH) !== 0 ? TFWD_TAG_LEN : 0;
    if (len < h.headerLen + tagLen) return 'truncated';
    h.keyId = u16(buf, 8);
    h.count = u16(buf, 10);
    h.sensorId = u32(buf, 12);
    h.deploymentId = u32(buf, 16);
    h.bootId = u32(buf, 20);
    h.seq = u32(buf, 24);
    h.baseTime = u32(buf, 28) * 4294967296 + u32(buf, 32);
    h.sensorDrops = u32(buf, 36);
    h.authenticated = false;

    // Authenticate before walking records: an unauthenticated datagram costs a MAC, nothing more.
    const end = len - tagLen;
    if (this.requireAuth) {
      if (tagLen === 0) return 'unauthenticated';
      const key = this.keys.get(h.keyId);
      if (key === undefined) return 'unknown-key-id';
      if (!key.verify(buf, end, TFWD_TAG_LEN)) return 'bad-hmac';
      h.authenticated = true;
    }

    // Walk every record once so that a malformed datagram delivers nothing rather than a prefix.
    let pos = h.headerLen;
    let n = 0;
    while (pos < end) {
      if (end - pos < TFWD_RECORD_HEADER_LEN) return 'truncated';
      const rlen = u16(buf, pos + 4);
      if (rlen === 0) return 'bad-record-length';
      pos += TFWD_RECORD_HEADER_LEN + rlen;
      if (pos > end) return 'bad-record-length';
      n++;
    }
    if (n !== h.count) return 'bad-record-count';
    this.buf = buf;
    this.pos = h.headerLen;
    this.left = n;
    return null;
  }

  /** Moves to the next record of the datagram last accepted: false when there is none. */
  next(): boolean {
    if (this.left === 0) return false;
    const b = this.buf;
    const p = this.pos;
    this.recordTs = this.header.baseTime + i32(b, p);
    this.recordLength = u16(b, p + 4);
    this.recordFlags = b[p + 6] as number;
    this.recordOffset = p + TFWD_RECORD_HEADER_LEN;
    this.pos = this.recordOffset + this.recordLength;
    this.left--;
    return true;
  }
}

/** One record, as decodeTfwd() returns it. */
export interface TfwdRecord {
  ts: number;
  data: Buffer;
  truncated: boolean;
}

export type TfwdDecodeResult = { ok: true; header: TfwdHeader; records: TfwdRecord[] } | { ok: false; error: TfwdError };

/** Whole-datagram convenience decoder (tests, tools): allocates; the receive path uses TfwdDecoder. */
export function decodeTfwd(buf: Buffer, opts: TfwdDecoderOptions = {}): TfwdDecodeResult {
  const d = new TfwdDecoder(opts);
  const error = d.decode(buf);
  if (error !== null) return { ok: false, error };
  const records: TfwdRecord[] = [];
  while (d.next()) {
    records.push({
      ts: d.recordTs,
      data: buf.subarray(d.recordOffset, d.recordOffset + d.recordLength),
      truncated: (d.recordFlags & TfwdRecordFlags.TRUNCATED) !== 0,
    });
  }
  return { ok: true, header: { ...d.header }, records };
}

export interface TfwdEncoderOptions {
  sensorId: number;
  deploymentId?: number;
  /** Random per forwarder start, non-zero: lets the recorder tell a restart from loss. Default: random. */
  bootId?: number;
  /** Sequence number of the first packet (default 0). */
  seqStart?: number;
  /** Largest datagram (UDP payload) to build, bytes; default 1400. A packet too big for it is sent alone. */
  mtu?: number;
  /** Signs every datagram when given. */
  key?: TfwdKey;
}

export interface TfwdEncoderStats {
  datagrams: number;
  packets: number;
  bytes: number;
  /** Packets sent alone in a datagram larger than the MTU (the IP layer fragments it). */
  oversize: number;
  /** Packets cut to fit the 65,507-byte UDP limit (flagged TRUNCATED). */
  cut: number;
}

/** A datagram as built: its bytes (owned by the receiver of the callback) and how many packets it carries. */
export type TfwdEmit = (datagram: Buffer, packets: number) => void;

/** A capture time as whole µs since the epoch; the encoder refuses what the u64 field cannot say. */
function micros(ts: number): number {
  const t = Math.round(ts);
  if (!(t >= 0 && t <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`capture time ${ts} is not µs since the epoch`);
  return t;
}

/** Largest |tsDelta| a record can carry; a packet beyond it starts a new datagram. */
const MAX_DELTA = 0x7fffffff;

/**
 * Batches packets into TFWD datagrams under the MTU. add() emits a datagram whenever the next packet would not
 * fit; flush() emits what is pending (call it on a short timer so a quiet sensor's packets are not held).
 */
export class TfwdEncoder {
  readonly sensorId: number;
  readonly deploymentId: number;
  readonly bootId: number;
  readonly mtu: number;
  readonly stats: TfwdEncoderStats = { datagrams: 0, packets: 0, bytes: 0, oversize: 0, cut: 0 };
  /** Cumulative packets the sensor's own capture lost; carried in every header. */
  sensorDrops = 0;

  private readonly key: TfwdKey | undefined;
  private readonly tagLen: number;
  private readonly work: Buffer;
  private seqNext: number;
  private batchSeq = 0;
  private count = 0;
  private pos = TFWD_HEADER_LEN;
  private baseTime = 0;

  constructor(opts: TfwdEncoderOptions, private readonly emit: TfwdEmit) {
    const u32ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
    if (!u32ok(opts.sensorId)) throw new RangeError(`sensorId ${opts.sensorId} is not a u32`);
    this.sensorId = opts.sensorId;
    this.deploymentId = opts.deploymentId ?? 0;
    if (!u32ok(this.deploymentId)) throw new RangeError(`deploymentId ${this.deploymentId} is not a u32`);
    this.bootId = opts.bootId ?? (((Math.random() * 0xffffffff) >>> 0) || 1);
    if (!u32ok(this.bootId)) throw new RangeError(`bootId ${this.bootId} is not a u32`);
    this.seqNext = (opts.seqStart ?? 0) >>> 0;
    this.key = opts.key;
    this.tagLen = opts.key !== undefined ? TFWD_TAG_LEN : 0;
    const mtu = opts.mtu ?? 1400;
    const min = TFWD_HEADER_LEN + TFWD_RECORD_HEADER_LEN + 1 + this.tagLen;
    if (!Number.isInteger(mtu) || mtu < min || mtu > TFWD_MAX_DATAGRAM) throw new RangeError(`mtu ${mtu} is outside ${min}..${TFWD_MAX_DATAGRAM}`);
    this.mtu = mtu;
    this.work = Buffer.allocUnsafe(TFWD_MAX_DATAGRAM);
  }

  /** Sequence number the next packet will get. */
  get seq(): number {
    return this.seqNext;
  }

  /** Packets waiting in the current batch. */
  get pending(): number {
    return this.count;
  }

  /** Queues one IP packet captured at `ts` (µs since the epoch); `truncated` when the capture cut it short. */
  add(ts: number, packet: Buffer, truncated = false): void {
    const t = micros(ts);
    let len = packet.length;
    if (len === 0) throw new RangeError('an empty packet cannot be forwarded');
    const need = TFWD_RECORD_HEADER_LEN + len;
    if (this.count > 0 && (this.pos + need + this.tagLen > this.mtu || Math.abs(t - this.baseTime) > MAX_DELTA || this.count === 0xffff)) this.flush();
    let flags = truncated ? TfwdRecordFlags.TRUNCATED : 0;
    if (this.count === 0) {
      this.baseTime = t;
      this.batchSeq = this.seqNext;
      const room = TFWD_MAX_DATAGRAM - TFWD_HEADER_LEN - TFWD_RECORD_HEADER_LEN - this.tagLen;
      if (len > room) {
        len = room;
        flags |= TfwdRecordFlags.TRUNCATED;
        this.stats.cut++;
      }
      if (TFWD_HEADER_LEN + TFWD_RECORD_HEADER_LEN + len + this.tagLen > this.mtu) this.stats.oversize++;
    }
    const w = this.work;
    const p = this.pos;
    w.writeInt32BE(t - this.baseTime, p);
    w.writeUInt16BE(len, p + 4);
    w[p + 6] = flags;
    w[p + 7] = 0;
    packet.copy(w, p + TFWD_RECORD_HEADER_LEN, 0, len);
    this.pos = p + TFWD_RECORD_HEADER_LEN + len;
    this.count++;
    this.seqNext = (this.seqNext + 1) >>> 0;
    // A packet that filled the datagram alone (oversize) goes out at once rather than waiting for the next add().
    if (this.pos + this.tagLen >= this.mtu) this.flush();
  }

  /** Emits the pending batch, if any. */
  flush(): void {
    if (this.count === 0) return;
    const n = this.count;
    this.emitDatagram(this.batchSeq, n);
    this.stats.packets += n;
    this.count = 0;
    this.pos = TFWD_HEADER_LEN;
  }

  /**
   * Emits a datagram with no packets (after flushing): it tells the recorder the sensor is alive, where its
   * sequence is (so loss at the end of a burst is seen) and its capture drops.
   */
  heartbeat(ts: number): void {
    this.flush();
    this.baseTime = micros(ts);
    this.pos = TFWD_HEADER_LEN;
    this.emitDatagram(this.seqNext, 0);
  }

  private emitDatagram(seq: number, count: number): void {
    const w = this.work;
    w.writeUInt32BE(TFWD_MAGIC, 0);
    w[4] = TFWD_VERSION;
    w[5] = this.key !== undefined ? TfwdFlags.AUTH : 0;
    w.writeUInt16BE(TFWD_HEADER_LEN, 6);
    w.writeUInt16BE(this.key?.id ?? 0, 8);
    w.writeUInt16BE(count, 10);
    w.writeUInt32BE(this.sensorId, 12);
    w.writeUInt32BE(this.deploymentId, 16);
    w.writeUInt32BE(this.bootId, 20);
    w.writeUInt32BE(seq, 24);
    w.writeUInt32BE(Math.floor(this.baseTime / 4294967296), 28);
    w.writeUInt32BE(this.baseTime % 4294967296 >>> 0, 32);
    w.writeUInt32BE(this.sensorDrops >>> 0, 36);
    const end = this.pos;
    const out = Buffer.allocUnsafe(end + this.tagLen);
    w.copy(out, 0, 0, end);
    if (this.key !== undefined) this.key.sign(out, end, TFWD_TAG_LEN);
    this.stats.datagrams++;
    this.stats.bytes += out.length;
    this.emit(out, count);
  }
}
