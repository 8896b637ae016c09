/**
 * SRTP/SRTCP receiver for ONE direction: the packets one sender protects with one SDES master key
 * (RFC 3711; Lync specifics in shared/docs/lync-protocols.md §2).
 *
 * Per SSRC it keeps the highest packet index (ROC and s_l of §3.3.1) and a replay window (§3.3.2). A recorder
 * usually joins a call it did not see start, so the ROC of an SSRC's first packet is found by trying
 * ROC = 0..maxRocProbe and keeping the one whose HMAC verifies; the same first packet also settles whether the
 * sender puts an MKI before the tag (Lync's `|2^31|1:1` vs `|2^31` lines, "symmetric MKI" interop).
 * Nothing is ever returned for a packet that did not authenticate.
 */
import { HmacSha1 } from './auth';
import { KeystreamRun } from './keystream-run';
import { IN_PLACE_ROOM } from './sha1';
import { outputRing } from './output-ring';
import { srtpNative, type NativeKeys } from './native';
import { AesCm, writeIv } from './cipher';
import { checkMasterKey, deriveSessionKeys } from './kdf';
import { ReplayWindow } from './replay';
import { SRTCP_CLEAR_HEADER, SRTCP_TAG_LENGTH, srtcpLayout } from './srtcp';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';
export type MkiLength = 0 | 1 | 2 | 4;

/** SRTP authentication tag length per suite (RFC 4568 §6.2.1, §6.2.2). */
export const SRTP_TAG_LENGTH: Readonly<Record<SrtpSuite, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10,
  AES_CM_128_HMAC_SHA1_32: 4,
};

export interface SrtpContextOptions {
  suite: SrtpSuite;
  /** 16-byte master key and 14-byte master salt (see parseInlineKey). kdr is 0, as in every SDES offer Lync makes. */
  masterKey: Buffer;
  masterSalt: Buffer;
  /** MKI bytes between the payload and the tag, from the chosen a=crypto line (`|1:1` → 1). Default 0. */
  mkiLength?: MkiLength;
  /** Expected MKI value; packets carrying another one are refused ('mki'). Default: any value. */
  mki?: number;
  /** Replay window in packets (RFC 3711 §3.3.2 asks for at least 64). Default 64. */
  replayWindow?: number;
  /** Highest ROC tried on an SSRC's first packet (a recorder joining mid-call). Default 2. */
  maxRocProbe?: number;
  /**
   * Authenticate and decrypt a known stream's packets in the native addon when it is loaded (native.ts). Default
   * true; false keeps this context on the TypeScript path (the tests run both and compare).
   */
  native?: boolean;
}

/** Why a packet was refused. */
export type SrtpFailure = 'auth' | 'replay' | 'short' | 'mki' | 'not-rtp';

export type SrtpResult =
  | {
      ok: true;
      /** Plain RTP packet: the header as received and the decrypted payload, without MKI and tag. */
      rtp: Buffer;
      roc: number;
      /** 48-bit packet index, ROC · 2^16 + SEQ (RFC 3711 §3.3.1). */
      index: number;
    }
  | { ok: false; reason: SrtpFailure };

export type SrtcpResult =
  | {
      ok: true;
      /** Plain (compound) RTCP packet without E/index word, MKI and tag. */
      rtcp: Buffer;
      /** 31-bit SRTCP index. */
      index: number;
      /** The E flag: false when the sender left the packet unencrypted (UNENCRYPTED_SRTCP). */
      encrypted: boolean;
    }
  | { ok: false; reason: SrtpFailure };

/** Packets accepted ('ok') and refused, by reason. */
export type SrtpCounters = Record<'ok' | SrtpFailure, number>;

/** What is known of one SSRC (for logs and tests). */
export interface SrtpStreamInfo {
  /** ROC of the highest index (0 for SRTCP). */
  roc: number;
  highestIndex: number;
  /** MKI length this sender was found to use (may differ from the configured one, see the class comment). */
  mkiLength: number;
}

interface Stream {
  replay: ReplayWindow;
  mkiLength: number;
  /** Keystream of the next packet indices (RTP only). */
  ks?: KeystreamRun;
}

/** Payloads longer than this are decrypted directly (not worth caching). */
const KS_MAX_STRIDE = 1024;

interface Keys {
  aes: AesCm;
  hmac: HmacSha1;
  salt: Buffer;
}

