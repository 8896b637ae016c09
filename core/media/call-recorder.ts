/**
 * Turns recorded calls and their associated RTP into recordings: one decoder per stream, one two-channel timeline
 * per call (caller left, callee right), audio, metadata and attachments handed to the recording port while the call
 * runs. A call's recording is finished a little after the call ends, so trailing packets still count. It holds
 * per-call state only and is driven by the call dispatcher, in the main thread or in a call worker (one per shard
 * of calls): whether a call is recorded, and under which id, was decided before it gets here.
 */
import type { Counters, Decoder, RecordingLocation, RecordingStart, RtpFrameInfo } from '../contract';
import type { CodecRegistry } from '../codec-registry';
import type { Call, Side } from '../dialog/types';
import { summarizeCall } from '../dialog/summary';
import type { TransportPacket } from '../net/types';
import type { SdpRtpMap } from '../sdp/types';
import type { AssociatedRtp, PlacedAudio, RouteSlot, RtpPacket } from './types';
import type { DirectionStats, DtmfEvent, RecordingMetadata, SrtpDirectionStats } from './metadata';
import { CallTimeline, DEFAULT_MAX_SILENCE_SEC, type PushResult } from './timeline';
import { parseRtp, SequenceTracker, tsDelta } from './rtp';
import { effectiveRtpMap, STATIC_PAYLOAD_TYPES } from '../sdp/index';
import { CallSrtpKeys, DEFAULT_SRTP_KEY_OPTIONS, type SideProtection, type SrtpKey, type SrtpKeyOptions, type StreamKeyState } from './srtp-keys';
import { RAW_MEDIA_FILE, RAW_SDP_FILE, renderSdps } from './raw-keeper';
import { RecordingOutput } from './recording-output';
import type { RecordingPort } from './recording-port';
import { NOT_RECORDABLE, type RecordedUser } from '../policy/recording-policy';
import { latestSdp, otherSide, pickMedia } from './associator-index';

const US = 1_000_000;
const ADVANCE_EVERY_US = 100_000;
/** Packets held per stream while its side's SRTP answer is pending (10 s of 20 ms packets). */
const MAX_HELD = 500;

export interface CallRecorderOptions {
  /** 'stereo': caller left, callee right; 'mixed': both sides summed to mono. */
  layout: 'stereo' | 'mixed';
  /** Capture-time seconds to keep a call's recording open after the call ended (trailing RTP). */
  endLingerSec: number;
  reorderWindowMs: number;
  /** Which of up to three recorders this is (policy.recorderId): part of what identifies a recording of a call. */
  recorderId?: number;
  /** Silence on both channels written at most (media.maxSilenceSec; default 20, 0: every gap). */
  maxSilenceSec?: number;
  /** Seconds between metadata refreshes of a running call. */
  metadataEverySec: number;
  /** SDES key handling (media.srtp); defaults when absent. */
  srtp?: SrtpKeyOptions;
  /** Keep RTP no codec decodes (RTAudio...) beside the recording (media.keepUndecoded, default true). */
  keepUndecoded?: boolean;
  /** policy.allowedCodecs / suppressedPayloadTypes: flags for what a recording used. */
  codecFlags?: (encodings: Iterable<string>, payloadTypes: Iterable<number>) => string[];
  /** A call by key, while signalling still knows it (the call a Replaces INVITE replaces). */
  lookupCall?: (key: string) => Call | undefined;
}

/** How the dispatcher starts a recording: its id and place in storage, and the policy's decision. */
export interface RecordingStartInfo {
  start: RecordingStart;
  location: RecordingLocation | undefined;
  users: RecordedUser[];
  flags: string[];
  /** Links to the recordings this call continues (transfers). */
  links: RecordingLink[];
}

export type RecordingLink = NonNullable<RecordingMetadata['links']>[number];

/** The SIP dialog of a recording, kept beside it (policy.recordSipDialogs). */
const SIP_LOG_FILE = 'sip.txt';
/** SIP messages kept per recording for sip.txt. */
const MAX_SIP_LOG = 10_000;

interface DecoderEntry {
  decoder: Decoder;
  encoding: string;
  clockRate: number;
}

/** What onRtp keeps in a flow's route slot. */
interface RecorderRoute {
  rec: Recording;
  st: StreamRec;
}

interface StreamRec {
  flow: string;
  ssrc: number;
  /** flow#ssrc: the timeline's stream id. */
  key: string;
  side: Side;
  tracker: SequenceTracker;
  /** The payload type `dec` decodes (a packet with another PT looks its decoder up again). */
  pt: number;
  dec: DecoderEntry | undefined;
  /** How this stream is protected, as of SDP generation `protGen` of its recording. */
  protGen: number;
  prot: SideProtection;
  keyState: StreamKeyState;
  /** The key whose label is already in the side's srtp.keys (checked again only when the key changes). */
  keyNoted: SrtpKey | undefined;
  /** Payload type → rtpmap for RED blocks, as of `protGen`. */
  maps: Map<number, SdpRtpMap | null> | undefined;
  red: RedState | undefined;
  /** Packets (copies) that arrived while the side's SRTP answer was pending, replayed once it is known. */
  held: AssociatedRtp[] | undefined;
  /** Capture time of this stream's newest packet. */
  lastTs: number;
  /** Batch decoders: capture times of recent packets by RTP timestamp, to place audio delivered late. */
  capTimes: Map<number, number> | undefined;
}

/** A batch decoder's stream idle this long (capture time) has its held packets decoded. */
const BATCH_IDLE_US = 60_000;

/** RFC 2198: which RTP timestamps of a RED stream have been decoded (to fill losses from redundancy, once). */
interface RedState {
  lastTs: number;
  recent: number[];
}

const RED_RECENT = 16;

interface SideState {
  /** The stream (flow#ssrc) this side's audio last came from, its flow, and how it was associated. */
  lastStream?: string;
  lastFlow?: string;
  lastHow?: AssociatedRtp['how'];
  decoders: Map<string, DecoderEntry>;
  seq: Map<number, SequenceTracker>;
  codecs: Set<string>;
  undecoded: number;
  recovered: number;
  /** Lost packets the decoder concealed (DelayedAudio.recovered 'concealment'). */
  concealed: number;
  late: number;
  srtp?: SrtpDirectionStats;
  first?: number;
  last?: number;
}

