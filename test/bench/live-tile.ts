/**
 * The live bench's load: a generated capture of steady G.711 calls, replayed as an endless stream of fresh calls.
 *
 * In the capture call i starts at t0 + i × period / calls and every call ends within `period`, so the capture folded
 * on its period (a packet captured at t goes to tile time (t − t0) mod period, in *layer* ⌊(t − t0) / period⌋) is one
 * period of a steady state: replayed pass after pass, a call that starts in pass k (layer 0) ends in pass k + 1
 * (layer 1) and the number of calls in progress stays the same. Pass k's packets of layer l belong to call *instance*
 * k − l. Each instance gets a Call-ID of its own — the first six characters of the generated one rewritten as the
 * instance number in hex, same length, so no IP or UDP length changes (the generator writes no UDP checksum) — and
 * SSRCs and RTP ports of its own (instanceSsrc(), instancePortShift(): the SDP's m= port moves with the RTP), so
 * every pass is a fresh set of calls between the same addresses, each starting well after the previous instance's
 * BYE. Pass 0 skips layer 1 (the tails of instance −1, which never started): the first pass is the ramp
 * up to the steady state.
 *
 * Replay streams the file through two cursors (layer 0 from the first record, layer 1 from `layer1Offset`) merged by
 * tile time: memory is two read buffers, whatever the capture's length. Only what the generator writes is read:
 * classic pcap, Ethernet, IPv4.
 */
import * as fs from 'node:fs';
import { PCAP_FILE_HEADER_LEN, isPcapMagic, parsePcapHeader } from '../../core/net/pcap-format';

/** Where the capture folds. */
export interface TileSpec {
  /** Capture time of the first call's start (its INVITE), µs since the epoch. */
  t0: number;
  /** The fold period, µs: calls × the spacing of their starts. */
  periodUs: number;
  /** File offset of the first record captured at or after t0 + periodUs (file size when there is none). */
  layer1Offset: number;
}

/**
 * Whether call `index` is among a `fraction` of the calls (0..1): a fixed pseudo-random choice per call, so a
 * thinned replay spreads the calls it keeps evenly over the period.
 */
export function callSelected(index: number, fraction: number): boolean {
  if (fraction >= 1) return true;
  return (Math.imul(index + 1, 0x9e3779b1) >>> 0) / 4294967296 < fraction;
}

/** The SSRC instance `instance` of a generated stream carries (instance 0 keeps the generated one). */
export function instanceSsrc(ssrc: number, instance: number): number {
  return (ssrc ^ Math.imul(instance, 0x9e3779b1)) >>> 0;
}

/**
 * How far instance `instance` moves a call's RTP ports (both parties', in the UDP headers and the SDP's m= lines):
 * nine sets, −2…+6 × `step`, instance 0 on the generated ports. With `step` the span of the generated ports (2 × the
 * calls) the sets do not overlap, so a port pair comes back only every 9 periods (~3.5 min): long enough for the
 * recorder's flow cache to let the previous call's flow go (idle 120 s), as with endpoints that take a new port per
 * call. The generated ports (20000+, 40000+) stay five digits under any shift, so no length changes.
 */
export function instancePortShift(instance: number, step: number): number {
  return (((instance + 2) % 9) - 2) * step;
}

/** Hex digits of the instance number written over the start of each Call-ID. */
export const INSTANCE_DIGITS = 6;
const MAX_INSTANCE = 16 ** INSTANCE_DIGITS - 1;
const ETHERTYPE_IPV4 = 0x0800;
const ETH_HEADER = 14;
const READ_CHUNK = 4 * 1024 * 1024;

/** The Call-ID instance `instance` of a generated call carries. */
export function instanceCallId(callId: string, instance: number): string {
  if (!Number.isInteger(instance) || instance < 0 || instance > MAX_INSTANCE) throw new RangeError(`call instance ${instance} out of range`);
  if (callId.length <= INSTANCE_DIGITS) throw new RangeError(`Call-ID "${callId}" is too short to carry an instance number`);
  return instance.toString(16).padStart(INSTANCE_DIGITS, '0') + callId.slice(INSTANCE_DIGITS);
}

/** The instance number and the generated call's Call-ID suffix (what instanceCallId() kept) of a rewritten Call-ID. */
export function parseInstanceCallId(callId: string): { instance: number; suffix: string } | undefined {
  const head = callId.slice(0, INSTANCE_DIGITS);
  if (!/^[0-9a-f]+$/.test(head) || head.length !== INSTANCE_DIGITS) return undefined;
  return { instance: parseInt(head, 16), suffix: callId.slice(INSTANCE_DIGITS) };
}