function counters(): SrtpCounters {
  return { ok: 0, auth: 0, replay: 0, short: 0, mki: 0, 'not-rtp': 0 };
}

/**
 * Offset of the RTP payload (after CSRCs and header extension, which SRTP leaves in clear: §3.1), or -1 when
 * the header runs past `limit`.
 */
function rtpHeaderLength(p: Buffer, limit: number): number {
  const b0 = p[0] as number;
  let off = 12 + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (off + 4 > limit) return -1;
    off += 4 + (((p[off + 2] as number) << 8) | (p[off + 3] as number)) * 4;
  }
  return off > limit ? -1 : off;
}

export class SrtpContext {
  readonly suite: SrtpSuite;
  readonly mkiLength: MkiLength;
  readonly stats: { readonly rtp: SrtpCounters; readonly rtcp: SrtpCounters } = { rtp: counters(), rtcp: counters() };

  private readonly tagLength: number;
  private readonly mki: number | undefined;
  private readonly windowSize: number;
  private readonly maxRocProbe: number;
  /** MKI layouts tried on an SSRC's first packet: the configured one, then Lync's other line (0 ↔ 1 byte). */
  private readonly layouts: readonly number[];
  private readonly rtpKeys: Keys;
  private readonly rtcpKeys: Keys;
  /** The RTP session keys inside the native addon, when this context uses it. */
  private readonly nativeKeys: NativeKeys | undefined;
  private readonly rtpStreams = new Map<number, Stream>();
  /** The SSRC last seen and its stream: a key is one sender's, so nearly every packet hits (no Map lookup). */
  private lastSsrc = -1;
  private lastStream: Stream | undefined;
  private readonly rtcpStreams = new Map<number, Stream>();
  private readonly iv = Buffer.alloc(16);
  private lastIndex = 0;
  private lastHeaderLength = 0;

  constructor(opts: SrtpContextOptions) {
    if (!(opts.suite in SRTP_TAG_LENGTH)) throw new RangeError(`unsupported SRTP suite ${String(opts.suite)}`);
    checkMasterKey(opts.masterKey, opts.masterSalt);
    const mkiLength = opts.mkiLength ?? 0;
    if (![0, 1, 2, 4].includes(mkiLength)) throw new RangeError(`SRTP MKI length must be 0, 1, 2 or 4 bytes, got ${String(mkiLength)}`);
    if (opts.mki !== undefined && (!Number.isInteger(opts.mki) || opts.mki < 0 || (mkiLength < 4 && opts.mki >= 2 ** (8 * mkiLength)) || opts.mki > 0xffffffff)) {
      throw new RangeError(`SRTP MKI value ${opts.mki} does not fit ${mkiLength} byte(s)`);
    }
    const maxRocProbe = opts.maxRocProbe ?? 2;
    if (!Number.isInteger(maxRocProbe) || maxRocProbe < 0 || maxRocProbe > 0xffff) throw new RangeError(`maxRocProbe must be 0..65535, got ${maxRocProbe}`);
    this.suite = opts.suite;
    this.tagLength = SRTP_TAG_LENGTH[opts.suite];
    this.mkiLength = mkiLength;
    this.mki = opts.mki;
    this.windowSize = opts.replayWindow ?? 64;
    new ReplayWindow(this.windowSize); // validates the size now rather than on the first packet
    this.maxRocProbe = maxRocProbe;
    this.layouts = mkiLength === 0 ? [0, 1] : [mkiLength, 0];
    const k = deriveSessionKeys(opts.masterKey, opts.masterSalt);
    this.rtpKeys = { aes: new AesCm(k.rtpKey), hmac: new HmacSha1(k.rtpAuth), salt: k.rtpSalt };
    this.rtcpKeys = { aes: new AesCm(k.rtcpKey), hmac: new HmacSha1(k.rtcpAuth), salt: k.rtcpSalt };
    this.nativeKeys = opts.native !== false && srtpNative !== undefined ? srtpNative.createKeys(k.rtpAuth, k.rtpKey, k.rtpSalt) : undefined;
  }

  /** Whether this context's known streams are handled by the native addon. */
  get usesNative(): boolean {
    return this.nativeKeys !== undefined;
  }