interface Recording {
  call: Call;
  id: string;
  out: RecordingOutput;
  timeline?: CallTimeline;
  sampleRate?: number;
  audioStart?: number;
  sides: Record<Side, SideState>;
  /** Which side each stream (flow#ssrc) was recorded on. */
  streamSide: Map<string, Side>;
  /** Streams by SSRC, then flow. */
  streams: Map<number, StreamRec[]>;
  dtmf: DtmfEvent[];
  /** DTMF by sender, SSRC and RTP timestamp: an event repeats in many packets until it ends (RFC 4733 §2.5). */
  dtmfByKey: Map<string, DtmfEvent>;
  flags: Set<string>;
  keys: CallSrtpKeys;
  /** Bumped when the call's SDPs change (streams re-read their protection). */
  protGen: number;
  users: RecordedUser[];
  links: NonNullable<RecordingMetadata['links']>;
  /** policy.recordSipDialogs: the call's SIP messages, rendered. */
  sipLog?: string[];
  finalMeta?: RecordingMetadata;
  rawReasons: Set<string>;
  endedAt?: number;
  /** Capture time of the newest audio packet: timelines are flushed up to it, not beyond (no trailing silence). */
  lastAudioTs: number;
  lastAdvance: number;
  lastMetaAt: number;
  /** Metadata was written once the audio began: a recording cut by a crash still knows when its first sample was. */
  startNoted: boolean;
  finished: boolean;
  /** On-demand pauses (capture time, µs): audio in them is silence, DTMF in them is not kept. */
  pauses: Array<{ start: number; end?: number; by: string; endBy?: string }>;
  /** DTMF digits and raw packets dropped because they fell in a pause. */
  pausedDrops: { dtmf: number; raw: number };
  /** Stopped on demand at this capture time: nothing after it is recorded. */
  stoppedAt?: number;
}

/** What the review app (or any controller) asks of a recording in progress. */
export interface RecordingControl {
  action: 'pause' | 'resume' | 'stop';
  /** Capture time it takes effect, µs since the epoch. */
  at: number;
  by: string;
}

function pausedAt(rec: Recording, ts: number): boolean {
  for (let i = rec.pauses.length - 1; i >= 0; i--) {
    const p = rec.pauses[i] as Recording['pauses'][number];
    if (ts >= p.start) return p.end === undefined || ts < p.end;
  }
  return false;
}

function newSide(): SideState {
  return { decoders: new Map(), seq: new Map(), codecs: new Set(), undecoded: 0, recovered: 0, concealed: 0, late: 0 };
}

function newSrtpStats(): SrtpDirectionStats {
  return { decrypted: 0, failed: {}, srtcp: { ok: 0, failed: 0 }, keys: [] };
}

export class CallRecorder {
  private readonly active = new Map<string, Recording>();
  /** Finished recordings by call key, for a while (a Replaces INVITE may come after the replaced call ended). */
  private readonly recentlyFinished = new Map<string, Recording>();
  /** Recordings whose calls ended, waiting out the linger, by key. */
  private readonly ending = new Map<string, Recording>();
  private nextTick = 0;
  private readonly srtpOpts: SrtpKeyOptions;
  private readonly placed: PlacedAudio = { streamId: '', rtpTimestamp: 0, clockRate: 8000, captureTs: 0, seq: 0, pcm: new Int16Array(0), pcmRate: 8000 };

  constructor(
    private readonly codecs: CodecRegistry,
    private readonly port: RecordingPort,
    private readonly counters: Counters,
    private readonly opts: CallRecorderOptions,
  ) {
    this.srtpOpts = opts.srtp ?? DEFAULT_SRTP_KEY_OPTIONS;
  }

  /** policy.recordSipDialogs: one SIP message of a recorded call, rendered. */
  sipMessage(call: Call, text: string): void {
    const rec = this.active.get(call.key) ?? this.ending.get(call.key);
    if (rec === undefined || rec.finished) return;
    const log = (rec.sipLog ??= []);
    if (log.length < MAX_SIP_LOG) log.push(text);
  }

  /**
   * The call was answered. The answer can change what the mode hears (the answering fork's SDP, its relay
   * candidates): `modeFlag` is the mode's verdict asked again (null when the mode has no opinion).
   */
  answered(call: Call, modeFlag: string | undefined | null): void {
    const rec = this.active.get(call.key);
    if (rec === undefined || modeFlag === null) return;
    for (const f of rec.flags) if (f.startsWith(NOT_RECORDABLE)) rec.flags.delete(f);
    if (modeFlag !== undefined) rec.flags.add(modeFlag);
  }

  /**
   * A link between this call's recording and another's (a transfer: the dispatcher, which sees every call, found
   * it). A recording finished already has its stored metadata updated.
   */
  addLink(callKey: string, link: RecordingLink): void {
    const rec = this.active.get(callKey) ?? this.ending.get(callKey) ?? this.recentlyFinished.get(callKey);
    if (rec === undefined) return;
    rec.links.push(link);
    this.relink(rec);
  }

  /** The call a Replaces INVITE replaces, while the tracker or this recorder still knows it. */
  private replacedCall(call: Call): Call | undefined {
    const key = call.replaces?.key;
    if (key === undefined) return undefined;
    return this.opts.lookupCall?.(key) ?? this.active.get(key)?.call ?? this.ending.get(key)?.call;
  }

  /** A call the policy records starts (its catalogue entry was opened by the dispatcher). */
  start(call: Call, info: RecordingStartInfo): void {
    const id = info.start.id;
    // Metadata follows the catalogue entry at the first refresh (media.metadataEverySec) or the end; a crash
    // before then is recovered from the entry and the audio.
    const out = new RecordingOutput(this.port, info.start, info.location);
    const rec: Recording = {
      call,
      id,
      out,
      sides: { caller: newSide(), callee: newSide() },
      streamSide: new Map(),
      streams: new Map(),
      dtmf: [],
      dtmfByKey: new Map(),
      flags: new Set(),
      keys: new CallSrtpKeys(call, this.srtpOpts, (c) => this.replacedCall(c)),
      users: info.users,
      links: [...info.links],
      protGen: 0,
      rawReasons: new Set(),
      lastAudioTs: 0,
      lastAdvance: 0,
      lastMetaAt: call.times.start,
      startNoted: false,
      finished: false,
      pauses: [],
      pausedDrops: { dtmf: 0, raw: 0 },
    };
    for (const f of info.flags) rec.flags.add(f);
    if (call.joinedMidCall !== undefined) rec.flags.add(`joined mid-call: the recorder first saw this call at its ${call.joinedMidCall} (an in-dialog request); its media is recorded from the packets that SDP explains (in a capture file, those up to a minute before it too), the start of the call is not`);
    this.active.set(call.key, rec);
    this.recordingsInProgress++;
  }

  /** Recordings not yet finished (calls in progress and those waiting out the linger). */
  recordingsInProgress = 0;

  /** Finished recordings still remembered for transfer links (bounded). */
  get retainedForLinks(): number {
    return this.recentlyFinished.size;
  }

