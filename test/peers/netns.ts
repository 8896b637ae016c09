/**
 * Several hosts on one machine for the peer tests: one network namespace per host, each with an `eth0` joined by a
 * veth pair to a bridge in the lab's own switch namespace, addresses 198.18.0.0/24 (RFC 2544's benchmarking range:
 * nothing outside the lab uses it, and the lab has no link to the machine's own namespace, so no packet leaves).
 * And a cloud-style traffic mirror: every packet in and out of one host's eth0, copied into VXLAN to another host.
 *
 * Found by trying on this machine's kernel (6.18, Firecracker): network namespaces, veth, bridge, VXLAN, the clsact
 * qdisc, the u32 and bpf classifiers and the mirred action are built in; the flower and matchall classifiers and
 * the gact action ("action pass") are not, and there is no modprobe. So the mirror is u32 only:
 *  - `tc qdisc add dev eth0 clsact`, then on egress and ingress
 *  - u32 filters with no action for the traffic exchanged with the collector (IP to/from its address, ARP for
 *    it): a matching filter without actions ends classification with TC_ACT_OK, so the packet passes unmirrored.
 *    Without them the VXLAN packets leaving eth0 would be mirrored again (a loop), and the collector's ICMP and
 *    ARP would be copied to it.
 *  - `u32 match u32 0 0 action mirred egress mirror dev mirN` (u32's match-all) for everything else.
 *  - mirN is `vxlan id VNI remote COLLECTOR local HOST dstport PORT dev eth0 nolearning`: the copies are whole
 *    Ethernet frames in VXLAN in UDP to the collector (source port chosen by the kernel per flow).
 * IPv6 is disabled in the lab's namespaces: otherwise the hosts' and the VXLAN device's own router solicitations
 * and MLD reports are mirrored too.
 *
 * More networks (createNetLab's `networks` option, or lab.addNetwork): each one more bridge in the switch namespace,
 * subnet 198.19.k.0/24 (k = 0, 1, … in the order they are made; still RFC 2544's 198.18.0.0/15), its hosts given
 * their next interface (eth1, eth2, …) with address .(10 + i) there too: a host keeps its number on every network.
 * Nothing routes between the networks (no default route, ip_forward off in a new namespace): a host on two of them,
 * like an Edge Server with a public and a private NIC, bridges them at application level only. A host can be left
 * off the LAN (`lan` option): its eth0 is then on its first other network, and `addr` is its address there.
 *
 * Names: namespaces are `tpl-<pid>-<n>-<host>` (pid of the test process, n counts its labs), so a second run
 * after a crash can delete what a dead process left (removeStaleLabs) without touching a live run's labs. Interface
 * names live inside the namespaces only (eth0, mir0, p1…), so they never collide with the machine's.
 *
 * Programs run on a host with `ip netns exec NS prog …` (startProc's `netns` option, or lab.netns(host)): e.g.
 * baresip with `sip_listen ADDR:PORT` and `net_interface ADDR`, kamailio with `listen=udp:ADDR:PORT`.
 */
import { spawnSync } from 'node:child_process';
import { onPath } from './proc';

export const LAB_PREFIX = 'tpl-';
const SUBNET = '198.18.0';
/** More networks are 198.19.k.0/24: the other half of RFC 2544's 198.18.0.0/15. */
const EXTRA_SUBNET = '198.19';
const HOST_OFFSET = 10;
/** The name of the lab's first network (198.18.0.0/24, on every host's eth0 unless `lan` says otherwise). */
export const LAN = 'lan';
const NAME_RE = /^[a-z][a-z0-9]{0,11}$/;

/** One interface of a host: on which network, its name inside the host's namespace, its IPv4 address (/24). */
export interface LabInterface {
  readonly network: string;
  readonly iface: string;
  readonly addr: string;
}