  /** Known state of an SSRC, once one of its packets authenticated. */
  streamInfo(ssrc: number, kind: 'rtp' | 'rtcp' = 'rtp'): SrtpStreamInfo | undefined {
    const s = (kind === 'rtp' ? this.rtpStreams : this.rtcpStreams).get(ssrc >>> 0);
    if (s === undefined) return undefined;
    const hi = s.replay.highest;
    return { roc: kind === 'rtp' ? Math.floor(hi / 0x10000) : 0, highestIndex: hi, mkiLength: s.mkiLength };
  }

  /** Authenticates and decrypts one SRTP packet (RFC 3711 §3.3). The input buffer is not modified. */
  unprotect(packet: Buffer): SrtpResult {
    const r = this.unprotectPayload(packet);
    if (typeof r === 'string') return { ok: false, reason: r };
    // The plain header sits right before the payload in the same memory (see decryptCached / decryptRtp); the
    // ring is reused, so the caller gets its own copy.
    const hdr = this.lastHeaderLength;
    const index = this.lastIndex;
    const rtp = Buffer.allocUnsafe(hdr + r.length);
    rtp.set(new Uint8Array(r.buffer, r.byteOffset - hdr, hdr + r.length));
    return { ok: true, rtp, roc: Math.floor(index / 0x10000), index };
  }

  /**
   * unprotect() for the recording hot path: the decrypted payload alone (no MKI, no tag; padding, if the P bit is
   * set, still at its end), its plain header right before it in memory, or why the packet was refused; no result
   * object per packet. The payload lives in a reused ring (output-ring.ts): valid while the caller handles this
   * packet, copied by a caller that keeps it. The packet index is in lastPacketIndex until the next call.
   */
  unprotectPayload(packet: Buffer): Buffer | SrtpFailure {
    const r = this.unprotectRtp(packet);
    // A named property on success: cheaper than a keyed increment on the hot path.
    if (typeof r === 'string') this.stats.rtp[r]++;
    else this.stats.rtp.ok++;
    return r;
  }

  /** Packet index (ROC · 2^16 + SEQ) of the last packet unprotectPayload() accepted. */
  get lastPacketIndex(): number {
    return this.lastIndex;
  }

  /** Authenticates and, when its E flag is set, decrypts one SRTCP packet (RFC 3711 §3.4). Input not modified. */
  unprotectRtcp(packet: Buffer): SrtcpResult {
    const r = this.unprotectSrtcp(packet);
    this.stats.rtcp[r.ok ? 'ok' : r.reason]++;
    return r;
  }

