/**
 * The forwarder's options (options.schema.json) resolved into what the agent runs with: keys loaded, addresses
 * parsed, cross-field rules checked. Throws a RangeError naming the option that is wrong.
 */
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AllowList } from '../../core/net/allow-list';
import type { TfwdKey } from '../../core/net/tfwd';
import { keysFromFile, keysFromObject } from '../../core/net/tfwd-keys';

export type ForwardMode = 'mirroring' | 'atedge' | 'endpoint';

export interface RecorderOptions {
  host: string;
  port: number;
  controlPort: number;
  feedPort: number;
}

export interface DeploymentOptions {
  id: number;
  keys?: Record<string, string>;
  keyFile?: string;
  recorders: RecorderOptions[];
  static: string[];
  sip: boolean;
}

export interface ForwarderOptions {
  mode: ForwardMode;
  interfaces: string[];
  filter: string;
  interestFilter: boolean;
  snaplen: number;
  bufferBytes: number;
  promiscuous: boolean;
  localAddresses?: string[];
  sensorId: number;
  turnPorts: number[];
  mtu: number;
  replaySeconds: number;
  replayMaxBytes: number;
  heartbeatMs: number;
  deadAfterMs: number;
  reconnectMs: number;
  queueDatagrams: number;
  sip: { sniff: boolean; ports: number[]; hep: { enabled: boolean; host: string; port: number; allow: string[] } };
  deployments: DeploymentOptions[];
  ops: { enabled: boolean; host: string; port: number; allow: string[]; tokenFile?: string };
}

export interface ResolvedDeployment {
  id: number;
  /** Signs what the agent sends (the highest key id: rotation adds a new id). */
  key: TfwdKey;
  recorders: RecorderOptions[];
  /** "ip" (any port) or "ip:port" ("[v6]:port"). */
  staticAddresses: string[];
  staticEndpoints: string[];
  sip: boolean;
}

export interface ResolvedForwarder extends Omit<ForwarderOptions, 'deployments' | 'localAddresses'> {
  deployments: ResolvedDeployment[];
  /** Endpoint mode: the host's own addresses; undefined in the other modes. */
  local?: ReadonlySet<string>;
  hepAllow: AllowList;
  configDir: string;
}

/** "ip" or "ip:port" / "[v6]:port" → what it names. */
export function parseStatic(text: string): { ip: string; port?: number } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const v4 = /^([^:]+):(\d+)$/.exec(text);
  const m = v6 ?? v4;
  const ip = m !== null ? m[1]! : text;
  const port = m !== null ? Number(m[2]) : undefined;
  if (isIP(ip) === 0) throw new RangeError(`"${text}" is not an address ("ip" or "ip:port")`);
  if (port !== undefined && !(port > 0 && port < 65536)) throw new RangeError(`"${text}" has no valid port`);
  return port === undefined ? { ip } : { ip, port };
}

function interfaceAddresses(names: readonly string[]): string[] {
  const all = os.networkInterfaces();
  const out: string[] = [];
  for (const n of names) for (const a of all[n] ?? []) out.push(a.address);
  return out;
}

export function resolveForwarder(o: Readonly<ForwarderOptions>, configDir: string): ResolvedForwarder {
  const ids = new Set<number>();
  const deployments = o.deployments.map((d, i): ResolvedDeployment => {
    const where = `deployments[${i}]`;
    if (ids.has(d.id)) throw new RangeError(`${where}: deployment id ${d.id} is given twice`);
    ids.add(d.id);
    const keys: TfwdKey[] = [];
    if (d.keys !== undefined) keys.push(...keysFromObject(d.keys, `${where}.keys`));
    if (d.keyFile !== undefined) keys.push(...keysFromFile(path.resolve(configDir, d.keyFile)));
    if (keys.length === 0) throw new RangeError(`${where}: no TFWD key (keys or keyFile): the recorders refuse unsigned forwarders`);
    const key = keys.reduce((a, b) => (b.id > a.id ? b : a));
    const staticAddresses: string[] = [];
    const staticEndpoints: string[] = [];
    for (const s of d.static) {
      let p: { ip: string; port?: number };
      try {
        p = parseStatic(s);
      } catch (e) {
        throw new RangeError(`${where}.static: ${(e as Error).message}`);
      }
      if (p.port === undefined) staticAddresses.push(p.ip);
      else staticEndpoints.push(p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`);
    }
    return { id: d.id, key, recorders: d.recorders, staticAddresses, staticEndpoints, sip: d.sip };
  });
  let hepAllow: AllowList;
  try {
    hepAllow = AllowList.parse(o.sip.hep.allow, { where: 'sip.hep.allow' });
  } catch (e) {
    throw new RangeError((e as Error).message);
  }
  const { deployments: _d, localAddresses, ...rest } = o;
  const r: ResolvedForwarder = { ...rest, deployments, hepAllow, configDir };
  if (o.mode === 'endpoint') {
    const local = localAddresses ?? interfaceAddresses(o.interfaces);
    for (const a of local) if (isIP(a) === 0) throw new RangeError(`localAddresses: "${a}" is not an address`);
    if (local.length === 0) throw new RangeError(`endpoint mode needs this PC's addresses: none found on ${o.interfaces.join(', ')}; set localAddresses`);
    r.local = new Set(local);
  }
  return r;
}