export interface LabHost {
  readonly name: string;
  /** The network namespace: `ip netns exec <ns> …`, startProc(…, { netns }). */
  readonly ns: string;
  /** eth0's IPv4 address (/24): on the LAN unless the host was left off it. */
  readonly addr: string;
  /** Every interface, eth0 first; lab.addNetwork() appends. */
  readonly ifaces: readonly LabInterface[];
}

export interface LabNetwork {
  readonly name: string;
  /** e.g. '198.19.0.0/24'. */
  readonly subnet: string;
  /** Its bridge in the lab's switch namespace. */
  readonly bridge: string;
  /** Its hosts, in the order given, with their interface on it. */
  readonly members: ReadonlyArray<{ readonly host: string; readonly iface: string; readonly addr: string }>;
  /** A member's address on this network; throws for a host not on it. */
  addr(host: string): string;
}

export interface NetworkSpec {
  /** Lower-case letters and digits, up to 12; not 'lan'. */
  name: string;
  hosts: readonly string[];
}

export interface NetLabOptions {
  /** The hosts on the LAN (198.18.0.0/24); all by default. Each host left off must be on one of `networks`. */
  lan?: readonly string[];
  /** Further networks, made in this order after the LAN (198.19.0.0/24, 198.19.1.0/24, …). */
  networks?: readonly NetworkSpec[];
}

export interface VxlanMirror {
  /** The host whose eth0 is mirrored, and the collector host the VXLAN packets go to. */
  readonly from: string;
  readonly to: string;
  readonly vni: number;
  /** UDP destination port of the VXLAN packets (4789 by default). */
  readonly port: number;
  /** The VXLAN device in the mirrored host's namespace. */
  readonly device: string;
}

export interface NetLab {
  readonly id: string;
  readonly hosts: readonly LabHost[];
  /** The LAN first (when any host is on it), then the others in the order they were made. */
  readonly networks: readonly LabNetwork[];
  host(name: string): LabHost;
  network(name: string): LabNetwork;
  /** A host's address on a network (the LAN by default). */
  addr(host: string, network?: string): string;
  /**
   * One more network: a bridge of its own, each named host given its next interface (eth1, …) on it, subnet
   * 198.19.k.0/24 for the k-th network added. Returns it with the hosts' addresses.
   */
  addNetwork(name: string, hostNames: readonly string[]): LabNetwork;
  /** Runs a program on a host and returns its stdout; throws with its stderr when it fails. */
  run(host: string, cmd: string, args: readonly string[]): string;
  /** Mirrors every frame in and out of `from`'s eth0 to `to` (its address on that network) in VXLAN (see the header). */
  mirror(o: { from: string; to: string; vni?: number; port?: number }): VxlanMirror;
  /** Kills what still runs in the lab's namespaces and deletes them (and with them every link). Idempotent. */
  destroy(): void;
}

function sh(cmd: string, args: readonly string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr || r.error?.message || '' };
}

