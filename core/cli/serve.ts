/**
 * `tapline serve`: the recorder as a long-running service over the live sources in the config. SIGTERM / SIGINT
 * finish and catalogue every active recording within service.stopTimeoutSec; SIGHUP re-reads users, the users file
 * and policy without dropping a call; the ops endpoint serves /metrics, /healthz and /readyz.
 */
import { loadConfigFile } from '../config/load';
import { prepareConfig } from '../plugins/loader';
import { ErrorCodes, TaplineError } from '../errors';
import { RecorderService } from '../service/recorder-service';
import { PromMetrics } from '../metrics';
import { createServiceLogger, type LogFormat } from '../log';
import { flushRateLimited } from '../log-rate-limit';
import { OpsServer } from '../service/ops-server';
import type { Logger } from '../contract';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ServeOptions {
  config?: string;
  logFormat?: LogFormat;
}

/** Lifecycle events as log lines: what an operator follows in the journal. */
function logEvents(service: RecorderService, log: Logger): void {
  const ev = service.events;
  ev.on('callStarted', (e) => log.info('call started', { callId: e.callId, from: e.call.from.uri, to: e.call.to.uri }));
  ev.on('callEnded', (e) => log.info('call ended', { callId: e.callId, disposition: e.call.disposition, endReason: e.call.endReason, durationSec: e.call.durationSec }));
  ev.on('callNotRecorded', (e) => log.debug('call not recorded', { callId: e.callId, reason: e.reason }));
  ev.on('recordingStarted', (e) => log.info('recording started', { id: e.id, callId: e.callId, audio: e.audio, joinedMidCall: e.joinedMidCall }));
  ev.on('recordingFinished', (m) => log.info('recording finished', { id: m.id, callId: m.call.callId, durationSec: m.audio?.durationSec, flags: m.flags }));
  ev.on('chatEnded', (e) => log.info('chat ended', { callId: e.callId, kept: e.transcript !== undefined, messages: e.transcript?.messages.length }));
}

export async function serveCommand(opts: ServeOptions): Promise<void> {
  const loaded = await loadConfigFile(opts.config);
  const prepared = await prepareConfig(loaded);
  const cfg = prepared.config;
  const log = createServiceLogger({
    level: cfg.log.level,
    format: opts.logFormat ?? cfg.log.format ?? 'json',
    ...(cfg.log.file !== null ? { destination: { file: path.resolve(prepared.dir, cfg.log.file) } } : {}),
  });
  const metrics = new PromMetrics({ defaultMetrics: true });
  const service = await RecorderService.create(prepared, { logger: log, metrics, logDroppedLines: () => log.droppedLines });
  if (service.kernel.sources.length === 0) {
    throw new TaplineError(ErrorCodes.USAGE, 'nothing to record from: enable a source plugin in the config (source-sipfeed, source-hep, source-forwarded, source-live)');
  }
  if (!service.live) log.warn('no live source is enabled: serve will stop when its capture files are read (use `record` for files)');
  logEvents(service, log);

  let ops: OpsServer | undefined;
  if (cfg.service.ops.enabled) {
    // It logs where it listens and how it is restricted.
    ops = await OpsServer.listen(cfg.service.ops, { metrics, readiness: () => service.readiness(), log: log.child({ component: 'ops' }) }, prepared.dir);
  }
  await service.start();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn(`${signal} again while stopping: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: finishing every active recording`, { recordingsInProgress: service.kernel.calls.recordingsInProgress });
    const res = await service.stop();
    log.info('stopped', { ms: res.ms, drained: res.drained });
    await ops?.close();
    flushRateLimited(log);
    await log.close();
    process.exitCode = res.drained ? 0 : 1;
  };
  const reload = async (): Promise<void> => {
    log.reopen(); // logrotate moved the file: write to a new one
    try {
      const next = await prepareConfig(await loadConfigFile(prepared.file ?? opts.config));
      await service.reload(next);
      const r = ops?.reload(next.config.service.ops, next.dir);
      if (r?.restartNeeded === true) log.warn('reload: service.ops host/port changed (restart to apply)');
    } catch (e) {
      log.error(`SIGHUP: the config was not reloaded (the running one is kept): ${(e as Error).message}`);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => void reload());
  // The users file is also edited by the review app (`tapline web` in another process): a change is a reload.
  const usersFile = (cfg as typeof cfg & { usersFile?: string }).usersFile;
  if (usersFile !== undefined) {
    const file = path.resolve(prepared.dir, usersFile);
    fs.watchFile(file, { interval: 1000, persistent: false }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs || stopping) return;
      log.info(`users file ${file} changed: reloading users and policy`);
      void reload();
    });
  }

  service.whenReady(30_000).then(
    () => log.info('ready', { sources: service.kernel.sources.map((s) => `${s.plugin} ${s.source.label}`) }),
    (e: Error) => log.error(e.message),
  );
  const reports = await service.whenSourcesEnd();
  if (!stopping) {
    // Every source ended by itself (capture files, or live sources that failed): stop as SIGTERM would.
    for (const r of reports) if (r.error !== undefined) log.error(`source ${r.plugin} (${r.label}) failed: ${r.error}`);
    await stop('end of input');
    if (reports.some((r) => r.error !== undefined)) process.exitCode = 1;
  }
}