  private unprotectRtp(p: Buffer): Buffer | SrtpFailure {
    const len = p.length;
    if (len < 12) return 'short';
    const b1 = p[1] as number;
    // Version 2, and not RTCP's PT 192-223 (RFC 5761 §4) which would arrive here with rtcp-mux.
    if ((p[0] as number) >> 6 !== 2 || (b1 >= 192 && b1 <= 223)) return 'not-rtp';
    const seq = ((p[2] as number) << 8) | (p[3] as number);
    const ssrc = p.readUInt32BE(8);
    let stream = this.lastStream;
    if (ssrc !== this.lastSsrc) {
      stream = this.rtpStreams.get(ssrc);
      if (stream !== undefined) {
        this.lastSsrc = ssrc;
        this.lastStream = stream;
      }
    }

    if (stream !== undefined) {
      const authEnd = len - this.tagLength - stream.mkiLength;
      const hdr = rtpHeaderLength(p, authEnd);
      if (hdr < 0) return 'short';
      if (!this.mkiMatches(p, authEnd, stream.mkiLength)) return 'mki';
      const index = estimateIndex(stream.replay.highest, seq);
      if (index < 0) return this.resync(stream, p, hdr, authEnd, seq, ssrc, -1);
      if (stream.replay.check(index) !== 'ok') return 'replay';
      const ring = outputRing;
      const roc = Math.floor(index / 0x10000) >>> 0;
      const tagLength = this.tagLength;
      const nk = this.nativeKeys;
      if (nk !== undefined) {
        // The addon authenticates the packet where it is and writes header + plain payload into the ring.
        const at = ring.take(authEnd);
        if (!(srtpNative as NonNullable<typeof srtpNative>).unprotect(nk, p, authEnd, hdr, roc, tagLength, at)) return this.resync(stream, p, hdr, authEnd, seq, ssrc, roc);
        stream.replay.accept(index);
        this.lastIndex = index;
        this.lastHeaderLength = hdr;
        return ring.buffer.subarray(at + hdr, at + authEnd);
      }
      // Authenticated and decrypted in the output ring: one copy of the packet, no per-packet buffer.
      const off = ring.take(authEnd + IN_PLACE_ROOM);
      ring.buffer.set(p, off);
      if (!this.rtpKeys.hmac.verifyInPlace(ring.view, off, off + authEnd, roc, p, len - tagLength, tagLength)) return this.resync(stream, p, hdr, authEnd, seq, ssrc, roc);
      stream.replay.accept(index);
      this.lastIndex = index;
      this.lastHeaderLength = hdr;
      return this.decryptCached(stream, p, off, hdr, authEnd, ssrc, index);
    }

    // First packet of this SSRC: find the MKI layout and ROC under which it authenticates.
    let reason: SrtpFailure = 'short';
    for (let li = 0; li < this.layouts.length; li++) {
      const mkiLength = this.layouts[li] as number;
      const authEnd = len - this.tagLength - mkiLength;
      const hdr = rtpHeaderLength(p, authEnd);
      if (hdr < 0) continue;
      // Only the configured layout checks the MKI value; the fallback is the peer's other a=crypto line.
      if (li === 0 && !this.mkiMatches(p, authEnd, mkiLength)) {
        reason = 'mki';
        continue;
      }
      if (reason === 'short') reason = 'auth';
      for (let roc = 0; roc <= this.maxRocProbe; roc++) {
        const index = roc * 0x10000 + seq;
        if (!this.rtpAuthentic(p, authEnd, index)) continue;
        const s: Stream = { replay: new ReplayWindow(this.windowSize), mkiLength };
        s.replay.accept(index);
        this.rtpStreams.set(ssrc, s);
        this.lastIndex = index;
        this.lastHeaderLength = hdr;
        return this.decryptRtp(p, hdr, authEnd, ssrc, index);
      }
    }
    return reason;
  }

  /**
   * A known stream's packet that did not authenticate under the estimated ROC (`triedRoc`, -1 for none). The
   * estimate is only right while fewer than 2^15 packets go missing (RFC 3711 §3.3.1); after a longer capture gap
   * (about 11 minutes of 20 ms packets) it is off by one or two, and without this every later packet of the stream
   * would be refused. So the ROCs around the highest one are tried too, before the packet is refused as 'auth'.
   * Only authentication decides, so a wrong key or a forged packet still fails (at a few more HMACs).
   */
  private resync(stream: Stream, p: Buffer, hdr: number, authEnd: number, seq: number, ssrc: number, triedRoc: number): Buffer | SrtpFailure {
    const hiRoc = Math.floor(stream.replay.highest / 0x10000);
    for (const roc of [hiRoc + 1, hiRoc + 2, hiRoc, hiRoc - 1]) {
      if (roc === triedRoc || roc < 0 || roc > 0xffffffff) continue;
      const index = roc * 0x10000 + seq;
      if (stream.replay.check(index) !== 'ok' || !this.rtpAuthentic(p, authEnd, index)) continue;
      stream.replay.accept(index);
      this.lastIndex = index;
      this.lastHeaderLength = hdr;
      return this.decryptRtp(p, hdr, authEnd, ssrc, index);
    }
    return 'auth';
  }

