/**
 * The plugin's options (options.schema.json) and their resolution into what the source runs with: keys loaded,
 * allow-lists parsed, cross-field rules checked (the schema cannot say "keys unless authentication is off").
 */
import * as path from 'node:path';
import { tfwdKeyring, type TfwdKey, type TfwdKeyring } from '../../core/net/tfwd';
import { AllowList } from '../../core/net/allow-list';
import { keysFromFile, keysFromObject } from '../../core/net/tfwd-keys';

export type ListenerKind = 'tfwd' | 'vxlan' | 'tzsp';

export interface ListenerOptions {
  enabled: boolean;
  host: string;
  port: number;
  allow: string[];
}

export interface SourceForwardedOptions {
  tfwd: ListenerOptions & { authenticate: boolean };
  vxlan: ListenerOptions & { vnis?: number[] };
  tzsp: ListenerOptions;
  control: ListenerOptions & { heartbeatMs: number; idleMs: number; maxConnections: number };
  keys?: Record<string, string>;
  keyFile?: string;
  recvBufferBytes: number;
  sensors?: number[];
  deployments?: number[];
  maxSensors: number;
  reorderWindow: number;
  statsIntervalMs: number;
}

export interface ListenerConfig {
  kind: ListenerKind;
  host: string;
  port: number;
  allow: AllowList;
}

/** What ForwardedSource runs with. */
export interface ForwardedSourceConfig {
  /** Enabled listeners only. */
  listeners: ListenerConfig[];
  keys: TfwdKeyring;
  /** false: TFWD tags are not checked (the TFWD allow-list is then the only restriction). */
  authenticate: boolean;
  vnis?: ReadonlySet<number>;
  /** SO_RCVBUF to ask for, bytes. */
  recvBufferBytes: number;
  sensors?: ReadonlySet<number>;
  deployments?: ReadonlySet<number>;
  maxSensors: number;
  reorderWindow: number;
  statsIntervalMs: number;
  /** The forwarder control listener, when enabled. */
  control?: { host: string; port: number; allow: AllowList; heartbeatMs: number; idleMs: number; maxConnections: number };
}

/** Resolves validated options; throws a RangeError saying which option is wrong. */
export function resolveOptions(o: Readonly<SourceForwardedOptions>, configDir: string): ForwardedSourceConfig {
  const listeners: ListenerConfig[] = [];
  for (const kind of ['tfwd', 'vxlan', 'tzsp'] as const) {
    const l = o[kind];
    if (!l.enabled) continue;
    let allow: AllowList;
    try {
      allow = AllowList.parse(l.allow, { where: 'allow' });
    } catch (e) {
      throw new RangeError(`${kind}.${(e as Error).message}`);
    }
    listeners.push({ kind, host: l.host, port: l.port, allow });
  }
  if (listeners.length === 0) throw new RangeError('no listener is enabled: enable at least one of tfwd, vxlan, tzsp');
  const keys: TfwdKey[] = [];
  if (o.keys !== undefined) keys.push(...keysFromObject(o.keys, 'keys'));
  if (o.keyFile !== undefined) keys.push(...keysFromFile(path.resolve(configDir, o.keyFile)));
  const ids = new Set<number>();
  for (const k of keys) {
    if (ids.has(k.id)) throw new RangeError(`key id ${k.id} is given twice (keys and keyFile)`);
    ids.add(k.id);
  }
  if (o.tfwd.enabled && o.tfwd.authenticate && keys.length === 0) {
    throw new RangeError('tfwd needs keys (or keyFile) to authenticate forwarders; to run without, set tfwd.authenticate to false and restrict tfwd.allow');
  }
  const cfg: ForwardedSourceConfig = {
    listeners,
    keys: tfwdKeyring(keys),
    authenticate: o.tfwd.authenticate,
    recvBufferBytes: o.recvBufferBytes,
    maxSensors: o.maxSensors,
    reorderWindow: o.reorderWindow,
    statsIntervalMs: o.statsIntervalMs,
  };
  if (o.vxlan.vnis !== undefined && o.vxlan.vnis.length > 0) cfg.vnis = new Set(o.vxlan.vnis);
  if (o.sensors !== undefined && o.sensors.length > 0) cfg.sensors = new Set(o.sensors);
  if (o.deployments !== undefined && o.deployments.length > 0) cfg.deployments = new Set(o.deployments);
  if (o.control.enabled) {
    if (keys.length === 0) throw new RangeError('control needs keys (or keyFile): forwarders prove they hold a TFWD key before they are told anything');
    let allow: AllowList;
    try {
      allow = AllowList.parse(o.control.allow, { where: 'allow' });
    } catch (e) {
      throw new RangeError(`control.${(e as Error).message}`);
    }
    cfg.control = { host: o.control.host, port: o.control.port, allow, heartbeatMs: o.control.heartbeatMs, idleMs: o.control.idleMs, maxConnections: o.control.maxConnections };
  }
  return cfg;
}
