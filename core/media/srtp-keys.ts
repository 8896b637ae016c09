/**
 * The SDES keys of one call and which of them decrypts what (RFC 4568; Lync rules in lync-protocols.md §2).
 *
 * The key a party writes in its own SDP is the key it SENDS with. Every SDP with key material (offer or answer,
 * INVITE, re-INVITE, UPDATE, 183, 200) starts a fresh context for its writer (Lync's "SRTP key reset": ROC 0, new
 * replay window); the writer's previous key is still accepted for `overlapSec` of capture time, for packets in
 * flight. An answer without a=crypto to an RTP/AVP offer declines encryption: that exchange is in clear.
 * With `keyReset` (default) a stream that stops authenticating tries every key of the call, newest first.
 */
import type { Call, SdpRecord, Side } from '../dialog/types';
import type { SdpAttribute, SdpCrypto, SdpMedia } from '../sdp/types';
import { parseInlineKey, SrtpContext, type MkiLength, type SrtpFailure, type SrtpSuite, SRTP_TAG_LENGTH } from './srtp/index';
import { pickMedia } from './associator-index';

export interface SrtpKeyOptions {
  overlapSec: number;
  keyReset: boolean;
  ignoreKeysOnReplaces: boolean;
  maxRocProbe: number;
}

export const DEFAULT_SRTP_KEY_OPTIONS: SrtpKeyOptions = { overlapSec: 5, keyReset: true, ignoreKeysOnReplaces: false, maxRocProbe: 2 };

const US = 1_000_000;
/** Keys kept per call (newest first); Lync sends one key per SDP, so this covers many re-keys. */
const MAX_KEYS = 16;

export interface SrtpKey {
  readonly ctx: SrtpContext;
  /** Whose key: the party that sends with it. */
  readonly side: Side;
  /** Capture time of the SDP that brought it, µs. */
  readonly since: number;
  /** Accepted up to this capture time (set when a newer key of the same side arrives). */
  until: number;
  /** "callee's 200 answer, a=crypto:2": for logs and metadata. */
  readonly label: string;
  readonly fingerprint: string;
}

/** How one side's media is protected, as its SDPs say. */
export type SideProtection =
  | { kind: 'clear' }
  | { kind: 'srtp' }
  /** SRTP without a key Tapline can read (no a=crypto, DTLS-SRTP, unsupported suite, ignored by policy). */
  | { kind: 'no-key'; reason: string }
  /**
   * The other side offered SRTP and this side's answer (which brings its key) is not in yet: its media may
   * arrive first (forwarded SIP and mirrored RTP race), so its packets wait for the answer instead of being
   * taken for clear RTP.
   */
  | { kind: 'pending' };

/** Per-stream memory: the key this stream's packets are expected under, and the key that opened the last one. */
export interface StreamKeyState {
  key: SrtpKey | undefined;
  used?: SrtpKey;
}

/** A call in which a party took part before (for ignoreKeysOnReplaces): found by the call recorder. */
export type ReplacedCallLookup = (call: Call) => Call | undefined;

export class CallSrtpKeys {
  /** Newest first. */
  private readonly keys: SrtpKey[] = [];
  private readonly protection: Record<Side, SideProtection> = { caller: { kind: 'clear' }, callee: { kind: 'clear' } };
  private seen = 0;
  /** Sides whose SDP has been read. */
  private readonly sdpFrom: Record<Side, boolean> = { caller: false, callee: false };
  /** Problems with key material (bad base64, unsupported suite), once each. */
  readonly problems = new Set<string>();

  constructor(
    private readonly call: Call,
    private readonly opts: SrtpKeyOptions,
    private readonly replaced?: ReplacedCallLookup,
  ) {}

  /** Reads SDPs that arrived since the last call; true when anything changed. Cheap when nothing did. */
  refresh(): boolean {
    const sdp = this.call.sdp;
    if (sdp.length === this.seen) return false;
    for (let i = this.seen; i < sdp.length; i++) this.take(sdp, i);
    this.seen = sdp.length;
    return true;
  }

