/**
 * One live capture on one named interface (libpcap through native/pcap): frames with their kernel timestamps and
 * the interface's link type, kernel drop counters, and errors that say what is wrong. Shared by source-live and the
 * forwarder agent (which captures with the same code).
 */
import { ErrorCodes, TaplineError } from '../errors';
import { LinkType, type RawFrame } from './types';
import { pcapAddon, pcapAddonStatus, type CaptureHandle, type PcapAddon } from './pcap-addon';

export interface InterfaceCaptureOptions {
  /** Interface name as `ip link` shows it, or 'any'. */
  interface: string;
  /** BPF filter ('' captures everything). */
  filter: string;
  snaplen: number;
  /** Kernel capture buffer (the TPACKET ring), bytes. */
  bufferBytes: number;
  promiscuous: boolean;
  /** Stamped on every frame (the interface's position in the source's list). */
  interfaceId: number;
  /** Longest a captured packet waits in the kernel before it is handed over (TPACKET_V3 block timeout). */
  timeoutMs?: number;
  /** Packets read per event-loop wake-up before yielding (keeps timers and sockets served under load). */
  budget?: number;
  /**
   * false: each frame's data is a view of the batch buffer, valid only while onFrame runs (a caller that copies what
   * it keeps saves an allocation per packet). Default true: a copy of its own.
   */
  copyFrames?: boolean;
}

/** libpcap's counters since open, unwrapped from 32 bits. */
export interface CaptureStats {
  /** Packets the kernel handed to the capture (on `lo` each packet counts twice: out and in). */
  received: number;
  /** Packets the kernel dropped because the capture buffer was full (ps_drop; on `lo` each counts twice too). */
  dropped: number;
  /** Packets the interface or its driver dropped, whatever the filter (ps_ifdrop). */
  ifDropped: number;
}

export const DEFAULT_TIMEOUT_MS = 10;
export const DEFAULT_BUDGET = 65_536;
const RECORD_HEADER = 20;
const U32 = 2 ** 32;

/** DLT_ values that differ from their LINKTYPE_ (pcap-linktype(7)): DLT_RAW is 12 on Linux, 14 on some BSDs. */
const DLT_TO_LINKTYPE: Readonly<Record<number, number>> = { 12: LinkType.RAW, 14: LinkType.RAW };

export function linkTypeOfDlt(dlt: number): number {
  return DLT_TO_LINKTYPE[dlt] ?? dlt;
}

function requireAddon(): PcapAddon {
  const addon = pcapAddon();
  if (addon === undefined) throw new TaplineError(ErrorCodes.CAPTURE_LIVE, `live capture is unavailable: ${pcapAddonStatus().reason ?? 'native/pcap not loaded'}`);
  return addon;
}

/** Interfaces libpcap can capture on here, or [] when the addon is missing. */
export function captureInterfaces(): string[] {
  try {
    return pcapAddon()?.devices() ?? [];
  } catch {
    return [];
  }
}

/**
 * Compiles a filter without opening anything (no privilege needed): undefined when libpcap accepts it, else its
 * message. Checked for Ethernet; undefined too when the addon is missing (open() reports that).
 */
export function checkFilter(filter: string, snaplen = 65_535): string | undefined {
  return pcapAddon()?.checkFilter(filter, LinkType.ETHERNET, snaplen);
}

/** The addon's error, as a TaplineError naming the interface and what to do. */
function openError(e: unknown, o: InterfaceCaptureOptions): TaplineError {
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  const details = { interface: o.interface, libpcap: text };
  switch (code) {
    case 'PCAP_NO_SUCH_DEVICE': {
      const known = captureInterfaces();
      return new TaplineError(ErrorCodes.CAPTURE_NO_INTERFACE, `interface "${o.interface}" not found; interfaces here: ${known.length > 0 ? known.join(', ') : '(none listed)'}`, { ...details, interfaces: known }, e);
    }
    case 'PCAP_PERM_DENIED':
      return new TaplineError(ErrorCodes.CAPTURE_PERMISSION, `capturing on "${o.interface}" needs root or CAP_NET_RAW (libpcap: ${text}); run as root or grant CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW)`, details, e);
    case 'PCAP_PROMISC_PERM_DENIED':
      return new TaplineError(ErrorCodes.CAPTURE_PERMISSION, `promiscuous mode on "${o.interface}" was refused (libpcap: ${text}); it needs root or CAP_NET_RAW, or set promiscuous: false`, details, e);
    case 'PCAP_FILTER':
      return new TaplineError(ErrorCodes.CAPTURE_FILTER, `BPF filter ${JSON.stringify(o.filter)} refused on "${o.interface}": ${text}`, { ...details, filter: o.filter }, e);
    case 'PCAP_IFACE_NOT_UP':
      return new TaplineError(ErrorCodes.CAPTURE_LIVE, `interface "${o.interface}" is down (libpcap: ${text})`, details, e);
    default:
      return new TaplineError(ErrorCodes.CAPTURE_LIVE, `cannot capture on "${o.interface}": ${text}`, details, e);
  }
}

