/**
 * What the feed sources (source-hep, source-sipfeed) share: their dependencies, waiting for the stop signal, and
 * TLS options as a config names them (files), read when the listener starts — never when the plugin registers —
 * with a named error for a missing or unreadable file.
 */
import * as fs from 'node:fs';
import type { Logger } from '../contract';
import type { Metrics } from '../contracts/metrics';
import { ErrorCodes, TaplineError } from '../errors';
import type { StreamTlsOptions } from './stream-server';

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