  sideProtection(side: Side): SideProtection {
    return this.protection[side];
  }

  /** Forgets every key and context (the recording is finished). */
  dispose(): void {
    this.keys.length = 0;
  }

  /** Every key of the call, newest first. */
  allKeys(): readonly SrtpKey[] {
    return this.keys;
  }

  /**
   * Authenticates and decrypts one SRTP packet `side` sent at capture time `ts`: its decrypted payload
   * (SrtpContext.unprotectPayload), or why no key of the call opens it. The key that did is left in `st.used`.
   */
  unprotect(side: Side, packet: Buffer, ts: number, st: StreamKeyState): Buffer | SrtpFailure {
    let reason: SrtpFailure | undefined;
    const cur = st.key;
    if (cur !== undefined && (cur.until >= ts || this.opts.keyReset)) {
      const r = cur.ctx.unprotectPayload(packet);
      if (typeof r !== 'string') {
        // A newer key of this side means a re-key is due: its packets show up on the next failure.
        st.used = cur;
        return r;
      }
      // A replayed (duplicate) packet is not a reason to look for another key.
      if (r === 'replay') return r;
      reason = r;
    }
    // The side's own keys in force at ts, newest first; then (key reset) any other key of the call.
    for (const k of this.keys) {
      if (k === cur || k.side !== side || k.since > ts + US || k.until < ts) continue;
      const r = k.ctx.unprotectPayload(packet);
      if (typeof r !== 'string') {
        // A straggler under the previous key does not pull the stream back to it.
        if (cur === undefined || k.since >= cur.since) st.key = k;
        st.used = k;
        return r;
      }
      reason ??= r;
    }
    if (this.opts.keyReset) {
      for (const k of this.keys) {
        if (k === cur || (k.side === side && k.since <= ts + US && k.until >= ts)) continue;
        const r = k.ctx.unprotectPayload(packet);
        if (typeof r !== 'string') {
          st.key = k;
          st.used = k;
          return r;
        }
      }
    }
    return reason ?? 'auth';
  }

  /** Authenticates (and decrypts) one SRTCP packet `side` sent. */
  unprotectRtcp(side: Side, packet: Buffer, ts: number): { ok: true; rtcp: Buffer } | { ok: false; reason: SrtpFailure } {
    let reason: SrtpFailure = 'auth';
    for (const k of this.keys) {
      if (k.side !== side && !this.opts.keyReset) continue;
      if (!this.opts.keyReset && (k.since > ts + US || k.until < ts)) continue;
      const r = k.ctx.unprotectRtcp(packet);
      if (r.ok) return { ok: true, rtcp: r.rtcp };
      if (k.side === side) reason = r.reason;
    }
    return { ok: false, reason };
  }

  // ---------------------------------------------------------------------------------------------