const CALL_ID_HEADER = Buffer.from('\r\nCall-ID:', 'latin1');
const MEDIA_LINE = Buffer.from('\r\nm=', 'latin1');

/**
 * Moves the port of every SDP media line (`m=<media> <port> …`) in `sip[start, end)` by `shift`, in place. The port
 * must keep its number of digits (nothing else in the message moves). Returns how many lines were changed.
 */
export function shiftMediaPorts(sip: Buffer, start: number, end: number, shift: number): number {
  if (shift === 0) return 0;
  let n = 0;
  let at = sip.indexOf(MEDIA_LINE, start);
  while (at !== -1 && at < end) {
    let p = at + MEDIA_LINE.length;
    while (p < end && sip[p] !== 0x20) p++;
    const q = ++p;
    while (p < end && (sip[p] as number) >= 0x30 && (sip[p] as number) <= 0x39) p++;
    if (p > q) {
      const text = String(Number(sip.toString('latin1', q, p)) + shift);
      if (text.length !== p - q || Number(text) > 65535) throw new RangeError(`m= port ${sip.toString('latin1', q, p)} moved by ${shift} does not keep its ${p - q} digits`);
      sip.write(text, q, 'latin1');
      n++;
    }
    at = sip.indexOf(MEDIA_LINE, p);
  }
  return n;
}

/**
 * Writes the instance number over the first characters of every Call-ID header value in `sip` (a SIP message's
 * bytes), in place. Returns how many headers were rewritten (a generated SIP message has one).
 */
export function rewriteCallIds(sip: Buffer, start: number, end: number, instance: number): number {
  if (!Number.isInteger(instance) || instance < 0 || instance > MAX_INSTANCE) throw new RangeError(`call instance ${instance} out of range`);
  let n = 0;
  let at = sip.indexOf(CALL_ID_HEADER, start);
  while (at !== -1 && at < end) {
    let v = at + CALL_ID_HEADER.length;
    while (v < end && (sip[v] === 0x20 || sip[v] === 0x09)) v++;
    if (v + INSTANCE_DIGITS > end) break;
    let x = instance;
    for (let k = INSTANCE_DIGITS - 1; k >= 0; k--) {
      const d = x & 15;
      sip[v + k] = d < 10 ? 0x30 + d : 0x57 + d;
      x >>>= 4;
    }
    n++;
    at = sip.indexOf(CALL_ID_HEADER, v);
  }
  return n;
}

/** Reads a classic pcap's records from `start` to `end` (byte offsets) in order, one read buffer at a time. */
export class PcapCursor {
  /** The current record: capture time (µs since the epoch), and its bytes as buf[dataStart, dataEnd). */
  ts = 0;
  buf: Buffer = Buffer.alloc(0);
  dataStart = 0;
  dataEnd = 0;
  /** File offset of the current record's header. */
  recordOffset = 0;

  private chunk: Buffer;
  private pos = 0;
  private len = 0;
  private fileOff: number;

  constructor(
    private readonly fd: number,
    private readonly start: number,
    private readonly end: number,
    private readonly le: boolean,
    private readonly nanos: boolean,
  ) {
    this.chunk = Buffer.allocUnsafe(READ_CHUNK);
    this.fileOff = start;
  }

  /** Back to the first record. */
  reset(): void {
    this.pos = 0;
    this.len = 0;
    this.fileOff = this.start;
  }

  /** Moves to the next record; false at `end`. */
  next(): boolean {
    if (this.len - this.pos < 16 && !this.fill(16)) return false;
    const c = this.chunk;
    const caplen = this.le ? c.readUInt32LE(this.pos + 8) : c.readUInt32BE(this.pos + 8);
    if (this.len - this.pos < 16 + caplen && !this.fill(16 + caplen)) {
      throw new Error(`truncated pcap record at byte ${this.fileOff + this.pos}`);
    }
    const p = this.pos;
    const sec = this.le ? c.readUInt32LE(p) : c.readUInt32BE(p);
    const frac = this.le ? c.readUInt32LE(p + 4) : c.readUInt32BE(p + 4);
    this.ts = this.nanos ? sec * 1e6 + Math.floor(frac / 1000) : sec * 1e6 + frac;
    this.recordOffset = this.fileOff + p;
    this.buf = c;
    this.dataStart = p + 16;
    this.dataEnd = p + 16 + caplen;
    this.pos = this.dataEnd;
    return true;
  }