  /** A sink operation of this recording failed: said in its metadata while it still runs. */
  storageFailed(id: string, op: string, message: string): void {
    for (const rec of [...this.active.values(), ...this.ending.values()]) {
      if (rec.id !== id || rec.finished) continue;
      flagOnce(rec.flags, `storage failed (${op})`, message);
      return;
    }
  }

  /** The call ended: its recording lingers (media.endLingerSec) for trailing packets, then is finished. */
  ended(call: Call): void {
    const rec = this.active.get(call.key);
    if (rec === undefined) return;
    this.active.delete(call.key);
    rec.endedAt = call.times.end ?? call.times.lastActivity;
    this.ending.set(call.key, rec);
  }

  /**
   * Pause, resume or stop the recording of a call in progress, on demand (a card number read out must not be
   * kept). A pause is silence in the audio, marked in the metadata; a stop finishes the recording at once.
   */
  control(callKey: string, c: RecordingControl): void {
    const rec = this.active.get(callKey);
    if (rec === undefined || rec.finished) return;
    const last = rec.pauses[rec.pauses.length - 1];
    const open = last !== undefined && last.end === undefined;
    if (c.action === 'pause' && !open) rec.pauses.push({ start: c.at, by: c.by });
    else if (c.action === 'resume' && open) {
      last.end = Math.max(c.at, last.start);
      last.endBy = c.by;
    } else if (c.action === 'stop') {
      rec.stoppedAt = c.at;
      if (open) last.end = Math.max(c.at, last.start);
      rec.flags.add(`recording stopped on demand by ${c.by} at ${new Date(c.at / 1000).toISOString()}: the rest of the call is not recorded`);
      this.active.delete(callKey);
      rec.endedAt = c.at;
      this.finish(rec);
    }
  }

  /**
   * One associated RTP packet: decode, place on the call's timeline. `slot` is the caller's, per flow: the recording and the stream found
   * for the flow's last packet are kept there and reused while they still apply (same SSRC, recording not
   * finished). With thousands of calls at once, the lookups by call key and SSRC were cache misses on every packet.
   */
  onRtp(a: AssociatedRtp, slot?: RouteSlot): void {
    const ts = a.pkt.ts;
    const rtp = a.rtp;
    const cached = slot?.value as RecorderRoute | undefined;
    let rec: Recording;
    let st: StreamRec;
    if (cached !== undefined && !cached.rec.finished && cached.st.ssrc === rtp.ssrc && cached.st.flow === a.flow) {
      rec = cached.rec;
      st = cached.st;
    } else {
      const found = this.active.get(a.call.key) ?? this.ending.get(a.call.key);
      if (found === undefined || found.finished) {
        this.counters.inc('media.afterRecording');
        return;
      }
      rec = found;
      st = this.streamOf(rec, a, ts);
      if (slot !== undefined) slot.value = { rec, st } satisfies RecorderRoute;
    }
    if (rec.stoppedAt !== undefined && ts >= rec.stoppedAt) {
      this.counters.inc('media.afterRecording');
      return;
    }
    st.lastTs = ts;
    const side = rec.sides[st.side];
    side.lastStream = st.key;
    side.lastFlow = a.flow;
    side.lastHow = a.how;
    side.first ??= ts;
    side.last = ts;
    if (rec.keys.refresh()) rec.protGen++;
    if (st.protGen !== rec.protGen) {
      st.protGen = rec.protGen;
      st.prot = rec.keys.sideProtection(st.side);
      st.maps = undefined;
      if (st.held !== undefined && st.prot.kind !== 'pending') this.releaseHeld(rec, st);
    }
    // SRTP: the decrypted payload (padding included); the plain packet is rebuilt only if it must be kept raw.
    let plain: Buffer | undefined;
    if (st.prot.kind !== 'clear') {
      if (st.prot.kind === 'pending') return this.hold(rec, st, side, a);
      plain = this.decrypt(rec, st, side, a.pkt, rtp, ts);
      if (plain === undefined) return;
    } else if (rtp.paddingUnchecked === true) {
      // Clear RTP whose padding count does not fit (RFC 3550 A.1: not a valid packet).
      this.counters.inc('media.badPadding');
      return;
    }
    if (!st.tracker.add(rtp.seq)) return; // duplicate
    let dec = st.pt === rtp.payloadType ? st.dec : undefined;
    if (dec === undefined) {
      dec = this.decoderFor(rec, st, rtp.payloadType, a.rtpmap ?? this.staticMap(rtp.payloadType));
      if (dec === undefined) {
        this.keepRaw(rec, a.pkt, rtp, plain, `payload type ${rtp.payloadType}: no decoder`);
        return;
      }
    }
    if (dec.decoder.unwrap !== undefined) return this.onRed(rec, st, side, dec, rtp, plain, a);
    if (dec.decoder.notDecoded !== undefined) {
      side.undecoded++;
      this.keepRaw(rec, a.pkt, rtp, plain, dec.decoder.notDecoded);
      return;
    }
    if (dec.decoder.drainAudio !== undefined) this.noteCaptureTime(st, rtp.timestamp, ts);
    // The parsed packet is an RtpFrameInfo already: no object per packet.
    const pcm = this.decodeOne(rec, side, dec, rtp.payload, rtp);
    const events = dec.decoder.drainEvents?.();
    if (events !== undefined && events.length > 0) this.noteEvents(rec, st.side, events, dec.clockRate, a);
    if (dec.decoder.drainAudio !== undefined) this.placeDelayed(rec, st, side, dec, ts);
    if (pcm === null || pcm.length === 0) return;
    this.place(rec, st, side, dec, rtp.timestamp, rtp.seq, pcm, ts);
  }

  private noteCaptureTime(st: StreamRec, rtpTimestamp: number, ts: number): void {
    const m = (st.capTimes ??= new Map());
    m.set(rtpTimestamp, ts);
    if (m.size > 64) m.delete(m.keys().next().value as number);
  }

  /** Audio a batch decoder delivered late, placed at its own packets' positions and capture times. */
  private placeDelayed(rec: Recording, st: StreamRec, side: SideState, dec: DecoderEntry, fallbackTs: number): void {
    const chunks = (dec.decoder.drainAudio as NonNullable<Decoder['drainAudio']>)();
    for (const c of chunks) {
      if (c.pcm.length === 0) continue;
      const r = this.place(rec, st, side, dec, c.rtpTimestamp, c.seq, c.pcm, st.capTimes?.get(c.rtpTimestamp) ?? fallbackTs);
      // Only what reached the recording counts (a late packet's own audio may have taken the place already).
      if (r === 'placed' && c.recovered === 'redundancy') side.recovered++;
      else if (r === 'placed' && c.recovered === 'concealment') side.concealed++;
    }
  }

