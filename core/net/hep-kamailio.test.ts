/**
 * Cross-checks the HEP codec against an independent implementation: Kamailio 5.6's sipcapture decodes what
 * encodeHep3 writes and prints each field it read ($hep(...)), and Kamailio's siptrace encodes HEPv3 and HEPv2
 * that decodeHep must read to the same addresses, ports, time and capture id Kamailio itself saw.
 * (tshark 4.0, the other candidate, has no HEP dissector: `-d udp.port==9060,hep` is refused as an unknown protocol.)
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { freePort, kamailioUnavailable, startKamailio, type Kamailio } from '../../test/peers/kamailio-raw';
import { decodeHep, type HepPacket } from './hep';
import { encodeHep3, type HepEncodeInput } from './hep-encode';

const SIP = 'OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\nFrom: "Jürgen Müller 日本" <sip:juergen@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: kx-1@example.com\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';

function udpSocket(): Promise<dgram.Socket> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

async function until(test: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('HEP codec against Kamailio (an independent encoder and decoder)', function () {
  this.timeout(30_000);
  let why: string | undefined;
  before(() => {
    why = kamailioUnavailable(['sipcapture', 'siptrace', 'db_text', 'xlog', 'pv']);
    if (why !== undefined) console.warn(`    [tapline] ${why}: HEP cross-checks against Kamailio skipped`);
  });
  const running: Kamailio[] = [];
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await Promise.all(running.splice(0).map((k) => k.stop()));
  });

  it('Kamailio sipcapture reads every field encodeHep3 wrote (IPv4 and IPv6, time, ids, key, payload bytes)', async function () {
    if (why !== undefined) return this.skip();
    const port = await freePort();
    const fields = ['version', '0x001', '0x002', '0x003', '0x004', '0x005', '0x006', '0x007', '0x008', '0x009', '0x00a', '0x00b', '0x00c', '0x00e', '0x011'];
    const k = await startKamailio(
      [
        'disable_tcp=yes',
        `listen=udp:127.0.0.1:${port}`,
        'loadmodule "pv.so"',
        'loadmodule "xlog.so"',
        'loadmodule "db_text.so"',
        'loadmodule "sipcapture.so"',
        'modparam("sipcapture", "db_url", "text://@DIR@/db")',
        'modparam("sipcapture", "hep_capture_on", 1)',
        'modparam("sipcapture", "nonsip_hook", 1)',
        'request_route { exit; }',
        'event_route[sipcapture:request] {',
        `  xlog("L_ALERT", "HEPFIELDS ${fields.map((f) => `${f}=$hep(${f})`).join(' ')} PAYLOAD<<$hep(0x00f)>>END\\n");`,
        '  drop;',
        '}',
      ].join('\n'),
    );
    running.push(k);
    const inputs: HepEncodeInput[] = [
      { ipProto: 17, src: '192.0.2.10', sport: 5060, dst: '198.51.100.7', dport: 5062, ts: 1_767_225_600_123_456, captureId: 2001, authKey: 'secret-1', correlationId: 'corr-A', payload: SIP },
      { ipProto: 6, src: '2001:db8::10', sport: 5061, dst: '2001:db8:0:1::20', dport: 5063, ts: 1_767_225_601_000_001, captureId: 4_000_000_000, authKey: 'k2', correlationId: 'corr-B', payload: SIP.replace('kx-1', 'kx-2') },
    ];
    const s = await udpSocket();
    sockets.push(s);
    for (const input of inputs) s.send(encodeHep3(input), port, '127.0.0.1');
    await until(() => (k.log().match(/HEPFIELDS/g) ?? []).length === 2, 'Kamailio to log both packets');
    const lines = [...k.log().matchAll(/HEPFIELDS (.*?) PAYLOAD<<([\s\S]*?)>>END/g)];
    assert.equal(lines.length, 2);
    for (const [i, input] of inputs.entries()) {
      const m = lines[i]!;
      const got = Object.fromEntries(m[1]!.split(' ').map((kv) => kv.split('=') as [string, string]));
      const v6 = input.src.includes(':');
      const ts = input.ts as number;
      assert.deepEqual(got, {
        version: '3',
        '0x001': v6 ? '10' : '2',
        '0x002': String(input.ipProto),
        '0x003': v6 ? '' : input.src,
        '0x004': v6 ? '' : input.dst,
        '0x005': v6 ? input.src : '',
        '0x006': v6 ? input.dst : '',
        '0x007': String(input.sport),
        '0x008': String(input.dport),
        '0x009': String(Math.floor(ts / 1e6)),
        '0x00a': String(ts % 1e6),
        '0x00b': '1',
        '0x00c': String(input.captureId),
        '0x00e': input.authKey,
        '0x011': input.correlationId,
      }, `packet ${i}`);
      // Kamailio logs the payload bytes as received: compare bytes, not text.
      assert.ok(Buffer.from(m[2]!, 'latin1').equals(Buffer.from(input.payload as string, 'utf8')), `payload ${i} byte for byte`);
    }
  });

  for (const version of [3, 2] as const) {
    it(`decodes Kamailio siptrace HEPv${version} to the addresses, time and capture id Kamailio saw`, async function () {
      if (why !== undefined) return this.skip();
      const collector = await udpSocket();
      sockets.push(collector);
      const received: Buffer[] = [];
      collector.on('message', (m) => received.push(m));
      const kport = await freePort();
      const k = await startKamailio(
        [
          'disable_tcp=yes',
          `listen=udp:127.0.0.1:${kport}`,
          'loadmodule "pv.so"',
          'loadmodule "xlog.so"',
          'loadmodule "siptrace.so"',
          `modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:${collector.address().port}")`,
          'modparam("siptrace", "hep_mode_on", 1)',
          `modparam("siptrace", "hep_version", ${version})`,
          'modparam("siptrace", "hep_capture_id", 777)',
          'modparam("siptrace", "trace_to_database", 0)',
          'modparam("siptrace", "trace_on", 1)',
          'request_route { sip_trace(); exit; }',
        ].join('\n'),
      );
      running.push(k);
      const uac = await udpSocket();
      sockets.push(uac);
      const sip = SIP.replace('OPTIONS sip:bob@example.com', `OPTIONS sip:bob@127.0.0.1:${kport}`).replace('10.0.0.1:5060', `127.0.0.1:${uac.address().port}`).replace('Content-Length', 'Max-Forwards: 70\r\nContent-Length');
      const before = Date.now() * 1000;
      uac.send(sip, kport, '127.0.0.1');
      await until(() => received.length === 1, 'the traced copy');
      const r = decodeHep(received[0]!);
      if (!r.ok) assert.fail(`${r.reason}: ${r.detail}`);
      const p: HepPacket = r.packet;
      assert.deepEqual([p.version, p.ipFamily, p.ipProto, p.src, p.sport, p.dst, p.dport, p.captureId, p.protoType], [version, 4, 17, '127.0.0.1', uac.address().port, '127.0.0.1', kport, 777, 1]);
      assert.ok(p.ts !== undefined && p.ts >= before - 1000 && p.ts <= Date.now() * 1000 + 1000, `capture time ${p.ts} is now`);
      assert.ok(p.payload.equals(Buffer.from(sip, 'utf8')), 'the SIP message byte for byte, UTF-8 display name included');
    });
  }
});
