/**
 * Every error Tapline raises by name, in one place (fastify's lib/errors.js habit).
 * A code says what failed; the message says what was wrong with which input.
 */
export const ErrorCodes = {
  CONFIG_NOT_FOUND: 'TAPLINE_ERR_CONFIG_NOT_FOUND',
  CONFIG_LOAD: 'TAPLINE_ERR_CONFIG_LOAD',
  CONFIG_INVALID: 'TAPLINE_ERR_CONFIG_INVALID',
  PLUGIN_NOT_FOUND: 'TAPLINE_ERR_PLUGIN_NOT_FOUND',
  PLUGIN_MANIFEST: 'TAPLINE_ERR_PLUGIN_MANIFEST',
  PLUGIN_API_VERSION: 'TAPLINE_ERR_PLUGIN_API_VERSION',
  PLUGIN_DEPENDENCY: 'TAPLINE_ERR_PLUGIN_DEPENDENCY',
  PLUGIN_DUPLICATE: 'TAPLINE_ERR_PLUGIN_DUPLICATE',
  PLUGIN_HOOK: 'TAPLINE_ERR_PLUGIN',
  PLUGIN_TIMEOUT: 'TAPLINE_ERR_PLUGIN_TIMEOUT',
  CODEC_CONFLICT: 'TAPLINE_ERR_CODEC_CONFLICT',
  CAPTURE_FORMAT: 'TAPLINE_ERR_CAPTURE_FORMAT',
  CAPTURE_TRUNCATED: 'TAPLINE_ERR_CAPTURE_TRUNCATED',
  CAPTURE_CORRUPT: 'TAPLINE_ERR_CAPTURE_CORRUPT',
  CAPTURE_IO: 'TAPLINE_ERR_CAPTURE_IO',
  SIP_PARSE: 'TAPLINE_ERR_SIP_PARSE',
  SDP_PARSE: 'TAPLINE_ERR_SDP_PARSE',
  PACKET_DECODE: 'TAPLINE_ERR_PACKET_DECODE',
  USAGE: 'TAPLINE_ERR_USAGE',
  /** Misuse of the native SRTP addon (native/srtp): thrown by the C code as a TypeError/RangeError with this code. */
  SRTP_NATIVE: 'TAPLINE_ERR_SRTP_NATIVE',
  // Operations of `tapline serve` (core/log.ts, core/service/ops-*.ts)
  /** A log file that cannot be created or written. */
  LOG_DESTINATION: 'TAPLINE_ERR_LOG_DESTINATION',
  /** Ops endpoint options that cannot work: a malformed CIDR, an unreadable or empty token file. */
  OPS_CONFIG: 'TAPLINE_ERR_OPS_CONFIG',
  /** The ops endpoint could not listen (address in use, not available, permission). */
  OPS_LISTEN: 'TAPLINE_ERR_OPS_LISTEN',
  // Call workers (core/workers/)
  /** A call worker thread could not start (its codec plugins failed to load, the thread could not be created). */
  WORKER_START: 'TAPLINE_ERR_WORKER_START',
  // source-forwarded (TFWD / VXLAN / TZSP listeners)
  /** Options the schema cannot check: keys missing or malformed, a bad allow-list entry, no listener enabled. */
  FORWARDED_CONFIG: 'TAPLINE_ERR_FORWARDED_CONFIG',
  /** A listener could not bind its UDP port (in use, not permitted, no such address). */
  FORWARDED_LISTEN: 'TAPLINE_ERR_FORWARDED_LISTEN',
  // The forwarder agent (`tapline forward`, plugins/forwarder)
  /** Forwarder options that cannot work: keys missing or malformed, a bad address, no interface or recorder. */
  FORWARD_CONFIG: 'TAPLINE_ERR_FORWARD_CONFIG',
  // Call-control feeds (HEP codec, stream/datagram listeners, source-hep, source-sipfeed)
  /** encodeHep3() was given something HEP cannot carry (a bad address, a record over 65535 bytes). */
  HEP_ENCODE: 'TAPLINE_ERR_HEP_ENCODE',
  /** A listener's options are unusable (a bad CIDR, unreadable certificate files, TLS without a key). */
  LISTENER_CONFIG: 'TAPLINE_ERR_LISTENER_CONFIG',
  /** A listener could not bind its address (in use, not available, not permitted). */
  LISTENER_BIND: 'TAPLINE_ERR_LISTENER_BIND',
  // source-live: capture on network interfaces (libpcap, native/pcap)
  /** The interface does not exist (the message lists those that do). */
  CAPTURE_NO_INTERFACE: 'TAPLINE_ERR_CAPTURE_NO_INTERFACE',
  /** Capturing needs root or CAP_NET_RAW. */
  CAPTURE_PERMISSION: 'TAPLINE_ERR_CAPTURE_PERMISSION',
  /** libpcap refused the BPF filter (its message is kept). */
  CAPTURE_FILTER: 'TAPLINE_ERR_CAPTURE_FILTER',
  /** Any other failure to open or read a live capture (interface down, addon not built). */
  CAPTURE_LIVE: 'TAPLINE_ERR_CAPTURE_LIVE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class TaplineError extends Error {
  readonly code: ErrorCode;
  /** Extra structured facts (file, offset, plugin, JSON path...) for logs and tests. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TaplineError';
    this.code = code;
    this.details = details;
  }
}

export function isTaplineError(e: unknown, code?: ErrorCode): e is TaplineError {
  return e instanceof TaplineError && (code === undefined || e.code === code);
}