  /** Batch decoders of streams that paused (or, with `all`, every one) give up what they hold. */
  private flushBatches(rec: Recording, now: number, all: boolean): void {
    for (const list of rec.streams.values()) {
      for (const st of list) {
        if (st.capTimes === undefined || (!all && now - st.lastTs < BATCH_IDLE_US)) continue;
        // The stream's batch decoders: its own, or those of the payload types inside its RED.
        const side = rec.sides[st.side];
        const prefix = `${st.ssrc}:`;
        for (const [key, dec] of side.decoders) {
          if (dec.decoder.flush === undefined || !key.startsWith(prefix)) continue;
          dec.decoder.flush();
          this.placeDelayed(rec, st, side, dec, st.lastTs);
        }
      }
    }
  }

  private decodeOne(rec: Recording, side: SideState, dec: DecoderEntry, payload: Buffer, info: RtpFrameInfo): Int16Array | null {
    try {
      return dec.decoder.decode(payload, info);
    } catch (e) {
      side.undecoded++;
      this.counters.inc('media.decodeErrors');
      flagOnce(rec.flags, `${dec.encoding} payloads that failed to decode`, (e as Error).message);
      return null;
    }
  }

  /** Decoded audio onto the call's timeline. */
  private place(rec: Recording, st: StreamRec, side: SideState, dec: DecoderEntry, rtpTimestamp: number, seq: number, pcm: Int16Array, ts: number): PushResult {
    const timeline = this.ensureTimeline(rec, ts, dec.decoder.sampleRate, dec.encoding);
    // Paused: the same length of silence, so the timeline stays aligned (the decoder keeps its own output).
    if (rec.pauses.length > 0 && pausedAt(rec, ts)) pcm = new Int16Array(pcm.length);
    // One reused PlacedAudio: the timeline copies what it keeps past push().
    const p = this.placed;
    p.streamId = st.key;
    p.rtpTimestamp = rtpTimestamp;
    p.clockRate = dec.clockRate;
    p.captureTs = ts;
    p.seq = seq;
    p.pcm = pcm;
    p.pcmRate = dec.decoder.sampleRate;
    const r = timeline.push(st.side === 'caller' ? 0 : 1, p);
    if (r === 'late') side.late++;
    if (ts > rec.lastAudioTs) rec.lastAudioTs = ts;
    // Flushing every packet costs more than it saves: every 100 ms of capture time is plenty (the ring holds 1.2 s).
    if (ts - rec.lastAdvance >= ADVANCE_EVERY_US) {
      rec.lastAdvance = ts;
      this.flushBatches(rec, ts, false);
      timeline.advance(ts);
    }
    return r;
  }

  /**
   * SRTP: the decrypted payload, padding included (SrtpContext.unprotectPayload: its plain header right before
   * it), with the associator's RtpPacket payload pointed at the plaintext without padding (this recorder is its
   * last reader); undefined (counted) when the packet cannot be decrypted.
   */
  private decrypt(rec: Recording, st: StreamRec, side: SideState, pkt: TransportPacket, rtp: RtpPacket, ts: number): Buffer | undefined {
    const stats = (side.srtp ??= newSrtpStats());
    if (st.prot.kind === 'no-key') {
      stats.failed['no-key'] = (stats.failed['no-key'] ?? 0) + 1;
      return undefined;
    }
    const r = rec.keys.unprotect(st.side, pkt.payload, ts, st.keyState);
    if (typeof r === 'string') {
      stats.failed[r] = (stats.failed[r] ?? 0) + 1;
      this.counters.inc(`srtp.${r}`);
      return undefined;
    }
    stats.decrypted++;
    const used = st.keyState.used as SrtpKey;
    if (used !== st.keyNoted) {
      st.keyNoted = used;
      if (!stats.keys.includes(used.label)) stats.keys.push(used.label);
    }
    // The header is authenticated but not encrypted, so only the payload changes (RFC 3711 §3.1); padding, when
    // the P bit is set, is inside the encrypted part and is counted by its last byte.
    if (rtp.padding) {
      const pad = r.length > 0 ? (r[r.length - 1] as number) : 0;
      if (pad === 0 || pad > r.length) {
        stats.failed['not-rtp'] = (stats.failed['not-rtp'] ?? 0) + 1;
        return undefined;
      }
      rtp.payload = r.subarray(0, r.length - pad);
    } else {
      rtp.payload = r;
    }
    return r;
  }

  /**
   * A packet of a side whose SRTP answer is not in yet: kept (a copy: capture buffers may be reused) until the
   * answer says how to read it. At most MAX_HELD per stream; older ones are counted as not decrypted (no key).
   */
  private hold(rec: Recording, st: StreamRec, side: SideState, a: AssociatedRtp): void {
    const held = (st.held ??= []);
    if (held.length >= MAX_HELD) {
      held.shift();
      this.countNoKey(side, 1);
    }
    const payload = Buffer.from(a.pkt.payload);
    const rtp = parseRtp(payload, true);
    if (rtp === undefined) return;
    held.push({ ...a, pkt: { ...a.pkt, payload }, rtp });
    this.counters.inc('srtp.heldForAnswer');
  }

  /** Held packets go through onRtp() now that the side's protection is known (in capture order, before the next). */
  private releaseHeld(rec: Recording, st: StreamRec): void {
    const held = st.held ?? [];
    st.held = undefined;
    for (const h of held) this.onRtp(h);
  }

  private countNoKey(side: SideState, n: number): void {
    const stats = (side.srtp ??= newSrtpStats());
    stats.failed['no-key'] = (stats.failed['no-key'] ?? 0) + n;
  }

  /** At the end of a recording: held packets are replayed if the answer came, else counted as not decrypted. */
  private settleHeld(rec: Recording): void {
    rec.keys.refresh();
    for (const list of rec.streams.values()) {
      for (const st of list) {
        if (st.held === undefined) continue;
        if (rec.keys.sideProtection(st.side).kind !== 'pending') this.releaseHeld(rec, st);
        else {
          this.countNoKey(rec.sides[st.side], st.held.length);
          st.held = undefined;
        }
      }
    }
  }

  /** One associated RTCP packet: SRTCP is authenticated and counted per direction. */
  onRtcp(x: { call: Call; sender: Side; pkt: TransportPacket }): void {
    const rec = this.active.get(x.call.key) ?? this.ending.get(x.call.key);
    if (rec === undefined || rec.finished) return;
    if (rec.keys.refresh()) rec.protGen++;
    const prot = rec.keys.sideProtection(x.sender);
    if (prot.kind === 'clear' || prot.kind === 'pending') return;
    const stats = (rec.sides[x.sender].srtp ??= newSrtpStats());
    const r = prot.kind === 'srtp' ? rec.keys.unprotectRtcp(x.sender, x.pkt.payload, x.pkt.ts) : undefined;
    if (r?.ok === true) stats.srtcp.ok++;
    else stats.srtcp.failed++;
  }

