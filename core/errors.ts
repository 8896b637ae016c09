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