  private take(all: readonly SdpRecord[], i: number): void {
    const rec = all[i] as SdpRecord;
    if (!this.isLive(rec)) return;
    if (this.call.mediaSenders !== undefined) return this.takePerStream(rec);
    const media = pickMedia(rec.sdp, 0, 'audio');
    if (media === undefined || media.port === 0) return;
    const side = rec.from;
    const savp = /SAVP/i.test(media.proto);
    const lines = media.crypto;
    const other: Side = side === 'caller' ? 'callee' : 'caller';
    if (rec.role === 'offer' && (savp || lines.length > 0) && !this.sdpFrom[other]) this.protection[other] = { kind: 'pending' };
    this.sdpFrom[side] = true;
    if (rec.role === 'answer') {
      const offer = this.offerBefore(all, i, side);
      const offerMedia = offer !== undefined ? pickMedia(offer.sdp, 0, 'audio') : undefined;
      if (lines.length === 0 && !savp) {
        // Encryption declined (or never offered): both directions of this exchange are clear.
        this.protection[side] = { kind: 'clear' };
        if (offer !== undefined && !/SAVP/i.test(offerMedia?.proto ?? '')) this.protection[offer.from] = { kind: 'clear' };
        return;
      }
      // The answer's line names the tag the offerer now sends with.
      const chosen = lines[0];
      const ignored = this.opts.ignoreKeysOnReplaces && offer?.replaces === true;
      if (chosen !== undefined && offer !== undefined && offerMedia !== undefined && !ignored) {
        const offered = offerMedia.crypto.find((c) => c.tag === chosen.tag);
        if (offered !== undefined) this.addKey(offer.from, offered, rec.ts, `${offer.from}'s ${describe(offer)}, a=crypto:${offered.tag} (chosen by the answer)`, offer);
      }
    }
    if (lines.length === 0) {
      if (savp) this.protection[side] = { kind: 'no-key', reason: noKeyReason(media, rec.sdp.attributes) };
      else if (rec.role === 'offer') this.protection[side] = { kind: 'clear' };
      return;
    }
    if (this.opts.ignoreKeysOnReplaces && this.fromReplacesInvite(rec)) {
      this.inheritReplacedKeys(side);
      return;
    }
    // An offer's lines usually share one key (MKI and no-MKI variants): one context each distinct key.
    // a=crypto lines before a=cryptoscale (the MCU's scaled variant), so labels name the line a peer uses.
    const ordered = rec.role === 'answer' ? lines.slice(0, 1) : [...lines.filter((c) => !c.scale), ...lines.filter((c) => c.scale)];
    for (const c of ordered) this.addKey(side, c, rec.ts, `${side}'s ${describe(rec)}, a=${c.scale ? 'cryptoscale' : 'crypto'}:${c.tag}`, rec);
  }

  /**
   * A call whose source says whose voice each m-line carries (SIPREC: every stream comes from the SRC, which offers
   * a key per m-line): each m-line's key is the key of the channel it is recorded on. Only the offerer's SDPs carry
   * keys that open what is recorded; the recorder's own answer names keys for media it never sends.
   */
  private takePerStream(rec: SdpRecord): void {
    if (rec.role !== 'offer') return;
    const senders = this.call.mediaSenders ?? [];
    rec.sdp.media.forEach((m, k) => {
      const owner = senders[k];
      if (owner === undefined || m.type !== 'audio' || m.port === 0) return;
      const savp = /SAVP/i.test(m.proto);
      const line = m.crypto.find((c) => c.suite in SRTP_TAG_LENGTH) ?? m.crypto[0];
      if (line === undefined) {
        if (savp) this.protection[owner] = { kind: 'no-key', reason: noKeyReason(m, rec.sdp.attributes) };
        else if (!this.keys.some((x) => x.side === owner)) this.protection[owner] = { kind: 'clear' };
        return;
      }
      this.addKey(owner, line, rec.ts, `${owner}'s stream (m-line ${k + 1}${m.label !== undefined ? `, label ${m.label}` : ''}) in the ${describe(rec)}, a=crypto:${line.tag}`, rec);
    });
  }

  private isLive(rec: SdpRecord): boolean {
    return this.call.toTag === undefined || rec.toTag === undefined || rec.toTag === this.call.toTag;
  }

  /** The offer the answer at index i answers: the latest earlier offer by the other side. */
  private offerBefore(all: readonly SdpRecord[], i: number, answerer: Side): SdpRecord | undefined {
    for (let j = i - 1; j >= 0; j--) {
      const r = all[j] as SdpRecord;
      if (r.role === 'offer' && r.from !== answerer && this.isLive(r)) return r;
    }
    return undefined;
  }

  private fromReplacesInvite(rec: SdpRecord): boolean {
    return rec.replaces === true;
  }