  /**
   * RFC 2198: the primary block is decoded; a redundant block is decoded only when its timestamp is newer than
   * anything decoded so far on this stream (its own packet was lost), before the primary, so decoders see
   * their packets in order.
   */
  private onRed(rec: Recording, st: StreamRec, side: SideState, red: DecoderEntry, rtp: RtpPacket, plain: Buffer | undefined, a: AssociatedRtp): void {
    const info: RtpFrameInfo = { timestamp: rtp.timestamp, seq: rtp.seq, marker: rtp.marker, ssrc: rtp.ssrc, payloadType: rtp.payloadType };
    let blocks;
    try {
      blocks = (red.decoder.unwrap as NonNullable<Decoder['unwrap']>)(rtp.payload, info);
    } catch (e) {
      side.undecoded++;
      this.counters.inc('media.decodeErrors');
      flagOnce(rec.flags, `${red.encoding} payloads that failed to unwrap`, (e as Error).message);
      return;
    }
    const state = (st.red ??= { lastTs: -1, recent: [] });
    let rawReason: string | undefined;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      const bts = (rtp.timestamp - b.timestampOffset) >>> 0;
      if (state.recent.includes(bts)) continue; // decoded already (a duplicate, or filled from redundancy)
      if (!b.primary && (state.lastTs < 0 || tsDelta(state.lastTs, bts) <= 0)) continue; // not a loss
      const dec = this.decoderEntry(rec, side, st.ssrc, b.payloadType, this.rtpmapOf(rec, st, b.payloadType));
      if (dec === undefined) {
        rawReason = `payload type ${b.payloadType} in RED: no decoder`;
        continue;
      }
      if (dec.decoder.notDecoded !== undefined) {
        if (b.primary) side.undecoded++;
        rawReason = dec.decoder.notDecoded;
        continue;
      }
      const seq = (rtp.seq - (blocks.length - 1 - i)) & 0xffff;
      if (dec.decoder.drainAudio !== undefined) this.noteCaptureTime(st, bts, a.pkt.ts);
      const pcm = this.decodeOne(rec, side, dec, b.payload, { ...info, timestamp: bts, seq, payloadType: b.payloadType });
      const events = dec.decoder.drainEvents?.();
      if (events !== undefined && events.length > 0) this.noteEvents(rec, st.side, events, dec.clockRate, a);
      if (dec.decoder.drainAudio !== undefined) this.placeDelayed(rec, st, side, dec, a.pkt.ts);
      state.recent.push(bts);
      if (state.recent.length > RED_RECENT) state.recent.shift();
      if (state.lastTs < 0 || tsDelta(state.lastTs, bts) > 0) state.lastTs = bts;
      if (!b.primary) side.recovered++;
      if (pcm !== null && pcm.length > 0) this.place(rec, st, side, dec, bts, seq, pcm, a.pkt.ts);
    }
    if (rawReason !== undefined) this.keepRaw(rec, a.pkt, rtp, plain, rawReason);
  }

  /** RFC 3264 §5.1 for payload types inside RED: the receiver's SDP, else the sender's, else RFC 3551. */
  private rtpmapOf(rec: Recording, st: StreamRec, pt: number): SdpRtpMap | undefined {
    const maps = (st.maps ??= new Map());
    let m = maps.get(pt);
    if (m === undefined) {
      const call = rec.call;
      const tag = call.toTag;
      const of = (side: Side) => pickMedia(latestSdp(call, side, side === 'callee' ? tag : undefined), 0, 'audio')?.rtpmap.get(pt);
      m = of(otherSide(st.side)) ?? of(st.side) ?? STATIC_PAYLOAD_TYPES.get(pt) ?? this.staticMap(pt) ?? null;
      maps.set(pt, m);
    }
    return m ?? undefined;
  }

  /**
   * Media no codec turns into audio: kept losslessly beside the recording (media.keepUndecoded), and flagged.
   * `plain`: for SRTP, the decrypted payload as decrypt() returned it (its plain header right before it).
   */
  private keepRaw(rec: Recording, pkt: TransportPacket, rtp: RtpPacket, plain: Buffer | undefined, reason: string): void {
    if (rec.pauses.length > 0 && pausedAt(rec, pkt.ts)) {
      rec.pausedDrops.raw++;
      return;
    }
    const first = !rec.rawReasons.has(reason);
    if (first) rec.rawReasons.add(reason);
    if (this.opts.keepUndecoded === false || !rec.out.stored) {
      if (first) rec.flags.add(reason);
      return;
    }
    const h = rtp.headerLength;
    const raw = plain === undefined ? pkt.payload : Buffer.from(plain.buffer, plain.byteOffset - h, h + plain.length);
    rec.out.keepRaw(pkt.ts, pkt.src, pkt.sport, pkt.dst, pkt.dport, raw);
    if (first) rec.flags.add(`${reason}: the RTP is kept losslessly in ${RAW_MEDIA_FILE}, with the call's SDP in ${RAW_SDP_FILE}`);
  }

  /** Per-stream state, found by SSRC (a number) then flow (a string the associator already holds): no per-packet strings. */
  private streamOf(rec: Recording, a: AssociatedRtp, ts: number): StreamRec {
    const list = rec.streams.get(a.rtp.ssrc);
    if (list !== undefined) {
      for (const st of list) if (st.flow === a.flow) return st;
    }
    const key = `${a.flow}#${a.rtp.ssrc}`;
    const sideName = this.sideFor(rec, a, key, ts);
    const side = rec.sides[sideName];
    let tracker = side.seq.get(a.rtp.ssrc);
    if (tracker === undefined) {
      tracker = new SequenceTracker();
      side.seq.set(a.rtp.ssrc, tracker);
    }
    const st: StreamRec = { flow: a.flow, ssrc: a.rtp.ssrc, key, side: sideName, tracker, pt: -1, dec: undefined, protGen: -1, prot: { kind: 'clear' }, keyState: { key: undefined, used: undefined }, keyNoted: undefined, maps: undefined, red: undefined, held: undefined, lastTs: ts, capTimes: undefined };
    if (list === undefined) rec.streams.set(a.rtp.ssrc, [st]);
    else list.push(st);
    return st;
  }

  /** The decoder for this packet's payload type (a new one when the codec changes mid-stream). */
  private decoderFor(rec: Recording, st: StreamRec, pt: number, map: { encoding: string; clockRate: number; channels: number } | undefined): DecoderEntry | undefined {
    const dec = this.decoderEntry(rec, rec.sides[st.side], st.ssrc, pt, map);
    if (dec !== undefined) {
      st.pt = pt;
      st.dec = dec;
    }
    return dec;
  }

  /** The decoder of one SSRC's encoding (shared by its RED blocks and plain packets: decoder state carries over). */
  private decoderEntry(rec: Recording, side: SideState, ssrc: number, pt: number, map: { encoding: string; clockRate: number; channels: number } | undefined): DecoderEntry | undefined {
    if (map === undefined) {
      side.undecoded++;
      rec.flags.add(`payload type ${pt} has no rtpmap and no static meaning`);
      return undefined;
    }
    const encoding = `${map.encoding}/${map.clockRate}`;
    const decKey = `${ssrc}:${encoding.toUpperCase()}`;
    let dec = side.decoders.get(decKey);
    if (dec === undefined) {
      const decoder = this.codecs.createDecoder({ encoding: map.encoding, clockRate: map.clockRate, channels: map.channels, payloadType: pt });
      if (decoder === undefined) {
        side.undecoded++;
        if (!rec.flags.has(`no decoder for ${encoding}`)) {
          rec.flags.add(`no decoder for ${encoding}`);
          this.counters.inc('media.noDecoder');
        }
        return undefined;
      }
      dec = { decoder, encoding, clockRate: map.clockRate };
      side.decoders.set(decKey, dec);
    }
    side.codecs.add(encoding);
    return dec;
  }

  /**
   * The side a stream is recorded on: the associator's answer, except that a second stream on another flow,
   * bound by the other rule (source vs destination address), arriving while the first still flows on that side,
   * when the other side has had no audio at all, is the other side's: both SDPs of a hairpinned or relayed call
   * can point one way. Kept per stream, and flagged.
   */
  private sideFor(rec: Recording, a: AssociatedRtp, streamKey: string, ts: number): Side {
    const known = rec.streamSide.get(streamKey);
    if (known !== undefined) return known;
    let side = a.sender;
    const mine = rec.sides[side];
    const otherSide: Side = side === 'caller' ? 'callee' : 'caller';
    const other = rec.sides[otherSide];
    // A new SSRC on the same flow is a restart (SSRC change), not a second party; so is one after a pause.
    const concurrent = mine.lastFlow !== undefined && mine.lastFlow !== a.flow && mine.lastHow !== a.how && mine.last !== undefined && ts - mine.last < US;
    if (concurrent && other.seq.size === 0) {
      rec.flags.add(`stream ${streamKey} ran alongside ${mine.lastStream} on the ${side} side; recorded as the ${otherSide}'s audio`);
      side = otherSide;
    }
    rec.streamSide.set(streamKey, side);
    return side;
  }

  private staticMap(pt: number): { encoding: string; clockRate: number; channels: number } | undefined {
    const enc = this.codecs.staticEncoding(pt);
    if (enc === undefined) return undefined;
    const [encoding, rate] = enc.split('/');
    return { encoding: encoding ?? enc, clockRate: Number(rate), channels: 1 };
  }

  private noteEvents(rec: Recording, sender: Side, events: ReturnType<NonNullable<Decoder['drainEvents']>>, clockRate: number, a: AssociatedRtp): void {
    for (const ev of events) {
      if (ev.kind !== 'dtmf') continue;
      const key = `${sender}:${a.rtp.ssrc}:${ev.rtpTimestamp}`;
      if (rec.pauses.length > 0 && pausedAt(rec, a.pkt.ts)) {
        if (!rec.dtmfByKey.has(key)) rec.pausedDrops.dtmf++;
        rec.dtmfByKey.set(key, { digit: '', at: 0, durationMs: 0, side: sender });
        continue;
      }
      const durationMs = Math.round((ev.duration / clockRate) * 1000);
      const existing = rec.dtmfByKey.get(key);
      if (existing !== undefined) {
        existing.durationMs = Math.max(existing.durationMs, durationMs);
        continue;
      }
      const start = rec.audioStart ?? a.pkt.ts;
      const d: DtmfEvent = { digit: ev.digit, at: Math.max(0, (a.pkt.ts - start) / US), durationMs, side: sender };
      rec.dtmfByKey.set(key, d);
      rec.dtmf.push(d);
    }
  }

  private noteClosingEvents(rec: Recording, side: Side, events: ReturnType<NonNullable<Decoder['drainEvents']>>, clockRate: number): void {
    for (const ev of events) {
      if (ev.kind !== 'dtmf') continue;
      for (const [key, d] of rec.dtmfByKey) {
        if (key.startsWith(`${side}:`) && key.endsWith(`:${ev.rtpTimestamp}`)) d.durationMs = Math.max(d.durationMs, Math.round((ev.duration / clockRate) * 1000));
      }
    }
  }

  private ensureTimeline(rec: Recording, ts: number, decoderRate: number, encoding: string): CallTimeline {
    if (rec.timeline !== undefined) return rec.timeline;
    const negotiated = this.negotiatedFormats(rec.call);
    const rate = Math.max(decoderRate, negotiated.rate);
    rec.sampleRate = rate;
    rec.audioStart = ts;
    const channels = this.opts.layout === 'stereo' ? 2 : 1;
    const out = rec.out;
    // The decoder's encoding is already 'NAME/rate'.
    const first = encoding.toUpperCase();
    const encodings = negotiated.encodings.includes(first) ? negotiated.encodings : [...negotiated.encodings, first];
    out.openAudio({ sampleRate: rate, channels, encodings });
    const mixed = this.opts.layout === 'mixed';
    rec.timeline = new CallTimeline({
      sampleRate: rate,
      startTs: ts,
      reorderWindowMs: this.opts.reorderWindowMs,
      ...(this.opts.maxSilenceSec === undefined ? {} : { maxSilenceSec: this.opts.maxSilenceSec }),
      sink: (stereo) => out.writeAudio(mixed ? mixDown(stereo) : stereo),
    });
    return rec.timeline;
  }

  /**
   * The output rate the call's codecs need: the highest among the audio formats of the latest answer (what either
   * side may send from now on, so a switch between them needs no downsampling). A codec only offered does not
   * raise it: a call that settled on G.711 is 8 kHz even when G.722 was offered. Before any answer (media ahead
   * of it), the first packet's codec decides alone. With it, the answer's decodable encodings ('PCMU/8000'): what
   * storage may keep as received.
   */
  private negotiatedFormats(call: Call): { rate: number; encodings: string[] } {
    let answer: Call['sdp'][number] | undefined;
    for (let i = call.sdp.length - 1; i >= 0 && answer === undefined; i--) if (call.sdp[i]?.role === 'answer') answer = call.sdp[i];
    if (answer === undefined) return { rate: 0, encodings: [] };
    let best = 0;
    const encodings: string[] = [];
    for (const audio of answer.sdp.media) {
      if (audio.type !== 'audio' || audio.port === 0) continue;
      for (const f of audio.formats) {
        const pt = Number(f);
        const map = effectiveRtpMap(audio, pt);
        if (map === undefined) continue;
        const probe = this.codecs.createDecoder({ encoding: map.encoding, clockRate: map.clockRate, channels: map.channels, payloadType: pt });
        if (probe !== undefined) {
          best = Math.max(best, probe.sampleRate);
          probe.close();
          const name = `${map.encoding.toUpperCase()}/${map.clockRate}`;
          if (!encodings.includes(name)) encodings.push(name);
        }
      }
    }
    return { rate: best, encodings };
  }

  /** Capture time moved on: flush timelines, refresh metadata, finish recordings whose linger is over. */
  tick(now: number): void {
    if (now < this.nextTick) return;
    this.nextTick = now + US / 4;
    const windowUs = this.opts.reorderWindowMs * 1000;
    for (const rec of this.active.values()) {
      // Silence after the last packet is written when (if) audio resumes: a call whose media stopped, or that
      // ends with the capture, gets no trailing silence; a gap (hold) is filled by the next packet's position.
      this.flushBatches(rec, now, false);
      rec.timeline?.advance(Math.min(now, rec.lastAudioTs + windowUs));
      // Once, a second into the audio (a recorder killed before its first refresh would otherwise leave only the
      // call's start, not the first sample's time, for recovery), then every metadataEverySec.
      const firstNote = !rec.startNoted && rec.lastAudioTs > 0 && now - rec.lastAudioTs < US && now - rec.lastMetaAt > US;
      if (firstNote || now - rec.lastMetaAt > this.opts.metadataEverySec * US) {
        rec.startNoted = rec.lastAudioTs > 0;
        rec.lastMetaAt = now;
        rec.out.flushAudio();
        rec.out.flushRaw();
        rec.out.update(this.metadata(rec, 'recording'));
      }
    }
    for (const [key, rec] of this.ending) {
      // No advance here: an ended call's audio stops at its last packet, not at the next unrelated frame.
      if (rec.endedAt !== undefined && now - rec.endedAt > this.opts.endLingerSec * US) {
        this.finish(rec); // before the delete: held packets it replays look their recording up
        this.ending.delete(key);
      }
    }
  }

  /** End of input or shutdown: finish every recording. */
  close(): void {
    for (const rec of [...this.ending.values(), ...this.active.values()]) this.finish(rec);
    this.ending.clear();
    this.active.clear();
  }

  private finish(rec: Recording): void {
    if (rec.finished) return;
    this.settleHeld(rec);
    this.flushBatches(rec, 0, true);
    rec.finished = true;
    rec.timeline?.finish();
    for (const side of ['caller', 'callee'] as const) {
      for (const d of rec.sides[side].decoders.values()) {
        d.decoder.close();
        // close() ends an event whose end packets were lost; collect it (its clock rate is in the encoding).
        const events = d.decoder.drainEvents?.();
        if (events !== undefined && events.length > 0) this.noteClosingEvents(rec, side, events, Number(d.encoding.split('/')[1]) || 8000);
      }
    }
    rec.out.flushRaw();
    if (rec.out.rawPackets > 0) rec.out.attach(RAW_SDP_FILE, Buffer.from(renderSdps(rec.call.sdp)), 'replace');
    if (rec.sipLog !== undefined) rec.out.attach(SIP_LOG_FILE, Buffer.from(rec.sipLog.join('\n')), 'replace');
    const meta = this.metadata(rec, 'complete');
    rec.finalMeta = meta;
    this.counters.inc('recordings.finished');
    this.recordingsInProgress--;
    rec.out.close(meta);
    // Kept a while for links (a Replaces INVITE after the replaced call ended): without its audio state.
    rec.timeline = undefined;
    rec.sipLog = undefined;
    rec.streams.clear();
    rec.streamSide.clear();
    rec.dtmfByKey.clear();
    for (const side of ['caller', 'callee'] as const) rec.sides[side].decoders.clear();
    rec.keys.dispose();
    this.recentlyFinished.set(rec.call.key, rec);
    if (this.recentlyFinished.size > 1000) this.recentlyFinished.delete(this.recentlyFinished.keys().next().value as string);
  }

  /** A finished recording gained a link: its stored metadata says so too (and the object the event carried). */
  private relink(rec: Recording): void {
    if (!rec.finished || rec.finalMeta === undefined) return;
    rec.finalMeta.links = [...rec.links];
    rec.out.update(rec.finalMeta);
  }

  private srtpMetadata(rec: Recording, meta: RecordingMetadata): void {
    for (const who of ['caller', 'callee'] as const) {
      const s = rec.sides[who].srtp;
      if (s === undefined) continue;
      meta.srtp ??= {};
      meta.srtp[who] = { decrypted: s.decrypted, failed: { ...s.failed }, srtcp: { ...s.srtcp }, keys: [...s.keys] };
      for (const f of srtpFlags(who, s, rec.keys.sideProtection(who))) meta.flags.push(f);
    }
  }

  private sideStats(s: SideState, late: number): DirectionStats {
    let packets = 0;
    let expected = 0;
    let duplicates = 0;
    for (const t of s.seq.values()) {
      packets += t.received;
      expected += t.expected;
      duplicates += t.duplicates;
    }
    const d: DirectionStats = {
      packets,
      expected,
      lost: Math.max(0, expected - packets),
      late,
      duplicates,
      ssrcs: [...s.seq.keys()],
      codecs: [...s.codecs],
      undecoded: s.undecoded,
    };
    if (s.recovered > 0) d.recovered = s.recovered;
    if (s.concealed > 0) d.concealed = s.concealed;
    if (s.first !== undefined) d.firstPacket = new Date(s.first / 1000).toISOString();
    if (s.last !== undefined) d.lastPacket = new Date(s.last / 1000).toISOString();
    return d;
  }

  metadata(rec: Recording, status: RecordingMetadata['status']): RecordingMetadata {
    const meta: RecordingMetadata = {
      id: rec.id,
      status,
      call: summarizeCall(rec.call),
      direction: callDirection(rec.users),
      // The timeline knows every late drop (including packets held while a new stream's anchor settled).
      caller: this.sideStats(rec.sides.caller, rec.timeline?.stats(0).latePackets ?? rec.sides.caller.late),
      callee: this.sideStats(rec.sides.callee, rec.timeline?.stats(1).latePackets ?? rec.sides.callee.late),
      dtmf: rec.dtmf.map((d) => ({ digit: d.digit, at: Math.round(d.at * 1000) / 1000, durationMs: d.durationMs, side: d.side })),
      flags: [...rec.flags],
    };
    if (rec.call.origin !== undefined) meta.origin = rec.call.origin;
    if (this.opts.recorderId !== undefined) meta.recorder = this.opts.recorderId;
    if (rec.users.length > 0) meta.users = rec.users.map((u) => ({ ...u }));
    if (rec.links.length > 0) meta.links = [...rec.links];
    const codecFlags = this.opts.codecFlags;
    if (codecFlags !== undefined) {
      const pts = new Set<number>();
      for (const list of rec.streams.values()) for (const st of list) if (st.pt >= 0) pts.add(st.pt);
      for (const f of codecFlags(new Set([...rec.sides.caller.codecs, ...rec.sides.callee.codecs]), pts)) meta.flags.push(f);
    }
    const skipped = rec.timeline?.skippedSilence;
    if (skipped !== undefined && skipped.gaps > 0 && rec.sampleRate !== undefined) {
      const sec = (n: number): string => `${(n / (rec.sampleRate as number)).toFixed(1)} s`;
      meta.flags.push(
        `silence shortened: ${skipped.gaps} stretch${skipped.gaps === 1 ? '' : 'es'} with nothing on either side cut to ${this.opts.maxSilenceSec ?? DEFAULT_MAX_SILENCE_SEC} s (longest ${sec(skipped.longest)}; ${sec(skipped.samples)} not written): a capture-time or timestamp jump, or a hold without media`,
      );
    }
    for (const [who, channel] of [['caller', 0], ['callee', 1]] as const) {
      const jumps = rec.timeline?.stats(channel).timestampJumps ?? 0;
      if (jumps > 0) meta.flags.push(`${who}: ${jumps} RTP packet${jumps === 1 ? '' : 's'} far from ${jumps === 1 ? 'its' : 'their'} stream's timing (timestamp jumps: re-anchored, or dropped when isolated)`);
    }
    for (const who of ['caller', 'callee'] as const) {
      const n = rec.sides[who].concealed;
      if (n > 0) meta.flags.push(`${who}: ${n} lost packet${n === 1 ? '' : 's'} concealed by the decoder (made-up audio, not what was sent)`);
    }
    if (rec.pauses.length > 0) {
      const iso = (us: number): string => new Date(us / 1000).toISOString();
      meta.pauses = rec.pauses.map((p) => ({ start: iso(p.start), ...(p.end !== undefined ? { end: iso(p.end) } : {}), by: p.by, ...(p.endBy !== undefined ? { resumedBy: p.endBy } : {}) }));
      const total = rec.pauses.reduce((t, p) => t + ((p.end ?? rec.endedAt ?? rec.lastAudioTs) - p.start), 0) / US;
      const drops = rec.pausedDrops;
      meta.flags.push(
        `recording paused on demand ${rec.pauses.length === 1 ? 'once' : `${rec.pauses.length} times`} (${total.toFixed(1)} s): that audio is silence` +
          (drops.dtmf > 0 ? `; ${drops.dtmf} DTMF digit${drops.dtmf === 1 ? '' : 's'} in it not kept` : '') +
          (drops.raw > 0 ? `; ${drops.raw} undecoded packet${drops.raw === 1 ? '' : 's'} in it not kept` : ''),
      );
    }
    this.srtpMetadata(rec, meta);
    for (const p of rec.keys.problems) if (!meta.flags.includes(p)) meta.flags.push(p);
    const out = rec.out;
    if (out.rawPackets > 0) meta.rawMedia = { file: out.attachmentPath(RAW_MEDIA_FILE) ?? RAW_MEDIA_FILE, sdp: out.attachmentPath(RAW_SDP_FILE) ?? RAW_SDP_FILE, packets: out.rawPackets, reasons: [...rec.rawReasons] };
    if (out.location !== undefined && out.audioFormat !== undefined && rec.sampleRate !== undefined && rec.audioStart !== undefined) {
      meta.audio = {
        file: out.location.audio,
        format: out.location.format,
        channels: this.opts.layout === 'stereo' ? 2 : 1,
        layout: this.opts.layout === 'stereo' ? 'stereo-caller-left' : 'mono-mixed',
        sampleRate: rec.sampleRate,
        durationSec: Math.round((out.frames / rec.sampleRate) * 1000) / 1000,
        start: new Date((rec.timeline?.origin ?? rec.audioStart) / 1000).toISOString(),
      };
    } else if (rec.sides.caller.seq.size + rec.sides.callee.seq.size === 0 && meta.srtp === undefined) {
      meta.flags.push('no audio was seen for this call');
    }
    return meta;
  }
}