export class InterfaceCapture {
  readonly linkType: number;
  /** Timestamps carry nanoseconds (RawFrame.ts then has a fractional µs part). */
  readonly nanosecond: boolean;
  /** Frames handed to onFrame so far. */
  frames = 0;
  private readonly addon: PcapAddon;
  private handle: CaptureHandle | undefined;
  private readonly batch: Buffer;
  private last: [number, number, number] = [0, 0, 0];
  private readonly totals: CaptureStats = { received: 0, dropped: 0, ifDropped: 0 };
  private readonly copy: boolean;

  private constructor(
    readonly options: InterfaceCaptureOptions,
    private readonly onFrame: (frame: RawFrame) => void,
    private readonly onError: (err: TaplineError) => void,
    private readonly onWarning?: (message: string) => void,
  ) {
    this.addon = requireAddon();
    this.copy = options.copyFrames !== false;
    // Room for many packets per call into JavaScript, and always for one of snaplen bytes.
    this.batch = Buffer.alloc(Math.max(1 << 20, RECORD_HEADER + options.snaplen));
    try {
      this.handle = this.addon.open(
        options.interface,
        {
          snaplen: options.snaplen,
          bufferBytes: options.bufferBytes,
          promiscuous: options.promiscuous,
          timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          budget: options.budget ?? DEFAULT_BUDGET,
        },
        options.filter,
        this.batch,
        (count, bytes, problem, fatal) => this.onBatch(count, bytes, problem, fatal),
      );
    } catch (e) {
      throw openError(e, options);
    }
    this.linkType = linkTypeOfDlt(this.addon.linkType(this.handle));
    this.nanosecond = this.addon.tstampNano(this.handle);
  }

  /**
   * Starts capturing at once; frames arrive on the event loop (never blocking it) until close(). A read failure
   * after open (the interface disappeared) closes the capture and calls onError once; the interface going down is
   * only a warning (capture resumes when it comes back up).
   */
  static open(options: InterfaceCaptureOptions, onFrame: (frame: RawFrame) => void, onError: (err: TaplineError) => void, onWarning?: (message: string) => void): InterfaceCapture {
    return new InterfaceCapture(options, onFrame, onError, onWarning);
  }

  get open(): boolean {
    return this.handle !== undefined;
  }

  private onBatch(count: number, bytes: number, problem?: string, fatal?: boolean): void {
    if (problem !== undefined) {
      if (fatal !== true) {
        this.onWarning?.(`capture on "${this.options.interface}": ${problem}`);
        return;
      }
      this.close();
      this.onError(new TaplineError(ErrorCodes.CAPTURE_LIVE, `capture on "${this.options.interface}" failed: ${problem}`, { interface: this.options.interface, libpcap: problem }));
      return;
    }
    const b = this.batch;
    const scale = this.nanosecond ? 1000 : 1;
    let off = 0;
    for (let i = 0; i < count && off + RECORD_HEADER <= bytes; i++) {
      const caplen = b.readUInt32LE(off);
      const origLen = b.readUInt32LE(off + 4);
      const sec = b.readUInt32LE(off + 8) + b.readUInt32LE(off + 12) * U32;
      const frac = b.readUInt32LE(off + 16);
      const start = off + RECORD_HEADER;
      off = start + caplen;
      // A copy by default: the batch is overwritten by the next wake-up, and the core may keep frames (reassembly, reordering).
      let data: Buffer;
      if (this.copy) {
        data = Buffer.allocUnsafe(caplen);
        b.copy(data, 0, start, off);
      } else data = b.subarray(start, off);
      this.frames++;
      this.onFrame({ ts: sec * 1e6 + frac / scale, linkType: this.linkType, data, origLen, interfaceId: this.options.interfaceId, frameNo: this.frames });
      if (this.handle === undefined) return; // onFrame closed the capture
    }
  }

  /**
   * Replaces the kernel filter while capturing (never from inside onFrame). False when this addon build cannot;
   * throws a TaplineError (CAPTURE_FILTER) when libpcap refuses the filter.
   */
  setFilter(filter: string): boolean {
    if (this.handle === undefined || this.addon.setFilter === undefined) return false;
    try {
      this.addon.setFilter(this.handle, filter);
    } catch (e) {
      throw openError(e, { ...this.options, filter });
    }
    return true;
  }

  /** Cumulative counters (32-bit wrap-around of libpcap's counters undone); the last values once closed. */
  stats(): CaptureStats {
    if (this.handle !== undefined) {
      const now = this.addon.stats(this.handle);
      this.totals.received += (now[0] - this.last[0] + U32) % U32;
      this.totals.dropped += (now[1] - this.last[1] + U32) % U32;
      this.totals.ifDropped += (now[2] - this.last[2] + U32) % U32;
      this.last = now;
    }
    return { ...this.totals };
  }

  /** Stops capturing and releases the socket and the poll handle at once (idempotent). Reads final stats first. */
  close(): void {
    if (this.handle === undefined) return;
    try {
      this.stats();
    } catch {
      // a failed interface may refuse stats; the totals so far stand
    }
    const h = this.handle;
    this.handle = undefined;
    this.addon.close(h);
  }
}
