/**
 * RTP/RTCP header parsing (RFC 3550 §5.1, RFC 5761 §4) and sequence accounting (RFC 3550 Appendix A.1/A.3).
 * Everything here takes untrusted capture bytes: malformed input yields undefined or false, never an exception.
 */
import type { RtpPacket } from './types';

/**
 * RFC 3550 §5.1 header parse. Returns undefined unless the version is 2 and the CSRC list, header extension and
 * padding count all fit the buffer. Structural only: RTCP (see isRtcp) also passes, so test isRtcp first.
 * `uncheckedPadding`: a P bit whose count does not fit is accepted (paddingUnchecked, payload to the end), for
 * SRTP, where the padding is encrypted and the last byte belongs to the authentication tag.
 */
/** Almost every packet has no CSRC: they share one empty list (frozen: nobody may add to it). */
const NO_CSRC: readonly number[] = Object.freeze([]);

export function parseRtp(buf: Buffer, uncheckedPadding = false): RtpPacket | undefined {
  const len = buf.length;
  if (len < 12) return undefined;
  const b0 = buf[0] as number;
  if (b0 >> 6 !== 2) return undefined;
  const cc = b0 & 0x0f;
  let off = 12 + cc * 4;
  if (off > len) return undefined;
  const extension = (b0 & 0x10) !== 0;
  if (extension) {
    if (off + 4 > len) return undefined;
    // The length field counts 32-bit words after the 4-byte extension header (RFC 3550 §5.3.1).
    off += 4 + (((buf[off + 2] as number) << 8) | (buf[off + 3] as number)) * 4;
    if (off > len) return undefined;
  }
  const padding = (b0 & 0x20) !== 0;
  let end = len;
  let unchecked = false;
  if (padding) {
    // The last octet counts the padding including itself, so 0 is invalid (RFC 3550 §5.1, A.1 validity check).
    const pad = buf[len - 1] as number;
    if (pad !== 0 && off + pad <= len) end = len - pad;
    else if (uncheckedPadding) unchecked = true;
    else return undefined;
  }
  let csrc = NO_CSRC;
  if (cc > 0) {
    const list: number[] = [];
    for (let i = 0; i < cc; i++) list.push(buf.readUInt32BE(12 + i * 4));
    csrc = list;
  }
  const b1 = buf[1] as number;
  const p: RtpPacket = {
    version: 2,
    padding,
    extension,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    seq: ((buf[2] as number) << 8) | (buf[3] as number),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    csrc,
    payload: buf.subarray(off, end),
    headerLength: off,
  };
  if (unchecked) p.paddingUnchecked = true;
  return p;
}

/**
 * RFC 5761 §4: with RTP and RTCP on one port, a version-2 packet whose second byte is 192-223 is RTCP (SR 200,
 * RR 201, SDES 202, BYE 203, APP 204, RTPFB 205, PSFB 206, XR 207 ...); RTP payload types 64-95 are avoided
 * for exactly this reason. The 4-byte common header must be present.
 */
export function isRtcp(buf: Buffer): boolean {
  if (buf.length < 4) return false;
  const b1 = buf[1] as number;
  return (buf[0] as number) >> 6 === 2 && b1 >= 192 && b1 <= 223;
}

/** Signed distance from sequence number a to b in 16-bit space: in [-32768, 32767]. */
export function seqDelta(a: number, b: number): number {
  return ((b - a + 32768) & 0xffff) - 32768;
}

/** Signed distance from RTP timestamp a to b in 32-bit space: in [-2^31, 2^31). */
export function tsDelta(a: number, b: number): number {
  return (b - a) | 0;
}

/**
 * Extends a wrapping counter (RFC 3550 A.1 style): the extended value nearest to `ref` (itself extended) whose
 * low `bits` bits equal `value`. unwrap(65535, 2) = 65538; unwrap(65538, 65534) = 65534.
 */
export function unwrap(ref: number, value: number, bits: 16 | 32 = 16): number {
  return bits === 16 ? ref + seqDelta(ref & 0xffff, value) : ref + tsDelta(ref >>> 0, value >>> 0);
}

