/**
 * Cuts one direction of a TURN-over-TCP stream (bus 'tcpData' chunks, in order, maybe split or coalesced
 * anyhow, maybe with gaps) into units (lync-protocols.md §3.3):
 *
 *  - MS-TURN on 443/3478: an optional pseudo-TLS handshake (real TLS records: ClientHello, or ServerHello +
 *    ServerHelloDone; skipped), then `type(1: 0x02 control, 0x03 end-to-end data) | 0x00 | length(2) | payload`.
 *  - RFC 5766/6062 TURN over TCP: STUN messages (20 + length) and ChannelData padded to 4 bytes, back to back;
 *    also MS-TURN 0xFF10 multiplexed frames.
 *  - RFC 4571 (ICE-TCP between hosts): `length(2) | packet`.
 *
 * The framing is recognised on the first bytes. After a gap the framer resynchronises on a header whose unit is
 * followed by another plausible header. A stream that is something else (real TLS, HTTP) is given up at once.
 */

export type TcpFraming = 'ms-tcp' | 'stun-stream' | 'rfc4571';

export type FramedUnit =
  | {
      kind: 'frame';
      framing: TcpFraming;
      /** ms-tcp only: 0x02 TURN control message, 0x03 end-to-end data. */
      msType?: 0x02 | 0x03;
      payload: Buffer;
    }
  | { kind: 'pseudo-tls'; handshake: string[] }
  | { kind: 'skipped'; bytes: number; reason: string }
  | { kind: 'not-turn'; reason: string };

const TLS_HANDSHAKE = 0x16;
/** Handshake messages a pseudo-TLS exchange has: ClientHello, ServerHello, ServerHelloDone [MS-TURN 3.1.5.1]. */
const PSEUDO_TLS_MESSAGES: Readonly<Record<number, string>> = { 1: 'client-hello', 2: 'server-hello', 14: 'server-hello-done' };
/** Bytes held while waiting for a unit's end or a resync point; beyond it the oldest are dropped. */
const MAX_BUFFER = 256 * 1024;
/** Bytes needed to recognise a framing: a 4-byte frame header plus a STUN header and its first attribute. */
const DETECT_BYTES = 4 + 28;

const EMPTY = Buffer.alloc(0);

export interface TcpFramerOptions {
  /**
   * The stream may have been joined mid-way (a flow on a TURN port whose start the capture missed): when its first
   * bytes show no framing, look for an MS-TURN frame boundary in the first 16 KiB instead of giving up.
   */
  joinMidStream?: boolean;
}

/** How far into a stream joined mid-way a frame boundary is looked for. */
const JOIN_WINDOW = 16 * 1024;

export class TurnTcpFramer {
  private buf: Buffer = EMPTY;
  private framing: TcpFraming | undefined;
  private state: 'start' | 'framing' | 'resync' | 'dead' = 'start';
  /** Resync: offsets below it are known not to start a unit. */
  private scanFrom = 0;

  constructor(private readonly opts: TcpFramerOptions = {}) {}

  /** The framing in use once recognised. */
  get mode(): TcpFraming | undefined {
    return this.framing;
  }

  get gaveUp(): boolean {
    return this.state === 'dead';
  }

  /** Feeds the next chunk; `gapBefore` bytes were lost just before it. Returns the complete units. */
  push(data: Buffer, gapBefore?: number): FramedUnit[] {
    if (this.state === 'dead') return [];
    const out: FramedUnit[] = [];
    if (gapBefore !== undefined && gapBefore > 0) {
      if (this.buf.length > 0) out.push({ kind: 'skipped', bytes: this.buf.length, reason: `a unit cut by ${gapBefore} lost bytes` });
      this.buf = EMPTY;
      this.state = this.framing === undefined ? 'start' : 'resync';
      this.scanFrom = 0;
    }
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    let pos = 0;
    for (;;) {
      const step = this.step(pos, out);
      if (step < 0) break;
      pos = step;
    }
    // A partial unit waits for the next chunk: copied, so it does not pin the capture chunk it is a view of.
    this.buf = pos >= this.buf.length ? EMPTY : Buffer.from(this.buf.subarray(pos));
    if (this.buf.length > MAX_BUFFER) {
      const drop = this.buf.length - MAX_BUFFER / 4;
      out.push({ kind: 'skipped', bytes: drop, reason: 'no unit boundary found' });
      this.buf = Buffer.from(this.buf.subarray(drop));
      this.scanFrom = 0;
      if (this.state === 'framing') this.state = 'resync';
    }
    return out;
  }