/** One flag per kind of problem (the first packet's detail), however many packets have it: counts are in the stats. */
function flagOnce(flags: Set<string>, what: string, detail: string): void {
  for (const f of flags) if (f.startsWith(what)) return;
  flags.add(`${what} (first: ${detail})`);
}

/**
 * Which way the call went for the recorded users: only the caller is one → 'outbound', only the callee → 'inbound',
 * both → 'internal'; 'unknown' when no recorded user is known (a capture recorded with every call).
 */
export function callDirection(users: ReadonlyArray<{ side: 'caller' | 'callee' }>): string {
  const caller = users.some((u) => u.side === 'caller');
  const callee = users.some((u) => u.side === 'callee');
  return caller && callee ? 'internal' : caller ? 'outbound' : callee ? 'inbound' : 'unknown';
}

/** The SRTP part of the metadata, and a 'not decrypted' flag with the reason for a direction that could not be. */
function srtpFlags(who: Side, s: SrtpDirectionStats, prot: SideProtection): string[] {
  const refused = Object.entries(s.failed).filter(([r]) => r !== 'replay').reduce((n, [, v]) => n + v, 0);
  if (refused === 0) return [];
  const why =
    prot.kind === 'no-key'
      ? `no key: ${prot.reason}`
      : prot.kind === 'pending'
        ? `no key: the ${who}'s SDP answer, which brings its key, was never seen`
        : `${s.failed['auth'] ?? 0} failed authentication with every key in the call's SDP (wrong key?)${s.failed['mki'] ? `, ${s.failed['mki']} had an unexpected MKI` : ''}`;
  if (s.decrypted === 0) return [`not decrypted: the ${who}'s audio (${refused} SRTP packets): ${why}`];
  // A few refusals around a re-key are normal; more is worth a listener's attention.
  if (refused > Math.max(10, s.decrypted / 100)) return [`partly not decrypted: ${refused} of the ${who}'s ${refused + s.decrypted} SRTP packets: ${why}`];
  return [];
}

/** Stereo → mono: the sum of both sides, clipped (both parties audible at full level). */
function mixDown(stereo: Int16Array): Int16Array {
  const out = new Int16Array(stereo.length >> 1);
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    const v = stereo[j]! + stereo[j + 1]!;
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