function must(cmd: string, args: readonly string[]): string {
  const r = sh(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.err.trim()}`);
  return r.out;
}

let availability: string | null | undefined;
/** Why labs cannot be built here (no iproute2, not root, no namespace support), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (availability !== undefined) return availability ?? undefined;
  const why = ((): string | undefined => {
    const missing = ['ip', 'tc'].filter((c) => !onPath(c));
    if (missing.length > 0) return `not installed: ${missing.join(', ')} (Debian package iproute2)`;
    if (process.getuid?.() !== 0) return 'network namespaces need root';
    const probe = `${LAB_PREFIX}${process.pid}-probe`;
    const r = sh('ip', ['netns', 'add', probe]);
    if (!r.ok) return `cannot create a network namespace: ${r.err.trim()}`;
    const v = sh('ip', ['-n', probe, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'dstport', '4789', 'local', '198.18.0.1']);
    const t = sh('tc', ['-n', probe, 'qdisc', 'add', 'dev', 'lo', 'clsact']);
    sh('ip', ['netns', 'del', probe]);
    if (!v.ok) return `no VXLAN support: ${v.err.trim()}`;
    if (!t.ok) return `no clsact qdisc: ${t.err.trim()}`;
    return undefined;
  })();
  availability = why ?? null;
  return why;
}

function netnsList(): string[] {
  // "name (id: 3)" or just "name".
  return sh('ip', ['netns', 'list'])
    .out.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills the processes still inside a namespace of ours (peers a test left running), then deletes it. */
function deleteNs(ns: string): void {
  for (const pid of sh('ip', ['netns', 'pids', ns]).out.split('\n').map(Number).filter((p) => p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  sh('ip', ['netns', 'del', ns]);
}

/**
 * Deletes the namespaces of labs whose test process is gone (a run that crashed or was killed before its cleanup).
 * Returns their names. Labs of live processes, and namespaces not made by this file, are left alone.
 */
export function removeStaleLabs(): string[] {
  const re = new RegExp(`^${LAB_PREFIX}(\\d+)-`);
  const stale = netnsList().filter((ns) => {
    const m = re.exec(ns);
    return m !== null && !alive(Number(m[1]));
  });
  for (const ns of stale) deleteNs(ns);
  return stale;
}

const openLabs = new Set<NetLab>();
let exitHookInstalled = false;
let labCount = 0;

/**
 * Builds a lab: one namespace per host name (lower-case letters and digits, up to 12), all on one bridge, host i
 * at 198.18.0.(10 + i); with `options`, hosts left off that LAN and further networks (see the header). Stale labs
 * of dead processes are removed first. Call destroy() when done (an exit hook does it too if the test process ends
 * first).
 */
export function createNetLab(hostNames: readonly string[], options: NetLabOptions = {}): NetLab {
  const why = netnsUnavailable();
  if (why !== undefined) throw new Error(`createNetLab: ${why}`);
  if (hostNames.length < 1 || hostNames.length > 200) throw new Error(`createNetLab: 1..200 hosts, got ${hostNames.length}`);
  for (const n of hostNames) if (!NAME_RE.test(n)) throw new Error(`createNetLab: bad host name ${JSON.stringify(n)}`);
  if (new Set(hostNames).size !== hostNames.length) throw new Error('createNetLab: host names must differ');
  const onLan = new Set(options.lan ?? hostNames);
  const specs = options.networks ?? [];
  for (const h of onLan) if (!hostNames.includes(h)) throw new Error(`createNetLab: lan names an unknown host ${JSON.stringify(h)}`);
  for (const [k, spec] of specs.entries()) {
    checkNetwork('createNetLab', spec.name, spec.hosts, hostNames);
    if (specs.findIndex((x) => x.name === spec.name) !== k) throw new Error(`createNetLab: two networks named ${spec.name}`);
  }
  // eth0 of a host off the LAN is on its first network: its address is known before anything is made.
  const firstAddr = (name: string, i: number): string => {
    if (onLan.has(name)) return `${SUBNET}.${HOST_OFFSET + i}`;
    const k = specs.findIndex((x) => x.hosts.includes(name));
    if (k < 0) throw new Error(`createNetLab: host ${name} is on no network`);
    return `${EXTRA_SUBNET}.${k}.${HOST_OFFSET + i}`;
  };
  const addrs = hostNames.map(firstAddr);
  removeStaleLabs();
  const id = `${LAB_PREFIX}${process.pid}-${labCount++}`;
  const sw = `${id}-sw`;
  const ifaces = hostNames.map((): LabInterface[] => []);
  const hosts: LabHost[] = hostNames.map((name, i) => ({ name, ns: `${id}-${name}`, addr: addrs[i] as string, ifaces: ifaces[i] as LabInterface[] }));
  const networks: LabNetwork[] = [];
  const created: string[] = [];
  const mirrors: VxlanMirror[] = [];
  let destroyed = false;

  /** A bridge in the switch namespace; no multicast snooping: it would send its own IGMP reports (224.0.0.106) to every host. */
  const bridge = (name: string): void => {
    must('ip', ['-n', sw, 'link', 'add', name, 'type', 'bridge', 'mcast_snooping', '0']);
    must('ip', ['-n', sw, 'link', 'set', name, 'up']);
  };
  const makeNetwork = (name: string, prefix: string, br: string, vethPrefix: string, members: readonly string[]): LabNetwork => {
    const list: Array<{ host: string; iface: string; addr: string }> = [];
    const net: LabNetwork = {
      name,
      subnet: `${prefix}.0/24`,
      bridge: br,
      members: list,
      addr(host) {
        const m = list.find((x) => x.host === host);
        if (m === undefined) throw new Error(`lab ${id}: host ${host} is not on network ${name}`);
        return m.addr;
      },
    };
    networks.push(net);
    for (const hn of members) {
      const i = hostNames.indexOf(hn);
      const h = hosts[i] as LabHost;
      const own = ifaces[i] as LabInterface[];
      const iface = `eth${own.length}`;
      const addr = `${prefix}.${HOST_OFFSET + i}`;
      const veth = `${vethPrefix}${i}`;
      // Both ends made in place: the peer is created directly in the host's namespace, as its next ethN.
      must('ip', ['-n', sw, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', iface, 'netns', h.ns]);
      must('ip', ['-n', sw, 'link', 'set', veth, 'master', br, 'up']);
      must('ip', ['-n', h.ns, 'addr', 'add', `${addr}/24`, 'dev', iface]);
      must('ip', ['-n', h.ns, 'link', 'set', iface, 'up']);
      own.push({ network: name, iface, addr });
      list.push({ host: hn, iface, addr });
    }
    return net;
  };

  const lab: NetLab = {
    id,
    hosts,
    networks,
    host(name) {
      const h = hosts.find((x) => x.name === name);
      if (h === undefined) throw new Error(`lab ${id}: no host ${name}`);
      return h;
    },
    network(name) {
      const n = networks.find((x) => x.name === name);
      if (n === undefined) throw new Error(`lab ${id}: no network ${name}`);
      return n;
    },
    run(host, cmd, args) {
      return must('ip', ['netns', 'exec', lab.host(host).ns, cmd, ...args]);
    },
    addr(host, network = LAN) {
      lab.host(host);
      return lab.network(network).addr(host);
    },
    addNetwork(name, members) {
      if (destroyed) throw new Error(`lab ${id}: destroyed`);
      checkNetwork('addNetwork', name, members, hostNames);
      if (networks.some((n) => n.name === name)) throw new Error(`addNetwork: lab ${id} has a network ${name} already`);
      // The LAN is networks[0]; the k-th further one is 198.19.k.0/24 on bridge br(k+1).
      const k = networks.length - 1;
      if (k > 255) throw new Error('addNetwork: at most 256 further networks');
      bridge(`br${k + 1}`);
      return makeNetwork(name, `${EXTRA_SUBNET}.${k}`, `br${k + 1}`, `n${k + 1}p`, members);
    },
    mirror(o) {
      const from = lab.host(o.from);
      const to = lab.host(o.to);
      if (from === to) throw new Error('mirror: a host cannot mirror to itself');
      // The copies leave by eth0: to the collector's address on eth0's network.
      const net = from.ifaces[0]?.network ?? LAN;
      const toAddr = to.ifaces.find((x) => x.network === net)?.addr;
      if (toAddr === undefined) throw new Error(`mirror: ${to.name} is not on ${from.name}'s eth0 network (${net})`);
      // The match-all filter ends classification (mirred's verdict), so a second one on eth0 would never run.
      if (mirrors.some((m) => m.from === from.name)) throw new Error(`mirror: ${from.name} is mirrored already (one mirror per host)`);
      const vni = o.vni ?? 1000 + mirrors.length;
      const port = o.port ?? 4789;
      if (!(Number.isInteger(vni) && vni > 0 && vni < 1 << 24)) throw new Error(`mirror: bad VNI ${vni}`);
      const device = `mir${mirrors.length}`;
      const ns = from.ns;
      must('ip', ['-n', ns, 'link', 'add', device, 'type', 'vxlan', 'id', String(vni), 'remote', toAddr, 'local', from.addr, 'dstport', String(port), 'dev', 'eth0', 'nolearning']);
      // The device sends nothing of its own (IGMP joins, ARP): only the copies go through it.
      must('ip', ['-n', ns, 'link', 'set', device, 'multicast', 'off', 'arp', 'off', 'up']);
      must('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', 'clsact']);
      const hex = toAddr
        .split('.')
        .map((b) => Number(b).toString(16).padStart(2, '0'))
        .join('');
      const pref = 10;
      const filter = (dir: 'egress' | 'ingress', p: number, spec: string[]): void => {
        must('tc', ['-n', ns, 'filter', 'add', 'dev', 'eth0', dir, 'pref', String(p), ...spec]);
      };
      // No action: a match ends classification (TC_ACT_OK) and the frame passes unmirrored.
      filter('egress', pref, ['protocol', 'ip', 'u32', 'match', 'ip', 'dst', `${toAddr}/32`, 'flowid', '1:1']);
      filter('ingress', pref, ['protocol', 'ip', 'u32', 'match', 'ip', 'src', `${toAddr}/32`, 'flowid', '1:1']);
      // ARP: target protocol address at offset 24, sender's at 14 (u32 keys are 32-bit aligned: two u16 there).
      filter('egress', pref + 1, ['protocol', 'arp', 'u32', 'match', 'u32', `0x${hex}`, '0xffffffff', 'at', '24', 'flowid', '1:1']);
      filter('ingress', pref + 1, ['protocol', 'arp', 'u32', 'match', 'u16', `0x${hex.slice(0, 4)}`, '0xffff', 'at', '14', 'match', 'u16', `0x${hex.slice(4)}`, '0xffff', 'at', '16', 'flowid', '1:1']);
      for (const dir of ['egress', 'ingress'] as const) filter(dir, pref + 2, ['protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'mirror', 'dev', device]);
      const m: VxlanMirror = { from: from.name, to: to.name, vni, port, device };
      mirrors.push(m);
      return m;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const ns of [...created].reverse()) deleteNs(ns);
      openLabs.delete(lab);
    },
  };
  openLabs.add(lab);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const l of openLabs) l.destroy();
    });
  }

  try {
    const addNs = (ns: string): void => {
      must('ip', ['netns', 'add', ns]);
      created.push(ns);
      // Before any interface exists, so none of them gets IPv6.
      must('ip', ['netns', 'exec', ns, 'sh', '-c', 'for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; [ ! -e $f ] || echo 1 > $f; done']);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    };
    addNs(sw);
    bridge('br0');
    for (const h of hosts) addNs(h.ns);
    makeNetwork(LAN, SUBNET, 'br0', 'p', hostNames.filter((n) => onLan.has(n)));
    for (const spec of specs) lab.addNetwork(spec.name, spec.hosts);
  } catch (e) {
    lab.destroy();
    throw e;
  }
  return lab;
}

function checkNetwork(what: string, name: string, members: readonly string[], hostNames: readonly string[]): void {
  if (!NAME_RE.test(name) || name === LAN) throw new Error(`${what}: bad network name ${JSON.stringify(name)}`);
  if (members.length === 0) throw new Error(`${what}: network ${name} has no hosts`);
  for (const h of members) if (!hostNames.includes(h)) throw new Error(`${what}: network ${name} names an unknown host ${JSON.stringify(h)}`);
  if (new Set(members).size !== members.length) throw new Error(`${what}: network ${name} names a host twice`);
}
