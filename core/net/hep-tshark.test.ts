/**
 * Cross-checks encodeHep3/encodeHepV2 and decodeHep against tshark: HEP datagrams are written into a pcap and a
 * Wireshark HEP dissector decodes them field by field. Wireshark 4.0 (Debian 12) has no built-in HEP dissector,
 * so this runs when one is installed (sipcapture's hep-wireshark hep.lua in a Wireshark plugins folder) or named by
 * TAPLINE_HEP_LUA=/path/to/hep.lua, and skips saying so otherwise. Kamailio is the cross-check that always runs
 * here (hep-kamailio.test.ts).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTshark, tsharkFields } from '../../test/tshark';
import { buildPcap } from './capture-writer';
import { decodeHep, type HepPacket } from './hep';
import { encodeHep3, encodeHepV2, type HepEncodeInput } from './hep-encode';
import { ethernet, ipv4, udp } from './packet-builder';
import { LinkType } from './types';

/** tshark arguments that give it a HEP dissector, or why there is none. */
function hepDissector(): { args: string[] } | { why: string } {
  if (!haveTshark()) return { why: 'tshark not installed' };
  const lua = process.env['TAPLINE_HEP_LUA'];
  if (lua !== undefined && lua !== '') {
    if (!fs.existsSync(lua)) return { why: `TAPLINE_HEP_LUA=${lua} does not exist` };
    return { args: ['-X', `lua_script:${lua}`] };
  }
  const fields = spawnSync('tshark', ['-G', 'fields'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (fields.stdout.includes('\thep3.source_port\t')) return { args: [] };
  return { why: 'tshark has no HEP dissector (none is built into Wireshark 4.0; install sipcapture/hep-wireshark hep.lua or set TAPLINE_HEP_LUA)' };
}

const SIP = 'REGISTER sip:example.com SIP/2.0\r\nFrom: "Zoë Ünal" <sip:zoe@example.com>;tag=9\r\nCall-ID: ts-1\r\nContent-Length: 0\r\n\r\n';

const FIELDS3 = [
  'hep3.source_ipv4_address',
  'hep3.destination_ipv4_address',
  'hep3.source_ipv6_address',
  'hep3.destination_ipv6_address',
  'hep3.source_port',
  'hep3.destination_port',
  'hep3.timestamp_unix',
  'hep3.timestamp_microsec',
  'hep3.capture_node_id',
  'hep3.auth_key',
  'hep3.node_name',
  'hep3.correlation_id',
  'hep3.vlan_id',
];
const FIELDS2 = ['hep2.source_ip_address', 'hep2.destination_ip_address', 'hep2.source_port', 'hep2.destination_port', 'hep2.timestamp_unix', 'hep2.timestamp_microsec', 'hep2.capture_node_id'];

describe('HEP codec against tshark with a HEP dissector', function () {
  this.timeout(60_000);
  const dissector = hepDissector();
  let dir: string | undefined;
  before(function () {
    if ('why' in dissector) {
      console.warn(`    [tapline] ${dissector.why}: tshark HEP cross-check skipped`);
      return this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-hep-tshark-'));
  });
  after(() => dir !== undefined && fs.rmSync(dir, { recursive: true, force: true }));

  function pcapOf(datagrams: Buffer[]): string {
    const file = path.join(dir as string, `hep-${Date.now()}.pcap`);
    const frames = datagrams.map((d, i) => ({ ts: 1_767_225_600_000_000 + i * 1000, data: ethernet(0x0800, ipv4(17, udp(40000 + i, 9060, d), { src: '10.9.0.1', dst: '10.9.0.2' })) }));
    fs.writeFileSync(file, buildPcap(frames, { linkType: LinkType.ETHERNET }));
    return file;
  }

  function decoded(b: Buffer): HepPacket {
    const r = decodeHep(b);
    if (!r.ok) assert.fail(`${r.reason}: ${r.detail}`);
    return r.packet;
  }

  // ASCII node names: the Lua dissector garbles non-ASCII text fields (its STRING fields are not UTF-8 aware).
  it('HEPv3: tshark reads the addresses, ports, time, capture id, key, node name, correlation id and VLAN we wrote and read', () => {
    const inputs: HepEncodeInput[] = [
      { src: '192.0.2.10', sport: 5060, dst: '198.51.100.7', dport: 5062, ts: 1_767_225_600_123_456, captureId: 2001, authKey: 'key-1', nodeName: 'edge-1', correlationId: 'c-1', vlan: 42, payload: SIP },
      { ipProto: 6, src: '2001:db8::10', sport: 5061, dst: '2001:db8:0:1::20', dport: 5063, ts: 1_767_225_601_000_001, captureId: 7, authKey: 'k2', nodeName: 'node-2', correlationId: 'c-2', vlan: 4094, payload: SIP },
    ];
    const records = inputs.map((i) => encodeHep3(i));
    const rows = tsharkFields(pcapOf(records), FIELDS3, (dissector as { args: string[] }).args);
    assert.equal(rows.length, records.length);
    for (const [i, rec] of records.entries()) {
      const p = decoded(rec);
      const v6 = p.ipFamily === 6;
      const canon = (ip: string): string => (ip === '' ? '' : v6 ? ip.toLowerCase() : ip);
      const row = rows[i]!;
      assert.deepEqual(
        [canon(row[v6 ? 2 : 0]!), canon(row[v6 ? 3 : 1]!), ...row.slice(4).map(String)],
        [p.src, p.dst, String(p.sport), String(p.dport), String(p.tsSec), String(p.tsUsec), String(p.captureId), p.authKey?.toString('utf8'), p.nodeName, p.correlationId, String(p.vlan)],
        `record ${i}`,
      );
    }
  });

  it('HEPv2: tshark reads the little-endian time header as we write and read it', () => {
    const rec = encodeHepV2({ src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5080, ts: 1_767_225_600_654_321, captureId: 777, payload: SIP });
    const [row] = tsharkFields(pcapOf([rec]), FIELDS2, (dissector as { args: string[] }).args);
    const p = decoded(rec);
    assert.deepEqual(row, [p.src, p.dst, String(p.sport), String(p.dport), String(p.tsSec), String(p.tsUsec), String(p.captureId)]);
  });
});