  private unprotectSrtcp(p: Buffer): SrtcpResult {
    if (p.length < SRTCP_CLEAR_HEADER) return { ok: false, reason: 'short' };
    const b1 = p[1] as number;
    if ((p[0] as number) >> 6 !== 2 || b1 < 192 || b1 > 223) return { ok: false, reason: 'not-rtp' };
    const ssrc = p.readUInt32BE(4);
    const stream = this.rtcpStreams.get(ssrc);
    const layouts = stream !== undefined ? [stream.mkiLength] : this.layouts;
    let reason: SrtpFailure = 'short';
    for (let li = 0; li < layouts.length; li++) {
      const mkiLength = layouts[li] as number;
      const l = srtcpLayout(p, mkiLength);
      if (l === undefined) continue;
      if ((stream !== undefined || li === 0) && !this.mkiMatches(p, l.mkiStart, mkiLength)) {
        reason = 'mki';
        continue;
      }
      if (stream !== undefined && stream.replay.check(l.index) !== 'ok') return { ok: false, reason: 'replay' };
      if (reason === 'short') reason = 'auth';
      const keys = this.rtcpKeys;
      if (!keys.hmac.verify(p, 0, l.mkiStart, undefined, p, l.tagStart, SRTCP_TAG_LENGTH)) continue;
      let s = stream;
      if (s === undefined) {
        s = { replay: new ReplayWindow(this.windowSize), mkiLength };
        this.rtcpStreams.set(ssrc, s);
      }
      s.replay.accept(l.index);
      let out: Buffer;
      if (l.encrypted) {
        writeIv(this.iv, keys.salt, ssrc, l.index);
        out = keys.aes.transform(this.iv, p, SRTCP_CLEAR_HEADER, l.encEnd);
      } else {
        out = Buffer.from(p.subarray(0, l.encEnd));
      }
      return { ok: true, rtcp: out, index: l.index, encrypted: l.encrypted };
    }
    return { ok: false, reason };
  }

  /** RFC 3711 §4.2: tag = HMAC(auth key, header || encrypted payload || ROC), truncated. */
  private rtpAuthentic(p: Buffer, authEnd: number, index: number): boolean {
    const roc = Math.floor(index / 0x10000) >>> 0;
    return this.rtpKeys.hmac.verify(p, 0, authEnd, roc, p, p.length - this.tagLength, this.tagLength);
  }

  /**
   * Decrypts the packet that unprotectRtp() copied to outputRing at `off`, in place, with the keystream of the
   * stream's precomputed run of indices, a 32-bit word at a time (the header length is a multiple of 4 and ring
   * regions are 8-aligned, so the payload's words are aligned). Returns the payload, its header before it.
   */
  private decryptCached(stream: Stream, p: Buffer, off: number, hdr: number, authEnd: number, ssrc: number, index: number): Buffer {
    const len = authEnd - hdr;
    const stride = ((len + 15) >>> 4) << 4;
    if (stride > KS_MAX_STRIDE) return this.decryptRtp(p, hdr, authEnd, ssrc, index);
    let ks = stream.ks;
    if (ks === undefined || stride > ks.stride) {
      ks = new KeystreamRun(Math.max(stride, ks?.stride ?? 0), this.rtpKeys.salt, ssrc);
      stream.ks = ks;
    }
    if (!ks.covers(index)) ks.refill(this.rtpKeys.aes, index);
    const w = outputRing.int32;
    const k = ks.words;
    const wi = (off + hdr) >>> 2;
    const ki = ks.wordAt(index);
    // The last word may run up to 3 bytes past the payload: inside the ring region and the keystream stride.
    const n = (len + 3) >>> 2;
    for (let j = 0; j < n; j++) w[wi + j] = (w[wi + j] as number) ^ (k[ki + j] as number);
    return outputRing.buffer.subarray(off + hdr, off + authEnd);
  }

  /** The decrypted payload, its plain header right before it in the same memory. */
  private decryptRtp(p: Buffer, hdr: number, authEnd: number, ssrc: number, index: number): Buffer {
    writeIv(this.iv, this.rtpKeys.salt, ssrc, index);
    return this.rtpKeys.aes.transform(this.iv, p, hdr, authEnd).subarray(hdr);
  }

  /** The MKI (big-endian, `mkiLength` bytes at `at`) equals the expected value, or any value is accepted. */
  private mkiMatches(p: Buffer, at: number, mkiLength: number): boolean {
    if (mkiLength === 0 || this.mki === undefined) return true;
    return p.readUIntBE(at, mkiLength) === this.mki;
  }
}

/**
 * RFC 3711 §3.3.1 / Appendix A: the index of SEQ relative to the highest index received (ROC, s_l).
 * Returns -1 for an index before 0 (a packet from before ROC 0, seq far above s_l): it cannot authenticate.
 */
export function estimateIndex(highest: number, seq: number): number {
  const roc = Math.floor(highest / 0x10000);
  const sl = highest % 0x10000;
  let v = roc;
  if (sl < 0x8000) {
    if (seq - sl > 0x8000) v = roc - 1;
  } else if (sl - 0x8000 > seq) {
    v = roc + 1;
  }
  if (v < 0 || v > 0xffffffff) return -1;
  return v * 0x10000 + seq;
}