/** RFC 3550 A.1 constants: a gap this large is a jump, not loss; this far back is reordering. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
/** Sequence numbers remembered for duplicate detection (a power of two, > MAX_MISORDER). */
const WINDOW = 1024;

/**
 * Loss and duplicate accounting for ONE RTP stream (one SSRC): keep one tracker per SSRC (RFC 3550 A.3).
 * `received` counts distinct packets, so `lost` = expected - received is not hidden by duplicates.
 * Unlike A.1, no probation: a recorder keeps the first packets. A jump of ≥ MAX_DROPOUT is confirmed by a
 * second in-sequence packet before the counts re-anchor (a restarted sender); a lone stray is not counted.
 */
export class SequenceTracker {
  /** Distinct packets received. */
  received = 0;
  /** Packets seen again (same sequence number within the recent window). */
  duplicates = 0;
  private started = false;
  /** Extended sequence numbers: lowest and highest received in the current run. */
  private base = 0;
  private max = 0;
  /** Expected packets of runs before a re-anchoring jump. */
  private priorExpected = 0;
  /** Sequence number that would confirm a jump (A.1's bad_seq); -1 when none pending. */
  private badSeq = -1;
  private readonly seen = new Uint32Array(WINDOW / 32);

  /** Packets expected from the sequence range (RFC 3550 A.3), over every run. */
  get expected(): number {
    return this.started ? this.priorExpected + this.max - this.base + 1 : 0;
  }

  /** Expected minus received, never negative. */
  get lost(): number {
    return Math.max(0, this.expected - this.received);
  }

  /** Highest extended sequence number of the current run (cycles × 65536 + seq). */
  get extendedMax(): number {
    return this.max;
  }

  /** Records one packet's sequence number; false when it is a duplicate (do not decode it again). */
  add(seq: number): boolean {
    seq &= 0xffff;
    if (!this.started) {
      this.anchor(seq, seq);
      return true;
    }
    const delta = seqDelta(this.max & 0xffff, seq);
    const ext = this.max + delta;
    if (delta > 0 && delta < MAX_DROPOUT) {
      this.advance(ext);
      this.mark(ext);
      this.received++;
      this.badSeq = -1;
      return true;
    }
    if (delta <= 0 && delta >= -MAX_MISORDER) {
      if (this.isMarked(ext)) {
        this.duplicates++;
        return false;
      }
      this.mark(ext);
      this.received++;
      if (ext < this.base) this.base = ext; // late packet from before the first one seen
      return true;
    }
    // A large jump: re-anchor only when the next packet confirms it (A.1: seq == bad_seq).
    if (seq === this.badSeq) {
      this.priorExpected += this.max - this.base + 1;
      const prev = (seq - 1) & 0xffff;
      this.anchor(prev, prev + 1); // counts the jump's first packet, held back until now, and this one
      return true;
    }
    this.badSeq = (seq + 1) & 0xffff;
    return true;
  }

  /** Starts a run at extended numbers first..last (both received). */
  private anchor(first: number, last: number): void {
    this.started = true;
    this.seen.fill(0);
    this.base = first;
    this.max = first;
    this.badSeq = -1;
    for (let e = first; e <= last; e++) {
      if (e > this.max) this.max = e;
      this.mark(e);
      this.received++;
    }
  }

  private advance(ext: number): void {
    const gap = ext - this.max;
    if (gap >= WINDOW) this.seen.fill(0);
    else for (let e = this.max + 1; e <= ext; e++) this.seen[(e & (WINDOW - 1)) >>> 5] &= ~(1 << (e & 31));
    this.max = ext;
  }

  private mark(ext: number): void {
    this.seen[(ext & (WINDOW - 1)) >>> 5] |= 1 << (ext & 31);
  }

  private isMarked(ext: number): boolean {
    return ((this.seen[(ext & (WINDOW - 1)) >>> 5] as number) & (1 << (ext & 31))) !== 0;
  }
}
