/**
 * The native libpcap addon (native/pcap/pcap_native.c), loaded once. It is built by native/build.js at
 * `npm install` / `npm run build` when libpcap-dev is installed; without it live capture is unavailable and
 * pcapAddonStatus() says why (everything else in Tapline works).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

declare const captureHandleBrand: unique symbol;
/** One open pcap handle inside the addon. */
export interface CaptureHandle {
  readonly [captureHandleBrand]: true;
}

export interface AddonOpenOptions {
  snaplen: number;
  bufferBytes: number;
  promiscuous: boolean;
  /** TPACKET_V3 block timeout: the longest a captured packet waits before it is handed over. */
  timeoutMs: number;
  /** Packets read per wake-up of the event loop before yielding to it. */
  budget: number;
}

/**
 * Called with `count` records filling `bytes` of the batch Buffer, or with (0, 0, message, fatal) for a read
 * problem: fatal (the interface disappeared, a read failed) means the handle reads nothing more and should be
 * closed; not fatal (the interface went down) means capture goes on when the interface comes back up.
 */
export type BatchCallback = (count: number, bytes: number, problem?: string, fatal?: boolean) => void;

export interface PcapAddon {
  /** Throws an Error whose `code` is PCAP_NO_SUCH_DEVICE, PCAP_PERM_DENIED, PCAP_PROMISC_PERM_DENIED, PCAP_IFACE_NOT_UP, PCAP_FILTER or PCAP_ERROR. */
  open(device: string, options: AddonOpenOptions, filter: string, batch: Buffer, onBatch: BatchCallback): CaptureHandle;
  /** Idempotent; called from inside onBatch it takes effect when the current wake-up returns. */
  close(handle: CaptureHandle): void;
  /** [ps_recv, ps_drop, ps_ifdrop]: libpcap's 32-bit counters since open (they wrap). */
  stats(handle: CaptureHandle): [number, number, number];
  /** pcap_datalink(): a DLT_ value. */
  linkType(handle: CaptureHandle): number;
  /** Whether timestamps have nanosecond precision (else microseconds). */
  tstampNano(handle: CaptureHandle): boolean;
  /** Interfaces libpcap can open (pcap_findalldevs), including 'any'. */
  devices(): string[];
  /** Replaces an open capture's kernel filter; throws (code PCAP_FILTER) when libpcap refuses it. Optional: an addon built before it lacks it. */
  setFilter?(handle: CaptureHandle, filter: string): void;
  /** Compiles a BPF filter for a link type without opening anything: undefined, or libpcap's message. */
  checkFilter(filter: string, linkType: number, snaplen: number): string | undefined;
  libVersion(): string;
}

export interface PcapAddonStatus {
  loaded: boolean;
  path?: string;
  /** libpcap's version string, when loaded. */
  libpcap?: string;
  /** Why it is not in use. */
  reason?: string;
}

export const PCAP_ADDON = join('native', 'pcap', 'build', 'Release', 'pcap_native.node');

/** The addon in the package root above this file (works from plugins/ under tsx and from dist/plugins/). */
function findAddon(): string | undefined {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, PCAP_ADDON);
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native', 'pcap'))) return undefined;
    if (dirname(dir) === dir) return undefined;
  }
}

function load(): { addon?: PcapAddon; status: PcapAddonStatus } {
  if (process.env['TAPLINE_PCAP_NATIVE'] === '0') return { status: { loaded: false, reason: 'disabled by TAPLINE_PCAP_NATIVE=0' } };
  const path = findAddon();
  if (path === undefined) {
    return { status: { loaded: false, reason: `${PCAP_ADDON} was not built (needs libpcap-dev and a C compiler: apt-get install libpcap-dev, then node native/build.js)` } };
  }
  try {
    const addon = require(path) as PcapAddon;
    return { addon, status: { loaded: true, path, libpcap: addon.libVersion() } };
  } catch (e) {
    return { status: { loaded: false, path, reason: `cannot load ${path}: ${(e as Error).message}` } };
  }
}

let loaded: { addon?: PcapAddon; status: PcapAddonStatus } | undefined;

/** The addon, or undefined (see pcapAddonStatus()). Loaded on first use: importing the plugin (listing plugins, checking a config) loads no libpcap. */
export function pcapAddon(): PcapAddon | undefined {
  loaded ??= load();
  return loaded.addon;
}

export function pcapAddonStatus(): PcapAddonStatus {
  loaded ??= load();
  return { ...loaded.status };
}