  /** Makes at least `need` bytes available at pos (moving the rest to the front); false when the range ends first. */
  private fill(need: number): boolean {
    const rest = this.len - this.pos;
    if (need > this.chunk.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.chunk.length * 2));
      this.chunk.copy(bigger, 0, this.pos, this.len);
      this.chunk = bigger;
    } else {
      this.chunk.copy(this.chunk, 0, this.pos, this.len);
    }
    this.fileOff += this.pos;
    this.pos = 0;
    this.len = rest;
    while (this.len < need) {
      const want = Math.min(this.chunk.length - this.len, this.end - (this.fileOff + this.len));
      if (want <= 0) return false;
      const got = fs.readSync(this.fd, this.chunk, this.len, want, this.fileOff + this.len);
      if (got <= 0) return false;
      this.len += got;
    }
    return true;
  }
}

interface PcapFile {
  fd: number;
  size: number;
  le: boolean;
  nanos: boolean;
}

function openPcap(file: string): PcapFile {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(PCAP_FILE_HEADER_LEN);
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length || !isPcapMagic(head.readUInt32BE(0))) throw new Error(`${file} is not a classic pcap file`);
    const h = parsePcapHeader(head);
    if (h.recordHeaderLen !== 16) throw new Error(`${file}: modified pcap records are not supported here`);
    if (h.linkType !== 1) throw new Error(`${file}: link type ${h.linkType}, the live bench reads Ethernet only`);
    return { fd, size: fs.fstatSync(fd).size, le: h.littleEndian, nanos: h.nanos };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Finds where layer 1 starts, and checks that every record falls in layer 0 or 1 (each call ends within a period). */
export function scanTile(file: string, t0: number, periodUs: number): TileSpec & { records: number } {
  const f = openPcap(file);
  try {
    const c = new PcapCursor(f.fd, PCAP_FILE_HEADER_LEN, f.size, f.le, f.nanos);
    let layer1Offset = f.size;
    let records = 0;
    let last = -Infinity;
    while (c.next()) {
      records++;
      const rel = c.ts - t0;
      if (rel < 0 || rel >= 2 * periodUs) throw new Error(`${file}: record ${records} at ${rel} µs from the first call's start is outside two periods of ${periodUs} µs`);
      if (c.ts < last) throw new Error(`${file}: record ${records} is earlier than the one before it`);
      last = c.ts;
      if (rel >= periodUs && layer1Offset === f.size) layer1Offset = c.recordOffset;
    }
    return { t0, periodUs, layer1Offset, records };
  } finally {
    fs.closeSync(f.fd);
  }
}

/**
 * The capture folded on its period, pass after pass, without end. After next(): `packet` is the IP packet (a view,
 * valid until the next call; SIP already carries its instance's Call-ID), `g` its global tile time (pass × period +
 * tile time, µs), `instance` the call instance it belongs to, `call` the generated call's index, `sip` whether it is
 * SIP (UDP to or from `sipPort`). The call comes from the party's address: the generator gives call i the addresses
 * <callerPrefix>.<(i+1) >> 8>.<(i+1) & 255> and the same under calleePrefix (first two octets, '10.1' and '10.2' by
 * default); the other end of its SIP is the server.
 */
export class TileReplay {
  g = 0;
  pass = 0;
  instance = 0;
  call = 0;
  sip = false;
  packet: Buffer = Buffer.alloc(0);

  private readonly file: PcapFile;
  private readonly prefixes: number[];
  private readonly c: [PcapCursor, PcapCursor];
  /** Whether each cursor holds a record not yet returned; its tile time. */
  private readonly has: [boolean, boolean] = [false, false];
  private readonly tau: [number, number] = [0, 0];
  private readonly scratch = Buffer.allocUnsafe(65536);
  /** The cursor whose record `packet` views: moved on at the next call (moving may refill its buffer). */
  private consumed: 0 | 1 | -1 = -1;

  private readonly sipPort: number;
  private readonly portStep: number;

