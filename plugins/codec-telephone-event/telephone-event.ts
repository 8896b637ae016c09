/**
 * RFC 4733 telephone-event (named events, formerly RFC 2833): DTMF digits carried as RTP packets.
 *
 * A key press is sent as many packets sharing one RTP timestamp (the event's start), each with the duration
 * so far; the last three or so carry the E (end) bit and the final duration (RFC 4733 §2.5.1). The decoder
 * turns that into at most two MediaEvents per key press, both with the start timestamp:
 *   - `end: false` at the first packet seen of the press (so a consumer learns the start time promptly), then
 *   - `end: true` once, with the final duration, when the press is over.
 * A press whose first packet seen already has the E bit yields only the `end: true` event. Consumers wanting
 * exactly one record per key press key on rtpTimestamp (and SSRC) and keep the largest duration, or take
 * only `end: true` events.
 *
 * A press is over at its first end packet; if every end packet was lost, when a packet with another
 * timestamp arrives (the next event), or at close() (drainEvents() after close() returns it).
 */
import type { Counters, MediaEvent, RtpFrameInfo } from '../../core/plugin-api';

/** Payload size of one event block (RFC 4733 §2.3). */
export const EVENT_BLOCK_LEN = 4;
/** Event codes 0-15 are DTMF digits, 16 is flash (RFC 4733 §3.2, Table 7). */
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D', 'flash'] as const;

/** The DTMF digit of an event code, or undefined for codes that are not DTMF (fax tones, line events...). */
export function eventDigit(code: number): string | undefined {
  return DIGITS[code];
}

/** The event code of a digit ('0'-'9', '*', '#', 'A'-'D', 'flash'), for building test payloads. */
export function digitCode(digit: string): number {
  const i = (DIGITS as readonly string[]).indexOf(digit.length === 1 ? digit.toUpperCase() : digit);
  if (i < 0) throw new Error(`not a DTMF digit: "${digit}"`);
  return i;
}

export interface TelephoneEventBlock {
  event: number;
  end: boolean;
  /** 0-63, the power level in -dBm0. */
  volume: number;
  duration: number;
}

/** Parses the first event block of a payload; undefined when the payload is too short. */
export function parseEvent(payload: Buffer): TelephoneEventBlock | undefined {
  if (payload.length < EVENT_BLOCK_LEN) return undefined;
  const b1 = payload[1] as number;
  return { event: payload[0] as number, end: (b1 & 0x80) !== 0, volume: b1 & 0x3f, duration: payload.readUInt16BE(2) };
}

/** Builds a 4-byte event payload (tests, tools). */
export function buildEvent(b: TelephoneEventBlock): Buffer {
  const out = Buffer.alloc(EVENT_BLOCK_LEN);
  out[0] = b.event & 0xff;
  out[1] = (b.end ? 0x80 : 0) | (b.volume & 0x3f);
  out.writeUInt16BE(b.duration & 0xffff, 2);
  return out;
}

export interface TelephoneEventStats {
  /** Payloads handed to decode(). */
  packets: number;
  /** Payloads shorter than one event block: ignored. */
  malformed: number;
  /** Packets of event codes that are not DTMF (17-255): ignored. */
  ignoredEvents: number;
  /** Packets of a press already reported as ended (repeated end packets, late copies): ignored. */
  afterEnd: number;
  /** Packets timestamped before the open press, of a press never seen: reordered stragglers, ignored. */
  late: number;
  /** Key presses reported (each once with end: true). */
  presses: number;
  /** Presses closed without an end packet (by the next event or by close()). */
  endLost: number;
}

interface OpenPress {
  digit: string;
  code: number;
  /** Timestamp of the press's first segment: the key used in every event of this press. */
  startTs: number;
  /** Timestamp of the current segment (differs from startTs only for presses longer than 0xFFFF units). */
  segTs: number;
  /** Duration of the segments before the current one. */
  baseDuration: number;
  segDuration: number;
  volume: number;
}

/** How many recently ended timestamps to remember, so late copies of their packets are not new presses. */
const ENDED_MEMORY = 16;
/** A segment this close to the 16-bit limit may be continued by a next segment (RFC 4733 §2.5.1.3). */
const SEGMENT_NEAR_MAX = 0xf000;

/**
 * State machine of one stream's events. Without RTP header info (decode() called with a payload only), presses
 * are told apart by event code, a falling duration, or a non-end packet after an end, and `rtpTimestamp` is then
 * a per-decoder press number (0, 1, 2...), since the real timestamp is unknown.
 */
