/**
 * What the feed sources (source-hep, source-sipfeed) share: their dependencies, waiting for the stop signal, and
 * TLS options as a config names them (files), read when the listener starts — never when the plugin registers —
 * with a named error for a missing or unreadable file.
 */
import * as fs from 'node:fs';
import type { Logger } from '../contract';
import type { Metrics } from '../contracts/metrics';
import { ErrorCodes, TaplineError } from '../errors';
import type { StreamServerOptions, StreamTlsOptions } from './stream-server';

export interface FeedSourceDeps {
  metrics: Metrics;
  log: Logger;
  /** Plugin name: the `source` label of metrics. */
  name?: string;
}

/**
 * Closes of feed connections by reason, labelled by source (the service registers it too, so it is documented
 * and present before the first close). Idle and half-open peers lose nothing, so they are not drops; this is
 * where they show.
 */
export const FEED_CONNECTIONS_CLOSED = {
  name: 'tapline_feed_connections_closed_total',
  type: 'counter',
  help: 'Connections of connection-based sources that ended, by reason (peer-closed, idle-timeout, message-timeout, message-too-large, parse-error, auth-failed, write-backlog, socket-error, stopped)',
  labels: ['source', 'reason'],
} as const;

/** A StreamServer's onClosed counted into FEED_CONNECTIONS_CLOSED for `source`. */
export function countCloses(metrics: Metrics, source: string): (reason: string) => void {
  const c = metrics.counter(FEED_CONNECTIONS_CLOSED.name, FEED_CONNECTIONS_CLOSED.help, FEED_CONNECTIONS_CLOSED.labels);
  return (reason) => c.inc({ source, reason });
}

/** Resolves when the signal aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** The options both feed sources take (their schemas name them alike): limits, timeouts, the allow-list, HEP's key. */
export interface FeedListenerOptions {
  /** Address the listeners bind ('0.0.0.0', '::' for dual stack, '127.0.0.1'). */
  host: string;
  /** Peers allowed to connect or send (CIDR prefixes). */
  allow: string[];
  /** Required HEP auth key (chunk 14) for what arrives as HEP; unset: not checked. */
  authKey?: string;
  maxConnections: number;
  maxConnectionsPerIp: number;
  idleTimeoutSec: number;
  messageTimeoutSec: number;
  /** Largest message or record (HEPv3 records end at 65535 bytes). */
  maxMessageBytes: number;
  /** Largest payload a compressed HEP chunk (16) may inflate to. */
  maxDecompressedBytes: number;
  keepAliveSec: number;
  /** Hand RTP and raw RTCP carried in HEP to the media path. */
  media: boolean;
}

/** The StreamServer limits those options set. */
export function streamLimits(o: FeedListenerOptions): Pick<StreamServerOptions, 'host' | 'maxConnections' | 'maxConnectionsPerIp' | 'idleTimeoutMs' | 'messageTimeoutMs' | 'maxMessageBytes' | 'keepAliveMs'> {
  return {
    host: o.host,
    maxConnections: o.maxConnections,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    idleTimeoutMs: o.idleTimeoutSec * 1000,
    messageTimeoutMs: o.messageTimeoutSec * 1000,
    maxMessageBytes: o.maxMessageBytes,
    keepAliveMs: o.keepAliveSec * 1000,
  };
}

export interface FeedTlsFiles {
  /** PEM files; relative paths are resolved by the plugin against the config's folder. */
  cert?: string;
  key?: string;
  /** CA certificate(s) that issue the feeders' client certificates. */
  ca?: string;
  /** Mutual TLS: refuse feeders without a certificate from `ca`. */
  requireClientCert: boolean;
}

function read(file: string | undefined, what: string, owner: string): Buffer {
  if (file === undefined || file === '') throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${owner}: TLS is enabled but no ${what} file is configured`);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${owner}: cannot read the TLS ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file }, e);
  }
}

export function loadFeedTls(files: FeedTlsFiles, owner: string): StreamTlsOptions {
  const out: StreamTlsOptions = { cert: read(files.cert, 'certificate', owner), key: read(files.key, 'key', owner), requestClientCert: files.requireClientCert };
  if (files.requireClientCert || (files.ca !== undefined && files.ca !== '')) out.ca = read(files.ca, 'CA', owner);
  return out;
}