  /**
   * `portStep`: instancePortShift()'s step (0: every instance on the generated ports); `sipPort` 5060 and the
   * generator's address prefixes by default.
   */
  constructor(
    path: string,
    private readonly tile: TileSpec,
    opts: { sipPort?: number; portStep?: number; prefixes?: { caller: string; callee: string } } = {},
  ) {
    this.sipPort = opts.sipPort ?? 5060;
    this.portStep = opts.portStep ?? 0;
    const prefixes = opts.prefixes ?? { caller: '10.1', callee: '10.2' };
    this.prefixes = [prefixes.caller, prefixes.callee].map((p) => {
      const [a, b] = p.split('.').map(Number);
      return (((a as number) & 255) << 8) | ((b as number) & 255);
    });
    this.file = openPcap(path);
    const f = this.file;
    this.c = [new PcapCursor(f.fd, PCAP_FILE_HEADER_LEN, tile.layer1Offset, f.le, f.nanos), new PcapCursor(f.fd, tile.layer1Offset, f.size, f.le, f.nanos)];
    this.startPass();
  }

  close(): void {
    fs.closeSync(this.file.fd);
  }

  private startPass(): void {
    for (const l of [0, 1] as const) {
      this.c[l].reset();
      this.advance(l);
    }
    if (!this.has[0] && !this.has[1]) throw new Error('the capture has no records');
  }

  private advance(l: 0 | 1): void {
    const c = this.c[l];
    this.has[l] = c.next();
    if (this.has[l]) this.tau[l] = c.ts - this.tile.t0 - l * this.tile.periodUs;
  }

  /** Moves to the next packet in tile order (pass 0 skips layer 1). Always true: the replay never ends. */
  next(): boolean {
    if (this.consumed !== -1) {
      this.advance(this.consumed);
      this.consumed = -1;
    }
    for (;;) {
      if (!this.has[0] && !this.has[1]) {
        this.pass++;
        this.startPass();
      }
      // Layer 1 first on a tie: the older call's packet.
      const l: 0 | 1 = this.has[1] && (!this.has[0] || this.tau[1] <= this.tau[0]) ? 1 : 0;
      const c = this.c[l];
      const tau = this.tau[l];
      const instance = this.pass - l;
      if (instance < 0) {
        this.advance(l);
        continue;
      }
      const b = c.buf;
      const s = c.dataStart;
      const e = c.dataEnd;
      if (e - s < ETH_HEADER + 20 || b.readUInt16BE(s + 12) !== ETHERTYPE_IPV4) throw new Error(`record at byte ${c.recordOffset} is not Ethernet/IPv4`);
      const ip = s + ETH_HEADER;
      const ipEnd = Math.min(e, ip + b.readUInt16BE(ip + 2));
      const ihl = ((b[ip] as number) & 15) * 4;
      const udp = b[ip + 9] === 17 && ipEnd - ip >= ihl + 8;
      this.sip = udp && (b.readUInt16BE(ip + ihl) === this.sipPort || b.readUInt16BE(ip + ihl + 2) === this.sipPort);
      const src = b.readUInt16BE(ip + 12);
      const dst = b.readUInt16BE(ip + 16);
      const [p0, p1] = this.prefixes;
      const at = src === p0 || src === p1 ? ip + 14 : dst === p0 || dst === p1 ? ip + 18 : -1;
      if (at < 0) throw new Error(`record at byte ${c.recordOffset} is from no generated call (neither address has a caller or callee prefix)`);
      this.call = b.readUInt16BE(at) - 1;
      const n = ipEnd - ip;
      const shift = instancePortShift(instance, this.portStep);
      if (this.sip) {
        b.copy(this.scratch, 0, ip, ipEnd);
        if (rewriteCallIds(this.scratch, ihl + 8, n, instance) === 0) throw new Error(`SIP packet at byte ${c.recordOffset} has no Call-ID header`);
        shiftMediaPorts(this.scratch, ihl + 8, n, shift);
        this.packet = this.scratch.subarray(0, n);
      } else if (udp && n >= ihl + 8 + 12 && ((b[ip + ihl + 8] as number) & 0xc0) === 0x80) {
        // RTP: the instance's own SSRC and ports, as a new call would have.
        const w = this.scratch;
        b.copy(w, 0, ip, ipEnd);
        const at = ihl + 8 + 8;
        w.writeUInt32BE(instanceSsrc(w.readUInt32BE(at), instance), at);
        if (shift !== 0) {
          w.writeUInt16BE(w.readUInt16BE(ihl) + shift, ihl);
          w.writeUInt16BE(w.readUInt16BE(ihl + 2) + shift, ihl + 2);
        }
        this.packet = w.subarray(0, n);
      } else {
        this.packet = b.subarray(ip, ipEnd);
      }
      this.g = this.pass * this.tile.periodUs + tau;
      this.instance = instance;
      this.consumed = l;
      return true;
    }
  }
}