  /** Whatever is still buffered (end of stream): reported as skipped. */
  flush(): FramedUnit[] {
    const n = this.buf.length;
    this.buf = EMPTY;
    return n > 0 && this.state !== 'dead' ? [{ kind: 'skipped', bytes: n, reason: 'incomplete unit at the end of the stream' }] : [];
  }

  /** Handles what starts at `pos`; returns the next position, or -1 to wait for more bytes. */
  private step(pos: number, out: FramedUnit[]): number {
    const b = this.buf;
    if (pos >= b.length || this.state === 'dead') return -1;
    if (this.state === 'start') return this.start(pos, out);
    if (this.state === 'resync') return this.resync(pos, out);
    const framing = this.framing as TcpFraming;
    const len = unitLength(b, pos, framing);
    if (len === 0) {
      this.state = 'resync';
      this.scanFrom = pos + 1;
      return pos;
    }
    if (len < 0 || pos + len > b.length) return -1;
    out.push(unit(b, pos, len, framing));
    return pos + len;
  }

  private start(pos: number, out: FramedUnit[]): number {
    const b = this.buf;
    if (b.length - pos < 5) return -1;
    const b0 = b[pos] as number;
    if (b[pos + 1] === 0x03 && (b[pos + 2] as number) <= 0x04 && b0 >= 0x14 && b0 <= 0x17) {
      if (b0 !== TLS_HANDSHAKE) return this.giveUp(out, `a TLS ${b0 === 0x17 ? 'application data' : b0 === 0x14 ? 'ChangeCipherSpec' : 'alert'} record: real TLS, not MS-TURN`);
      const recLen = b.readUInt16BE(pos + 3);
      if (b.length - pos < 5 + recLen) return -1;
      const names = handshakeNames(b.subarray(pos + 5, pos + 5 + recLen));
      if (names === undefined) return this.giveUp(out, 'a TLS handshake beyond hellos (certificates, key exchange): real TLS, not MS-TURN pseudo-TLS');
      out.push({ kind: 'pseudo-tls', handshake: names });
      return pos + 5 + recLen;
    }
    const f = detectFraming(b, pos);
    if (f === 'more') return -1;
    if (f === undefined && this.opts.joinMidStream === true) {
      // Joined mid-way: resynchronise on MS-TURN frames as after a gap, within a window.
      this.framing = 'ms-tcp';
      const at = this.resync(pos, out, true);
      if (at >= 0) return at;
      this.framing = undefined;
      this.scanFrom = 0;
      if (b.length - pos < JOIN_WINDOW) return -1;
    }
    if (f === undefined) return this.giveUp(out, 'the stream starts with neither pseudo-TLS, MS-TURN TCP framing, TURN, nor RFC 4571 framing');
    this.framing = f;
    this.state = 'framing';
    return pos;
  }

  /** Looks for the next offset whose unit is whole and followed by another plausible header (or the end of the bytes). */
  private resync(pos: number, out: FramedUnit[], strict = false): number {
    const b = this.buf;
    const framing = this.framing as TcpFraming;
    for (let i = Math.max(pos, this.scanFrom); i + 4 <= b.length; i++) {
      if (!plausible(b, i, framing)) continue;
      const len = unitLength(b, i, framing);
      if (len <= 0) continue;
      const next = i + len;
      // Strict (joining a stream): only a whole unit followed by another header counts; wait for the bytes to tell.
      if (strict && next + 4 > b.length) return -1;
      // A whole unit must be followed by a plausible header; an incomplete one is waited for where it starts.
      if (next <= b.length && next + 4 <= b.length && !plausible(b, next, framing)) continue;
      if (i > pos) out.push({ kind: 'skipped', bytes: i - pos, reason: 'resynchronising after a gap or bad frame' });
      this.state = 'framing';
      this.scanFrom = 0;
      return i;
    }
    this.scanFrom = Math.max(pos, b.length - 3);
    return -1;
  }

  private giveUp(out: FramedUnit[], reason: string): number {
    this.state = 'dead';
    this.buf = EMPTY;
    out.push({ kind: 'not-turn', reason });
    return -1;
  }
}

/** Names of the handshake messages in a TLS record if it holds only hellos, else undefined. */
function handshakeNames(rec: Buffer): string[] | undefined {
  const names: string[] = [];
  let off = 0;
  while (off + 4 <= rec.length) {
    const name = PSEUDO_TLS_MESSAGES[rec[off] as number];
    if (name === undefined) return undefined;
    names.push(name);
    off += 4 + rec.readUIntBE(off + 1, 3);
  }
  return names.length > 0 && off === rec.length ? names : undefined;
}