export class TelephoneEventDecoder {
  readonly stats: TelephoneEventStats = { packets: 0, malformed: 0, ignoredEvents: 0, afterEnd: 0, late: 0, presses: 0, endLost: 0 };
  private open: OpenPress | undefined;
  private readonly ended: number[] = [];
  private events: MediaEvent[] = [];
  private synthetic = 0;
  /** Payload-only mode: the last ended press, to recognise repeats of its end packets. */
  private lastEnd: { code: number; duration: number } | undefined;
  private closed = false;

  constructor(
    readonly sampleRate: number,
    private readonly counters?: Counters,
  ) {}

  decode(payload: Buffer, rtp?: RtpFrameInfo): null {
    if (this.closed) return null;
    this.stats.packets++;
    const ev = parseEvent(payload);
    if (ev === undefined) {
      this.count('malformed');
      return null;
    }
    const ts = rtp === undefined ? undefined : rtp.timestamp >>> 0;
    if (ts !== undefined) this.withTimestamp(ev, ts);
    else this.withoutTimestamp(ev);
    return null;
  }

  private withTimestamp(ev: TelephoneEventBlock, ts: number): void {
    const open = this.open;
    if (open !== undefined && ts === open.segTs) {
      this.update(open, ev);
      return;
    }
    if (this.ended.includes(ts)) {
      this.count('afterEnd');
      return;
    }
    const digit = eventDigit(ev.event);
    if (open !== undefined) {
      // A long press continues in a new segment whose timestamp is the previous segment's end (RFC 4733 §2.5.1.3).
      const delta = (ts - open.segTs) >>> 0;
      if (digit !== undefined && ev.event === open.code && open.segDuration >= SEGMENT_NEAR_MAX && delta >= open.segDuration && delta <= 0x10000 + 0x1000) {
        open.baseDuration += delta;
        open.segTs = ts;
        open.segDuration = 0;
        this.update(open, ev);
        return;
      }
      if (delta >= 0x80000000) {
        // Older than the open press: a straggler of an earlier press, not a new one.
        this.count('late');
        return;
      }
      // Another timestamp: a new event began, so the open press is over even though its end packets were lost.
      this.finish(open, true);
    }
    if (digit === undefined) {
      this.count('ignoredEvents');
      return;
    }
    this.start(digit, ev, ts);
  }

  private withoutTimestamp(ev: TelephoneEventBlock): void {
    const open = this.open;
    if (open !== undefined) {
      if (ev.event === open.code && ev.duration >= open.segDuration) {
        this.update(open, ev);
        return;
      }
      this.finish(open, true);
    }
    const digit = eventDigit(ev.event);
    if (digit === undefined) {
      this.count('ignoredEvents');
      return;
    }
    const last = this.lastEnd;
    if (last !== undefined && ev.end && ev.event === last.code && ev.duration === last.duration) {
      this.count('afterEnd');
      return;
    }
    this.start(digit, ev, this.synthetic++);
  }

  private start(digit: string, ev: TelephoneEventBlock, ts: number): void {
    const p: OpenPress = { digit, code: ev.event, startTs: ts, segTs: ts, baseDuration: 0, segDuration: ev.duration, volume: ev.volume };
    this.open = p;
    if (ev.end) this.finish(p, false);
    else this.events.push(this.event(p, false));
  }

  private update(p: OpenPress, ev: TelephoneEventBlock): void {
    // Durations only grow within a segment; a reordered older packet must not shrink it.
    p.segDuration = Math.max(p.segDuration, ev.duration);
    p.volume = ev.volume;
    if (ev.end) this.finish(p, false);
  }

  private finish(p: OpenPress, lost: boolean): void {
    this.open = undefined;
    this.events.push(this.event(p, true));
    this.count('presses');
    if (lost) this.count('endLost');
    this.ended.push(p.segTs);
    if (this.ended.length > ENDED_MEMORY) this.ended.shift();
    this.lastEnd = { code: p.code, duration: p.segDuration };
  }

  private event(p: OpenPress, end: boolean): MediaEvent {
    return { kind: 'dtmf', digit: p.digit, rtpTimestamp: p.startTs, duration: p.baseDuration + p.segDuration, volume: p.volume, end };
  }

  private count(name: keyof TelephoneEventStats): void {
    this.stats[name]++;
    this.counters?.inc(name);
  }

  drainEvents(): MediaEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Ends the stream: a press still open is reported (end: true) by the next drainEvents(). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.open !== undefined) this.finish(this.open, true);
  }
}