  /** ignoreKeysOnReplaces: the Replaces INVITE's writer keeps the keys it had in the call it replaces (same URI). */
  private inheritReplacedKeys(side: Side): void {
    const old = this.replaced?.(this.call);
    const uri = (side === 'caller' ? this.call.caller : this.call.callee).uri.toLowerCase();
    if (old !== undefined) {
      const oldSide: Side | undefined = old.caller.uri.toLowerCase() === uri ? 'caller' : old.callee.uri.toLowerCase() === uri ? 'callee' : undefined;
      const oldKeys = oldSide === undefined ? undefined : new CallSrtpKeys(old, this.opts);
      if (oldKeys !== undefined && oldSide !== undefined) {
        oldKeys.refresh();
        const k = oldKeys.keys.find((x) => x.side === oldSide);
        if (k !== undefined) {
          this.push({ ...k, ctx: k.ctx, side, label: `${side}'s key from the replaced call ${old.callId} (keys of the Replaces INVITE ignored by media.srtp.ignoreKeysOnReplaces)`, until: Number.MAX_SAFE_INTEGER });
          this.protection[side] = { kind: 'srtp' };
          return;
        }
      }
    }
    if (!this.keys.some((k) => k.side === side)) {
      this.protection[side] = { kind: 'no-key', reason: 'the keys of the INVITE with a Replaces header are ignored (media.srtp.ignoreKeysOnReplaces) and the replaced call gave none' };
    }
  }

  private addKey(side: Side, c: SdpCrypto, ts: number, label: string, rec: SdpRecord): void {
    const key = c.keys[0];
    if (!(c.suite in SRTP_TAG_LENGTH)) {
      this.problems.add(`${label}: SRTP suite ${c.suite} is not supported (AES_CM_128_HMAC_SHA1_80/_32 are)`);
      if (!this.keys.some((k) => k.side === side)) this.protection[side] = { kind: 'no-key', reason: `unsupported SRTP suite ${c.suite}` };
      return;
    }
    if (key === undefined || key.method.toLowerCase() !== 'inline') {
      this.problems.add(`${label}: no inline key`);
      return;
    }
    const mkiLength = key.mki?.length ?? 0;
    const fingerprint = `${key.keySalt}|${c.suite}`;
    // The same key again (a session refresh repeating it, or the offer's other line) keeps its context.
    const newest = this.keys.find((k) => k.side === side);
    if (newest?.fingerprint === fingerprint) return;
    if (this.keys.some((k) => k.side === side && k.since === ts && k.fingerprint === fingerprint)) return;
    let ctx: SrtpContext;
    try {
      const { masterKey, masterSalt } = parseInlineKey(key.keySalt);
      ctx = new SrtpContext({
        suite: c.suite as SrtpSuite,
        masterKey,
        masterSalt,
        mkiLength: ([0, 1, 2, 4].includes(mkiLength) ? mkiLength : 0) as MkiLength,
        maxRocProbe: this.opts.maxRocProbe,
      });
    } catch (e) {
      this.problems.add(`${label}: ${(e as Error).message}`);
      if (!this.keys.some((k) => k.side === side)) this.protection[side] = { kind: 'no-key', reason: `the key in ${describe(rec)} is unusable: ${(e as Error).message}` };
      return;
    }
    // The side's previous keys stay good for the overlap only.
    for (const k of this.keys) if (k.side === side && k.until > ts + this.opts.overlapSec * US) k.until = ts + this.opts.overlapSec * US;
    this.push({ ctx, side, since: ts, until: Number.MAX_SAFE_INTEGER, label, fingerprint });
    this.protection[side] = { kind: 'srtp' };
  }

  private push(k: SrtpKey): void {
    this.keys.unshift(k);
    if (this.keys.length > MAX_KEYS) this.keys.length = MAX_KEYS;
  }
}

function describe(rec: SdpRecord): string {
  const what = /^\d+$/.test(rec.carriedBy) ? `${rec.carriedBy} ${rec.role}` : `${rec.inDialog ? 're-' : ''}${rec.carriedBy} ${rec.role}`;
  return what;
}

function noKeyReason(m: SdpMedia, session: readonly SdpAttribute[]): string {
  const has = (name: string) => m.attributes.some((a) => a.name.toLowerCase() === name) || session.some((a) => a.name.toLowerCase() === name);
  if (has('fingerprint')) return 'DTLS-SRTP (a=fingerprint): its keys are agreed in the media path, not in the SDP';
  if (has('key-mgmt')) return 'MIKEY (a=key-mgmt) keys are not supported';
  return `${m.proto} without an a=crypto line`;
}