function isStunAt(b: Buffer, at: number): boolean {
  if (b.length < at + 20 || (b[at] as number) > 3) return false;
  if (b.readUInt32BE(at + 4) === 0x2112a442) return true;
  return b.length >= at + 28 && b.readUInt16BE(at + 20) === 0x000f && b.readUInt32BE(at + 24) === 0x72c64bc6;
}

function isMediaAt(b: Buffer, at: number): boolean {
  const x = b[at];
  return x !== undefined && ((x >= 128 && x <= 191) || isStunAt(b, at) || (x === 0xff && b[at + 1] === 0x10));
}

/** The framing the stream's first unit shows, 'more' when too few bytes are in, undefined when none fits. */
function detectFraming(b: Buffer, pos: number): TcpFraming | 'more' | undefined {
  const n = b.length - pos;
  const b0 = b[pos] as number;
  const enough = (need: number): boolean => n >= Math.min(need, DETECT_BYTES);
  if ((b0 === 0x02 || b0 === 0x03) && b[pos + 1] === 0x00) {
    const len = b.readUInt16BE(pos + 2);
    if (!enough(4 + len)) return 'more';
    if (len > 0 && (b0 === 0x03 || isStunAt(b, pos + 4) || n < 4 + 20)) return 'ms-tcp';
  }
  if (b0 <= 3) {
    if (!enough(28)) return 'more';
    if (isStunAt(b, pos)) return 'stun-stream';
  }
  if (b0 >= 0x40 && b0 <= 0x7f) {
    // ChannelData carries RTP, RTCP or STUN: its first payload byte tells it from text that starts with '@'..DEL.
    if (n < 5) return 'more';
    if (isMediaAt(b, pos + 4)) return 'stun-stream';
  }
  if (b0 === 0xff && b[pos + 1] === 0x10) return 'stun-stream';
  // RFC 4571: a length, then RTP/RTCP (version 2) or STUN with its cookie 6 bytes in.
  if (n < 3) return 'more';
  const len = b.readUInt16BE(pos);
  const p0 = b[pos + 2] as number;
  if (len >= 12 && p0 >= 128 && p0 <= 191) return 'rfc4571';
  if (len >= 20 && p0 <= 3) {
    if (n < 10) return 'more';
    if (b.readUInt32BE(pos + 6) === 0x2112a442) return 'rfc4571';
  }
  return undefined;
}

/** Whether a unit header of this framing could start at `at` (used to resynchronise). */
function plausible(b: Buffer, at: number, framing: TcpFraming): boolean {
  if (framing === 'ms-tcp') {
    const t = b[at];
    return (t === 0x02 || t === 0x03) && b[at + 1] === 0x00 && b.readUInt16BE(at + 2) > 0 && (at + 4 >= b.length || (t === 0x02 ? isStunAt(b, at + 4) || b.length < at + 24 : isMediaAt(b, at + 4)));
  }
  if (framing === 'rfc4571') return b.readUInt16BE(at) >= 12 && (at + 2 >= b.length || isMediaAt(b, at + 2));
  const b0 = b[at] as number;
  if (b0 <= 3) return isStunAt(b, at) || b.length < at + 28;
  if (b0 >= 0x40 && b0 <= 0x7f) return at + 4 >= b.length || isMediaAt(b, at + 4);
  return b0 === 0xff && b[at + 1] === 0x10;
}

/** Bytes of the unit at `at` (header, payload, padding); -1 when its header is incomplete, 0 when it is not a unit. */
function unitLength(b: Buffer, at: number, framing: TcpFraming): number {
  const n = b.length - at;
  if (framing === 'rfc4571') return n < 2 ? -1 : 2 + b.readUInt16BE(at);
  if (n < 4) return -1;
  const b0 = b[at] as number;
  if (framing === 'ms-tcp') return (b0 === 0x02 || b0 === 0x03) && b[at + 1] === 0x00 ? 4 + b.readUInt16BE(at + 2) : 0;
  if (b0 <= 3) return 20 + b.readUInt16BE(at + 2);
  if (b0 >= 0x40 && b0 <= 0x7f) return 4 + ((b.readUInt16BE(at + 2) + 3) & ~3); // RFC 5766 §11.5: padded over TCP
  if (b0 === 0xff && b[at + 1] === 0x10) return 4 + b.readUInt16BE(at + 2);
  return 0;
}

function unit(b: Buffer, at: number, len: number, framing: TcpFraming): FramedUnit {
  if (framing === 'ms-tcp') return { kind: 'frame', framing, msType: b[at] === 0x02 ? 0x02 : 0x03, payload: b.subarray(at + 4, at + len) };
  if (framing === 'rfc4571') return { kind: 'frame', framing, payload: b.subarray(at + 2, at + len) };
  return { kind: 'frame', framing, payload: b.subarray(at, at + len) };
}
